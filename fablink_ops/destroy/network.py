"""The network stage's resources, deleted in the order EC2 requires.

Every describe filters on this environment's tags server-side, so only ours
come back. The order (steps, each finished before the next):

0. flow logs, VPC endpoints, NAT gateways (waited for: a NAT gateway holds
   its Elastic IP and its network interface until it is *deleted*, ~1 min);
1. Elastic IPs (released), route tables (their subnet associations first);
2. the internet gateway (detached first; EC2 refuses to detach it while the
   VPC still has public addresses mapped, hence after the EIPs), subnets,
   security groups that reference another of our groups;
3. the other security groups; 4. the VPC; 5. the flow logs' role and group.

In AWS, network interfaces left by other services (the EKS cluster's, the
NLB's, a Lambda's) disappear minutes after their owner is deleted and block
subnets, groups and the VPC meanwhile (DependencyViolation): those deletes
are retried within [destroy].wait_minutes.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import tags as tagging
from ..engine import Context
from . import iam, logs
from .common import GONE, Doomed, ec2_filters, gone, name_tag, owned, retry_in_use, status_or_gone, wait_gone

STAGE = "network"


def find(ctx: Context) -> list[Doomed]:
    ec2 = ctx.client("ec2")
    f = ec2_filters(ctx)
    out: list[Doomed | None] = []
    for fl in ec2.paginate("describe_flow_logs", "FlowLogs", Filters=f):
        out.append(_doomed(ctx, "flow-log", fl, fl["FlowLogId"], 0,
                           lambda i=fl["FlowLogId"]: ec2.delete_flow_logs(FlowLogIds=[i])))
    for e in ec2.paginate("describe_vpc_endpoints", "VpcEndpoints", Filters=f):
        if e["State"].lower() not in ("deleted", "deleting"):
            out.append(_doomed(ctx, "vpc-endpoint", e, e["VpcEndpointId"], 0,
                               lambda i=e["VpcEndpointId"]: ec2.delete_vpc_endpoints(VpcEndpointIds=[i])))
    for n in ec2.paginate("describe_nat_gateways", "NatGateways", Filter=f):
        if n["State"] not in ("deleted", "failed"):
            out.append(_nat_gateway(ctx, n))
    for a in ec2.describe_addresses(Filters=f).get("Addresses", []):
        out.append(_doomed(ctx, "elastic-ip", a, a["AllocationId"], 1, _gone_ec2(
            lambda i=a["AllocationId"]: ec2.release_address(AllocationId=i), "InvalidAllocationID.NotFound")))
    for rt in ec2.paginate("describe_route_tables", "RouteTables", Filters=f):
        out.append(_doomed(ctx, "route-table", rt, rt["RouteTableId"], 1, _route_table_delete(ctx, rt)))
    for igw in ec2.paginate("describe_internet_gateways", "InternetGateways", Filters=f):
        out.append(_doomed(ctx, "internet-gateway", igw, igw["InternetGatewayId"], 2, _igw_delete(ctx, igw)))
    for s in ec2.paginate("describe_subnets", "Subnets", Filters=f):
        out.append(_doomed(ctx, "subnet", s, s["SubnetId"], 2, retry_in_use(ctx, f"subnet {s['SubnetId']}", _gone_ec2(
            lambda i=s["SubnetId"]: ec2.delete_subnet(SubnetId=i), "InvalidSubnetID.NotFound"))))
    out += _security_groups(ctx, ec2.paginate("describe_security_groups", "SecurityGroups", Filters=f))
    for v in ec2.paginate("describe_vpcs", "Vpcs", Filters=f):
        out.append(_doomed(ctx, "vpc", v, v["VpcId"], 4, retry_in_use(ctx, f"VPC {v['VpcId']}", _gone_ec2(
            lambda i=v["VpcId"]: ec2.delete_vpc(VpcId=i), "InvalidVpcID.NotFound"))))
    return [d for d in out if d] + iam.roles(ctx, STAGE, 5) + logs.log_groups(ctx, STAGE, 5)


def _doomed(ctx: Context, kind: str, item: dict, rid: str, step: int, delete: Callable[[], Any], **kw: Any) -> Doomed | None:
    """None unless the item carries our tags: the server-side filter is not
    trusted alone (moto ignores tag filters on DescribeNatGateways)."""
    tags = tagging.from_list(item.get("Tags"))
    if not owned(ctx, tags):
        return None
    return Doomed(STAGE, kind, name_tag(tags, rid), rid, step, lambda: delete() and None, **kw)


def _gone_ec2(call: Callable[[], Any], *codes: str) -> Callable[[], bool]:
    return lambda: gone(call, *codes)


def _nat_gateway(ctx: Context, n: dict) -> Doomed:
    ec2 = ctx.client("ec2")
    nat_id = n["NatGatewayId"]

    def state() -> str:
        found = ec2.describe_nat_gateways(NatGatewayIds=[nat_id]).get("NatGateways", [])
        return GONE if not found or found[0]["State"] == "deleted" else found[0]["State"]

    return _doomed(ctx, "nat-gateway", n, nat_id, 0,
                   _gone_ec2(lambda: ec2.delete_nat_gateway(NatGatewayId=nat_id), "NatGatewayNotFound", "InvalidNatGatewayID.NotFound"),
                   wait=lambda: wait_gone(ctx, f"NAT gateway {nat_id}", lambda: status_or_gone(state, "NatGatewayNotFound")))


def _route_table_delete(ctx: Context, rt: dict) -> Callable[[], None]:
    ec2 = ctx.client("ec2")

    def delete() -> None:
        for assoc in rt.get("Associations", []):
            if not assoc.get("Main"):
                gone(lambda: ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"]),
                     "InvalidAssociationID.NotFound")
        gone(lambda: ec2.delete_route_table(RouteTableId=rt["RouteTableId"]), "InvalidRouteTableID.NotFound")

    return delete


def _igw_delete(ctx: Context, igw: dict) -> Callable[[], None]:
    ec2 = ctx.client("ec2")
    igw_id = igw["InternetGatewayId"]

    def delete() -> None:
        for att in igw.get("Attachments", []):
            gone(lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=att["VpcId"]),
                 "Gateway.NotAttached", "InvalidInternetGatewayID.NotFound")
        gone(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id), "InvalidInternetGatewayID.NotFound")

    return retry_in_use(ctx, f"internet gateway {igw_id}", delete)


def _security_groups(ctx: Context, groups: list[dict]) -> list[Doomed | None]:
    """Groups that reference another of ours go first (step 2), the rest after
    (3): AWS refuses to delete a group another group's rule still names."""
    ec2 = ctx.client("ec2")
    groups = [g for g in groups if owned(ctx, tagging.from_list(g.get("Tags")))]
    ours = {g["GroupId"] for g in groups}
    out: list[Doomed | None] = []
    for g in groups:
        refs = {p.get("GroupId") for rule in g.get("IpPermissions", []) for p in rule.get("UserIdGroupPairs", [])}
        step = 2 if refs & (ours - {g["GroupId"]}) else 3
        out.append(_doomed(ctx, "security-group", g, g["GroupId"], step, retry_in_use(ctx, f"security group {g['GroupId']}", _gone_ec2(
            lambda i=g["GroupId"]: ec2.delete_security_group(GroupId=i), "InvalidGroup.NotFound"))))
    return out
