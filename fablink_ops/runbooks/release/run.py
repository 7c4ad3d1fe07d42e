"""``invoke release --image TAG``: the blue-green release, its steps and its rollback.

Preflight (read-only; any failure: aborted, nothing done) → deploy TAG to
the idle colour and wait for its targets → integration checks against the
idle colour → canary steps ([release].steps below 100), each a bake with
gates → manual approval → promote (the stage's colour variable switches,
the canary goes) → post-promotion watch → pass.

Any failed gate, stop alarm, error, timeout or Ctrl-C once traffic moved:
roll back (the canary removed, or after the promotion the colour switched
back), verify it (no canary, the old colour live) and time it; verdict fail
(aborted for a Ctrl-C). The idle colour is left as it is, for inspection.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ...engine import Context
from ...errors import OpsError
from ...report import FAILED_STEP, OK, SKIPPED, Aborted, Report
from ...resources.edge.common import EdgeNames
from ...kube import KubeClient
from ...target import wrap_aws_error
from . import gates, rollout, stage
from .gates import FAILED, Gate

Ask = Callable[[str], str]  # prompt -> the operator's answer ("" when no terminal)


class GateFailed(OpsError):
    """A gate, a stop alarm, a refused approval or the timeout: roll back."""


@dataclass
class Release:
    image: str
    old: str  # the live colour before the release
    new: str  # the colour the release deploys to (the idle one)
    bake: float
    watch: float
    deadline: float
    canary_started: float | None = None
    promoted: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    approval: dict[str, Any] | None = None
    rollback: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "from_colour": self.old, "to_colour": self.new, "bake_seconds": self.bake,
                "watch_seconds": self.watch, "steps": self.steps, "approval": self.approval, "promoted": self.promoted,
                "rollback": self.rollback}


# ----- preflight


def _find_idle(ctx: Context, kube: KubeClient, colour: str) -> Gate:
    try:
        found = rollout.find_deployment(kube, ctx.cfg.project.namespace, colour)
    except OpsError as exc:
        return Gate("kube", FAILED, exc.message)
    return Gate("kube", gates.PASSED, f"Deployment {found['metadata']['name']} in {ctx.cfg.project.namespace}")


def preflight(ctx: Context, report: Report, kube: KubeClient | None = None) -> stage.StageView:
    """Read-only checks, each a step; any failure: Aborted before anything is done."""
    started = ctx.clock()
    view = stage.read(ctx)
    problems: list[str] = []

    def check(name: str, gate: Gate) -> None:
        status = {gates.PASSED: OK, gates.SKIPPED: SKIPPED}.get(gate.verdict, FAILED_STEP)
        report.record(f"preflight: {name}", status, gate.detail, started)
        if gate.verdict == FAILED:
            problems.append(f"{name}: {gate.detail}")

    in_progress = (f"a canary sends {view.canary_percent:g}% to {view.canary_colour}: a release is running or was killed "
                   "(invoke release.status; invoke release.rollback removes it)") if view.canary else ""
    check("no release in progress", Gate("canary", FAILED if view.canary else gates.PASSED, in_progress or f"no canary on {view.stage}"))
    report.record("preflight: run lock", OK, "held by this run: no other release, drill or provision can start", started)
    check("stop alarms quiet", gates.stop_alarms(ctx))
    check(f"live colour {view.live} healthy", gates.target_health(ctx, view.live))
    if kube is not None:
        check(f"{view.idle} Deployment reachable", _find_idle(ctx, kube, view.idle))
    if problems:
        raise Aborted("preflight failed: " + "; ".join(problems))
    return view


# ----- deploy and check the idle colour


def deploy(ctx: Context, report: Report, view: stage.StageView, r: Release, kube: KubeClient | None) -> None:
    with report.step(f"deploy {r.image} to {r.new}") as step:
        stage.set_image(ctx, view, r.new, r.image)
        step.detail = f"stage variable {r.new}Image = {r.image}"
    if kube is None:
        report.record(f"rollout: {r.new}", SKIPPED, "sandbox: no Kubernetes API server, so no Deployment is rolled out")
    else:
        with report.step(f"rollout: {r.new}") as step:
            deployment = rollout.find_deployment(kube, ctx.cfg.project.namespace, r.new)
            reference = rollout.set_image(kube, deployment, r.image)
            deadline = ctx.clock() + ctx.cfg.release.health_wait_minutes * 60
            step.detail = f"{deployment['metadata']['name']} -> {reference}: " + rollout.wait_rollout(
                kube, deployment, deadline, ctx.clock, ctx.sleep, ctx.cfg.release.poll_seconds)
    with report.step(f"wait: {r.new} targets healthy") as step:
        deadline = ctx.clock() + ctx.cfg.release.health_wait_minutes * 60
        while True:
            gate = gates.target_health(ctx, r.new)
            step.detail = gate.detail
            if gate.verdict == gates.SKIPPED:
                step.status = SKIPPED
                return
            if gate.verdict == gates.PASSED:
                return
            if ctx.clock() >= deadline:
                raise GateFailed(f"{r.new} targets not healthy within {ctx.cfg.release.health_wait_minutes:g} min: {gate.detail}")
            ctx.sleep(ctx.cfg.release.poll_seconds)


def integration_checks(ctx: Context, report: Report, view: stage.StageView, r: Release) -> None:
    checks = ctx.cfg.release.checks
    if not checks:
        report.record("integration checks", SKIPPED, "none configured ([[release.checks]])")
        return
    base = f"http://{view.dns}:{EdgeNames(ctx.cfg).port_of(r.new)}"
    if not ctx.target.is_live:
        report.record("integration checks", SKIPPED, f"sandbox: {view.dns} is not a real host; {len(checks)} check(s) not run")
        return
    for c in checks:
        with report.step(f"integration check {c.path}") as step:
            status, body = http_get(base + c.path, ctx.cfg.release.check_timeout_seconds)
            step.detail = f"{base}{c.path}: {status}"
            if status != c.status or (c.body and c.body not in body):
                raise GateFailed(f"integration check {base}{c.path}: got {status}, expected {c.status}"
                                 + (f" with {c.body!r} in the body" if c.body else ""))


def http_get(url: str, timeout: float) -> tuple[int, str]:
    """(status, body); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (our NLB, http by design)
            return answer.status, answer.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode("utf-8", "replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


# ----- bakes and their gates


def bake(ctx: Context, report: Report, r: Release, label: str, seconds: float, canary: bool) -> None:
    """Wait ``seconds``, reading the stop alarms every poll; then every gate. GateFailed on any failure."""
    wall_start, start = report.moment(), ctx.clock()
    end = start + seconds
    while True:
        alarms = gates.stop_alarms(ctx)
        if alarms.verdict == FAILED:
            _record_gates(report, r, label, [alarms])
            raise GateFailed(f"{label}: stop alarm: {alarms.detail} after {ctx.clock() - start:.1f}s of the bake")
        now = ctx.clock()
        if now >= r.deadline:
            raise GateFailed(f"{label}: the release ran past [release].timeout_minutes ({ctx.cfg.release.timeout_minutes:g} min)")
        if now >= end:
            break
        ctx.sleep(min(ctx.cfg.release.poll_seconds, end - now, max(r.deadline - now, 0.0)))
    readings = [alarms, gates.target_health(ctx, r.new), gates.traffic_metrics(ctx, wall_start, report.moment(), canary)]
    _record_gates(report, r, label, readings)
    failed = [g for g in readings if g.verdict == FAILED]
    if failed:
        raise GateFailed(f"{label}: " + "; ".join(f"{g.name}: {g.detail}" for g in failed))


def _record_gates(report: Report, r: Release, label: str, readings: list[Gate]) -> None:
    failed = any(g.verdict == FAILED for g in readings)
    detail = "; ".join(f"{g.name} {g.verdict}: {g.detail}" for g in readings)
    report.record(f"gates: {label}", FAILED_STEP if failed else OK, detail)
    r.steps.append({"step": label, "at": report.timestamp(), "gates": [g.to_json() for g in readings]})


# ----- approval


def approval(ctx: Context, report: Report, r: Release, approve: bool, ask: Ask | None) -> None:
    who = report.operator
    if approve:
        r.approval = {"by": who, "at": report.timestamp(), "how": "--approve"}
    elif ask is None:
        raise GateFailed("manual approval: no terminal to ask on and no --approve given")
    else:
        answer = ask(f"Canary of {r.image} on {r.new} passed its gates. Type [bold]promote[/] to send it 100% of the traffic:")
        if answer != "promote":
            raise GateFailed(f"manual approval refused (typed {answer!r})")
        r.approval = {"by": who, "at": report.timestamp(), "how": "typed promote"}
    report.record("approval", OK, f"{r.approval['how']} by {who}")


# ----- traffic


def shift_traffic(ctx: Context, report: Report, view: stage.StageView, r: Release, approve: bool, ask: Ask | None) -> None:
    for i, percent in enumerate(ctx.cfg.release.steps[:-1]):
        with report.step(f"canary {percent}% to {r.new}") as step:
            if i == 0:
                deployment = stage.start_canary(ctx, view, r.new, percent, r.image)
                r.canary_started = ctx.clock()
                step.detail = f"canary deployment {deployment}: liveColour={r.new} for {percent}% of requests"
            else:
                _still_ours(ctx, r)
                stage.shift(ctx, view, percent)
                step.detail = f"{percent}% of requests to {r.new}"
        bake(ctx, report, r, f"canary {percent}%", r.bake, canary=True)
    approval(ctx, report, r, approve, ask)
    with report.step(f"promote {r.new}") as step:
        _still_ours(ctx, r)
        stage.promote(ctx, view, r.new)
        r.promoted = True
        after = stage.read(ctx)
        if after.canary or after.live != r.new:
            raise GateFailed(f"promotion not verified: live colour {after.live}, canary {after.canary_percent:g}%")
        step.detail = f"liveColour={r.new}, canary removed: 100% on {r.image}"
    bake(ctx, report, r, "post-promotion watch", r.watch, canary=False)


def _still_ours(ctx: Context, r: Release) -> None:
    """The canary must still be there: someone may have rolled it back (release.rollback)."""
    view = stage.read(ctx)
    if view.canary_colour != r.new:
        raise GateFailed("the canary was removed while the release ran (invoke release.rollback from another terminal?)")


# ----- rollback


def roll_back(ctx: Context, report: Report, old: str, promoted: bool) -> dict[str, Any]:
    """Back to ``old``: the canary removed (or, after a promotion, the colour
    switched back), then verified by reading the stage again. Timed."""
    start = ctx.clock()
    result: dict[str, Any] = {"started": report.timestamp(start), "verified": False}
    with report.step("rollback") as step:
        try:
            view = stage.read(ctx)
            if promoted or view.live != old:
                stage.switch_to(ctx, view, old)
            elif view.canary:
                stage.remove_canary(ctx, view)
            after = stage.read(ctx)
            result["verified"] = after.canary is None and after.live == old
            result["live_colour"] = after.live
            result["canary_percent"] = after.canary_percent
        except (ClientError, BotoCoreError, OpsError) as exc:
            result["error"] = wrap_aws_error(exc, "AWS").message if not isinstance(exc, OpsError) else exc.message
        except KeyboardInterrupt:  # a second Ctrl-C: say what is left, rather than leave it unsaid
            result["error"] = "interrupted again during the rollback"
        result["seconds"] = round(ctx.clock() - start, 3)
        step.detail = (f"{old} serves 100%, no canary (verified in {result['seconds']:.2f}s)" if result["verified"]
                       else f"NOT verified: {result.get('error') or result}; run invoke release.rollback")
        if not result["verified"]:
            step.status = FAILED_STEP
    return result
