"""Managed node groups: one per AZ, each only in its own AZ's private subnet.

Design doc: EKS cluster, "Node Groups: 3 (one per AZ)", "Instance Types:
m5.large, m5.xlarge"; VPC Security, "Private subnets for EKS nodes". A group
per AZ (rather than one group over three subnets) keeps each AZ's capacity
its own: losing an AZ never makes the autoscaler shuffle the others.
"""

from __future__ import annotations

from typing import Any, Callable

from botocore.exceptions import ClientError

from ...config import Zone
from ...engine import CREATE, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Change, Context, Diff
from ...target import error_code
from .. import kit
from .common import Names, Out, change, desired_tags, issues, maybe_update, minor, wait_update, waiter
from .cluster import after_version_change
from .discover import Found

KIND = "nodegroup"
NG_FAILED = {"CREATE_FAILED", "DEGRADED", "DELETING", "DELETE_FAILED"}
NG_BUSY = ("CREATING", "UPDATING")
# What AWS applies when a node group is created without an updateConfig.
# https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupUpdateConfig.html
AWS_DEFAULT_UPDATE_CONFIG = {"maxUnavailable": 1}


def _budget(ctx: Context) -> float:
    return ctx.cfg.eks.nodegroup_wait_minutes * 60


def wait_active(ctx: Context, names: Names, name: str) -> dict:
    """Wait for ACTIVE; CREATE_FAILED or DEGRADED fail at once with AWS's health issues."""
    eks = ctx.client("eks")

    def describe() -> dict:
        return eks.describe_nodegroup(clusterName=names.cluster, nodegroupName=name)["nodegroup"]

    return waiter(ctx, f"node group {name}", describe, {"ACTIVE"}, NG_FAILED, _budget(ctx))


def labels(ctx: Context, zone: Zone) -> dict[str, str]:
    ng = ctx.cfg.eks.nodegroups
    return {**ng.labels, ng.zone_label: zone.az}


def _scaling(ctx: Context) -> dict[str, int]:
    ng = ctx.cfg.eks.nodegroups
    return {"minSize": ng.min_size, "maxSize": ng.max_size, "desiredSize": ng.desired_size}


def _immutable(ctx: Context, names: Names, zone: Zone, ng: dict) -> list[Diff]:
    cfg = ctx.cfg.eks.nodegroups
    subnet = names.private_subnet(zone)
    wanted_subnet = ctx.outputs.get(f"subnet:{subnet}")
    pairs: list[tuple[str, Any, Any]] = [
        ("subnets", sorted(ng.get("subnets", [])), [wanted_subnet or subnet]),
        ("instance types", list(ng.get("instanceTypes") or []), list(cfg.instance_types)),
        ("AMI type", ng.get("amiType"), cfg.ami_type),
        ("capacity type", ng.get("capacityType"), cfg.capacity_type),
        # The root volume is the launch template's (launch_template.py); a
        # group made without the template cannot be given one.
        ("launch template", (ng.get("launchTemplate") or {}).get("name"), names.launch_template),
    ]
    role = ctx.outputs.get(Out.role_arn(names.node_role))
    if role:
        pairs.append(("node role", ng.get("nodeRole"), role))
    return [Diff(label, before, after) for label, before, after in pairs if before != after]


