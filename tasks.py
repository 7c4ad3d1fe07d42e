"""Invoke tasks: a thin layer over fablink_ops.cli.

    invoke provision [--stage S] [--adopt] [--live] [--yes] [--json] [--config PATH]
    invoke plan [--stage S] [--detailed-exitcode] [--json] [--live] [--config PATH]
    invoke destroy [--stage S] [--live] [--yes] [--json] [--config PATH]
    invoke sandbox.up | sandbox.down | sandbox.status
    invoke unlock [--live] [--yes] [--json] [--config PATH]
    invoke drill.failover [--to INSTANCE] [--failback] [--live] [--yes] [--json] [--config PATH]
    invoke access.review [--fail-on SEVERITY] [--live] [--json] [--config PATH]
    invoke backup.verify [--checks-only] [--only aurora|dynamodb] [--table NAME] [--row-counts] [--live] [--yes] [--json] [--config PATH]
    invoke backup.cleanup [--live] [--yes] [--json] [--config PATH]
    invoke cost.report [--budget USD] [--live] [--json] [--config PATH]
    invoke release --image TAG [--approve] [--bake SECONDS] [--live] [--json] [--config PATH]
    invoke release.rollback | release.status [--live] [--json] [--config PATH]
    invoke reports [--runbook R] [--json] | reports.trend [--out PATH] | invoke version
    invoke test

Every task exits with the code its command returns: 0 success (a runbook:
pass), 1 failed (a runbook: fail or aborted), 2 usage error / invalid config /
guard refusal (nothing changed).
"""

from __future__ import annotations

from fablink_ops import interrupts  # first: a Ctrl-C while the rest loads is ours, exit 130

interrupts.install()

import difflib  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
import sys

from typing import Any

from invoke import Collection, Exit, Task
from invoke import task as invoke_task
from invoke.exceptions import ParseError
from invoke.program import Program

from fablink_ops import cli
from fablink_ops.destroy.command import cmd_destroy
from fablink_ops.resources import STAGE_NAMES
from fablink_ops.runbooks import access as access_runbook
from fablink_ops.runbooks import cost as cost_runbook
from fablink_ops.runbooks import failover as failover_runbook
from fablink_ops.runbooks import release as release_runbook
from fablink_ops.runbooks.backup import sweep as backup_sweep
from fablink_ops.runbooks.backup import verify as backup_verify

# One CLI (issue 18): a short flag means the same on every task, and only
# these have one. Invoke's automatic short flags took the first free letter per
# task, so -f was --failback in one task and --fail-on in another, and -c was
# --config or --checks-only depending on the task.
SHORT_FLAGS = {"config": "c", "json": "j", "live": "l", "yes": "y", "stage": "s", "verbose": "v"}


class OpsTask(Task):
    """An Invoke task whose short flags come from SHORT_FLAGS only."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["auto_shortflags"] = False
        super().__init__(*args, **kwargs)

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts = super().arg_opts(name, default, taken_names)
        if name in SHORT_FLAGS:
            opts["names"] = [*opts["names"], SHORT_FLAGS[name]]
        return opts


def task(*args: Any, **kwargs: Any) -> Any:
    """invoke's @task, making OpsTasks."""
    kwargs.setdefault("klass", OpsTask)
    return invoke_task(*args, **kwargs)


def _did_you_mean(program: Program, error: ParseError) -> str:
    """A close task name or flag for what Invoke could not parse."""
    match = re.search(r"'([^']+)'", str(error))
    if not match:
        return ""
    word = match.group(1)
    if word.startswith("-"):
        known = [f"--{a.name}" for a in (error.context.args.values() if error.context else [])]
        known = [k.replace("_", "-") for k in known]
    else:
        known = list(program.collection.task_names) if program.collection else []
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_invoke_parse_tasks = Program.parse_tasks


def _parse_tasks(self: Program) -> None:
    """Invoke's own parse errors ("No idea what '--stag' is!") are usage
    errors: exit 2 like every other refusal (Invoke exits 1), with the closest
    task or flag. Patched here because tasks.py is loaded before Invoke parses
    the task arguments, and `invoke` itself is the command README promises."""
    try:
        _invoke_parse_tasks(self)
    except ParseError as exc:
        raise Exit(message=f"error: {exc}{_did_you_mean(self, exc)}", code=2) from None


Program.parse_tasks = _parse_tasks  # type: ignore[method-assign]


