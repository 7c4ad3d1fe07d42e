"""The SLO dashboard: the design doc's Performance targets against live metrics.

Availability against 99.9%, p95/p99 latency against 500 ms / 1 s, requests per
second against the 5,000 peak, error rate against 0.1% (all from [sla]), then
Aurora and DynamoDB health, the cluster's nodes, and the state of every alarm.
The body is generated deterministically, so an unchanged config means an
unchanged dashboard and no write.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ...engine import CREATE, Change, Context, Diff
from ...target import error_code
from .alarms import specs
from .common import Found, MonitoringNames, change, maybe_update

WIDTH, HEIGHT = 12, 6


def discover(ctx: Context, names: MonitoringNames, found: Found) -> None:
    try:
        body = ctx.client("cloudwatch").get_dashboard(DashboardName=names.dashboard)["DashboardBody"]
    except ClientError as exc:
        if error_code(exc) not in ("ResourceNotFound", "ResourceNotFoundException"):
            raise
        return
    try:
        found.dashboard = json.loads(body)
    except ValueError:
        found.dashboard = {"unreadable": body}


def _widget(title: str, metrics: list, x: int, y: int, annotations: list[dict] | None = None, stat: str = "Sum",
            period: int = 60, y_label: str = "", region: str = "") -> dict[str, Any]:
    props: dict[str, Any] = {"title": title, "view": "timeSeries", "region": region, "stat": stat, "period": period, "metrics": metrics}
    if annotations:
        props["annotations"] = {"horizontal": annotations}
    if y_label:
        props["yAxis"] = {"left": {"label": y_label, "showUnits": False}}
    return {"type": "metric", "x": x, "y": y, "width": WIDTH, "height": HEIGHT, "properties": props}


def body(ctx: Context, names: MonitoringNames) -> dict[str, Any]:
    cfg = ctx.cfg
    sla, mon, region = cfg.sla, cfg.monitoring, cfg.project.region
    api = ["ApiName", cfg.edge.api.name, "Stage", cfg.edge.api.stage_name]
    cluster = cfg.project.cluster_name
    hidden = {"visible": False}
    widgets = [
        _widget("Availability (%) vs SLA", [
            ["AWS/ApiGateway", "5XXError", *api, {"id": "errors", **hidden}],
            ["AWS/ApiGateway", "Count", *api, {"id": "requests", **hidden}],
            [{"expression": "IF(requests > 0, 100 - 100 * errors / requests, 100)", "label": "availability", "id": "availability"}],
        ], 0, 0, [{"label": f"SLA {sla.availability_percent:g}%", "value": sla.availability_percent}], region=region, y_label="%"),
        _widget("Latency p95 / p99 (ms) vs SLA", [
            ["AWS/ApiGateway", "Latency", *api, {"stat": "p95", "label": "p95"}],
            ["AWS/ApiGateway", "Latency", *api, {"stat": "p99", "label": "p99"}],
        ], WIDTH, 0, [{"label": f"p95 target {sla.p95_latency_ms} ms", "value": sla.p95_latency_ms},
                      {"label": f"p99 target {sla.p99_latency_ms} ms", "value": sla.p99_latency_ms}], stat="p95", region=region, y_label="ms"),
        _widget("Requests per second vs peak", [
            ["AWS/ApiGateway", "Count", *api, {"id": "count", **hidden}],
            [{"expression": "count / PERIOD(count)", "label": "requests/s", "id": "rps"}],
        ], 0, HEIGHT, [{"label": f"peak {sla.peak_rps:,} RPS", "value": sla.peak_rps}], region=region, y_label="req/s"),
        _widget("Error rate (%) vs SLA", [
            ["AWS/ApiGateway", "5XXError", *api, {"id": "errors", **hidden}],
            ["AWS/ApiGateway", "Count", *api, {"id": "requests", **hidden}],
            [{"expression": "IF(requests > 0, 100 * errors / requests, 0)", "label": "5XX rate", "id": "rate"}],
        ], WIDTH, HEIGHT, [{"label": f"SLA < {sla.error_rate_percent:g}%", "value": sla.error_rate_percent},
                           {"label": f"alarm > {mon.alarms.error_rate.threshold:g}%", "value": mon.alarms.error_rate.threshold}],
            region=region, y_label="%"),
        _widget(f"Aurora {mon.aurora_cluster}", [
            ["AWS/RDS", "DatabaseConnections", "DBClusterIdentifier", mon.aurora_cluster, "Role", "WRITER", {"stat": "Maximum", "label": "connections (writer)"}],
            ["AWS/RDS", "CPUUtilization", "DBClusterIdentifier", mon.aurora_cluster, "Role", "WRITER", {"stat": "Average", "label": "CPU % (writer)", "yAxis": "right"}],
            [mon.connection_failure_namespace, names.connection_metric, {"stat": "Sum", "label": "connection failures"}],
        ], 0, 2 * HEIGHT, [{"label": "connections alarm", "value": mon.alarms.db_connections.threshold}], stat="Maximum", region=region),
        _widget("DynamoDB throttle events", [
            ["AWS/DynamoDB", metric, "TableName", table, {"label": f"{table} {metric.removesuffix('ThrottleEvents').lower()}"}]
            for table in cfg.dynamodb_tables for metric in ("ReadThrottleEvents", "WriteThrottleEvents")
        ], WIDTH, 2 * HEIGHT, region=region),
        _widget(f"EKS {cluster} nodes (%)", [
            ["ContainerInsights", "node_cpu_utilization", "ClusterName", cluster, {"label": "CPU"}],
            ["ContainerInsights", "node_memory_utilization", "ClusterName", cluster, {"label": "memory"}],
        ], 0, 3 * HEIGHT, [{"label": f"CPU alarm {mon.alarms.cpu.threshold:g}%", "value": mon.alarms.cpu.threshold},
                           {"label": f"memory alarm {mon.alarms.memory.threshold:g}%", "value": mon.alarms.memory.threshold}],
            stat="Average", region=region, y_label="%"),
        {"type": "alarm", "x": WIDTH, "y": 3 * HEIGHT, "width": WIDTH, "height": HEIGHT,
         "properties": {"title": "Alarms", "alarms": [names.alarm_arn(s.name) for s in specs(ctx, names)]}},
    ]
    return {"start": "-PT3H", "periodOverride": "inherit", "widgets": widgets}


def plan(ctx: Context, names: MonitoringNames, found: Found) -> list[Change]:
    cw = ctx.client("cloudwatch")
    wanted = body(ctx, names)

    def put() -> str:
        answer = cw.put_dashboard(DashboardName=names.dashboard, DashboardBody=json.dumps(wanted, sort_keys=True))
        problems = answer.get("DashboardValidationMessages") or []
        for p in problems:  # accepted with warnings: say so, do not fail the build
            ctx.reporter.warn(f"dashboard {names.dashboard}: {p.get('DataPath', '')} {p.get('Message', '')}")
        return names.dashboard

    if found.dashboard is None:
        return [change("dashboard", names.dashboard, CREATE, diffs=[Diff("widgets", None, len(wanted["widgets"]))], run=put)]
    # Both bodies in the diff: the plan shows the widgets' keys that differ, not "differs" (issue 18).
    diffs = [Diff("body", found.dashboard, wanted)] if found.dashboard != wanted else []
    return [maybe_update("dashboard", names.dashboard, names.dashboard, diffs, [put])]
