"""The commands behind the Invoke tasks: plan, provision, sandbox.*.

Each command returns its exit code; ``run`` turns every expected failure
(OpsError) into one line on stderr and its code, and Ctrl-C into 130, so the
operator never sees a traceback for something we expected.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from . import interrupts, operator_policy, outputs, ownership, paths, provenance, reports_index, sandbox, trend
from .config import load_config
from .engine import BLOCKED, NOOP, REPLACE, Change, Context, Progress, apply, has_changes
from .errors import FAILED, GuardError, OpsError
from .lock import Holder, lock_target, unlock
from .output import ConsoleReporter, calls_line, counts, counts_line, plan_table, print_json
from .resources import BY_NAME
from .resources.workload import manifests
from .session import Options, Session, confirm_live, open_session, take_run_lock
from .session import fail as _fail
from .stages import plan_stages, select_stages, unconverged
from .target import sandbox_target, wrap_aws_error

__all__ = ["Options", "Session", "confirm_live", "open_session", "plan_stages", "select_stages", "run"]


def run(command: Callable[[Options], int], opts: Options, stdin_isatty: Callable[[], bool] | None = None) -> int:
    """Run a command with the one-error-line contract."""
    interrupts.running()
    try:
        try:
            return command(opts)
        finally:
            interrupts.done()  # from here a Ctrl-C changes nothing (interrupts.py)
    except OpsError as exc:
        return _fail(opts, exc.message, exc.exit_code)
    except (ClientError, BotoCoreError) as exc:
        err = wrap_aws_error(exc, "AWS")
        return _fail(opts, err.message, err.exit_code)
    except KeyboardInterrupt:
        return _fail(opts, interrupts.RESUME, 130)


# --------------------------------------------------------------------------
# plan and provision


def _context(s: Session) -> Context:
    return Context(s.cfg, s.target, reporter=ConsoleReporter(s.console, verbose=s.opts.verbose))


def _planning(s: Session, stages: list[str]) -> None:
    if not s.opts.json:
        s.console.print(f"planning {', '.join(stages)} (reads only)…")


def _confirm(s: Session, changes: list[Change]) -> None:
    """Live writes need the operator to type the environment's name (or --yes)."""
    name = s.cfg.project.environment_name
    confirm_live(s, name, f"These changes go to the LIVE account {s.cfg.project.account_id}. Type [bold]{name}[/] to apply:")


# --------------------------------------------------------------------------
# commands


def cmd_plan(opts: Options) -> int:
    stages = select_stages(opts.stage)
    s = open_session(opts)
    ctx = _context(s)
    _planning(s, stages)
    changes = plan_stages(ctx, stages)
    s.document = _document("plan", s, stages, changes)
    pending = has_changes(changes) or any(c.action in (REPLACE, BLOCKED) for c in changes)
    if not opts.json:
        _show_plan(s, changes)
        s.console.print(calls_line(s.target.meter))
    # After the table, so the operator sees what is not ours; before the
    # JSON document, so --json carries the refusal as its one document.
    _adopting(s, ownership.check(changes, opts.adopt))
    if opts.json:
        print_json(s.document)
    if opts.detailed_exitcode:
        return 2 if pending else 0
    return 0


def cmd_provision(opts: Options) -> int:
    stages = select_stages(opts.stage)
    s = open_session(opts)
    ctx = _context(s)
    started = time.monotonic()
    _planning(s, stages)
    changes = plan_stages(ctx, stages)
    ownership.check(changes, opts.adopt)  # refused before the lock is even taken: zero writes
    held = take_run_lock(s, "provision") if has_changes(changes) or any(c.run for c in changes) else None
    try:
        # Under the lock, plan again: a run that held it before us may have
        # made what our first plan wanted to create (CreateVpc has no token).
        return _provision(s, stages, ctx, plan_stages(ctx, stages) if held else changes, started)
    finally:
        if held:
            held.release()


