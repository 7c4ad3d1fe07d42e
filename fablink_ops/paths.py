"""Where the config and the evidence are, wherever the command is started.

An operator at 3 a.m. runs ``invoke`` from wherever their shell is; a relative
``config/prod.toml`` or ``reports/`` must still mean the project's (issue 18).

- Config: ``--config`` if given, else ``FABLINK_CONFIG``, else
  ``config/prod.toml``. A relative path is taken from the current directory
  when it exists there, else from the project root.
- Evidence: ``FABLINK_REPORTS_DIR`` if set, else ``reports/`` under the
  project root (a checkout: the folder holding tasks.py), else under the
  current directory (an installed tool has no project root).
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG = "config/prod.toml"
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def project_root() -> Path | None:
    """The checkout the tool runs from, or None when it runs installed."""
    return _PACKAGE_PARENT if (_PACKAGE_PARENT / "tasks.py").is_file() else None


def config_path(given: str | os.PathLike[str] | None) -> Path:
    path = Path(given or os.environ.get("FABLINK_CONFIG") or DEFAULT_CONFIG).expanduser()
    root = project_root()
    if path.is_absolute() or path.exists() or root is None:
        return path
    rooted = root / path
    return rooted if rooted.exists() else path  # not found either way: the loader names the path as given


def reports_dir() -> Path:
    configured = os.environ.get("FABLINK_REPORTS_DIR")
    if configured:
        return Path(configured).expanduser()
    root = project_root()
    return (root if root is not None else Path.cwd()) / "reports"
