"""Discovery for the EKS stage: a handful of batched reads, no writes.

A converged environment costs 14 reads in the sandbox and 16 live (the two
add-ons are described only where AWS has them): KMS 4, IAM 3, logs 2, EKS 5
(+2 add-ons). IAM roles come from one paginated GetAccountAuthorizationDetails
(trust, inline and attached policies and tags of every role at once) rather
than three calls per role.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import Context
from ...errors import OpsError
from ...target import error_code
from .common import Names, Out

KEY_GONE_STATES = ("PendingDeletion", "PendingReplicaDeletion")


@dataclass
class Found:
    key: dict | None = None  # KeyMetadata
    key_aliased: bool = False  # our alias exists and points at ``key``
    key_rotation: bool = False
    key_tags: dict[str, str] = field(default_factory=dict)
    roles: dict[str, dict] = field(default_factory=dict)  # RoleDetail by role name (ours only)
    oidc_arn: str | None = None
    oidc: dict | None = None
    log_group: dict | None = None
    log_group_tags: dict[str, str] = field(default_factory=dict)
    cluster: dict | None = None
    nodegroups: dict[str, dict] = field(default_factory=dict)  # ours, by name
    other_nodegroups: list[str] = field(default_factory=list)  # in the cluster, not in config
    addons: dict[str, dict] = field(default_factory=dict)
    addons_read: bool = False  # False where add-ons cannot be read (the sandbox)


def discover(ctx: Context, names: Names, role_names: list[str]) -> Found:
    found = Found()
    _discover_key(ctx, names, found)
    _discover_roles(ctx, role_names, found)
    _discover_log_group(ctx, names, found)
    _discover_cluster(ctx, names, found)
    if found.cluster:
        _discover_oidc(ctx, found)
        _discover_nodegroups(ctx, names, found)
        if ctx.target.is_live:
            _discover_addons(ctx, names, found)
    return found


def _not_found(exc: ClientError, *codes: str) -> bool:
    return error_code(exc) in codes


# ----- KMS: keys cannot be named, so the alias is the name. A run that died
# between CreateKey and CreateAlias leaves a key without its alias: the key
# carries its intended alias as its Name tag (set in CreateKey itself), and is
# found by that tag through the Resource Groups Tagging API (one call) before
# anything is created.


def _discover_key(ctx: Context, names: Names, found: Found) -> None:
    kms = ctx.client("kms")
    aliases = kms.paginate("list_aliases", "Aliases")
    alias = next((a for a in aliases if a["AliasName"] == names.key_alias), None)
    meta = None
    if alias and alias.get("TargetKeyId"):
        meta = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
        found.key_aliased = True
    else:
        meta = _key_by_tag(ctx, names)
    if meta is None:
        return
    found.key = meta
    ctx.set_output(Out.KEY_ARN, meta["Arn"])
    if meta["KeyState"] in KEY_GONE_STATES:
        return  # rotation and tags cannot be read; the plan reports the state
    found.key_rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
    tags = kms.paginate("list_resource_tags", "Tags", KeyId=meta["KeyId"])
    found.key_tags = {t["TagKey"]: t["TagValue"] for t in tags}


def _key_by_tag(ctx: Context, names: Names) -> dict | None:
    # The tagging API is eventually consistent: a key created seconds ago may
    # not be listed yet. A re-run that fast after a crash is the one window.
    mappings = ctx.client("resourcegroupstaggingapi").paginate(
        "get_resources",
        "ResourceTagMappingList",
        ResourceTypeFilters=["kms:key"],
        TagFilters=[{"Key": "Name", "Values": [names.key_name]}, {"Key": "ManagedBy", "Values": ["fablink-ops"]}],
    )
    kms = ctx.client("kms")
    live = []
    for mapping in mappings:
        meta = kms.describe_key(KeyId=mapping["ResourceARN"])["KeyMetadata"]
        if meta["KeyState"] not in KEY_GONE_STATES:
            live.append(meta)
    if len(live) > 1:
        raise OpsError(
            f"two KMS keys are tagged Name={names.key_name} and none has {names.key_alias}: "
            f"{live[0]['Arn']} and {live[1]['Arn']}; schedule the deletion of one, then re-run"
        )
    return live[0] if live else None


# ----- IAM


def _discover_roles(ctx: Context, role_names: list[str], found: Found) -> None:
    wanted = set(role_names)
    details = ctx.client("iam").paginate("get_account_authorization_details", "RoleDetailList", Filter=["Role"])
    for role in details:
        if role["RoleName"] in wanted:
            found.roles[role["RoleName"]] = role
            ctx.set_output(Out.role_arn(role["RoleName"]), role["Arn"])


def oidc_host(issuer: str) -> str:
    return issuer.removeprefix("https://")


def _discover_oidc(ctx: Context, found: Found) -> None:
    issuer = (found.cluster or {}).get("identity", {}).get("oidc", {}).get("issuer")
    if not issuer:
        return
    iam = ctx.client("iam")
    suffix = f":oidc-provider/{oidc_host(issuer)}"
    arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    arn = next((a for a in arns if a.endswith(suffix)), None)
    if arn:
        found.oidc_arn = arn
        found.oidc = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        ctx.set_output(Out.OIDC_ARN, arn)


# ----- CloudWatch Logs


def _discover_log_group(ctx: Context, names: Names, found: Found) -> None:
    logs = ctx.client("logs")
    groups = logs.paginate("describe_log_groups", "logGroups", logGroupNamePrefix=names.log_group)
    found.log_group = next((g for g in groups if g["logGroupName"] == names.log_group), None)
    if found.log_group:
        found.log_group_tags = logs.list_tags_log_group(logGroupName=names.log_group).get("tags", {})


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
    found.addons_read = True
    for addon in ctx.cfg.eks.addons:
        try:
            found.addons[addon.name] = eks.describe_addon(clusterName=names.cluster, addonName=addon.name)["addon"]
        except ClientError as exc:
            if not _not_found(exc, "ResourceNotFoundException"):
                raise


def role_tags(role: dict) -> dict[str, str]:
    return tagging.from_list(role.get("Tags"))
