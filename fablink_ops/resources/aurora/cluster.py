"""The Aurora PostgreSQL cluster: encrypted with our key, the master password
managed by Secrets Manager, backups, windows, IAM auth, deletion protection,
log export. Nothing here ever deletes or replaces a cluster: an immutable
difference is shown as replace-required and left to a human.

The master password never passes through this tool: ManageMasterUserPassword
makes RDS generate it and keep it in Secrets Manager. No response field that
points at the secret is recorded or printed.
"""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, REPLACE, UPDATE, WAIT, Change, Context, Diff, wait_for
from ...target import error_code
from .. import kit
from .common import CLUSTER_ARN, ENGINE, Found, Names, change, desired_tags, rds_tag_step

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status
CLUSTER_FAILED = {"failed", "inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable",
                  "incompatible-parameters", "incompatible-restore", "migration-failed", "deleting", "stopped"}
CLUSTER_READY = {"available"}


def last_event(ctx: Context, source_type: str, identifier: str) -> str:
    """The latest RDS event of a resource: RDS's reason for a failed state."""
    try:
        events = ctx.client("rds").describe_events(SourceIdentifier=identifier, SourceType=source_type, Duration=1440)["Events"]
    except ClientError:
        return ""
    return events[-1].get("Message", "") if events else ""


def wait_cluster(ctx: Context, identifier: str) -> str:
    rds = ctx.client("rds")

    def poll() -> tuple[str, str]:
        found = rds.describe_db_clusters(Filters=[{"Name": "db-cluster-id", "Values": [identifier]}])["DBClusters"]
        # Just created: RDS may not list it for a moment.
        status = found[0]["Status"] if found else "creating"
        return status, last_event(ctx, "db-cluster", identifier) if status in CLUSTER_FAILED else ""

    budget = ctx.cfg.aurora.cluster_wait_minutes * 60
    return wait_for(ctx, f"DB cluster {identifier}", poll, CLUSTER_READY, CLUSTER_FAILED, budget)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _key_or_placeholder(ctx: Context, names: Names) -> str:
    return ctx.outputs.get(names.key_output) or f"({names.key_alias})"


def _immutable(ctx: Context, names: Names, cluster: dict) -> list[Diff]:
    """Differences RDS cannot fix in place: each would need a new cluster."""
    a = ctx.cfg.aurora
    diffs = []
    if cluster.get("Engine") != ENGINE:
        diffs.append(Diff("engine", cluster.get("Engine"), ENGINE))
    major = _version(cluster.get("EngineVersion", "0"))[:1]
    if major != (a.engine_major,):
        diffs.append(Diff("engine major version", cluster.get("EngineVersion"), a.engine_version))
    if not cluster.get("StorageEncrypted"):
        diffs.append(Diff("storage encrypted", False, True))
    elif cluster.get("KmsKeyId") != ctx.outputs.get(names.key_output):
        diffs.append(Diff("storage KMS key", cluster.get("KmsKeyId"), _key_or_placeholder(ctx, names)))
    if cluster.get("DBSubnetGroup") != names.subnet_group:
        diffs.append(Diff("subnet group", cluster.get("DBSubnetGroup"), names.subnet_group))
    if cluster.get("MasterUsername") != a.master_username:
        diffs.append(Diff("master username", cluster.get("MasterUsername"), a.master_username))
    return diffs


