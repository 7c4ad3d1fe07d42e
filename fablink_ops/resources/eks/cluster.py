"""The control-plane log group, the EKS cluster, and its version upgrades.

Design doc: EKS cluster (version, network configuration, security); Logging,
"EKS Cluster Logging: Control Plane Logs: All types enabled".

EKS runs one update at a time per cluster, and UpdateClusterConfig takes one
kind of change per call (logging, or endpoint access): each is its own call,
waited for before the next.
"""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...config import EKS_LOG_TYPES
from ...engine import CREATE, REPLACE, SKIP, UPDATE, WAIT, Change, Context, Diff, change_key
from ...errors import OpsError
from ...target import error_code
from .. import kit
from .common import NAME, Names, Out, change, desired_tags, issues, maybe_update, minor, wait_update, waiter
from .discover import Found, record_cluster

KIND = "eks-cluster"
CLUSTER_FAILED = {"FAILED", "DELETING"}
CLUSTER_BUSY = ("CREATING", "UPDATING", "PENDING")


# ----- log group


def log_group(ctx: Context, names: Names, found: Found) -> Change:
    return kit.log_group_change(ctx, NAME, names.log_group, found.log_group)


# ----- the cluster


def _budget(ctx: Context) -> float:
    return ctx.cfg.eks.cluster_wait_minutes * 60


def wait_active(ctx: Context, name: str) -> dict:
    """Wait for the cluster to be ACTIVE; fail at once on FAILED with AWS's health issues."""
    eks = ctx.client("eks")
    cluster = waiter(
        ctx, f"EKS cluster {name}", lambda: eks.describe_cluster(name=name)["cluster"], {"ACTIVE"}, CLUSTER_FAILED, _budget(ctx)
    )
    record_cluster(ctx, cluster)
    return cluster


def _subnet_names(ctx: Context, names: Names) -> list[str]:
    return [names.private_subnet(z) for z in ctx.cfg.network.zones]


def _vpc_config(ctx: Context, subnet_ids: list[str] | None) -> dict[str, Any]:
    eks = ctx.cfg.eks
    public = bool(eks.admin_cidrs)
    config: dict[str, Any] = {"endpointPrivateAccess": eks.endpoint_private_access, "endpointPublicAccess": public}
    if public:
        config["publicAccessCidrs"] = list(eks.admin_cidrs)
    if subnet_ids is not None:
        config["subnetIds"] = subnet_ids
    return config


def _logging(types: list[str]) -> dict:
    enabled = [t for t in EKS_LOG_TYPES if t in types]
    disabled = [t for t in EKS_LOG_TYPES if t not in types]
    entries = [{"types": enabled, "enabled": True}] if enabled else []
    if disabled:
        entries.append({"types": disabled, "enabled": False})
    return {"clusterLogging": entries}


def enabled_log_types(cluster: dict) -> list[str]:
    on = set()
    for entry in cluster.get("logging", {}).get("clusterLogging", []):
        if entry.get("enabled"):
            on.update(entry.get("types", []))
    return [t for t in EKS_LOG_TYPES if t in on]


def _encryption_key(cluster: dict) -> str | None:
    for entry in cluster.get("encryptionConfig") or []:
        if "secrets" in entry.get("resources", []):
            return entry.get("provider", {}).get("keyArn")
    return None


def _immutable(ctx: Context, names: Names, cluster: dict) -> list[Diff]:
    """Drift that cannot be corrected in place: shown as replace-required."""
    eks = ctx.cfg.eks
    diffs = []
    wanted = [ctx.outputs.get(f"subnet:{n}") for n in _subnet_names(ctx, names)]
    current = sorted(cluster.get("resourcesVpcConfig", {}).get("subnetIds", []))
    if None in wanted or sorted(wanted) != current:  # type: ignore[type-var]
        diffs.append(Diff("subnets", current, [w or n for w, n in zip(wanted, _subnet_names(ctx, names))]))
    service = cluster.get("kubernetesNetworkConfig", {}).get("serviceIpv4Cidr")
    if service != eks.service_cidr:
        diffs.append(Diff("service CIDR", service, eks.service_cidr))
    role = ctx.outputs.get(Out.role_arn(names.cluster_role))
    if role and cluster.get("roleArn") != role:
        diffs.append(Diff("role", cluster.get("roleArn"), role))
    key, wanted_key = _encryption_key(cluster), ctx.outputs.get(names.key_arn_output)
    if key and wanted_key and key != wanted_key:  # secrets encryption cannot be changed or removed once on
        diffs.append(Diff("secrets key", key, wanted_key))
    return diffs


