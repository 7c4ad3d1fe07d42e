"""``invoke backup.verify``: can we restore, how much data would we lose (RPO),
how long would it take (RTO)? Human runbook: runbooks/backup-verify.md.

1. Checks, read-only (checks.py): Aurora retention, latest restorable time
   within the RPO budget, automated snapshots, deletion protection; per table
   PITR on, latest restorable time within budget, deletion protection.
   ``--checks-only`` stops here.
2. Confirm (live): the operator types the environment's name, or gave --yes.
3. Restore tests: every source that can be restored is restored to its latest
   restorable time into a temporary (cleanup.py names and tags them). The
   restores run concurrently in AWS, at most [backup].aurora_concurrency and
   [backup].dynamodb_concurrency in flight; one loop polls them all every
   [backup].poll_interval_seconds on one clock (the RTO's resolution), and
   hands each ready one to a worker thread for verification (aurora.py,
   items.py, sql.py) while it keeps polling the others.
4. Cleanup, always: every temporary this run may have created (registered
   before its request, so a lost answer is covered) is deleted, whatever
   ended the restores: the end, a failed restore, a timeout, an AWS error,
   Ctrl-C, a crash of our own code.
5. Verdict: pass only if every check, restore and verification passed and
   every temporary was deleted.

The Aurora cluster is found by its identifier ([backup].aurora_cluster); this
module does not depend on the aurora provisioning stage.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Unpack

from botocore.exceptions import BotoCoreError, ClientError

from ... import paths
from ...session import Options, Session, confirm_live
from ...config import Config, load_config
from ...engine import Context, usage_error
from ...errors import OpsError
from ...report import FAIL, FAILED_STEP, OK, PASS, SKIPPED, Aborted, Report, iso
from ...target import wrap_aws_error
from .. import Frame, execute
from . import aurora, dynamodb, items, recovery_points, sql
from .aurora import AuroraRestore, Verification
from .checks import AuroraSource, Check, TableSource, aurora_checks, read_aurora, read_tables, table_checks
from .cleanup import (AURORA, TABLE, Cleanup, Temporary, cluster_name, delete_all, instance_name, new_run_id, table_name,
                      temporary_tags)
from .dynamodb import TableRestore

RUNBOOK = "backup.verify"
ONLY = ("aurora", "dynamodb")
Job = AuroraRestore | TableRestore
REQUEST_FAILED = "request failed"


@dataclass
class VerifyOptions(Options):
    checks_only: bool = False
    only: str | None = None
    table: str | None = None
    row_counts: bool = False


@dataclass(frozen=True)
class Scope:
    aurora: bool
    tables: tuple[str, ...]


def scope(cfg: Config, only: str | None, table: str | None) -> Scope:
    """What the run covers. A bad --only or --table is a usage error (exit 2)."""
    if only is not None and only not in ONLY:
        raise usage_error(f"--only {only!r}: choose aurora or dynamodb")
    names = [t.name for t in cfg.dynamodb.tables]
    if table is not None:
        if only == "aurora":
            raise usage_error(f"--table {table} names a DynamoDB table: it cannot go with --only aurora")
        if table not in names:
            raise usage_error(f"--table {table!r} is not in [dynamodb].tables of {cfg.path}: choose one of {', '.join(names)}")
        return Scope(False, (table,))
    return Scope(only != "dynamodb", tuple(names) if only != "aurora" else ())


@dataclass
class Resource:
    """One source's results: checks, RPO, restore, verification."""

    label: str
    checks: list[Check]
    rpo: float | None
    restore: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # of the restore test

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and not self.problems

    def reasons(self) -> list[str]:
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok] + self.problems

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": "pass" if self.ok else "fail", "rpo_seconds": self.rpo}
        out["checks"] = {c.name: "skipped (sandbox)" if c.skipped else "ok" if c.ok else f"FAILED: {c.detail}" for c in self.checks}
        if self.restore:
            out["restore"] = self.restore
        return out


