"""The checks of the access review, in the order they are reported.

One small function per check id, in five modules by area (iam, network,
data, logging, audit). Each yields (resource, problem, fix) for every resource that
fails it; ``evaluate`` runs them all over an Inventory and stamps each hit
with its check's id and severity. The ids are stable: suppressions and past
evidence refer to them.
"""

from __future__ import annotations

from ..models import SEVERITIES, Inventory
from . import audit, data, iam, logging, network
from .base import OPEN, SUPPRESSED, Check, Finding, Hit, Settings

CHECKS: tuple[Check, ...] = iam.CHECKS + network.CHECKS + data.CHECKS + logging.CHECKS + audit.CHECKS
CHECK_IDS: tuple[str, ...] = tuple(c.id for c in CHECKS)


def evaluate(inventory: Inventory, settings: Settings) -> tuple[list[Finding], dict[str, str]]:
    """(findings, {check id: why it was not evaluated}). Findings are sorted
    most severe first, then by check id and resource."""
    gaps: dict[str, str] = {}
    for gap in inventory.gaps:
        gaps.setdefault(gap.area, gap.why)
    findings: list[Finding] = []
    not_evaluated: dict[str, str] = {}
    for check in CHECKS:
        missing = [area for area in check.requires if area in gaps]
        if missing:
            not_evaluated[check.id] = gaps[missing[0]]
            continue
        for resource, problem, fix in check.run(inventory, settings):
            findings.append(Finding(check.id, check.severity, resource, problem, fix))
    findings.sort(key=lambda f: (SEVERITIES.index(f.severity), f.check, f.resource))
    return findings, not_evaluated


__all__ = ["CHECKS", "CHECK_IDS", "OPEN", "SUPPRESSED", "Check", "Finding", "Hit", "Settings", "evaluate"]
