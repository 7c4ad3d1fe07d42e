"""The VPC's default security group, stripped of AWS's default rules.

AWS gives every VPC a security group named "default" that admits all
traffic from its own members and lets everything out; anything launched
without a group (an ENI, a Lambda, an endpoint made by hand) lands in it.
CIS AWS Foundations 5.4 and prowler's ec2_securitygroup_default_restrict_traffic
ask that it have no rules at all. AWS does not let the group be deleted, so
its rules are revoked, and rules that reappear are drift to correct.

Part of the network stage: the group comes from the network's one
DescribeSecurityGroups (no extra read). It is AWS's group, not one this tool
creates: it is not tagged.
"""

from __future__ import annotations

from typing import Any

from ..engine import NOOP, UPDATE, Change, Context, Diff

KIND = "default-security-group"
DEFAULT = "default"


def _clean(permissions: list[dict]) -> list[dict]:
    """IpPermissions as DescribeSecurityGroups gives them, fit for Revoke*:
    empty lists dropped (Revoke refuses none, but sends less)."""
    return [{k: v for k, v in p.items() if v not in ([], None)} for p in permissions]


def describe(rules: list[dict]) -> list[str]:
    out = []
    for p in rules:
        proto = "all" if str(p.get("IpProtocol")) == "-1" else f"{p.get('IpProtocol')} {p.get('FromPort')}-{p.get('ToPort')}"
        peers = [r["CidrIp"] for r in p.get("IpRanges", [])] + [r["CidrIpv6"] for r in p.get("Ipv6Ranges", [])]
        peers += ["itself" if g.get("GroupId") else "a group" for g in p.get("UserIdGroupPairs", [])]
        out.append(f"{proto} {', '.join(peers) or '-'}")
    return out


def change(ctx: Context, stage: str, vpc_name: str, group: dict | None) -> Change:
    """``group`` is the VPC's default group as discovered, or None when the
    VPC does not exist yet (then it is read right after the VPC is made)."""
    name = f"{vpc_name}/default"
    needs = (f"vpc:{vpc_name}",)
    ec2 = ctx.client("ec2")

    def strip(current: dict | None = group) -> None:
        g = current or _read(ctx)
        if g.get("IpPermissions"):
            ec2.revoke_security_group_ingress(GroupId=g["GroupId"], IpPermissions=_clean(g["IpPermissions"]))
        if g.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(GroupId=g["GroupId"], IpPermissions=_clean(g["IpPermissionsEgress"]))

    if group is None:
        # AWS makes the group with the VPC, with its default rules.
        return Change(stage=stage, kind=KIND, name=name, action=UPDATE, needs=needs, run=lambda: strip(None),
                      diffs=[Diff("rules", "AWS's defaults (all from itself, all out)", "none")])
    rules = describe(group.get("IpPermissions", [])) + [f"out: {r}" for r in describe(group.get("IpPermissionsEgress", []))]
    if not rules:
        return Change(stage=stage, kind=KIND, name=name, action=NOOP, needs=needs, resource_id=group["GroupId"])
    return Change(stage=stage, kind=KIND, name=name, action=UPDATE, needs=needs, resource_id=group["GroupId"], run=strip,
                  diffs=[Diff("rules", rules, "none")], note="the VPC's default group keeps no rules (CIS 5.4)")


def _read(ctx: Context) -> dict[str, Any]:
    groups = ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [ctx.output("vpc")]}, {"Name": "group-name", "Values": [DEFAULT]}])["SecurityGroups"]
    return groups[0]
