"""invoke drill.failover, in-process on moto, with modelled failover timing
(tests/timeline.py): preflight aborts, the measured RTO against the modelled
one, failback, stop conditions, Ctrl-C, the lock, the evidence, exit codes."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from fablink_ops import cli
from fablink_ops.output import make_console
from fablink_ops.report import iso
from fablink_ops.runbooks import failover
from fablink_ops import lock
from fablink_ops.runbooks.failover import FailoverOptions
from fablink_ops.runbooks.probe import Prober

from .conftest import CONFIG, make_target
from .util import RunbookRun, run_runbook
from .timeline import (INSTANT, WALL, DelayedFailover, FakeClock, StatusOverride, Timeline, cluster_tags, make_alarms,
                       make_cluster, set_alarm, writer)

OPERATOR = "arn:aws:iam::853963783084:user/operator"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # evidence goes to ./reports


@pytest.fixture
def cluster(aws, cfg):
    """The usual shape: writer in 2a (tier 0), readers in 2b (tier 1) and 2d (tier 2); quiet stop alarms."""
    ids = make_cluster(cfg.drill.aurora_cluster)
    make_alarms(cfg.drill.stop_alarms, "OK")
    return ids


def with_drill(cfg, **changes):
    return dataclasses.replace(cfg, drill=dataclasses.replace(cfg.drill, **changes))


@dataclass
class Run(RunbookRun):
    clock: FakeClock


def drill(cfg, layer=None, clock=None, live=False, yes=True, to=None, failback=False, json_mode=False,
          prober_factory=None, hooks=()) -> Run:
    """`invoke drill.failover` in-process: the same command, with moto, a fake clock and a describe layer."""
    clock = clock or (layer.clock if isinstance(layer, DelayedFailover) else FakeClock())
    layer = layer or DelayedFailover(clock, INSTANT)
    opts = FailoverOptions(live=live, yes=yes, json=json_mode, to=to, failback=failback)
    ran = run_runbook(cfg, opts, lambda o, session: failover.command(
        o, session=session, clock=clock.monotonic, sleep=clock.sleep, wall=WALL, wrap=layer.wrap, prober_factory=prober_factory),
        hooks=[*getattr(layer, "hooks", []), *hooks], identity=OPERATOR)
    return Run(*ran, clock)


def run_lock(cfg) -> lock.Holder | None:
    return lock.read(make_target(cfg), cfg.project.environment_name)


def other_holder(cfg, command="provision", clock=None, lease=600.0) -> lock.RunLock:
    """Another run holding the environment's lock (killed: it renews no more)."""
    held = lock.RunLock(make_target(cfg), cfg.project.environment_name, cfg.project.name, command, lease=lease,
                        **({"clock": clock} if clock else {}))
    held.acquire()
    held._stop.set()
    return held


def held_during_failover(layer) -> list[str]:
    return [h.command for h in layer.locks_seen]


def step(doc, name) -> dict:
    matches = [s for s in doc["steps"] if s["name"] == name]
    assert len(matches) == 1, [s["name"] for s in doc["steps"]]
    return matches[0]


# --------------------------------------------------------------------------
# the measured RTO is the modelled one


