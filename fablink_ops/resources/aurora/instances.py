"""The cluster's DB instances: one writer and the readers, one per AZ, with
Performance Insights (our key) and Enhanced Monitoring, never public.

The first instance of the config is created first, so it becomes the writer
(Aurora makes the first instance of a cluster its writer). The readers are
created once the cluster lists it as its writer, not once it is available:
moto lists it at once; if AWS only does when it is available, the readers
wait for that, as they did before (never sooner than is safe). Its wait for
"available" is a change of its own (db-instance-ready), which nothing else
needs. Instance-class changes restart an instance, so they run
one instance at a time, readers before the writer, each waited for.
Instances of the cluster that the config does not list are shown as
unmanaged and left alone.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...config import AuroraInstance
from ...engine import CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Change, Context, Diff, wait_for
from ...errors import OpsError
from ...target import error_code
from .cluster import last_event
from .. import kit
from .common import ENGINE, ROLE_ARN, Found, Names, change, desired_tags, rds_tag_step

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Overview.DBInstance.Status
INSTANCE_FAILED = {
    "failed", "incompatible-network", "incompatible-option-group", "incompatible-parameters", "incompatible-restore",
    "inaccessible-encryption-credentials", "inaccessible-encryption-credentials-recoverable", "restore-error",
    "storage-full", "deleting", "stopped",
}
INSTANCE_READY = {"available"}
CLASS_CHANGE = "instance class"
CLASS_WARNING = ("changing the instance class restarts this instance; for the writer, writes stop for minutes "
                 "unless you first fail over to an already resized reader")


def wait_instance(ctx: Context, identifier: str, instance_class: str | None = None) -> str:
    """Wait until available (and, after a class change, running the new class)."""
    rds = ctx.client("rds")

    def poll() -> tuple[str, str]:
        found = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])["DBInstances"]
        if not found:  # just created: RDS may not list it for a moment
            return "creating", ""
        inst = found[0]
        status = inst["DBInstanceStatus"]
        if status in INSTANCE_FAILED:
            return status, last_event(ctx, "db-instance", identifier)
        pending = (inst.get("PendingModifiedValues") or {}).get("DBInstanceClass")
        if status in INSTANCE_READY and instance_class and (inst["DBInstanceClass"] != instance_class or pending):
            return "modifying", ""  # the class change has not started yet
        return status, ""

    budget = ctx.cfg.aurora.instance_wait_minutes * 60
    return wait_for(ctx, f"DB instance {identifier}", poll, INSTANCE_READY, INSTANCE_FAILED, budget)


def wait_writer(ctx: Context, names: Names, identifier: str) -> str:
    """Wait until the cluster has a writer: ``identifier`` listed as such, or
    available (then another instance is the writer: the role is settled
    either way). Fails fast, with RDS's reason, when the instance fails."""
    rds = ctx.client("rds")

    def poll() -> tuple[str, str]:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=names.cluster)["DBClusters"][0]
        if any(m.get("IsClusterWriter") for m in cluster.get("DBClusterMembers", [])):
            return "has a writer", ""
        found = rds.describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": [identifier]}])["DBInstances"]
        status = found[0]["DBInstanceStatus"] if found else "creating"
        if status in INSTANCE_FAILED:
            return status, last_event(ctx, "db-instance", identifier)
        return ("has a writer", "") if status in INSTANCE_READY else (status, "")

    budget = ctx.cfg.aurora.instance_wait_minutes * 60
    return wait_for(ctx, f"DB cluster {names.cluster} to list its writer {identifier}", poll, {"has a writer"}, INSTANCE_FAILED, budget)


def instances(ctx: Context, names: Names, found: Found) -> list[Change]:
    a = ctx.cfg.aurora
    writer_id = a.instances[0].identifier
    writers = {m["DBInstanceIdentifier"] for m in (found.cluster or {}).get("DBClusterMembers", []) if m.get("IsClusterWriter")}
    changes = [_instance(ctx, names, found, inst, writer_id) for inst in a.instances]
    if writer_id not in found.instances:
        changes.append(_writer_ready(ctx, names, writer_id))
    # Class changes restart instances: one at a time, readers (highest tier
    # first) before the writer.
    resizing = [c for c in changes if any(d.attribute == CLASS_CHANGE for d in c.diffs) and c.action in (UPDATE, WAIT)]
    tier = {i.identifier: i.promotion_tier for i in a.instances}
    resizing.sort(key=lambda c: (c.name in writers, -tier[c.name]))
    for before, after in zip(resizing, resizing[1:]):
        after.needs = (*after.needs, before.key)
    unverified = [i.identifier for i in a.instances if i.identifier in found.instances and "PerformanceInsightsEnabled" not in found.instances[i.identifier]]
    if unverified and not ctx.target.is_live:
        changes.append(change(
            "performance-insights", names.cluster, SKIP,
            note=f"the sandbox (moto) does not report Performance Insights: requested at create for {', '.join(unverified)}, "
                 "but not verified or corrected here",
        ))
    for identifier, inst in sorted(found.instances.items()):
        if identifier not in tier:
            changes.append(change("db-instance", identifier, UNMANAGED, resource_id=identifier,
                                  note=f"{inst.get('DBInstanceClass')} in {inst.get('AvailabilityZone')}: in the cluster, not in config; left alone"))
    return changes


