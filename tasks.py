"""Invoke tasks: a thin layer over fablink_ops.cli.

    invoke provision [--stage S] [--live] [--yes] [--json] [--config PATH]
    invoke plan [--stage S] [--detailed-exitcode] [--json] [--live] [--config PATH]
    invoke sandbox.up | sandbox.down | sandbox.status
    invoke unlock [--live] [--yes] [--json] [--config PATH]
    invoke drill.failover [--to INSTANCE] [--failback] [--live] [--yes] [--json] [--config PATH]
    invoke access.review [--fail-on SEVERITY] [--live] [--json] [--config PATH]
    invoke backup.verify [--checks-only] [--only aurora|dynamodb] [--table NAME] [--row-counts] [--live] [--yes] [--json] [--config PATH]
    invoke backup.cleanup [--live] [--yes] [--json] [--config PATH]
    invoke cost.report [--budget USD] [--live] [--json] [--config PATH]
    invoke test

Every task exits with the code its command returns: 0 success (a runbook:
pass), 1 failed (a runbook: fail or aborted), 2 usage error / invalid config /
guard refusal (nothing changed).
"""

from __future__ import annotations

from fablink_ops import interrupts  # first: a Ctrl-C while the rest loads is ours, exit 130

interrupts.install()

import importlib.util  # noqa: E402
import sys

from invoke import Collection, Exit, task

from fablink_ops import cli
from fablink_ops.resources import STAGE_NAMES
from fablink_ops.runbooks import access as access_runbook
from fablink_ops.runbooks import cost as cost_runbook
from fablink_ops.runbooks import failover as failover_runbook
from fablink_ops.runbooks.backup import sweep as backup_sweep
from fablink_ops.runbooks.backup import verify as backup_verify

HELP = {
    "config": "config file (default config/prod.toml)",
    "live": "act on real AWS (standard credential chain) instead of the local sandbox",
    "yes": "live mode: skip the typed confirmation",
    "json": "print exactly one JSON document on stdout",
    "stage": f"one stage: {', '.join(STAGE_NAMES)} (default: all, in build order)",
    "detailed_exitcode": "exit 0 when nothing would change, 2 when changes are pending, 1 on error",
    "to": "the instance to promote (default: the available reader with the best promotion tier in another AZ)",
    "failback": "afterwards, fail back to the original writer (a second measured failover)",
    "fail_on": "exit 1 when an open finding is at or above this severity: critical, high (default), medium, low",
    "checks_only": "only the read-only checks (retention, RPO, snapshots, PITR, deletion protection): no restore",
    "only": "aurora or dynamodb: check and restore only that engine",
    "table": "one DynamoDB table of the config: check and restore only it",
    "row_counts": "live: also compare the row counts of [backup].row_count_tables over SQL (needs psycopg)",
    "budget": "monthly budget in USD: exit 1 when the estimate exceeds it",
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


@task(help=_help("config", "live", "yes", "json"))
def unlock(c, config="config/prod.toml", live=False, yes=False, json=False):
    """Remove the environment's run lock when its holder is known dead (typed confirmation)."""
    opts = cli.Options(config=config, live=live, yes=yes, json=json)
    _exit(cli.run(cli.cmd_unlock, opts))


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


@task(name="review", help=_help("fail_on", "config", "live", "json"))
def access_review(c, fail_on="high", config="config/prod.toml", live=False, json=False):
    """Access and security review of the whole account, read-only: findings by severity; evidence in reports/."""
    opts = access_runbook.ReviewOptions(config=config, live=live, json=json, fail_on=fail_on)
    _exit(cli.run(access_runbook.command, opts))


@task(name="verify", help=_help("checks_only", "only", "table", "row_counts", "config", "live", "yes", "json"))
def backup_verify_task(c, checks_only=False, only=None, table=None, row_counts=False, config="config/prod.toml", live=False,
                       yes=False, json=False):
    """Backup checks, then restore tests into temporaries (always deleted): RPO, RTO, verdict; evidence in reports/."""
    opts = backup_verify.VerifyOptions(config=config, live=live, yes=yes, json=json, checks_only=checks_only, only=only,
                                       table=table, row_counts=row_counts)
    _exit(cli.run(backup_verify.command, opts))


@task(name="cleanup", help=_help("config", "live", "yes", "json"))
def backup_cleanup_task(c, config="config/prod.toml", live=False, yes=False, json=False):
    """Delete expired temporaries of backup.verify left by killed runs; refuses anything not tagged temporary."""
    opts = backup_sweep.CleanupOptions(config=config, live=live, yes=yes, json=json)
    _exit(cli.run(backup_sweep.command, opts))


@task(name="report", help=_help("budget", "config", "live", "json"))
def cost_report(c, budget=None, config="config/prod.toml", live=False, json=False):
    """Monthly cost of the environment as configured, line by line, with the cost levers and usage; evidence in reports/."""
    opts = cost_runbook.CostOptions(config=config, live=live, json=json, budget=budget)
    _exit(cli.run(cost_runbook.command, opts))


@task
def test(c):
    """Run the test suite (parallel on all cores when pytest-xdist is installed)."""
    interrupts.running()  # Ctrl-C: Invoke's runner stops pytest and reports it, as before
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

access = Collection("access")
access.add_task(access_review)

backup = Collection("backup")
backup.add_task(backup_verify_task)
backup.add_task(backup_cleanup_task)

cost = Collection("cost")
cost.add_task(cost_report)

ns = Collection(provision, plan, unlock, test, sandbox, drill, access, backup, cost)
