"""The Aurora failover drill: ``invoke drill.failover``.

The operator's question: if the writer dies, how long until writes work
again, and does the cluster come back to full strength? Design doc:
Performance tests ("failure-recovery (failover) test"), Aurora High
Availability ("Auto Failover"), SLA (99.9%). Human runbook:
runbooks/failover-drill.md.

1. Preflight, read-only; any failure ends the drill before it acts (verdict
   aborted): the cluster and every member are available, a reader sits in
   another AZ than the writer, no other drill holds the lock, no stop alarm is
   in ALARM (and each exists).
2. Confirm (live): the operator types the cluster's name, or gave --yes.
   Then, live only, one TCP connect to the cluster endpoint decides whether
   the clients' view can be measured from this host.
3. Lock: the environment's run lock (fablink_ops/lock.py), naming the
   drill; a killed drill blocks the next one only until its lease ends (an
   expired lock is taken over).
4. Act: FailoverDBCluster to --to, or by default to the available reader
   with the best promotion tier in another AZ.
5. Observe: poll at a short interval until a different writer is reported
   (the resolution of the measured RTO), then back off until the cluster and
   every member are available again. Live mode also connects to the cluster
   endpoint over TCP throughout, for the longest span clients could not.
   A stop alarm going into ALARM stops the drill (verdict aborted).
6. Verdict against the RTO budget. --failback: a second, measured failover
   back to the original writer.
7. Release the lock, whatever happened (finally, Ctrl-C included).

The cluster is found by its identifier in config ([drill].aurora_cluster);
this module does not depend on the aurora provisioning stage.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Callable, Unpack

from ..session import Options, Session, confirm_live
from ..config import DrillConfig
from ..engine import Context
from ..report import FAIL, FAILED_STEP, OK, PASS, SKIPPED, Aborted, Report
from . import Frame, execute
from .cluster import (AVAILABLE, ClusterView, Describe, Member, acquire_lock, choose_target, describe_cluster, lock_state,
                      other_az_readers, release_lock, require)
from .probe import Prober

RUNBOOK = "drill.failover"
ALARM = "ALARM"

# What the drill needs in IAM (live), declared next to the code that calls it
# (cloud-custodian's habit); a test checks every call made is listed here.
PERMISSIONS = (
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:FailoverDBCluster",
    # the run lock (fablink_ops/lock.py)
    "dynamodb:DescribeTable",
    "dynamodb:CreateTable",
    "dynamodb:TagResource",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "cloudwatch:DescribeAlarms",
    "sts:GetCallerIdentity",
)


@dataclass
class FailoverOptions(Options):
    to: str | None = None
    failback: bool = False


# --------------------------------------------------------------------------
# stop alarms


def alarm_states(ctx: Context, names: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """{alarm name: (state, reason)} for the named metric and composite alarms that exist."""
    cw = ctx.client("cloudwatch")
    out: dict[str, tuple[str, str]] = {}
    kwargs: dict[str, Any] = {"AlarmNames": list(names), "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    while True:
        page = cw.describe_alarms(**kwargs)
        for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            out[alarm["AlarmName"]] = (alarm.get("StateValue", ""), alarm.get("StateReason", ""))
        if not page.get("NextToken"):
            return out
        kwargs["NextToken"] = page["NextToken"]


def firing(states: dict[str, tuple[str, str]]) -> list[str]:
    return [f"{name} ({reason})" if reason else name for name, (state, reason) in sorted(states.items()) if state == ALARM]


# --------------------------------------------------------------------------
# preflight


@dataclass
class Plan:
    view: ClusterView
    source: Member  # the writer now
    target: Member  # the instance to promote


def preflight(ctx: Context, report: Report, describe: Describe, to: str | None) -> Plan:
    """Read-only checks, each a step. Any failure: Aborted, before anything is done."""
    cfg = ctx.cfg.drill
    name = cfg.aurora_cluster
    started = ctx.clock()
    view = describe()
    if view is None:
        report.record("preflight: cluster available", FAILED_STEP, f"no Aurora cluster named {name} in {ctx.target.region}", started)
        raise Aborted(
            f"preflight: no Aurora cluster named {name} in {ctx.target.region}: provision it "
            "(invoke provision --stage aurora) or correct [drill].aurora_cluster"
        )
    problems: list[str] = []

    def check(step: str, ok: bool, detail: str) -> None:
        report.record(f"preflight: {step}", OK if ok else FAILED_STEP, detail, started)
        if not ok:
            problems.append(detail)

    check("cluster available", view.status == AVAILABLE, f"cluster {view.id} is {view.status}")
    down = view.not_available
    writer = view.writer
    check(
        "every member available",
        not down and writer is not None,
        (f"not available: {', '.join(f'{m.id} is {m.status}' for m in down)}" if down
         else "no writer is reported" if writer is None
         else f"{len(view.members)} members available, writer {writer.label()}"),
    )
    readers = other_az_readers(view)
    check(
        "a reader in another AZ",
        bool(readers),
        (f"{', '.join(m.label() for m in readers)}" if readers
         else f"no available reader outside the writer's AZ ({writer.az}) among {len(view.members)} member(s)"
         if writer else "no writer is reported, so no reader can be chosen"),
    )
    target, why = choose_target(view, to)
    if target is not None and writer is not None:
        same_az = " (same AZ as the writer: this does not test losing the writer's AZ)" if target.az == writer.az else ""
        check("failover target", True, f"{writer.label()} → {target.label()}{same_az}")
    elif not to and not readers:
        report.record("preflight: failover target", SKIPPED, "no candidate (see the check above)", started)
    else:
        check("failover target", False, why)
    free, detail = lock_state(ctx)
    check("lock free", free, detail)
    if cfg.stop_alarms:
        check("stop alarms quiet", *_stop_alarms_quiet(ctx))
    else:
        report.record("preflight: stop alarms quiet", SKIPPED, "no stop alarms configured ([drill].stop_alarms): nothing stops the drill early", started)
    if problems:
        raise Aborted("preflight failed: " + "; ".join(problems))
    assert writer is not None and target is not None
    return Plan(view, writer, target)


def _stop_alarms_quiet(ctx: Context) -> tuple[bool, str]:
    """Whether every stop alarm exists and none is in ALARM, and what was found."""
    stop_alarms = ctx.cfg.drill.stop_alarms
    states = alarm_states(ctx, stop_alarms)
    missing = [a for a in stop_alarms if a not in states]
    fired = firing(states)
    if missing:
        return False, f"stop alarm(s) missing: {', '.join(missing)} (create them with the monitoring stage, or correct [drill].stop_alarms)"
    if fired:
        return False, f"in ALARM: {', '.join(fired)}"
    return True, ", ".join(f"{n}: {s}" for n, (s, _) in sorted(states.items()))


# --------------------------------------------------------------------------
# one measured failover


@dataclass
class Leg:
    label: str  # "failover" | "failback"
    source: Member
    target: Member
    members: int = 0
    requested: float | None = None
    new_writer: str = ""
    new_writer_at: float | None = None
    cluster_available_at: float | None = None
    all_available_at: float | None = None
    ended: float | None = None
    polls: int = 0
    timed_out: bool = False
    unreachable: float | None = None  # longest endpoint outage; None: not probed
    probe: str = ""

    def seconds(self, at: float | None) -> float | None:
        if at is None or self.requested is None:
            return None
        return round(at - self.requested, 3)

    def to_json(self, report: Report) -> dict[str, Any]:
        def ts(at: float | None) -> str | None:
            return report.timestamp(at) if at is not None else None

        return {
            "from": self.source.id,
            "from_az": self.source.az,
            "to": self.target.id,
            "to_az": self.target.az,
            "new_writer": self.new_writer or None,
            "requested_at": ts(self.requested),
            "new_writer_at": ts(self.new_writer_at),
            "cluster_available_at": ts(self.cluster_available_at),
            "all_members_available_at": ts(self.all_available_at),
            "new_writer_seconds": self.seconds(self.new_writer_at),
            "cluster_available_seconds": self.seconds(self.cluster_available_at),
            "all_members_available_seconds": self.seconds(self.all_available_at),
            "members": self.members,
            "polls": self.polls,
            "endpoint_longest_unreachable_seconds": None if self.unreachable is None else round(self.unreachable, 3),
            "endpoint_probe": self.probe,
        }


def fail_over(ctx: Context, report: Report, describe: Describe, leg: Leg, prober: Prober | None) -> None:
    """Request the failover, then observe it to the end (or the observe budget)."""
    cfg = ctx.cfg.drill
    try:
        with report.step(f"{leg.label}: requested") as step:
            leg.requested = ctx.clock()
            ctx.client("rds").failover_db_cluster(DBClusterIdentifier=cfg.aurora_cluster, TargetDBInstanceIdentifier=leg.target.id)
            step.detail = f"{leg.source.label()} → {leg.target.label()}"
        with report.step(f"{leg.label}: observed") as step:
            observe(ctx, describe, leg)
            leg.ended = ctx.clock()
            if prober is not None:
                leg.unreachable = prober.longest_outage(leg.requested, leg.ended)
            passed, text = judge(leg, cfg)
            step.detail = f"{text} ({leg.polls} polls)"
            if not passed:
                step.status = FAILED_STEP
    finally:
        if leg.ended is None:
            leg.ended = ctx.clock()
            if prober is not None and leg.requested is not None:
                leg.unreachable = prober.longest_outage(leg.requested, leg.ended)
        report.measure(leg.label, leg.to_json(report))


def observe(ctx: Context, describe: Describe, leg: Leg) -> None:
    """Poll until a different writer is reported and the cluster is at full
    strength again, or the observe budget is spent.

    The interval stays at its minimum until the writer has moved (that is the
    resolution of the measured RTO), then grows toward the maximum: recovering
    readers take minutes and need no second-level precision. A stop alarm in
    ALARM ends the drill: Aborted. Alarms are read at most every maximum
    interval: CloudWatch evaluates them per period (a minute, typically), so
    reading them every second would only spend API calls.
    """
    cfg = ctx.cfg.drill
    assert leg.requested is not None
    interval = cfg.poll_interval_seconds
    deadline = leg.requested + cfg.observe_budget_minutes * 60
    alarms_read: float | None = None
    while True:
        view = require(describe(), ctx)
        now = ctx.clock()
        leg.polls += 1
        leg.members = len(view.members)
        writer = view.writer
        if leg.new_writer_at is None and writer is not None and writer.id != leg.source.id:
            leg.new_writer_at, leg.new_writer = now, writer.id
            ctx.reporter.info(f"  {leg.label}: new writer {writer.label()} after {now - leg.requested:.1f}s")
        if leg.new_writer_at is not None:
            if leg.cluster_available_at is None and view.status == AVAILABLE:
                leg.cluster_available_at = now
            if leg.all_available_at is None and view.full_strength:
                leg.all_available_at = now
                ctx.reporter.info(f"  {leg.label}: all {len(view.members)} members available after {now - leg.requested:.1f}s")
        if cfg.stop_alarms and (alarms_read is None or now - alarms_read >= cfg.poll_max_interval_seconds):
            alarms_read = now
            fired = firing(alarm_states(ctx, cfg.stop_alarms))
            if fired:
                raise Aborted(f"stop condition during the {leg.label}: {', '.join(fired)} in ALARM after "
                              f"{now - leg.requested:.1f}s; the drill stopped observing (the failover itself cannot be recalled)")
        if leg.all_available_at is not None:
            return
        if now >= deadline:
            leg.timed_out = True
            return
        ctx.sleep(min(interval, deadline - now))
        if leg.new_writer_at is not None:
            interval = min(cfg.poll_max_interval_seconds, interval * 1.5)


def judge(leg: Leg, cfg: DrillConfig) -> tuple[bool, str]:
    """(passed?, what decided it, with the numbers)."""
    budget = cfg.rto_budget_seconds
    rto = leg.seconds(leg.new_writer_at)
    if rto is None:
        return False, f"no new writer within {cfg.observe_budget_minutes:g} min (budget {budget:g}s)"
    ok = rto <= budget
    parts = [f"new writer {leg.new_writer} after {rto:.1f}s (budget {budget:g}s{'' if ok else ', exceeded'})"]
    if leg.new_writer != leg.target.id:
        parts.append(f"not the requested {leg.target.id}")
    if leg.unreachable is not None:
        clients_ok = leg.unreachable <= budget
        ok = ok and clients_ok
        parts.append(f"endpoint unreachable for {leg.unreachable:.1f}s at most{'' if clients_ok else ' (over budget)'}")
    back = leg.seconds(leg.all_available_at)
    if back is None:
        ok = False
        parts.append(f"not back to full strength within {cfg.observe_budget_minutes:g} min")
    else:
        parts.append(f"all {leg.members} members available after {back:.1f}s")
    return ok, ", ".join(parts)


# --------------------------------------------------------------------------
# the drill


ProberFactory = Callable[[str, int], Prober]


def run(
    ctx: Context,
    report: Report,
    confirm: Callable[[str, str], None],
    to: str | None = None,
    failback: bool = False,
    wrap: Callable[[Describe], Describe] | None = None,
    prober_factory: ProberFactory | None = None,
    drill_id: str | None = None,
) -> None:
    """The drill. Records steps and measurements in ``report`` and concludes
    its verdict; raises Aborted (or lets an AWS error / Ctrl-C through) to
    end it early. The lock is released whatever happens once it was sought.

    ``wrap`` wraps the cluster describe (tests model failover timing with it);
    ``prober_factory(host, port)`` builds the live endpoint prober.
    """
    cfg = ctx.cfg.drill
    real: Describe = lambda: describe_cluster(ctx, cfg.aurora_cluster)  # noqa: E731
    describe = wrap(real) if wrap else real
    drill_id = drill_id or f"drill-{report.moment_started():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    report.measure("cluster", cfg.aurora_cluster)
    report.measure("drill_id", drill_id)
    report.measure("rto_budget_seconds", cfg.rto_budget_seconds)
    report.measure("poll_interval_seconds", cfg.poll_interval_seconds)

    if not ctx.target.is_live:
        report.measure("note", "sandbox: moto fails over at once, so these times measure the tool, not Aurora")
    plan = preflight(ctx, report, describe, to)
    report.measure("original_writer", plan.source.id)

    confirm(
        cfg.aurora_cluster,
        f"This fails over the LIVE Aurora cluster [bold]{cfg.aurora_cluster}[/] ({plan.source.id} → {plan.target.id}"
        f"{', and back' if failback else ''}): writes fail for tens of seconds. Type [bold]{cfg.aurora_cluster}[/] to go ahead:",
    )
    report.record("confirmation", OK, _confirmation_detail(ctx, report))
    # After the confirmation: a refused drill has not even resolved the endpoint.
    prober, probe_note = _endpoint_probe(ctx, report, plan.view, prober_factory)

    legs, lock_released = _legs(ctx, report, describe, plan, drill_id, failback, prober, probe_note)
    results = [judge(leg, cfg) for leg in legs]
    reason = "; ".join(f"{leg.label}: {text}" for leg, (_, text) in zip(legs, results))
    if not lock_released:
        reason += "; the run lock could not be released (see the step)"
    report.conclude(PASS if all(ok for ok, _ in results) else FAIL, reason)


def _legs(
    ctx: Context, report: Report, describe: Describe, plan: Plan, drill_id: str, failback: bool, prober: Prober | None, probe_note: str,
) -> tuple[list[Leg], bool]:
    """Take the lock, fail over (and back), release the lock whatever
    happened. Returns the legs observed and whether the lock was removed."""
    cfg = ctx.cfg.drill
    legs: list[Leg] = []
    lock_released = True
    held = None
    try:
        held = acquire_lock(ctx, report, report.operator)
        if prober is not None:
            prober.start()
        first = Leg("failover", plan.source, plan.target, probe=probe_note)
        legs.append(first)
        fail_over(ctx, report, describe, first, prober)
        if failback:
            if first.all_available_at is None:
                report.record("failback: requested", SKIPPED, "the cluster is not back to full strength after the failover")
            else:
                current = require(describe(), ctx)
                back_from = current.writer or plan.target
                home = current.member(plan.source.id) or plan.source
                second = Leg("failback", back_from, home, probe=probe_note)
                legs.append(second)
                fail_over(ctx, report, describe, second, prober)
    except KeyboardInterrupt:
        underway = [leg.label for leg in legs if leg.requested is not None]
        if underway:
            raise Aborted(f"interrupted by the operator (Ctrl-C) while observing the {underway[-1]}: AWS carries the "
                          f"failover on regardless; check {cfg.aurora_cluster} is back to full strength") from None
        raise Aborted("interrupted by the operator (Ctrl-C) before the failover was requested: nothing was failed over") from None
    finally:
        # Runs after the except above too: the lock goes whatever happened.
        if prober is not None:
            prober.stop()
        if held is not None:
            lock_released = release_lock(ctx, report, held)
    return legs, lock_released


def _endpoint_probe(ctx: Context, report: Report, view: ClusterView, factory: ProberFactory | None) -> tuple[Prober | None, str]:
    """Live only: a prober, if the endpoint answers from here at all; and a note on it."""
    cfg = ctx.cfg.drill
    step = "endpoint probe"
    if not ctx.target.is_live:
        note = "not measured: in the sandbox the cluster endpoint is not a real host"
        report.record(step, SKIPPED, note)
        return None, note
    address = f"{view.endpoint}:{view.port}"
    if factory is None:
        prober = Prober(view.endpoint, view.port, cfg.probe_interval_seconds, cfg.probe_timeout_seconds)
    else:
        prober = factory(view.endpoint, view.port)
    started = ctx.clock()
    if not prober.probe_once():
        # From outside the VPC the endpoint never answers: the drill still
        # measures the writer change from the API, and says what it missed.
        note = (f"not measured: {address} does not accept TCP connects from this host "
                "(run the drill from inside the VPC to measure it)")
        report.record(step, SKIPPED, note, started)
        return None, note
    note = f"TCP connect to {address} every {cfg.probe_interval_seconds:g}s (timeout {cfg.probe_timeout_seconds:g}s)"
    report.record(step, OK, f"{address} accepts TCP connects; probing throughout", started)
    return prober, note


def _confirmation_detail(ctx: Context, report: Report) -> str:
    if not ctx.target.is_live:
        return "sandbox: no confirmation needed"
    yes = report.parameters.get("yes")
    return "--yes given" if yes else f"the operator typed {ctx.cfg.drill.aurora_cluster}"


# --------------------------------------------------------------------------
# the command behind `invoke drill.failover`


def command(
    opts: FailoverOptions,
    wrap: Callable[[Describe], Describe] | None = None,
    prober_factory: ProberFactory | None = None,
    **frame: Unpack[Frame],
) -> int:
    """Exit 0 pass, 1 fail or aborted, 2 invalid config or guard refusal."""
    to = opts.to or None
    parameters = {"to": to, "failback": opts.failback, "live": opts.live, "yes": opts.yes, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        run(ctx, report, lambda expected, prompt: confirm_live(s, expected, prompt),
            to=to, failback=opts.failback, wrap=wrap, prober_factory=prober_factory)

    return execute(opts, RUNBOOK, body, parameters, **frame)