def _updates(ctx: Context, names: Names, zone: Zone, ng: dict) -> tuple[list[Diff], list[Callable[[], Any]], str]:
    """In-place drift of one node group, the steps that correct it, and what
    the sandbox cannot correct (its tags: kit.SANDBOX_TAG_GAP)."""
    cfg, eks = ctx.cfg.eks.nodegroups, ctx.client("eks")
    name = names.nodegroup(zone)
    diffs: list[Diff] = []
    request: dict[str, Any] = {}
    scaling = ng.get("scalingConfig") or {}
    # min and max are ours; desired belongs to whoever scales the group (the
    # cluster autoscaler) once it exists, and is only pulled back into range.
    if scaling.get("minSize") != cfg.min_size or scaling.get("maxSize") != cfg.max_size:
        diffs.append(Diff("min/max size", f"{scaling.get('minSize')}/{scaling.get('maxSize')}", f"{cfg.min_size}/{cfg.max_size}"))
        desired = min(max(scaling.get("desiredSize", cfg.desired_size), cfg.min_size), cfg.max_size)
        request["scalingConfig"] = {"minSize": cfg.min_size, "maxSize": cfg.max_size, "desiredSize": desired}
    current_labels = ng.get("labels") or {}
    wanted_labels = labels(ctx, zone)
    add = {k: v for k, v in wanted_labels.items() if current_labels.get(k) != v}
    remove = sorted(set(current_labels) - set(wanted_labels))
    if add or remove:
        diffs += [Diff(f"label {k}", current_labels.get(k), v) for k, v in sorted(add.items())]
        diffs += [Diff(f"label {k}", current_labels[k], None) for k in remove]
        request["labels"] = {**({"addOrUpdateLabels": add} if add else {}), **({"removeLabels": remove} if remove else {})}
    update_config = ng.get("updateConfig") or AWS_DEFAULT_UPDATE_CONFIG
    # Only the key we set: AWS also reports updateStrategy (DEFAULT), which we leave alone.
    if update_config.get("maxUnavailable") != cfg.max_unavailable:
        diffs.append(Diff("max unavailable", update_config, cfg.max_unavailable))
        request["updateConfig"] = {"maxUnavailable": cfg.max_unavailable}
    steps: list[Callable[[], Any]] = []
    if request:
        # One call for all of them: a node group takes one update at a time.
        token = kit.update_token(ctx, "eks-nodegroup-config", ng["nodegroupArn"], repr(sorted(request.items())),
                       repr((scaling, current_labels, update_config)))

        def configure() -> None:
            resp = eks.update_nodegroup_config(clusterName=names.cluster, nodegroupName=name, clientRequestToken=token, **request)
            wait_update(ctx, f"node group {name} config", resp.get("update"), _budget(ctx), nodegroupName=name)

        steps.append(configure)
    tag_diffs, tag_steps, gap = kit.tag_drift_or_gap(ctx, "node groups", ng.get("tags") or {}, desired_tags(ctx.cfg, name),
                                                     lambda todo: eks.tag_resource(resourceArn=ng["nodegroupArn"], tags=todo))
    return diffs + tag_diffs, steps + tag_steps, gap


def nodegroup(ctx: Context, names: Names, found: Found, zone: Zone) -> Change:
    name, subnet = names.nodegroup(zone), names.private_subnet(zone)  # the subnet's name, for the plan
    # The private route table gives the nodes their NAT egress: without it
    # they cannot pull images or join, and the group fails after ~20 minutes.
    needs = (names.k_cluster, *after_version_change(ctx, names, found), names.k_role(names.node_role), names.k_private_subnet(zone),
             names.k_private_route_table(zone), names.k_launch_template)
    current = found.nodegroups.get(name)
    if current is None:
        ng = ctx.cfg.eks.nodegroups
        diffs = [
            Diff("subnet", None, subnet),
            Diff("instance types", None, list(ng.instance_types)),
            Diff("min/desired/max", None, f"{ng.min_size}/{ng.desired_size}/{ng.max_size}"),
            Diff("labels", None, labels(ctx, zone)),
        ]
        return change(KIND, name, CREATE, diffs=diffs, needs=needs, run=lambda: _create_nodegroup(ctx, names, zone))
    return _existing_nodegroup(ctx, names, zone, current, needs)


def _create_nodegroup(ctx: Context, names: Names, zone: Zone) -> str:
    cfg, name = ctx.cfg, names.nodegroup(zone)
    subnet_id = ctx.output(f"subnet:{names.private_subnet(zone)}")
    template = ctx.output(Out.LAUNCH_TEMPLATE)
    try:
        ctx.client("eks").create_nodegroup(
            clusterName=names.cluster,
            nodegroupName=name,
            scalingConfig=_scaling(ctx),
            launchTemplate={"id": template["id"], "version": template["version"]},
            subnets=[subnet_id],
            instanceTypes=list(cfg.eks.nodegroups.instance_types),
            amiType=cfg.eks.nodegroups.ami_type,
            capacityType=cfg.eks.nodegroups.capacity_type,
            nodeRole=ctx.output(Out.role_arn(names.node_role)),
            labels=labels(ctx, zone),
            tags=desired_tags(cfg, name),
            updateConfig={"maxUnavailable": cfg.eks.nodegroups.max_unavailable},
            # The control plane's version (a node group may not be newer).
            version=ctx.output(Out.CLUSTER_VERSION),
            clientRequestToken=kit.request_token("eks-nodegroup", ctx.output(Out.CLUSTER_ARN), name, subnet_id),
        )
    except ClientError as exc:  # created by a run whose answer was lost: wait for that one
        if error_code(exc) != "ResourceInUseException":
            raise
    return wait_active(ctx, names, name)["nodegroupArn"]


