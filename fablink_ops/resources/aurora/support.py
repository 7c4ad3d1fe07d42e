"""What the cluster stands on: the Enhanced Monitoring role, the log groups it
exports to, its DB subnet group and its cluster parameter group."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from .. import kit
from ...engine import CREATE, REPLACE, Change, Context, Diff, change_key
from ...target import error_code
from .common import NAME, ROLE_ARN, Found, Names, change, desired_tags, maybe_update, rds_tag_step

# ----- Enhanced Monitoring role
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Monitoring.OS.Enabling.html


def monitoring_policy_arn(region: str) -> str:
    return f"arn:{kit.partition(region)}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def monitoring_trust(ctx: Context) -> dict:
    """RDS's monitoring service only, for this account only (confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ctx.cfg.project.account_id}},
            }
        ],
    }


def monitoring_role(ctx: Context, names: Names, found: Found) -> Change:
    name = names.monitoring_role
    iam = ctx.client("iam")
    tags = desired_tags(ctx.cfg, name)
    trust = monitoring_trust(ctx)
    policy = monitoring_policy_arn(ctx.cfg.project.region)

    def attach() -> None:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy)  # idempotent

    if found.role is None:

        def create() -> str:
            arn = kit.create_role(ctx, name, trust, "Lets RDS Enhanced Monitoring publish OS metrics of the FabLink Aurora instances", tags)
            ctx.set_output(ROLE_ARN, arn)
            attach()
            return arn

        return change("iam-role", name, CREATE, diffs=[Diff("managed policy", None, "AmazonRDSEnhancedMonitoringRole")], run=create)
    diffs, steps = kit.role_drift(ctx, found.role, trust, "monitoring.rds.amazonaws.com, this account only", tags)
    if policy not in found.role_policies:
        diffs.append(Diff("managed policy", None, "AmazonRDSEnhancedMonitoringRole"))
        steps.append(attach)
    return maybe_update("iam-role", name, found.role["Arn"], diffs, steps)


# ----- log groups the cluster exports to


def log_group(ctx: Context, names: Names, found: Found, log_type: str) -> Change:
    # Created before the cluster: RDS exports into an existing group, keeping
    # its retention and tags (one it creates itself never expires).
    name = names.log_group(log_type)
    return kit.log_group_change(ctx, NAME, name, found.log_groups.get(name))


# ----- DB subnet group: the three private subnets


def subnet_group(ctx: Context, names: Names, found: Found) -> Change:
    name = names.subnet_group
    rds = ctx.client("rds")
    tags = desired_tags(ctx.cfg, name)
    subnets = names.private_subnets
    needs = tuple(change_key("subnet", s) for s in subnets)
    description = f"FabLink Aurora PostgreSQL: the private subnets of {ctx.cfg.network.vpc_name}"

    def subnet_ids() -> list[str]:
        return [ctx.output(f"subnet:{s}") for s in subnets]

    group = found.subnet_group
    if group is None:

        def create() -> str:
            try:
                rds.create_db_subnet_group(
                    DBSubnetGroupName=name, DBSubnetGroupDescription=description, SubnetIds=subnet_ids(), Tags=tagging.to_list(tags)
                )
            except ClientError as exc:  # created by a run whose answer was lost
                if error_code(exc) != "DBSubnetGroupAlreadyExists":
                    raise
            return name

        return change("db-subnet-group", name, CREATE, diffs=[Diff("subnets", None, subnets)], needs=needs, run=create)
    vpc_id = ctx.outputs.get("vpc")
    if vpc_id and group.get("VpcId") != vpc_id:
        return change(
            "db-subnet-group", name, REPLACE, resource_id=name, diffs=[Diff("vpc", group.get("VpcId"), vpc_id)],
            note="a subnet group in use cannot move to another VPC; nothing was changed",
        )
    current = sorted(s["SubnetIdentifier"] for s in group.get("Subnets", []))
    wanted = [ctx.outputs.get(f"subnet:{s}", f"({s})") for s in subnets]
    diffs: list[Diff] = []
    steps: list = []
    if current != sorted(wanted):
        diffs.append(Diff("subnets", current, subnets))
        steps.append(lambda: rds.modify_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=description, SubnetIds=subnet_ids()))
    diffs += kit.tag_diff(found.subnet_group_tags, tags)
    steps.append(rds_tag_step(ctx, group["DBSubnetGroupArn"], found.subnet_group_tags, tags))
    return maybe_update("db-subnet-group", name, name, diffs, steps, needs)


# ----- cluster parameter group


def desired_parameters(ctx: Context) -> dict[str, tuple[str, str]]:
    """Parameter -> (value, apply method): the config's list plus the slow-query threshold."""
    a = ctx.cfg.aurora
    out = {p.name: (p.value, p.apply) for p in a.parameters}
    # "Slow Query Logging: Enabled": statements running longer are logged
    # (exported to CloudWatch Logs). Dynamic: applies without a restart.
    out["log_min_duration_statement"] = (str(a.slow_query_threshold_ms), "immediate")
    return out


def _modify_parameters(ctx: Context, name: str, params: dict[str, tuple[str, str]]) -> None:
    items = [{"ParameterName": k, "ParameterValue": v, "ApplyMethod": m} for k, (v, m) in sorted(params.items())]
    for i in range(0, len(items), 20):  # ModifyDBClusterParameterGroup takes 20 at a time
        ctx.client("rds").modify_db_cluster_parameter_group(DBClusterParameterGroupName=name, Parameters=items[i : i + 20])


def parameter_group(ctx: Context, names: Names, found: Found) -> Change:
    name = names.parameter_group
    family = ctx.cfg.aurora.parameter_group_family
    rds = ctx.client("rds")
    tags = desired_tags(ctx.cfg, name)
    wanted = desired_parameters(ctx)
    group = found.parameter_group
    if group is None:

        def create() -> str:
            try:
                rds.create_db_cluster_parameter_group(
                    DBClusterParameterGroupName=name,
                    DBParameterGroupFamily=family,
                    Description=f"FabLink Aurora PostgreSQL {ctx.cfg.aurora.engine_major}: TLS required, slow-query logging",
                    Tags=tagging.to_list(tags),
                )
            except ClientError as exc:  # created by a run whose answer was lost
                if error_code(exc) != "DBParameterGroupAlreadyExists":
                    raise
            _modify_parameters(ctx, name, wanted)
            return name

        return change(
            "db-cluster-parameter-group", name, CREATE, run=create,
            diffs=[Diff("family", None, family)] + [Diff(k, None, v) for k, (v, _) in sorted(wanted.items())],
        )
    if group.get("DBParameterGroupFamily") != family:
        return change(
            "db-cluster-parameter-group", name, REPLACE, resource_id=name,
            diffs=[Diff("family", group.get("DBParameterGroupFamily"), family)],
            note="a parameter group's family cannot change; nothing was changed",
        )
    todo: dict[str, tuple[str, str]] = {}
    diffs: list[Diff] = []
    for param, (value, method) in sorted(wanted.items()):
        current: Any = found.parameters.get(param, {}).get("ParameterValue")
        if current != value:
            todo[param] = (value, method)
            diffs.append(Diff(param, current, value))
    steps: list = [(lambda: _modify_parameters(ctx, name, todo)) if todo else None]
    diffs += kit.tag_diff(found.parameter_group_tags, tags)
    steps.append(rds_tag_step(ctx, group["DBClusterParameterGroupArn"], found.parameter_group_tags, tags))
    return maybe_update("db-cluster-parameter-group", name, name, diffs, steps)
