"""The AWS state after a run, normalised so two runs can be compared.

Ids differ from run to run, so every id is replaced by the Name tag of what it
points to. Every resource of a type is listed, tagged or not: an untagged
orphan or a duplicate left by a crashed run shows up as an extra entry.
"""

from __future__ import annotations

import json

import boto3

from fablink_ops import tags as tagging


def _name(item: dict) -> str:
    return tagging.from_list(item.get("Tags")).get("Name", "")


def _tags(item: dict) -> tuple:
    return tuple(sorted(tagging.from_list(item.get("Tags")).items()))


_CLIENTS: dict[tuple[str, str], object] = {}


def client(service: str, region: str):
    """Clients cached for the test process (building one parses its service model)."""
    key = (service, region)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.Session(region_name=region).client(service)
    return _CLIENTS[key]


def network_inventory(region: str) -> dict[str, list]:
    ec2 = client("ec2", region)
    logs = client("logs", region)
    iam = client("iam", region)
    names: dict[str, str] = {}

    vpcs = ec2.describe_vpcs()["Vpcs"]
    subnets = ec2.describe_subnets()["Subnets"]
    igws = ec2.describe_internet_gateways()["InternetGateways"]
    eips = ec2.describe_addresses()["Addresses"]
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"]
    rts = ec2.describe_route_tables()["RouteTables"]
    sgs = ec2.describe_security_groups()["SecurityGroups"]
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    flow_logs = ec2.describe_flow_logs()["FlowLogs"]
    for items, key in ((vpcs, "VpcId"), (subnets, "SubnetId"), (igws, "InternetGatewayId"), (nats, "NatGatewayId"),
                       (rts, "RouteTableId"), (eips, "AllocationId")):
        for item in items:
            names[item[key]] = _name(item) or "(unnamed)"
    for sg in sgs:
        names[sg["GroupId"]] = sg["GroupName"]
    for ep in endpoints:
        names[ep["VpcEndpointId"]] = ep["ServiceName"]
    n = lambda i: names.get(i, i)  # noqa: E731

    def rules(sg: dict) -> tuple:
        out = []
        for p in sg.get("IpPermissions", []):
            for r in p.get("IpRanges", []):
                out.append((p.get("FromPort"), r["CidrIp"]))
            for r in p.get("UserIdGroupPairs", []):
                out.append((p.get("FromPort"), n(r["GroupId"])))
        return tuple(sorted(out))

    roles = []
    for role in iam.list_roles()["Roles"]:
        policies = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        attached = [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]]
        tags = tuple(sorted(tagging.from_list(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]).items()))
        roles.append((role["RoleName"], tuple(sorted(policies)), tuple(sorted(attached)), tags))
    groups = []
    for g in logs.describe_log_groups()["logGroups"]:
        tags = tuple(sorted(logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {}).items()))
        groups.append((g["logGroupName"], g.get("retentionInDays"), tags))

    return {
        "vpcs": sorted((_name(v), v["CidrBlock"], _tags(v)) for v in vpcs),
        "subnets": sorted((_name(s), s["CidrBlock"], s["AvailabilityZone"], n(s["VpcId"]), _tags(s)) for s in subnets),
        "igws": sorted((_name(i), tuple(n(a["VpcId"]) for a in i.get("Attachments", [])), _tags(i)) for i in igws),
        "eips": sorted((_name(e), _tags(e)) for e in eips),
        "nats": sorted((_name(g), g["State"], n(g["SubnetId"]), _tags(g)) for g in nats),
        "route_tables": sorted(
            (
                _name(r),
                n(r["VpcId"]),
                tuple(sorted((x.get("DestinationCidrBlock") or "(prefix list)", n(x.get("GatewayId") or x.get("NatGatewayId") or "")) for x in r.get("Routes", []))),
                tuple(sorted(n(a["SubnetId"]) for a in r.get("Associations", []) if a.get("SubnetId"))),
                _tags(r),
            )
            for r in rts
        ),
        "security_groups": sorted((g["GroupName"], n(g.get("VpcId", "")), g["Description"], rules(g), _tags(g)) for g in sgs),
        "endpoints": sorted((e["ServiceName"], e["VpcEndpointType"], tuple(sorted(n(i) for i in e.get("RouteTableIds", []))), _tags(e)) for e in endpoints),
        "flow_logs": sorted((_name(f), n(f["ResourceId"]), f["TrafficType"], f.get("LogGroupName", ""), _tags(f)) for f in flow_logs),
        "log_groups": sorted(groups),
        "roles": sorted(roles),
    }


def dump(state: dict) -> str:
    return json.dumps(state, indent=1, default=str)
