"""The read-only checks of backup.verify, and what they read of the sources.

Aurora (the cluster named [backup].aurora_cluster), three calls: the cluster,
its instances (one filtered describe) and its automated snapshots.
- backup retention equals [backup].expected_retention_days (design doc: 30);
- the latest restorable time lies within the RPO budget;
- automated snapshots exist;
- deletion protection is on.

DynamoDB (each table of [dynamodb].tables in scope), two calls a table
(DescribeTable, DescribeContinuousBackups; no batch API), tables read
concurrently:
- point-in-time recovery is enabled;
- its latest restorable time lies within the RPO budget;
- deletion protection is on.

The RPO of a resource is the age of its latest restorable time at the moment
of the check: what a restore started now would lose.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from ...config import Config
from ...engine import Context
from ...report import iso
from ..cluster import read_db_cluster
from ...target import error_code

AVAILABLE = "available"


class RestoreTiming:
    """What the Aurora and DynamoDB restore jobs share: their label, whether
    they are done, and their timings (seconds from the request; the RTO is
    the time to ``ready_at``). A mixin for their dataclasses, which hold
    ``source``, ``requested`` and ``error``."""

    source: Any
    requested: float | None
    error: str

    @property
    def ready_at(self) -> float | None:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return self.source.label

    @property
    def ready(self) -> bool:
        return self.ready_at is not None

    @property
    def finished(self) -> bool:
        return self.ready or bool(self.error)

    def seconds(self, at: float | None) -> float | None:
        return None if at is None or self.requested is None else round(at - self.requested, 3)

    @property
    def rto(self) -> float | None:
        return self.seconds(self.ready_at)


@dataclass(frozen=True)
class Check:
    resource: str  # "aurora <id>" | "dynamodb <table>"
    name: str
    ok: bool
    detail: str
    skipped: bool = False  # not meaningful on this target (said in detail); does not fail the verdict


def rpo_seconds(now: datetime, latest: datetime | None) -> float | None:
    """Age of the latest restorable time; a clock a little behind AWS's reads as 0."""
    if latest is None:
        return None
    return round(max(0.0, (now - latest.astimezone(timezone.utc)).total_seconds()), 3)


def _within_budget(cfg: Config, resource: str, now: datetime, latest: datetime | None, none_why: str) -> tuple[Check, float | None]:
    budget = cfg.backup.rpo_budget_minutes * 60
    rpo = rpo_seconds(now, latest)
    if rpo is None or latest is None:
        return Check(resource, "latest restorable time", False, none_why), None
    ok = rpo <= budget
    detail = f"{iso(latest)}, {rpo:.0f}s ago (RPO budget {budget:.0f}s{'' if ok else ', exceeded'})"
    return Check(resource, "latest restorable time", ok, detail), rpo


# --------------------------------------------------------------------------
# Aurora


@dataclass
class AuroraSource:
    """What the restore copies and the verification compares."""

    id: str
    arn: str
    status: str
    engine: str
    engine_version: str
    retention: int
    latest_restorable: datetime | None
    deletion_protection: bool
    encrypted: bool
    kms_key: str
    parameter_group: str
    subnet_group: str
    security_groups: tuple[str, ...]
    iam_auth: bool
    endpoint: str
    port: int
    secret_arn: str  # the managed master secret, if the cluster has one
    instance_parameter_group: str  # the writer's DB parameter group
    snapshots: int = 0
    newest_snapshot: datetime | None = None

    @property
    def label(self) -> str:
        return f"aurora {self.id}"


