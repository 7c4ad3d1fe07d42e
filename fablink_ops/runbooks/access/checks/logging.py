"""Logging and audit: EKS control-plane logs, VPC flow logs, API access logs,
log retention.

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


CHECKS = (
    Check("eks.control_plane_logging", MEDIUM, "EKS control-plane log types missing", eks_control_plane_logging),
    Check("ec2.vpc_flow_logs", MEDIUM, "VPCs in use without flow logs", vpc_flow_logs),
    Check("apigateway.access_logs", MEDIUM, "API stages without access logs", api_access_logs),
    Check("logs.retention", LOW, "log groups kept shorter than config", log_retention),
)