def _updates(ctx: Context, names: Names, cluster: dict) -> tuple[list[Diff], list[Callable[[], Any]]]:
    """In-place drift and the steps that correct it, from one description."""
    eks_cfg, eks = ctx.cfg.eks, ctx.client("eks")
    name = names.cluster
    diffs: list[Diff] = []
    steps: list[Callable[[], Any]] = []

    def update_config(what: str, before: Any, **kwargs: Any) -> Callable[[], None]:
        # The token covers one change from one state: a retried call (its
        # answer lost) is the same update, not a second one.
        token = kit.request_token("eks-config", cluster["arn"], what, repr(before), repr(sorted(kwargs.items())))

        def step() -> None:
            resp = eks.update_cluster_config(name=name, clientRequestToken=token, **kwargs)
            wait_update(ctx, f"EKS cluster {name} {what}", resp.get("update"), _budget(ctx))

        return step

    types = enabled_log_types(cluster)
    if types != list(t for t in EKS_LOG_TYPES if t in eks_cfg.log_types):
        diffs.append(Diff("log types", types, list(eks_cfg.log_types)))
        steps.append(update_config("logging", types, logging=_logging(list(eks_cfg.log_types))))
    vpc = cluster.get("resourcesVpcConfig", {})
    want = _vpc_config(ctx, None)
    access_diffs = []
    for key, label in (("endpointPrivateAccess", "private endpoint"), ("endpointPublicAccess", "public endpoint")):
        if bool(vpc.get(key)) != want[key]:
            access_diffs.append(Diff(label, bool(vpc.get(key)), want[key]))
    # AWS reports 0.0.0.0/0 while the public endpoint is off: compare only when on.
    if want["endpointPublicAccess"] and sorted(vpc.get("publicAccessCidrs", [])) != sorted(want["publicAccessCidrs"]):
        access_diffs.append(Diff("public access CIDRs", vpc.get("publicAccessCidrs"), want["publicAccessCidrs"]))
    if access_diffs:
        diffs += access_diffs
        steps.append(update_config("endpoint access", vpc, resourcesVpcConfig=want))
    if _encryption_key(cluster) is None:
        diffs.append(Diff("secrets encryption", None, names.key_alias))

        def encrypt() -> None:
            # One-way: once on, secrets encryption cannot be turned off.
            resp = eks.associate_encryption_config(
                clusterName=name,
                encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": ctx.output(names.key_arn_output)}}],
                clientRequestToken=kit.request_token("eks-encryption", cluster["arn"]),
            )
            wait_update(ctx, f"EKS cluster {name} secrets encryption", resp.get("update"), _budget(ctx))

        steps.append(encrypt)
    tags = desired_tags(ctx.cfg, name)
    current = cluster.get("tags") or {}
    todo = tagging.missing(current, tags)
    diffs += kit.tag_diff(current, tags)
    if todo:
        steps.append(lambda: eks.tag_resource(resourceArn=cluster["arn"], tags=todo))
    return diffs, steps


def cluster(ctx: Context, names: Names, found: Found) -> Change:
    cfg = ctx.cfg
    subnet_names = _subnet_names(ctx, names)
    needs = (names.k_key, names.k_role(names.cluster_role), names.k_log_group, *(change_key("subnet", s) for s in subnet_names))
    if found.cluster is None:
        diffs = [
            Diff("version", None, cfg.eks.version),
            Diff("subnets", None, subnet_names),
            Diff("service CIDR", None, cfg.eks.service_cidr),
            Diff("log types", None, list(cfg.eks.log_types)),
            Diff("public access CIDRs", None, list(cfg.eks.admin_cidrs) or "public endpoint off"),
            Diff("secrets key", None, names.key_alias),
        ]
        return change(KIND, names.cluster, CREATE, diffs=diffs, needs=needs, run=lambda: _create_cluster(ctx, names, subnet_names))
    return _existing_cluster(ctx, names, found.cluster, needs)


def _create_cluster(ctx: Context, names: Names, subnet_names: list[str]) -> str:
    cfg, name = ctx.cfg, names.cluster
    subnet_ids = [ctx.output(f"subnet:{s}") for s in subnet_names]
    key_arn = ctx.output(names.key_arn_output)
    try:
        ctx.client("eks").create_cluster(
            name=name,
            version=cfg.eks.version,
            roleArn=ctx.output(Out.role_arn(names.cluster_role)),
            resourcesVpcConfig=_vpc_config(ctx, subnet_ids),
            kubernetesNetworkConfig={"serviceIpv4Cidr": cfg.eks.service_cidr, "ipFamily": "ipv4"},
            logging=_logging(list(cfg.eks.log_types)),
            encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": key_arn}}],
            tags=desired_tags(cfg, name),
            clientRequestToken=kit.request_token("eks-cluster", name, *subnet_ids, key_arn),
        )
    except ClientError as exc:  # created by a run whose answer was lost: wait for that one
        if error_code(exc) != "ResourceInUseException":
            raise
    return wait_active(ctx, name)["arn"]


