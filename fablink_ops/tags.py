"""Tag helpers shared by every stage.

Tags go into the create call itself, so a resource is never untagged, even if
the run dies right after creating it. On update we only add or correct the
tags we own: tags someone else set are left alone (finance and other tools tag
too), and ``aws:`` tags are never touched (AWS refuses it anyway).
"""

from __future__ import annotations

from typing import Iterable


def from_list(items: Iterable[dict] | None) -> dict[str, str]:
    """[{'Key': k, 'Value': v}, ...] -> {k: v}."""
    return {t["Key"]: t.get("Value", "") for t in items or ()}


def to_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def ec2_spec(resource_type: str, tags: dict[str, str]) -> list[dict]:
    """TagSpecifications for an EC2 create call."""
    return [{"ResourceType": resource_type, "Tags": to_list(tags)}]


def missing(current: dict[str, str], desired: dict[str, str]) -> dict[str, str]:
    """The desired tags that are absent or carry another value."""
    return {k: v for k, v in desired.items() if not k.startswith("aws:") and current.get(k) != v}


def describe(current: dict[str, str], desired: dict[str, str]) -> str:
    """One-line summary of a tag change for the plan output."""
    return ", ".join(f"{k}={v}" for k, v in sorted(missing(current, desired).items()))
