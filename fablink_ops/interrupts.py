"""Ctrl-C at any moment of an `invoke` command: one line and exit 130, or, once
the work is done, the command's own exit code.

Python turns SIGINT into KeyboardInterrupt wherever the main thread is. Inside
a command, ``cli.run`` turns it into the resume line and 130. Outside one it
used to reach Invoke's own handler (``sys.exit(1)``, no message): while
tasks.py and its imports load (the first ~0.4 s), and after the command has
finished (its "done" printed). ``install`` (the first thing tasks.py does)
replaces Python's handler by one that knows the phase:

- starting: nothing was done yet: print the resume line, exit 130 at once;
- running: raise KeyboardInterrupt, as Python would (``cli.run`` handles it);
- done: the work is over and reported; the rest (releasing the run lock,
  printing the document) finishes, and the exit code stays the command's.

The window before tasks.py is imported (Invoke's own start-up, ~0.1-0.3 s)
is covered by ``startup_sigint``, armed by a ``.pth`` line as Python starts.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

STARTING, RUNNING, DONE = "starting", "running", "done"
RESUME = "interrupted: run the same command again to resume; nothing will be created twice"

_phase = STARTING
_installed = False


def install() -> None:
    global _installed
    signal.signal(signal.SIGINT, _handler)
    _installed = True


def running() -> None:
    global _phase
    _phase = RUNNING


def done() -> None:
    """The command's work is over: a Ctrl-C from now on changes nothing."""
    global _phase
    _phase = DONE


def phase() -> str:
    return _phase


def _handler(signum: int, frame: Any) -> None:
    if _phase == RUNNING:
        raise KeyboardInterrupt
    if _phase == DONE:
        return
    sys.stderr.write(f"error: {RESUME}\n")
    sys.stderr.flush()
    os._exit(130)