# --------------------------------------------------------------------------
# the run


def run(
    ctx: Context,
    report: Report,
    confirm: Callable[[str, str], None],
    covered: Scope,
    checks_only: bool = False,
    row_counts: bool = False,
    run_id: str | None = None,
    connect: sql.Connect | None = None,
) -> None:
    cfg = ctx.cfg.backup
    run_id = run_id or new_run_id(report.moment_started())
    expires = report.moment_started() + timedelta(hours=cfg.expiry_hours)
    report.measure("run_id", run_id)
    report.measure("rpo_budget_seconds", cfg.rpo_budget_minutes * 60)
    report.measure("scope", {"aurora": cfg.aurora_cluster if covered.aurora else None, "tables": list(covered.tables)})
    if not ctx.target.is_live:
        report.measure("note", "sandbox: moto restores at once and reports no real backup lag, so RPO and RTO measure the tool, not AWS")

    resources, src_cluster, src_tables = _check(ctx, report, covered)
    if checks_only:
        report.record("restore tests", SKIPPED, "--checks-only")
        _conclude(report, resources, None, checks_only=True)
        return

    jobs = _plan(ctx, report, resources, src_cluster, src_tables, run_id, expires)
    if not jobs:
        _conclude(report, resources, None)
        return
    _confirm_restores(ctx, report, confirm, jobs)
    temporaries: list[Temporary] = []
    # The tags of each temporary, put on before deleting one that a crash or
    # a failed call left untagged (cleanup.py).
    tags_of = {t.name: j.tags for j in jobs for t in _temporaries(j)}
    error: BaseException | None = None
    results: dict[int, list[tuple[str, Verification]]] = {}
    try:
        results = restore_all(ctx, report, jobs, temporaries, lambda job: _verify(ctx, job, row_counts, connect))
    except BaseException as exc:  # noqa: BLE001 - cleaned up below, then re-raised
        error = exc
    try:
        _record_restores(report, resources, jobs, results)
    finally:
        cleanup = _clean_up(ctx, report, temporaries, lambda t: tags_of.get(t.name))
    report.measure("resources", {label: r.to_json() for label, r in resources.items()})
    if error is not None:
        note = cleanup.summary()
        if isinstance(error, KeyboardInterrupt):
            raise Aborted(f"interrupted by the operator (Ctrl-C) during the restore tests; {note}") from None
        if isinstance(error, OpsError):
            raise Aborted(f"{error.message}; {note}") from None
        if isinstance(error, (ClientError, BotoCoreError)):
            raise Aborted(f"{wrap_aws_error(error, 'restore tests').message}; {note}") from None
        raise error  # a bug or an injected crash: as it is, after the cleanup
    _conclude(report, resources, cleanup)


def _confirm_restores(ctx: Context, report: Report, confirm: Callable[[str, str], None], jobs: list) -> None:
    """Live: the operator types the environment's name before any restore (GuardError otherwise)."""
    what = ", ".join(j.label for j in jobs)
    confirm(
        ctx.cfg.project.environment_name,
        f"This restores {what} into TEMPORARY resources in the LIVE account {ctx.cfg.project.account_id} "
        f"(an Aurora PITR restore takes 20+ minutes; billed while it lives), then deletes them. "
        f"Type [bold]{ctx.cfg.project.environment_name}[/] to go ahead:",
    )
    report.record("confirmation", OK, "sandbox: no confirmation needed" if not ctx.target.is_live
                  else "--yes given" if report.parameters.get("yes") else f"the operator typed {ctx.cfg.project.environment_name}")


