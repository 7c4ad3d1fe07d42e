"""The commands behind ``invoke release``, ``release.rollback`` and ``release.status``.

Exit codes: 0 promoted (release) / rolled back or nothing to roll back
(rollback) / shown (status); 1 rolled back, failed or aborted; 2 invalid
config, a bad --image or --bake, or the run lock held by another run.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any, Unpack

from botocore.exceptions import BotoCoreError, ClientError

from ... import lock as run_lock
from ...engine import Context
from ...errors import USAGE, OpsError
from ...output import print_json
from ...report import ABORTED, FAIL, PASS, Aborted, Report
from ...session import Options, Session, open_session
from ...target import wrap_aws_error
from .. import Frame, execute
from ...kube import KubeClient
from . import rollout, stage
from .run import Ask, GateFailed, Release, deploy, integration_checks, preflight, roll_back, shift_traffic

RUNBOOK = "release"
ROLLBACK = "release.rollback"

# What the release needs in IAM (live), next to the code (a test checks every call made is listed).
PERMISSIONS = (
    "apigateway:GET",  # GetRestApis, GetStages, GetStage
    "apigateway:POST",  # CreateDeployment (the canary)
    "apigateway:PATCH",  # UpdateStage (canary percentage, promotion, rollback, image variables)
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetMetricData",
    "eks:DescribeCluster",  # live: the Kubernetes API's endpoint and CA for the rollout
    "sts:GetCallerIdentity",
    # the run lock (fablink_ops/lock.py)
    "dynamodb:DescribeTable", "dynamodb:CreateTable", "dynamodb:TagResource", "dynamodb:GetItem",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
)

# API Gateway stage variable values: letters, digits and -._~:/?#&=, (an image
# digest's @ is not among them: give a tag).
IMAGE = re.compile(r"[A-Za-z0-9\-._~:/?#&=,]{1,512}")


@dataclass
class ReleaseOptions(Options):
    image: str | None = None
    approve: bool = False
    bake: str | float | None = None


def _bake(opts: ReleaseOptions) -> float | None:
    if opts.bake is None:
        return None
    try:
        seconds = float(opts.bake)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise OpsError(f"--bake {opts.bake!r}: give seconds, 0 to 86400", USAGE)
    return seconds


def _image(opts: ReleaseOptions) -> str:
    if not opts.image:
        raise OpsError("--image is required: the tag (or image reference) to release", USAGE)
    if not IMAGE.fullmatch(opts.image):
        raise OpsError(f"--image {opts.image!r}: only letters, digits and -._~:/?#&=, (a stage variable's characters); "
                       "give a tag, not a digest", USAGE)
    return opts.image


def _ask(s: Session) -> Ask | None:
    if not sys.stdin.isatty():
        return None

    def ask(prompt: str) -> str:
        s.console.print(prompt)
        s.console.print("> ", end="")
        return sys.stdin.readline().strip()

    return ask


def release(ctx: Context, report: Report, image: str, bake: float | None, approve: bool, ask: Ask | None,
            kube: KubeClient | None = None) -> None:
    """The release, start to verdict. Traffic never stays on a failed version: every way out rolls back.
    ``kube``: the Kubernetes API client (live: made from the operator's credentials; sandbox: none)."""
    cfg = ctx.cfg.release
    if kube is None and ctx.target.is_live:
        kube = rollout.kube_for(ctx)
    view = preflight(ctx, report, kube)
    r = Release(image, view.live, view.idle, cfg.bake_seconds if bake is None else bake,
                cfg.watch_seconds if bake is None else bake, ctx.clock() + cfg.timeout_minutes * 60)
    report.measure("release", r.to_json())
    if not ctx.target.is_live:
        report.measure("note", "sandbox: no traffic and no Kubernetes here; the gates say what they could not measure")
    try:
        deploy(ctx, report, view, r, kube)
        integration_checks(ctx, report, view, r)
        shift_traffic(ctx, report, view, r, approve, ask)
    except (GateFailed, OpsError, ClientError, BotoCoreError, KeyboardInterrupt) as exc:
        _rolled_back(ctx, report, r, exc)
        return
    finally:
        _traffic_time(ctx, report, r)
        report.measure("release", r.to_json())
    skipped = sorted({g["gate"] for step in r.steps for g in step["gates"] if g["verdict"] == "skipped"})
    unmeasured = f" ({', '.join(skipped)}: not measured, see the gates)" if skipped else ""
    report.conclude(PASS, f"{image} promoted: {r.new} is live (was {r.old}); no gate failed{unmeasured}")


def _rolled_back(ctx: Context, report: Report, r: Release, exc: BaseException) -> None:
    interrupted = isinstance(exc, KeyboardInterrupt)
    why = ("interrupted by the operator (Ctrl-C)" if interrupted
           else wrap_aws_error(exc, "AWS").message if isinstance(exc, (ClientError, BotoCoreError)) else exc.message)  # type: ignore[attr-defined]
    if r.canary_started is None and not r.promoted:
        report.conclude(ABORTED if interrupted else FAIL, f"{why}; no traffic reached {r.new}, {r.old} still serves 100%")
        return
    r.rollback = roll_back(ctx, report, r.old, r.promoted)
    done = (f"rolled back to {r.old} in {r.rollback['seconds']:.2f}s (verified)" if r.rollback["verified"]
            else "ROLLBACK NOT VERIFIED: run invoke release.rollback now")
    report.conclude(ABORTED if interrupted else FAIL, f"{why}; {done}")


def _traffic_time(ctx: Context, report: Report, r: Release) -> None:
    if r.canary_started is not None:
        report.measure("seconds_with_traffic_on_new_version", round(ctx.clock() - r.canary_started, 3))


def command(opts: ReleaseOptions, ask: Ask | None = None, kube: KubeClient | None = None, **frame: Unpack[Frame]) -> int:
    """invoke release: exit 0 promoted, 1 rolled back / failed / aborted, 2 refused."""
    image, bake = _image(opts), _bake(opts)  # bad input: exit 2 before the config or any AWS call
    parameters = {"image": image, "approve": opts.approve, "bake": bake, "live": opts.live, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        release(ctx, report, image, bake, opts.approve, ask if ask is not None else _ask(s), kube)

    return execute(opts, RUNBOOK, body, parameters, lock=True, **frame)


def rollback_command(opts: Options, **frame: Unpack[Frame]) -> int:
    """invoke release.rollback: remove a canary (a killed or running release), verified and timed.

    Takes no run lock on purpose: it is how a release is stopped from another
    terminal, and how a killed one (whose lock outlives it) is undone at once."""

    def body(ctx: Context, report: Report, s: Session) -> None:
        view = stage.read(ctx)
        report.measure("before", {"live_colour": view.live, "canary_colour": view.canary_colour, "canary_percent": view.canary_percent})
        if not view.canary:
            report.conclude(PASS, f"no canary on {view.stage}: {view.live} already serves 100%, nothing to roll back")
            return
        result = roll_back(ctx, report, view.live, promoted=False)
        report.measure("rollback", result)
        if result["verified"]:
            report.conclude(PASS, f"canary ({view.canary_percent:g}% to {view.canary_colour}) removed: {view.live} serves 100% "
                                  f"(verified in {result['seconds']:.2f}s)")
        else:
            report.conclude(FAIL, "the canary could not be removed (see the rollback step)")

    return execute(opts, ROLLBACK, body, {"live": opts.live, "config": opts.config}, **frame)


def status_command(opts: Options) -> int:
    """invoke release.status: the live colour, image per colour, the canary, any release in progress."""
    s = open_session(opts)
    ctx = Context(s.cfg, s.target)
    try:
        view = stage.read(ctx)
    except Aborted as exc:
        raise OpsError(exc.message) from None
    holder = run_lock.read(run_lock.lock_target(s.target), s.cfg.project.environment_name)
    doc = status_document(view, holder.describe() if holder else None)
    if opts.json:
        print_json(doc)
    s.console.print(status_text(doc), markup=False)
    return 0


def status_document(view: stage.StageView, lock_holder: str | None) -> dict[str, Any]:
    return {
        "live_colour": view.live,
        "images": {c: view.image(c) for c in ("blue", "green")},
        "canary": ({"colour": view.canary_colour, "percent": view.canary_percent,
                    "deployment": (view.canary or {}).get("deploymentId")} if view.canary else None),
        "release_in_progress": bool(view.canary),
        "lock": lock_holder,
    }


def status_text(doc: dict[str, Any]) -> str:
    images = ", ".join(f"{c}: {i or '(not recorded: never released)'}" for c, i in doc["images"].items())
    canary = doc["canary"]
    lines = [f"live colour: {doc['live_colour']} ({images})",
             f"canary: {canary['percent']:g}% to {canary['colour']}: a release is in progress (or was killed: "
             "invoke release.rollback)" if canary else "canary: none (no release in progress)"]
    if doc["lock"]:
        lines.append(f"run lock: {doc['lock']}")
    return "\n".join(lines)
