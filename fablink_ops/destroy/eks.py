"""The EKS cluster of this environment: add-ons and node groups, then the
cluster, then its launch template, OIDC provider, roles, log group, key.

DeleteCluster refuses while node groups exist (ResourceInUseException), so
they go first and are waited for (~5-10 min each in AWS; deleted together).
A node group is deleted when it carries our tags, or when it belongs to a
cluster that does (a node group cannot outlive its cluster). EKS add-ons:
moto has no add-on API, so in the sandbox they are not listed (the plan says
so); against AWS they are deleted with the node groups.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..engine import Context
from ..target import error_code
from . import iam, kms, logs
from .common import Doomed, ec2_filters, gone, owned, status_or_gone, wait_gone

STAGE = "eks"
NOT_FOUND = ("ResourceNotFoundException",)


def find(ctx: Context, notes: list[str]) -> list[Doomed]:
    eks = ctx.client("eks")
    out: list[Doomed] = []
    for name in eks.paginate("list_clusters", "clusters"):
        cluster = _read(lambda: eks.describe_cluster(name=name)["cluster"])
        if cluster is None or not owned(ctx, cluster.get("tags") or {}):
            continue
        if ctx.target.is_live:
            out += [_addon(ctx, name, a) for a in eks.paginate("list_addons", "addons", clusterName=name)]
        else:
            notes.append(f"EKS add-ons of {name} not listed: moto has no add-on API (against AWS they are deleted first)")
        out += [_nodegroup(ctx, name, ng) for ng in eks.paginate("list_nodegroups", "nodegroups", clusterName=name)]
        out.append(_cluster(ctx, cluster))
    ec2 = ctx.client("ec2")
    for lt in ec2.paginate("describe_launch_templates", "LaunchTemplates", Filters=ec2_filters(ctx)):
        if not owned(ctx, tagging.from_list(lt.get("Tags"))):
            continue  # the server-side filter is not trusted alone
        lt_id = lt["LaunchTemplateId"]
        out.append(Doomed(STAGE, "launch-template", lt["LaunchTemplateName"], lt_id, 2, lambda lt_id=lt_id: gone(
            lambda: ec2.delete_launch_template(LaunchTemplateId=lt_id), "InvalidLaunchTemplateId.NotFound") and None))
    return out + iam.oidc_providers(ctx, STAGE, 2) + iam.roles(ctx, STAGE, 3) + logs.log_groups(ctx, STAGE, 3) + kms.keys(ctx, STAGE, 3)


def _read(call):
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None  # deleted since the listing
        raise


def _addon(ctx: Context, cluster: str, addon: str) -> Doomed:
    eks = ctx.client("eks")

    def status() -> str:
        return eks.describe_addon(clusterName=cluster, addonName=addon)["addon"]["status"]

    return Doomed(STAGE, "eks-addon", f"{cluster}/{addon}", addon, 0,
                  lambda: gone(lambda: eks.delete_addon(clusterName=cluster, addonName=addon), *NOT_FOUND) and None,
                  wait=lambda: wait_gone(ctx, f"add-on {addon}", lambda: status_or_gone(status, *NOT_FOUND), {"DELETE_FAILED"}))


def _nodegroup(ctx: Context, cluster: str, name: str) -> Doomed:
    eks = ctx.client("eks")

    def status() -> str:
        return eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]["status"]

    def delete() -> None:
        if status_or_gone(status, *NOT_FOUND) != "DELETING":  # a crashed run's delete is under way otherwise
            gone(lambda: eks.delete_nodegroup(clusterName=cluster, nodegroupName=name), *NOT_FOUND)

    return Doomed(STAGE, "nodegroup", name, f"{cluster}/{name}", 0, delete,
                  wait=lambda: wait_gone(ctx, f"node group {name}", lambda: status_or_gone(status, *NOT_FOUND), {"DELETE_FAILED"}))


def _cluster(ctx: Context, cluster: dict) -> Doomed:
    eks = ctx.client("eks")
    name = cluster["name"]

    def status() -> str:
        return eks.describe_cluster(name=name)["cluster"]["status"]

    def delete() -> None:
        if cluster.get("status") != "DELETING":
            gone(lambda: eks.delete_cluster(name=name), *NOT_FOUND)

    return Doomed(STAGE, "eks-cluster", name, cluster["arn"], 1, delete,
                  wait=lambda: wait_gone(ctx, f"EKS cluster {name}", lambda: status_or_gone(status, *NOT_FOUND), {"FAILED"}))