def _check(ctx: Context, report: Report, covered: Scope) -> tuple[dict[str, Resource], AuroraSource | None, dict[str, TableSource | None]]:
    cfg = ctx.cfg
    started = ctx.clock()
    src_cluster = read_aurora(ctx, cfg.backup.aurora_cluster) if covered.aurora else None
    src_tables = read_tables(ctx, list(covered.tables))
    now = report.moment()
    resources: dict[str, Resource] = {}
    if covered.aurora:
        checks, rpo = aurora_checks(cfg, src_cluster, now)
        if src_cluster is not None:  # the plan beyond PITR (backup stage)
            checks.append(recovery_points.check(ctx, src_cluster.label, src_cluster.arn, now))
        resources[f"aurora {cfg.backup.aurora_cluster}"] = Resource(f"aurora {cfg.backup.aurora_cluster}", checks, rpo)
    for name in covered.tables:
        src = src_tables.get(name)
        checks, rpo = table_checks(cfg, name, src, now, sandbox=not ctx.target.is_live)
        if src is not None:
            checks.append(recovery_points.check(ctx, src.label, src.arn, now))
        resources[f"dynamodb {name}"] = Resource(f"dynamodb {name}", checks, rpo)
    for res in resources.values():
        for c in res.checks:
            report.record(f"check {c.resource}: {c.name}", SKIPPED if c.skipped else OK if c.ok else FAILED_STEP, c.detail, started)
    return resources, src_cluster, src_tables


def _plan(ctx: Context, report: Report, resources: dict[str, Resource], src_cluster: AuroraSource | None,
          src_tables: dict[str, TableSource | None], run_id: str, expires: datetime) -> list[Job]:
    """The restores to run; a source that cannot be restored is a skipped step and a problem."""
    cfg = ctx.cfg
    jobs: list[Job] = []

    def cannot(label: str, why: str) -> None:
        report.record(f"restore {label}", SKIPPED, why)
        resources[label].problems.append(f"restore not possible: {why}")
        resources[label].restore = {"result": "not possible", "detail": why}

    label = f"aurora {cfg.backup.aurora_cluster}"
    if label in resources:
        if src_cluster is None:
            cannot(label, "the cluster does not exist")
        else:
            name = cluster_name(cfg, run_id)
            jobs.append(AuroraRestore(src_cluster, name, instance_name(name), temporary_tags(cfg, name, run_id, expires)))
    for table, src in src_tables.items():
        label = f"dynamodb {table}"
        if src is None:
            cannot(label, "the table does not exist")
        elif src.pitr != "ENABLED":
            cannot(label, "point-in-time recovery is off: there is nothing to restore from")
        elif src.status not in ("ACTIVE", "UPDATING"):
            cannot(label, f"the table is {src.status}")
        else:
            name = table_name(cfg, run_id, table)
            jobs.append(TableRestore(src, name, temporary_tags(cfg, name, run_id, expires)))
    return jobs


def _temporaries(job: Job) -> list[Temporary]:
    if isinstance(job, AuroraRestore):
        return [Temporary(AURORA, job.cluster)]  # its instance goes with it
    return [Temporary(TABLE, job.temp)]


# --------------------------------------------------------------------------
# restoring: one polling loop, verifications in worker threads


Verify = Callable[[Job], "list[tuple[str, Verification]]"]


