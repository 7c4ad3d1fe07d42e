"""Temporaries: how backup.verify names and tags what it creates, and how
they are deleted, by the run itself and by ``invoke backup.cleanup``.

A temporary is named ``<[backup].temporary_prefix>-<run id>`` (the restored
Aurora cluster; its instance adds ``-1``) or ``<prefix>-<run id>-<table>``
(a restored DynamoDB table, the table's name without ``fablink-prod-``). Config
validation keeps every production name out of the prefix. Each carries our
base tags (ManagedBy=fablink-ops, Stage=backup, Name) plus

    temporary = true
    expires = <UTC, ISO 8601>      the run's start + [backup].expiry_hours
    backup-run = <run id>

A resource is deleted as a temporary only when ALL of these hold (``refusal``):
its name is under the prefix, is not a production name from the config, and it
is tagged temporary=true, ManagedBy=fablink-ops and with a run id. Deletion
protection is turned off on such a resource only, just before deleting it.

Deleting may have to wait: a table or cluster still being restored cannot be
deleted (DynamoDB: ResourceInUseException; RDS: InvalidDBClusterStateFault).
``delete_all`` retries those until the cleanup budget, then leaves them,
tagged with their expiry, for ``backup.cleanup``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from ... import tags as tagging
from ...config import Config
from ...engine import Context
from ...errors import OpsError
from ...report import iso
from ..cluster import read_db_cluster
from ...target import error_code, wrap_aws_error

STAGE = "backup"
TEMPORARY_TAG = "temporary"
EXPIRES_TAG = "expires"
RUN_TAG = "backup-run"

AURORA = "aurora-cluster"
TABLE = "dynamodb-table"

# outcomes of one deletion attempt
DELETED = "deleted"  # deletion requested (AWS finishes it in the background) or under way
GONE = "gone"  # nothing to delete (never created, or deleted already)
PENDING = "pending"  # not deletable yet (still being created): try again
REFUSED = "refused"  # not a temporary: never touched
FAILED = "failed"  # AWS refused for another reason
LEFT = "left"  # still pending when the budget ran out or the operator stopped the wait

CLEAN = (DELETED, GONE)


# --------------------------------------------------------------------------
# names and tags


def new_run_id(moment: datetime) -> str:
    """20300102030405-a1b2: the run's UTC start, and 4 hex digits so two runs
    started in the same second never share a name."""
    return f"{moment:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"


def cluster_name(cfg: Config, run_id: str) -> str:
    return f"{cfg.backup.temporary_prefix}-{run_id}"


def instance_name(cluster: str) -> str:
    return f"{cluster}-1"


def table_name(cfg: Config, run_id: str, source: str) -> str:
    short = source.removeprefix(f"{cfg.project.prefix}-")
    return f"{cfg.backup.temporary_prefix}-{run_id}-{short}"


def temporary_tags(cfg: Config, name: str, run_id: str, expires: datetime) -> dict[str, str]:
    tags = cfg.base_tags(STAGE)
    tags.update({"Name": name, TEMPORARY_TAG: "true", EXPIRES_TAG: iso(expires), RUN_TAG: run_id})
    return tags


def production_names(cfg: Config) -> set[str]:
    return {cfg.backup.aurora_cluster, cfg.drill.aurora_cluster, *(t.name for t in cfg.dynamodb.tables)}


def under_prefix(cfg: Config, name: str) -> bool:
    return name.startswith(f"{cfg.backup.temporary_prefix}-")


def refusal(cfg: Config, name: str, tags: dict[str, str]) -> str | None:
    """Why ``name`` must not be deleted as a temporary; None when it may be."""
    if name in production_names(cfg):
        return f"{name} is a production resource named in {cfg.path}"
    if not under_prefix(cfg, name):
        return f"its name is not under the temporary prefix {cfg.backup.temporary_prefix}-"
    if tags.get(TEMPORARY_TAG) != "true":
        return f"not tagged {TEMPORARY_TAG}=true"
    if tags.get("ManagedBy") != "fablink-ops":
        return "not tagged ManagedBy=fablink-ops"
    if not tags.get(RUN_TAG):
        return f"no {RUN_TAG} tag"
    return None


def restored_untagged(cfg: Config, name: str, table: dict) -> dict[str, str] | None:
    """The tags a DynamoDB temporary would carry (never written: the sweep
    decides by them), for one killed between its
    restore and its tagging (RestoreTableToPointInTime takes no tags), or None.

    It is recognised by two facts only backup.verify produces together: the
    name is ``<prefix>-<run id>-<table>`` (table_name) for a table of this
    config, and DynamoDB's own RestoreSummary names that table of this
    account and region as its source. The run id starts with the run's UTC
    start, so its expiry is the one the run would have tagged."""
    match = re.fullmatch(rf"{re.escape(cfg.backup.temporary_prefix)}-((\d{{14}})-[0-9a-f]{{4}})-(.+)", name)
    if not match:
        return None
    source_arn = (table.get("RestoreSummary") or {}).get("SourceTableArn", "")
    source = re.fullmatch(rf"arn:[a-z-]+:dynamodb:{re.escape(cfg.project.region)}:{cfg.project.account_id}:table/(.+)", source_arn)
    ours = {t.name for t in cfg.dynamodb.tables}
    if not source or source[1] not in ours or table_name(cfg, match[1], source[1]) != name:
        return None
    started = datetime.strptime(match[2], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    return temporary_tags(cfg, name, match[1], started + timedelta(hours=cfg.backup.expiry_hours))


def expiry(tags: dict[str, str]) -> datetime | None:
    text = tags.get(EXPIRES_TAG, "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


# --------------------------------------------------------------------------
# deleting


@dataclass(frozen=True)
class Temporary:
    kind: str  # AURORA | TABLE
    name: str

    def label(self) -> str:
        return f"{'Aurora cluster' if self.kind == AURORA else 'DynamoDB table'} {self.name}"


@dataclass
class Outcome:
    temporary: Temporary
    result: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.temporary.kind, "result": self.result, "detail": self.detail}


# Tags to put on a temporary of the run's own before deleting it (a restored
# DynamoDB table gets its tags in a second call, which may not have happened).
Adopt = Callable[[Temporary], "dict[str, str] | None"]


def attempt(ctx: Context, temp: Temporary, adopt: Adopt | None = None) -> tuple[str, str]:
    """One try at deleting ``temp``: (outcome, detail)."""
    if temp.kind == AURORA:
        return _attempt_cluster(ctx, temp.name)
    return _attempt_table(ctx, temp.name, adopt(temp) if adopt else None)


def _attempt_cluster(ctx: Context, name: str) -> tuple[str, str]:
    rds = ctx.client("rds")
    cluster = read_db_cluster(rds, name)
    if cluster is None:
        return GONE, "not there (never created, or deleted already)"
    why = refusal(ctx.cfg, name, tagging.from_list(cluster.get("TagList")))
    if why:
        return REFUSED, why
    status = cluster.get("Status", "")
    if status == "deleting":
        return DELETED, "deletion under way"
    # The instances first: RDS deletes a cluster only once its members are
    # deleting. Each member must be a temporary too.
    members = rds.paginate("describe_db_instances", "DBInstances", Filters=[{"Name": "db-cluster-id", "Values": [name]}])
    for inst in members:
        iid, istatus = inst["DBInstanceIdentifier"], inst.get("DBInstanceStatus", "")
        if istatus == "deleting":
            continue
        why = refusal(ctx.cfg, iid, tagging.from_list(inst.get("TagList")))
        if why:
            return REFUSED, f"its instance {iid}: {why}"
        try:
            # An Aurora instance takes no final snapshot (the cluster does).
            rds.delete_db_instance(DBInstanceIdentifier=iid, DeleteAutomatedBackups=True)
        except ClientError as exc:
            if error_code(exc) == "DBInstanceNotFound":
                continue
            if error_code(exc) in ("InvalidDBInstanceState", "InvalidDBClusterStateFault"):
                return PENDING, f"its instance {iid} is {istatus}: not deletable yet"
            raise
    if cluster.get("DeletionProtection"):
        # Only here, on a resource refusal() accepted as a temporary.
        rds.modify_db_cluster(DBClusterIdentifier=name, DeletionProtection=False, ApplyImmediately=True)
    try:
        rds.delete_db_cluster(DBClusterIdentifier=name, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
    except ClientError as exc:
        code = error_code(exc)
        if code == "DBClusterNotFoundFault":
            return GONE, "deleted meanwhile"
        if code == "InvalidDBClusterStateFault":
            return PENDING, f"the cluster is {status}: not deletable yet"
        raise
    members_text = f" and its instance(s) {', '.join(i['DBInstanceIdentifier'] for i in members)}" if members else ""
    return DELETED, f"deletion requested{members_text} (no final snapshot)"


def _attempt_table(ctx: Context, name: str, adopt_tags: dict[str, str] | None) -> tuple[str, str]:
    ddb = ctx.client("dynamodb")
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return GONE, "not there (never created, or deleted already)"
        raise
    status = table.get("TableStatus", "")
    if status == "DELETING":
        return DELETED, "deletion under way"
    arn = table["TableArn"]
    tags = tagging.from_list(ddb.paginate("list_tags_of_resource", "Tags", ResourceArn=arn))
    if adopt_tags and tagging.missing(tags, adopt_tags):
        # This run made the table (its run id is in the name) but did not get
        # to tag it: tag it now, so the rule below holds for it as for any other.
        try:
            ddb.tag_resource(ResourceArn=arn, Tags=tagging.to_list(tagging.missing(tags, adopt_tags)))
        except ClientError as exc:
            if error_code(exc) == "ResourceInUseException":
                return PENDING, f"{status}: cannot tag it yet"
            raise
        tags.update(adopt_tags)
    why = refusal(ctx.cfg, name, tags)
    if why:
        return REFUSED, why
    if status != "ACTIVE":
        return PENDING, f"{status}: DynamoDB deletes a table only once it is ACTIVE"
    if table.get("DeletionProtectionEnabled"):
        ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    try:
        ddb.delete_table(TableName=name)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            return GONE, "deleted meanwhile"
        if code == "ResourceInUseException":
            return PENDING, "in use (being updated): not deletable yet"
        raise
    return DELETED, "deleted"


@dataclass
class Cleanup:
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    @property
    def left(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.result not in CLEAN]

    @property
    def deleted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.result == DELETED]

    def summary(self) -> str:
        if not self.outcomes:
            return "no temporaries to delete"
        left = self.left
        if not left:
            n = len(self.deleted)
            return f"every temporary deleted ({n} deleted)" if n else "no temporary was left"
        names = ", ".join(f"{o.temporary.name} ({o.result}: {o.detail})" for o in left)
        return f"{len(left)} temporar{'y' if len(left) == 1 else 'ies'} NOT deleted: {names}"


def delete_all(ctx: Context, temps: list[Temporary], budget_seconds: float, adopt: Adopt | None = None) -> Cleanup:
    """Delete every temporary, retrying those not deletable yet until the budget.

    Never raises for an AWS error (each temporary's outcome says it), so one
    stubborn resource does not keep the others. Ctrl-C stops the waiting:
    what is left is reported, with its expiry tag, for backup.cleanup.
    """
    interval = ctx.cfg.backup.poll_interval_seconds * ctx.poll_scale  # the benchmark scales waits down
    start = ctx.clock()
    done: dict[Temporary, Outcome] = {}
    last: dict[Temporary, str] = {}
    pending = list(dict.fromkeys(temps))
    result = Cleanup()
    try:
        while pending:
            still: list[Temporary] = []
            for temp in pending:
                try:
                    state, detail = attempt(ctx, temp, adopt)
                except (ClientError, BotoCoreError) as exc:
                    state, detail = FAILED, wrap_aws_error(exc, "delete").message
                except OpsError as exc:
                    state, detail = FAILED, exc.message
                if state == PENDING:
                    still.append(temp)
                    last[temp] = detail
                else:
                    done[temp] = Outcome(temp, state, detail)
            pending = still
            elapsed = ctx.clock() - start
            if not pending or elapsed >= budget_seconds:
                break
            ctx.reporter.info(f"  cleanup: waiting for {', '.join(t.name for t in pending)} to become deletable "
                              f"({elapsed:.0f}s of {budget_seconds:.0f}s; Ctrl-C leaves them to invoke backup.cleanup)")
            ctx.sleep(min(interval, budget_seconds - elapsed))
    except KeyboardInterrupt:
        result.interrupted = True
    why = "the operator stopped the wait (Ctrl-C)" if result.interrupted else f"still not deletable after {budget_seconds / 60:g} min"
    for temp in pending:
        done[temp] = Outcome(temp, LEFT, f"{last.get(temp, 'not attempted')}; {why}: run invoke backup.cleanup once it has expired")
    result.outcomes = [done[t] for t in dict.fromkeys(temps)]
    return result
