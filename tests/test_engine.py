"""The engine: dependency order, concurrency, failure handling, stage prerequisites."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError

from fablink_ops import stages
from fablink_ops.resources import BY_NAME, Stage
from fablink_ops.engine import CREATE, NOOP, Change, apply
from fablink_ops.errors import AwsError, OpsError

from .conftest import make_ctx


def change(name, needs=(), run=None, action=CREATE):
    return Change(stage="test", kind="thing", name=name, action=action, needs=tuple(f"thing:{n}" for n in needs), run=run)


class Recorder:
    def __init__(self):
        self.events: list[str] = []
        self.lock = threading.Lock()

    def run(self, name, body=None):
        def fn():
            with self.lock:
                self.events.append(f"start {name}")
            if body:
                body()
            with self.lock:
                self.events.append(f"end {name}")
            return name

        return fn


def test_nothing_starts_before_what_it_needs_is_done(cfg):
    rec = Recorder()
    changes = [
        change("c", needs=["b"], run=rec.run("c")),
        change("b", needs=["a"], run=rec.run("b")),
        change("a", run=rec.run("a")),
        change("d", needs=["a", "existing"], run=rec.run("d")),
        change("existing", action=NOOP),  # exists already: nothing to wait for
    ]
    apply(changes, make_ctx(cfg), concurrency=4)
    ev = rec.events
    assert ev.index("start b") > ev.index("end a")
    assert ev.index("start c") > ev.index("end b")
    assert ev.index("start d") > ev.index("end a")
    assert len(ev) == 8


def test_independent_changes_run_at_the_same_time(cfg):
    barrier = threading.Barrier(3, timeout=10)  # passes only if all three run at once
    changes = [change(n, run=Recorder().run(n, barrier.wait)) for n in "xyz"]
    done = apply(changes, make_ctx(cfg), concurrency=3)
    assert sorted(d for _, d in done) == ["x", "y", "z"]


def test_a_failure_starts_nothing_new_lets_running_work_finish_and_reports_one_error(cfg):
    rec = Recorder()
    release = threading.Event()

    def fail():
        release.set()
        raise ClientError({"Error": {"Code": "InvalidParameterValue", "Message": "bad value"}}, "CreateThing")

    changes = [
        change("slow", run=rec.run("slow", lambda: release.wait(5))),
        change("bad", run=fail),
        change("after-bad", needs=["bad"], run=rec.run("after-bad")),
    ]
    with pytest.raises(AwsError, match="create thing bad: InvalidParameterValue: bad value"):
        apply(changes, make_ctx(cfg), concurrency=2)
    assert "end slow" in rec.events  # the running one was allowed to finish
    assert "start after-bad" not in rec.events  # its dependent never started


def test_a_stage_whose_prerequisite_is_absent_says_which_command_to_run(cfg, aws, monkeypatch):
    monkeypatch.setitem(BY_NAME, "eks", Stage("eks", ("network",), lambda ctx: []))
    with pytest.raises(OpsError) as err:
        stages.plan_stages(make_ctx(cfg), ["eks"])
    assert str(err.value) == "stage eks needs network: run invoke provision --stage network"
    assert err.value.exit_code == 2


def test_a_stage_with_its_prerequisite_in_place_is_planned(cfg, aws, monkeypatch):
    from .util import provision

    provision(cfg)
    seen = {}

    def plan(ctx):
        seen["vpc"] = ctx.outputs.get("vpc")  # the prerequisite's ids are known
        return [change("x")]

    monkeypatch.setitem(BY_NAME, "eks", Stage("eks", ("network",), plan))
    changes = stages.plan_stages(make_ctx(cfg), ["eks"])
    assert [c.name for c in changes] == ["x"]
    assert seen["vpc"].startswith("vpc-")


def test_an_unknown_stage_is_a_usage_error():
    with pytest.raises(OpsError) as err:
        stages.select_stages("netwerk")
    assert err.value.exit_code == 2 and "choose one of network, eks" in str(err.value)


def test_ctrl_c_stops_waits_in_other_threads(cfg):
    from fablink_ops.engine import wait_for

    ctx = make_ctx(cfg)
    polls = []

    def poll():
        polls.append(1)
        if len(polls) == 3:
            ctx.cancel.set()  # what apply does on KeyboardInterrupt
        return "pending", ""

    with pytest.raises(OpsError, match="interrupted while waiting for NAT gateway x"):
        wait_for(ctx, "NAT gateway x", poll, {"available"}, {"failed"}, 600)
    assert len(polls) == 3


def test_changes_that_need_a_replace_required_resource_are_blocked_not_attempted():
    from fablink_ops.engine import BLOCKED, REPLACE, block_dependents

    ran = []
    changes = [
        change("vpc", action=REPLACE),
        change("subnet", needs=["vpc"], run=lambda: ran.append("subnet")),
        change("nat", needs=["subnet"], run=lambda: ran.append("nat")),
        change("role", run=lambda: ran.append("role")),
    ]
    block_dependents(changes)
    assert [c.action for c in changes] == [REPLACE, BLOCKED, BLOCKED, CREATE]
    assert changes[1].run is None and "waits for thing vpc, which needs replacing" in changes[1].note
    assert "blocked too" in changes[2].note


def test_after_a_failure_nothing_queued_starts(cfg):
    rec = Recorder()

    def fail():
        raise ClientError({"Error": {"Code": "InvalidParameterValue", "Message": "bad"}}, "CreateThing")

    # concurrency 1: 'bad' runs first; the independent 'later' must not start after it failed
    changes = [change("bad", run=fail), change("later", run=rec.run("later"))]
    with pytest.raises(AwsError):
        apply(changes, make_ctx(cfg), concurrency=1)
    assert rec.events == []
