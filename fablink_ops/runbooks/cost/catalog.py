"""Which price each line needs: one pricing:GetProducts query per price key.

Filters are TERM_MATCH on product attributes, the usage type (region prefix
included) first: it names one billing dimension, and the other filters pick
the product among those sharing it (the operating system of an instance, the
load balancer type). The expected unit is checked against the answer's.
"""

from __future__ import annotations

from ...config import Config
from .pricing import Query, usage_prefix

# Graviton (arm64) twins of the x86 families the config may name: same vCPU
# and memory per size. https://aws.amazon.com/ec2/graviton/ ; RDS: db.r6g.
GRAVITON = {"m5": "m6g", "m6i": "m7g", "c5": "c6g", "c6i": "c7g", "r5": "r6g", "r6i": "r7g", "t3": "t4g",
            "db.r5": "db.r6g", "db.r6i": "db.r7g", "db.t3": "db.t4g"}
# The ARM AMI type for each x86 one; GPU/Neuron AMI types have none.
ARM_AMI = {"AL2023_x86_64_STANDARD": "AL2023_ARM_64_STANDARD", "AL2_x86_64": "AL2_ARM_64",
           "BOTTLEROCKET_x86_64": "BOTTLEROCKET_ARM_64"}


def graviton_twin(instance_type: str) -> str | None:
    family, _, size = instance_type.rpartition(".")
    twin = GRAVITON.get(family)
    return f"{twin}.{size}" if twin else None


def node_types(cfg: Config) -> list[str]:
    """Every EC2 type the report prices: the node groups' and their Graviton twins."""
    out = list(cfg.eks.nodegroups.instance_types)
    if cfg.eks.nodegroups.ami_type in ARM_AMI:
        out += [t for t in map(graviton_twin, cfg.eks.nodegroups.instance_types) if t and t not in out]
    return out


def db_classes(cfg: Config) -> list[str]:
    classes = [cfg.aurora.instance_class]
    twin = graviton_twin(cfg.aurora.instance_class)
    return classes + ([twin] if twin else [])