def restore_all(ctx: Context, report: Report, jobs: list[Job], temporaries: list[Temporary], verify: Verify) -> dict[int, list[tuple[str, Verification]]]:
    """Run every restore, bounded per engine; verify each as soon as it is
    ready. ``temporaries`` gets each job's temporaries BEFORE its request.
    Returns {index of the job: [(step name, verification), ...]}."""
    cfg = ctx.cfg.backup
    queues: dict[str, list[Job]] = {"aurora": [j for j in jobs if isinstance(j, AuroraRestore)],
                                    "dynamodb": [j for j in jobs if isinstance(j, TableRestore)]}
    caps = {"aurora": cfg.aurora_concurrency, "dynamodb": cfg.dynamodb_concurrency}
    inflight: dict[str, list[Job]] = {"aurora": [], "dynamodb": []}
    futures: dict[int, Future] = {}
    index = {id(j): i for i, j in enumerate(jobs)}
    shown: dict[int, str] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, ctx.cfg.engine.concurrency), thread_name_prefix="backup-verify")
    try:
        while True:
            for kind, queue in queues.items():
                while queue and len(inflight[kind]) < caps[kind]:
                    job = queue.pop(0)
                    temporaries.extend(_temporaries(job))
                    _request(ctx, report, job)
                    inflight[kind].append(job)
            busy = [j for j in inflight["aurora"] if not j.finished]
            phase = {id(j): j.instance_requested for j in busy if isinstance(j, AuroraRestore)}
            aurora.poll(ctx, busy)  # type: ignore[arg-type]
            for job in inflight["dynamodb"]:
                if not job.finished:
                    dynamodb.poll(ctx, job)  # type: ignore[arg-type]
            for kind in inflight:
                for job in list(inflight[kind]):
                    _progress(ctx, job, shown)
                    if job.finished:
                        inflight[kind].remove(job)
                        _record_ready(report, job)
                        if job.ready:
                            futures[index[id(job)]] = pool.submit(verify, job)
            if not any(queues.values()) and not any(inflight.values()):
                break
            if any(queue and len(inflight[kind]) < caps[kind] for kind, queue in queues.items()):
                continue  # a slot came free: start the next restore now, not a poll later
            # An instance just requested: look again at once (in the sandbox it
            # is already there; in AWS this costs one describe).
            if any(isinstance(j, AuroraRestore) and phase.get(id(j)) is None and j.instance_requested is not None and not j.finished
                   for j in busy):
                continue
            ctx.sleep(cfg.poll_interval_seconds * ctx.poll_scale)  # poll_scale: the benchmark scales waits down
        return {i: futures[i].result() for i in sorted(futures)}
    except BaseException:
        ctx.cancel.set()  # verifications stop at their next page
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _request(ctx: Context, report: Report, job: Job) -> None:
    started = ctx.clock()
    temp = job.cluster if isinstance(job, AuroraRestore) else job.temp
    try:
        (aurora.request if isinstance(job, AuroraRestore) else dynamodb.request)(ctx, job)  # type: ignore[arg-type]
    except (ClientError, BotoCoreError) as exc:
        job.error = wrap_aws_error(exc, f"restore {job.label}").message
        job.status = REQUEST_FAILED
        report.record(f"restore {job.label}: requested", FAILED_STEP, job.error, started)
        return
    report.record(f"restore {job.label}: requested", OK, f"to its latest restorable time, into {temp}", started)


def _progress(ctx: Context, job: Job, shown: dict[int, str]) -> None:
    if shown.get(id(job)) != job.status and not job.finished:
        shown[id(job)] = job.status
        elapsed = ctx.clock() - (job.requested or ctx.clock())
        ctx.reporter.info(f"  restore {job.label}: {job.status} after {elapsed:.0f}s")


def _record_ready(report: Report, job: Job) -> None:
    if isinstance(job, AuroraRestore):
        name = f"restore {job.label}: available"
        ready = f"instance {job.instance} available {job.rto:.0f}s after the request (RTO); cluster available after {job.seconds(job.cluster_available_at):.0f}s" if job.ready else ""
    else:
        name = f"restore {job.label}: active"
        ready = f"{job.temp} ACTIVE {job.rto:.0f}s after the request (RTO)" if job.ready else ""
    if job.status == REQUEST_FAILED:
        return  # recorded as the request's step
    if job.error and job.requested is not None:
        report.record(name, FAILED_STEP, job.error, job.requested)
    elif job.ready:
        report.record(name, OK, ready, job.requested)


