"""Waiting and concurrency through the latency model (fablink_ops/fidelity/latency.py).

moto makes everything ready at once; the model makes slow resources read as
still being created for a (scaled-down) time, so the waits, the dependency
order and a crash in one branch are exercised the way AWS would exercise them.
Nothing here asserts on time: only on states, order and results.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from fablink_ops.fidelity import inprocess
from fablink_ops.fidelity.latency import LatencyModel
from fablink_ops.stages import plan_stages
from fablink_ops.engine import apply
from fablink_ops.errors import AwsError

from .conftest import make_ctx
from .faults import SimulatedCrash
from .state import dynamodb_inventory, network_inventory
from .util import pending, plan

REGION = "ap-northeast-2"
SCALE = 1200.0  # a 2-minute NAT gateway takes 0.1 s


def model_ctx(cfg, model, hooks=()):
    """A context whose moto models creation times by ``model``: the fidelity
    layer's, as the sandbox server's with FABLINK_FIDELITY_LATENCY and the benchmark's."""
    ctx = make_ctx(cfg, list(hooks))
    ctx.sleep = time.sleep
    ctx.poll_scale = 1 / SCALE
    layer = inprocess.layer()
    layer.latency = model
    # The polls counted here are the model's (pending, then ready): the
    # layer's NotFound right after a create (tests/test_fidelity.py) would
    # delay the first of them past a short modelled time on a busy machine.
    layer.windows["nat-gateway-not-found-after-create"] = 0
    return ctx


class SleepClock:
    """Time that passes only when the code under test sleeps: a busy machine
    cannot make the first poll come after the modelled creation time."""

    def __init__(self) -> None:
        self.now, self.lock = 0.0, threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(seconds, 0.0001)


def test_a_creating_resource_is_waited_for_until_the_model_says_ready(aws, cfg, no_random_faults):
    clock = SleepClock()
    model = LatencyModel(scale=SCALE, clock=clock)
    ctx = model_ctx(cfg, model)
    ctx.clock, ctx.sleep = clock, clock.sleep
    apply(plan_stages(ctx, ["network"]), ctx, cfg.engine.concurrency)
    polls = ctx.target.meter.calls["ec2:DescribeNatGateways"]
    # discovery once, then per NAT: at least one poll answered 'pending' and one 'available'
    assert polls >= 1 + 3 * 2
    assert [m for _, m, _ in model.created] == ["nat-gateway"] * 3
    _, again = plan(cfg)
    assert pending(again) == []


def test_a_terminal_failure_fails_fast_with_the_reason_aws_gives(aws, cfg):
    model = LatencyModel(scale=SCALE, fail={"nat-gateway": "Elastic IP address is already associated"})
    ctx = model_ctx(cfg, model)
    started = time.monotonic()
    with pytest.raises(AwsError, match=r"NAT gateway fablink-prod-nat-2\w .* is failed: Elastic IP address is already associated"):
        apply(plan_stages(ctx, ["network"]), ctx, cfg.engine.concurrency)
    # failed at the first poll past its creation time, not at the end of the 10-minute budget
    assert time.monotonic() - started < 60


def test_a_wait_past_its_budget_fails_with_a_clear_message(aws, cfg):
    # the NAT takes 6 s here (2 minutes at 1:20); the budget allows 0.6 s
    short = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, nat_gateway_wait_minutes=0.01))
    model = LatencyModel(scale=20.0)
    ctx = model_ctx(short, model)
    ctx.poll_scale = 1 / 20.0
    with pytest.raises(AwsError, match=r"is still pending after \d+s \(budget \d+s\): run the same command again"):
        apply(plan_stages(ctx, ["network"]), ctx, cfg.engine.concurrency)


def test_nothing_starts_before_what_it_needs_has_finished(aws, cfg):
    """The whole plan of several stages, run concurrently through the model:
    every change starts after each change it needs has finished."""
    model = LatencyModel(scale=SCALE)
    ctx = model_ctx(cfg, model)
    changes = plan_stages(ctx, ["network", "dynamodb"])
    times: dict[str, list[float]] = {}
    lock = threading.Lock()
    for change in changes:
        if change.run is None:
            continue
        inner = change.run

        def timed(inner=inner, key=change.key):
            with lock:
                times[key] = [time.monotonic(), 0.0]
            try:
                return inner()
            finally:
                with lock:
                    times[key][1] = time.monotonic()

        change.run = timed
    apply(changes, ctx, cfg.engine.concurrency)
    checked = 0
    for change in changes:
        for need in change.needs:
            if change.key in times and need in times:
                assert times[change.key][0] >= times[need][1], f"{change.key} started before {need} finished"
                checked += 1
    assert checked >= 30
    # and independent work did overlap: some change started while another ran
    spans = sorted(times.values())
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:]))


@pytest.fixture(scope="module")
def clean_reference():
    from moto import mock_aws

    from fablink_ops.config import load_config

    from .conftest import CONFIG
    from .util import provision

    with mock_aws():
        provision(load_config(CONFIG), stages=("network", "dynamodb"))
        return network_inventory(REGION), dynamodb_inventory(REGION)


def test_a_crash_in_one_branch_stops_the_others_cleanly_and_a_rerun_converges(aws, cfg, clean_reference):
    """The process dies while creating the first table; the network branch was
    running alongside. Nothing new starts after the crash, and a re-run ends
    exactly where a clean run does: no duplicate, no orphan."""
    started_after_crash = []
    crashed = threading.Event()

    def crash_on_table(model, **_):
        if crashed.is_set():
            if model.name.startswith("Create"):
                started_after_crash.append(model.name)
            return
        if model.name == "CreateTable":
            crashed.set()
            raise SimulatedCrash("the process died while creating a table")

    ctx = model_ctx(cfg, LatencyModel(scale=SCALE), hooks=[("before-call", crash_on_table)])
    changes = plan_stages(ctx, ["network", "dynamodb"])
    with pytest.raises(SimulatedCrash):
        apply(changes, ctx, cfg.engine.concurrency)
    # only changes already running when the crash came may still have created
    # something (their own later steps); no new change started
    assert len(started_after_crash) <= cfg.engine.concurrency * 3

    rerun = model_ctx(cfg, LatencyModel(scale=SCALE))
    apply(plan_stages(rerun, ["network", "dynamodb"]), rerun, cfg.engine.concurrency)
    assert (network_inventory(REGION), dynamodb_inventory(REGION)) == clean_reference
    _, after = plan(cfg, stages=("network", "dynamodb"))
    assert pending(after) == []


def test_the_benchmarks_critical_path_is_the_longest_weighted_chain_of_needs():
    """bench/provision.py's lower bound: the longest chain, not the sum, and
    a change with no modelled weight (a subnet) adds nothing."""
    from bench.provision import critical_path
    from fablink_ops.engine import CREATE, Change

    def c(key, *needs):
        kind, name = key.split(":")
        return Change("s", kind, name, CREATE, needs=needs)

    changes = [c("vpc:v"), c("subnet:s", "vpc:v"), c("cluster:k", "subnet:s"), c("nodegroup:n", "cluster:k"),
               c("db:d", "subnet:s"), c("instance:i", "db:d"), c("table:t")]
    weight = {"cluster:k": 12.0, "nodegroup:n": 3.0, "db:d": 5.0, "instance:i": 10.0, "table:t": 0.2}
    seconds, path = critical_path(changes, weight)
    assert seconds == 15.0 and path[-2:] in (["cluster:k", "nodegroup:n"], ["db:d", "instance:i"])
    assert path[0] == "vpc:v"  # the chain starts where the graph starts
    assert critical_path([], {}) == (0.0, [])
