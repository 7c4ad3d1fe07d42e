"""The lines of the estimate: what the configured environment uses in a
month, each with the price it needs and where its quantity comes from.

Quantities come from the config only (the environment as configured, built or
not): sizes and counts from the stages' sections, traffic and volumes from
[sla] and [cost]. Each line names the stage resources it prices (change kind
and count, as the stages' plans call them); FREE names the kinds that cost
nothing themselves, with the reason. tests/test_cost_report.py plans every
stage and checks that each kind the stages create is in one or the other,
with the same count.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import Config
from ...engine import Context
from ...resources.eks.common import Names as EksNames
from ...resources.monitoring.alarms import specs as alarm_specs
from ...resources.monitoring.common import MonitoringNames

GB = 1024 ** 3
KB_PER_GB = 1024 ** 2


@dataclass(frozen=True)
class Line:
    group: str  # compute, network, data, edge, observability, security
    item: str
    price_key: str
    quantity: float
    unit: str
    source: str
    resources: tuple[tuple[str, int], ...] = ()  # (change kind, count) this line prices
    name: str = ""  # the one resource the line belongs to, when it is one resource's (a node group)
    # Off the price: Spot node groups, at [cost].spot_discount_percent (Spot
    # prices are not in the Price List API).
    discount_percent: float = 0.0


# Kinds the stages create that cost nothing by themselves, and why.
FREE = {
    "vpc": "VPCs are free", "subnet": "subnets are free", "route-table": "route tables are free",
    "internet-gateway": "internet gateways are free (data transfer out is priced as traffic)",
    "security-group": "security groups are free",
    "vpc-endpoint": "gateway endpoints (DynamoDB, S3) are free",
    "iam-role": "IAM is free", "oidc-provider": "IAM is free",
    "launch-template": "launch templates are free; the root volumes they define are priced on each node group's lines",
    "eks-addon": "EKS add-ons are free; their pods run on the priced nodes. Container Insights metrics the CloudWatch "
                 "add-on publishes are NOT estimated here (billed per observation)",
    "db-subnet-group": "DB subnet groups are free", "db-cluster-parameter-group": "parameter groups are free",
    "target-group": "included in the NLB's hours and capacity units", "listener": "included in the NLB's price",
    "vpc-link": "REST API VPC links are free; the NLB behind them is priced",
    "api-resource": "API Gateway bills requests, not resources", "api-method": "API Gateway bills requests, not methods",
    "api-key": "API keys are free", "usage-plan": "usage plans are free", "apigateway-account": "an account setting",
    "domain-name": "regional custom domain names are free", "base-path-mapping": "free",
    "certificate": "ACM public certificates are free",
    "web-acl-association": "included in the web ACL's price",
    "sns-topic": "topics are free; alarm notifications (hundreds of publishes a month at $0.50 per million) cost under a cent",
    "default-security-group": "the VPC's default security group is free (its rules are only revoked)",
    "rds-event-subscription": "RDS event notifications are free; their SNS publishes are a few a month",
}
# Kinds in the stages' plans that are not resources at all.
NOT_RESOURCES = {"db-instance-ready": "the wait for the Aurora instances, not a resource"}


def average_rps(cfg: Config) -> float:
    """The month's average load: [sla].peak_rps at [cost].average_load_percent_of_peak."""
    return cfg.sla.peak_rps * cfg.cost.average_load_percent_of_peak / 100


def monthly_requests(cfg: Config) -> float:
    """API requests a month: the average load, all month."""
    return average_rps(cfg) * 3600 * cfg.cost.hours_per_month


def build_lines(ctx: Context) -> list[Line]:
    cfg = ctx.cfg
    return [*compute_lines(cfg), *network_lines(cfg), *aurora_lines(cfg), *dynamodb_lines(cfg), *edge_lines(cfg),
            *observability_lines(ctx), *security_lines(cfg)]


def load_source(cfg: Config) -> str:
    return (f"[sla].peak_rps {cfg.sla.peak_rps} x [cost].average_load_percent_of_peak {cfg.cost.average_load_percent_of_peak:g}% "
            f"x {cfg.cost.hours_per_month:g} h = {monthly_requests(cfg):,.0f} requests")