def _verify(ctx: Context, job: Job, row_counts: bool, connect: sql.Connect | None) -> list[tuple[str, Verification]]:
    """In a worker thread: never touches the report; AWS errors become a failed verification."""
    out: list[tuple[str, Verification]] = []
    try:
        if isinstance(job, AuroraRestore):
            out.append((f"verify {job.label}", aurora.verify(ctx, job)))
            if row_counts:
                if not ctx.target.is_live:
                    rc = Verification(True, "sandbox: the restored cluster is no real database", status=SKIPPED)
                else:
                    rc = sql.row_counts(ctx, job.source, job.cluster_view.get("Endpoint", ""), int(job.cluster_view.get("Port") or job.source.port), connect)
                out.append((f"verify {job.label}: row counts", rc))
        else:
            out.append((f"verify {job.label}: schema", _verify_schema(ctx, job)))
            src = job.source
            cmp = items.compare(ctx, src.name, job.temp, src.key, src.item_count)
            out.append((f"verify {job.label}: items", Verification(cmp.ok, cmp.detail(), cmp.facts())))
    except (ClientError, BotoCoreError) as exc:
        out.append((f"verify {job.label}", Verification(False, wrap_aws_error(exc, "verify").message)))
    except OpsError as exc:
        out.append((f"verify {job.label}", Verification(False, exc.message)))
    return out


def _verify_schema(ctx: Context, job: TableRestore) -> Verification:
    """Key schema and indexes as the source's (a restore copies them)."""
    desc = ctx.client("dynamodb").describe_table(TableName=job.temp)["Table"]
    key = tuple(k["AttributeName"] for k in sorted(desc.get("KeySchema", []), key=lambda k: k["KeyType"] != "HASH"))
    indexes = tuple(sorted(i["IndexName"] for i in desc.get("GlobalSecondaryIndexes", [])))
    src = job.source
    wrong = []
    if key != src.key:
        wrong.append(f"key {' + '.join(key)} (source: {' + '.join(src.key)})")
    if indexes != src.indexes:
        wrong.append(f"indexes {', '.join(indexes) or 'none'} (source: {', '.join(src.indexes) or 'none'})")
    facts = {"key": list(key), "indexes": list(indexes)}
    if wrong:
        return Verification(False, "differs from the source: " + "; ".join(wrong), facts)
    return Verification(True, f"key {' + '.join(key)}, indexes: {', '.join(indexes) or 'none'}: as the source", facts)


def _record_restores(report: Report, resources: dict[str, Resource], jobs: list[Job], results: dict[int, list[tuple[str, Verification]]]) -> None:
    """The verification steps (in the jobs' order) and each restore's evidence."""
    for i, job in enumerate(jobs):
        res = resources[job.label]
        evidence: dict[str, Any] = {
            "temporary": job.cluster if isinstance(job, AuroraRestore) else job.temp,
            "requested_at": report.timestamp(job.requested) if job.requested is not None else None,
        }
        if isinstance(job, AuroraRestore):
            evidence["cluster_available_seconds"] = job.seconds(job.cluster_available_at)
            evidence["instance"] = job.instance
            evidence["available_at"] = report.timestamp(job.instance_available_at) if job.ready else None
        else:
            evidence["restored_to"] = iso(job.restored_to) if job.restored_to else None
            evidence["available_at"] = report.timestamp(job.active_at) if job.ready else None
        evidence["rto_seconds"] = job.rto
        evidence["polls"] = job.polls
        if job.error:
            res.problems.append(job.error)
            evidence["error"] = job.error
        elif not job.ready:
            why = "not finished (the run was stopped)"
            res.problems.append(why)
            evidence["error"] = why
        verifications: dict[str, Any] = {}
        for name, v in results.get(i, []):
            status = v.status or (OK if v.ok else FAILED_STEP)
            report.record(name, status, v.detail, job.active_at if isinstance(job, TableRestore) else job.instance_available_at)
            if not v.ok:
                res.problems.append(f"{name.removeprefix(f'verify {job.label}').lstrip(': ') or 'verification'}: {v.detail}")
            verifications[name.removeprefix(f"verify {job.label}").lstrip(": ") or "cluster"] = dict(v.facts, result=status, detail=v.detail)
        if verifications:
            evidence["verification"] = verifications
        evidence["result"] = "pass" if not res.problems else "fail"
        res.restore = evidence


