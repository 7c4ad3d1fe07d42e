"""Network: who can reach what. Security groups open to the internet,
database ports reachable from outside their VPC, the EKS API endpoint, and an
internet-facing NLB (behind the API or not).

Design doc: Network security ("Database access restrictions", "AWS WAF on API
Gateway"); EKS Security ("Public Access: Restricted (administrator IPs only)");
Network Load Balancer ("Scheme: internet-facing").
"""

from __future__ import annotations

from typing import Iterator

from ..models import CRITICAL, HIGH, LOW, MEDIUM, Inventory, Permission
from .. import policy as pol
from .base import Check, Hit, Settings, is_world, within

WEB_PORTS = (80, 443)


def _web_only(perm: Permission) -> bool:
    """TCP 80 or 443 and nothing else."""
    return perm.protocol in ("tcp", "6") and perm.from_port == perm.to_port and perm.from_port in WEB_PORTS


def sg_open_to_internet(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for g in inv.security_groups:
        exposed = [f"{perm.ports()} from {', '.join(c for c in perm.cidrs if is_world(c))}"
                   for perm in g.ingress if any(is_world(c) for c in perm.cidrs) and not _web_only(perm)]
        if exposed:
            yield (g.arn, f"security group {g.name} ({g.id}) admits the whole internet on {'; '.join(exposed)}",
                   "remove these rules or narrow them to known addresses: only TCP 80 and 443 may be open to everyone")


def sg_database_port(inv: Inventory, s: Settings) -> Iterator[Hit]:
    vpc_cidrs = {v.id: v.cidrs for v in inv.vpcs}
    for g in inv.security_groups:
        inside = vpc_cidrs.get(g.vpc_id, ())
        hits = []
        for perm in g.ingress:
            ports = [p for p in s.access.database_ports if perm.covers(p)]
            outside = [c for c in perm.cidrs if not within(c, inside)]
            if ports and outside:
                covers = "" if perm.from_port == perm.to_port and perm.protocol != "-1" else f" (covers {', '.join(map(str, ports))})"
                hits.append(f"{perm.ports()}{covers} from {', '.join(outside)}")
        if hits:
            yield (g.arn, f"security group {g.name} ({g.id}) admits database ports from outside its VPC: {'; '.join(hits)}",
                   "admit database ports only from the application tier's security group (or the VPC's own CIDR)")


def default_security_group(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """CIS 5.4: a VPC's default group keeps no rules (anything launched
    without a group lands in it). Only VPCs in use, as for flow logs: every
    account has an unused default VPC per region."""
    in_use = {v.id for v in inv.vpcs if v.in_use}
    for g in inv.security_groups:
        if g.is_default and g.vpc_id in in_use and (g.ingress or g.egress_rules):
            yield (g.arn, f"the default security group of {g.vpc_id} ({g.id}) has {len(g.ingress)} inbound and {g.egress_rules} outbound rule(s)",
                   f"revoke them (aws ec2 revoke-security-group-ingress/-egress --group-id {g.id} ...); fablink-ops keeps its VPC's stripped")


def endpoint_policy(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """A gateway endpoint whose policy lets anyone do anything on any
    resource (AWS's default): data of any account can leave through it."""
    in_use = {v.id for v in inv.vpcs if v.in_use}
    for e in inv.endpoints:
        if e.vpc_id not in in_use:
            continue
        wide = [st for st in pol.statements(pol.parse(e.policy) or {}) if pol.is_allow(st) and "Condition" not in st
                and pol.ANYONE in (pol.principals(st).get("AWS", ()) + pol.principals(st).get("*", ()))
                and pol.covers_action(st, "*") and "*" in pol.strings(st.get("Resource"))]
        if wide or not e.policy:
            yield (e.arn, f"gateway endpoint {e.id} ({e.service.rsplit('.', 1)[-1]}) in {e.vpc_id} allows any action on any resource by anyone",
                   f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {e.id} --policy-document <the tables or buckets the VPC needs, this account only>")


def eks_public_endpoint(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.clusters:
        world = [cidr for cidr in c.public_cidrs if is_world(cidr)]
        if c.public_endpoint and world:
            yield (c.arn, f"EKS cluster {c.name}'s public API endpoint admits {', '.join(world)}",
                   f"aws eks update-cluster-config --name {c.name} --resources-vpc-config publicAccessCidrs=<administrator CIDRs> "
                   "(or endpointPublicAccess=false)")


def _closed_to_internet(lb, inv: Inventory) -> bool:
    """Issue 17 item 8: the NLB has security groups and none admits an address
    outside its VPC (the VPC link's PrivateLink traffic passes with inbound
    rules not enforced on it; clients on the internet do not)."""
    if not lb.security_groups:
        return False
    inside = next((v.cidrs for v in inv.vpcs if v.id == lb.vpc_id), ())
    groups = [g for g in inv.security_groups if g.id in lb.security_groups]
    return len(groups) == len(lb.security_groups) and not any(
        c for g in groups for perm in g.ingress for c in perm.cidrs if not within(c, inside))


def internet_facing_nlb(inv: Inventory, s: Settings) -> Iterator[Hit]:
    behind = {target: link for link in inv.vpc_links for target in link.targets}
    for lb in inv.load_balancers:
        if lb.type != "network" or lb.scheme != "internet-facing" or _closed_to_internet(lb, inv):
            continue
        link = behind.get(lb.arn)
        if link:
            yield (lb.arn, f"internet-facing NLB {lb.name} is behind API Gateway (VPC link {link.name or link.id}): clients can reach it "
                   "directly and bypass the API's WAF, API keys and rate limits (the design asks for this scheme)",
                   "give it a security group admitting no internet traffic (PrivateLink inbound rules off, for the VPC link); "
                   "an NLB made without security groups must be replaced for that, or made internal")
        else:
            yield (lb.arn, f"internet-facing NLB {lb.name}: reachable from the internet with no WAF in front (an NLB has none)",
                   "make it internal unless clients must reach it directly; otherwise front it with API Gateway or an ALB with WAF")


CHECKS = (
    Check("ec2.sg_open_to_internet", HIGH, "security groups open to 0.0.0.0/0 or ::/0 beyond 80/443", sg_open_to_internet),
    Check("ec2.sg_database_port", CRITICAL, "database ports reachable from outside the VPC", sg_database_port),
    Check("ec2.default_security_group", LOW, "default security groups with rules in VPCs in use", default_security_group),
    Check("ec2.endpoint_policy", MEDIUM, "gateway endpoints with AWS's full-access default policy", endpoint_policy),
    Check("eks.public_endpoint", HIGH, "EKS public endpoint open to the internet", eks_public_endpoint),
    Check("elbv2.internet_facing_nlb", MEDIUM, "internet-facing NLBs (WAF bypass behind the API)", internet_facing_nlb),
)
