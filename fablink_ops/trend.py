"""The runbooks' figures over time, as one HTML page (``invoke reports.trend``).

Reads the evidence records (reports_index) and draws, per figure, its values
against the run's start time: failover RTO (time to a new writer), restore
RTO and RPO (backup.verify), open access-review findings. One self-contained
file: the charts are inline SVG, so a browser opens it from disk with no
server, no script and no network (an auditor's laptop, an air-gapped jump
host). Sandbox and live runs are separate series, drawn in two styles, so a
rehearsal is never read as production's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

WIDTH, HEIGHT, PAD = 640, 240, 48


@dataclass(frozen=True)
class Figure:
    key: str
    title: str
    unit: str
    runbook: str
    extract: Callable[[dict[str, Any]], float | None]


def _walk(value: Any, key: str) -> Iterable[float]:
    """Every number stored under ``key`` anywhere in a measurement tree."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, (int, float)) and not isinstance(v, bool):
                yield float(v)
            else:
                yield from _walk(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)


def _largest(key: str) -> Callable[[dict[str, Any]], float | None]:
    def extract(measurements: dict[str, Any]) -> float | None:
        values = list(_walk(measurements, key))
        return max(values) if values else None

    return extract


def _failover_rto(measurements: dict[str, Any]) -> float | None:
    leg = measurements.get("failover")
    value = leg.get("new_writer_seconds") if isinstance(leg, dict) else None
    return float(value) if isinstance(value, (int, float)) else None


def _open_findings(measurements: dict[str, Any]) -> float | None:
    summary = measurements.get("summary")
    opened = summary.get("open") if isinstance(summary, dict) else None
    return float(sum(v for v in opened.values() if isinstance(v, (int, float)))) if isinstance(opened, dict) else None


FIGURES = (
    Figure("failover-rto", "Failover RTO: time to a new writer", "s", "drill.failover", _failover_rto),
    Figure("restore-rto", "Restore RTO: the slowest restore of a run", "s", "backup.verify", _largest("rto_seconds")),
    Figure("rpo", "RPO: the largest of a run", "s", "backup.verify", _largest("rpo_seconds")),
    Figure("findings", "Open access-review findings", "findings", "access.review", _open_findings),
)


def points(documents: list[dict[str, Any]], figure: Figure) -> dict[str, list[tuple[datetime, float, str]]]:
    """(time, value, verdict) per target (sandbox, live), oldest first."""
    out: dict[str, list[tuple[datetime, float, str]]] = {}
    for doc in documents:
        if doc.get("runbook") != figure.runbook or not doc.get("started"):
            continue
        value = figure.extract(doc.get("measurements") or {})
        if value is None:
            continue
        when = datetime.fromisoformat(str(doc["started"]).replace("Z", "+00:00"))
        out.setdefault(str(doc.get("target")), []).append((when, value, str(doc.get("verdict"))))
    return {target: sorted(series) for target, series in sorted(out.items())}


def _svg(figure: Figure, series: dict[str, list[tuple[datetime, float, str]]]) -> str:
    every = [p for s in series.values() for p in s]
    t0, t1 = min(p[0] for p in every), max(p[0] for p in every)
    top = max(p[1] for p in every) or 1.0
    span = (t1 - t0).total_seconds() or 1.0

    def xy(when: datetime, value: float) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * ((when - t0).total_seconds() / span if t1 > t0 else 0.5)
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (value / top)
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg class="chart" data-figure="{figure.key}" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{html.escape(figure.title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="4" y="{PAD - 8}" font-size="11">{top:g} {html.escape(figure.unit)}</text>',
        f'<text x="4" y="{HEIGHT - PAD + 4}" font-size="11">0</text>',
        f'<text x="{PAD}" y="{HEIGHT - 16}" font-size="11">{t0:%Y-%m-%d %H:%M}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 16}" font-size="11" text-anchor="end">{t1:%Y-%m-%d %H:%M}</text>',
    ]
    for target, pts in series.items():
        colour, dash = ("#c0392b", "") if target == "live" else ("#2471a3", ' stroke-dasharray="4 3"')
        coords = " ".join(f"{x},{y}" for x, y in (xy(t, v) for t, v, _ in pts))
        parts.append(f'<polyline class="series" data-target="{html.escape(target)}" points="{coords}" fill="none" '
                     f'stroke="{colour}" stroke-width="2"{dash}/>')
        for when, value, verdict in pts:
            x, y = xy(when, value)
            fill = colour if verdict == "pass" else "#fff"
            parts.append(f'<circle class="point" data-target="{html.escape(target)}" cx="{x}" cy="{y}" r="4" fill="{fill}" '
                         f'stroke="{colour}"><title>{when:%Y-%m-%d %H:%M} {target}: {value:g} {html.escape(figure.unit)} '
                         f'({html.escape(verdict)})</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def render(documents: list[dict[str, Any]], generated: datetime) -> str:
    sections = []
    for figure in FIGURES:
        series = points(documents, figure)
        count = sum(len(s) for s in series.values())
        body = _svg(figure, series) if count else '<p class="empty">No runs with this figure yet.</p>'
        sections.append(f'<section><h2>{html.escape(figure.title)}</h2><p class="meta">{count} run(s) of '
                        f'{html.escape(figure.runbook)}; live solid red, sandbox dashed blue; a hollow point did not pass.</p>'
                        f"{body}</section>")
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>fablink-ops: runbook trends</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:720px}h2{font-size:1.1em}.meta,.empty{color:#555}</style>"
        f"</head><body><h1>Runbook trends</h1><p class=\"meta\">From {len(documents)} evidence record(s); "
        f"generated {generated:%Y-%m-%d %H:%M:%S} UTC.</p>{''.join(sections)}</body></html>\n"
    )


def write(documents: list[dict[str, Any]], path: Path, generated: datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(documents, generated), encoding="utf-8")
    return path