def _create_args(ctx: Context, names: Names, inst: AuroraInstance) -> dict[str, Any]:
    a = ctx.cfg.aurora
    return dict(
        DBInstanceIdentifier=inst.identifier,
        DBClusterIdentifier=names.cluster,
        Engine=ENGINE,
        DBInstanceClass=a.instance_class,
        AvailabilityZone=inst.az,
        PromotionTier=inst.promotion_tier,
        # Design doc: private subnets only; the db security group admits the app tier.
        PubliclyAccessible=False,
        AutoMinorVersionUpgrade=a.auto_minor_version_upgrade,
        EnablePerformanceInsights=True,
        PerformanceInsightsKMSKeyId=ctx.output(names.key_output),
        PerformanceInsightsRetentionPeriod=a.performance_insights_retention_days,
        MonitoringInterval=a.monitoring_interval_seconds,
        MonitoringRoleArn=ctx.output(ROLE_ARN),
        Tags=tagging.to_list(desired_tags(ctx.cfg, inst.identifier)),
    )


def _instance(ctx: Context, names: Names, found: Found, inst: AuroraInstance, writer_id: str) -> Change:
    a = ctx.cfg.aurora
    rds = ctx.client("rds")
    identifier = inst.identifier
    needs: tuple[str, ...] = (names.k_cluster, names.k_key, names.k_role)
    if identifier != writer_id and writer_id not in found.instances:
        needs += (names.k_instance(writer_id),)  # the writer is created first
    current = found.instances.get(identifier)
    if current is None:
        # (If the cluster needs replacing, the engine blocks this: no instance
        # is added to a cluster that is wrong.)

        def create() -> str:
            try:
                rds.create_db_instance(**_create_args(ctx, names, inst))
            except ClientError as exc:  # created by a run whose answer was lost?
                if error_code(exc) != "DBInstanceAlreadyExists":
                    raise
                other = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
                if other.get("DBClusterIdentifier") != names.cluster:
                    raise OpsError(
                        f"DB instance {identifier} already exists outside cluster {names.cluster} "
                        f"(in {other.get('DBClusterIdentifier') or 'no cluster'}); rename one in config or in AWS"
                    ) from None
            if identifier == writer_id:
                wait_writer(ctx, names, identifier)  # then the readers; db-instance-ready waits for "available"
            else:
                wait_instance(ctx, identifier)
            return identifier

        def add_reader() -> str:
            # The writer was made by an earlier run and may not be listed as
            # the writer yet: a reader never races it for the role. (When this
            # run makes the writer, its change, which the reader needs, waited.)
            wait_writer(ctx, names, writer_id)
            return create()

        resumed = identifier != writer_id and writer_id in found.instances
        return change("db-instance", identifier, CREATE, needs=needs, run=add_reader if resumed else create, diffs=[
            Diff("role", None, "writer" if identifier == writer_id else "reader"),
            Diff("class", None, a.instance_class), Diff("az", None, inst.az), Diff("promotion tier", None, inst.promotion_tier),
            Diff("Performance Insights", None, names.key_alias),
            Diff("Enhanced Monitoring", None, f"every {a.monitoring_interval_seconds}s"),
        ])
    return _existing(ctx, names, inst, current, needs)


def _writer_ready(ctx: Context, names: Names, writer_id: str) -> Change:
    """The new writer's wait for "available", apart from its creation so that
    the readers need not wait for it."""
    return change("db-instance-ready", writer_id, WAIT, needs=(names.k_instance(writer_id),),
                  diffs=[Diff("status", None, "available")], run=lambda: wait_instance(ctx, writer_id),
                  note="the readers are added as soon as the cluster lists this writer")


