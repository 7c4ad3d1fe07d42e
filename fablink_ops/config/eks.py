"""[eks]: the cluster, its node groups, the application's IRSA role and the
add-ons."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .checks import _between, _cidr, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# https://docs.aws.amazon.com/eks/latest/APIReference/API_Nodegroup.html#AmazonEKS-Type-Nodegroup-amiType
EKS_AMI_TYPES = (
    "AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD", "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64",
    "AL2_x86_64", "AL2_ARM_64",
)
EKS_MIN_MINOR = 30  # design doc: "Version: 1.30+"
K8S_NAME = _pattern(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", 63, "Kubernetes name (RFC 1123 label)")
# Kubernetes label key: optional DNS prefix, then a name of 63 characters at most.
K8S_LABEL_KEY = _pattern(r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", 316, "Kubernetes label key")
EKS_ADDON_NAME = _pattern(r"[a-z0-9][a-z0-9-]*", 100, "EKS add-on name")
DB_USER = _pattern(r"[a-z_][a-z0-9_]*", 63, "PostgreSQL user name")


def _k8s_version(value: str) -> str | None:
    match = re.fullmatch(r"1\.(\d+)", value)
    if not match:
        return f"{value!r} is not a Kubernetes minor version like '1.31'"
    if int(match.group(1)) < EKS_MIN_MINOR:
        return f"{value} is older than 1.{EKS_MIN_MINOR}: the design requires Kubernetes 1.{EKS_MIN_MINOR} or newer"
    return None


@dataclass(frozen=True)
class NodegroupConfig:
    """One managed node group per zone of network.zones, all sized alike."""

    instance_types: tuple[str, ...]
    ami_type: str = check(_one_of(*EKS_AMI_TYPES))
    capacity_type: str = check(_one_of("ON_DEMAND", "SPOT"))
    disk_size_gib: int = check(_between(1, 16384))  # an EBS gp2/gp3 volume: 16 TiB at most
    min_size: int
    desired_size: int
    # Amazon EKS service quotas: 450 nodes per managed node group
    # (https://docs.aws.amazon.com/eks/latest/userguide/service-quotas.html).
    max_size: int = check(_between(1, 450))
    max_unavailable: int
    security_group_tier: str  # network.security_groups tier the nodes (and so the pods) join
    zone_label: str = check(K8S_LABEL_KEY)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IrsaConfig:
    """The application's IAM role, assumed by its service account (IRSA)."""

    service_account: str = check(K8S_NAME)
    db_iam_user: str = check(DB_USER)
    # Keys the backend may decrypt with, besides dynamodb.kms_key_alias.
    data_key_aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddonConfig:
    name: str = check(EKS_ADDON_NAME)
    version: str = ""  # "" = the default version AWS picks for the cluster's Kubernetes version
    configuration: dict[str, str] = field(default_factory=dict)
    # "namespace:name" of the add-on's service account, to give it an IRSA
    # role with policy_arns; "" = the add-on needs no AWS permissions of its own.
    service_account: str = ""
    policy_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class EksConfig:
    """Design doc: EKS cluster; Security; Logging (EKS cluster logging)."""

    version: str = check(_k8s_version)
    service_cidr: str = check(_cidr)
    endpoint_private_access: bool
    admin_cidrs: tuple[str, ...]
    log_types: tuple[str, ...]
    allowed_instance_types: tuple[str, ...]
    cluster_wait_minutes: float = check(_positive)
    nodegroup_wait_minutes: float = check(_positive)
    addon_wait_minutes: float = check(_positive)
    nodegroups: NodegroupConfig
    irsa: IrsaConfig
    addons: tuple[AddonConfig, ...] = ()

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])