def _clean_up(ctx: Context, report: Report, temporaries: list[Temporary], adopt: Callable[[Temporary], dict[str, str] | None]) -> Cleanup:
    started = ctx.clock()
    if not temporaries:
        return Cleanup()
    cleanup = delete_all(ctx, temporaries, ctx.cfg.backup.cleanup_wait_minutes * 60, adopt)
    for o in cleanup.outcomes:
        ok = o.result in ("deleted", "gone")
        report.record(f"cleanup: {o.temporary.label()}", OK if ok else FAILED_STEP, f"{o.result}: {o.detail}", started)
    report.measure("temporaries", {o.temporary.name: o.to_json() for o in cleanup.outcomes})
    return cleanup


# --------------------------------------------------------------------------
# the verdict


def _conclude(report: Report, resources: dict[str, Resource], cleanup: Cleanup | None, checks_only: bool = False) -> None:
    if "resources" not in report.measurements:
        report.measure("resources", {label: r.to_json() for label, r in resources.items()})
    failed = [r for r in resources.values() if not r.ok]
    left = cleanup is not None and bool(cleanup.left)
    tail = f"; {cleanup.summary()}" if cleanup is not None and cleanup.outcomes else ""
    if failed or left:
        parts = [f"{r.label}: {'; '.join(r.reasons())}" for r in failed]
        head = f"{len(failed)} of {len(resources)} resource(s) fail: " if failed else "every resource passes, but "
        report.conclude(FAIL, head + " | ".join(parts) + tail)
        return
    # an RPO whose check was skipped (moto's frozen value) is no RPO to report
    rpos = [r.rpo for r in resources.values() if r.rpo is not None and not any(c.skipped and c.name == "latest restorable time" for c in r.checks)]
    rpo = f"RPO at most {max(rpos):.0f}s" if rpos else "no RPO"
    if checks_only:
        report.conclude(PASS, f"checks pass for {len(resources)} resource(s), {rpo}; restore tests skipped (--checks-only)")
        return
    rtos = [r.restore.get("rto_seconds") for r in resources.values() if r.restore.get("rto_seconds") is not None]
    rto = f"RTO at most {max(rtos):.0f}s" if rtos else "no RTO"
    report.conclude(PASS, f"{len(resources)} resource(s) restored and verified, {rpo}, {rto}{tail}")


# --------------------------------------------------------------------------
# the command behind `invoke backup.verify`


def command(
    opts: VerifyOptions,
    run_id: str | None = None,
    connect: sql.Connect | None = None,
    **frame: Unpack[Frame],
) -> int:
    """Exit 0 pass, 1 fail or aborted, 2 usage error, invalid config or guard refusal."""
    only, table = opts.only or None, opts.table or None
    if only is not None and only not in ONLY:
        raise usage_error(f"--only {only!r}: choose aurora or dynamodb")
    session = frame.get("session")
    cfg = session.cfg if session else load_config(paths.config_path(opts.config))
    covered = scope(cfg, only, table)
    if opts.row_counts and not cfg.backup.row_count_tables:
        raise usage_error(f"--row-counts: no tables to count: list them in [backup].row_count_tables of {cfg.path}")
    if opts.row_counts and not covered.aurora:
        raise usage_error("--row-counts compares Aurora tables: it cannot go with --only dynamodb or --table")
    parameters = {"checks_only": opts.checks_only, "only": only, "table": table, "row_counts": opts.row_counts,
                  "live": opts.live, "yes": opts.yes, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        run(ctx, report, lambda expected, prompt: confirm_live(s, expected, prompt), covered,
            checks_only=opts.checks_only, row_counts=opts.row_counts, run_id=run_id, connect=connect)

    return execute(opts, RUNBOOK, body, parameters, lock=not opts.checks_only, **frame)  # restores act: one operator at a time
