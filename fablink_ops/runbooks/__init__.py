"""Executable runbooks: each one acts, measures, decides pass/fail and leaves
evidence (fablink_ops/report.py). The human side of each is a page in
runbooks/ at the top of the repository.

Every runbook has the same shape (pyinvoke's invocations release task):
examine the world read-only (preflight) → show it → confirm (live) → act →
measure → verdict. ``execute`` is the frame they share: it opens the session
(config, sandbox or live target, account guard), starts the Report, runs the
runbook's body, turns whatever stopped it into a verdict, writes the evidence
and prints it (``--json``: the evidence document and nothing else on stdout).

Exit codes: 0 pass; 1 fail or aborted (evidence written); 2 invalid config or
a guard refused (nothing was done, no evidence).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypedDict

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from .. import lock as run_lock
from ..session import Options, Session, open_session
from ..engine import Context
from ..errors import GuardError, OpsError
from ..output import ConsoleReporter, print_json
from ..report import ABORTED, DEFAULT_DIRECTORY, FAILED_STEP, OK, PASS, SKIPPED, Aborted, Report, Step
from ..target import wrap_aws_error

Body = Callable[[Context, Report, Session], None]


class Frame(TypedDict, total=False):
    """What a runbook's ``command`` passes through to ``execute`` unchanged:
    an already open session, the clocks and the wall time (tests set them;
    the tasks leave the defaults)."""

    session: Session | None
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    wall: datetime | None


def execute(
    opts: Options,
    runbook: str,
    body: Body,
    parameters: dict[str, Any],
    session: Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wall: datetime | None = None,
    reports_dir: Path | str = DEFAULT_DIRECTORY,
    lock: bool = False,
) -> int:
    """Run a runbook body and leave its evidence. Returns the exit code.

    The body records steps and measurements and concludes a verdict. It stops
    early by raising ``Aborted`` (verdict aborted); any other expected error,
    an AWS error or Ctrl-C also ends in ``aborted`` with the reason, and the
    evidence is written all the same. A GuardError (the live confirmation was
    refused) propagates: exit 2, nothing was done.
    """
    s = session or open_session(opts)  # a bad config or a guard refusal stops here: exit 2
    # A runbook that acts holds the environment's run lock throughout (another
    # holder: GuardError, exit 2, nothing done, no evidence). The drill takes
    # it itself, after its read-only preflight.
    held = run_lock.take(s.target, s.cfg.project, runbook, s.identity,
                         say=lambda text: s.console.print(text, markup=False)) if lock else None
    try:
        return _execute(s, opts, runbook, body, parameters, clock, sleep, wall, reports_dir)
    finally:
        if held is not None:
            held.release()


def _execute(s: Session, opts: Options, runbook: str, body: Body, parameters: dict[str, Any], clock: Callable[[], float],
             sleep: Callable[[float], None], wall: datetime | None, reports_dir: Path | str) -> int:
    ctx = Context(s.cfg, s.target, reporter=ConsoleReporter(s.console), clock=clock, sleep=sleep)
    report = Report(
        runbook,
        environment=s.cfg.project.environment_name,
        target=s.target.mode,
        operator=operator_identity(s),
        parameters=parameters,
        clock=clock,
        wall=wall,
        echo=lambda step: echo_step(s.console, step),
    )
    try:
        body(ctx, report, s)
    except GuardError:
        raise
    except OpsError as exc:  # Aborted included
        report.conclude(ABORTED, exc.message)
    except (ClientError, BotoCoreError) as exc:
        report.conclude(ABORTED, wrap_aws_error(exc, "AWS").message)
    except KeyboardInterrupt:
        report.conclude(ABORTED, "interrupted by the operator (Ctrl-C)")
    report.finish(s.target.meter.summary())
    try:
        report.write(reports_dir)
    except OSError as exc:
        raise OpsError(f"the {runbook} verdict is {report.verdict}, but its evidence could not be written to {reports_dir}: {exc}") from None
    show(s.console, report)  # for people: on stderr under --json
    if opts.json:
        print_json(report.to_json())
    return report.exit_code


def operator_identity(s: Session) -> str:
    """Who runs the runbook: the STS caller ARN (the guard already asked STS in live mode)."""
    if s.target.is_live and s.identity:
        return s.identity
    return s.target.client("sts").get_caller_identity().get("Arn", "")


SYMBOLS = {OK: "[green]✓[/]", FAILED_STEP: "[red]✗[/]", SKIPPED: "[dim]-[/]"}


def echo_step(console: Console, step: Step) -> None:
    # Names and details carry AWS data and config text ("[access]"): printed
    # as they are, never read as rich markup.
    detail = f": {escape(step.detail)}" if step.detail else ""
    console.print(f"  {SYMBOLS.get(step.status, '?')} {escape(step.name)}{detail}")


def show(console: Console, report: Report) -> None:
    style = "bold green" if report.verdict == PASS else "bold red"
    console.print(f"[{style}]{report.runbook}: {report.verdict.upper()}[/]: {escape(report.reason)}")
    calls = report.calls
    console.print(f"evidence: {report.evidence.get('json')} and {report.evidence.get('markdown')} "
                  f"(AWS calls: {calls.get('reads', 0)} reads, {calls.get('writes', 0)} writes)")


__all__ = ["Aborted", "Body", "execute", "operator_identity", "show"]
