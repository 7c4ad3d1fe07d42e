"""Ctrl-C during Invoke's own start-up, before tasks.py is imported (issue 20, item 4).

`invoke provision` runs Invoke's console script: it imports Invoke, then
``Program.run`` reads its config files, finds tasks.py and imports it. Until
tasks.py's first line (``interrupts.install()``) runs, a Ctrl-C is Python's
(a KeyboardInterrupt traceback while Invoke imports) or Invoke's
(``except KeyboardInterrupt: sys.exit(1)`` in ``Program.run``): exit 1, no
message. Nothing of ours can run before the program but a ``.pth`` file:
Python's ``site`` runs each line of one that starts with ``import`` at
start-up (https://docs.python.org/3/library/site.html). The wheel installs
``_fablink_ops_sigint.pth`` at the top of site-packages (pyproject.toml:
hatch's force-include, editable and regular installs alike). Its one line,
when the program's arguments mention "inv", sets a minimal handler at once
(builtins only: importing even ``signal`` or ``pathlib`` takes milliseconds
a Ctrl-C can fall into) and then calls ``arm()``, which keeps an equivalent
handler for Invoke about to load *our* tasks.py and gives Python's back to
anything else. The file's name sorts before the other .pth files (after
hatch's editable ``_fablink_ops.pth``, which makes the package importable).

Armed, a Ctrl-C prints one line and exits 130 at once: nothing was done yet.
tasks.py then installs ``interrupts``' handler, which knows the later phases.
Our tasks.py is found the way Invoke looks for it (from the working
directory upwards), so another project's `invoke` in the same environment
keeps Python's behaviour; with Invoke's ``-c/--collection`` or
``-r/--search-root`` it is not armed either (those pick another tasks file).

What stays Python's: the interpreter's own start-up before ``site`` reads
the .pth files (about 10 ms: Python sets its SIGINT handler, then imports
``os``, ``site``, ...). A Ctrl-C there still ends with a KeyboardInterrupt
traceback (or, earlier still, the process dies by the signal, which a shell
shows as 130).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

NOTHING_CHANGED = "interrupted while starting, before anything was done: nothing was changed"
# What tasks.py says first: the file Invoke will load is ours.
MARK = b"from fablink_ops import interrupts"
OTHER_COLLECTION = ("-c", "--collection", "-r", "--search-root")


def is_invoke(argv: list[str]) -> bool:
    """The interpreter runs Invoke: its console script (``invoke``, ``inv``)
    or ``python -m invoke``. ``argv`` is ``sys.orig_argv``."""
    rest = argv[1:]
    if rest[:2] == ["-m", "invoke"]:
        return True
    return bool(rest) and os.path.basename(rest[0]) in ("invoke", "inv")


def our_tasks_file(start: Path) -> Path | None:
    """The tasks.py Invoke would load from ``start`` (the nearest one
    upwards), if it is fablink-ops'."""
    for folder in (start, *start.parents):
        candidate = folder / "tasks.py"
        if candidate.is_file():
            with open(candidate, "rb") as fh:
                return candidate if MARK in fh.read(8192) else None
        if (folder / "tasks").is_dir():
            return None  # a tasks package: Invoke loads that one, not ours
    return None


def should_arm(argv: list[str], cwd: Path) -> bool:
    if not is_invoke(argv) or any(a.split("=", 1)[0] in OTHER_COLLECTION for a in argv):
        return False
    return our_tasks_file(cwd) is not None


def arm(argv: list[str] | None = None) -> None:
    """Called by the .pth line at interpreter start-up, after its minimal
    handler: keep ours for Invoke on our tasks.py, else Python's. Never
    raises (a failing .pth line prints an error in the program it runs in)."""
    try:
        ours = should_arm(list(sys.orig_argv if argv is None else argv), Path.cwd())
    except Exception:  # noqa: BLE001 - start-up of an unrelated program must never break
        ours = False
    signal.signal(signal.SIGINT, _handler if ours else signal.default_int_handler)


def _handler(signum: int, frame: object) -> None:
    sys.stderr.write(f"error: {NOTHING_CHANGED}\n")
    sys.stderr.flush()
    os._exit(130)
