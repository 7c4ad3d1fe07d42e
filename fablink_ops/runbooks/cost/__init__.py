"""The cost report: ``invoke cost.report [--live] [--json] [--budget USD]``.

The operator's question: what does the environment cost a month as
configured, line by line, and what would the design's cost levers save?
Design doc: "Cost optimisation: Reserved Instances; Spot Instances (for
suitable workloads); resource-usage monitoring". Human runbook:
runbooks/cost-report.md.

1. Prices (pricing.py, catalog.py): the AWS Price List API with --live; in
   the sandbox the dated snapshot shipped next to this file (moto has no
   Pricing API). The report says which, and the date.
2. Estimate (quantities.py, estimate.py): every priced resource of the
   environment as configured, each line with its unit price, quantity and the
   quantity's source; the total is the sum of the lines. Kinds that cost
   nothing are named, with why (quantities.FREE).
3. Levers (levers.py): Reserved Instances for Aurora and the node baseline,
   Spot above the PDB floor, one NAT gateway for non-production, Graviton,
   all from the same prices.
4. Usage (usage.py): CloudWatch over the last [cost].usage_days next to what
   is provisioned, and rightsizing lines.
5. Verdict: with --budget, fail (exit 1) when the monthly estimate exceeds
   it; pass otherwise. The report reads only: it makes no AWS write.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ...session import Options, Session
from ...config import Config, load_config
from ...engine import Context
from ...errors import USAGE, OpsError
from ...report import FAIL, PASS, SKIPPED, Report
from .. import Frame, execute
from . import usage
from .catalog import queries
from .estimate import Priced, by_group, node_range, price_book, price_lines, total
from .levers import Lever, what_ifs
from .pricing import LiveSource, SnapshotSource, Source, usage_prefix
from .quantities import FREE, NOT_RESOURCES, build_lines

RUNBOOK = "cost.report"

__all__ = ["RUNBOOK", "CostOptions", "command", "report_cost"]


@dataclass
class CostOptions(Options):
    budget: str | None = None


def parse_budget(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise OpsError(f"--budget {text!r}: give the monthly budget in USD, a number like 25000", USAGE) from None
    if not math.isfinite(value) or value < 0:
        raise OpsError(f"--budget {text!r}: give a monthly budget of 0 USD or more", USAGE)
    return value


def price_source(ctx: Context) -> Source:
    return LiveSource(ctx.target) if ctx.target.is_live else SnapshotSource(ctx.cfg.project.region)


def report_cost(ctx: Context, report: Report, budget: float | None, now: datetime, console: Console | None = None) -> None:
    """Price, estimate, levers, usage, verdict: everything into ``report``."""
    cfg = ctx.cfg
    lines = build_lines(ctx)
    with report.step("prices") as step:
        source = price_source(ctx)
        book = price_book(source, queries(cfg), cfg.engine.concurrency)
        step.detail = f"{len(book)} prices from {source.name}, dated {source.date or 'unknown'}"
    report.measure("prices", {"source": "live" if ctx.target.is_live else "snapshot", "from": source.name, "date": source.date,
                              "region": cfg.project.region, "currency": "USD"})
    with report.step("estimate") as step:
        priced = price_lines(lines, book)
        monthly = total(priced)
        step.detail = f"{len(priced)} lines, ${monthly:,.2f} a month"
    report.measure("total_monthly_usd", monthly)
    report.measure("by_group_usd", by_group(priced))
    report.measure("node_instances_usd", node_range(cfg, book))
    report.measure("lines", [p.to_json() for p in priced])
    report.measure("free", [{"kind": k, "why": v} for k, v in {**FREE, **NOT_RESOURCES}.items()])
    with report.step("levers") as step:
        found = what_ifs(cfg, book)
        step.detail = f"{len(found)} what-ifs, from the same prices"
    report.measure("levers", [lv.to_json() for lv in found])
    measure_usage(ctx, report, book, now)
    if console is not None:
        show(console, priced, monthly, found, report)
    conclude(report, monthly, budget, source)


def measure_usage(ctx: Context, report: Report, book: dict, now: datetime) -> None:
    days = ctx.cfg.cost.usage_days
    wanted = usage.metrics(ctx.cfg)
    with report.step(f"usage: CloudWatch, last {days} days") as step:
        values = usage.read(ctx, wanted, days, now)
        rows = usage.report_rows(wanted, values)
        with_data = sum(1 for r in rows if r["points"])
        step.detail = f"{with_data} of {len(rows)} metrics have data"
        if not with_data:
            step.status = SKIPPED
            step.detail += ": nothing to compare (no traffic yet, or Container Insights not installed)"
    report.measure("usage", rows)
    report.measure("rightsizing", usage.rightsizing(ctx.cfg, book, values, days))


def conclude(report: Report, monthly: float, budget: float | None, source: Source) -> None:
    report.measure("budget_usd", budget)
    prices = f"prices: {source.name}, dated {source.date or 'unknown'}"
    if budget is None:
        report.conclude(PASS, f"estimate ${monthly:,.2f} a month; no --budget given ({prices})")
    elif monthly > budget:
        report.conclude(FAIL, f"estimate ${monthly:,.2f} a month exceeds the budget ${budget:,.2f} by ${monthly - budget:,.2f} ({prices})")
    else:
        report.conclude(PASS, f"estimate ${monthly:,.2f} a month is within the budget ${budget:,.2f} ({prices})")


# --------------------------------------------------------------------------
# the tables


def show(console: Console, priced: list[Priced], monthly: float, what_ifs: list[Lever], report: Report) -> None:
    table = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    for column, justify in (("item", "left"), ("quantity", "right"), ("unit price", "right"), ("USD/month", "right"), ("quantity source", "left")):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for p in priced:
        row = p.to_json()
        unit = f"${row['unit_usd']:.6g}/{row['price_unit']}" + (" (tiered)" if row["tiered"] else "")
        quantity = f"{row['quantity']:,.0f}" if row["quantity"] >= 1000 else f"{row['quantity']:,.6g}"
        table.add_row(escape(row["item"]), f"{quantity} {row['unit']}", unit, f"{p.monthly_usd:,.2f}", escape(row["quantity_source"]))
    table.add_section()
    table.add_row("[bold]total[/]", "", "", f"[bold]{monthly:,.2f}[/]", f"{report.measurements['prices']['from']}")
    console.print(table)
    levers_table = Table(box=box.SIMPLE, header_style="bold", pad_edge=False)
    for column in ("lever", "scope", "now", "with it", "saving", "why"):
        levers_table.add_column(column, overflow="fold")
    for lv in what_ifs:
        saving = f"{lv.saving_usd:,.2f}" if lv.applies else f"[dim]({lv.saving_usd:,.2f})[/]"
        levers_table.add_row(escape(lv.lever), escape(lv.scope), f"{lv.current_usd:,.2f}", f"{lv.with_lever_usd:,.2f}", saving, escape(lv.why))
    console.print(levers_table)
    for r in report.measurements.get("rightsizing", []):
        console.print(f"  rightsizing {escape(r['resource'])}: {escape(r['finding'])}")


# --------------------------------------------------------------------------
# the command behind `invoke cost.report`


def preflight(opts: CostOptions) -> float | None:
    """Everything that can be refused without AWS: the budget, the config,
    the region's usage-type prefix, the sandbox's snapshot. Exit 2 on any."""
    budget = parse_budget(opts.budget)
    cfg: Config = load_config(opts.config)
    usage_prefix(cfg.project.region)
    if not opts.live:
        SnapshotSource(cfg.project.region)
    return budget


def command(
    opts: CostOptions,
    **frame: Unpack[Frame],
) -> int:
    """Exit 0 pass, 1 over budget or aborted, 2 usage error, invalid config or guard refusal."""
    budget = preflight(opts)
    parameters: dict[str, Any] = {"budget_usd": budget, "live": opts.live, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        report_cost(ctx, report, budget, report.moment(), s.console)

    return execute(opts, RUNBOOK, body, parameters, **frame)
