"""Read what exists of the Aurora stage: one call per resource type, by name.

A no-op plan of the stage alone makes 13 calls live: KMS 3 (kms_key.py: the
tag search for a key without its alias only runs when the alias is missing),
IAM 1, CloudWatch Logs 1 and the tag index 1 (shared.py, the same reads for
every stage of a plan), RDS 5 (cluster, its instances, subnet group,
parameter group and its user-set parameters). moto's tag index lacks RDS
subnet and parameter groups, so the sandbox reads their tags one by one (+2).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import Context
from ...errors import OpsError
from ...target import error_code
from .. import kms_key, shared
from .common import CLUSTER_ARN, ROLE_ARN, Found, Names, desired_tags, one


def discover(ctx: Context, names: Names) -> Found:
    found = Found()
    found.key = kms_key.discover(ctx, names.key_spec(), ctx.cfg.project.region)
    _role(ctx, names, found)
    _log_groups(ctx, names, found)
    _subnet_group(ctx, names, found)
    _parameter_group(ctx, names, found)
    _cluster(ctx, names, found)
    return found


def _missing(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in codes


def _role(ctx: Context, names: Names, found: Found) -> None:
    found.role = shared.roles(ctx).get(names.monitoring_role)
    if found.role is None:
        return
    ctx.set_output(ROLE_ARN, found.role["Arn"])
    found.role_policies = shared.attached_policies(found.role)


def _log_groups(ctx: Context, names: Names, found: Found) -> None:
    groups = shared.log_groups(ctx)
    for name in (names.log_group(t) for t in ctx.cfg.aurora.log_exports):
        if name in groups:
            found.log_groups[name] = groups[name]


def _rds_tags(ctx: Context, arn: str, name: str) -> dict[str, str]:
    return shared.tags_of(
        ctx, arn, desired_tags(ctx.cfg, name),
        lambda: tagging.from_list(ctx.client("rds").list_tags_for_resource(ResourceName=arn).get("TagList")),
    )


def _subnet_group(ctx: Context, names: Names, found: Found) -> None:
    try:
        groups = ctx.client("rds").describe_db_subnet_groups(DBSubnetGroupName=names.subnet_group)["DBSubnetGroups"]
    except ClientError as exc:
        if not _missing(exc, "DBSubnetGroupNotFoundFault"):
            raise
        return
    found.subnet_group = groups[0] if groups else None
    if found.subnet_group:
        found.subnet_group_tags = _rds_tags(ctx, found.subnet_group["DBSubnetGroupArn"], names.subnet_group)


def _parameter_group(ctx: Context, names: Names, found: Found) -> None:
    rds = ctx.client("rds")
    try:
        groups = rds.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=names.parameter_group)["DBClusterParameterGroups"]
    except ClientError as exc:
        if not _missing(exc, "DBParameterGroupNotFound", "DBClusterParameterGroupNotFound"):
            raise
        return
    found.parameter_group = groups[0] if groups else None
    if not found.parameter_group:
        return
    found.parameter_group_tags = _rds_tags(ctx, found.parameter_group["DBClusterParameterGroupArn"], names.parameter_group)
    # Source=user: only what was set on this group (AWS lists the ~400 engine
    # defaults otherwise).
    params = rds.paginate(
        "describe_db_cluster_parameters", "Parameters", DBClusterParameterGroupName=names.parameter_group, Source="user"
    )
    found.parameters = {p["ParameterName"]: p for p in params}


def _cluster(ctx: Context, names: Names, found: Found) -> None:
    rds = ctx.client("rds")
    by_id = [{"Name": "db-cluster-id", "Values": [names.cluster]}]
    found.cluster = one(rds.paginate("describe_db_clusters", "DBClusters", Filters=by_id), "DB cluster", "DBClusterArn")
    if found.cluster is None:
        return
    if found.cluster["Status"] == "deleting":
        raise OpsError(f"DB cluster {names.cluster} is being deleted (by someone else: this tool never deletes); re-run once it is gone")
    ctx.set_output(CLUSTER_ARN, found.cluster["DBClusterArn"])
    # The resource id: the backend's rds-db:connect names it (workload stage).
    for key, attr in (("aurora:endpoint", "Endpoint"), ("aurora:reader-endpoint", "ReaderEndpoint"),
                      ("aurora:resource-id", "DbClusterResourceId")):
        if found.cluster.get(attr):
            ctx.set_output(key, found.cluster[attr])
    for inst in rds.paginate("describe_db_instances", "DBInstances", Filters=by_id):
        found.instances[inst["DBInstanceIdentifier"]] = inst