def queries(cfg: Config) -> dict[str, Query]:
    """Every price the report may use, by key."""
    region = cfg.project.region
    p = usage_prefix(region)

    def q(key: str, service: str, usagetype: str, unit: str, what: str, *extra: tuple[str, str], checked: bool = True) -> Query:
        return Query(key, service, (("regionCode", region), ("usagetype", p + usagetype), *extra), unit, what, checked)

    def dt(key: str, usagetype: str, what: str) -> Query:
        # AWSDataTransfer products are catalogued without a regionCode: the
        # usage type's prefix names the source region.
        return Query(key, "AWSDataTransfer", (("usagetype", p + usagetype),), "GB", what)

    out = [
        # The EKS unit's spelling (Hrs or Hours) could not be confirmed: not checked.
        q("eks:cluster", "AmazonEKS", "AmazonEKS-Hours:perCluster", "Hrs", "EKS cluster (standard support)", checked=False),
        q("ebs:gp3", "AmazonEC2", "EBS:VolumeUsage.gp3", "GB-Mo", "EBS gp3 storage"),
        q("nat:hours", "AmazonEC2", "NatGateway-Hours", "Hrs", "NAT gateway hours"),
        q("nat:gb", "AmazonEC2", "NatGateway-Bytes", "GB", "NAT gateway data processed"),
        q("ipv4:hours", "AmazonVPC", "PublicIPv4:InUseAddress", "Hrs", "public IPv4 address in use"),
        dt("dt:out", "DataTransfer-Out-Bytes", "data transfer out to the internet"),
        dt("dt:inter-az", "DataTransfer-Regional-Bytes", "data transfer between AZs"),
        q("aurora:storage", "AmazonRDS", "Aurora:StorageUsage", "GB-Mo", "Aurora storage (Standard)"),
        q("aurora:io", "AmazonRDS", "Aurora:StorageIOUsage", "IOs", "Aurora I/O (Standard)"),
        q("aurora:backup", "AmazonRDS", "Aurora:BackupUsage", "GB-Mo", "Aurora backup storage beyond the free amount"),
        q("ddb:wru", "AmazonDynamoDB", "WriteRequestUnits", "WriteRequestUnits", "DynamoDB on-demand write request units"),
        q("ddb:rru", "AmazonDynamoDB", "ReadRequestUnits", "ReadRequestUnits", "DynamoDB on-demand read request units"),
        q("ddb:storage", "AmazonDynamoDB", "TimedStorage-ByteHrs", "GB-Mo", "DynamoDB table storage"),
        q("ddb:pitr", "AmazonDynamoDB", "TimedPITRStorage-ByteHrs", "GB-Mo", "DynamoDB continuous backups (PITR)"),
        q("nlb:hours", "AWSELB", "LoadBalancerUsage", "Hrs", "Network Load Balancer hours", ("productFamily", "Load Balancer-Network")),
        q("nlb:lcu", "AWSELB", "LCUUsage", "LCU-Hrs", "Network Load Balancer capacity units", ("productFamily", "Load Balancer-Network")),
        q("apigw:requests", "AmazonApiGateway", "ApiGatewayRequest", "Requests", "API Gateway REST API requests"),
        # WAF's unit spellings could not be confirmed (checked=False): RequestV2-Tier1 is
        # the standard inspection tier (up to 1,500 WCUs), priced per request.
        q("waf:acl", "awswaf", "WebACLV2", "Month", "AWS WAF web ACL", checked=False),
        q("waf:rule", "awswaf", "RuleV2", "Month", "AWS WAF rule", checked=False),
        q("waf:requests", "awswaf", "RequestV2-Tier1", "Requests", "AWS WAF requests inspected", checked=False),
        q("cw:logs-ingest", "AmazonCloudWatch", "DataProcessing-Bytes", "GB", "CloudWatch Logs ingestion (Standard)"),
        q("cw:vended-ingest", "AmazonCloudWatch", "VendedLog-Bytes", "GB", "CloudWatch vended logs ingestion (VPC flow logs)"),
        q("cw:logs-stored", "AmazonCloudWatch", "TimedStorage-ByteHrs", "GB-Mo", "CloudWatch Logs storage (archived, compressed)"),
        q("cw:alarm-metric", "AmazonCloudWatch", "CW:AlarmMonitorUsage", "Alarms", "CloudWatch alarm metric (standard resolution)"),
        # Dashboards are priced account-wide: no region, no prefix (location "Any").
        Query("cw:dashboard", "AmazonCloudWatch", (("usagetype", "DashboardsUsageHour"),), "Dashboards", "CloudWatch dashboard"),
        q("cw:custom-metric", "AmazonCloudWatch", "CW:MetricMonitorUsage", "Metrics", "CloudWatch custom metric"),
        q("kms:key", "awskms", "KMS-Keys", "Keys", "KMS customer managed key"),
        q("kms:requests", "awskms", "KMS-Requests", "Requests", "KMS requests"),
        q("secrets:secret", "AWSSecretsManager", "AWSSecretsManager-Secrets", "Secrets", "Secrets Manager secret"),
        q("xray:traces", "AWSXRay", "XRay-TracesStored", "traces", "X-Ray traces recorded"),
    ]
    for t in node_types(cfg):
        out.append(q(f"ec2:{t}", "AmazonEC2", f"BoxUsage:{t}", "Hrs", f"EC2 {t} Linux on-demand",
                     ("operatingSystem", "Linux"), ("preInstalledSw", "NA"), ("capacitystatus", "Used")))
    for c in db_classes(cfg):
        out.append(q(f"rds:{c}", "AmazonRDS", f"InstanceUsage:{c}", "Hrs", f"Aurora PostgreSQL {c}",
                     ("databaseEngine", "Aurora PostgreSQL")))
    return {x.key: x for x in out}