def _existing(ctx: Context, names: Names, inst: AuroraInstance, current: dict, needs: tuple[str, ...]) -> Change:
    identifier = inst.identifier
    status = current["DBInstanceStatus"]
    if status == "deleting":
        return change("db-instance", identifier, SKIP, resource_id=identifier,
                      note="being deleted (not by this tool); re-run once it is gone to create it again")
    key_arn = ctx.outputs.get(names.key_output)
    immutable = []
    if current.get("AvailabilityZone") != inst.az:
        immutable.append(Diff("az", current.get("AvailabilityZone"), inst.az))
    if current.get("PerformanceInsightsEnabled") and current.get("PerformanceInsightsKMSKeyId") != key_arn:
        immutable.append(Diff("Performance Insights KMS key", current.get("PerformanceInsightsKMSKeyId"), key_arn or f"({names.key_alias})"))
    diffs, modify = _instance_drift(ctx, names, inst, current)
    current_tags = tagging.from_list(current.get("TagList"))
    tags = desired_tags(ctx.cfg, identifier)
    diffs += kit.tag_diff(current_tags, tags)
    if immutable:
        return change("db-instance", identifier, REPLACE, resource_id=identifier, diffs=immutable + diffs,
                      note="an instance cannot move AZ, and its Performance Insights key cannot change once set: "
                           "add a new instance and retire this one by hand. Nothing was changed")
    resize = "DBInstanceClass" in modify
    writes = [(lambda: _modify_instance(ctx, names, identifier, modify)) if modify else None,
              rds_tag_step(ctx, current["DBInstanceArn"], current_tags, tags)]
    note = CLASS_WARNING if resize else ""
    if status == "creating" or status in INSTANCE_FAILED:
        return change("db-instance", identifier, WAIT, resource_id=identifier, diffs=diffs, needs=needs,
                      run=kit.sequence(lambda: wait_instance(ctx, identifier), *writes), note=f"status {status}" + (f"; {note}" if note else ""))
    if not diffs:
        return change("db-instance", identifier, NOOP, resource_id=identifier, needs=needs)
    pre = None if status in INSTANCE_READY else (lambda: wait_instance(ctx, identifier))
    return change("db-instance", identifier, UPDATE, resource_id=identifier, diffs=diffs, needs=needs,
                  run=kit.sequence(pre, *writes), note=note)


def _instance_drift(ctx: Context, names: Names, inst: AuroraInstance, current: dict) -> tuple[list[Diff], dict[str, Any]]:
    """(diffs, ModifyDBInstance arguments) for what can change in place; an
    argument that is None is an id read when the change runs."""
    a = ctx.cfg.aurora
    diffs: list[Diff] = []
    modify: dict[str, Any] = {}

    def compare(attribute: str, before: Any, after: Any, argument: str) -> None:
        if before != after:
            diffs.append(Diff(attribute, before, after))
            modify[argument] = after

    compare(CLASS_CHANGE, current.get("DBInstanceClass"), a.instance_class, "DBInstanceClass")
    compare("promotion tier", current.get("PromotionTier"), inst.promotion_tier, "PromotionTier")
    compare("publicly accessible", bool(current.get("PubliclyAccessible")), False, "PubliclyAccessible")
    compare("auto minor version upgrade", bool(current.get("AutoMinorVersionUpgrade")), a.auto_minor_version_upgrade, "AutoMinorVersionUpgrade")
    role_arn = ctx.outputs.get(ROLE_ARN)
    if current.get("MonitoringInterval", 0) != a.monitoring_interval_seconds or current.get("MonitoringRoleArn") != role_arn:
        diffs.append(Diff("Enhanced Monitoring", f"{current.get('MonitoringInterval', 0)}s, {current.get('MonitoringRoleArn')}",
                          f"{a.monitoring_interval_seconds}s, {role_arn or names.monitoring_role}"))
        # RDS wants the two together.
        modify.update(MonitoringInterval=a.monitoring_interval_seconds, MonitoringRoleArn=None)
    if "PerformanceInsightsEnabled" in current or ctx.target.is_live:  # moto does not report it: see the SKIP in instances()
        if not current.get("PerformanceInsightsEnabled"):
            diffs.append(Diff("Performance Insights", False, names.key_alias))
            modify.update(EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=None,
                          PerformanceInsightsRetentionPeriod=a.performance_insights_retention_days)
        elif current.get("PerformanceInsightsRetentionPeriod") != a.performance_insights_retention_days:
            diffs.append(Diff("Performance Insights retention days", current.get("PerformanceInsightsRetentionPeriod"),
                              a.performance_insights_retention_days))
            modify.update(EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=a.performance_insights_retention_days)
    return diffs, modify


def _modify_instance(ctx: Context, names: Names, identifier: str, modify: dict[str, Any]) -> None:
    """One ModifyDBInstance; a class change restarts the instance, so it is
    announced and waited for (the next instance restarts only after)."""
    args = dict(modify)
    if "MonitoringRoleArn" in args:
        args["MonitoringRoleArn"] = ctx.output(ROLE_ARN)
    if args.get("PerformanceInsightsKMSKeyId", "") is None:
        args["PerformanceInsightsKMSKeyId"] = ctx.output(names.key_output)
    resize = "DBInstanceClass" in args
    if resize:
        ctx.reporter.warn(f"DB instance {identifier}: {CLASS_WARNING}")
    ctx.client("rds").modify_db_instance(DBInstanceIdentifier=identifier, ApplyImmediately=True, **args)
    if resize:
        wait_instance(ctx, identifier, ctx.cfg.aurora.instance_class)
