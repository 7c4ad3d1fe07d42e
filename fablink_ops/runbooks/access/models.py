"""The small models the collectors fill and the checks read.

Each is the few fields a check needs, taken from one AWS answer (prowler's
service models): checks never call AWS, so each one is a plain function of an
``Inventory``, and tests can build one by hand as well as through moto.
"""

from __future__ import annotations

import fnmatch

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CRITICAL, HIGH, MEDIUM, LOW = "critical", "high", "medium", "low"
SEVERITIES = (CRITICAL, HIGH, MEDIUM, LOW)  # most severe first


def at_or_above(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) <= SEVERITIES.index(threshold)


# --------------------------------------------------------------------------
# IAM


@dataclass(frozen=True)
class Policy:
    """One policy as a principal holds it: inline (arn "") or managed."""

    name: str
    arn: str
    document: Any  # the parsed JSON document (dict), or None when it could not be read


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" | "group" | "role"
    name: str
    arn: str
    path: str = "/"
    policies: tuple[Policy, ...] = ()
    groups: tuple[str, ...] = ()  # users: the groups they belong to
    trust: Any = None  # roles: the trust policy document

    @property
    def service_linked(self) -> bool:
        """Service-linked roles are AWS's: only the service assumes them, nobody can edit them."""
        return self.kind == "role" and self.path.startswith("/aws-service-role/")


@dataclass(frozen=True)
class CredentialRow:
    """One line of the IAM credential report."""

    user: str
    arn: str
    created: datetime | None
    password_enabled: bool
    password_last_used: datetime | None
    password_last_changed: datetime | None
    mfa_active: bool
    keys_active: tuple[bool, bool]
    keys_last_used: tuple[datetime | None, datetime | None]

    @property
    def is_root(self) -> bool:
        return self.user == "<root_account>"


@dataclass(frozen=True)
class AccessKey:
    user: str
    user_arn: str
    key_id: str
    active: bool
    created: datetime
    last_used: datetime | None


@dataclass
class IamState:
    collected: bool = False  # False: the IAM collector did not finish (nothing below is known)
    principals: list[Principal] = field(default_factory=list)
    credentials: list[CredentialRow] = field(default_factory=list)  # users; the root row is ``root``
    root: CredentialRow | None = None
    keys: list[AccessKey] = field(default_factory=list)
    password_policy: dict | None = None  # None: the account has none (AWS's default applies)
    report_generated: datetime | None = None

    def users(self) -> list[Principal]:
        return [p for p in self.principals if p.kind == "user"]


# --------------------------------------------------------------------------
# network


@dataclass(frozen=True)
class Permission:
    """One ingress permission of a security group (one IpPermissions entry)."""

    protocol: str  # "-1" (all), "tcp", "udp", "icmp", "icmpv6" or a number
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...] = ()  # IPv4 and IPv6 sources

    def covers(self, port: int) -> bool:
        if self.protocol == "-1":
            return True
        if self.protocol not in ("tcp", "6", "udp", "17"):
            return False
        low = 0 if self.from_port in (None, -1) else self.from_port
        high = 65535 if self.to_port in (None, -1) else self.to_port
        return low <= port <= high

    def ports(self) -> str:
        if self.protocol == "-1":
            return "all traffic"
        if self.protocol not in ("tcp", "6", "udp", "17"):
            return f"protocol {self.protocol}"
        name = {"6": "tcp", "17": "udp"}.get(self.protocol, self.protocol)
        if self.from_port in (None, -1) or (self.from_port == 0 and self.to_port == 65535):
            return f"{name} all ports"
        if self.from_port == self.to_port:
            return f"{name} {self.from_port}"
        return f"{name} {self.from_port}-{self.to_port}"


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    arn: str
    name: str
    vpc_id: str
    region: str
    ingress: tuple[Permission, ...] = ()
    egress_rules: int = 0  # IpPermissionsEgress entries

    @property
    def is_default(self) -> bool:
        return self.name == "default"  # AWS's group of every VPC; no other group may take the name


