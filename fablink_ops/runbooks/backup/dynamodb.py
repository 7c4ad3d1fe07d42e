"""DynamoDB restore test: each table restored to its latest restorable time
into a temporary table, waited for, and its items compared with the source.

    RestoreTableToPointInTime (UseLatestRestorableTime) ─► CREATING ─► ACTIVE,
    every index ACTIVE (= RTO)

The restored table gets the source's key schema, indexes and encryption
settings; not its tags, PITR, TTL or deletion protection (AWS: "You must
manually set up ... tags ... point in time recovery settings"). The API takes
no tags, so the temporary is tagged by TagResource right after the request;
if that call fails or the process dies in between, the table is still found
by its name (the run id is in it) and tagged before this run deletes it. A
killed run's untagged table is refused by backup.cleanup and left to a human.

The item comparison lives in items.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from ... import tags as tagging
from ...engine import Context
from ...target import error_code, wrap_aws_error
from .checks import RestoreTiming, TableSource

# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html
FAILED_STATUSES = {"DELETING", "ARCHIVING", "ARCHIVED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"}


@dataclass
class TableRestore(RestoreTiming):
    source: TableSource
    temp: str
    tags: dict[str, str]
    arn: str = ""
    requested: float | None = None
    active_at: float | None = None
    restored_to: datetime | None = None
    tagged: bool = False
    status: str = "not requested"
    error: str = ""
    polls: int = 0

    @property
    def ready_at(self) -> float | None:
        return self.active_at


def request(ctx: Context, job: TableRestore) -> None:
    job.requested = ctx.clock()
    job.status = "requested"
    desc = ctx.client("dynamodb").restore_table_to_point_in_time(
        SourceTableName=job.source.name, TargetTableName=job.temp, UseLatestRestorableTime=True,
    )["TableDescription"]
    job.arn = desc["TableArn"]
    job.restored_to = (desc.get("RestoreSummary") or {}).get("RestoreDateTime")
    _tag(ctx, job)


def _tag(ctx: Context, job: TableRestore) -> None:
    try:
        ctx.client("dynamodb").tag_resource(ResourceArn=job.arn, Tags=tagging.to_list(job.tags))
    except ClientError as exc:
        if error_code(exc) in ("ResourceInUseException", "ResourceNotFoundException"):
            return  # not taggable yet: the next poll tries again
        raise
    job.tagged = True


def poll(ctx: Context, job: TableRestore) -> None:
    """One DescribeTable (DynamoDB has no batch describe)."""
    assert job.requested is not None
    cfg = ctx.cfg.backup
    ddb = ctx.client("dynamodb")
    job.polls += 1
    try:
        desc = ddb.describe_table(TableName=job.temp)["Table"]
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            job.error = wrap_aws_error(exc, f"describe {job.temp}").message
            return
        desc = None  # accepted, not visible yet
    except BotoCoreError as exc:
        job.error = wrap_aws_error(exc, f"describe {job.temp}").message
        return
    now = ctx.clock()
    if desc is None:
        status = "not listed yet"
    else:
        status = desc.get("TableStatus", "")
        job.arn = job.arn or desc.get("TableArn", "")
        job.restored_to = job.restored_to or (desc.get("RestoreSummary") or {}).get("RestoreDateTime")
        busy = [i for i in desc.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus", "ACTIVE") != "ACTIVE"]
        if status == "ACTIVE" and busy:
            status = f"index {busy[0]['IndexName']} {busy[0].get('IndexStatus')}"
    job.status = status
    if desc is not None and not job.tagged:
        try:
            _tag(ctx, job)
        except (ClientError, BotoCoreError) as exc:
            job.error = wrap_aws_error(exc, f"tag {job.temp}").message
            return
    if status in FAILED_STATUSES:
        job.error = f"the restored table {job.temp} is {status}"
    elif status == "ACTIVE":
        job.active_at = now
    elif now - job.requested >= cfg.dynamodb_restore_wait_minutes * 60:
        job.error = (f"the restored table {job.temp} is still {status} after {now - job.requested:.0f}s "
                     f"(budget [backup].dynamodb_restore_wait_minutes = {cfg.dynamodb_restore_wait_minutes:g} min)")