def _existing_cluster(ctx: Context, names: Names, current: dict, needs: tuple[str, ...]) -> Change:
    name = names.cluster
    arn, status = current["arn"], current["status"]
    if status == "DELETING":
        raise OpsError(f"EKS cluster {name} is being deleted: re-run once it is gone")
    if status == "FAILED":
        why = issues(current.get("health"))
        return change(
            KIND, name, REPLACE, resource_id=arn, diffs=[Diff("status", status, "ACTIVE")],
            note="the cluster FAILED" + (f" ({why})" if why else "") + ": delete it (aws eks delete-cluster), "
            "then re-run; nothing was changed",
        )
    immutable = _immutable(ctx, names, current)
    if immutable:
        return change(
            KIND, name, REPLACE, resource_id=arn, diffs=immutable,
            note="subnets, service CIDR, role and secrets key of a cluster cannot change: build a new cluster "
            "and migrate; nothing was changed",
        )
    diffs, steps = _updates(ctx, names, current)
    if status in CLUSTER_BUSY:
        # An interrupted run left it CREATING (or an update UPDATING): wait
        # for it, never create another; then correct what still differs,
        # judged from a fresh description.
        def wait_then_update() -> str:
            fresh = wait_active(ctx, name)
            for step in _updates(ctx, names, fresh)[1]:
                step()
            return arn

        return change(KIND, name, WAIT, diffs=diffs, resource_id=arn, needs=needs, run=wait_then_update,
                      note=f"{status}: apply waits for it to be ACTIVE")
    return maybe_update(KIND, name, arn, diffs, steps, needs)


# ----- version upgrades: one minor version at a time, control plane first


def next_version(current: str, desired: str) -> str:
    """The one minor step from current toward desired."""
    return f"1.{min(minor(desired), minor(current) + 1)}"


def version_after_run(ctx: Context, found: Found) -> str | None:
    """The control plane's version once this run's upgrade (if any) is done."""
    if found.cluster is None:
        return ctx.cfg.eks.version
    current = found.cluster["version"]
    if minor(current) >= ctx.cfg.eks.minor:
        return current
    return next_version(current, ctx.cfg.eks.version)


def cluster_version(ctx: Context, names: Names, found: Found) -> Change | None:
    """None when there is nothing to upgrade (or no cluster yet: it is created at the configured version)."""
    if found.cluster is None:
        return None
    current, desired = found.cluster["version"], ctx.cfg.eks.version
    kind, name, arn = "eks-version", names.cluster, found.cluster["arn"]
    if minor(current) == minor(desired):
        return None
    if minor(current) > minor(desired):
        return change(
            kind, name, REPLACE, resource_id=arn, diffs=[Diff("version", current, desired)],
            note="Kubernetes cannot be downgraded: set eks.version to the cluster's version or newer; nothing was changed",
        )
    step = next_version(current, desired)
    diffs = [Diff("version", current, step)]
    note = "" if step == desired else f"one minor version per run: run again to go on to {desired}"
    if not ctx.target.is_live:
        return change(kind, name, SKIP, diffs=diffs, resource_id=arn,
                      note="the sandbox (moto) cannot emulate EKS version upgrades; on --live the control plane is upgraded here")

    def upgrade() -> str:
        eks = ctx.client("eks")
        fresh = eks.describe_cluster(name=name)["cluster"]
        if minor(fresh["version"]) >= minor(step):  # done by a run whose answer was lost
            return fresh["version"]
        resp = eks.update_cluster_version(name=name, version=step, clientRequestToken=kit.request_token("eks-version", arn, step))
        wait_update(ctx, f"EKS cluster {name} upgrade to {step}", resp.get("update"), _budget(ctx))
        ctx.set_output(Out.CLUSTER_VERSION, step)
        return step

    # After the cluster's own config updates: EKS runs one update at a time.
    return change(kind, name, UPDATE, diffs=diffs, resource_id=arn, needs=(names.k_cluster,), run=upgrade, note=note)


def after_version_change(ctx: Context, names: Names, found: Found) -> tuple[str, ...]:
    """What a change that must follow the control plane's upgrade needs: the
    upgrade's key when this plan has one, nothing when the version is level
    (a need must name a change of the plan: stages.unresolved_needs)."""
    return (names.k_cluster_version,) if cluster_version(ctx, names, found) is not None else ()


