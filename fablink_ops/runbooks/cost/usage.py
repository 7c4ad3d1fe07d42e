"""Resource-usage monitoring: the last [cost].usage_days of CloudWatch next
to what is provisioned, and a rightsizing line where utilisation stays far
below it.

One paginated cloudwatch:GetMetricData over hourly points (up to 500 queries
a call; results of one query may come over several pages and are joined by
Id). In the sandbox the same code reads whatever metrics were written there
(tests write them with PutMetricData); a metric with no points says so and
proposes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ...config import Config
from ...engine import Context
from .pricing import Price
from .quantities import monthly_requests

PERIOD = 3600  # hourly points: 14 days = 336 per metric, far below GetMetricData's 100,800
HPA_CPU_TARGET = 60.0  # design doc: "HPA target CPU 60%"
DESIGN_MIN_DB_CLASS = "db.r6g.large"  # design doc: "Instance Class: db.r6g.large (minimum)"


@dataclass(frozen=True)
class Metric:
    id: str
    what: str
    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]
    stat: str
    provisioned: str

    def query(self) -> dict[str, Any]:
        dims = [{"Name": k, "Value": v} for k, v in self.dims]
        return {"Id": self.id, "MetricStat": {"Metric": {"Namespace": self.namespace, "MetricName": self.name, "Dimensions": dims},
                                              "Period": PERIOD, "Stat": self.stat}, "ReturnData": True}


def metrics(cfg: Config) -> list[Metric]:
    ng, cluster = cfg.eks.nodegroups, cfg.project.cluster_name
    nodes = f"{ng.desired_size * len(cfg.network.zones)} x {ng.instance_types[0]}"
    out = [
        Metric("nodecpu", "node CPU %", "ContainerInsights", "node_cpu_utilization", (("ClusterName", cluster),), "Average", nodes),
        Metric("nodemem", "node memory %", "ContainerInsights", "node_memory_utilization", (("ClusterName", cluster),), "Average", nodes),
        Metric("dbconn", "Aurora connections (writer)", "AWS/RDS", "DatabaseConnections",
               (("DBClusterIdentifier", cfg.aurora.cluster_identifier), ("Role", "WRITER")), "Maximum", cfg.aurora.instance_class),
    ]
    for i, inst in enumerate(cfg.aurora.instances):
        out.append(Metric(f"dbcpu{i}", f"Aurora CPU % {inst.identifier}", "AWS/RDS", "CPUUtilization",
                          (("DBInstanceIdentifier", inst.identifier),), "Average", cfg.aurora.instance_class))
    for i, table in enumerate(cfg.dynamodb.tables):
        for kind, name in (("r", "ConsumedReadCapacityUnits"), ("w", "ConsumedWriteCapacityUnits")):
            out.append(Metric(f"ddb{kind}{i}", f"DynamoDB {name} {table.name}", "AWS/DynamoDB", name,
                              (("TableName", table.name),), "Sum", "on-demand"))
    return out


def read(ctx: Context, wanted: list[Metric], days: int, now: datetime) -> dict[str, list[float]]:
    cw = ctx.target.client("cloudwatch")
    values: dict[str, list[float]] = {m.id: [] for m in wanted}
    for start in range(0, len(wanted), 500):  # GetMetricData takes at most 500 queries
        results = cw.paginate("get_metric_data", "MetricDataResults", MetricDataQueries=[m.query() for m in wanted[start:start + 500]],
                              StartTime=now - timedelta(days=days), EndTime=now, ScanBy="TimestampAscending")
        for r in results:
            values[r["Id"]].extend(float(v) for v in r.get("Values", []))
    return values


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"points": 0, "average": None, "p95": None, "maximum": None, "sum": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"points": len(values), "average": round(sum(values) / len(values), 2), "p95": round(p95, 2),
            "maximum": round(ordered[-1], 2), "sum": round(sum(values), 2)}


def report_rows(wanted: list[Metric], values: dict[str, list[float]]) -> list[dict[str, Any]]:
    rows = []
    for m in wanted:
        s = summary(values[m.id])
        rows.append({"metric": m.what, "statistic": f"hourly {m.stat}", "provisioned": m.provisioned,
                     **{k: s[k] for k in ("points", "average", "p95", "maximum")}})
    return rows


def rightsizing(cfg: Config, book: dict[str, Price], values: dict[str, list[float]], days: int) -> list[dict[str, Any]]:
    return [_nodes(cfg, book, values), *_aurora(cfg, values), *_dynamodb(cfg, book, values, days)]


def _nodes(cfg: Config, book: dict[str, Price], values: dict[str, list[float]]) -> dict[str, Any]:
    ng, c = cfg.eks.nodegroups, cfg.cost
    cpu, mem = summary(values["nodecpu"]), summary(values["nodemem"])
    if not cpu["points"] or not mem["points"]:
        return {"resource": "EKS nodes", "finding": "no Container Insights data: nothing to compare", "saving_usd": 0.0}
    busiest = max(cpu["p95"], mem["p95"])
    if busiest >= c.rightsize_below_percent:
        return {"resource": "EKS nodes", "finding": f"p95 CPU {cpu['p95']}%, memory {mem['p95']}%: sized to use", "saving_usd": 0.0}
    # Enough nodes per group that the busiest resource would sit at the HPA's target.
    fit = max(ng.min_size, math.ceil(ng.desired_size * busiest / HPA_CPU_TARGET))
    fewer = (ng.desired_size - fit) * len(cfg.network.zones)
    price = book[f"ec2:{ng.instance_types[0]}"]
    saving = round(fewer * price.unit_usd * c.hours_per_month, 2)
    return {"resource": "EKS nodes", "finding": (f"p95 CPU {cpu['p95']}%, memory {mem['p95']}% stay below {c.rightsize_below_percent:g}%: "
                                                 f"desired_size {ng.desired_size} -> {fit} per group ({fewer} nodes fewer) would run them "
                                                 f"at up to the HPA's {HPA_CPU_TARGET:g}%"), "saving_usd": saving}


def _aurora(cfg: Config, values: dict[str, list[float]]) -> list[dict[str, Any]]:
    out = []
    for i, inst in enumerate(cfg.aurora.instances):
        cpu = summary(values[f"dbcpu{i}"])
        if not cpu["points"]:
            finding = "no CPUUtilization data: nothing to compare"
        elif cpu["p95"] >= cfg.cost.rightsize_below_percent:
            finding = f"p95 CPU {cpu['p95']}%: sized to use"
        elif cfg.aurora.instance_class == DESIGN_MIN_DB_CLASS:
            finding = (f"p95 CPU {cpu['p95']}%, but {DESIGN_MIN_DB_CLASS} is the design's minimum class and the design keeps "
                       "two readers: no smaller choice; the reservation levers apply instead")
        else:
            finding = f"p95 CPU {cpu['p95']}% below {cfg.cost.rightsize_below_percent:g}%: one class smaller would do"
        out.append({"resource": f"Aurora {inst.identifier}", "finding": finding, "saving_usd": 0.0})
    return out


def _dynamodb(cfg: Config, book: dict[str, Price], values: dict[str, list[float]], days: int) -> list[dict[str, Any]]:
    c = cfg.cost
    scale = c.hours_per_month / (24 * days)  # the measured days as a month
    out = []
    for kind, key, per_request in (("r", "ddb:rru", c.dynamodb_read_units_per_request), ("w", "ddb:wru", c.dynamodb_write_units_per_request)):
        points = sum(len(values[f"ddb{kind}{i}"]) for i in range(len(cfg.dynamodb.tables)))
        if not points:
            out.append({"resource": f"DynamoDB {key[4:].upper()}", "finding": "no consumed-capacity data: nothing to compare", "saving_usd": 0.0})
            continue
        measured = sum(sum(values[f"ddb{kind}{i}"]) for i in range(len(cfg.dynamodb.tables))) * scale
        assumed = monthly_requests(cfg) * per_request
        price = book[key]
        # Not a saving: how far the estimate moves if the measured month replaces the assumption.
        change = round(price.cost(measured) - price.cost(assumed), 2)
        out.append({"resource": f"DynamoDB {key[4:].upper()}", "finding": (f"measured {measured:,.0f} a month vs {assumed:,.0f} assumed "
                    f"({'update' if abs(measured - assumed) > 0.1 * assumed else 'keep'} [cost].dynamodb_"
                    f"{'read' if kind == 'r' else 'write'}_units_per_request)"), "saving_usd": 0.0, "estimate_change_usd": change})
    return out
