"""The access and security review: ``invoke access.review``.

The operator's question: who and what can get in, and what is weaker than
the design says? Design doc: Security review (network security groups,
least-privilege IAM, encryption settings, audit logging); Authentication and
authorization ("Regular access review"); Network security. Human runbook:
runbooks/access-review.md.

1. Collect, read-only, the whole account (not only what fablink-ops made):
   IAM everywhere, and per reviewed region the network, data and logging
   services, all collectors at once (collect/).
2. Check: one small function per check id (checks/), each finding naming the
   resource, what is wrong and how to fix it.
3. Suppress: accepted findings from config ([access].suppressions, or the
   file it names) until their expiry date.
4. Verdict: fail when an open finding is at or above --fail-on (default
   high); aborted when a collector could not read its service (the review is
   incomplete: it cannot pass); pass otherwise.

Evidence in the shared format (report.py): a step per collector, the
findings and their summary in the measurements. The review never writes:
every call it makes is a read (tests assert zero writes).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Unpack

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...session import Options, Session
from ...config import Config
from ...engine import Context
from ...errors import USAGE, OpsError
from ...report import ABORTED, FAIL, OK, PASS, SKIPPED, Report
from .. import Frame, execute
from . import suppress
from .checks import CHECKS, OPEN, SUPPRESSED, Finding, Settings, evaluate
from .collect import PERMISSIONS, collect
from .models import HIGH, SEVERITIES, at_or_above

RUNBOOK = "access.review"

__all__ = ["PERMISSIONS", "RUNBOOK", "ReviewOptions", "command", "review", "review_regions"]


@dataclass
class ReviewOptions(Options):
    fail_on: str = HIGH


def review_regions(cfg: Config) -> tuple[str, ...]:
    """project.region, the DynamoDB replica regions, then [access].regions; each once."""
    out: list[str] = []
    for region in (cfg.project.region, *cfg.dynamodb.replica_regions, *cfg.access.regions):
        if region not in out:
            out.append(region)
    return tuple(out)


def review(ctx: Context, report: Report, fail_on: str, console: Console | None = None) -> list[Finding]:
    """Collect, check, suppress, conclude. Returns the findings (suppressed ones included)."""
    cfg = ctx.cfg
    regions = review_regions(cfg)
    report.measure("fail_on", fail_on)
    report.measure("regions", list(regions))
    inventory, failures = collect(ctx, report, cfg.project.account_id, regions, cfg.engine.concurrency)

    started = ctx.clock()
    now = report.moment()
    findings, not_evaluated = evaluate(inventory, Settings(cfg.access, cfg.logging.retention_days, cfg.project.account_id, now))
    resources = inventory.counts()
    report.record("checks", OK, f"{len(CHECKS) - len(not_evaluated)} of {len(CHECKS)} checks over {sum(resources.values())} "
                  f"resources in {', '.join(regions)}: {len(findings)} finding(s)", started)
    unused = suppress.apply(findings, cfg.access.suppressions, now.date())
    _record_suppressions(report, findings, unused, len(cfg.access.suppressions))

    summary = summarise(findings)
    report.measure("resources", resources)
    # AWS reuses a credential report for up to four hours: users and keys made since are not in it.
    generated = inventory.iam.report_generated
    report.measure("credential_report_generated", generated.strftime("%Y-%m-%dT%H:%M:%SZ") if generated else None)
    report.measure("summary", summary)
    report.measure("findings", [f.to_json() for f in findings])
    report.measure("not_evaluated", not_evaluated)
    report.measure("checks", coverage(findings, not_evaluated))
    report.measure("suppressions_unused", [{"check": s.check, "resource": s.resource, "expires": s.expires.isoformat()} for s in unused])
    if console is not None:
        show_findings(console, findings, summary)
    _conclude(report, findings, failures, fail_on)
    return findings


def _record_suppressions(report: Report, findings: list[Finding], unused: list, configured: int) -> None:
    if not configured:
        report.record("suppressions", SKIPPED, "none configured ([access].suppressions)")
        return
    suppressed = sum(1 for f in findings if f.status == SUPPRESSED)
    expired = sum(1 for f in findings if f.expired is not None)
    parts = [f"{suppressed} finding(s) suppressed", f"{expired} suppression(s) expired: their findings count again"]
    if unused:
        parts.append(f"{len(unused)} match nothing (remove them): " + ", ".join(f"{s.check} {s.resource}" for s in unused))
    report.record("suppressions", OK, "; ".join(parts))


def coverage(findings: list[Finding], not_evaluated: dict[str, str]) -> list[dict[str, Any]]:
    """Every check, in report order, with what it concluded: passed (ran,
    found nothing), failed (n findings, suppressed ones included) or not
    evaluated (and why). An auditor sees what was looked at, not only what
    was wrong."""
    hits = Counter(f.check for f in findings)
    rows = []
    for c in CHECKS:
        if c.id in not_evaluated:
            result, detail = "not evaluated", not_evaluated[c.id]
        elif hits[c.id]:
            result, detail = "failed", f"{hits[c.id]} finding(s)"
        else:
            result, detail = "passed", ""
        rows.append({"check": c.id, "severity": c.severity, "title": c.title, "result": result, "detail": detail})
    return rows


def summarise(findings: list[Finding]) -> dict[str, Any]:
    open_ = Counter(f.severity for f in findings if f.status == OPEN)
    return {
        "open": {sev: open_.get(sev, 0) for sev in SEVERITIES},
        "suppressed": sum(1 for f in findings if f.status == SUPPRESSED),
        "expired_suppressions": sum(1 for f in findings if f.expired is not None),
        "total": len(findings),
    }


def summary_line(summary: dict[str, Any]) -> str:
    counts = ", ".join(f"{n} {sev}" for sev, n in summary["open"].items())
    expired = f" ({summary['expired_suppressions']} whose suppression expired)" if summary["expired_suppressions"] else ""
    return f"open findings: {counts}{expired}; {summary['suppressed']} suppressed"


def _conclude(report: Report, findings: list[Finding], failures: dict[str, str], fail_on: str) -> None:
    blocking = [f for f in findings if f.status == OPEN and at_or_above(f.severity, fail_on)]
    below = [f for f in findings if f.status == OPEN and not at_or_above(f.severity, fail_on)]
    suppressed = sum(1 for f in findings if f.status == SUPPRESSED)
    tail = f"{len(below)} open below it" + (f" ({', '.join(sorted({f.check for f in below}))})" if below else "") + f"; {suppressed} suppressed"
    incomplete = f"incomplete: could not read {'; '.join(f'{k} ({v})' for k, v in failures.items())}" if failures else ""
    if blocking:
        by_sev = Counter(f.severity for f in blocking)
        counts = ", ".join(f"{by_sev[s]} {s}" for s in SEVERITIES if by_sev[s])
        checks = ", ".join(sorted({f.check for f in blocking}))
        reason = f"{len(blocking)} open finding(s) at or above {fail_on} ({counts}: {checks}); {tail}"
        report.conclude(FAIL, f"{reason}; {incomplete}" if incomplete else reason)
    elif failures:
        report.conclude(ABORTED, f"{incomplete}; no open finding at or above {fail_on} in what was read; {tail}")
    else:
        report.conclude(PASS, f"no open finding at or above {fail_on}; {tail}")


# --------------------------------------------------------------------------
# the table


STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def show_findings(console: Console, findings: list[Finding], summary: dict[str, Any]) -> None:
    """One table, a section per severity (most severe first), suppressed findings last."""
    if findings:
        # box.SIMPLE: a blank line between the severity sections, no grid.
        table = Table(show_header=True, header_style="bold", box=box.SIMPLE, pad_edge=False, show_lines=False)
        for column in ("severity", "check", "resource", "problem", "fix"):
            table.add_column(column, overflow="fold")
        groups = [[f for f in findings if f.status == OPEN and f.severity == sev] for sev in SEVERITIES]
        groups.append([f for f in findings if f.status == SUPPRESSED])
        for group in (g for g in groups if g):
            for f in group:
                # AWS names and config text are printed as they are, never read as rich markup.
                if f.status == SUPPRESSED and f.suppression is not None:
                    label = f"[dim]suppressed[/] ({f.severity})"
                    problem = f"{escape(f.problem)} [dim](until {f.suppression.expires.isoformat()}: {escape(f.suppression.reason)})[/]"
                else:
                    label = f"[{STYLE[f.severity]}]{f.severity}[/]"
                    problem = escape(f.problem) + (f" [bold](suppression expired {f.expired.expires.isoformat()})[/]" if f.expired else "")
                table.add_row(label, escape(f.check), escape(f.resource), problem, escape(f.fix))
            table.add_section()
        console.print(table)
    console.print(summary_line(summary))


# --------------------------------------------------------------------------
# the command behind `invoke access.review`


def command(
    opts: ReviewOptions,
    **frame: Unpack[Frame],
) -> int:
    """Exit 0 pass, 1 fail or aborted, 2 usage error, invalid config or guard refusal."""
    fail_on = (opts.fail_on or "").lower()
    if fail_on not in SEVERITIES:
        # Before the session: a typo costs no AWS call and no sandbox start.
        raise OpsError(f"--fail-on {opts.fail_on!r}: choose one of {', '.join(SEVERITIES)}", USAGE)
    parameters = {"fail_on": fail_on, "live": opts.live, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        review(ctx, report, fail_on, s.console)

    return execute(opts, RUNBOOK, body, parameters, **frame)
