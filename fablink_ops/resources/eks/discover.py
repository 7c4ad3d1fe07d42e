"""Discovery for the EKS stage: a handful of batched reads, no writes.

A converged environment costs 13 reads in the sandbox and 15 live (the two
add-ons are described only where AWS has them): KMS 3, IAM 2, logs 1, tag
index 1, EC2 1 (the launch template), EKS 5 (+2 add-ons); fewer when other
stages are planned with it: IAM roles, log groups, KMS aliases and tags come
from reads the stages share (shared.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import Context
from ...target import error_code
from .. import kms_key, shared
from .common import Names, Out


@dataclass
class Found:
    key: kms_key.FoundKey | None = None
    roles: dict[str, dict] = field(default_factory=dict)  # RoleDetail by role name (ours only)
    oidc_arn: str | None = None
    oidc: dict | None = None
    log_group: dict | None = None
    cluster: dict | None = None
    launch_template: dict | None = None  # the node groups' template: its latest version
    nodegroups: dict[str, dict] = field(default_factory=dict)  # ours, by name
    other_nodegroups: list[str] = field(default_factory=list)  # in the cluster, not in config
    addons: dict[str, dict] = field(default_factory=dict)  # live only: moto has no add-on API


def discover(ctx: Context, names: Names, role_names: list[str]) -> Found:
    found = Found()
    # The secrets key, found by its alias (or, after a crash between CreateKey
    # and CreateAlias, by its Alias tag): see resources/kms_key.py.
    found.key = kms_key.discover(ctx, names.key_spec(), ctx.cfg.project.region)
    _discover_roles(ctx, role_names, found)
    _discover_log_group(ctx, names, found)
    _discover_cluster(ctx, names, found)
    _discover_launch_template(ctx, names, found)
    if found.cluster:
        _discover_oidc(ctx, found)
        _discover_nodegroups(ctx, names, found)
        if ctx.target.is_live:
            _discover_addons(ctx, names, found)
    return found


def _not_found(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in codes


# ----- IAM


def _discover_roles(ctx: Context, role_names: list[str], found: Found) -> None:
    roles = shared.roles(ctx)
    for name in role_names:
        if name in roles:
            found.roles[name] = roles[name]
            ctx.set_output(Out.role_arn(name), roles[name]["Arn"])


def oidc_host(issuer: str) -> str:
    return issuer.removeprefix("https://")


def _discover_oidc(ctx: Context, found: Found) -> None:
    issuer = (found.cluster or {}).get("identity", {}).get("oidc", {}).get("issuer")
    if not issuer:
        return
    # An IAM OIDC provider's ARN is its URL under the account: asked for
    # directly, no ListOpenIDConnectProviders first.
    partition = found.cluster["arn"].split(":")[1]
    arn = f"arn:{partition}:iam::{ctx.cfg.project.account_id}:oidc-provider/{oidc_host(issuer)}"
    try:
        found.oidc = ctx.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    except ClientError as exc:
        if not _not_found(exc, "NoSuchEntity"):
            raise
        return
    found.oidc_arn = arn
    ctx.set_output(Out.OIDC_ARN, arn)


# ----- CloudWatch Logs


def _discover_log_group(ctx: Context, names: Names, found: Found) -> None:
    found.log_group = shared.log_groups(ctx).get(names.log_group)


# ----- EKS


def record_cluster(ctx: Context, cluster: dict) -> None:
    ctx.set_output(Out.CLUSTER_ARN, cluster["arn"])
    ctx.set_output(Out.CLUSTER_VERSION, cluster["version"])
    issuer = cluster.get("identity", {}).get("oidc", {}).get("issuer")
    if issuer:
        ctx.set_output(Out.OIDC_ISSUER, issuer)
    sg = cluster.get("resourcesVpcConfig", {}).get("clusterSecurityGroupId")
    if sg:
        ctx.set_output(Out.CLUSTER_SG, sg)


def _discover_cluster(ctx: Context, names: Names, found: Found) -> None:
    try:
        found.cluster = ctx.client("eks").describe_cluster(name=names.cluster)["cluster"]
    except ClientError as exc:
        if not _not_found(exc, "ResourceNotFoundException"):
            raise
        return
    record_cluster(ctx, found.cluster)


def _discover_launch_template(ctx: Context, names: Names, found: Found) -> None:
    try:
        versions = ctx.client("ec2").describe_launch_template_versions(
            LaunchTemplateName=names.launch_template, Versions=["$Latest"]
        )["LaunchTemplateVersions"]
    except ClientError as exc:
        if not _not_found(exc, "InvalidLaunchTemplateName.NotFoundException"):
            raise
        return
    found.launch_template = versions[0] if versions else None


def _discover_nodegroups(ctx: Context, names: Names, found: Found) -> None:
    eks = ctx.client("eks")
    existing = eks.paginate("list_nodegroups", "nodegroups", clusterName=names.cluster)
    ours = {names.nodegroup(z) for z in ctx.cfg.network.zones}
    for name in existing:
        if name in ours:
            found.nodegroups[name] = eks.describe_nodegroup(clusterName=names.cluster, nodegroupName=name)["nodegroup"]
        else:
            found.other_nodegroups.append(name)


def _discover_addons(ctx: Context, names: Names, found: Found) -> None:
    eks = ctx.client("eks")
    for addon in ctx.cfg.eks.addons:
        try:
            found.addons[addon.name] = eks.describe_addon(clusterName=names.cluster, addonName=addon.name)["addon"]
        except ClientError as exc:
            if not _not_found(exc, "ResourceNotFoundException"):
                raise


def role_tags(role: dict) -> dict[str, str]:
    return tagging.from_list(role.get("Tags"))