def _validate_eks(cfg: Config) -> None:
    file, eks = cfg.path, cfg.eks
    # EKS rules for the service CIDR: inside an RFC 1918 range, /12 to /24, and
    # not overlapping the VPC. https://docs.aws.amazon.com/eks/latest/APIReference/API_KubernetesNetworkConfigRequest.html
    service = ipaddress.IPv4Network(eks.service_cidr)
    private = [ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
    if not any(service.subnet_of(n) for n in private) or not 12 <= service.prefixlen <= 24:
        raise _fail(file, "eks.service_cidr", f"{eks.service_cidr}: EKS needs a /12 to /24 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16")
    if service.overlaps(ipaddress.IPv4Network(cfg.network.vpc_cidr)):
        raise _fail(file, "eks.service_cidr", f"{eks.service_cidr} overlaps the VPC {cfg.network.vpc_cidr}")
    for i, cidr in enumerate(eks.admin_cidrs):
        key = f"eks.admin_cidrs[{i}]"
        problem = _cidr(cidr)
        if problem:
            raise _fail(file, key, problem)
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            raise _fail(file, key, f"{cidr} opens the API endpoint to the whole internet: the design allows administrator IPs only")
    if len(set(eks.admin_cidrs)) != len(eks.admin_cidrs):
        raise _fail(file, "eks.admin_cidrs", "a CIDR is listed twice")
    if not eks.endpoint_private_access and not eks.admin_cidrs:
        raise _fail(file, "eks.endpoint_private_access", "with no admin_cidrs the public endpoint is off, so the private one must be on")
    for i, log_type in enumerate(eks.log_types):
        if log_type not in EKS_LOG_TYPES:
            raise _fail(file, f"eks.log_types[{i}]", f"{log_type!r} is not one of {', '.join(EKS_LOG_TYPES)}")
    if len(set(eks.log_types)) != len(eks.log_types):
        raise _fail(file, "eks.log_types", "a log type is listed twice")
    if not eks.allowed_instance_types:
        raise _fail(file, "eks.allowed_instance_types", "at least one instance type is required")
    _validate_nodegroups(cfg)
    _validate_irsa(cfg)
    _validate_addons(cfg)


def _validate_nodegroups(cfg: Config) -> None:
    file, ng = cfg.path, cfg.eks.nodegroups
    key = "eks.nodegroups"
    if not ng.instance_types:
        raise _fail(file, f"{key}.instance_types", "at least one instance type is required")
    for i, itype in enumerate(ng.instance_types):
        if itype not in cfg.eks.allowed_instance_types:
            raise _fail(
                file, f"{key}.instance_types[{i}]",
                f"{itype!r} is not allowed: eks.allowed_instance_types is {', '.join(cfg.eks.allowed_instance_types)}",
            )
    if ng.min_size < 1:
        raise _fail(file, f"{key}.min_size", f"must be at least 1 (one node per AZ at all times), got {ng.min_size}")
    if not ng.min_size <= ng.desired_size <= ng.max_size:
        raise _fail(file, f"{key}.desired_size", f"must lie between min_size {ng.min_size} and max_size {ng.max_size}, got {ng.desired_size}")
    # UpdateConfig.maxUnavailable: 1 to 100, and no more than the group holds.
    if not 1 <= ng.max_unavailable <= min(100, ng.max_size):
        raise _fail(file, f"{key}.max_unavailable", f"must be between 1 and max_size ({ng.max_size}), got {ng.max_unavailable}")
    if ng.security_group_tier not in {t.tier for t in cfg.network.security_groups}:
        raise _fail(file, f"{key}.security_group_tier", f"{ng.security_group_tier!r} is not a tier in network.security_groups")
    if not 20 <= ng.disk_size_gib <= 16384:
        raise _fail(file, f"{key}.disk_size_gib", f"must be between 20 and 16384, got {ng.disk_size_gib}")
    for label, value in ng.labels.items():
        problem = K8S_LABEL_KEY(label)
        if problem:
            raise _fail(file, f"{key}.labels.{label}", problem)
        if label == ng.zone_label:
            raise _fail(file, f"{key}.labels.{label}", "is set per node group by zone_label")
        if value and (len(value) > 63 or not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", value)):
            raise _fail(file, f"{key}.labels.{label}", f"{value!r} is not a valid Kubernetes label value")


def _role_name_fits(cfg: Config, key: str, suffix: str) -> None:
    # The stage names the role <prefix>-<suffix>; IAM role names stop at 64.
    name = f"{cfg.project.prefix}-{suffix}"
    if len(name) > 64:
        raise _fail(cfg.path, key, f"the IAM role name {name!r} would be {len(name)} characters; IAM allows 64")


def _validate_irsa(cfg: Config) -> None:
    file, irsa = cfg.path, cfg.eks.irsa
    _role_name_fits(cfg, "eks.irsa.service_account", irsa.service_account)
    for i, alias in enumerate(irsa.data_key_aliases):
        if not re.fullmatch(r"alias/[A-Za-z0-9/_-]{1,250}", alias) or alias.startswith("alias/aws/"):
            raise _fail(file, f"eks.irsa.data_key_aliases[{i}]", f"{alias!r} is not the alias of a customer-managed key (alias/..., not alias/aws/...)")


def _validate_addons(cfg: Config) -> None:
    file = cfg.path
    names = [a.name for a in cfg.eks.addons]
    for i, addon in enumerate(cfg.eks.addons):
        key = f"eks.addons[{i}]"
        if names.count(addon.name) > 1:
            raise _fail(file, f"{key}.name", f"add-on {addon.name!r} is listed twice")
        if addon.service_account:
            _role_name_fits(cfg, f"{key}.name", addon.name)
        if addon.service_account:
            ns, _, sa = addon.service_account.partition(":")
            if not sa or K8S_NAME(ns) or K8S_NAME(sa):
                raise _fail(file, f"{key}.service_account", f"{addon.service_account!r} is not 'namespace:name'")
        if bool(addon.service_account) != bool(addon.policy_arns):
            raise _fail(file, key, "give service_account and policy_arns together (or neither)")
        for j, arn in enumerate(addon.policy_arns):
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]+", arn):
                raise _fail(file, f"{key}.policy_arns[{j}]", f"{arn!r} is not an IAM policy ARN")
