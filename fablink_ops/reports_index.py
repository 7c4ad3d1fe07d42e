"""The runbooks' past runs, read back from their evidence (``invoke reports``).

Reads the JSON records under ``reports/<target>/`` (and the flat ``reports/``
of earlier versions), newest first: when, which runbook, sandbox or live,
the verdict, and the one-sentence reason with the numbers that decided it.
A file that is not a readable record is listed as such, never skipped in
silence: evidence that cannot be read is itself a finding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .report import DEFAULT_DIRECTORY, FORMAT


def _files(directory: Path) -> list[Path]:
    return sorted({*directory.glob("*.json"), *directory.glob("*/*.json")})


def documents(directory: Path | str = DEFAULT_DIRECTORY) -> list[dict[str, Any]]:
    """The readable evidence records, whole (for the trend page)."""
    out = []
    for path in _files(Path(directory)):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            out.append(doc)
    return out


def runs(directory: Path | str = DEFAULT_DIRECTORY, runbook: str | None = None) -> list[dict[str, Any]]:
    directory = Path(directory)
    files = _files(directory)
    rows: list[dict[str, Any]] = []
    for path in files:
        row = _row(path)
        if runbook is None or row.get("runbook") == runbook:
            rows.append(row)
    return sorted(rows, key=lambda r: r.get("started") or "", reverse=True)


def _row(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"file": str(path), "verdict": "unreadable", "reason": str(exc)}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {"file": str(path), "verdict": "unreadable", "reason": f"not a {FORMAT} record"}
    provenance = doc.get("provenance") or {}
    return {
        "file": str(path),
        "started": doc.get("started"),
        "runbook": doc.get("runbook"),
        "environment": doc.get("environment"),
        "target": doc.get("target"),
        "operator": doc.get("operator"),
        "verdict": doc.get("verdict"),
        "reason": doc.get("reason"),
        "version": provenance.get("version"),
        "config_sha256": provenance.get("config_sha256"),
    }
