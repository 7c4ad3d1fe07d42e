"""Aurora restore test: the source cluster restored to its latest restorable
time into a temporary cluster, one small instance added, verified.

    RestoreDBClusterToPointInTime (UseLatestRestorableTime) ─► cluster creating
      ─► cluster available ─► CreateDBInstance ─► instance available   (= RTO)

The temporary goes into the source's subnet group and security groups, with
the source's cluster parameter group (a restore otherwise gets the default
group), deletion protection off, a 1-day backup retention, and its tags in the
create call. AWS restores only the cluster: "You can create DB instances only
after the RestoreDBClusterToPointInTime action has completed and the DB
cluster is available" (API reference), hence the two phases.

Verification compares with the source: status, engine version, encryption
(on, same KMS key), cluster and instance parameter groups, subnet group and
security groups. Row counts over SQL: see sql.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ... import tags as tagging
from ...engine import Context
from ...target import wrap_aws_error
from .checks import AVAILABLE, AuroraSource, RestoreTiming

# Terminal statuses: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html
CLUSTER_FAILED = {"failed", "inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable",
                  "incompatible-parameters", "incompatible-restore", "deleting", "stopped"}
INSTANCE_FAILED = {"failed", "incompatible-network", "incompatible-option-group", "incompatible-parameters",
                   "incompatible-restore", "inaccessible-encryption-credentials", "storage-full", "deleting", "stopped"}


@dataclass
class AuroraRestore(RestoreTiming):
    source: AuroraSource
    cluster: str  # the temporary cluster's identifier
    instance: str
    tags: dict[str, str]  # the cluster's; the instance's carry its own Name
    requested: float | None = None
    cluster_available_at: float | None = None
    instance_requested: float | None = None
    instance_available_at: float | None = None
    status: str = "not requested"
    error: str = ""
    polls: int = 0
    cluster_view: dict = field(default_factory=dict, repr=False)
    instance_view: dict = field(default_factory=dict, repr=False)

    @property
    def ready_at(self) -> float | None:
        return self.instance_available_at


def request(ctx: Context, job: AuroraRestore) -> None:
    src = job.source
    args: dict[str, Any] = {
        "DBClusterIdentifier": job.cluster,
        "SourceDBClusterIdentifier": src.id,
        "UseLatestRestorableTime": True,
        "RestoreType": "full-copy",
        "DeletionProtection": False,
        "BackupRetentionPeriod": 1,  # the minimum: a temporary needs no backups of its own
        "EnableIAMDatabaseAuthentication": src.iam_auth,
        "Tags": tagging.to_list(job.tags),
    }
    if src.subnet_group:
        args["DBSubnetGroupName"] = src.subnet_group
    if src.security_groups:
        args["VpcSecurityGroupIds"] = list(src.security_groups)
    if src.parameter_group:
        args["DBClusterParameterGroupName"] = src.parameter_group
    job.requested = ctx.clock()
    job.status = "requested"
    ctx.client("rds").restore_db_cluster_to_point_in_time(**args)


def _create_instance(ctx: Context, job: AuroraRestore) -> None:
    cfg = ctx.cfg.backup
    src = job.source
    tags = dict(job.tags, Name=job.instance)
    args: dict[str, Any] = {
        "DBInstanceIdentifier": job.instance,
        "DBClusterIdentifier": job.cluster,
        "Engine": src.engine,
        "DBInstanceClass": cfg.restore_instance_class,
        "PubliclyAccessible": False,
        "Tags": tagging.to_list(tags),
    }
    if src.instance_parameter_group:
        args["DBParameterGroupName"] = src.instance_parameter_group
    job.instance_requested = ctx.clock()
    ctx.client("rds").create_db_instance(**args)


def poll(ctx: Context, jobs: list[AuroraRestore]) -> None:
    """One round for every restore in flight: two filtered describes for all of them."""
    if not jobs:
        return
    cfg = ctx.cfg.backup
    rds = ctx.client("rds")
    ids = [j.cluster for j in jobs]
    try:
        clusters = {c["DBClusterIdentifier"]: c for c in rds.paginate(
            "describe_db_clusters", "DBClusters", Filters=[{"Name": "db-cluster-id", "Values": ids}])}
        instances = {i["DBInstanceIdentifier"]: i for i in rds.paginate(
            "describe_db_instances", "DBInstances", Filters=[{"Name": "db-cluster-id", "Values": ids}])}
    except (ClientError, BotoCoreError) as exc:
        for job in jobs:
            job.error = wrap_aws_error(exc, "describe the restored cluster").message
        return
    now = ctx.clock()
    for job in jobs:
        job.polls += 1
        _advance(ctx, job, clusters.get(job.cluster), instances.get(job.instance), now, cfg)


def _advance(ctx: Context, job: AuroraRestore, cluster: dict | None, instance: dict | None, now: float, cfg: Any) -> None:
    assert job.requested is not None
    if cluster:
        job.cluster_view = cluster
    if job.cluster_available_at is None:
        # Just after the request the cluster may not be listed yet.
        status = cluster.get("Status", "unknown") if cluster else "not listed yet"
        job.status = f"cluster {status}"
        ready, job.error = _judge(f"the restored cluster {job.cluster}", status, CLUSTER_FAILED, now - job.requested,
                                  "aurora_cluster_wait_minutes", cfg.aurora_cluster_wait_minutes)
        if ready:
            job.cluster_available_at = now
            try:
                _create_instance(ctx, job)
            except (ClientError, BotoCoreError) as exc:
                job.error = wrap_aws_error(exc, f"create the instance {job.instance}").message
                return
            job.status = "instance requested"
        return
    assert job.instance_requested is not None
    status = instance.get("DBInstanceStatus", "unknown") if instance else "not listed yet"
    job.status = f"instance {status}"
    if instance:
        job.instance_view = instance
    ready, job.error = _judge(f"the instance {job.instance}", status, INSTANCE_FAILED, now - job.instance_requested,
                              "aurora_instance_wait_minutes", cfg.aurora_instance_wait_minutes)
    if ready:
        job.instance_available_at = now


def _judge(what: str, status: str, failed: Any, waited: float, budget_key: str, budget_minutes: float) -> tuple[bool, str | None]:
    """(available, error) of one phase of a restore: failed at once, available,
    or still waiting (an error once its [backup] budget is spent)."""
    if status in failed:
        return False, f"{what} is {status}"
    if status == AVAILABLE:
        return True, None
    if waited >= budget_minutes * 60:
        return False, f"{what} is still {status} after {waited:.0f}s (budget [backup].{budget_key} = {budget_minutes:g} min)"
    return False, None


# --------------------------------------------------------------------------
# verification


@dataclass
class Verification:
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)
    status: str = ""  # ok | failed | skipped: set for optional parts (row counts)


def verify(ctx: Context, job: AuroraRestore) -> Verification:
    """The restored cluster against its source, from one fresh describe each."""
    rds = ctx.client("rds")
    src = job.source
    cluster = rds.describe_db_clusters(DBClusterIdentifier=job.cluster)["DBClusters"][0]
    instance = rds.describe_db_instances(DBInstanceIdentifier=job.instance)["DBInstances"][0]
    job.cluster_view, job.instance_view = cluster, instance
    groups = instance.get("DBParameterGroups", [])
    restored = {
        "cluster status": cluster.get("Status", ""),
        "instance status": instance.get("DBInstanceStatus", ""),
        "engine version": cluster.get("EngineVersion", ""),
        "encrypted": bool(cluster.get("StorageEncrypted")),
        "kms key": cluster.get("KmsKeyId", ""),
        "cluster parameter group": cluster.get("DBClusterParameterGroup", ""),
        "instance parameter group": groups[0].get("DBParameterGroupName", "") if groups else "",
        "subnet group": cluster.get("DBSubnetGroup", ""),
        "security groups": ",".join(sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", []))),
        "instance class": instance.get("DBInstanceClass", ""),
    }
    expected = {
        "cluster status": AVAILABLE,
        "instance status": AVAILABLE,
        "engine version": src.engine_version,
        "encrypted": True,  # design doc: "Encryption at Rest: Enabled", and the restore keeps the source's
        "kms key": src.kms_key,
        "cluster parameter group": src.parameter_group,
        "subnet group": src.subnet_group,
        "security groups": ",".join(src.security_groups),
        "instance class": ctx.cfg.backup.restore_instance_class,
    }
    if src.instance_parameter_group:
        expected["instance parameter group"] = src.instance_parameter_group
    wrong = [f"{k} {restored[k]!r} (expected {v!r})" for k, v in expected.items() if restored[k] != v]
    if not src.encrypted:
        wrong.append("the SOURCE cluster is not encrypted")
    facts = {k.replace(" ", "_"): v for k, v in restored.items()}
    if wrong:
        return Verification(False, "differs from the source: " + "; ".join(wrong), facts)
    return Verification(True, (f"available; engine {restored['engine version']}, encrypted with the source's key, "
                               f"parameter group {restored['cluster parameter group'] or '(default)'}, "
                               f"subnet group and security groups as the source"), facts)
