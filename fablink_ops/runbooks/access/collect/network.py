"""Network: VPCs (with their flow logs and whether anything runs in them),
security groups, EKS clusters, load balancers, API Gateway stages and VPC links.
One paginated describe per resource type, per region; per-resource reads
only where AWS has no list that carries the fields (DescribeCluster, GetStages).
"""

from __future__ import annotations

from typing import Any

from ....engine import Context
from ..models import ApiStage, EksCluster, Endpoint, LoadBalancer, Permission, SecurityGroup, Vpc, VpcLink
from ....resources.kit import partition
from .common import Piece, each

EC2_PERMISSIONS = ("ec2:DescribeVpcs", "ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces", "ec2:DescribeFlowLogs",
                   "ec2:DescribeVpcEndpoints")
EKS_PERMISSIONS = ("eks:ListClusters", "eks:DescribeCluster")
ELBV2_PERMISSIONS = ("elasticloadbalancing:DescribeLoadBalancers",)
# API Gateway authorises reads as apigateway:GET on the resource path.
APIGATEWAY_PERMISSIONS = ("apigateway:GET",)

# EKS's defaults when a cluster is created without saying: a public endpoint
# open to everyone. DescribeCluster always states both on AWS; moto omits them
# unless they were given.
# https://docs.aws.amazon.com/eks/latest/APIReference/API_VpcConfigRequest.html
EKS_DEFAULT_PUBLIC = True
EKS_DEFAULT_CIDRS = ("0.0.0.0/0",)


def collect_ec2(ctx: Context, region: str) -> Piece:
    ec2 = ctx.target.client("ec2", region)
    vpcs = ec2.paginate("describe_vpcs", "Vpcs")
    groups = ec2.paginate("describe_security_groups", "SecurityGroups")
    in_use = {eni.get("VpcId") for eni in ec2.paginate("describe_network_interfaces", "NetworkInterfaces")}
    active_logs: dict[str, list[str]] = {}
    for fl in ec2.paginate("describe_flow_logs", "FlowLogs"):
        if fl.get("FlowLogStatus", "ACTIVE") == "ACTIVE":
            active_logs.setdefault(fl.get("ResourceId", ""), []).append(fl["FlowLogId"])
    part = partition(region)
    endpoints = [Endpoint(e["VpcEndpointId"], f"arn:{part}:ec2:{region}:{e.get('OwnerId', '')}:vpc-endpoint/{e['VpcEndpointId']}",
                          region, e.get("VpcId", ""), e.get("ServiceName", ""), e.get("PolicyDocument") or "")
                 for e in ec2.paginate("describe_vpc_endpoints", "VpcEndpoints") if e.get("VpcEndpointType") == "Gateway"]
    return {
        "endpoints": endpoints,
        "vpcs": [
            Vpc(
                id=v["VpcId"],
                arn=f"arn:{part}:ec2:{region}:{v.get('OwnerId', '')}:vpc/{v['VpcId']}",
                region=region,
                cidrs=tuple(a["CidrBlock"] for a in v.get("CidrBlockAssociationSet", []) if _associated(a.get("CidrBlockState")))
                or (v["CidrBlock"],),
                is_default=bool(v.get("IsDefault")),
                in_use=v["VpcId"] in in_use,
                flow_logs=tuple(active_logs.get(v["VpcId"], ())),
            )
            for v in vpcs
        ],
        "security_groups": [_group(g, region, part) for g in groups],
    }


def _associated(state: dict | None) -> bool:
    return (state or {}).get("State", "associated") == "associated"


def _group(g: dict, region: str, part: str) -> SecurityGroup:
    arn = g.get("SecurityGroupArn") or f"arn:{part}:ec2:{region}:{g.get('OwnerId', '')}:security-group/{g['GroupId']}"
    ingress = tuple(
        Permission(
            protocol=str(p.get("IpProtocol", "-1")).lower(),
            from_port=p.get("FromPort"),
            to_port=p.get("ToPort"),
            cidrs=tuple(r["CidrIp"] for r in p.get("IpRanges", [])) + tuple(r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])),
        )
        for p in g.get("IpPermissions", [])
    )
    return SecurityGroup(g["GroupId"], arn, g.get("GroupName", ""), g.get("VpcId", ""), region, ingress, len(g.get("IpPermissionsEgress", [])))


def collect_eks(ctx: Context, region: str) -> Piece:
    eks = ctx.target.client("eks", region)
    names = eks.paginate("list_clusters", "clusters")

    def describe(name: str) -> EksCluster:
        c = eks.describe_cluster(name=name)["cluster"]
        vpc = c.get("resourcesVpcConfig", {})
        public = vpc.get("endpointPublicAccess", EKS_DEFAULT_PUBLIC)
        enabled: set[str] = set()
        for entry in c.get("logging", {}).get("clusterLogging", []):
            if entry.get("enabled"):
                enabled.update(entry.get("types", []))
        return EksCluster(
            name=name,
            arn=c["arn"],
            region=region,
            public_endpoint=bool(public),
            public_cidrs=tuple(vpc.get("publicAccessCidrs") or (EKS_DEFAULT_CIDRS if public else ())),
            logging=frozenset(enabled),
        )

    return {"clusters": each(names, describe)}


def collect_elbv2(ctx: Context, region: str) -> Piece:
    elb = ctx.target.client("elbv2", region)
    return {
        "load_balancers": [
            LoadBalancer(lb["LoadBalancerName"], lb["LoadBalancerArn"], region, lb.get("Type", ""), lb.get("Scheme", ""),
                         lb.get("VpcId", ""), tuple(lb.get("SecurityGroups") or ()))
            for lb in elb.paginate("describe_load_balancers", "LoadBalancers")
        ]
    }


def collect_apigateway(ctx: Context, region: str) -> Piece:
    """REST API stages (v1) and HTTP/WebSocket API stages (v2), and the REST VPC links."""
    v1, v2 = ctx.target.client("apigateway", region), ctx.target.client("apigatewayv2", region)
    part = partition(region)

    def rest_stages(api: dict) -> list[ApiStage]:
        return [
            ApiStage(f"arn:{part}:apigateway:{region}::/restapis/{api['id']}/stages/{s['stageName']}", api.get("name", api["id"]),
                     s["stageName"], region, (s.get("accessLogSettings") or {}).get("destinationArn", ""))
            for s in v1.get_stages(restApiId=api["id"]).get("item", [])
        ]

    def http_stages(api: dict) -> list[ApiStage]:
        return [
            ApiStage(f"arn:{part}:apigateway:{region}::/apis/{api['ApiId']}/stages/{s['StageName']}", api.get("Name", api["ApiId"]),
                     s["StageName"], region, (s.get("AccessLogSettings") or {}).get("DestinationArn", ""))
            for s in v2.paginate("get_stages", "Items", ApiId=api["ApiId"])
        ]

    stages: list[Any] = each(v1.paginate("get_rest_apis", "items"), rest_stages) + each(v2.paginate("get_apis", "Items"), http_stages)
    links = [VpcLink(link["id"], link.get("name", ""), region, tuple(link.get("targetArns", [])))
             for link in v1.paginate("get_vpc_links", "items")]
    return {"api_stages": [s for group in stages for s in group], "vpc_links": links}
