"""Evidence: what a runbook did, what it measured, and what it concluded.

Every runbook (drill.failover, backup.verify, access.review, ...) records its
run in a ``Report`` and leaves two files, ``reports/<UTC timestamp>-<runbook>``
``.json`` (for machines) and ``.md`` (for people), holding the same facts:

- ``runbook``, ``environment``, ``target`` (sandbox | live), ``operator`` (the
  STS identity that ran it), ``parameters`` (what the operator asked for);
- ``started`` / ``finished`` (UTC, ISO 8601, milliseconds);
- ``steps``: each with ``name``, ``started``, ``finished``, ``status``
  (ok | failed | skipped) and ``detail``;
- ``measurements``: free-form JSON, the runbook's numbers;
- ``verdict``: pass | fail | aborted, and ``reason`` (one sentence, with the
  numbers that decided it);
- ``calls``: the AWS calls it made (reads, writes, by operation);
- ``evidence``: the paths of both files.

``--json`` prints exactly the JSON file's document on stdout. Exit code:
0 pass, 1 fail or aborted (2, usage or guard refusal, never gets a report:
nothing was done).

All timestamps come from one monotonic clock anchored to the wall clock once,
at the start: durations stay exact even if the wall clock steps, and a test
can drive the clock.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import FAILED, OpsError

FORMAT = "fablink-ops/evidence/1"
DEFAULT_DIRECTORY = Path("reports")

# verdicts
PASS = "pass"
FAIL = "fail"
ABORTED = "aborted"
VERDICTS = (PASS, FAIL, ABORTED)

# step statuses
OK = "ok"
FAILED_STEP = "failed"
SKIPPED = "skipped"
RUNNING = "running"  # only while a step is open; never in a finished report


class Aborted(OpsError):
    """Stops a runbook with the verdict ``aborted`` (a precondition failed,
    a stop condition fired). Exit code 1; the evidence is still written."""

    def __init__(self, message: str):
        super().__init__(message, FAILED)


@dataclass
class Step:
    name: str
    started: str
    finished: str = ""
    status: str = RUNNING
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "started": self.started, "finished": self.finished, "status": self.status, "detail": self.detail}


def iso(moment: datetime) -> str:
    """2025-06-01T12:00:00.123Z"""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Report:
    """The record of one runbook run. Not thread-safe: one runbook thread writes it."""

    def __init__(
        self,
        runbook: str,
        environment: str,
        target: str,
        operator: str,
        parameters: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: datetime | None = None,
        echo: Callable[[Step], None] | None = None,
    ):
        self.runbook = runbook
        self.environment = environment
        self.target = target
        self.operator = operator
        self.parameters = dict(parameters or {})
        self.clock = clock
        self._t0 = clock()
        self._wall0 = (wall or datetime.now(timezone.utc)).astimezone(timezone.utc)
        self.started = self.timestamp()
        self.finished = ""
        self.steps: list[Step] = []
        self.measurements: dict[str, Any] = {}
        self.verdict = ""
        self.reason = ""
        self.calls: dict[str, Any] = {}
        self.evidence: dict[str, str] = {}
        self._echo = echo

    # ----- time

    def moment(self, at: float | None = None) -> datetime:
        """The wall-clock moment of a monotonic clock reading (default: now)."""
        at = self.clock() if at is None else at
        return self._wall0 + timedelta(seconds=at - self._t0)

    def timestamp(self, at: float | None = None) -> str:
        return iso(self.moment(at))

    # ----- steps

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Record a step around a block. It ends ``ok`` unless the block set
        another status; an exception marks it ``failed`` (its message as the
        detail, unless one was set) and propagates."""
        step = Step(name, self.timestamp())
        self.steps.append(step)
        try:
            yield step
        except BaseException as exc:
            step.status = FAILED_STEP
            if not step.detail:
                step.detail = _describe(exc)
            raise
        finally:
            step.finished = self.timestamp()
            if step.status == RUNNING:
                step.status = OK
            self._emit(step)

    def record(self, name: str, status: str, detail: str = "", started: float | None = None) -> Step:
        """Record a step that is already over (a check, a skipped action)."""
        if status not in (OK, FAILED_STEP, SKIPPED):
            raise ValueError(f"unknown step status {status!r}")
        step = Step(name, self.timestamp(started), self.timestamp(), status, detail)
        self.steps.append(step)
        self._emit(step)
        return step

    def _emit(self, step: Step) -> None:
        if self._echo is not None:
            self._echo(step)

    # ----- results

    def measure(self, key: str, value: Any) -> None:
        """Set one measurement. Values must be JSON: numbers, strings, lists, dicts, None."""
        self.measurements[key] = value

    def conclude(self, verdict: str, reason: str) -> None:
        """Set the verdict; a later call replaces it (an abort overrides a result)."""
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        self.verdict = verdict
        self.reason = reason

    def finish(self, calls: dict[str, Any] | None = None) -> None:
        self.finished = self.timestamp()
        if calls is not None:
            self.calls = calls
        if not self.verdict:  # a runbook bug: never report success by default
            self.conclude(ABORTED, "the runbook ended without reaching a verdict")
        for step in self.steps:  # a step left open by an interrupt
            if step.status == RUNNING:
                step.status = FAILED_STEP
                step.finished = step.finished or self.finished
                step.detail = step.detail or "interrupted"

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == PASS else FAILED

    # ----- output

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "runbook": self.runbook,
            "environment": self.environment,
            "target": self.target,
            "operator": self.operator,
            "parameters": self.parameters,
            "started": self.started,
            "finished": self.finished,
            "verdict": self.verdict,
            "reason": self.reason,
            "steps": [s.to_json() for s in self.steps],
            "measurements": self.measurements,
            "calls": self.calls,
            "evidence": self.evidence,
        }

    def to_markdown(self) -> str:
        doc = self.to_json()
        lines = [
            f"# {self.runbook}: {self.verdict.upper()}",
            "",
            f"**Verdict: {self.verdict}**: {_md(self.reason)}",
            "",
            "| | |",
            "|---|---|",
        ]
        for key in ("environment", "target", "operator", "started", "finished"):
            lines.append(f"| {key.capitalize()} | {_md(doc[key])} |")
        for key, value in self.parameters.items():
            lines.append(f"| Parameter `{_md(key)}` | {_md(_plain(value))} |")
        lines += ["", "## Steps", "", "| # | Step | Status | Started | Finished | Detail |", "|---|---|---|---|---|---|"]
        for i, s in enumerate(self.steps, 1):
            lines.append(f"| {i} | {_md(s.name)} | {s.status} | {s.started} | {s.finished} | {_md(s.detail)} |")
        lines += ["", "## Measurements", ""]
        # A list of records (an access review's findings, say) gets a table of its own.
        tables = {k: v for k, v in self.measurements.items() if _records(v)}
        flat = list(_flatten({k: v for k, v in self.measurements.items() if k not in tables}))
        if flat:
            lines += ["| Measurement | Value |", "|---|---|"]
            lines += [f"| {_md(k)} | {_md(_plain(v))} |" for k, v in flat]
        elif not tables:
            lines.append("None.")
        for key, records in tables.items():
            columns = list(dict.fromkeys(c for r in records for c in r))
            lines += ["", f"### {_md(key)}", "", "| " + " | ".join(_md(c) for c in columns) + " |", "|" + "---|" * len(columns)]
            lines += ["| " + " | ".join(_md(_plain(_cell(r.get(c)))) for c in columns) + " |" for r in records]
        if self.calls:
            lines += ["", "## AWS calls", "", f"{self.calls.get('reads', 0)} reads, {self.calls.get('writes', 0)} writes.", ""]
            lines += [f"- `{op}`: {n}" for op, n in self.calls.get("by_operation", {}).items()]
        if self.evidence:
            lines += ["", f"Evidence: `{self.evidence.get('json', '')}` (the same record as JSON)."]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path | str = DEFAULT_DIRECTORY) -> tuple[Path, Path]:
        """Write ``<UTC timestamp>-<runbook>.json`` and ``.md``; never overwrite.

        The file names go into the document first (``evidence``), so the JSON
        file, the Markdown file and ``--json``'s stdout all say the same.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{self.moment_started():%Y%m%dT%H%M%SZ}-{self.runbook}"
        n = 1
        while True:
            name = stem if n == 1 else f"{stem}-{n}"
            json_path, md_path = directory / f"{name}.json", directory / f"{name}.md"
            self.evidence = {"json": str(json_path), "markdown": str(md_path)}
            try:
                # "x": two runs in the same second never overwrite each other.
                with open(json_path, "x", encoding="utf-8") as f:
                    f.write(json.dumps(self.to_json(), indent=2, default=str) + "\n")
            except FileExistsError:
                n += 1
                continue
            md_path.write_text(self.to_markdown(), encoding="utf-8")
            return json_path, md_path

    def moment_started(self) -> datetime:
        return self._wall0


# --------------------------------------------------------------------------
# helpers


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted by the operator (Ctrl-C)"
    return str(exc) or type(exc).__name__


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, value


def _records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _cell(value: Any) -> Any:
    """A nested record inside a table cell: key: value pairs."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return value


def _plain(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value and abs(value) < 0.001:  # a price per request or per I/O: never "0"
            return f"{value:.3g}"
        return f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(v) for v in value) or "—"
    return str(value)


def _md(text: Any) -> str:
    """Safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
