"""`invoke destroy`: delete a non-production environment, only what carries
its tags, in reverse build order; re-runnable; ends by listing what is left.

- ``discover`` reads, per stage, what carries this environment's ownership
  tags (ManagedBy=fablink-ops, Project, Environment): never by name alone.
- ``refusal`` says why nothing may be deleted: the config marks the
  environment production, or a found resource has deletion protection on.
- ``delete`` runs the stages in reverse build order (monitoring, edge,
  dynamodb, aurora, eks, network); within a stage, step by step (the
  dependency order AWS requires), every delete of a step issued before its
  waits. Already gone is done (NotFound on delete), so a re-run after a
  crash carries on where it stopped.
- Afterwards ``discover`` again: what is still there is listed (exit 1),
  apart from what is kept on purpose (a key that encrypts a final snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from ..engine import Context
from ..resources import BY_NAME
from ..target import wrap_aws_error
from . import aurora, backup, dynamodb, edge, eks, events, iam, monitoring, network
from .common import Doomed

# Reverse build order (README: network -> eks -> aurora -> dynamodb -> edge -> monitoring).
# Reverse build order: events watch aurora's instances through monitoring's
# topics; the backup plan selects aurora's cluster and dynamodb's tables.
# The workload's roles first: its Kubernetes objects go with the cluster.
ORDER = ("workload", "events", "backup", "monitoring", "edge", "dynamodb", "aurora", "eks", "network")


@dataclass
class Inventory:
    doomed: list[Doomed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # sandbox gaps: what could not be listed

    def deletable(self) -> list[Doomed]:
        return [d for d in self.doomed if not d.keep and not d.blocked]

    def blocked(self) -> list[Doomed]:
        return [d for d in self.doomed if d.blocked]

    def kept(self) -> list[Doomed]:
        return [d for d in self.doomed if d.keep]


def discover(ctx: Context, stages: list[str]) -> Inventory:
    """Everything of this environment in the given stages, in deletion order."""
    inv = Inventory()
    finders: dict[str, Callable[[], list[Doomed]]] = {
        "workload": lambda: iam.roles(ctx, "workload", 0),
        "events": lambda: events.find(ctx),
        "backup": lambda: backup.find(ctx),
        "monitoring": lambda: monitoring.find(ctx),
        "edge": lambda: edge.find(ctx),
        "dynamodb": lambda: dynamodb.find(ctx),
        "aurora": lambda: aurora.find(ctx),
        "eks": lambda: eks.find(ctx, inv.notes),
        "network": lambda: network.find(ctx),
    }
    for stage in ORDER:
        if stage in stages:
            inv.doomed += sorted(finders[stage](), key=lambda d: d.step)  # sorted() is stable: found order within a step
    return inv


def refusal(ctx: Context, inv: Inventory) -> str | None:
    """Why nothing may be deleted, or None."""
    if ctx.cfg.project.production:
        return production_refusal(ctx.cfg)
    protected = [d for d in inv.doomed if d.protected]
    if protected:
        names = "; ".join(f"{d.kind} {d.name} ({d.protected})" for d in protected)
        return (f"refusing: {len(protected)} resource(s) have deletion protection on: {names}; "
                "turn it off in the config and run invoke provision first; nothing was changed")
    return None


def still_needed(ctx: Context, stages: list[str]) -> str | None:
    """With --stage: a stage that another, unselected stage builds on (the
    network under eks, aurora, edge) is refused while that one still has
    resources; deleting it would stall on DependencyViolation for the whole
    wait budget, or strand the other stage."""
    others = [s for s in ORDER if s not in stages and any(n in stages for n in BY_NAME[s].requires)]
    found = discover(ctx, others).deletable() if others else []
    if not found:
        return None
    users = ", ".join(f"{s} ({sum(1 for d in found if d.stage == s)} resources)" for s in others if any(d.stage == s for d in found))
    return (f"refusing: {', '.join(stages)} is still needed by {users}: destroy those stages first, "
            "or the whole environment (no --stage); nothing was changed")


def production_refusal(cfg) -> str:
    return (f"refusing: {cfg.path} marks {cfg.project.environment_name} as production (project.production = true); "
            "destroy is for non-production environments; nothing was changed")


def delete(ctx: Context, inv: Inventory, done: Callable[[Doomed], None]) -> None:
    """Delete stage by stage, step by step. ``done`` hears of each deletion."""
    for stage in ORDER:
        doomed = [d for d in inv.deletable() if d.stage == stage]
        for step in sorted({d.step for d in doomed}):
            batch = [d for d in doomed if d.step == step]
            for d in batch:
                _naming(d, d.delete)
            for d in batch:
                if d.wait:
                    _naming(d, d.wait)
                done(d)


def _naming(d: Doomed, call: Callable[[], None]) -> None:
    """An AWS error (after its retries) names the resource it stopped at."""
    try:
        call()
    except (ClientError, BotoCoreError) as exc:
        raise wrap_aws_error(exc, f"delete {d.stage} {d.kind} {d.name}") from None