def _provision(s: Session, stages: list[str], ctx: Context, changes: list[Change], started: float) -> int:
    opts = s.opts
    if not opts.json:
        _show_plan(s, changes)
    _adopting(s, ownership.check(changes, opts.adopt))  # before any write
    progress, error = _apply(s, ctx, changes)
    applied = progress.applied
    # "done" means converged, verified: after writing, plan again (reads only).
    left = _verify(s, stages) if applied and error is None else []
    s.document = _document("provision", s, stages, changes)
    s.document["applied"] = [dict(c.to_json(), detail=d) for c, d in applied]
    if error:
        s.document["failed"] = [dict(c.to_json(), error=e) for c, e in progress.failed]
        s.document["not_started"] = [c.to_json() for c in progress.not_started(changes)]
    s.document["seconds"] = round(time.monotonic() - started, 2)
    s.document["operator_steps"] = list(ctx.operator_steps)
    replace = [c for c in changes if c.action in (REPLACE, BLOCKED)]
    interrupts.done()  # the work is over: a Ctrl-C while reporting it keeps the exit code
    if applied and error is None:
        s.document["unconverged"] = [c.to_json() for c in left]
    failure = error.message if error else _unconverged_message(left) if left else _replace_message(replace) if replace else ""
    s.document["result"] = "error" if error or left else "incomplete" if replace else "ok"
    if failure:
        s.document["error"] = failure
    if opts.json:
        print_json(s.document)
    else:
        _summary(s, changes, progress, error, left)
    if failure:
        return _fail(opts, failure, error.exit_code if error else FAILED, printed=True)
    return 0


def _summary(s: Session, changes: list[Change], progress: Progress, error: OpsError | None, left: list[Change]) -> None:
    """What the run did, truthfully: after a failure, what was applied before
    it, what failed and what never started (issue 18: not "0 of 69")."""
    verb = "stopped" if error else "not converged" if left else "done"
    stopped = f", {len(progress.failed)} failed, {len(progress.not_started(changes))} not started" if error else ""
    s.console.print(
        f"[bold]{verb}[/]: {len(progress.applied)} of {sum(1 for c in changes if c.run)} changes applied{stopped} "
        f"({counts_line(changes)}) in {s.document['seconds']:.1f}s. {calls_line(s.target.meter)}"
    )
    for change, text in progress.failed[1:] and progress.failed:  # one failure: the error line says it
        s.console.print(f"  failed: {change.action} {change.kind} {change.name}: {escape(text)}")
    _show_operator_steps(s, s.document.get("operator_steps", []))


def _apply(s: Session, ctx: Context, changes: list[Change]) -> tuple[Progress, OpsError | None]:
    """Confirm (live), then apply. Returns what was applied (and what failed),
    and the error that stopped it, if any."""
    progress = Progress()
    if not (has_changes(changes) or any(c.run for c in changes)):
        return progress, None
    _confirm(s, changes)
    s.console.print("applying…")
    try:
        apply(changes, ctx, s.cfg.engine.concurrency, progress)
        return progress, None
    except OpsError as exc:
        return progress, exc


def _show_operator_steps(s: Session, steps: list[str]) -> None:
    if steps:
        s.console.print("[bold]operator steps[/] (the tool cannot do these):")
        for i, step in enumerate(steps, 1):
            s.console.print(f"  {i}. {escape(step)}")


def _adopting(s: Session, unowned: list[ownership.Stranger]) -> None:
    if unowned:
        s.console.print(f"adopting {len(unowned)} untagged resource(s) with our names: " + "; ".join(u.describe() for u in unowned))


def _verify(s: Session, stages: list[str]) -> list[Change]:
    """Plan again on fresh reads (what was read before the writes is stale);
    what still shows a create or an update did not converge."""
    s.console.print("verifying: planning again…")
    return unconverged(Context(s.cfg, s.target), stages)


def _unconverged_message(left: list[Change]) -> str:
    names = ", ".join(f"{c.kind} {c.name} ({c.action})" for c in left)
    return f"not converged: {len(left)} resource(s) still differ from the config after the apply: {names}; run the same command again, or see the plan"


def _replace_message(unconverged: list[Change]) -> str:
    replace = [c for c in unconverged if c.action == REPLACE]
    blocked = len(unconverged) - len(replace)
    names = ", ".join(f"{c.kind} {c.name}" for c in replace)
    also = f"; {blocked} change(s) that depend on them were not attempted" if blocked else ""
    return f"not converged: {len(replace)} resource(s) need replacing, which is never done automatically: {names}{also}"