def compute_lines(cfg: Config) -> list[Line]:
    hours, ng = cfg.cost.hours_per_month, cfg.eks.nodegroups
    names = EksNames(cfg)
    out = [Line("compute", f"EKS control plane {cfg.project.cluster_name}", "eks:cluster", hours, "cluster-hours",
                "[project].cluster_name: one cluster, all month", (("eks-cluster", 1),))]
    instance = ng.instance_types[0]
    spot = ng.capacity_type == "SPOT"
    discount = cfg.cost.spot_discount_percent if spot else 0.0
    capacity = f"spot (on-demand less [cost].spot_discount_percent {discount:g}%, an assumption)" if spot else "on-demand"
    for zone in cfg.network.zones:
        name = names.nodegroup(zone)
        sizes = f"desired {ng.desired_size} (min {ng.min_size}, max {ng.max_size})"
        out.append(Line("compute", f"node group {name}: {ng.desired_size} x {instance} {capacity}", f"ec2:{instance}",
                        ng.desired_size * hours, "instance-hours",
                        f"[eks.nodegroups] {sizes} x {hours:g} h; the first of instance_types", (("nodegroup", 1),), name, discount))
        out.append(Line("compute", f"node group {name}: root volumes {ng.desired_size} x {ng.disk_size_gib} GiB gp3", "ebs:gp3",
                        ng.desired_size * ng.disk_size_gib, "GB-months", "[eks.nodegroups] desired_size x disk_size_gib "
                        "(the launch template's gp3 root volume)", (), name))
    return out


def network_lines(cfg: Config) -> list[Line]:
    hours, n = cfg.cost.hours_per_month, len(cfg.network.nat_zones)
    per_az = cfg.network.nat_gateways == "per-az"
    return [
        Line("network", f"NAT gateways: {n}, {'one per AZ' if per_az else 'one for every AZ'}", "nat:hours", n * hours, "gateway-hours",
             f"[network].nat_gateways {cfg.network.nat_gateways}: {n} x {hours:g} h", (("nat-gateway", n),)),
        Line("network", "NAT gateways: data processed", "nat:gb", cfg.cost.nat_processed_gb_per_month, "GB",
             "[cost].nat_processed_gb_per_month (ours)"),
        Line("network", f"NAT gateways' Elastic IPs: {n} public IPv4", "ipv4:hours", n * hours, "address-hours",
             f"one Elastic IP per NAT gateway x {hours:g} h", (("elastic-ip", n),)),
    ]


def aurora_lines(cfg: Config) -> list[Line]:
    c, a, hours = cfg.cost, cfg.aurora, cfg.cost.hours_per_month
    storage = c.aurora_storage_start_gb + c.aurora_growth_gb_per_month * c.horizon_months
    # Aurora's backup storage is free up to the cluster's size; beyond it, the
    # retained daily changes: storage x daily change x retention days.
    backup = storage * c.aurora_daily_change_percent / 100 * a.backup_retention_days
    out = [Line("data", f"Aurora {i.identifier} ({a.instance_class}, {i.az})", f"rds:{a.instance_class}", hours, "instance-hours",
                f"[aurora].instances, instance_class x {hours:g} h", (("db-instance", 1),), i.identifier) for i in a.instances]
    out += [
        Line("data", f"Aurora storage at month {c.horizon_months}", "aurora:storage", storage, "GB-months",
             f"[cost].aurora_storage_start_gb {c.aurora_storage_start_gb:g} + growth {c.aurora_growth_gb_per_month:g} GB/month "
             f"(design doc: Storage Growth) x {c.horizon_months} months", (("db-cluster", 1),)),
        Line("data", "Aurora I/O", "aurora:io", monthly_requests(cfg) * c.aurora_ios_per_request, "I/Os",
             f"{load_source(cfg)} x [cost].aurora_ios_per_request {c.aurora_ios_per_request:g}"),
        Line("data", f"Aurora backups beyond the free amount ({a.backup_retention_days} days)", "aurora:backup", backup, "GB-months",
             f"storage {storage:g} GB x [cost].aurora_daily_change_percent {c.aurora_daily_change_percent:g}% x "
             f"[aurora].backup_retention_days {a.backup_retention_days}"),
    ]
    return out


