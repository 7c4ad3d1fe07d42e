"""The CloudWatch alarms of the design doc's Alerts, and the metric filter that
counts Aurora connection failures.

Each alarm's threshold and window come from config (monitoring.alarms.*); what
it measures is fixed here, next to the reason:

- cpu, memory: Container Insights node_cpu_utilization / node_memory_utilization
  of the cluster (ClusterName), every minute of the window above the threshold.
- latency: API Gateway Latency (ms) of the API's stage, average per minute.
- error_rate: 100 * 5XXError / Count of the stage (metric math), per minute.
- pod_restarts: the increase over the window of the highest container-restart
  total among the namespace's pods (Container Insights publishes a lifetime
  total per pod: a Metrics Insights MAX across pods, then DIFF).
- db_connection_failures: the count from the metric filter below.
- db_connections: AWS/RDS DatabaseConnections of the writer, near max_connections.
- dynamodb_throttling: read + write throttle events, one alarm per table.

Every alarm notifies its topic on ALARM and on OK (so channels see recovery),
and its description links its runbook page (runbooks/alarms/<page>.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ...config import AlarmConfig
from ...engine import CREATE, NOOP, UNMANAGED, UPDATE, Change, Context, Diff
from ...target import error_code
from .. import kit
from .common import MARKER, Found, MonitoringNames, change, maybe_update, tags

# runbook page (runbooks/alarms/<page>.md) per config key
PAGES = {
    "cpu": "cpu.md",
    "memory": "memory.md",
    "latency": "latency.md",
    "error_rate": "error-rate.md",
    "pod_restarts": "pod-restarts.md",
    "db_connection_failures": "db-connection-failures.md",
    "db_connections": "db-connections.md",
    "dynamodb_throttling": "dynamodb-throttling.md",
}


@dataclass(frozen=True)
class AlarmSpec:
    key: str  # the config field
    name: str
    summary: str
    metric: dict[str, Any]  # Namespace/MetricName/Dimensions/Statistic, or Metrics
    treat_missing: str
    config: AlarmConfig
    extra_tags: dict[str, str] = field(default_factory=dict)


def _dims(**kv: str) -> list[dict[str, str]]:
    return [{"Name": k, "Value": v} for k, v in kv.items()]


def _stat(id_: str, namespace: str, metric: str, dims: list[dict], stat: str, period: int, visible: bool = False) -> dict:
    return {"Id": id_, "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims}, "Period": period, "Stat": stat},
            "ReturnData": visible}


def _pod_restart_queries(cluster: str, ns: str, period: int) -> list[dict]:
    """Restarts within the window, not a lifetime total (issue 17 item 9).

    Container Insights' pod_number_of_container_restarts is each pod's total
    since it started (a gauge that only grows), published per pod. The
    highest total among the namespace's pods per window (Metrics Insights
    MAX), then its increase since the previous window (DIFF): a pod that
    restarted four times last week no longer alarms for ever; one crash
    looping now does. Negative steps (the top pod replaced) count as none.
    Known limit: a pod whose total stays below another pod's older total is
    not seen until it passes it (a deploy replaces every pod, resetting them).
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-EKS.html
    """
    return [
        {"Id": "highest", "Expression": (
            "SELECT MAX(pod_number_of_container_restarts) FROM SCHEMA(ContainerInsights, ClusterName, Namespace, PodName) "
            f"WHERE ClusterName = '{cluster}' AND Namespace = '{ns}'"),
         "Period": period, "Label": "container restarts since start (highest pod)", "ReturnData": False},
        {"Id": "restarts", "Expression": "IF(DIFF(highest) > 0, DIFF(highest), 0)", "Label": "container restarts in the window",
         "ReturnData": True},
    ]


def specs(ctx: Context, names: MonitoringNames) -> list[AlarmSpec]:
    cfg = ctx.cfg
    mon, alarms = cfg.monitoring, cfg.monitoring.alarms
    p = names.prefix
    cluster, ns = cfg.project.cluster_name, cfg.project.namespace
    api = _dims(ApiName=cfg.edge.api.name, Stage=cfg.edge.api.stage_name)

    def single(namespace: str, metric: str, dims: list[dict], stat: str) -> dict:
        return {"Namespace": namespace, "MetricName": metric, "Dimensions": dims, "Statistic": stat}

    out = [
        AlarmSpec("cpu", f"{p}-eks-cpu", f"Node CPU of {cluster} above {alarms.cpu.threshold:g}%.",
                  single("ContainerInsights", "node_cpu_utilization", _dims(ClusterName=cluster), "Average"), "missing", alarms.cpu),
        AlarmSpec("memory", f"{p}-eks-memory", f"Node memory of {cluster} above {alarms.memory.threshold:g}%.",
                  single("ContainerInsights", "node_memory_utilization", _dims(ClusterName=cluster), "Average"), "missing", alarms.memory),
        AlarmSpec("latency", f"{p}-api-latency", f"{cfg.edge.api.name} average response time above {alarms.latency.threshold:g} ms.",
                  single("AWS/ApiGateway", "Latency", api, "Average"), "notBreaching", alarms.latency),
        AlarmSpec("error_rate", f"{p}-api-error-rate", f"{cfg.edge.api.name} 5XX responses above {alarms.error_rate.threshold:g}% of requests.",
                  {"Metrics": [
                      _stat("errors", "AWS/ApiGateway", "5XXError", api, "Sum", alarms.error_rate.period_seconds),
                      _stat("requests", "AWS/ApiGateway", "Count", api, "Sum", alarms.error_rate.period_seconds),
                      {"Id": "rate", "Expression": "IF(requests > 0, 100 * errors / requests, 0)", "Label": "5XX error rate (%)", "ReturnData": True},
                  ]}, "notBreaching", alarms.error_rate),
        AlarmSpec("pod_restarts", f"{p}-pod-restarts", f"A pod of {ns} on {cluster} restarted its containers more than {alarms.pod_restarts.threshold:g} times.",
                  {"Metrics": _pod_restart_queries(cluster, ns, alarms.pod_restarts.period_seconds)}, "notBreaching", alarms.pod_restarts),
        AlarmSpec("db_connection_failures", f"{p}-db-connection-failures",
                  f"Failed connections or logins to Aurora {mon.aurora_cluster} above {alarms.db_connection_failures.threshold:g} per window.",
                  single(mon.connection_failure_namespace, names.connection_metric, [], "Sum"), "notBreaching", alarms.db_connection_failures),
        AlarmSpec("db_connections", f"{p}-db-connections-near-max",
                  f"Connections to the Aurora {mon.aurora_cluster} writer above {alarms.db_connections.threshold:g} (near max_connections).",
                  single("AWS/RDS", "DatabaseConnections", _dims(DBClusterIdentifier=mon.aurora_cluster, Role="WRITER"), "Maximum"),
                  "missing", alarms.db_connections),
    ]
    throttle = alarms.dynamodb_throttling
    for table in cfg.dynamodb_tables:
        short = table.removeprefix(f"{p}-")
        dims = _dims(TableName=table)
        out.append(AlarmSpec(
            "dynamodb_throttling", f"{p}-dynamodb-throttling-{short}", f"DynamoDB table {table} throttled more than {throttle.threshold:g} requests.",
            {"Metrics": [
                _stat("reads", "AWS/DynamoDB", "ReadThrottleEvents", dims, "Sum", throttle.period_seconds),
                _stat("writes", "AWS/DynamoDB", "WriteThrottleEvents", dims, "Sum", throttle.period_seconds),
                # Throttle metrics are only published when there are throttles.
                {"Id": "throttles", "Expression": "FILL(reads, 0) + FILL(writes, 0)", "Label": "throttle events", "ReturnData": True},
            ]}, "notBreaching", throttle, {"Table": table},
        ))
    return out


def description(ctx: Context, spec: AlarmSpec) -> str:
    url = ctx.cfg.monitoring.runbook_base_url + PAGES[spec.key]
    return f"{spec.summary} Runbook: {url} {MARKER}"[:1024]


def desired_call(ctx: Context, names: MonitoringNames, spec: AlarmSpec) -> dict[str, Any]:
    """The put_metric_alarm arguments (without tags) for a spec."""
    a = spec.config
    topic = names.topic_arn(a.topic)
    call: dict[str, Any] = {
        "AlarmName": spec.name,
        "AlarmDescription": description(ctx, spec),
        "ActionsEnabled": True,
        "AlarmActions": [topic],
        "OKActions": [topic],
        "EvaluationPeriods": a.evaluation_periods,
        "DatapointsToAlarm": a.datapoints_to_alarm,
        "Threshold": a.threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": spec.treat_missing,
    }
    if "Metrics" in spec.metric:
        call["Metrics"] = spec.metric["Metrics"]
    else:
        call.update(spec.metric, Period=a.period_seconds)
    return call


def _metric_view(q: dict) -> tuple:
    stat = q.get("MetricStat")
    if stat:
        m = stat.get("Metric", {})
        what: tuple = ("stat", m.get("Namespace"), m.get("MetricName"), _dims_view(m.get("Dimensions")), int(stat.get("Period", 0)), stat.get("Stat"))
    else:
        what = ("expr", q.get("Expression"), int(q.get("Period") or 0))
    return (q.get("Id"), what, q.get("ReturnData", True), q.get("Label") or "")


def _dims_view(dims: list[dict] | None) -> tuple:
    return tuple(sorted((d["Name"], d["Value"]) for d in dims or []))


def alarm_view(alarm: dict) -> dict[str, Any]:
    """The attributes we set, from a put call or from describe_alarms."""
    return {
        "description": alarm.get("AlarmDescription", ""),
        "actions": (bool(alarm.get("ActionsEnabled", True)), tuple(alarm.get("AlarmActions") or ()), tuple(alarm.get("OKActions") or ())),
        "window": (int(alarm.get("Period") or 0), int(alarm.get("EvaluationPeriods", 0)), int(alarm.get("DatapointsToAlarm") or alarm.get("EvaluationPeriods", 0))),
        "threshold": (float(alarm.get("Threshold", 0)), alarm.get("ComparisonOperator")),
        "missing data": alarm.get("TreatMissingData", "missing"),
        "metric": (alarm.get("Namespace"), alarm.get("MetricName"), _dims_view(alarm.get("Dimensions")), alarm.get("Statistic")),
        "metric math": tuple(_metric_view(q) for q in alarm.get("Metrics") or ()),
    }


def discover(ctx: Context, names: MonitoringNames, found: Found) -> None:
    """One paginated read for every alarm of ours (by name prefix), one for the metric filter."""
    cw, logs = ctx.client("cloudwatch"), ctx.client("logs")
    for alarm in cw.paginate("describe_alarms", "MetricAlarms", AlarmNamePrefix=f"{names.prefix}-", AlarmTypes=["MetricAlarm"]):
        found.alarms[alarm["AlarmName"]] = alarm
    try:
        filters = logs.paginate("describe_metric_filters", "metricFilters", logGroupName=names.aurora_log_group, filterNamePrefix=names.connection_filter)
    except ClientError as exc:  # the log group does not exist yet
        if error_code(exc) != "ResourceNotFoundException":
            raise
        filters = []
    found.metric_filters = {f["filterName"]: f for f in filters}


def plan(ctx: Context, names: MonitoringNames, found: Found) -> list[Change]:
    all_specs = specs(ctx, names)
    changes = [_metric_filter(ctx, names, found)]
    changes += [_alarm(ctx, names, found, spec) for spec in all_specs]
    wanted = {s.name for s in all_specs}
    for name, alarm in sorted(found.alarms.items()):
        if name not in wanted and MARKER in (alarm.get("AlarmDescription") or ""):
            changes.append(change("alarm", name, UNMANAGED, resource_id=alarm.get("AlarmArn", ""), note="made by fablink-ops, no longer in the config; left alone"))
    return changes


def _alarm(ctx: Context, names: MonitoringNames, found: Found, spec: AlarmSpec) -> Change:
    cw = ctx.client("cloudwatch")
    call = desired_call(ctx, names, spec)
    needs = (names.k_topic(spec.config.topic),) + ((names.k_filter,) if spec.key == "db_connection_failures" else ())
    current = found.alarms.get(spec.name)
    if current is None:
        desired_tags = tags(ctx.cfg, spec.name) | spec.extra_tags

        def create() -> str:
            # Tags only apply when PutMetricAlarm creates the alarm.
            cw.put_metric_alarm(**call, Tags=[{"Key": k, "Value": v} for k, v in sorted(desired_tags.items())])
            return spec.name

        a = spec.config
        diffs = [Diff("threshold", None, f"> {a.threshold:g} for {a.datapoints_to_alarm} of {a.evaluation_periods} x {a.period_seconds}s"),
                 Diff("notifies", None, names.topic(a.topic))]
        return change("alarm", spec.name, CREATE, diffs=diffs, needs=needs, run=create)
    want, have = alarm_view(call), alarm_view(current)
    diffs = [Diff(k, have[k], want[k]) for k in want if have[k] != want[k]]
    if not diffs:
        return change("alarm", spec.name, NOOP, resource_id=current.get("AlarmArn", ""), needs=needs)
    # PutMetricAlarm replaces the whole definition; the alarm's history and tags stay.
    return change("alarm", spec.name, UPDATE, diffs=diffs, needs=needs, resource_id=current.get("AlarmArn", ""), run=kit.sequence(lambda: cw.put_metric_alarm(**call)))


def _metric_filter(ctx: Context, names: MonitoringNames, found: Found) -> Change:
    logs = ctx.client("logs")
    mon = ctx.cfg.monitoring
    name = names.connection_filter
    transform = {"metricName": names.connection_metric, "metricNamespace": mon.connection_failure_namespace, "metricValue": "1", "defaultValue": 0.0}

    def put() -> str:
        # PutMetricFilter creates or replaces: idempotent.
        logs.put_metric_filter(logGroupName=names.aurora_log_group, filterName=name, filterPattern=mon.connection_failure_pattern,
                               metricTransformations=[transform])
        return name

    current = found.metric_filters.get(name)
    if current is None:
        return change("metric-filter", name, CREATE, diffs=[Diff("pattern", None, mon.connection_failure_pattern)], needs=(names.k_aurora_logs,), run=put)
    have = (current.get("metricTransformations") or [{}])[0]
    diffs = []
    if current.get("filterPattern") != mon.connection_failure_pattern:
        diffs.append(Diff("pattern", current.get("filterPattern"), mon.connection_failure_pattern))
    for k, v in transform.items():
        if k == "defaultValue":
            if have.get(k) is None or float(have[k]) != v:
                diffs.append(Diff(k, have.get(k), v))
        elif str(have.get(k)) != str(v):
            diffs.append(Diff(k, have.get(k), v))
    return maybe_update("metric-filter", name, name, diffs, [put], (names.k_aurora_logs,))

