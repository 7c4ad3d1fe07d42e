"""The commands behind the Invoke tasks: plan, provision, sandbox.*.

Each command returns its exit code; ``run`` turns every expected failure
(OpsError) into one line on stderr and its code, and Ctrl-C into 130, so the
operator never sees a traceback for something we expected.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from . import interrupts, sandbox
from .config import load_config
from .engine import BLOCKED, NOOP, REPLACE, Change, Context, apply, has_changes
from .errors import FAILED, GuardError, OpsError
from .lock import Holder, RunLock, lock_target, take, unlock
from .output import ConsoleReporter, calls_line, counts, counts_line, plan_table, print_json
from .resources import BY_NAME
from .session import Options, Session, confirm_live, open_session
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


def _fail(opts: Options, message: str, code: int, printed: bool = False) -> int:
    """One line on stderr; with --json also the error as the one document
    (unless the command already printed its document)."""
    if opts.detailed_exitcode and code != 130:
        code = FAILED  # `plan --detailed-exitcode` keeps 2 for "changes pending"
    sys.stderr.write(f"error: {message}\n")
    if opts.json and not printed:
        print_json({"error": message, "exit_code": code})
    return code


# --------------------------------------------------------------------------
# plan and provision


def _context(s: Session) -> Context:
    return Context(s.cfg, s.target, reporter=ConsoleReporter(s.console))


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
    changes = plan_stages(ctx, stages)
    s.document = _document("plan", s, stages, changes)
    pending = has_changes(changes) or any(c.action in (REPLACE, BLOCKED) for c in changes)
    if opts.json:
        print_json(s.document)
    else:
        _show_plan(s, changes)
        s.console.print(calls_line(s.target.meter))
    if opts.detailed_exitcode:
        return 2 if pending else 0
    return 0


def cmd_provision(opts: Options) -> int:
    stages = select_stages(opts.stage)
    s = open_session(opts)
    ctx = _context(s)
    started = time.monotonic()
    changes = plan_stages(ctx, stages)
    held = take_run_lock(s, "provision") if has_changes(changes) or any(c.run for c in changes) else None
    try:
        # Under the lock, plan again: a run that held it before us may have
        # made what our first plan wanted to create (CreateVpc has no token).
        return _provision(s, stages, ctx, plan_stages(ctx, stages) if held else changes, started)
    finally:
        if held:
            held.release()


def take_run_lock(s: Session, command: str) -> RunLock:
    """The environment's run lock (fablink_ops/lock.py), or GuardError (exit 2)."""
    return take(s.target, s.cfg.project, command, s.identity, say=lambda text: s.console.print(text, markup=False))


def _provision(s: Session, stages: list[str], ctx: Context, changes: list[Change], started: float) -> int:
    opts = s.opts
    if not opts.json:
        _show_plan(s, changes)
    applied, error = _apply(s, ctx, changes)
    # "done" means converged, verified: after writing, plan again (reads only).
    left = _verify(s, stages) if applied and error is None else []
    s.document = _document("provision", s, stages, changes)
    s.document["applied"] = [dict(c.to_json(), detail=d) for c, d in applied]
    s.document["seconds"] = round(time.monotonic() - started, 2)
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
        verb = "stopped" if error else "not converged" if left else "done"
        s.console.print(
            f"[bold]{verb}[/]: "
            f"{len(applied)} of {sum(1 for c in changes if c.run)} changes applied "
            f"({counts_line(changes)}) in {s.document['seconds']:.1f}s. {calls_line(s.target.meter)}"
        )
    if failure:
        return _fail(opts, failure, error.exit_code if error else FAILED, printed=True)
    return 0


def _apply(s: Session, ctx: Context, changes: list[Change]) -> tuple[list[tuple[Change, str | None]], OpsError | None]:
    """Confirm (live), then apply. Returns what was applied and the error that stopped it, if any."""
    if not (has_changes(changes) or any(c.run for c in changes)):
        return [], None
    _confirm(s, changes)
    s.console.print("applying…")
    try:
        return apply(changes, ctx, s.cfg.engine.concurrency), None
    except OpsError as exc:
        return [], exc


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
    if has_changes(changes) or any(c.action != NOOP for c in changes):
        s.console.print(plan_table(changes))
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


# ----- sandbox


def cmd_sandbox_up(opts: Options) -> int:
    cfg = load_config(opts.config)
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
    cfg = load_config(opts.config)
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
