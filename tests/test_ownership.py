"""The ownership guard (issue 18; DESIGN.md principle 9, "Only ours").

A resource found by its name is changed only when its ownership tags say it is
this environment's. Built through the whole design, then planned with a config
that differs only in its environment: every stage's resources are refused,
nothing is written.
"""

from __future__ import annotations

import dataclasses

import pytest

from fablink_ops import ownership
from fablink_ops.engine import UPDATE, Change, Diff
from fablink_ops.errors import GuardError
from fablink_ops.resources import STAGE_NAMES as STAGE_ORDER

from .test_eks import _moto_env
from .util import plan, provision


def _change(*diffs: Diff) -> Change:
    return Change(stage="network", kind="vpc", name="fablink-prod-vpc", action=UPDATE, diffs=list(diffs))


def test_ours_with_other_drift_passes():
    assert ownership.check([_change(Diff("tag Stage", None, "network"), Diff("enableDnsHostnames", False, True))], adopt=False) == []


def test_untagged_needs_adopt_and_is_then_returned():
    untagged = _change(Diff("tag ManagedBy", None, "fablink-ops"), Diff("tag Project", None, "fablink"))
    with pytest.raises(GuardError, match="--adopt"):
        ownership.check([untagged], adopt=False)
    (adopted,) = ownership.check([untagged], adopt=True)
    assert adopted.change is untagged and not adopted.foreign


@pytest.mark.parametrize("key,value", [("ManagedBy", "terraform"), ("Project", "other"), ("Environment", "staging")])
def test_tagged_for_someone_else_is_refused_even_with_adopt(key, value):
    foreign = _change(Diff(f"tag {key}", value, "ours"), Diff("tag Stage", None, "network"))
    for adopt in (False, True):
        with pytest.raises(GuardError, match=f"another environment, project or tool.*{key}={value}"):
            ownership.check([foreign], adopt=adopt)


def test_a_copy_of_prod_with_another_environment_touches_no_stage_of_prod(monkeypatch, aws, cfg):
    _moto_env(monkeypatch)  # the AWS managed policies the stages' roles attach
    stages = tuple(STAGE_ORDER)
    provision(cfg, stages=stages)
    staging = dataclasses.replace(cfg, project=dataclasses.replace(cfg.project, environment="staging"))
    ctx, changes = plan(staging, stages=stages)
    refused = ownership.strangers(changes)
    # every stage whose names the config spells out finds prod's resources by
    # name and would have re-tagged them (events' names follow the prefix,
    # which changed with the environment: it finds nothing of prod's; so do
    # the workload's roles)
    assert {s.change.stage for s in refused} == set(stages) - {"events", "workload"}
    assert all(s.foreign and s.found.get("Environment") == "prod" for s in refused)
    with pytest.raises(GuardError, match="belong to another environment"):
        provision(staging, stages=stages, adopt=True)
    _, again = plan(cfg, stages=stages)
    assert ownership.strangers(again) == []