HELP = {
    "config": "config file (default: $FABLINK_CONFIG, else config/prod.toml; relative paths also from the project root)",
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
    "verbose": "also show the apply's dependency trace: what starts after what, and alongside what",
    "adopt": "take resources that carry our names but none of our ownership tags into management (tags them); "
             "resources tagged for another environment or tool are refused whatever this says",
    "destroy_yes": "skip the typed confirmation of the environment name (pipelines)",
    "row_counts": "live: also compare the row counts of [backup].row_count_tables over SQL (needs psycopg)",
    "budget": "monthly budget in USD: exit 1 when the estimate exceeds it",
    "image": "the image tag (or reference) to release to the idle colour",
    "approve": "approve the promotion to 100% without the typed prompt (pipelines); without it and without a terminal the release rolls back",
    "bake": "seconds each canary step bakes, and the post-promotion watch (default: [release] bake_seconds, watch_seconds)",
}


def _help(*names: str) -> dict[str, str]:
    return {n: HELP[n] for n in names}


def _exit(code: int) -> None:
    if code:
        # The message is already printed; Exit with no text keeps it to one line.
        raise Exit(code=code)


@task(help=_help("stage", "config", "live", "yes", "json", "adopt", "verbose"))
def provision(c, stage=None, config=None, live=False, yes=False, json=False, adopt=False, verbose=False):
    """Plan, then create or correct what differs from the config (sandbox unless --live)."""
    opts = cli.Options(config=config, live=live, yes=yes, json=json, stage=stage, adopt=adopt, verbose=verbose)
    _exit(cli.run(cli.cmd_provision, opts))


@task(help=_help("stage", "config", "live", "json", "detailed_exitcode", "adopt"))
def plan(c, stage=None, config=None, live=False, json=False, detailed_exitcode=False, adopt=False):
    """Show what provision would do. Read-only: no AWS write, ever."""
    opts = cli.Options(config=config, live=live, json=json, stage=stage, detailed_exitcode=detailed_exitcode, adopt=adopt)
    _exit(cli.run(cli.cmd_plan, opts))


@task(help={**_help("stage", "config", "live", "json"), "yes": HELP["destroy_yes"]})
def destroy(c, stage=None, config=None, live=False, yes=False, json=False):
    """Delete a non-production environment (only what carries its tags), in reverse build order; lists what is left."""
    opts = cli.Options(config=config, live=live, yes=yes, json=json, stage=stage)
    _exit(cli.run(cmd_destroy, opts))


@task(help=_help("config", "live", "yes", "json"))
def unlock(c, config=None, live=False, yes=False, json=False):
    """Remove the environment's run lock when its holder is known dead (typed confirmation)."""
    opts = cli.Options(config=config, live=live, yes=yes, json=json)
    _exit(cli.run(cli.cmd_unlock, opts))


@task(name="up", help=_help("config", "json"))
def sandbox_up(c, config=None, json=False):
    """Start the local sandbox (a moto server on 127.0.0.1), or reuse the running one."""
    _exit(cli.run(cli.cmd_sandbox_up, cli.Options(config=config, json=json)))


@task(name="down", help=_help("json"))
def sandbox_down(c, json=False):
    """Stop the sandbox; everything in it is gone."""
    _exit(cli.run(cli.cmd_sandbox_down, cli.Options(json=json)))


@task(name="status", help=_help("config", "json"))
def sandbox_status(c, config=None, json=False):
    """Endpoint, uptime, and what exists in the sandbox per stage."""
    _exit(cli.run(cli.cmd_sandbox_status, cli.Options(config=config, json=json)))


@task(name="failover", help=_help("to", "failback", "config", "live", "yes", "json"))
def drill_failover(c, to=None, failback=False, config=None, live=False, yes=False, json=False):
    """Aurora failover drill: preflight, fail over, measure the RTO, verdict; evidence in reports/."""
    opts = failover_runbook.FailoverOptions(config=config, live=live, yes=yes, json=json, to=to, failback=failback)
    _exit(cli.run(failover_runbook.command, opts))


@task(name="review", help=_help("fail_on", "config", "live", "json"))
def access_review(c, fail_on="high", config=None, live=False, json=False):
    """Access and security review of the whole account, read-only: findings by severity; evidence in reports/."""
    opts = access_runbook.ReviewOptions(config=config, live=live, json=json, fail_on=fail_on)
    _exit(cli.run(access_runbook.command, opts))


@task(name="verify", help=_help("checks_only", "only", "table", "row_counts", "config", "live", "yes", "json"))
def backup_verify_task(c, checks_only=False, only=None, table=None, row_counts=False, config=None, live=False,
                       yes=False, json=False):
    """Backup checks, then restore tests into temporaries (always deleted): RPO, RTO, verdict; evidence in reports/."""
    opts = backup_verify.VerifyOptions(config=config, live=live, yes=yes, json=json, checks_only=checks_only, only=only,
                                       table=table, row_counts=row_counts)
    _exit(cli.run(backup_verify.command, opts))