def _mutable(ctx: Context, names: Names, cluster: dict) -> tuple[list[Diff], dict[str, Any], list[str]]:
    """(diffs, ModifyDBCluster arguments, warnings) for what can change in place."""
    a = ctx.cfg.aurora
    diffs: list[Diff] = []
    modify: dict[str, Any] = {}
    warnings: list[str] = []

    def compare(attribute: str, current: Any, wanted: Any, argument: str, value: Any = None) -> None:
        if current != wanted:
            diffs.append(Diff(attribute, current, wanted))
            modify[argument] = wanted if value is None else value

    compare("backup retention days", cluster.get("BackupRetentionPeriod"), a.backup_retention_days, "BackupRetentionPeriod")
    compare("backup window", cluster.get("PreferredBackupWindow"), a.backup_window, "PreferredBackupWindow")
    compare("maintenance window", (cluster.get("PreferredMaintenanceWindow") or "").lower(), a.maintenance_window, "PreferredMaintenanceWindow")
    compare("IAM database authentication", bool(cluster.get("IAMDatabaseAuthenticationEnabled")), a.iam_database_authentication,
            "EnableIAMDatabaseAuthentication")
    compare("deletion protection", bool(cluster.get("DeletionProtection")), a.deletion_protection, "DeletionProtection")
    compare("copy tags to snapshot", bool(cluster.get("CopyTagsToSnapshot")), a.copy_tags_to_snapshot, "CopyTagsToSnapshot")
    compare("parameter group", cluster.get("DBClusterParameterGroup"), names.parameter_group, "DBClusterParameterGroupName")
    exports = sorted(cluster.get("EnabledCloudwatchLogsExports") or [])
    wanted_exports = sorted(a.log_exports)
    compare("log exports", exports, wanted_exports, "CloudwatchLogsExportConfiguration", {
        "EnableLogTypes": sorted(set(wanted_exports) - set(exports)),
        "DisableLogTypes": sorted(set(exports) - set(wanted_exports)),
    })
    groups = sorted(g["VpcSecurityGroupId"] for g in cluster.get("VpcSecurityGroups", []))
    sg = ctx.outputs.get(names.sg_output)
    if groups != [sg]:
        diffs.append(Diff("security groups", groups, [sg or f"({names.security_group})"]))
        modify["VpcSecurityGroupIds"] = None  # resolved at run time: the group may be created in this run
    if not cluster.get("MasterUserSecret"):
        diffs.append(Diff("master password", "set by hand", "managed by Secrets Manager"))
        modify["ManageMasterUserPassword"] = True
        modify["MasterUserSecretKmsKeyId"] = None  # resolved at run time
        warnings.append("RDS generates a new master password in Secrets Manager: whoever used the old one must read the secret")
    if "DBClusterParameterGroupName" in modify:
        warnings.append("static parameters of the new parameter group apply at the instances' next reboot")
    return diffs, modify, warnings


def _minor_upgrade(ctx: Context, cluster: dict) -> Diff | None:
    """An older 15.x than the config's: upgraded in the maintenance window."""
    a = ctx.cfg.aurora
    current = cluster.get("EngineVersion", "")
    pending = (cluster.get("PendingModifiedValues") or {}).get("EngineVersion")
    if _version(current)[:1] == (a.engine_major,) and _version(current) < _version(a.engine_version) and pending != a.engine_version:
        return Diff("engine version", current, a.engine_version)
    return None


def cluster(ctx: Context, names: Names, found: Found) -> Change:
    log_groups = tuple(names.k_log_group(t) for t in ctx.cfg.aurora.log_exports)
    needs = (names.k_key, names.k_subnet_group, names.k_parameter_group, names.k_security_group, *log_groups)
    if found.cluster is None:
        a = ctx.cfg.aurora
        return change("db-cluster", names.cluster, CREATE, needs=needs, run=lambda: _create_cluster(ctx, names), diffs=[
            Diff("engine", None, f"{ENGINE} {a.engine_version}"),
            Diff("storage encrypted", None, names.key_alias),
            Diff("master password", None, "managed by Secrets Manager"),
            Diff("backup retention days", None, a.backup_retention_days),
            Diff("deletion protection", None, a.deletion_protection),
        ])
    return _existing_cluster(ctx, names, found.cluster, needs)


