"""Invoke tasks: a thin layer over fablink_ops.cli.

    invoke provision [--stage S] [--live] [--yes] [--json] [--config PATH]
    invoke plan [--stage S] [--detailed-exitcode] [--json] [--live] [--config PATH]
    invoke sandbox.up | sandbox.down | sandbox.status
    invoke drill.failover [--to INSTANCE] [--failback] [--live] [--yes] [--json] [--config PATH]
    invoke test

Every task exits with the code its command returns: 0 success (a runbook:
pass), 1 failed (a runbook: fail or aborted), 2 usage error / invalid config /
guard refusal (nothing changed).
"""

from __future__ import annotations

import importlib.util
import sys

from invoke import Collection, Exit, task

from fablink_ops import cli
from fablink_ops.runbooks import failover as failover_runbook

HELP = {
    "config": "config file (default config/prod.toml)",
    "live": "act on real AWS (standard credential chain) instead of the local sandbox",
    "yes": "live mode: skip the typed confirmation",
    "json": "print exactly one JSON document on stdout",
    "stage": "one stage: network, eks, aurora, dynamodb, edge, monitoring (default: all implemented)",
    "detailed_exitcode": "exit 0 when nothing would change, 2 when changes are pending, 1 on error",
    "to": "the instance to promote (default: the available reader with the best promotion tier in another AZ)",
    "failback": "afterwards, fail back to the original writer (a second measured failover)",
}


def _help(*names: str) -> dict[str, str]:
    return {n: HELP[n] for n in names}


def _exit(code: int) -> None:
    if code:
        # The message is already printed; Exit with no text keeps it to one line.
        raise Exit(code=code)


@task(help=_help("stage", "config", "live", "yes", "json"))
def provision(c, stage=None, config="config/prod.toml", live=False, yes=False, json=False):
    """Plan, then create or correct what differs from the config (sandbox unless --live)."""
    opts = cli.Options(config=config, live=live, yes=yes, json=json, stage=stage)
    _exit(cli.run(cli.cmd_provision, opts))


@task(help=_help("stage", "config", "live", "json", "detailed_exitcode"))
def plan(c, stage=None, config="config/prod.toml", live=False, json=False, detailed_exitcode=False):
    """Show what provision would do. Read-only: no AWS write, ever."""
    opts = cli.Options(config=config, live=live, json=json, stage=stage, detailed_exitcode=detailed_exitcode)
    _exit(cli.run(cli.cmd_plan, opts))


@task(name="up", help=_help("config", "json"))
def sandbox_up(c, config="config/prod.toml", json=False):
    """Start the local sandbox (a moto server on 127.0.0.1), or reuse the running one."""
    _exit(cli.run(cli.cmd_sandbox_up, cli.Options(config=config, json=json)))


@task(name="down", help=_help("json"))
def sandbox_down(c, json=False):
    """Stop the sandbox; everything in it is gone."""
    _exit(cli.run(cli.cmd_sandbox_down, cli.Options(json=json)))


@task(name="status", help=_help("config", "json"))
def sandbox_status(c, config="config/prod.toml", json=False):
    """Endpoint, uptime, and what exists in the sandbox per stage."""
    _exit(cli.run(cli.cmd_sandbox_status, cli.Options(config=config, json=json)))


@task(name="failover", help=_help("to", "failback", "config", "live", "yes", "json"))
def drill_failover(c, to=None, failback=False, config="config/prod.toml", live=False, yes=False, json=False):
    """Aurora failover drill: preflight, fail over, measure the RTO, verdict; evidence in reports/."""
    opts = failover_runbook.FailoverOptions(config=config, live=live, yes=yes, json=json, to=to, failback=failback)
    _exit(cli.run(failover_runbook.command, opts))


@task
def test(c):
    """Run the test suite (parallel on all cores when pytest-xdist is installed)."""
    args = [sys.executable, "-m", "pytest", "-q"]
    if importlib.util.find_spec("xdist") is not None:
        args += ["-n", "auto"]
    result = c.run(" ".join(args), warn=True, pty=False)
    _exit(result.exited)


sandbox = Collection("sandbox")
sandbox.add_task(sandbox_up)
sandbox.add_task(sandbox_down)
sandbox.add_task(sandbox_status)

drill = Collection("drill")
drill.add_task(drill_failover)

ns = Collection(provision, plan, test, sandbox, drill)
