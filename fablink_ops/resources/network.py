"""The network stage: VPC, subnets, IGW, NAT per AZ, routes, flow logs,
gateway endpoints and the tier security groups.

Design doc: Network architecture; EKS "Network Configuration"; Security,
"VPC Security". The pattern every stage follows:

1. ``discover`` reads what exists with a handful of filtered describes (one per
   resource type, never one per resource) into a ``Found`` snapshot, and
   records the ids it found in ``ctx.outputs``.
2. One small function per resource compares desired with found and returns a
   Change: create / update (each attribute before -> after) / replace-required
   (an immutable attribute drifted: shown, never carried out) / no change.
3. The Change's ``run`` does the writes: tags in the create call, a
   deterministic ClientToken where the API takes one, and the new id recorded
   in ``ctx.outputs`` for the changes that need it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .. import tags as tagging
from . import default_sg, endpoint_policy, kit, logs_key, shared
from ..config import Config, SecurityGroupTier, Zone
from ..engine import CREATE, REPLACE, UPDATE, WAIT, Change, Context, Diff, change_key, wait_for
from ..errors import OpsError
from ..patience import tolerate_not_found

NAME = "network"

DEFAULT_ROUTE = "0.0.0.0/0"
NAT_LIVE_STATES = ("pending", "available")


# --------------------------------------------------------------------------
# names: one place, so discovery and creation agree


@dataclass(frozen=True)
class Names:
    cfg: Config

    @property
    def prefix(self) -> str:
        return self.cfg.project.prefix

    @property
    def vpc(self) -> str:
        return self.cfg.network.vpc_name

    def subnet(self, tier: str, zone: Zone) -> str:
        return f"{self.prefix}-{tier}-{zone.suffix}"

    @property
    def igw(self) -> str:
        return f"{self.prefix}-igw"

    def nat(self, zone: Zone) -> str:
        return f"{self.prefix}-nat-{zone.suffix}"

    @property
    def public_rt(self) -> str:
        return f"{self.prefix}-public"

    def private_rt(self, zone: Zone) -> str:
        return f"{self.prefix}-private-{zone.suffix}"

    @property
    def flow_log_group(self) -> str:
        return f"/aws/vpc/{self.prefix}/flow-logs"

    @property
    def flow_log_role(self) -> str:
        return f"{self.prefix}-vpc-flow-logs"

    @property
    def flow_log(self) -> str:
        return f"{self.prefix}-vpc-flow-logs"

    def endpoint(self, service: str) -> str:
        return f"{self.prefix}-{service}-endpoint"

    def security_group(self, tier: str) -> str:
        return f"{self.prefix}-{tier}"

    # Change keys ("kind:name") that dependents list in ``needs``.
    @property
    def k_vpc(self) -> str:
        return change_key("vpc", self.vpc)

    def k_subnet(self, tier: str, zone: Zone) -> str:
        return change_key("subnet", self.subnet(tier, zone))

    def k_private_rt(self, zone: Zone) -> str:
        return change_key("route-table", self.private_rt(zone))

    def k_security_group(self, tier: str) -> str:
        return change_key("security-group", self.security_group(tier))


FLOW_LOG_POLICY_NAME = "deliver-flow-logs"


# --------------------------------------------------------------------------
# discovery


@dataclass
class Found:
    vpc: dict | None = None
    dns: dict[str, bool] = field(default_factory=dict)
    subnets: dict[str, dict] = field(default_factory=dict)  # by Name tag
    igw: dict | None = None
    eips: dict[str, dict] = field(default_factory=dict)
    nats: dict[str, dict] = field(default_factory=dict)
    failed_nats: dict[str, int] = field(default_factory=dict)
    route_tables: dict[str, dict] = field(default_factory=dict)
    log_group: dict | None = None
    role: dict | None = None
    role_policy: dict | None = None
    flow_logs: list[dict] = field(default_factory=list)
    endpoints: dict[str, dict] = field(default_factory=dict)  # by service short name
    security_groups: dict[str, dict] = field(default_factory=dict)  # by group name


def _name(resource: dict) -> str:
    return tagging.from_list(resource.get("Tags")).get("Name", "")


def _by_name(items: list[dict], kind: str, key: str) -> dict[str, dict]:
    """Index by Name tag; two resources with one name is an error naming both."""
    out: dict[str, dict] = {}
    for item in items:
        name = _name(item)
        if not name:
            continue
        if name in out:
            raise OpsError(f"two {kind}s are named {name}: {out[name][key]} and {item[key]}; remove one, then re-run")
        out[name] = item
    return out


def discover(ctx: Context, names: Names) -> Found:
    ec2 = ctx.client("ec2")
    cfg = ctx.cfg
    found = Found()
    vpcs = _by_name(ec2.paginate("describe_vpcs", "Vpcs", Filters=[_tag_filter("Name", [names.vpc])]), "VPC", "VpcId")
    found.vpc = vpcs.get(names.vpc)
    if found.vpc:
        vpc_id = found.vpc["VpcId"]
        ctx.set_output("vpc", vpc_id)
        ctx.set_output("vpc_cidr", found.vpc["CidrBlock"])
        in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
        for attr, key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
            found.dns[attr] = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attr)[key]["Value"]
        found.subnets = _by_name(ec2.paginate("describe_subnets", "Subnets", Filters=in_vpc), "subnet", "SubnetId")
        found.route_tables = _by_name(
            ec2.paginate("describe_route_tables", "RouteTables", Filters=in_vpc), "route table", "RouteTableId"
        )
        nats = ec2.paginate("describe_nat_gateways", "NatGateways", Filters=in_vpc)
        live_nats = [n for n in nats if n["State"] in NAT_LIVE_STATES]
        found.nats = _by_name(live_nats, "NAT gateway", "NatGatewayId")
        for nat in nats:
            if nat["State"] == "failed":
                found.failed_nats[_name(nat)] = found.failed_nats.get(_name(nat), 0) + 1
        groups = ec2.paginate("describe_security_groups", "SecurityGroups", Filters=in_vpc)
        found.security_groups = {g["GroupName"]: g for g in groups}
        endpoints = ec2.paginate("describe_vpc_endpoints", "VpcEndpoints", Filters=in_vpc)
        for ep in endpoints:
            if ep.get("State", "").lower() in ("deleting", "deleted", "failed", "rejected", "expired"):
                continue
            service = ep["ServiceName"].rsplit(".", 1)[-1]
            if ep.get("VpcEndpointType") == "Gateway":
                found.endpoints[service] = ep
        found.flow_logs = ec2.paginate(
            "describe_flow_logs", "FlowLogs", Filters=[{"Name": "resource-id", "Values": [vpc_id]}]
        )
    igws = _by_name(
        ec2.describe_internet_gateways(Filters=[_tag_filter("Name", [names.igw])])["InternetGateways"],
        "internet gateway",
        "InternetGatewayId",
    )
    found.igw = igws.get(names.igw)
    eip_names = [names.nat(z) for z in cfg.network.nat_zones]
    found.eips = _by_name(
        ec2.describe_addresses(Filters=[_tag_filter("Name", eip_names)])["Addresses"], "Elastic IP", "AllocationId"
    )
    _discover_flow_log_delivery(ctx, names, found)
    _record_outputs(ctx, names, found)
    return found


def _discover_flow_log_delivery(ctx: Context, names: Names, found: Found) -> None:
    # Log groups and roles come from reads every stage shares (shared.py).
    found.log_group = shared.log_groups(ctx).get(names.flow_log_group)
    found.role = shared.roles(ctx).get(names.flow_log_role)
    if found.role:
        found.role_policy = shared.inline_policy(found.role, FLOW_LOG_POLICY_NAME)


def _record_outputs(ctx: Context, names: Names, found: Found) -> None:
    for zone in ctx.cfg.network.zones:
        for tier in ("public", "private"):
            subnet = found.subnets.get(names.subnet(tier, zone))
            if subnet:
                ctx.set_output(f"subnet:{names.subnet(tier, zone)}", subnet["SubnetId"])
        eip = found.eips.get(names.nat(zone))
        if eip:
            ctx.set_output(f"eip:{names.nat(zone)}", eip["AllocationId"])
        nat = found.nats.get(names.nat(zone))
        if nat:
            ctx.set_output(f"nat:{names.nat(zone)}", nat["NatGatewayId"])
        rt = found.route_tables.get(names.private_rt(zone))
        if rt:
            ctx.set_output(f"route-table:{names.private_rt(zone)}", rt["RouteTableId"])
    if found.igw:
        ctx.set_output("igw", found.igw["InternetGatewayId"])
    if found.role:
        ctx.set_output("flow-log-role-arn", found.role["Arn"])
    for tier in ctx.cfg.network.security_groups:
        group = found.security_groups.get(names.security_group(tier.tier))
        if group:
            ctx.set_output(f"sg:{tier.tier}", group["GroupId"])


def _tag_filter(key: str, values: list[str]) -> dict:
    return {"Name": f"tag:{key}", "Values": values}


# --------------------------------------------------------------------------
# the plan


def plan(ctx: Context) -> list[Change]:
    names = Names(ctx.cfg)
    found = discover(ctx, names)
    cfg = ctx.cfg
    changes = [_vpc(ctx, names, found)]
    for zone in cfg.network.zones:
        for tier in ("public", "private"):
            changes.append(_subnet(ctx, names, found, zone, tier))
    changes.append(_igw(ctx, names, found))
    for zone in cfg.network.nat_zones:
        changes.append(_eip(ctx, names, found, zone))
        changes.append(_nat(ctx, names, found, zone))
    changes.append(_public_route_table(ctx, names, found))
    for zone in cfg.network.zones:
        changes.append(_private_route_table(ctx, names, found, zone))
    changes.append(logs_key.change(ctx))
    changes.append(_flow_log_group(ctx, names, found))
    changes.append(_flow_log_role(ctx, names, found))
    changes.append(_flow_log(ctx, names, found))
    for service in cfg.network.gateway_endpoints:
        changes.append(_endpoint(ctx, names, found, service))
    for tier in cfg.network.security_groups:
        changes.append(_security_group(ctx, names, found, tier))
    changes.append(default_sg.change(ctx, NAME, names.vpc, found.security_groups.get(default_sg.DEFAULT) if found.vpc else None))
    return changes



def _change(kind: str, name: str, action: str, **kwargs: Any) -> Change:
    return Change(stage=NAME, kind=kind, name=name, action=action, **kwargs)




def _ec2_tag_drift(ctx: Context, resource: dict, resource_id: str, desired: dict[str, str]) -> tuple[list[Diff], list[kit.Step]]:
    """kit.tag_drift for an EC2 resource: its describe lists its Tags, and
    one CreateTags sets ours."""
    ec2 = ctx.client("ec2")
    return kit.tag_drift(
        tagging.from_list(resource.get("Tags")), desired, lambda todo: ec2.create_tags(Resources=[resource_id], Tags=tagging.to_list(todo))
    )



_token = kit.request_token


# ----- VPC


def _vpc(ctx: Context, names: Names, found: Found) -> Change:
    cfg, net = ctx.cfg, ctx.cfg.network
    desired_tags = kit.desired_tags(cfg, NAME, names.vpc)
    vpc = found.vpc
    if vpc is None:

        def create() -> str:
            ec2 = ctx.client("ec2")
            vpc_id = ec2.create_vpc(
                CidrBlock=net.vpc_cidr, TagSpecifications=tagging.ec2_spec("vpc", desired_tags)
            )["Vpc"]["VpcId"]
            ctx.set_output("vpc", vpc_id)
            ctx.set_output("vpc_cidr", net.vpc_cidr)
            # DNS support is on by default; hostnames must be asked for (EKS
            # nodes and the VPC endpoints' private DNS need both).
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
            return vpc_id

        return _change("vpc", names.vpc, CREATE, diffs=[Diff("cidr", None, net.vpc_cidr)], run=create)
    vpc_id = vpc["VpcId"]
    if vpc["CidrBlock"] != net.vpc_cidr:
        return _change(
            "vpc", names.vpc, REPLACE, diffs=[Diff("cidr", vpc["CidrBlock"], net.vpc_cidr)], resource_id=vpc_id,
            note="a VPC's primary CIDR cannot change: build a new VPC and migrate; nothing was changed",
        )
    diffs, steps = [], []
    for attr, api_key in (("enableDnsSupport", "EnableDnsSupport"), ("enableDnsHostnames", "EnableDnsHostnames")):
        if not found.dns.get(attr):
            diffs.append(Diff(attr, found.dns.get(attr), True))
            steps.append(
                lambda k=api_key: ctx.client("ec2").modify_vpc_attribute(VpcId=vpc_id, **{k: {"Value": True}})
            )
    tag_diffs, tag_steps = _ec2_tag_drift(ctx, vpc, vpc_id, desired_tags)
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    return kit.maybe_update(NAME, "vpc", names.vpc, vpc_id, diffs, steps)



# ----- subnets


def _subnet(ctx: Context, names: Names, found: Found, zone: Zone, tier: str) -> Change:
    cfg = ctx.cfg
    name = names.subnet(tier, zone)
    cidr = zone.public_cidr if tier == "public" else zone.private_cidr
    # Tags the AWS Load Balancer Controller and EKS use to pick subnets:
    # https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html
    role_tag = "kubernetes.io/role/elb" if tier == "public" else "kubernetes.io/role/internal-elb"
    desired_tags = kit.desired_tags(
        cfg, NAME, name, {role_tag: "1", f"kubernetes.io/cluster/{cfg.project.cluster_name}": "shared", "Tier": tier}
    )
    subnet = found.subnets.get(name)
    needs = (names.k_vpc,)
    if subnet is None:

        def create() -> str:
            subnet_id = ctx.client("ec2").create_subnet(
                VpcId=ctx.output("vpc"),
                CidrBlock=cidr,
                AvailabilityZone=zone.az,
                TagSpecifications=tagging.ec2_spec("subnet", desired_tags),
            )["Subnet"]["SubnetId"]
            ctx.set_output(f"subnet:{name}", subnet_id)
            return subnet_id

        return _change("subnet", name, CREATE, diffs=[Diff("cidr", None, cidr), Diff("az", None, zone.az)], needs=needs, run=create)
    subnet_id = subnet["SubnetId"]
    immutable = [Diff(a, subnet[k], v) for a, k, v in (("cidr", "CidrBlock", cidr), ("az", "AvailabilityZone", zone.az)) if subnet[k] != v]
    if immutable:
        return _change(
            "subnet", name, REPLACE, diffs=immutable, resource_id=subnet_id,
            note="a subnet's CIDR and AZ cannot change; nothing was changed",
        )
    diffs, steps = _ec2_tag_drift(ctx, subnet, subnet_id, desired_tags)
    return kit.maybe_update(NAME, "subnet", name, subnet_id, diffs, steps, needs)


# ----- internet gateway


def _igw(ctx: Context, names: Names, found: Found) -> Change:
    desired_tags = kit.desired_tags(ctx.cfg, NAME, names.igw)
    igw = found.igw
    needs = (names.k_vpc,)

    def attach(igw_id_key: str = "igw") -> None:
        ctx.client("ec2").attach_internet_gateway(InternetGatewayId=ctx.output(igw_id_key), VpcId=ctx.output("vpc"))

    if igw is None:

        def create() -> str:
            igw_id = ctx.client("ec2").create_internet_gateway(
                TagSpecifications=tagging.ec2_spec("internet-gateway", desired_tags)
            )["InternetGateway"]["InternetGatewayId"]
            ctx.set_output("igw", igw_id)
            attach()
            return igw_id

        return _change("internet-gateway", names.igw, CREATE, diffs=[Diff("attached to", None, names.vpc)], needs=needs, run=create)
    igw_id = igw["InternetGatewayId"]
    attached = [a["VpcId"] for a in igw.get("Attachments", []) if a.get("State") in ("available", "attached", "attaching")]
    vpc_id = found.vpc["VpcId"] if found.vpc else None
    if attached and attached[0] != vpc_id:
        return _change(
            "internet-gateway", names.igw, REPLACE, diffs=[Diff("attached to", attached[0], vpc_id or names.vpc)],
            resource_id=igw_id, note="attached to another VPC; detach it by hand if that VPC is retired",
        )
    diffs, steps = [], []
    if not attached:
        diffs.append(Diff("attached to", None, names.vpc))
        steps.append(attach)
    tag_diffs, tag_steps = _ec2_tag_drift(ctx, igw, igw_id, desired_tags)
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    return kit.maybe_update(NAME, "internet-gateway", names.igw, igw_id, diffs, steps, needs)


# ----- Elastic IPs and NAT gateways (one per AZ: no cross-AZ dependency)


def _eip(ctx: Context, names: Names, found: Found, zone: Zone) -> Change:
    name = names.nat(zone)
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name)
    eip = found.eips.get(name)
    if eip is None:

        def create() -> str:
            alloc = ctx.client("ec2").allocate_address(
                Domain="vpc", TagSpecifications=tagging.ec2_spec("elastic-ip", desired_tags)
            )["AllocationId"]
            ctx.set_output(f"eip:{name}", alloc)
            return alloc

        return _change("elastic-ip", name, CREATE, run=create)
    diffs, steps = _ec2_tag_drift(ctx, eip, eip["AllocationId"], desired_tags)
    return kit.maybe_update(NAME, "elastic-ip", name, eip["AllocationId"], diffs, steps)


def _nat(ctx: Context, names: Names, found: Found, zone: Zone) -> Change:
    name = names.nat(zone)
    public_subnet = names.subnet("public", zone)
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name)
    nat = found.nats.get(name)
    needs = (change_key("elastic-ip", name), change_key("subnet", public_subnet))
    budget = ctx.cfg.engine.nat_gateway_wait_minutes * 60

    def wait(nat_id_key: str = f"nat:{name}") -> str:
        nat_id = ctx.output(nat_id_key)
        ec2 = ctx.client("ec2")

        def poll() -> tuple[str, str]:
            gws = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
            if not gws:
                return "pending", ""
            return gws[0]["State"], gws[0].get("FailureMessage", "")

        # A new NAT gateway's id may read NatGatewayNotFound for a moment (botocore's NatGatewayAvailable waiter retries it).
        wait_for(ctx, f"NAT gateway {name} ({nat_id})", tolerate_not_found(ctx, poll, ("NatGatewayNotFound",)), {"available"},
                 {"failed", "deleting", "deleted"}, budget)
        return nat_id

    if nat is None:

        def create() -> str:
            alloc, subnet_id = ctx.output(f"eip:{name}"), ctx.output(f"subnet:{public_subnet}")
            nat_id = ctx.client("ec2").create_nat_gateway(
                AllocationId=alloc,
                SubnetId=subnet_id,
                ConnectivityType="public",
                TagSpecifications=tagging.ec2_spec("natgateway", desired_tags),
                # A failed NAT gateway keeps its token's answer, so each
                # failure seen bumps the token to get a new one.
                ClientToken=_token("nat", alloc, subnet_id, str(found.failed_nats.get(name, 0))),
            )["NatGateway"]["NatGatewayId"]
            ctx.set_output(f"nat:{name}", nat_id)
            return wait()

        return _change("nat-gateway", name, CREATE, diffs=[Diff("subnet", None, public_subnet)], needs=needs, run=create)
    nat_id = nat["NatGatewayId"]
    subnet_id = found.subnets.get(public_subnet, {}).get("SubnetId")
    if nat["SubnetId"] != subnet_id:
        return _change(
            "nat-gateway", name, REPLACE, diffs=[Diff("subnet", nat["SubnetId"], subnet_id or public_subnet)],
            resource_id=nat_id, note="a NAT gateway cannot move subnets; nothing was changed",
        )
    diffs, steps = _ec2_tag_drift(ctx, nat, nat_id, desired_tags)
    if nat["State"] == "pending":
        return _change(
            "nat-gateway", name, WAIT, resource_id=nat_id, needs=needs, note="still being created by AWS", run=kit.sequence(*steps, wait),
        )
    return kit.maybe_update(NAME, "nat-gateway", name, nat_id, diffs, steps, needs)


# ----- route tables


def _route_table(
    ctx: Context, found: Found, name: str, subnet_names: list[str], target_kind: str, target_output: str,
    target_name: str, needs: tuple[str, ...],
) -> Change:
    """One route table: its default route to ``target`` and its subnet associations."""
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name)
    rt = found.route_tables.get(name)
    target_key = "GatewayId" if target_kind == "igw" else "NatGatewayId"

    def route_and_associations(rt_key: str, existing: dict | None) -> tuple[list[Diff], list]:
        diffs: list[Diff] = []
        steps: list = []
        current_route = None
        associated: dict[str, str] = {}  # subnet id -> association id
        if existing:
            for route in existing.get("Routes", []):
                if route.get("DestinationCidrBlock") == DEFAULT_ROUTE:
                    current_route = route.get("GatewayId") or route.get("NatGatewayId")
            for assoc in existing.get("Associations", []):
                if assoc.get("SubnetId"):
                    associated[assoc["SubnetId"]] = assoc["RouteTableAssociationId"]
        wanted_target = ctx.outputs.get(target_output)
        if current_route is None or current_route != wanted_target:
            diffs.append(Diff(f"route {DEFAULT_ROUTE}", current_route, wanted_target or f"({target_name})"))

            def route(replace: bool = current_route is not None) -> None:
                call = ctx.client("ec2").replace_route if replace else ctx.client("ec2").create_route
                call(RouteTableId=ctx.output(rt_key), DestinationCidrBlock=DEFAULT_ROUTE, **{target_key: ctx.output(target_output)})

            steps.append(route)
        for subnet_name in subnet_names:
            subnet_id = ctx.outputs.get(f"subnet:{subnet_name}")
            if subnet_id and subnet_id in associated:
                continue
            diffs.append(Diff("associated subnet", None, subnet_name))
            steps.append(lambda s=subnet_name: _associate(ctx, found, ctx.output(rt_key), ctx.output(f"subnet:{s}")))
        return diffs, steps

    rt_key = f"route-table:{name}"
    if rt is None:
        diffs, steps = route_and_associations(rt_key, None)

        def create() -> str:
            rt_id = ctx.client("ec2").create_route_table(
                VpcId=ctx.output("vpc"),
                TagSpecifications=tagging.ec2_spec("route-table", desired_tags),
                ClientToken=_token("route-table", ctx.output("vpc"), name),
            )["RouteTable"]["RouteTableId"]
            ctx.set_output(rt_key, rt_id)
            for step in steps:
                step()
            return rt_id

        return _change("route-table", name, CREATE, diffs=diffs, needs=needs, run=create)
    rt_id = rt["RouteTableId"]
    ctx.set_output(rt_key, rt_id)
    diffs, steps = route_and_associations(rt_key, rt)
    tag_diffs, tag_steps = _ec2_tag_drift(ctx, rt, rt_id, desired_tags)
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    return kit.maybe_update(NAME, "route-table", name, rt_id, diffs, steps, needs)


def _associate(ctx: Context, found: Found, rt_id: str, subnet_id: str) -> None:
    """Associate, or move the subnet's existing association to this table."""
    ec2 = ctx.client("ec2")
    for other in found.route_tables.values():
        for assoc in other.get("Associations", []):
            if assoc.get("SubnetId") == subnet_id and other["RouteTableId"] != rt_id:
                ec2.replace_route_table_association(AssociationId=assoc["RouteTableAssociationId"], RouteTableId=rt_id)
                return
    ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnet_id)


