"""DynamoDB tables of this environment: an on-demand backup, then DeleteTable.

The backup's name derives from the table and its creation time, so a re-run
after a crash finds the backup it made instead of taking a second one, and a
table re-created later under the same name gets its own. On-demand backups
outlive their table (restore with RestoreTableFromBackup); [destroy]
dynamodb_final_backup = false skips them. A table with deletion protection on
is a refusal of the whole destroy, before any delete.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..engine import Context, wait_for
from ..target import error_code
from . import kms
from .common import Doomed, gone, owned, status_or_gone, wait_gone

STAGE = "dynamodb"
NOT_FOUND = ("ResourceNotFoundException",)


def find(ctx: Context) -> list[Doomed]:
    ddb = ctx.client("dynamodb")
    out: list[Doomed] = []
    for name in ddb.paginate("list_tables", "TableNames"):
        table = _describe(ctx, name)
        if table is None:
            continue  # deleted since the listing
        tags = tagging.from_list(ddb.paginate("list_tags_of_resource", "Tags", ResourceArn=table["TableArn"]))
        if not owned(ctx, tags):
            continue
        backup = backup_name(table) if ctx.cfg.destroy.dynamodb_final_backup else ""
        out.append(Doomed(
            STAGE, "dynamodb-table", name, table["TableArn"], 0, _delete(ctx, table, backup),
            wait=lambda name=name: wait_gone(ctx, f"table {name}", lambda: _status(ctx, name)),
            data=f"on-demand backup {backup}" if backup else "NO backup ([destroy] dynamodb_final_backup = false): its data is lost",
            protected="deletion protection" if table.get("DeletionProtectionEnabled") else "",
        ))
    return out + kms.keys(ctx, STAGE, 1)


def backup_name(table: dict) -> str:
    """<table>-final-<its creation time>: the same on every run for this table."""
    return f"{table['TableName']}-final-{table['CreationDateTime']:%Y%m%d%H%M%S}"[:255]


def _describe(ctx: Context, name: str) -> dict | None:
    try:
        return ctx.client("dynamodb").describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise


def _status(ctx: Context, name: str) -> str:
    return status_or_gone(lambda: ctx.client("dynamodb").describe_table(TableName=name)["Table"]["TableStatus"], *NOT_FOUND)


def _delete(ctx: Context, table: dict, backup: str):
    ddb = ctx.client("dynamodb")
    name = table["TableName"]

    def delete() -> None:
        if table.get("TableStatus") == "DELETING":
            return  # a crashed run's delete is under way: the wait finishes it
        if backup and not _has_backup(ctx, name, backup):
            arn = ddb.create_backup(TableName=name, BackupName=backup)["BackupDetails"]["BackupArn"]
            wait_for(ctx, f"backup {backup}", lambda: (_backup_status(ctx, arn), ""), {"AVAILABLE"}, {"DELETED"},
                     ctx.cfg.destroy.wait_minutes * 60, interval=2.0)
        gone(lambda: ddb.delete_table(TableName=name), *NOT_FOUND)

    return delete


def _has_backup(ctx: Context, table: str, backup: str) -> bool:
    summaries = ctx.client("dynamodb").paginate("list_backups", "BackupSummaries", TableName=table, BackupType="USER")
    return any(b["BackupName"] == backup and b["BackupStatus"] in ("CREATING", "AVAILABLE") for b in summaries)


def _backup_status(ctx: Context, arn: str) -> str:
    return ctx.client("dynamodb").describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