def dynamodb_lines(cfg: Config) -> list[Line]:
    c, n = cfg.cost, len(cfg.dynamodb.tables)
    requests = monthly_requests(cfg)
    out = [
        Line("data", f"DynamoDB reads, {n} on-demand tables", "ddb:rru", requests * c.dynamodb_read_units_per_request, "read request units",
             f"{load_source(cfg)} x [cost].dynamodb_read_units_per_request {c.dynamodb_read_units_per_request:g}", (("dynamodb-table", n),)),
        Line("data", "DynamoDB writes", "ddb:wru", requests * c.dynamodb_write_units_per_request, "write request units",
             f"{load_source(cfg)} x [cost].dynamodb_write_units_per_request {c.dynamodb_write_units_per_request:g}"),
        Line("data", "DynamoDB storage", "ddb:storage", c.dynamodb_storage_gb, "GB-months", "[cost].dynamodb_storage_gb (ours)"),
    ]
    if cfg.dynamodb.point_in_time_recovery:
        out.append(Line("data", "DynamoDB point-in-time recovery", "ddb:pitr", c.dynamodb_storage_gb, "GB-months",
                        "[dynamodb].point_in_time_recovery: billed on the tables' size, [cost].dynamodb_storage_gb"))
    return out


def edge_lines(cfg: Config) -> list[Line]:
    c, e, hours, n = cfg.cost, cfg.edge, cfg.cost.hours_per_month, len(cfg.network.zones)
    requests = monthly_requests(cfg)
    out_gb = requests * c.response_kb / KB_PER_GB
    both_gb = requests * (c.response_kb + c.request_kb) / KB_PER_GB
    # An NLB capacity unit (TCP) is 1 GB processed an hour, 800 new flows/s or
    # 100,000 active flows; API Gateway's VPC link keeps its connections, so
    # bytes decide here. https://aws.amazon.com/elasticloadbalancing/pricing/
    lcu_hours = both_gb  # (GB / hours) LCUs all month long: one LCU-hour per GB
    rules = 1 + len(e.waf.managed_rule_groups)
    out = [
        Line("edge", f"API Gateway {e.api.name} requests", "apigw:requests", requests, "requests", load_source(cfg), (("rest-api", 1),)),
        Line("edge", "data transfer out to the internet (responses)", "dt:out", out_gb, "GB",
             f"{load_source(cfg)} x [cost].response_kb {c.response_kb:g}"),
        Line("edge", f"NLB {e.nlb_name}", "nlb:hours", hours, "load-balancer-hours", f"one NLB x {hours:g} h", (("load-balancer", 1),)),
        Line("edge", "NLB capacity units (bytes processed)", "nlb:lcu", lcu_hours, "LCU-hours",
             f"{load_source(cfg)} x ([cost].request_kb + response_kb): {both_gb / hours:,.2f} GB an hour = as many LCUs"),
        Line("edge", f"WAF web ACL {e.waf.name}", "waf:acl", 1, "web ACLs", "[edge.waf]: one web ACL", (("web-acl", 1),)),
        Line("edge", f"WAF rules: {rules}", "waf:rule", rules, "rules", "[edge.waf]: the per-IP rate rule + managed_rule_groups"),
        Line("edge", "WAF requests inspected", "waf:requests", requests, "requests", load_source(cfg)),
    ]
    if e.nlb_scheme == "internet-facing":
        out.append(Line("edge", f"NLB public IPv4: {n}, one per AZ", "ipv4:hours", n * hours, "address-hours",
                        f"[edge].nlb_scheme internet-facing: one address per AZ x {hours:g} h"))
    if e.nlb_cross_zone:
        cross = both_gb * (n - 1) / n
        out.append(Line("edge", "NLB cross-zone traffic", "dt:inter-az", 2 * cross, "GB",
                        f"[edge].nlb_cross_zone: {n - 1} of {n} requests cross an AZ, billed leaving one AZ and entering the other"))
    return out


