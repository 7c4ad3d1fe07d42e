"""Read what exists of the Aurora stage: one call per resource type, by name.

A no-op plan makes 15 calls: KMS 4 (kms_key.py: the tag search for a key
without its alias only runs when the alias is missing), IAM 2, CloudWatch
Logs 2, RDS 7 (cluster, its instances, subnet group + tags, parameter group +
its user-set parameters + tags).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import Context
from ...errors import OpsError
from ...target import error_code
from .. import kms_key
from .common import CLUSTER_ARN, ROLE_ARN, Found, Names, one


def discover(ctx: Context, names: Names) -> Found:
    found = Found()
    found.key = kms_key.discover(ctx, names.key_alias, ctx.cfg.project.region)
    _role(ctx, names, found)
    _log_groups(ctx, names, found)
    _subnet_group(ctx, names, found)
    _parameter_group(ctx, names, found)
    _cluster(ctx, names, found)
    return found


def _missing(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in codes


def _role(ctx: Context, names: Names, found: Found) -> None:
    iam = ctx.client("iam")
    try:
        found.role = iam.get_role(RoleName=names.monitoring_role)["Role"]
    except ClientError as exc:
        if not _missing(exc, "NoSuchEntity"):
            raise
        return
    ctx.set_output(ROLE_ARN, found.role["Arn"])
    attached = iam.paginate("list_attached_role_policies", "AttachedPolicies", RoleName=names.monitoring_role)
    found.role_policies = [p["PolicyArn"] for p in attached]


def _log_groups(ctx: Context, names: Names, found: Found) -> None:
    logs = ctx.client("logs")
    prefix = names.log_group("")
    wanted = {names.log_group(t) for t in ctx.cfg.aurora.log_exports}
    for group in logs.paginate("describe_log_groups", "logGroups", logGroupNamePrefix=prefix):
        if group["logGroupName"] in wanted:
            found.log_groups[group["logGroupName"]] = group
            found.log_group_tags[group["logGroupName"]] = logs.list_tags_log_group(logGroupName=group["logGroupName"]).get("tags", {})


def _rds_tags(ctx: Context, arn: str) -> dict[str, str]:
    return tagging.from_list(ctx.client("rds").list_tags_for_resource(ResourceName=arn).get("TagList"))


def _subnet_group(ctx: Context, names: Names, found: Found) -> None:
    try:
        groups = ctx.client("rds").describe_db_subnet_groups(DBSubnetGroupName=names.subnet_group)["DBSubnetGroups"]
    except ClientError as exc:
        if not _missing(exc, "DBSubnetGroupNotFoundFault"):
            raise
        return
    found.subnet_group = groups[0] if groups else None
    if found.subnet_group:
        found.subnet_group_tags = _rds_tags(ctx, found.subnet_group["DBSubnetGroupArn"])


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
    found.parameter_group_tags = _rds_tags(ctx, found.parameter_group["DBClusterParameterGroupArn"])
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
    for key, attr in (("aurora:endpoint", "Endpoint"), ("aurora:reader-endpoint", "ReaderEndpoint")):
        if found.cluster.get(attr):
            ctx.set_output(key, found.cluster[attr])
    for inst in rds.paginate("describe_db_instances", "DBInstances", Filters=by_id):
        found.instances[inst["DBInstanceIdentifier"]] = inst
