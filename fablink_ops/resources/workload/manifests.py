"""`invoke workload.manifests`: the rendered objects as YAML, for review and
for GitOps users. Reads only: the prerequisite stages' discovery fills in
what the objects name (role ARNs, target group, Aurora endpoints); what is
not built yet stays a <placeholder>, and the caller is told which."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ...engine import Context
from .. import BY_NAME
from . import checks, objects
from .common import NAME, WorkloadNames

PLACEHOLDER = re.compile(r"<[^<>]+>")


def render(ctx: Context) -> tuple[list[dict], list[str]]:
    """The validated objects, and the placeholders left in them (sorted)."""
    for stage in BY_NAME[NAME].requires:
        BY_NAME[stage].plan(ctx)  # discovery records the ids the objects name
    rendered = objects.rendered(ctx, WorkloadNames(ctx.cfg))
    checks.validate_objects(rendered, ctx.cfg.eks.version)
    return rendered, placeholders(rendered)


def placeholders(rendered: list[dict]) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(yaml.safe_dump_all(rendered))))


def file_name(index: int, obj: dict) -> str:
    return f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def write(rendered: list[dict], out: str | None) -> list[str]:
    """One file per object under ``out`` (in apply order: the namespace
    first); without ``out``, one multi-document stream. Returns the paths."""
    if out is None:
        print(yaml.safe_dump_all(rendered, sort_keys=False), end="")
        return []
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, obj in enumerate(rendered):
        path = folder / file_name(i, obj)
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        paths.append(str(path))
    return paths