def observability_lines(ctx: Context) -> list[Line]:
    cfg = ctx.cfg
    c, requests = cfg.cost, monthly_requests(cfg)
    specs = alarm_specs(ctx, MonitoringNames(cfg))
    # Alarms are billed per metric they read: a metric-math alarm per metric in
    # its expression. The pod-restarts alarm is a Metrics Insights query:
    # billed per metric it analyses, one per pod, at most hpa_max_replicas.
    metrics = sum(_alarm_metrics(s.metric, c.hpa_max_replicas) for s in specs)
    execution = {"INFO": c.execution_log_bytes_per_request, "ERROR": c.execution_log_bytes_per_request * cfg.sla.error_rate_percent / 100,
                 "OFF": 0.0}[cfg.edge.api.execution_log_level]
    logs = [
        ("VPC flow logs", "cw:vended-ingest", c.flow_log_gb_per_month, "[cost].flow_log_gb_per_month", (("log-group", 1), ("flow-log", 1))),
        ("EKS control-plane logs", "cw:logs-ingest", c.eks_control_plane_log_gb_per_month, "[cost].eks_control_plane_log_gb_per_month",
         (("log-group", 1),)),
        ("Aurora PostgreSQL log", "cw:logs-ingest", c.aurora_log_gb_per_month, "[cost].aurora_log_gb_per_month", (("log-group", 1),)),
        ("API Gateway access log", "cw:logs-ingest", requests * c.access_log_bytes_per_request / GB,
         f"{load_source(cfg)} x [cost].access_log_bytes_per_request {c.access_log_bytes_per_request:g}", (("log-group", 1),)),
        (f"API Gateway execution log ({cfg.edge.api.execution_log_level})", "cw:logs-ingest", requests * execution / GB,
         f"{load_source(cfg)} x {execution:g} bytes ([cost].execution_log_bytes_per_request, at [edge.api].execution_log_level)",
         (("log-group", 1),)),
        # WAF logs are vended logs (priced as flow logs are): every request, issue 17 item 4.
        ("WAF log", "cw:vended-ingest", requests * c.waf_log_bytes_per_request / GB,
         f"{load_source(cfg)} x [cost].waf_log_bytes_per_request {c.waf_log_bytes_per_request:g}", (("log-group", 1), ("waf-logging", 1))),
    ]
    out = [Line("observability", f"{what}: ingestion", key, gb, "GB", source, kinds) for what, key, gb, source, kinds in logs]
    stored = sum(gb for _, _, gb, _, _ in logs) * cfg.logging.retention_days / 30 * c.log_stored_compression_ratio
    out += [
        Line("observability", f"CloudWatch Logs storage ({cfg.logging.retention_days} days kept)", "cw:logs-stored", stored, "GB-months",
             f"ingested GB x [logging].retention_days / 30 x [cost].log_stored_compression_ratio {c.log_stored_compression_ratio:g}"),
        Line("observability", f"CloudWatch alarms: {len(specs)} reading {metrics} metrics", "cw:alarm-metric", metrics, "alarm metrics",
             "the monitoring stage's alarms, one per metric read", (("alarm", len(specs)),)),
        Line("observability", f"CloudWatch dashboard {cfg.monitoring.dashboard_name}", "cw:dashboard", 1, "dashboards",
             "[monitoring].dashboard_name", (("dashboard", 1),)),
        Line("observability", "custom metric: Aurora connection failures", "cw:custom-metric", 1, "metrics",
             "the monitoring stage's metric filter publishes one metric", (("metric-filter", 1),)),
    ]
    if cfg.edge.api.tracing_enabled:
        traces = (1 + c.xray_sampled_percent / 100 * max(average_rps(cfg) - 1, 0)) * 3600 * c.hours_per_month
        out.append(Line("observability", "X-Ray traces recorded", "xray:traces", traces, "traces",
                        f"[edge.api].tracing_enabled: 1 request/s + [cost].xray_sampled_percent {c.xray_sampled_percent:g}% of the rest "
                        f"at {average_rps(cfg):g} requests/s", (("api-stage", 1),)))
    return out


def _alarm_metrics(metric: dict, pods: int) -> int:
    queries = metric.get("Metrics")
    if not queries:
        return 1
    stats = sum(1 for q in queries if "MetricStat" in q)
    insights = sum(1 for q in queries if "SELECT" in q.get("Expression", ""))
    return stats + insights * pods


def security_lines(cfg: Config) -> list[Line]:
    c = cfg.cost
    keys = [("EKS secrets", 1), ("Aurora", 1), ("DynamoDB", 1 + len(cfg.dynamodb.replica_regions)), ("SNS alarm topics", 1),
            ("CloudWatch Logs", 1)]
    n = sum(k for _, k in keys)
    return [
        Line("security", f"KMS customer managed keys: {n} ({', '.join(w for w, _ in keys)})", "kms:key", n, "keys",
             "one key each for EKS secrets, Aurora, DynamoDB (and each replica region), the alarm topics, the log groups",
             (("kms-key", n),)),
        Line("security", "KMS requests", "kms:requests", c.kms_requests_per_month, "requests", "[cost].kms_requests_per_month (ours)"),
        Line("security", "Secrets Manager: the Aurora master user secret", "secrets:secret", 1, "secrets",
             "[aurora]: RDS manages the master password in Secrets Manager (ManageMasterUserPassword)"),
    ]