def _existing_nodegroup(ctx: Context, names: Names, zone: Zone, current: dict, needs: tuple[str, ...]) -> Change:
    name = names.nodegroup(zone)
    arn, status = current["nodegroupArn"], current["status"]
    why = issues(current.get("health"))
    if status in ("CREATE_FAILED", "DELETE_FAILED", "DELETING"):
        return change(
            KIND, name, REPLACE, resource_id=arn, diffs=[Diff("status", status, "ACTIVE")],
            note=f"the node group is {status}" + (f" ({why})" if why else "")
            + ("; re-run once it is gone" if status == "DELETING" else "; delete it, then re-run") + "; nothing was changed",
        )
    immutable = _immutable(ctx, names, zone, current)
    if immutable:
        return change(
            KIND, name, REPLACE, resource_id=arn, diffs=immutable,
            note="subnets, instance types, AMI type, capacity type, launch template and role of a node group cannot change: "
            "create a new group, drain and delete the old; nothing was changed",
        )
    diffs, steps, gap = _updates(ctx, names, zone, current)
    if status in NG_BUSY:

        def wait_then_update() -> str:
            fresh = wait_active(ctx, names, name)
            for step in _updates(ctx, names, zone, fresh)[1]:
                step()
            return arn

        return change(KIND, name, WAIT, diffs=diffs, resource_id=arn, needs=needs, run=wait_then_update,
                      note="; ".join(n for n in (f"{status}: apply waits for it to be ACTIVE", gap) if n))
    notes = [f"DEGRADED: {why}"] if status == "DEGRADED" else []
    notes += _not_managed(ctx, current)
    return maybe_update(KIND, name, arn, diffs, steps, needs, note="; ".join(notes), gap=gap)


def _not_managed(ctx: Context, current: dict) -> list[str]:
    """What differs from the config on purpose, said rather than hidden
    behind "no change" (issue 18): the desired size belongs to whoever scales
    the group (the cluster autoscaler) once it exists."""
    desired = (current.get("scalingConfig") or {}).get("desiredSize")
    wanted = ctx.cfg.eks.nodegroups.desired_size
    if desired is None or desired == wanted:
        return []
    return [f"desired size {desired} (config {wanted}): the autoscaler's, not managed here; only kept within min/max"]


def nodegroup_version(ctx: Context, names: Names, found: Found, zone: Zone, cluster_after: str | None) -> Change | None:
    """After the control plane: each group one minor step toward it. None when level."""
    name = names.nodegroup(zone)
    current = found.nodegroups.get(name)
    if current is None or cluster_after is None or minor(current.get("version")) >= minor(cluster_after):
        return None
    arn, version = current["nodegroupArn"], current.get("version")
    step = f"1.{min(minor(cluster_after), minor(version) + 1)}"
    diffs = [Diff("version", version, step)]
    if not ctx.target.is_live:
        return change("nodegroup-version", name, SKIP, diffs=diffs, resource_id=arn,
                      note="the sandbox (moto) cannot emulate node group upgrades; on --live the group is upgraded here")

    def upgrade() -> str:
        eks = ctx.client("eks")
        fresh = eks.describe_nodegroup(clusterName=names.cluster, nodegroupName=name)["nodegroup"]
        if minor(fresh.get("version")) >= minor(step):  # done by a run whose answer was lost
            return fresh["version"]
        resp = eks.update_nodegroup_version(
            clusterName=names.cluster, nodegroupName=name, version=step, clientRequestToken=kit.request_token("eks-nodegroup-version", arn, step)
        )
        wait_update(ctx, f"node group {name} upgrade to {step}", resp.get("update"), _budget(ctx), nodegroupName=name)
        return step

    return change("nodegroup-version", name, UPDATE, diffs=diffs, resource_id=arn, run=upgrade,
                  needs=(*after_version_change(ctx, names, found), names.k_nodegroup(zone)),
                  note=f"rolls every node of the group, {ctx.cfg.eks.nodegroups.max_unavailable} at a time")


def unmanaged(found: Found) -> list[Change]:
    return [
        change(KIND, name, UNMANAGED, note="in the cluster but not in config: left alone")
        for name in sorted(found.other_nodegroups)
    ]
