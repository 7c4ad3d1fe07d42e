"""The orchestration (fablink_ops/stages.py): every ``needs`` of every stage's
plan names a change that exists, on an empty account and a built one, and a
need that names nothing is an error at plan time."""

from __future__ import annotations

import pytest

from fablink_ops.engine import CREATE, Change
from fablink_ops.errors import OpsError
from fablink_ops.resources import BY_NAME, STAGE_NAMES, Stage
from fablink_ops.stages import plan_stages, unresolved_needs

from .conftest import make_ctx
from .util import provision


def _every_need_resolves(cfg, stages, existing: set[str] = frozenset()) -> list[Change]:
    changes = plan_stages(make_ctx(cfg), list(stages))  # raises on an unresolved need
    assert unresolved_needs(changes, set(existing)) == []
    return changes


def test_every_need_of_the_whole_plan_names_a_change_of_it(cfg, aws):
    changes = _every_need_resolves(cfg, STAGE_NAMES)
    assert {c.stage for c in changes} == set(STAGE_NAMES)
    assert sum(len(c.needs) for c in changes) > 50  # the walk covers the stages' real dependencies


def test_every_stage_planned_alone_resolves_its_needs(cfg, aws):
    _, network = provision(cfg, ("network",))
    for name in STAGE_NAMES:
        changes = _every_need_resolves(cfg, (name,), {c.key for c in network} if "network" in BY_NAME[name].requires else set())
        assert changes and all(c.stage == name for c in changes if c.action == CREATE)


def test_a_need_no_change_provides_is_an_error_at_plan_time(cfg, aws, monkeypatch):
    def plan(ctx):
        return [Change("dynamodb", "thing", "a", CREATE, needs=("thing:mispelt",), run=lambda: None)]

    monkeypatch.setitem(BY_NAME, "dynamodb", Stage("dynamodb", (), plan))
    with pytest.raises(OpsError, match=r"thing:a needs thing:mispelt, which no change of the plan provides"):
        plan_stages(make_ctx(cfg), ["dynamodb"])
