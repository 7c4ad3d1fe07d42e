"""Logging and audit: EKS control-plane logs, VPC flow logs, API access logs,
log retention, log encryption, WAF logging.

Design doc: EKS Cluster Logging ("Control Plane Logs: All types enabled",
"Audit Logs: Enabled"); VPC Security ("VPC Flow Logs enabled"); API Gateway
("Request/Response logging"); Logging ("Retention: 90 days").
"""

from __future__ import annotations

import json
from typing import Iterator

from ..models import LOW, MEDIUM, Inventory
from .base import Check, Hit, Settings

# https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ALL_TYPES = json.dumps({"clusterLogging": [{"types": list(EKS_LOG_TYPES), "enabled": True}]}, separators=(",", ":"))


def eks_control_plane_logging(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.clusters:
        missing = [t for t in EKS_LOG_TYPES if t not in c.logging]
        if missing:
            yield (c.arn, f"EKS cluster {c.name} does not log {', '.join(missing)} (control plane)",
                   f"aws eks update-cluster-config --name {c.name} --logging '{ALL_TYPES}'")


def vpc_flow_logs(inv: Inventory, s: Settings) -> Iterator[Hit]:
    # A VPC with no network interface carries no traffic: nothing to log.
    # (Every account has a default VPC per region; unused, it is not a finding.)
    for v in inv.vpcs:
        if v.in_use and not v.flow_logs:
            yield (v.arn, f"{'default ' if v.is_default else ''}VPC {v.id} carries traffic but has no active flow log",
                   f"aws ec2 create-flow-logs --resource-type VPC --resource-ids {v.id} --traffic-type ALL "
                   "--log-destination-type cloud-watch-logs --log-group-name <group> --deliver-logs-permission-arn <role>")


def api_access_logs(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for st in inv.api_stages:
        if not st.access_log_destination:
            yield (st.arn, f"stage {st.stage} of API {st.api} writes no access logs",
                   "set the stage's access log destination (a CloudWatch log group) and format")


def log_retention(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for g in inv.log_groups:
        if g.retention_days is not None and g.retention_days < s.log_retention_days:
            yield (g.arn, f"log group {g.name} keeps logs {g.retention_days} days (at least {s.log_retention_days})",
                   f"aws logs put-retention-policy --log-group-name {g.name} --retention-in-days {s.log_retention_days} --region {g.region}")


def log_group_encryption(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """Prowler cloudwatch_log_group_kms_encryption_enabled. Risk: logs hold
    request paths, client addresses, SQL and audit trails; without a customer
    managed key, reading them needs only logs:GetLogEvents, and the key's
    policy cannot narrow or revoke who decrypts them."""
    for g in inv.log_groups:
        if not g.kms_key_id:
            yield (g.arn, f"log group {g.name} is not encrypted with a customer managed KMS key",
                   f"aws logs associate-kms-key --log-group-name {g.name} --kms-key-id <key ARN> --region {g.region} "
                   "(its key policy must admit logs.<region>.amazonaws.com for this group; fablink-ops' groups use [logging] kms_key_alias)")


# The headers that carry a client's credentials to the API (design doc: "API
# key authentication"); a WAF log keeps every header it is not told to redact.
SENSITIVE_HEADERS = ("authorization", "x-api-key")


def waf_logging(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """Prowler wafv2_webacl_logging_enabled, plus the redaction. Risk: without
    a log, a blocked attack or a rate-limited client leaves no trace; with
    one that keeps credentials, whoever reads the logs can call the API."""
    for a in inv.web_acls:
        if not a.logging:
            yield (a.arn, f"web ACL {a.name} logs no requests",
                   f"aws wafv2 put-logging-configuration --logging-configuration ResourceArn={a.arn},LogDestinationConfigs=<aws-waf-logs-... group ARN>")
            continue
        exposed = [h for h in SENSITIVE_HEADERS if h not in a.redacted_headers]
        if exposed:
            yield (a.arn, f"web ACL {a.name} logs the {', '.join(exposed)} header(s) in clear",
                   "add them to the logging configuration's RedactedFields (SingleHeader)")


CHECKS = (
    Check("eks.control_plane_logging", MEDIUM, "EKS control-plane log types missing", eks_control_plane_logging),
    Check("ec2.vpc_flow_logs", MEDIUM, "VPCs in use without flow logs", vpc_flow_logs),
    Check("apigateway.access_logs", MEDIUM, "API stages without access logs", api_access_logs),
    Check("logs.retention", LOW, "log groups kept shorter than config", log_retention),
    Check("logs.kms_encryption", MEDIUM, "log groups without a customer managed key", log_group_encryption),
    Check("wafv2.logging", MEDIUM, "web ACLs not logging, or logging credentials", waf_logging),
)