@pytest.mark.parametrize(
    "timeline, interval",
    [
        (Timeline(), 1.0),
        (Timeline(old_writer_until=2.2, new_writer_at=16.4, cluster_available_at=21.3, members_available_at=52.7), 2.5),
    ],
)
def test_measured_rto_equals_the_modelled_one(cfg, cluster, timeline, interval):
    cfg = with_drill(cfg, poll_interval_seconds=interval)
    layer = DelayedFailover(FakeClock(), timeline)
    run = drill(cfg, layer)

    assert run.code == 0, run.doc["reason"]
    assert run.doc["verdict"] == "pass"
    leg = run.doc["measurements"]["failover"]
    assert leg["from"] == cluster[0] and leg["to"] == cluster[1] and leg["new_writer"] == cluster[1]
    # within one poll of the model: the poll interval while waiting for the
    # writer, the backed-off interval (at most its maximum) afterwards
    assert timeline.new_writer_at <= leg["new_writer_seconds"] < timeline.new_writer_at + interval
    top = cfg.drill.poll_max_interval_seconds
    assert timeline.cluster_available_at <= leg["cluster_available_seconds"] < timeline.cluster_available_at + top
    assert timeline.members_available_at <= leg["all_members_available_seconds"] < timeline.members_available_at + top
    # the timestamps are the fake clock's, anchored at WALL (nothing slept before the request)
    assert leg["requested_at"] == iso(WALL)
    assert leg["new_writer_at"] == iso(WALL + timedelta(seconds=leg["new_writer_seconds"]))
    assert leg["all_members_available_at"] == iso(WALL + timedelta(seconds=leg["all_members_available_seconds"]))
    # adaptive: the short interval until the writer moved, then backing off, never past the maximum
    before = [s for s in run.clock.slept[: int(timeline.new_writer_at // interval)]]
    assert set(before) == {interval}
    assert max(run.clock.slept) <= top and max(run.clock.slept) > interval
    # AWS state: the writer moved; the lock was held during the failover and is gone now
    assert writer(cfg.drill.aurora_cluster) == cluster[1]
    assert held_during_failover(layer) == ["drill.failover"]
    assert run_lock(cfg) is None
    assert step(run.doc, "lock released")["status"] == "ok"
    assert step(run.doc, "failover: observed")["status"] == "ok"


def test_over_the_rto_budget_fails(cfg, cluster):
    cfg = with_drill(cfg, poll_interval_seconds=5.0)  # fewer polls; the model is on the 5 s grid
    timeline = Timeline(old_writer_until=5, new_writer_at=75, cluster_available_at=80, members_available_at=90)
    run = drill(cfg, DelayedFailover(FakeClock(), timeline))
    assert run.code == 1
    assert run.doc["verdict"] == "fail"
    assert "after 75.0s (budget 60s, exceeded)" in run.doc["reason"]
    assert step(run.doc, "failover: observed")["status"] == "failed"
    assert run_lock(cfg) is None


def test_not_back_to_full_strength_within_the_observe_budget_fails(cfg, cluster):
    cfg = with_drill(cfg, observe_budget_minutes=1.5)
    timeline = Timeline(members_available_at=600)
    run = drill(cfg, DelayedFailover(FakeClock(), timeline))
    assert run.code == 1 and run.doc["verdict"] == "fail"
    assert "not back to full strength within 1.5 min" in run.doc["reason"]
    assert step(run.doc, "failover: observed")["status"] == "failed"
    leg = run.doc["measurements"]["failover"]
    assert leg["new_writer_seconds"] is not None and leg["all_members_available_seconds"] is None
    # the budget bounds the observation
    assert run.clock.now - 1000.0 <= 90.0
    assert run_lock(cfg) is None


# --------------------------------------------------------------------------
# preflight: every failure aborts before anything is written


def _one_instance(cfg):
    make_cluster(cfg.drill.aurora_cluster, azs=("a",))
    make_alarms(cfg.drill.stop_alarms, "OK")
    return None, "preflight: a reader in another AZ", "no available reader outside the writer's AZ"


def _member_not_available(cfg):
    ids = make_cluster(cfg.drill.aurora_cluster)
    make_alarms(cfg.drill.stop_alarms, "OK")
    return StatusOverride({ids[2]: "rebooting"}), "preflight: every member available", f"{ids[2]} is rebooting"


def _lock_held(cfg):
    make_cluster(cfg.drill.aurora_cluster)
    make_alarms(cfg.drill.stop_alarms, "OK")
    other_holder(cfg, "drill.failover")
    return None, "preflight: lock free", "locked by "


def _stop_alarm_in_alarm(cfg):
    make_cluster(cfg.drill.aurora_cluster)
    make_alarms(cfg.drill.stop_alarms, "OK")
    set_alarm(cfg.drill.stop_alarms[1], "ALARM")
    return None, "preflight: stop alarms quiet", f"in ALARM: {cfg.drill.stop_alarms[1]}"


def _stop_alarm_missing(cfg):
    make_cluster(cfg.drill.aurora_cluster)
    make_alarms(cfg.drill.stop_alarms[:1], "OK")
    return None, "preflight: stop alarms quiet", f"stop alarm(s) missing: {cfg.drill.stop_alarms[1]}"


def _two_instances_one_az(cfg):
    make_cluster(cfg.drill.aurora_cluster, azs=("a", "a"))
    make_alarms(cfg.drill.stop_alarms, "OK")
    return None, "preflight: a reader in another AZ", "outside the writer's AZ (ap-northeast-2a)"


def _no_cluster(cfg):
    return None, "preflight: cluster available", "no Aurora cluster named fablink-prod-aurora"


@pytest.mark.parametrize(
    "setup",
    [_one_instance, _member_not_available, _lock_held, _stop_alarm_in_alarm, _stop_alarm_missing, _two_instances_one_az, _no_cluster],
)
def test_a_failed_preflight_aborts_before_acting(aws, cfg, setup):
    override, failed_step, text = setup(cfg)
    tags_before = cluster_tags(cfg.drill.aurora_cluster) if setup is not _no_cluster else None
    run = drill(cfg, override)

    assert run.code == 1
    assert run.doc["verdict"] == "aborted"
    assert run.doc["reason"].startswith("preflight")
    assert text in run.doc["reason"]
    assert step(run.doc, failed_step)["status"] == "failed"
    # read-only: not one write, the lock not touched, no failover
    assert run.target.meter.writes == 0
    assert not any(s["name"].startswith(("failover", "lock")) for s in run.doc["steps"])
    if tags_before is not None:
        assert cluster_tags(cfg.drill.aurora_cluster) == tags_before
        assert writer(cfg.drill.aurora_cluster) == f"{cfg.drill.aurora_cluster}-1a"


def test_to_must_name_an_available_reader(cfg, cluster):
    run = drill(cfg, to="no-such-instance")
    assert run.code == 1 and run.doc["verdict"] == "aborted"
    assert "--to no-such-instance is not a member" in run.doc["reason"]
    run_writer = drill(cfg, to=cluster[0])
    assert "is already the writer" in run_writer.doc["reason"]
    assert run.target.meter.writes == 0 and run_writer.target.meter.writes == 0


# --------------------------------------------------------------------------
# the lock


def test_a_stale_lock_is_taken_over(cfg, cluster):
    other_holder(cfg, "drill.failover", clock=lambda: 1_000_000.0, lease=60)  # killed long ago
    layer = DelayedFailover(FakeClock(), INSTANT)
    run = drill(cfg, layer)

    assert run.code == 0, run.doc["reason"]
    assert "will be taken over" in step(run.doc, "preflight: lock free")["detail"]
    acquired = step(run.doc, "lock acquired")["detail"]
    assert "took over the stale lock of" in acquired and "drill.failover" in acquired
    assert held_during_failover(layer) == ["drill.failover"]
    assert run_lock(cfg) is None


def test_two_drills_at_the_same_moment_one_holds_the_lock(cfg, cluster):
    """Another run takes the lock between our preflight and our lock (issue 14,
    item 13: the tag lock let both drills hold it): we abort and leave its lock."""
    other: list[lock.RunLock] = []

    def racer(model, **_):
        if model.name == "DescribeAlarms" and not other:
            other.append(other_holder(cfg, "drill.failover"))

    run = drill(cfg, hooks=[("after-call.cloudwatch", racer)])
    assert run.code == 1 and run.doc["verdict"] == "aborted"
    assert "lock: fablink-prod is locked by" in run.doc["reason"] and "drill.failover" in run.doc["reason"]
    assert not any(s["name"] == "lock released" for s in run.doc["steps"])
    assert run_lock(cfg).run_id == other[0].run_id
    assert writer(cfg.drill.aurora_cluster) == cluster[0]
    assert run.target.meter.writes == 0


# --------------------------------------------------------------------------
# failback, target choice


def test_failback_is_a_second_measured_failover(cfg, cluster):
    timeline = Timeline()
    run = drill(cfg, DelayedFailover(FakeClock(), timeline), failback=True)

    assert run.code == 0, run.doc["reason"]
    m = run.doc["measurements"]
    assert (m["failover"]["from"], m["failover"]["new_writer"]) == (cluster[0], cluster[1])
    assert (m["failback"]["from"], m["failback"]["new_writer"]) == (cluster[1], cluster[0])
    for leg in (m["failover"], m["failback"]):
        assert timeline.new_writer_at <= leg["new_writer_seconds"] < timeline.new_writer_at + cfg.drill.poll_interval_seconds
    assert m["failback"]["requested_at"] >= m["failover"]["all_members_available_at"]
    assert writer(cfg.drill.aurora_cluster) == cluster[0]
    assert run.target.meter.calls["rds:FailoverDBCluster"] == 2
    assert run.doc["reason"].startswith("failover: new writer") and "; failback: new writer" in run.doc["reason"]
    assert run_lock(cfg) is None
    # every call the drill made is an IAM permission it declares
    used = set(run.target.meter.calls)
    assert used <= set(failover.PERMISSIONS), used - set(failover.PERMISSIONS)


def test_default_target_is_the_best_tier_reader_in_another_az(aws, cfg):
    # writer 2a; a tier-0 reader in the writer's own AZ, tier 5 in 2b, tier 1 in 2d
    ids = make_cluster(cfg.drill.aurora_cluster, azs=("a", "a", "b", "d"), tiers=[0, 0, 5, 1])
    make_alarms(cfg.drill.stop_alarms, "OK")
    run = drill(cfg)
    assert run.code == 0, run.doc["reason"]
    assert run.doc["measurements"]["failover"]["to"] == ids[3]
    assert writer(cfg.drill.aurora_cluster) == ids[3]


def test_to_picks_the_instance(cfg, cluster):
    run = drill(cfg, to=cluster[2])
    assert run.code == 0, run.doc["reason"]
    assert run.doc["parameters"]["to"] == cluster[2]
    assert writer(cfg.drill.aurora_cluster) == cluster[2]


# --------------------------------------------------------------------------
# stopping: alarms and Ctrl-C; the lock goes whatever happened


def test_a_stop_alarm_firing_mid_drill_stops_it(cfg, cluster):
    fired = []

    def on_poll(dt):
        if dt >= 5 and not fired:
            set_alarm(cfg.drill.stop_alarms[0], "ALARM")
            fired.append(dt)

    layer = DelayedFailover(FakeClock(), Timeline(), on_poll=on_poll)
    run = drill(cfg, layer, failback=True)

    assert run.code == 1 and run.doc["verdict"] == "aborted"
    assert f"stop condition during the failover: {cfg.drill.stop_alarms[0]}" in run.doc["reason"]
    assert step(run.doc, "failover: observed")["status"] == "failed"
    assert not any(s["name"].startswith("failback") for s in run.doc["steps"])
    assert run.target.meter.calls["rds:FailoverDBCluster"] == 1
    leg = run.doc["measurements"]["failover"]
    assert leg["requested_at"] and leg["new_writer_seconds"] is None
    assert step(run.doc, "lock released")["status"] == "ok"
    assert run_lock(cfg) is None


def test_ctrl_c_mid_drill_releases_the_lock_and_leaves_evidence(cfg, cluster):
    pressed = []

    def on_poll(dt):
        if dt >= 4 and not pressed:
            pressed.append(dt)
            raise KeyboardInterrupt

    run = drill(cfg, DelayedFailover(FakeClock(), Timeline(), on_poll=on_poll))
    assert run.code == 1 and run.doc["verdict"] == "aborted"
    assert run.doc["reason"].startswith("interrupted by the operator (Ctrl-C) while observing the failover")
    observed = step(run.doc, "failover: observed")
    assert observed["status"] == "failed" and observed["detail"] == "interrupted by the operator (Ctrl-C)"
    assert step(run.doc, "lock released")["status"] == "ok"
    assert run_lock(cfg) is None
    assert run.doc["finished"]


def test_an_aws_error_when_acting_aborts_and_releases_the_lock(cfg, cluster):
    from botocore.exceptions import ClientError

    def refuse(model, **_):
        if model.name == "FailoverDBCluster":
            raise ClientError({"Error": {"Code": "InvalidDBClusterStateFault", "Message": "cluster is busy"}}, "FailoverDBCluster")

    run = drill(cfg, hooks=[("before-call.rds", refuse)])
    assert run.code == 1 and run.doc["verdict"] == "aborted"
    assert "InvalidDBClusterStateFault: cluster is busy" in run.doc["reason"]
    assert step(run.doc, "failover: requested")["status"] == "failed"
    assert run_lock(cfg) is None


# --------------------------------------------------------------------------
# live mode: the clients' view, the guard


class ScriptedProber(Prober):
    """The real outage arithmetic over samples the test scripts on the fake
    clock: the endpoint refuses connects from ``down[0]`` to ``down[1]``
    seconds after the request."""

    def __init__(self, clock: FakeClock, down: tuple[float, float]):
        super().__init__("endpoint", 5432, 0.5, 1.0, clock=clock.monotonic, connect=self._connect)
        self.fake_clock = clock
        self.down = down
        self.requested: float | None = None
        self.started = self.stopped = False

    def _connect(self, address, timeout):
        if self.requested is not None and self.down[0] <= self.fake_clock.now - self.requested < self.down[1]:
            raise ConnectionRefusedError(address)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


def test_live_measures_the_longest_unreachable_span(cfg, cluster):
    clock = FakeClock()
    # polls (and so samples) at 0, 1, ... 17 (new writer), 18, 19.5, ...: down from 3 to 18
    prober = ScriptedProber(clock, down=(3.0, 18.0))

    def on_poll(dt):
        if prober.requested is None:
            prober.requested = clock.now - dt
        prober.probe_once()  # one connect per poll: the samples sit on the poll grid

    layer = DelayedFailover(clock, Timeline(), on_poll=on_poll)
    run = drill(cfg, layer, live=True, prober_factory=lambda host, port: prober)

    assert run.code == 0, run.doc["reason"]
    assert run.doc["target"] == "live" and run.doc["operator"] == OPERATOR
    assert step(run.doc, "confirmation")["detail"] == "--yes given"
    assert step(run.doc, "endpoint probe")["status"] == "ok"
    leg = run.doc["measurements"]["failover"]
    assert leg["endpoint_longest_unreachable_seconds"] == 15.0
    assert "endpoint unreachable for 15.0s at most" in run.doc["reason"]
    assert prober.started and prober.stopped


def test_live_clients_unreachable_past_the_budget_fail(cfg, cluster):
    clock = FakeClock()
    prober = ScriptedProber(clock, down=(1.0, 80.0))

    def on_poll(dt):
        if prober.requested is None:
            prober.requested = clock.now - dt
        prober.probe_once()

    timeline = Timeline(members_available_at=100.0)  # the writer in 17 s, clients locked out for 79 s
    run = drill(cfg, DelayedFailover(clock, timeline, on_poll=on_poll), live=True, prober_factory=lambda h, p: prober)
    assert run.code == 1 and run.doc["verdict"] == "fail"
    assert "after 17.0s (budget 60s)" in run.doc["reason"] and "(over budget)" in run.doc["reason"]


def test_live_endpoint_not_reachable_from_here_is_said_plainly(cfg, cluster):
    clock = FakeClock()
    prober = ScriptedProber(clock, down=(0.0, 0.0))
    prober.connect = lambda address, timeout: (_ for _ in ()).throw(OSError("no route"))  # type: ignore[assignment]
    run = drill(cfg, DelayedFailover(clock, INSTANT), live=True, prober_factory=lambda h, p: prober)
    assert run.code == 0, run.doc["reason"]
    probe = step(run.doc, "endpoint probe")
    assert probe["status"] == "skipped" and "does not accept TCP connects from this host" in probe["detail"]
    assert run.doc["measurements"]["failover"]["endpoint_longest_unreachable_seconds"] is None
    assert not prober.started


def test_live_without_confirmation_is_refused_before_any_write(cfg, cluster, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    run = drill(cfg, live=True, yes=False)
    assert run.code == 2
    assert run.doc is None  # refused: nothing was done, no evidence
    assert run.target.meter.writes == 0
    assert writer(cfg.drill.aurora_cluster) == cluster[0]
    assert run_lock(cfg) is None


class Terminal(io.StringIO):
    """stdin as a terminal on which the operator types ``answer``."""

    def isatty(self) -> bool:
        return True


def test_live_confirmation_names_the_cluster(cfg, cluster, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", Terminal("fablink-prod\n"))  # the environment, not the cluster
    run = drill(cfg, live=True, yes=False, prober_factory=lambda h, p: ScriptedProber(FakeClock(), (0, 0)))
    assert run.code == 2 and run.target.meter.writes == 0
    assert "Type fablink-prod-aurora to go ahead" in " ".join(capsys.readouterr().out.split())

    monkeypatch.setattr("sys.stdin", Terminal(f"{cfg.drill.aurora_cluster}\n"))
    run = drill(cfg, live=True, yes=False, prober_factory=lambda h, p: ScriptedProber(FakeClock(), (0, 0)))
    assert run.code == 0, run.doc["reason"]
    assert step(run.doc, "confirmation")["detail"] == f"the operator typed {cfg.drill.aurora_cluster}"


# --------------------------------------------------------------------------
# evidence and exit codes


def test_evidence_files_and_json_stdout(cfg, cluster, capsys):
    run = drill(cfg, json_mode=True, failback=True)
    out = capsys.readouterr().out
    assert run.code == 0
    assert json.loads(out) == run.doc  # exactly one document on stdout: the evidence file's

    doc = run.doc
    stem = "20300102T030405Z-drill.failover"
    assert doc["evidence"] == {"json": f"reports/sandbox/{stem}.json", "markdown": f"reports/sandbox/{stem}.md"}
    assert doc["format"] == "fablink-ops/evidence/1"
    assert (doc["runbook"], doc["environment"], doc["target"]) == ("drill.failover", "fablink-prod", "sandbox")
    assert doc["operator"] == "arn:aws:sts::853963783084:user/moto"
    assert doc["parameters"] == {"to": None, "failback": True, "live": False, "yes": True, "config": None}  # None: the default; provenance names the file
    assert doc["started"] == iso(WALL) and doc["finished"] >= doc["started"]
    assert [s["name"] for s in doc["steps"]] == [
        "preflight: cluster available", "preflight: every member available", "preflight: a reader in another AZ",
        "preflight: failover target", "preflight: lock free", "preflight: stop alarms quiet", "confirmation",
        "endpoint probe", "lock acquired", "failover: requested", "failover: observed", "failback: requested",
        "failback: observed", "lock released",
    ]
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    for s in doc["steps"]:
        assert stamp.fullmatch(s["started"]) and stamp.fullmatch(s["finished"]) and s["started"] <= s["finished"]
        assert s["status"] in ("ok", "skipped") and s["detail"]
    assert doc["verdict"] == "pass" and doc["reason"]
    assert doc["calls"]["writes"] == 2  # failover, failback (the run lock has its own meter: fablink_ops/lock.py)
    assert set(doc["measurements"]) >= {"cluster", "drill_id", "rto_budget_seconds", "original_writer", "failover", "failback"}

    md = run.md
    assert md.startswith("# drill.failover: PASS\n")
    assert f"**Verdict: pass**: {doc['reason']}" in md
    assert "| Operator | arn:aws:sts::853963783084:user/moto |" in md
    for s in doc["steps"]:
        assert f"| {s['name']} | {s['status']} | {s['started']} |" in md
    assert f"| failover.new_writer_seconds | {doc['measurements']['failover']['new_writer_seconds']:g} |" in md
    assert f"`reports/sandbox/{stem}.json`" in md


def test_aborted_json_mode_prints_the_document_only(cfg, aws, capsys):
    make_cluster(cfg.drill.aurora_cluster, azs=("a",))
    make_alarms(cfg.drill.stop_alarms, "OK")
    run = drill(cfg, json_mode=True)
    captured = capsys.readouterr()
    assert run.code == 1
    assert json.loads(captured.out) == run.doc and run.doc["verdict"] == "aborted"
    assert "ABORTED" in captured.err  # the human summary went to stderr


def test_a_second_run_in_the_same_second_does_not_overwrite(cfg, cluster):
    first = drill(cfg)
    names_before = {p.name for p in Path("reports").glob("*/*.json")}
    clock = FakeClock()
    target = make_target(cfg)
    opts = FailoverOptions()
    session = cli.Session(opts, cfg, target, make_console(False))
    code = failover.command(opts, session=session, clock=clock.monotonic, sleep=clock.sleep, wall=WALL)
    names = {p.name for p in Path("reports").glob("*/*.json")}
    assert first.code == 0 and code == 0
    assert names == names_before | {"20300102T030405Z-drill.failover-2.json"}


def test_bad_config_exits_2_before_any_aws_call(tmp_path, monkeypatch, capsys):
    text = CONFIG.read_text().replace("rto_budget_seconds = 60", "rto_budget_seconds = -1")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    code = cli.run(failover.command, FailoverOptions(config=str(bad)))
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "drill.rto_budget_seconds" in err
    assert not Path("reports").exists()
    assert not (Path(tmp_path) / "sandbox" / "sandbox.json").exists()  # no sandbox started
