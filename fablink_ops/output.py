"""What the operator sees: rich tables and lines for people, one JSON document
for machines.

With ``--json`` everything human goes to stderr, so stdout carries exactly one
JSON document.
"""

from __future__ import annotations

import json
import os
import re
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
    # Not a terminal (CI, a log file): wide enough that names and ids are never
    # cut, unless COLUMNS says how wide (rich reads it when no width is given).
    stream = sys.stderr if json_mode else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160
    return Console(stderr=json_mode, highlight=False, width=width)


MAX_DOCUMENT_LINES = 8  # per attribute: key paths that differ, then "... and N more"


def _document(value: Any) -> Any:
    """A dict or list, also when given as JSON text (policies, dashboard bodies)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{path}.{k}" if path else str(k)))
        return out or {path: {}}
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{path}[{i}]"))
        return out or {path: []}
    return {path: value}


def diff_text(attribute: str, before: Any, after: Any) -> str:
    """One attribute's change for people. Two documents (dicts, or JSON
    text) are compared key by key and only the keys that differ are shown
    (issue 18: a launch-template tag change printed two 20-line dicts)."""
    b, a = _document(before), _document(after)
    if isinstance(b, (dict, list)) and isinstance(a, (dict, list)) and b and a:
        lb, la = _leaves(b), _leaves(a)
        keys = [k for k in dict.fromkeys([*lb, *la]) if lb.get(k, _MISSING) != la.get(k, _MISSING)]
        parts = [
            f"{attribute}{'.' if k and not k.startswith('[') else ''}{k}: {short(lb.get(k))} → {short(la.get(k))}"
            for k in keys[:MAX_DOCUMENT_LINES]
        ]
        if len(keys) > MAX_DOCUMENT_LINES:
            parts.append(f"… and {len(keys) - MAX_DOCUMENT_LINES} more in {attribute}")
        return "; ".join(parts) or f"{attribute}: same content, other form"
    return f"{attribute}: {short(before)} → {short(after)}"


_MISSING = object()


def short(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return str(value)


# A note segment about what the sandbox cannot do: said once, as a footnote,
# not on every row it concerns (issue 18: "sandbox notes collapse into a
# footnote in plan").
_SANDBOX_SEGMENT = re.compile(r"^\(?(the )?sandbox\b", re.IGNORECASE)


def split_sandbox_notes(note: str) -> tuple[str, list[str]]:
    """A change's note without its sandbox segments, and those segments."""
    kept: list[str] = []
    sandbox: list[str] = []
    for segment in (s.strip() for s in note.split("; ")):
        if not segment:
            continue
        (sandbox if _SANDBOX_SEGMENT.match(segment) else kept).append(segment)
    return "; ".join(kept), sandbox


def plan_table(changes: list[Change], show_noop: bool = False, footnotes: list[str] | None = None) -> Table:
    """The plan as a table. With ``footnotes`` (a list to fill), notes about
    the sandbox's gaps become numbered references ([1]) and their text is
    appended to ``footnotes`` once, for the caller to print under the table."""
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
        detail = "; ".join(diff_text(d.attribute, d.before, d.after) for d in c.diffs)
        note = c.note
        if note and footnotes is not None:
            note, sandbox = split_sandbox_notes(note)
            refs = []
            for text in sandbox:
                if text not in footnotes:
                    footnotes.append(text)
                refs.append(f"[{footnotes.index(text) + 1}]")
            note = " ".join(filter(None, [note, "".join(refs)]))
        if note:
            detail = f"{detail} ({note})" if detail else note
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

    HEARTBEAT_SECONDS = 30.0  # not a terminal: a line per wait this often

    def __init__(self, console: Console, verbose: bool = False):
        self.console = console
        self.verbose = verbose
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._active = 0
        self._plain: dict[int, dict[str, Any]] = {}  # heartbeat waits (not a terminal), by handle
        self._next_plain = 0

    def started(self, change: Change, after: list[str], alongside: list[str]) -> None:
        """What starts, what it waited for, and what runs alongside it
        (``-v``: a trace of the dependency graph at work, not for every day)."""
        if not self.verbose:
            return
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
        if not self.console.is_terminal:
            # CI and logs get no live bar (rich draws nothing there): one line
            # now and a heartbeat every HEARTBEAT_SECONDS instead.
            with self._lock:
                self._next_plain += 1
                handle = -self._next_plain
                self._plain[handle] = {"what": what, "budget": int(budget_seconds), "last": 0.0}
            self.console.print(f"  waiting for {what} (budget {int(budget_seconds)}s)")
            return handle
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
        if handle in self._plain:
            wait = self._plain[handle]
            if elapsed - wait["last"] >= self.HEARTBEAT_SECONDS:
                wait["last"] = elapsed
                self.console.print(f"  still waiting for {wait['what']}: {status or '…'}, {elapsed:.0f}s of {wait['budget']}s budget")
            return
        with self._lock:
            if self._progress is not None:
                self._progress.update(handle, completed=elapsed, status=status)

    def wait_finished(self, handle: Any, status: str, elapsed: float) -> None:
        if handle in self._plain:
            with self._lock:
                wait = self._plain.pop(handle)
            self.console.print(f"  [dim]{wait['what']}: {status} after {elapsed:.0f}s[/]")
            return
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
