"""What every command and runbook opens first: its options, the config, the
target (sandbox or live, guarded) and the console, plus the typed live
confirmation.

Below the commands (cli.py) and the runbooks, above config/, target.py and
sandbox.py: the runbooks share it with the CLI without importing the CLI.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console

from . import sandbox
from .config import Config, load_config
from .errors import GuardError
from .output import make_console
from .target import RetryPolicy, Target, guard_live, live_target, sandbox_target


@dataclass
class Options:
    config: str = "config/prod.toml"
    live: bool = False
    yes: bool = False
    json: bool = False
    stage: str | None = None
    detailed_exitcode: bool = False


@dataclass
class Session:
    """What one command works with: config, target, console, and its JSON document."""

    opts: Options
    cfg: Config
    target: Target
    console: Console
    document: dict[str, Any] = field(default_factory=dict)
    identity: str = ""


def open_session(opts: Options) -> Session:
    # Config first: a bad file stops here, before any AWS call or sandbox start.
    cfg = load_config(opts.config)
    console = make_console(opts.json)
    retry = RetryPolicy(cfg.engine.max_attempts, cfg.engine.backoff_base_seconds, cfg.engine.backoff_max_seconds)
    if opts.live:
        target = live_target(cfg.project.region, retry)
        identity = guard_live(target, cfg.project.account_id, cfg.project.region)
        console.print(f"[bold red]LIVE[/] account {cfg.project.account_id}, region {target.region}, as {identity}")
    else:
        info, started = sandbox.ensure_running(cfg.project.account_id)
        target = sandbox_target(info.endpoint_url, cfg.project.region, retry)
        identity = "sandbox"
        verb = "started" if started else "using"
        console.print(f"[cyan]sandbox[/]: {verb} the local moto server at {info.endpoint_url} (never real AWS; --live for that)")
    return Session(opts, cfg, target, console, identity=identity)


def confirm_live(s: Session, expected: str, prompt: str) -> None:
    """In live mode without --yes, the operator must type ``expected``.

    Nothing to confirm in the sandbox. No terminal to ask on, or another
    answer: GuardError (exit 2), before anything is changed.
    """
    if not s.target.is_live or s.opts.yes:
        return
    if not sys.stdin.isatty():
        raise GuardError("refusing: live changes need confirmation; no terminal to ask on, and no --yes given")
    s.console.print(prompt)
    # The prompt goes where the human output goes (stderr with --json), so
    # stdout keeps exactly one JSON document.
    s.console.print("> ", end="")
    answer = sys.stdin.readline().strip()
    if answer != expected:
        raise GuardError(f"refusing: confirmation {answer!r} does not match {expected!r}; nothing was changed")
