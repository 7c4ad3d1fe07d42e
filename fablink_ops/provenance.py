"""Where a record comes from: the tool's version, its git commit, the config's
digest. Evidence an auditor accepts says which code, run with which desired
state, produced it (issue 18); two reports with the same config digest were
run against the same config, whatever its file was called.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "fablink-ops"


@lru_cache(maxsize=1)
def version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout the tool runs from, with ``+dirty`` when it
    has uncommitted changes; None when it is not a git checkout (an installed
    wheel) or git is absent. Bounded: evidence must not wait on git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


def config_sha256(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def record(config_path: str | Path) -> dict[str, Any]:
    """The provenance block of a report."""
    return {
        "tool": PACKAGE,
        "version": version(),
        "git_commit": git_commit(),
        "config": str(config_path),
        "config_sha256": config_sha256(config_path),
    }
