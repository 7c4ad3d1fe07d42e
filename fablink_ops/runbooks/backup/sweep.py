"""``invoke backup.cleanup``: delete the expired temporaries that a killed
backup.verify left behind (SIGKILL, a lost laptop, a cleanup wait cut short).

Discovery, read-only: every Aurora cluster (one paginated describe, tags
included) and every DynamoDB table (ListTables, then DescribeTable and
ListTagsOfResource per table) whose name is under [backup].temporary_prefix.
Nothing else is ever considered, so a production resource is never a
candidate, whatever its tags. Each candidate is then:

- refused when it is not a temporary by the rule of cleanup.refusal (tagged
  temporary=true, ManagedBy=fablink-ops, with a run id) or has no readable
  expiry: left alone, and the verdict is fail so a person looks at it;
  except a DynamoDB table restored by a run killed before it could tag it:
  recognised by cleanup.restored_untagged (name and RestoreSummary), tagged
  as the temporary it is, then treated like the others;
- left alone when it has not expired yet: a run may still be using it;
- deleted when it has expired (deletion protection turned off first if on).

Evidence like every runbook (reports/<UTC>-backup.cleanup.json and .md).
Exit 0 when nothing is left that should go, 1 otherwise, 2 usage/guard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Unpack

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...session import Options, Session, confirm_live
from ...engine import Context
from ...report import FAIL, FAILED_STEP, OK, PASS, SKIPPED, Report, iso
from ...target import error_code
from .. import Frame, execute
from .cleanup import (AURORA, CLEAN, TABLE, TEMPORARY_TAG, Temporary, delete_all, expiry, refusal, restored_untagged,
                      under_prefix)

RUNBOOK = "backup.cleanup"


@dataclass
class Candidate:
    temporary: Temporary
    tags: dict[str, str]
    status: str
    untagged: bool = False  # a restore killed before its tagging, recognised by name and RestoreSummary


def discover(ctx: Context) -> list[Candidate]:
    cfg = ctx.cfg
    found: list[Candidate] = []
    for c in ctx.client("rds").paginate("describe_db_clusters", "DBClusters"):
        if under_prefix(cfg, c["DBClusterIdentifier"]):
            found.append(Candidate(Temporary(AURORA, c["DBClusterIdentifier"]), tagging.from_list(c.get("TagList")), c.get("Status", "")))
    ddb = ctx.client("dynamodb")
    for name in ddb.paginate("list_tables", "TableNames"):
        if not under_prefix(cfg, name):
            continue
        try:
            table = ddb.describe_table(TableName=name)["Table"]
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                continue  # deleted since the listing
            raise
        tags = tagging.from_list(ddb.paginate("list_tags_of_resource", "Tags", ResourceArn=table["TableArn"]))
        recognised = restored_untagged(cfg, name, table) if TEMPORARY_TAG not in tags else None
        found.append(Candidate(Temporary(TABLE, name), recognised or tags, table.get("TableStatus", ""), untagged=bool(recognised)))
    return sorted(found, key=lambda c: (c.temporary.kind, c.temporary.name))


def run(ctx: Context, report: Report, confirm: Callable[[str, str], None]) -> None:
    cfg = ctx.cfg
    started = ctx.clock()
    candidates = discover(ctx)
    now = report.moment()
    report.measure("prefix", f"{cfg.backup.temporary_prefix}-")
    expired: list[Temporary] = []
    refused: list[str] = []
    kept: list[str] = []
    results: dict[str, dict[str, str]] = {}
    for c in candidates:
        t = c.temporary
        why = refusal(cfg, t.name, c.tags)
        until = expiry(c.tags)
        if why is None and until is None:
            why = f"its expires tag {c.tags.get('expires')!r} is not a UTC time"
        if c.untagged and not why:
            report.record(f"recognised: {t.label()}", OK,
                          f"untagged, but named as a temporary of run {c.tags.get('backup-run')} and restored from a table of "
                          f"this environment (RestoreSummary): a restore killed before its tagging; expires {iso(until)}", started)
        if why:
            refused.append(t.name)
            results[t.name] = {"kind": t.kind, "result": "refused", "detail": why}
            report.record(f"refused: {t.label()}", SKIPPED, f"{why}: left alone; check it and delete it by hand if it is a leftover", started)
        elif until is not None and until > now:
            kept.append(t.name)
            results[t.name] = {"kind": t.kind, "result": "not expired", "detail": f"expires {iso(until)}"}
            report.record(f"not expired: {t.label()}", SKIPPED, f"expires {iso(until)} (run {c.tags.get('backup-run')} may still use it)", started)
        else:
            expired.append(t)
    if not candidates:
        report.record("discover", OK, f"nothing under {cfg.backup.temporary_prefix}-", started)
    if expired:
        confirm(cfg.project.environment_name,
                f"This DELETES {len(expired)} expired temporar{'y' if len(expired) == 1 else 'ies'} of backup.verify in the LIVE account "
                f"{cfg.project.account_id}: {', '.join(t.name for t in expired)}. Type [bold]{cfg.project.environment_name}[/] to go ahead:")
        # A recognised untagged restore is tagged as the temporary it is
        # before deleting, so the one rule (refusal) decides for it too.
        recognised = {c.temporary: c.tags for c in candidates if c.untagged}
        cleanup = delete_all(ctx, expired, cfg.backup.cleanup_wait_minutes * 60, adopt=recognised.get)
        for o in cleanup.outcomes:
            results[o.temporary.name] = o.to_json()
            report.record(f"delete: {o.temporary.label()}", OK if o.result in CLEAN else FAILED_STEP, f"{o.result}: {o.detail}", started)
        left = [o.temporary.name for o in cleanup.left]
    else:
        left = []
    report.measure("candidates", results)
    deleted = [n for n, r in results.items() if r["result"] in CLEAN]
    summary = f"{len(deleted)} deleted, {len(kept)} not expired yet"
    if refused or left:
        problems = []
        if refused:
            problems.append(f"refused (not tagged as a temporary of backup.verify): {', '.join(refused)}")
        if left:
            problems.append(f"not deleted: {', '.join(left)}")
        report.conclude(FAIL, f"{summary}; " + "; ".join(problems))
    else:
        report.conclude(PASS, summary if candidates else f"no temporaries under {cfg.backup.temporary_prefix}-")


@dataclass
class CleanupOptions(Options):
    pass


def command(
    opts: CleanupOptions,
    **frame: Unpack[Frame],
) -> int:
    parameters = {"live": opts.live, "yes": opts.yes, "config": opts.config}

    def body(ctx: Context, report: Report, s: Session) -> None:
        run(ctx, report, lambda expected, prompt: confirm_live(s, expected, prompt))

    return execute(opts, RUNBOOK, body, parameters, lock=True, **frame)
