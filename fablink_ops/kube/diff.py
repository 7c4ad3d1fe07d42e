"""What a server-side apply would change: the dry run's answer against the live object.

Only the fields we send are compared (the walk follows the desired object),
and their values are taken from the dry run's answer rather than from what we
sent: the API server has defaulted and normalised them there ("1000m" and "1"
are one CPU), so a converged object shows no difference.
"""

from __future__ import annotations

from typing import Any

Path = tuple[Any, ...]
_ABSENT = object()


def _at(obj: Any, path: Path) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(obj, list) or step >= len(obj):
                return _ABSENT
        elif not isinstance(obj, dict) or step not in obj:
            return _ABSENT
        obj = obj[step]
    return obj


def _leaves(value: Any, path: Path = ()) -> list[Path]:
    """Paths to the scalars (and lists of scalars) of ``value``."""
    if isinstance(value, dict) and value:
        return [p for key, sub in value.items() for p in _leaves(sub, path + (key,))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [p for i, sub in enumerate(value) for p in _leaves(sub, path + (i,))]
    return [path]


def show_path(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


def apply_diff(desired: dict, live: dict | None, dry_run: dict) -> list[tuple[str, Any, Any]]:
    """(field, live value, value after apply) for each field we set that the
    apply would change; a missing live object is all new (before None)."""
    out = []
    for path in _leaves({k: v for k, v in desired.items() if k not in ("apiVersion", "kind")}):
        after = _at(dry_run, path)
        before = _at(live, path) if live is not None else _ABSENT
        if before != after:
            out.append((show_path(path), None if before is _ABSENT else before, None if after is _ABSENT else after))
    return out