def _show_plan(s: Session, changes: list[Change]) -> None:
    footnotes: list[str] = []
    if has_changes(changes) or any(c.action != NOOP for c in changes):
        s.console.print(plan_table(changes, footnotes=footnotes))
    for i, text in enumerate(footnotes, 1):
        s.console.print(f"  [dim][{i}] {escape(text)}[/]")
    s.console.print(f"plan: {counts_line(changes)}")


def _document(command: str, s: Session, stages: list[str], changes: list[Change]) -> dict[str, Any]:
    return {
        "command": command,
        "target": s.target.mode,
        "account": s.cfg.project.account_id,
        "region": s.target.region,
        "stages": stages,
        "changes": [c.to_json() for c in changes],
        "summary": counts(changes),
        "calls": s.target.meter.summary(),
    }


# ----- what the tool is, what it did


def cmd_output(opts: Options) -> int:
    """What the environment is, read from AWS: ids and endpoints per stage, and
    the operator steps still due. Reads only (a plan's discovery)."""
    stages = select_stages(opts.stage)
    s = open_session(opts)
    ctx = Context(s.cfg, s.target)
    plan_stages(ctx, stages)
    doc = {"environment": s.cfg.project.environment_name, "target": s.target.mode, **outputs.document(ctx, stages),
           "operator_steps": list(ctx.operator_steps)}
    if opts.json:
        print_json(doc)
        return 0
    for line in outputs.lines({k: v for k, v in doc.items() if k != "operator_steps"}):
        s.console.print(line, markup=False)
    _show_operator_steps(s, ctx.operator_steps)
    return 0


def cmd_workload_manifests(opts: Options) -> int:
    """The workload's Kubernetes objects as YAML: one stream on stdout, or a
    file each under --out. Reads only (the prerequisite stages' discovery)."""
    stream = opts.out is None and not opts.json
    # The YAML stream owns stdout: everything human goes to stderr then.
    s = open_session(dataclasses.replace(opts, json=True) if stream else opts)
    rendered, placeholders = manifests.render(Context(s.cfg, s.target))
    if placeholders:
        s.console.print(f"not built yet, left as placeholders: {', '.join(placeholders)}", markup=False)
    if stream:
        manifests.write(rendered, None)
        return 0
    paths = manifests.write(rendered, opts.out) if opts.out else []
    doc = {"files": paths, "placeholders": placeholders, **({} if opts.out else {"objects": rendered})}
    _say(opts, doc, f"{len(paths)} objects written to {opts.out}, one file each, in apply order")
    return 0


def cmd_policy(opts: Options) -> int:
    """The IAM policy the environment's operators need (provision and the
    runbooks): docs/operator-policy.json for its account, region and
    backup.verify temporaries. Reads no AWS."""
    cfg = load_config(paths.config_path(opts.config))
    root = paths.project_root()
    source = root / "docs" / "operator-policy.json" if root else None
    if source is None or not source.is_file():
        raise OpsError("docs/operator-policy.json is not here: run from a checkout of fablink-ops", FAILED)
    doc = operator_policy.for_environment(json.loads(source.read_text()), cfg)
    if opts.out is None:
        print_json(doc)
        return 0
    Path(opts.out).write_text(operator_policy.render(doc))
    _say(opts, {"file": opts.out, "environment": cfg.project.environment_name},
         f"the operators' policy for {cfg.project.environment_name} written to {opts.out}")
    return 0


def cmd_version(opts: Options) -> int:
    info = {"tool": provenance.PACKAGE, "version": provenance.version(), "git_commit": provenance.git_commit()}
    commit = f" ({info['git_commit']})" if info["git_commit"] else ""
    _say(opts, info, f"{info['tool']} {info['version']}{commit}")
    return 0