def _create_cluster(ctx: Context, names: Names) -> str:
    a, identifier = ctx.cfg.aurora, names.cluster
    key_arn = ctx.output(names.key_output)
    try:
        created = ctx.client("rds").create_db_cluster(
            DBClusterIdentifier=identifier,
            Engine=ENGINE,
            EngineVersion=a.engine_version,
            DatabaseName=a.database_name,
            MasterUsername=a.master_username,
            # RDS generates the password and keeps it in Secrets Manager.
            ManageMasterUserPassword=True,
            MasterUserSecretKmsKeyId=key_arn,
            Port=a.port,
            DBSubnetGroupName=names.subnet_group,
            VpcSecurityGroupIds=[ctx.output(names.sg_output)],
            DBClusterParameterGroupName=names.parameter_group,
            StorageEncrypted=True,
            KmsKeyId=key_arn,
            BackupRetentionPeriod=a.backup_retention_days,
            PreferredBackupWindow=a.backup_window,
            PreferredMaintenanceWindow=a.maintenance_window,
            EnableIAMDatabaseAuthentication=a.iam_database_authentication,
            DeletionProtection=a.deletion_protection,
            CopyTagsToSnapshot=a.copy_tags_to_snapshot,
            EnableCloudwatchLogsExports=list(a.log_exports),
            Tags=tagging.to_list(desired_tags(ctx.cfg, identifier)),
        )["DBCluster"]
        ctx.set_output(CLUSTER_ARN, created["DBClusterArn"])
        ctx.set_output("aurora:resource-id", created["DbClusterResourceId"])
    except ClientError as exc:  # created by a run whose answer was lost
        if error_code(exc) != "DBClusterAlreadyExistsFault":
            raise
    wait_cluster(ctx, identifier)
    return identifier


def _existing_cluster(ctx: Context, names: Names, current: dict, needs: tuple[str, ...]) -> Change:
    identifier = names.cluster
    tags = desired_tags(ctx.cfg, identifier)
    immutable = _immutable(ctx, names, current)
    diffs, modify, warnings = _mutable(ctx, names, current)
    minor = _minor_upgrade(ctx, current)
    current_tags = tagging.from_list(current.get("TagList"))
    diffs += kit.tag_diff(current_tags, tags)
    if immutable:
        return change(
            "db-cluster", identifier, REPLACE, resource_id=identifier, diffs=immutable + diffs,
            note="these cannot change on an existing cluster: migrate to a new cluster by hand (snapshot restore). "
                 "Nothing was changed, not even the in-place differences listed",
        )

    def upgrade() -> None:
        # A minor upgrade restarts the instances: left to the maintenance window.
        ctx.client("rds").modify_db_cluster(DBClusterIdentifier=identifier, EngineVersion=ctx.cfg.aurora.engine_version, ApplyImmediately=False)

    notes = list(warnings)
    if minor:
        diffs.append(minor)
        notes.append("the minor version upgrade is applied in the maintenance window")
    writes: list[Callable[[], Any] | None] = [
        (lambda: _modify_cluster(ctx, names, modify, warnings)) if modify else None,
        upgrade if minor else None,
        rds_tag_step(ctx, current["DBClusterArn"], current_tags, tags),
    ]
    status = current["Status"]
    if status == "creating" or status in CLUSTER_FAILED:
        # A run interrupted while AWS builds the cluster: wait for it, then
        # make any correction.
        return change("db-cluster", identifier, WAIT, resource_id=identifier, diffs=diffs, needs=needs,
                      run=kit.sequence(lambda: wait_cluster(ctx, identifier), *writes), note=f"status {status}")
    if not diffs:
        return change("db-cluster", identifier, NOOP, resource_id=identifier, needs=needs)
    # Modifications need an available cluster (e.g. not mid-backup or mid-modify).
    pre = None if status in CLUSTER_READY else (lambda: wait_cluster(ctx, identifier))
    return change("db-cluster", identifier, UPDATE, diffs=diffs, needs=needs, resource_id=identifier,
                  run=kit.sequence(pre, *writes), note="; ".join(notes))


def _modify_cluster(ctx: Context, names: Names, modify: dict[str, Any], warnings: list[str]) -> None:
    """One ModifyDBCluster for the in-place differences; ids created in this
    run (the security group, the key) are read when it runs."""
    args = dict(modify)
    if "VpcSecurityGroupIds" in args:
        args["VpcSecurityGroupIds"] = [ctx.output(names.sg_output)]
    if "MasterUserSecretKmsKeyId" in args:
        args["MasterUserSecretKmsKeyId"] = ctx.output(names.key_output)
    for text in warnings:
        ctx.reporter.warn(f"DB cluster {names.cluster}: {text}")
    ctx.client("rds").modify_db_cluster(DBClusterIdentifier=names.cluster, ApplyImmediately=True, **args)
