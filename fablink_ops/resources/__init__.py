"""The stages, in the design document's build order.

Each implemented stage is a module with NAME, REQUIRES, ``plan(ctx)`` and
``ready(ctx)``. A stage named here but not yet implemented maps to None, and
the CLI says so plainly rather than pretending.
"""

from __future__ import annotations

from types import ModuleType

from . import aurora, backup, dynamodb, edge, eks, monitoring, network

# Design doc, "What to consider when building production", 1. Build order;
# monitoring last because it watches what the others built.
# backup after them: its plan covers the data stages' resources (by ARN).
STAGE_ORDER: tuple[str, ...] = ("network", "eks", "aurora", "dynamodb", "edge", "monitoring", "backup")

STAGES: dict[str, ModuleType | None] = {
    "network": network,
    "eks": eks,
    "aurora": aurora,
    "dynamodb": dynamodb,
    "edge": edge,
    "monitoring": monitoring,
    "backup": backup,
}

# What each stage needs to exist before it can be built.
REQUIRES: dict[str, tuple[str, ...]] = {
    "network": (),
    "eks": ("network",),
    "aurora": ("network",),
    "dynamodb": (),
    "edge": ("network",),
    # By name only: alarms and the dashboard refer to the other stages'
    # resources through config names, so nothing has to exist first.
    "monitoring": (),
    # The plan's selection names the cluster and tables by ARN: nothing first.
    "backup": (),
}


def implemented() -> list[str]:
    return [name for name in STAGE_ORDER if STAGES[name] is not None]