def cmd_reports(opts: Options) -> int:
    """Past runbook runs from their evidence, newest first; reads no AWS."""
    rows = reports_index.runs(paths.reports_dir(), runbook=opts.runbook)
    if opts.json:
        print_json({"reports": rows})
        return 0
    console = Console(highlight=False)
    if not rows:
        console.print(f"no runbook evidence in {paths.reports_dir()}" + (f" for {opts.runbook}" if opts.runbook else ""))
        return 0
    for r in rows:
        console.print(
            f"{r.get('started') or '?':24} {r.get('runbook') or '?':16} {r.get('target') or '?':7} "
            f"{(r.get('verdict') or '?').upper():10} {r.get('reason') or ''}  [{r['file']}]",
            markup=False,
        )
    return 0


def cmd_reports_trend(opts: Options) -> int:
    """One HTML page of the runbooks' figures over time; reads no AWS."""
    directory = paths.reports_dir()
    docs = reports_index.documents(directory)
    page = trend.write(docs, Path(opts.out) if opts.out else directory / "trend.html", datetime.now(timezone.utc))
    _say(opts, {"page": str(page), "records": len(docs)}, f"wrote {page} from {len(docs)} evidence record(s): open it in a browser")
    return 0


# ----- sandbox


def cmd_sandbox_up(opts: Options) -> int:
    cfg = load_config(paths.config_path(opts.config))
    info, started = sandbox.ensure_running(cfg.project.account_id)
    _say(opts, {"endpoint": info.endpoint_url, "pid": info.pid, "started": started},
         f"sandbox {'started' if started else 'already running'} at {info.endpoint_url} (pid {info.pid})")
    return 0


def cmd_sandbox_down(opts: Options) -> int:
    info = sandbox.stop()
    _say(opts, {"stopped": bool(info)}, "sandbox stopped: its state is gone" if info else "no sandbox was running")
    return 0


def cmd_sandbox_status(opts: Options) -> int:
    info = sandbox.running()
    if info is None:
        _say(opts, {"running": False}, "sandbox: not running (it starts with the first plan or provision)")
        return 0
    cfg = load_config(paths.config_path(opts.config))
    target = sandbox_target(info.endpoint_url, cfg.project.region)
    ctx = Context(cfg, target)
    uptime = time.time() - info.started_at
    stages: dict[str, dict[str, int]] = {}
    for stage in select_stages(None):
        changes = BY_NAME[stage].plan(ctx)
        exist = sum(1 for c in changes if c.action != "create")
        stages[stage] = {"exist": exist, "desired": len(changes)}
    lines = [f"sandbox: running at {info.endpoint_url} (pid {info.pid}), up {_duration(uptime)}"]
    lines += [f"  {name}: {n['exist']} of {n['desired']} resources exist" for name, n in stages.items()]
    _say(opts, {"running": True, "endpoint": info.endpoint_url, "pid": info.pid, "uptime_seconds": round(uptime), "stages": stages}, "\n".join(lines))
    return 0


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def _say(opts: Options, document: dict[str, Any], text: str) -> None:
    if opts.json:
        print_json(document)
    else:
        Console(highlight=False).print(text)


# ----- the run lock


def cmd_unlock(opts: Options) -> int:
    """Remove the environment's run lock, for a holder known to be dead.

    Always a typed confirmation (sandbox too: removing a live run's lock is
    how two runs come to create the same VPC), unless --yes."""
    s = open_session(opts)
    name = s.cfg.project.environment_name

    def confirm(holder: Holder) -> None:
        s.console.print(f"{name} is locked by {holder.describe()}.", markup=False)
        if opts.yes:
            return
        if not sys.stdin.isatty():
            raise GuardError("refusing: removing the lock needs confirmation; no terminal to ask on, and no --yes given")
        s.console.print(f"Only if that run is dead: type [bold]{name}[/] to remove its lock:")
        s.console.print("> ", end="")
        answer = sys.stdin.readline().strip()
        if answer != name:
            raise GuardError(f"refusing: confirmation {answer!r} does not match {name!r}; the lock is kept")

    removed = unlock(lock_target(s.target), name, confirm)
    text = f"removed the lock of {removed.describe()}" if removed else f"{name} is not locked"
    _say(opts, {"unlocked": bool(removed), "holder": removed.who if removed else None}, text)
    return 0
