"""The node groups' launch template: what puts the application tier's
security group on the nodes, and so on the backend pods.

Why it exists. A managed node group without a launch template gets one
security group only, the one EKS makes for the cluster. The VPC CNI gives
pods addresses on the nodes' network interfaces, which carry the nodes'
security groups, so the pods would carry only the cluster group. But the
database admits 5432 from the `app` tier's group only, and the `app` tier's
group is what admits the NLB to the pods' port: without this template the
backend could reach neither its database nor be reached by the NLB. With a
template naming security groups EKS adds none of its own, so the template
lists the cluster group (node <-> control plane) and the tier's group.
https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html
https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html

Because a template takes these settings over from the node group: the root
volume (a node group's diskSize cannot be combined with a template: gp3,
encrypted, [eks.nodegroups] disk_size_gib), IMDSv2 only (hop limit 2, what
EKS sets on its own templates: containers on the host network need it), and
our tags on the instances and their volumes. No AMI: the node group's amiType
picks EKS's optimised AMI and its bootstrap, as without a template.

One template for the node groups of every AZ. A change makes a new version
(EC2 keeps them all); each node group then moves to it with
UpdateNodegroupVersion, a rolling replacement of its nodes (live only: moto
has no such update). The template's own tags are set at creation and not
re-read.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, SKIP, UPDATE, Change, Context, Diff
from ...errors import OpsError
from ...target import error_code
from ..network import Names as NetworkNames
from .. import kit
from .common import Names, Out, change, desired_tags, wait_update
from .discover import Found

KIND = "launch-template"
ROOT_DEVICE = "/dev/xvda"  # the root device of EKS's Amazon Linux 2023 AMIs
IMDS = {"HttpEndpoint": "enabled", "HttpTokens": "required", "HttpPutResponseHopLimit": 2}


def _tier(ctx: Context) -> str:
    return ctx.cfg.eks.nodegroups.security_group_tier


def tier_group_key(ctx: Context) -> str:
    """The network stage's change of the tier's security group."""
    return f"security-group:{NetworkNames(ctx.cfg).security_group(_tier(ctx))}"


def _security_groups(ctx: Context, resolve: bool) -> list[str]:
    """The cluster's group and the tier's group, as ids (placeholders before they exist)."""
    tier = _tier(ctx)
    tier_sg = ctx.output(f"sg:{tier}") if resolve else ctx.outputs.get(f"sg:{tier}", f"({NetworkNames(ctx.cfg).security_group(tier)})")
    cluster_sg = ctx.outputs.get(Out.CLUSTER_SG)
    if cluster_sg is None and ctx.target.is_live:
        if resolve:  # nodes without the cluster group cannot talk to the control plane
            raise OpsError(f"EKS reports no cluster security group for {ctx.cfg.project.cluster_name}: "
                           "the node groups' launch template cannot be made without it")
        cluster_sg = "(the cluster's security group)"
    # The sandbox (moto) reports no cluster group: there the template lists the tier's only.
    return sorted(g for g in (cluster_sg, tier_sg) if g)


def _data(ctx: Context, names: Names, resolve: bool) -> dict[str, Any]:
    ng = ctx.cfg.eks.nodegroups
    tags = tagging.to_list(desired_tags(ctx.cfg, names.launch_template))
    return {
        "SecurityGroupIds": _security_groups(ctx, resolve),
        "BlockDeviceMappings": [{
            "DeviceName": ROOT_DEVICE,
            "Ebs": {"VolumeSize": ng.disk_size_gib, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True},
        }],
        "MetadataOptions": dict(IMDS),
        "TagSpecifications": [{"ResourceType": kind, "Tags": tags} for kind in ("instance", "volume")],
    }


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """What we set, in a form two answers can be compared in (ordering, and
    moto's habit of listing the template's own tags among the data's)."""
    root = next((m for m in data.get("BlockDeviceMappings", []) if m.get("DeviceName") == ROOT_DEVICE), {})
    ebs = root.get("Ebs", {})
    return {
        "security groups": sorted(data.get("SecurityGroupIds", [])),
        "root volume": f"{ebs.get('VolumeSize')} GiB {ebs.get('VolumeType')}, encrypted={bool(ebs.get('Encrypted'))}",
        "IMDS": {k: (data.get("MetadataOptions") or {}).get(k) for k in IMDS},
        "instance and volume tags": {
            spec["ResourceType"]: tagging.from_list(spec.get("Tags"))
            for spec in data.get("TagSpecifications", []) if spec.get("ResourceType") in ("instance", "volume")
        },
    }


def launch_template(ctx: Context, names: Names, found: Found) -> Change:
    ec2 = ctx.client("ec2")
    name = names.launch_template
    needs = (names.k_cluster, tier_group_key(ctx))
    current = found.launch_template
    note = ("" if ctx.target.is_live or Out.CLUSTER_SG in ctx.outputs
            else "the sandbox (moto) reports no cluster security group: in AWS the template lists it too")
    if current is None:

        def create() -> str:
            token = kit.request_token("eks-launch-template", ctx.output(Out.CLUSTER_ARN), name)
            try:
                made = ec2.create_launch_template(
                    LaunchTemplateName=name, LaunchTemplateData=_data(ctx, names, resolve=True), ClientToken=token,
                    VersionDescription="fablink-ops",
                    TagSpecifications=tagging.ec2_spec("launch-template", desired_tags(ctx.cfg, name)),
                )["LaunchTemplate"]
                template_id, version = made["LaunchTemplateId"], made["LatestVersionNumber"]
            except ClientError as exc:  # made by a run whose answer was lost
                if error_code(exc) != "InvalidLaunchTemplateName.AlreadyExistsException":
                    raise
                made = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"][0]
                template_id, version = made["LaunchTemplateId"], made["LatestVersionNumber"]
            ctx.set_output(Out.LAUNCH_TEMPLATE, {"id": template_id, "version": str(version)})
            return template_id

        shown = _comparable(_data(ctx, names, resolve=False))
        diffs = [Diff(k, None, shown[k]) for k in ("security groups", "root volume", "IMDS")]
        return change(KIND, name, CREATE, diffs=diffs, needs=needs, run=create, note=note)

    template_id, version = current["LaunchTemplateId"], str(current["VersionNumber"])
    ctx.set_output(Out.LAUNCH_TEMPLATE, {"id": template_id, "version": version})
    before, after = _comparable(current.get("LaunchTemplateData") or {}), _comparable(_data(ctx, names, resolve=False))
    diffs = [Diff(k, before[k], after[k]) for k in after if before[k] != after[k]]
    if not diffs:
        return change(KIND, name, NOOP, resource_id=template_id, needs=needs, note=note)

    def new_version() -> str:
        data = _data(ctx, names, resolve=True)
        made = ec2.create_launch_template_version(
            LaunchTemplateId=template_id, LaunchTemplateData=data, VersionDescription="fablink-ops",
            ClientToken=kit.request_token("eks-launch-template-version", template_id, repr(sorted(_comparable(data).items()))),
        )["LaunchTemplateVersion"]
        number = str(made["VersionNumber"])
        ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=number)
        ctx.set_output(Out.LAUNCH_TEMPLATE, {"id": template_id, "version": number})
        return f"{template_id} version {number}"

    return change(KIND, name, UPDATE, diffs=diffs, needs=needs, run=new_version, resource_id=template_id,
                  note="a new version: the node groups then replace their nodes with it, one at a time")


