"""Orchestration: which stages a command covers, their plan as one list of
changes, and the re-plan that verifies an apply.

Shared by the CLI, the benchmark and the runbooks; it knows the stage
registry (resources/__init__.py) and the engine, never the CLI.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .engine import CREATE, UPDATE, Change, Context, block_dependents
from .errors import USAGE, OpsError
from .resources import BY_NAME, STAGE_NAMES


def select_stages(stage: str | None) -> list[str]:
    """The stages a command covers, in build order. An unknown one: exit 2."""
    if stage is None:
        return list(STAGE_NAMES)
    if stage not in BY_NAME:
        raise OpsError(f"unknown stage {stage!r}: choose one of {', '.join(STAGE_NAMES)}", USAGE)
    return [stage]


def plan_stages(ctx: Context, stages: list[str]) -> list[Change]:
    """Plan the selected stages in build order, after checking prerequisites.

    A prerequisite outside the selection must already exist: its plan is read
    (which also records its resource ids for the selected stages to use) and
    must have nothing left to create. Every ``needs`` of the plan must name a
    change of it or of a prerequisite read so (``unresolved_needs``).
    """
    # Build order whatever order the caller gives: a stage others build on must
    # be discovered before them (destroy's reverse order would plan aurora
    # before the network whose subnet ids it compares with).
    stages = [s for s in STAGE_NAMES if s in stages]
    prerequisites = _prerequisite_plans(ctx, stages)
    # Stages that others build on are planned first (their discovery records
    # the ids the others' plans compare with); the rest are read concurrently.
    # The plan keeps the build order whatever order the reads finish in.
    first = [s for s in stages if any(s in BY_NAME[o].requires for o in stages if o != s)]
    rest = [s for s in stages if s not in first]
    plans: dict[str, list[Change]] = {s: BY_NAME[s].plan(ctx) for s in first}
    if rest:
        with ThreadPoolExecutor(max_workers=len(rest), thread_name_prefix="plan") as pool:
            futures = {s: pool.submit(BY_NAME[s].plan, ctx) for s in rest}
            plans.update({s: f.result() for s, f in futures.items()})
    changes = _one_change_per_resource([c for s in stages for c in plans[s]])
    unresolved = unresolved_needs(changes, {c.key for c in prerequisites})
    if unresolved:
        raise OpsError("internal: " + "; ".join(f"{key} needs {need}, which no change of the plan provides" for key, need in unresolved))
    return block_dependents(changes)


def _prerequisite_plans(ctx: Context, stages: list[str]) -> list[Change]:
    checked: dict[str, list[Change]] = {}
    for stage in stages:
        for need in BY_NAME[stage].requires:
            if need in stages or need in checked:
                continue
            changes = BY_NAME[need].plan(ctx)
            if any(c.action == CREATE for c in changes):
                raise OpsError(f"stage {stage} needs {need}: run invoke provision --stage {need}", USAGE)
            checked[need] = changes
    return [c for changes in checked.values() for c in changes]


def _one_change_per_resource(changes: list[Change]) -> list[Change]:
    # Where two stages touch the same resource (the Aurora log group: the
    # aurora stage creates it, the monitoring stage needs it for its metric
    # filter and creates it when planned alone), the earlier stage in build
    # order owns it.
    seen: set[str] = set()
    out: list[Change] = []
    for change in changes:
        if change.key not in seen:
            seen.add(change.key)
            out.append(change)
    return out


def unresolved_needs(changes: list[Change], existing: set[str]) -> list[tuple[str, str]]:
    """(change key, need) for every ``needs`` entry that names neither a change
    of the plan nor one in ``existing`` (a prerequisite's plan). Apply treats
    a need outside the plan as already done, so a misspelt key would let a
    change run before what it needs: a stage's bug, caught at plan time."""
    known = {c.key for c in changes} | existing
    return [(c.key, n) for c in changes for n in c.needs if n not in known]


def unconverged(ctx: Context, stages: list[str]) -> list[Change]:
    """After an apply: plan again (reads only) and return what still shows a
    create or an update. Empty means converged, verified."""
    return [c for c in plan_stages(ctx, stages) if c.action in (CREATE, UPDATE)]
