"""[network]: the VPC, its subnets per zone, gateway endpoints and the
security group tiers."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import _cidr, _fail, _one_of, _pattern, check

if TYPE_CHECKING:
    from .loader import Config


SG_DESCRIPTION = _pattern(r"[A-Za-z0-9. _\-:/()#,@\[\]+=&;{}!$*]+", 255, "security group description")


@dataclass(frozen=True)
class Zone:
    az: str
    public_cidr: str = check(_cidr)
    private_cidr: str = check(_cidr)

    @property
    def suffix(self) -> str:
        """2a for ap-northeast-2a: used in resource names."""
        return self.az.rsplit("-", 1)[-1]


@dataclass(frozen=True)
class IngressRule:
    port: int
    cidr: str = ""  # an IPv4 CIDR, or "vpc" for the VPC's own CIDR
    group: str = ""  # the tier name of another security group
    description: str = ""


@dataclass(frozen=True)
class SecurityGroupTier:
    tier: str = check(_pattern(r"[a-z][a-z0-9-]*", 32, "tier name"))
    description: str = check(SG_DESCRIPTION)
    ingress: tuple[IngressRule, ...] = ()


@dataclass(frozen=True)
class NetworkConfig:
    """Design doc: Network architecture, EKS Network Configuration, VPC Security."""

    vpc_name: str = check(_pattern(r"[\w.\-]+", 255, "VPC name"))
    vpc_cidr: str = check(_cidr)
    zones: tuple[Zone, ...]
    flow_logs_traffic: str = check(_one_of("ALL", "ACCEPT", "REJECT"))
    flow_logs_max_aggregation_seconds: int = check(_one_of(60, 600))  # type: ignore[arg-type]
    gateway_endpoints: tuple[str, ...] = ()
    # The S3 buckets reachable through the S3 gateway endpoint (its policy):
    # bucket names, * allowed. Anything else in S3 is refused from the VPC.
    s3_endpoint_buckets: tuple[str, ...] = ()
    security_groups: tuple[SecurityGroupTier, ...] = ()
    # "per-az" (the design: a NAT gateway per AZ, no cross-AZ dependency) or
    # "single" (non-production, issue 18: one NAT in the first zone, every
    # private subnet routes through it; losing that AZ cuts egress).
    nat_gateways: str = check(_one_of("per-az", "single"), default="per-az")

    def nat_zone(self, zone: Zone) -> Zone:
        """The zone whose NAT gateway ``zone``'s private subnet routes through."""
        return zone if self.nat_gateways == "per-az" else self.zones[0]

    @property
    def nat_zones(self) -> tuple[Zone, ...]:
        """The zones that hold a NAT gateway (and its Elastic IP)."""
        return self.zones if self.nat_gateways == "per-az" else self.zones[:1]


def _validate_network(cfg: Config) -> None:
    file, net, region = cfg.path, cfg.network, cfg.project.region
    vpc = ipaddress.IPv4Network(net.vpc_cidr)
    if not 16 <= vpc.prefixlen <= 28:
        raise _fail(file, "network.vpc_cidr", f"{net.vpc_cidr}: a VPC CIDR must be between /16 and /28")
    if not net.zones:
        raise _fail(file, "network.zones", "at least one zone is required")
    seen_az: set[str] = set()
    subnets: list[tuple[str, ipaddress.IPv4Network]] = []
    for i, zone in enumerate(net.zones):
        key = f"network.zones[{i}]"
        if not re.fullmatch(re.escape(region) + r"[a-z]", zone.az):
            raise _fail(file, f"{key}.az", f"{zone.az!r} is not an availability zone of region {region}")
        if zone.az in seen_az:
            raise _fail(file, f"{key}.az", f"{zone.az} is listed twice")
        seen_az.add(zone.az)
        for attr in ("public_cidr", "private_cidr"):
            cidr = getattr(zone, attr)
            sub = ipaddress.IPv4Network(cidr)
            if not sub.subnet_of(vpc):
                raise _fail(file, f"{key}.{attr}", f"{cidr} is outside the VPC {net.vpc_cidr}")
            if not 16 <= sub.prefixlen <= 28:
                raise _fail(file, f"{key}.{attr}", f"{cidr}: a subnet must be between /16 and /28")
            for other_key, other in subnets:
                if sub.overlaps(other):
                    raise _fail(file, f"{key}.{attr}", f"{cidr} overlaps {other} ({other_key})")
            subnets.append((f"{key}.{attr}", sub))
    for i, bucket in enumerate(net.s3_endpoint_buckets):
        if not re.fullmatch(r"[a-z0-9*][a-z0-9.*-]{1,62}", bucket):
            raise _fail(file, f"network.s3_endpoint_buckets[{i}]", f"{bucket!r} is not an S3 bucket name (lower case, digits, . and -; * allowed)")
    for i, svc in enumerate(net.gateway_endpoints):
        if svc not in ("s3", "dynamodb"):
            raise _fail(file, f"network.gateway_endpoints[{i}]", f"{svc!r}: gateway endpoints exist for s3 and dynamodb only")
    tiers = [t.tier for t in net.security_groups]
    for i, tier in enumerate(net.security_groups):
        key = f"network.security_groups[{i}]"
        if tiers.count(tier.tier) > 1:
            raise _fail(file, f"{key}.tier", f"tier {tier.tier!r} is listed twice")
        for j, rule in enumerate(tier.ingress):
            rkey = f"{key}.ingress[{j}]"
            if not 0 < rule.port < 65536:
                raise _fail(file, f"{rkey}.port", f"{rule.port} is not a TCP port")
            if bool(rule.cidr) == bool(rule.group):
                raise _fail(file, rkey, "give exactly one of cidr or group")
            if rule.group and rule.group not in tiers:
                raise _fail(file, f"{rkey}.group", f"{rule.group!r} is not a tier in network.security_groups")
            if rule.cidr and rule.cidr != "vpc":
                problem = _cidr(rule.cidr)
                if problem:
                    raise _fail(file, f"{rkey}.cidr", problem)
                # The design admits the internet only on HTTP(S), never to a
                # database or an application port directly.
                if ipaddress.IPv4Network(rule.cidr).prefixlen == 0 and rule.port not in (80, 443):
                    raise _fail(file, f"{rkey}.cidr", f"0.0.0.0/0 is allowed on ports 80 and 443 only, not on {rule.port}")
            if rule.description and SG_DESCRIPTION(rule.description):
                raise _fail(file, f"{rkey}.description", SG_DESCRIPTION(rule.description) or "")