@dataclass(frozen=True)
class Vpc:
    id: str
    arn: str
    region: str
    cidrs: tuple[str, ...]  # IPv4 and IPv6 blocks associated with the VPC
    is_default: bool
    in_use: bool  # at least one network interface lives in it
    flow_logs: tuple[str, ...]  # ids of the ACTIVE flow logs on the VPC itself


@dataclass(frozen=True)
class Endpoint:
    """A gateway VPC endpoint (S3, DynamoDB) and its policy document (JSON text)."""

    id: str
    arn: str
    region: str
    vpc_id: str
    service: str
    policy: str


@dataclass(frozen=True)
class EksCluster:
    name: str
    arn: str
    region: str
    public_endpoint: bool
    public_cidrs: tuple[str, ...]
    logging: frozenset[str]  # the control-plane log types enabled


@dataclass(frozen=True)
class LoadBalancer:
    name: str
    arn: str
    region: str
    type: str  # application | network | gateway
    scheme: str  # internet-facing | internal
    vpc_id: str = ""
    security_groups: tuple[str, ...] = ()  # group ids; an NLB made without any can never have one


@dataclass(frozen=True)
class VpcLink:
    """An API Gateway (REST) VPC link and the NLBs it targets."""

    id: str
    name: str
    region: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ApiStage:
    arn: str
    api: str  # the API's name
    stage: str
    region: str
    access_log_destination: str  # "" when access logging is off


# --------------------------------------------------------------------------
# data


@dataclass(frozen=True)
class DbCluster:
    id: str
    arn: str
    region: str
    engine: str
    encrypted: bool
    iam_auth: bool
    deletion_protection: bool
    backup_retention_days: int


@dataclass(frozen=True)
class RdsEventSubscription:
    name: str
    region: str
    source_type: str  # "" : every source type
    source_ids: tuple[str, ...]  # (): every source of the type
    categories: tuple[str, ...]  # (): every category
    enabled: bool

    def covers(self, source_type: str, source_id: str, categories: tuple[str, ...]) -> bool:
        return (self.enabled and self.source_type in ("", source_type) and (not self.source_ids or source_id in self.source_ids)
                and (not self.categories or set(categories) <= set(self.categories)))


@dataclass(frozen=True)
class BackupSelection:
    """One selection of an AWS Backup plan: the ARNs (or ARN patterns with *)
    it covers, those it leaves out, and whether it also selects by tag."""

    plan: str
    name: str
    region: str
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    by_tag: bool

    def covers(self, arn: str) -> bool:
        excluded = any(fnmatch.fnmatchcase(arn, p) for p in self.not_resources)
        return not excluded and any(fnmatch.fnmatchcase(arn, p) for p in self.resources)


@dataclass(frozen=True)
class Table:
    name: str
    arn: str
    region: str
    pitr: bool
    deletion_protection: bool
    kms_key_arn: str  # "" when encrypted with the AWS owned key


@dataclass(frozen=True)
class KmsKey:
    id: str
    arn: str
    region: str
    manager: str  # CUSTOMER | AWS
    spec: str  # SYMMETRIC_DEFAULT, RSA_2048, HMAC_256, ...
    origin: str  # AWS_KMS | EXTERNAL | AWS_CLOUDHSM | EXTERNAL_KEY_STORE
    state: str  # Enabled, Disabled, PendingDeletion, ...
    rotation: bool | None  # None: not asked (rotation does not apply to this key)

    @property
    def rotatable(self) -> bool:
        """Automatic rotation exists for enabled symmetric customer keys with key material from KMS."""
        return self.manager == "CUSTOMER" and self.spec == "SYMMETRIC_DEFAULT" and self.origin == "AWS_KMS" and self.state == "Enabled"


@dataclass(frozen=True)
class Topic:
    arn: str
    region: str
    kms_key: str  # KmsMasterKeyId, "" when not encrypted


