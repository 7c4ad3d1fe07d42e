"""What the operator sees: rich tables and lines for people, one JSON document
for machines.

With ``--json`` everything human goes to stderr, so stdout carries exactly one
JSON document.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .engine import BLOCKED, CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Change
from .target import Meter

STYLE = {CREATE: "green", UPDATE: "yellow", REPLACE: "bold red", BLOCKED: "red", NOOP: "dim", WAIT: "cyan", SKIP: "magenta", UNMANAGED: "magenta"}
SYMBOL = {CREATE: "+", UPDATE: "~", REPLACE: "!", BLOCKED: "x", NOOP: "=", WAIT: "…", SKIP: "-", UNMANAGED: "?"}


def make_console(json_mode: bool) -> Console:
    # Wide enough that names and ids are never cut in logs and CI output.
    return Console(stderr=json_mode, highlight=False, width=None if sys.stdout.isatty() else 160)


def short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def plan_table(changes: list[Change], show_noop: bool = False) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("", width=1)
    table.add_column("stage")
    table.add_column("resource")
    table.add_column("name")
    table.add_column("action")
    table.add_column("detail", overflow="fold")
    for c in changes:
        if c.action == NOOP and not show_noop:
            continue
        detail = "; ".join(f"{d.attribute}: {short(d.before)} → {short(d.after)}" for d in c.diffs)
        if c.note:
            detail = f"{detail} ({c.note})" if detail else c.note
        style = STYLE.get(c.action, "")
        table.add_row(SYMBOL.get(c.action, " "), c.stage, c.kind, c.name, f"[{style}]{c.action}[/]", detail)
    return table


def counts(changes: list[Change]) -> dict[str, int]:
    return dict(Counter(c.action for c in changes))


def counts_line(changes: list[Change]) -> str:
    n = counts(changes)
    order = (CREATE, UPDATE, REPLACE, BLOCKED, WAIT, SKIP, UNMANAGED, NOOP)
    return ", ".join(f"{n[a]} {a}" for a in order if n.get(a)) or "nothing planned"


def calls_line(meter: Meter) -> str:
    return f"AWS calls: {meter.reads} reads, {meter.writes} writes"


def print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


class ConsoleReporter:
    """Reports applied changes and waits while the engine works (thread-safe)."""

    def __init__(self, console: Console):
        self.console = console
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._active = 0

    def started(self, change: Change, after: list[str], alongside: list[str]) -> None:
        """What starts, what it waited for, and what runs alongside it."""
        waited = f" after {', '.join(after)}" if after else ""
        parallel = f" [dim]| running alongside: {len(alongside)}[/]" if alongside else ""
        self.console.print(f"  [cyan]→[/] {change.action} {change.kind} {change.name}{waited}{parallel}")

    def applied(self, change: Change, detail: str | None) -> None:
        verb = {CREATE: "created", UPDATE: "updated", WAIT: "ready"}.get(change.action, change.action)
        suffix = f" ({detail})" if detail else ""
        self.console.print(f"  [green]✓[/] {verb} {change.kind} {change.name}{suffix}")

    def info(self, text: str) -> None:
        self.console.print(text)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/] {text}")

    def wait_started(self, what: str, budget_seconds: float) -> Any:
        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("  waiting for {task.description}"),
                    BarColumn(),
                    TextColumn("{task.fields[status]}"),
                    TimeElapsedColumn(),
                    TextColumn("of {task.fields[budget]}s budget"),
                    console=self.console,
                    transient=True,
                )
                self._progress.start()
            self._active += 1
            return self._progress.add_task(what, total=budget_seconds, status="…", budget=int(budget_seconds))

    def wait_progress(self, handle: Any, status: str, elapsed: float) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.update(handle, completed=elapsed, status=status)

    def wait_finished(self, handle: Any, status: str, elapsed: float) -> None:
        with self._lock:
            if self._progress is None:
                return
            description = self._progress.tasks[[t.id for t in self._progress.tasks].index(handle)].description
            self._progress.remove_task(handle)
            self._active -= 1
            if self._active == 0:
                self._progress.stop()
                self._progress = None
        self.console.print(f"  [dim]{description}: {status} after {elapsed:.0f}s[/]")