@task(name="cleanup", help=_help("config", "live", "yes", "json"))
def backup_cleanup_task(c, config=None, live=False, yes=False, json=False):
    """Delete expired temporaries of backup.verify left by killed runs; refuses anything not tagged temporary."""
    opts = backup_sweep.CleanupOptions(config=config, live=live, yes=yes, json=json)
    _exit(cli.run(backup_sweep.command, opts))


@task(name="run", default=True, help=_help("image", "approve", "bake", "config", "live", "json"))
def release_run(c, image=None, approve=False, bake=None, config=None, live=False, json=False):
    """Blue-green release: deploy to the idle colour, canary 10% -> 50%, approval, promote; automatic rollback; evidence in reports/."""
    opts = release_runbook.ReleaseOptions(config=config, live=live, json=json, image=image, approve=approve, bake=bake)
    _exit(cli.run(release_runbook.command, opts))


@task(name="rollback", help=_help("config", "live", "json"))
def release_rollback(c, config=None, live=False, json=False):
    """Remove a release's canary (a running or killed release): 100% back on the live colour, verified; evidence in reports/."""
    _exit(cli.run(release_runbook.rollback_command, cli.Options(config=config, live=live, json=json)))


@task(name="status", help=_help("config", "live", "json"))
def release_status(c, config=None, live=False, json=False):
    """The live colour, the image of each colour, the canary and any release in progress (read from API Gateway)."""
    _exit(cli.run(release_runbook.status_command, cli.Options(config=config, live=live, json=json)))


@task(help=_help("stage", "config", "live", "json"))
def output(c, stage=None, config=None, live=False, json=False):
    """What the environment is, read from AWS: ids and endpoints per stage, and the operator steps still due."""
    _exit(cli.run(cli.cmd_output, cli.Options(config=config, live=live, json=json, stage=stage)))


@task(help={"out": "write it to this file (default: stdout)", **_help("config", "json")})
def policy(c, out=None, config=None, json=False):
    """The IAM policy the environment's operators need (docs/operator-policy.json, its data deletes scoped to this environment's temporaries); reads no AWS."""
    _exit(cli.run(cli.cmd_policy, cli.Options(config=config, json=json, out=out)))


@task(help=_help("json"))
def version(c, json=False):
    """The tool's version and git commit."""
    _exit(cli.run(cli.cmd_version, cli.Options(json=json)))


@task(name="list", default=True, help={"runbook": "only this runbook's runs (e.g. drill.failover)", "json": HELP["json"]})
def reports_list(c, runbook=None, json=False):
    """Past runbook runs from reports/: when, which, sandbox or live, verdict and reason; newest first."""
    _exit(cli.run(cli.cmd_reports, cli.Options(json=json, runbook=runbook)))


@task(name="report", help=_help("budget", "config", "live", "json"))
def cost_report(c, budget=None, config=None, live=False, json=False):
    """Monthly cost of the environment as configured, line by line, with the cost levers and usage; evidence in reports/."""
    opts = cost_runbook.CostOptions(config=config, live=live, json=json, budget=budget)
    _exit(cli.run(cost_runbook.command, opts))


@task(name="trend", help={"out": "where to write the page (default reports/trend.html)", "json": HELP["json"]})
def reports_trend(c, out=None, json=False):
    """An HTML page with plots of RTO, RPO and findings over time, from reports/; opens with no server."""
    _exit(cli.run(cli.cmd_reports_trend, cli.Options(json=json, out=out)))


@task(name="manifests", help={"out": "a folder: one YAML file per object, in apply order (default: one stream on stdout)",
                              **_help("config", "live", "json")})
def workload_manifests(c, out=None, config=None, live=False, json=False):
    """The workload's Kubernetes objects (rendered, validated) as YAML, for review and GitOps; reads only."""
    _exit(cli.run(cli.cmd_workload_manifests, cli.Options(config=config, live=live, json=json, out=out)))


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

release = Collection("release")
release.add_task(release_run)
release.add_task(release_rollback)
release.add_task(release_status)

reports = Collection("reports")
reports.add_task(reports_list)
reports.add_task(reports_trend)

workload = Collection("workload")
workload.add_task(workload_manifests)

ns = Collection(provision, plan, output, destroy, unlock, policy, version, test, sandbox, drill, access, backup, cost, release, reports, workload)