@dataclass(frozen=True)
class LogGroup:
    name: str
    arn: str
    region: str
    retention_days: int | None  # None: never expire
    kms_key_id: str = ""  # "": CloudWatch Logs' own encryption, no customer managed key


@dataclass(frozen=True)
class WebAcl:
    """A WAF web ACL and its logging configuration."""

    name: str
    arn: str
    region: str
    logging: bool  # a logging configuration exists
    log_destinations: tuple[str, ...] = ()
    redacted_headers: tuple[str, ...] = ()  # lowercase


@dataclass(frozen=True)
class AnalyzerFinding:
    """An active IAM Access Analyzer finding (live only: moto lacks Access Analyzer)."""

    id: str
    resource: str
    resource_type: str
    region: str
    finding_type: str


@dataclass(frozen=True)
class Analyzers:
    region: str
    active: tuple[str, ...]  # ARNs of the ACTIVE account analyzers


# --------------------------------------------------------------------------
# account audit controls


@dataclass(frozen=True)
class Trail:
    """A CloudTrail trail as one region lists it (shadow copies of
    multi-region trails included: the same ARN from every region)."""

    name: str
    arn: str
    home_region: str
    multi_region: bool
    log_file_validation: bool
    kms_key: str  # "" when the log files are encrypted with S3's own key only
    logging: bool  # GetTrailStatus IsLogging: a stopped trail records nothing


@dataclass(frozen=True)
class AuditServices:
    """The regional audit services, on or off in one region."""

    region: str
    guardduty: bool  # an ENABLED detector
    config_recording: bool  # a configuration recorder that is recording
    security_hub: bool


# --------------------------------------------------------------------------
# everything the review saw


@dataclass(frozen=True)
class Gap:
    """Something the review could not look at here. ``what`` is "root" or
    "<collector>@<region>"; checks that require it are not evaluated."""

    what: str
    why: str

    @property
    def area(self) -> str:
        return self.what.split("@", 1)[0]


@dataclass
class Inventory:
    account: str
    regions: tuple[str, ...]
    iam: IamState = field(default_factory=IamState)
    security_groups: list[SecurityGroup] = field(default_factory=list)
    vpcs: list[Vpc] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    clusters: list[EksCluster] = field(default_factory=list)
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    vpc_links: list[VpcLink] = field(default_factory=list)
    api_stages: list[ApiStage] = field(default_factory=list)
    db_clusters: list[DbCluster] = field(default_factory=list)
    rds_event_subscriptions: list[RdsEventSubscription] = field(default_factory=list)
    backup_selections: list[BackupSelection] = field(default_factory=list)
    backup_regions: list[str] = field(default_factory=list)  # where the selections were read (the coverage check judges these)
    tables: list[Table] = field(default_factory=list)
    keys: list[KmsKey] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    log_groups: list[LogGroup] = field(default_factory=list)
    web_acls: list[WebAcl] = field(default_factory=list)
    trails: list[Trail] = field(default_factory=list)
    audit_services: list[AuditServices] = field(default_factory=list)
    analyzers: list[Analyzers] = field(default_factory=list)
    analyzer_findings: list[AnalyzerFinding] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each kind of resource were reviewed (for the evidence)."""
        out = {f"iam {kind}s": sum(1 for p in self.iam.principals if p.kind == kind) for kind in ("user", "group", "role")}
        out["iam access keys"] = len(self.iam.keys)
        for name, label in (("security_groups", "security groups"), ("vpcs", "VPCs"), ("clusters", "EKS clusters"),
                            ("load_balancers", "load balancers"), ("vpc_links", "API Gateway VPC links"),
                            ("api_stages", "API stages"), ("db_clusters", "RDS/Aurora clusters"),
                            ("tables", "DynamoDB tables"), ("keys", "KMS keys"), ("topics", "SNS topics"),
                            ("log_groups", "log groups")):
            out[label] = len(getattr(self, name))
        return out