def _public_route_table(ctx: Context, names: Names, found: Found) -> Change:
    zones = ctx.cfg.network.zones
    subnets = [names.subnet("public", z) for z in zones]
    needs = (names.k_vpc, change_key("internet-gateway", names.igw), *(change_key("subnet", s) for s in subnets))
    return _route_table(ctx, found, names.public_rt, subnets, "igw", "igw", names.igw, needs)


def _private_route_table(ctx: Context, names: Names, found: Found, zone: Zone) -> Change:
    subnet = names.subnet("private", zone)
    nat = names.nat(ctx.cfg.network.nat_zone(zone))  # its own AZ's, or the one NAT ("single")
    needs = (names.k_vpc, change_key("nat-gateway", nat), change_key("subnet", subnet))
    return _route_table(ctx, found, names.private_rt(zone), [subnet], "nat", f"nat:{nat}", nat, needs)


# ----- flow logs: log group, delivery role, the flow log itself


def _flow_log_group(ctx: Context, names: Names, found: Found) -> Change:
    return kit.log_group_change(ctx, NAME, names.flow_log_group, found.log_group, output="flow-log-group-arn")


def _flow_log_trust(ctx: Context) -> dict:
    """Only the VPC Flow Logs service, only for this account (confused deputy):
    https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html"""
    account, region = ctx.cfg.project.account_id, ctx.cfg.project.region
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account}:vpc-flow-log/*"},
                },
            }
        ],
    }


def _flow_log_policy(ctx: Context, names: Names) -> dict:
    """Least privilege: write streams and events into our one log group.

    The AWS example grants logs:* on "*"; the log group exists before the
    flow log (we create it, with its retention), so CreateLogGroup and the
    account-wide Describe are not needed."""
    p = ctx.cfg.project
    group_arn = f"arn:aws:logs:{p.region}:{p.account_id}:log-group:{names.flow_log_group}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group_arn, f"{group_arn}:*"],
            }
        ],
    }


def _flow_log_role(ctx: Context, names: Names, found: Found) -> Change:
    name = names.flow_log_role
    iam = ctx.client("iam")
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name)
    trust, policy = _flow_log_trust(ctx), _flow_log_policy(ctx, names)

    def put_policy() -> None:
        iam.put_role_policy(RoleName=name, PolicyName=FLOW_LOG_POLICY_NAME, PolicyDocument=json.dumps(policy))

    if found.role is None:

        def create() -> str:
            arn = kit.create_role(ctx, name, trust, "Delivers the VPC flow logs of the FabLink network to CloudWatch Logs", desired_tags)
            ctx.set_output("flow-log-role-arn", arn)
            put_policy()
            return arn

        return _change("iam-role", name, CREATE, diffs=[Diff("inline policy", None, FLOW_LOG_POLICY_NAME)], run=create)
    diffs, steps = kit.role_drift(ctx, found.role, trust, "vpc-flow-logs.amazonaws.com, this account only", desired_tags)
    if found.role_policy != policy:
        diffs.append(Diff("inline policy", "missing" if found.role_policy is None else "differs", FLOW_LOG_POLICY_NAME))
        steps.append(put_policy)
    return kit.maybe_update(NAME, "iam-role", name, found.role["Arn"], diffs, steps)


def _flow_log(ctx: Context, names: Names, found: Found) -> Change:
    net = ctx.cfg.network
    name = names.flow_log
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name)
    needs = (names.k_vpc, change_key("log-group", names.flow_log_group), change_key("iam-role", names.flow_log_role))
    ours = [f for f in found.flow_logs if tagging.from_list(f.get("Tags")).get("Name") == name]
    desired = {
        "traffic": net.flow_logs_traffic,
        "log group": names.flow_log_group,
        "max aggregation seconds": net.flow_logs_max_aggregation_seconds,
    }

    def create() -> str:
        ec2 = ctx.client("ec2")
        vpc_id = ctx.output("vpc")
        resp = ec2.create_flow_logs(
            ResourceIds=[vpc_id],
            ResourceType="VPC",
            TrafficType=net.flow_logs_traffic,
            LogDestinationType="cloud-watch-logs",
            LogGroupName=names.flow_log_group,
            DeliverLogsPermissionArn=ctx.output("flow-log-role-arn"),
            MaxAggregationInterval=net.flow_logs_max_aggregation_seconds,
            TagSpecifications=tagging.ec2_spec("vpc-flow-log", desired_tags),
            ClientToken=_token("flow-log", vpc_id, *map(str, desired.values())),
        )
        if resp.get("Unsuccessful"):
            err = resp["Unsuccessful"][0].get("Error", {})
            raise OpsError(f"creating flow log {name}: {err.get('Code')}: {err.get('Message')}")
        return resp["FlowLogIds"][0]

    if not ours:
        return _change(
            "flow-log", name, CREATE, diffs=[Diff(k, None, v) for k, v in desired.items()], needs=needs, run=create
        )
    current = ours[0]
    actual = {
        "traffic": current.get("TrafficType"),
        "log group": current.get("LogGroupName"),
        "max aggregation seconds": current.get("MaxAggregationInterval", 600),
    }
    diffs = [Diff(k, actual[k], v) for k, v in desired.items() if actual[k] != v]
    if diffs:
        # Flow log settings cannot be modified in place. A flow log holds no
        # data (its log group does, and stays), so: create the new one first,
        # then delete the old, leaving no gap in capture.
        old_ids = [f["FlowLogId"] for f in ours]

        def recreate() -> str:
            new_id = create()
            ctx.client("ec2").delete_flow_logs(FlowLogIds=old_ids)
            return new_id

        return _change("flow-log", name, UPDATE, diffs=diffs, needs=needs, run=recreate, resource_id=current["FlowLogId"],
                       note="flow logs cannot be modified: a new one is created before the old one is deleted")
    diffs, steps = _ec2_tag_drift(ctx, current, current["FlowLogId"], desired_tags)
    return kit.maybe_update(NAME, "flow-log", name, current["FlowLogId"], diffs, steps, needs)


# ----- gateway endpoints


def _endpoint(ctx: Context, names: Names, found: Found, service: str) -> Change:
    cfg = ctx.cfg
    name = names.endpoint(service)
    desired_tags = kit.desired_tags(cfg, NAME, name)
    rt_names = [names.private_rt(z) for z in cfg.network.zones]
    needs = (names.k_vpc, *(change_key("route-table", n) for n in rt_names))
    service_name = f"com.amazonaws.{cfg.project.region}.{service}"
    policy = endpoint_policy.desired(cfg, service)
    ep = found.endpoints.get(service)
    if ep is None:

        def create() -> str:
            vpc_id = ctx.output("vpc")
            ep_id = ctx.client("ec2").create_vpc_endpoint(
                VpcEndpointType="Gateway",
                VpcId=vpc_id,
                ServiceName=service_name,
                RouteTableIds=[ctx.output(f"route-table:{n}") for n in rt_names],
                TagSpecifications=tagging.ec2_spec("vpc-endpoint", desired_tags),
                ClientToken=_token("endpoint", vpc_id, service),
                PolicyDocument=json.dumps(policy),
            )["VpcEndpoint"]["VpcEndpointId"]
            return ep_id

        diffs = [Diff("route tables", None, rt_names), Diff("policy", None, endpoint_policy.label(service))]
        return _change("vpc-endpoint", name, CREATE, diffs=diffs, needs=needs, run=create)
    ep_id = ep["VpcEndpointId"]
    current_rts = set(ep.get("RouteTableIds", []))
    wanted_known = {ctx.outputs.get(f"route-table:{n}") for n in rt_names}
    diffs, steps = [], []
    missing_rts = [n for n in rt_names if ctx.outputs.get(f"route-table:{n}") not in current_rts]
    extra_rts = sorted(current_rts - wanted_known)
    if missing_rts or extra_rts:
        diffs.append(Diff("route tables", sorted(current_rts), rt_names))

        def fix_rts() -> None:
            wanted = {ctx.output(f"route-table:{n}") for n in rt_names}
            kwargs: dict[str, Any] = {"VpcEndpointId": ep_id}
            if wanted - current_rts:
                kwargs["AddRouteTableIds"] = sorted(wanted - current_rts)
            if current_rts - wanted:
                kwargs["RemoveRouteTableIds"] = sorted(current_rts - wanted)
            ctx.client("ec2").modify_vpc_endpoint(**kwargs)

        steps.append(fix_rts)
    if endpoint_policy.current(ep) != policy:
        diffs.append(Diff("policy", "differs" if ep.get("PolicyDocument") else None, endpoint_policy.label(service)))
        steps.append(lambda: ctx.client("ec2").modify_vpc_endpoint(VpcEndpointId=ep_id, PolicyDocument=json.dumps(policy)))
    tag_diffs, tag_steps = _ec2_tag_drift(ctx, ep, ep_id, desired_tags)
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    return kit.maybe_update(NAME, "vpc-endpoint", name, ep_id, diffs, steps, needs)


# ----- security groups


def _rule_key(port: int, kind: str, value: str) -> tuple[str, int, int, str, str]:
    return ("tcp", port, port, kind, value)


def _current_rules(group: dict) -> set[tuple]:
    rules = set()
    for perm in group.get("IpPermissions", []):
        proto, lo, hi = perm.get("IpProtocol"), perm.get("FromPort", -1), perm.get("ToPort", -1)
        for r in perm.get("IpRanges", []):
            rules.add((proto, lo, hi, "cidr", r["CidrIp"]))
        for r in perm.get("Ipv6Ranges", []):
            rules.add((proto, lo, hi, "cidr6", r["CidrIpv6"]))
        for r in perm.get("UserIdGroupPairs", []):
            rules.add((proto, lo, hi, "group", r["GroupId"]))
        for r in perm.get("PrefixListIds", []):
            rules.add((proto, lo, hi, "prefix-list", r["PrefixListId"]))
    return rules


def _permission(rule: tuple, description: str = "") -> dict:
    proto, lo, hi, kind, value = rule
    perm: dict[str, Any] = {"IpProtocol": proto}
    if proto != "-1":
        perm.update(FromPort=lo, ToPort=hi)
    entry_desc = {"Description": description} if description else {}
    if kind == "cidr":
        perm["IpRanges"] = [{"CidrIp": value, **entry_desc}]
    elif kind == "cidr6":
        perm["Ipv6Ranges"] = [{"CidrIpv6": value, **entry_desc}]
    elif kind == "group":
        perm["UserIdGroupPairs"] = [{"GroupId": value, **entry_desc}]
    else:
        perm["PrefixListIds"] = [{"PrefixListId": value, **entry_desc}]
    return perm


def _security_group(ctx: Context, names: Names, found: Found, tier: SecurityGroupTier) -> Change:
    name = names.security_group(tier.tier)
    desired_tags = kit.desired_tags(ctx.cfg, NAME, name, {"Tier": tier.tier})
    group = found.security_groups.get(name)
    referenced = sorted({r.group for r in tier.ingress if r.group and r.group != tier.tier})
    needs = (names.k_vpc, *(names.k_security_group(g) for g in referenced))
    sg_key = f"sg:{tier.tier}"
    if group is None:

        def create() -> str:
            group_id = ctx.client("ec2").create_security_group(
                GroupName=name,
                Description=tier.description,
                VpcId=ctx.output("vpc"),
                TagSpecifications=tagging.ec2_spec("security-group", desired_tags),
            )["GroupId"]
            ctx.set_output(sg_key, group_id)
            _authorize(ctx, sg_key, _desired_rules(ctx, names, tier, resolve=True))
            return group_id

        planned = _desired_rules(ctx, names, tier, resolve=False)
        return _change(
            "security-group", name, CREATE, diffs=[Diff("ingress", None, _show_rule(r)) for r in sorted(planned)], needs=needs, run=create
        )
    group_id = group["GroupId"]
    if group.get("Description") != tier.description:
        return _change(
            "security-group", name, REPLACE, diffs=[Diff("description", group.get("Description"), tier.description)],
            resource_id=group_id, note="a security group's description cannot change; nothing was changed",
        )
    current = _current_rules(group)
    wanted = _desired_rules(ctx, names, tier, resolve=False)
    add = {r: d for r, d in wanted.items() if r not in current}
    remove = sorted(current - set(wanted))
    diffs = [Diff("ingress", None, _show_rule(r)) for r in sorted(add)] + [Diff("ingress", _show_rule(r), None) for r in remove]
    steps = []
    if add:
        steps.append(lambda: _authorize(ctx, sg_key, {r: d for r, d in _desired_rules(ctx, names, tier, resolve=True).items() if r not in current}))
    if remove:
        steps.append(
            lambda: ctx.client("ec2").revoke_security_group_ingress(GroupId=group_id, IpPermissions=[_permission(r) for r in remove])
        )
    tag_diffs, tag_steps = _ec2_tag_drift(ctx, group, group_id, desired_tags)
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    return kit.maybe_update(NAME, "security-group", name, group_id, diffs, steps, needs)


def _desired_rules(ctx: Context, names: Names, tier: SecurityGroupTier, resolve: bool) -> dict[tuple, str]:
    """Rule -> description. Unresolvable references (not yet created) get a placeholder."""
    out = {}
    for rule in tier.ingress:
        if rule.group:
            gid = ctx.output(f"sg:{rule.group}") if resolve else ctx.outputs.get(f"sg:{rule.group}", f"({names.security_group(rule.group)})")
            out[_rule_key(rule.port, "group", gid)] = rule.description
        else:
            cidr = (ctx.output("vpc_cidr") if resolve else ctx.outputs.get("vpc_cidr", ctx.cfg.network.vpc_cidr)) if rule.cidr == "vpc" else rule.cidr
            out[_rule_key(rule.port, "cidr", cidr)] = rule.description
    return out


def _show_rule(rule: tuple) -> str:
    proto, lo, hi, kind, value = rule
    ports = "all" if proto == "-1" else (f"{lo}" if lo == hi else f"{lo}-{hi}")
    return f"{proto}/{ports} from {value}"


def _authorize(ctx: Context, group_id_key: str, rules: dict[tuple, str]) -> None:
    if rules:
        ctx.client("ec2").authorize_security_group_ingress(
            GroupId=ctx.output(group_id_key), IpPermissions=[_permission(r, d) for r, d in sorted(rules.items())]
        )
