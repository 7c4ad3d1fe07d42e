"""The stage registry: every stage, in the design document's build order.

This list is the one place stage names come from: the CLI's ``--stage``, the
tasks' help text, the benchmark and the orchestration (fablink_ops/stages.py)
all derive them from ``STAGES``.

A stage is a package or module with ``NAME`` (its Stage tag) and
``plan(ctx) -> list[Change]`` (discover, then one Change per resource; see
README "Developing" for the skeleton). What it needs to exist first is said
here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..engine import CREATE, Change, Context
from . import aurora, backup, dynamodb, edge, eks, events, monitoring, network, workload


@dataclass(frozen=True)
class Stage:
    name: str
    # Stages that must exist before this one can be built (their discovery
    # records the ids this one's plan compares with and its runs use).
    requires: tuple[str, ...]
    plan: Callable[[Context], list[Change]]

    def ready(self, ctx: Context) -> bool:
        """Whether the stages that build on this one can: nothing left to create."""
        return all(c.action != CREATE for c in self.plan(ctx))


# Design doc, "What to consider when building production", 1. Build order;
# monitoring last because it watches what the others built.
STAGES: tuple[Stage, ...] = (
    Stage(network.NAME, (), network.plan),
    Stage(eks.NAME, (network.NAME,), eks.plan),
    Stage(aurora.NAME, (network.NAME,), aurora.plan),
    # No network: DynamoDB is a regional service reached through the network
    # stage's gateway endpoint.
    Stage(dynamodb.NAME, (), dynamodb.plan),
    Stage(edge.NAME, (network.NAME,), edge.plan),
    # By name only: alarms and the dashboard refer to the other stages'
    # resources through config names, so nothing has to exist first (alarms
    # wait in INSUFFICIENT_DATA for their metrics).
    Stage(monitoring.NAME, (), monitoring.plan),
    # RDS event subscriptions: RDS refuses one whose cluster, instances or
    # topic does not exist, so the aurora and monitoring stages come first.
    Stage(events.NAME, (aurora.NAME, monitoring.NAME), events.plan),
    # Last: its plan covers the data stages' cluster and tables, by ARN only
    # (a selection may name what does not exist yet), so nothing first.
    Stage(backup.NAME, (), backup.plan),
    # The backend on EKS (design doc: Workload resources): its IAM role names
    # the tables, the Aurora cluster's resource id and the data keys; its
    # objects name the target group. After the build order's five stages.
    Stage(workload.NAME, (eks.NAME, aurora.NAME, dynamodb.NAME, edge.NAME), workload.plan),
)

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