def rollout(ctx: Context, names: Names, found: Found, zone, template: Change, upgrade: Change | None = None) -> Change | None:
    """Move one node group to the template's newest version; None when it is on it.

    ``upgrade`` is the group's version upgrade in this plan, if any: EKS
    takes one update of a group at a time, so the roll follows it."""
    name = names.nodegroup(zone)
    current = found.nodegroups.get(name)
    used = (current or {}).get("launchTemplate") or {}
    if current is None or not used or used.get("name") != names.launch_template:
        return None  # being created with the template, or replace-required without one
    if template.action == UPDATE:
        wanted = "(the new version)"
    elif str(used.get("version")) != ctx.outputs.get(Out.LAUNCH_TEMPLATE, {}).get("version"):
        wanted = ctx.outputs[Out.LAUNCH_TEMPLATE]["version"]
    else:
        return None
    arn = current["nodegroupArn"]
    diffs = [Diff("launch template version", used.get("version"), wanted)]
    if not ctx.target.is_live:
        return change("nodegroup-template", name, SKIP, diffs=diffs, resource_id=arn,
                      note="the sandbox (moto) cannot roll node groups to a new launch template version; on --live it is done here")

    def roll() -> str:
        eks = ctx.client("eks")
        lt = ctx.output(Out.LAUNCH_TEMPLATE)
        resp = eks.update_nodegroup_version(
            clusterName=names.cluster, nodegroupName=name, launchTemplate={"id": lt["id"], "version": lt["version"]},
            clientRequestToken=kit.request_token("eks-nodegroup-template", arn, lt["id"], lt["version"]),
        )
        budget = ctx.cfg.eks.nodegroup_wait_minutes * 60
        wait_update(ctx, f"node group {name} to launch template version {lt['version']}", resp.get("update"), budget, nodegroupName=name)
        return lt["version"]

    # One node group at a time would be gentler but slower; maxUnavailable
    # already limits each group, and the groups are in different AZs.
    return change("nodegroup-template", name, UPDATE, diffs=diffs, resource_id=arn, run=roll,
                  # EKS takes one update of a group at a time: after its version upgrade, if any.
                  needs=(names.k_launch_template, names.k_nodegroup(zone), *((upgrade.key,) if upgrade else ())),
                  note="replaces the group's nodes, max_unavailable at a time")