def read_aurora(ctx: Context, name: str) -> AuroraSource | None:
    rds = ctx.client("rds")
    c = read_db_cluster(rds, name)
    if c is None:
        return None
    writer = next((m["DBInstanceIdentifier"] for m in c.get("DBClusterMembers", []) if m.get("IsClusterWriter")), None)
    instance_pg = ""
    if writer:
        instances = rds.paginate("describe_db_instances", "DBInstances", Filters=[{"Name": "db-cluster-id", "Values": [name]}])
        inst = next((i for i in instances if i["DBInstanceIdentifier"] == writer), {})
        groups = inst.get("DBParameterGroups", [])
        instance_pg = groups[0].get("DBParameterGroupName", "") if groups else ""
    snaps = rds.paginate("describe_db_cluster_snapshots", "DBClusterSnapshots", DBClusterIdentifier=name, SnapshotType="automated")
    times = [s["SnapshotCreateTime"] for s in snaps if s.get("SnapshotCreateTime")]
    return AuroraSource(
        id=c["DBClusterIdentifier"],
        arn=c["DBClusterArn"],
        status=c.get("Status", ""),
        engine=c.get("Engine", ""),
        engine_version=c.get("EngineVersion", ""),
        retention=int(c.get("BackupRetentionPeriod") or 0),
        latest_restorable=c.get("LatestRestorableTime"),
        deletion_protection=bool(c.get("DeletionProtection")),
        encrypted=bool(c.get("StorageEncrypted")),
        kms_key=c.get("KmsKeyId", ""),
        parameter_group=c.get("DBClusterParameterGroup", ""),
        subnet_group=c.get("DBSubnetGroup", ""),
        security_groups=tuple(sorted(g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", []))),
        iam_auth=bool(c.get("IAMDatabaseAuthenticationEnabled")),
        endpoint=c.get("Endpoint", ""),
        port=int(c.get("Port") or 5432),
        secret_arn=(c.get("MasterUserSecret") or {}).get("SecretArn", ""),
        instance_parameter_group=instance_pg,
        snapshots=len(snaps),
        newest_snapshot=max(times) if times else None,
    )


def aurora_checks(cfg: Config, src: AuroraSource | None, now: datetime) -> tuple[list[Check], float | None]:
    """(the checks, the RPO in seconds or None)."""
    name = cfg.backup.aurora_cluster
    label = f"aurora {name}"
    if src is None:
        return [Check(label, "cluster exists", False,
                      f"no Aurora cluster named {name}: provision it (invoke provision --stage aurora) or correct [backup].aurora_cluster")], None
    expected = cfg.backup.expected_retention_days
    checks = [Check(label, "backup retention", src.retention == expected,
                    f"{src.retention} days (expected {expected})")]
    rpo_check, rpo = _within_budget(cfg, label, now, src.latest_restorable, "the cluster reports no latest restorable time (no backups yet?)")
    checks.append(rpo_check)
    newest = f", newest {iso(src.newest_snapshot)}" if src.newest_snapshot else ""
    checks.append(Check(label, "automated snapshots", src.snapshots > 0,
                        f"{src.snapshots} automated snapshot(s){newest}" if src.snapshots else "no automated snapshot"))
    checks.append(Check(label, "deletion protection", src.deletion_protection, "on" if src.deletion_protection else "OFF"))
    return checks, rpo


# --------------------------------------------------------------------------
# DynamoDB


@dataclass
class TableSource:
    name: str
    arn: str
    status: str
    deletion_protection: bool
    pitr: str  # ENABLED | DISABLED
    latest_restorable: datetime | None
    key: tuple[str, ...]  # key attribute names, hash first
    indexes: tuple[str, ...]
    item_count: int  # DescribeTable's, refreshed about every 6 hours: a hint only
    description: dict = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        return f"dynamodb {self.name}"


def _read_table(ctx: Context, name: str) -> TableSource | None:
    ddb = ctx.client("dynamodb")
    try:
        t = ddb.describe_table(TableName=name)["Table"]
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFoundException", "TableNotFoundException"):
            return None
        raise
    pitr = backups.get("PointInTimeRecoveryDescription", {})
    key = tuple(k["AttributeName"] for k in sorted(t.get("KeySchema", []), key=lambda k: k["KeyType"] != "HASH"))
    return TableSource(
        name=name,
        arn=t["TableArn"],
        status=t.get("TableStatus", ""),
        deletion_protection=bool(t.get("DeletionProtectionEnabled")),
        pitr=pitr.get("PointInTimeRecoveryStatus", "DISABLED"),
        latest_restorable=pitr.get("LatestRestorableDateTime") if pitr.get("PointInTimeRecoveryStatus") == "ENABLED" else None,
        key=key,
        indexes=tuple(sorted(i["IndexName"] for i in t.get("GlobalSecondaryIndexes", []))),
        item_count=int(t.get("ItemCount") or 0),
        description=t,
    )


def read_tables(ctx: Context, names: list[str]) -> dict[str, TableSource | None]:
    if not names:
        return {}
    workers = max(1, min(ctx.cfg.engine.concurrency, len(names)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup-read") as pool:
        return dict(zip(names, pool.map(lambda n: _read_table(ctx, n), names)))


# moto sets a table's LatestRestorableDateTime once, when PITR is enabled, and
# never moves it: in the sandbox its age is the time since provisioning.
MOTO_FROZEN = ("sandbox: moto freezes LatestRestorableDateTime when point-in-time recovery is enabled, "
               "so its age here is the time since the table was provisioned, not a backup lag; checked live only when over budget")


def table_checks(cfg: Config, name: str, src: TableSource | None, now: datetime, sandbox: bool = False) -> tuple[list[Check], float | None]:
    label = f"dynamodb {name}"
    if src is None:
        return [Check(label, "table exists", False, f"no DynamoDB table named {name}: provision it (invoke provision --stage dynamodb)")], None
    checks = [Check(label, "point-in-time recovery", src.pitr == "ENABLED", src.pitr)]
    rpo_check, rpo = _within_budget(cfg, label, now, src.latest_restorable,
                                    "point-in-time recovery is off: there is no restorable time" if src.pitr != "ENABLED"
                                    else "no latest restorable time reported")
    if sandbox and not rpo_check.ok and rpo is not None:
        rpo_check = Check(label, rpo_check.name, True, f"{rpo_check.detail}; {MOTO_FROZEN}", skipped=True)
    checks.append(rpo_check)
    checks.append(Check(label, "deletion protection", src.deletion_protection, "on" if src.deletion_protection else "OFF"))
    return checks, rpo
