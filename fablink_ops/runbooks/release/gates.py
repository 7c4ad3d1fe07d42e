"""The release's gates, read during and at the end of each bake.

- Stop alarms ([release].stop_alarms): any in ALARM fails the gate at once.
- The new colour's targets: its target group must report at least
  [release].min_healthy_targets healthy and none unhealthy.
- The canary's own metrics. API Gateway publishes a canary's metrics apart
  from the stage's: namespace AWS/ApiGateway, dimensions ApiName=<api> and
  Stage=<stage>/Canary (as the canary's execution log group is
  API-Gateway-Execution-Logs_<api id>/<stage>/Canary). Read: Count and
  5XXError (Sum) and Latency (p95, p99) over the bake, judged against [sla]
  (error rate, p95, p99). No canary data is a failure: a canary that serves
  no request proves nothing. In the sandbox nothing sends traffic, so there
  is no data to judge; the gate says so and is skipped, never passed on
  made-up numbers. (The dimension value is AWS's documented canary naming;
  it has not been checked against a live account yet.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ...engine import Context
from ...resources.edge.common import EdgeNames
from ..failover import alarm_states, firing

PASSED, FAILED, SKIPPED = "pass", "fail", "skipped"


@dataclass
class Gate:
    name: str
    verdict: str
    detail: str
    readings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.name, "verdict": self.verdict, "detail": self.detail, "readings": self.readings}


def stop_alarms(ctx: Context) -> Gate:
    names = ctx.cfg.release.stop_alarms
    if not names:
        return Gate("stop alarms", SKIPPED, "no stop alarms configured ([release].stop_alarms)")
    states = alarm_states(ctx, names)
    missing = [n for n in names if n not in states]
    fired = firing(states)
    readings = {n: s for n, (s, _) in sorted(states.items())}
    if fired:
        return Gate("stop alarms", FAILED, f"in ALARM: {', '.join(fired)}", readings)
    if missing:
        return Gate("stop alarms", FAILED, f"missing: {', '.join(missing)} (the monitoring stage makes them)", readings)
    return Gate("stop alarms", PASSED, ", ".join(f"{n}: {s}" for n, s in readings.items()), readings)


def target_health(ctx: Context, colour: str) -> Gate:
    """The colour's target group as the NLB reports it."""
    elb = ctx.client("elbv2")
    name = EdgeNames(ctx.cfg).target_group_of(colour)
    arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    states = [d.get("TargetHealth", {}).get("State", "") for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
    healthy = states.count("healthy")
    readings = {"target_group": name, "healthy": healthy, "targets": len(states)}
    if not states and not ctx.target.is_live:
        return Gate(f"{colour} targets", SKIPPED, f"sandbox: no pods register in {name} (no Kubernetes here); moto reports no targets", readings)
    want = ctx.cfg.release.min_healthy_targets
    ok = healthy >= want and healthy == len(states)
    return Gate(f"{colour} targets", PASSED if ok else FAILED, f"{healthy} of {len(states)} healthy in {name} (at least {want}, none unhealthy)", readings)


def _query(key: str, metric: str, stat: str, dimensions: list[dict], period: int) -> dict:
    return {"Id": key, "MetricStat": {"Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": dimensions},
                                      "Period": period, "Stat": stat}, "ReturnData": True}


def traffic_metrics(ctx: Context, started: datetime, ended: datetime, canary: bool) -> Gate:
    """The canary's (or, after the promotion, the stage's) error rate and latency over [started, ended], against [sla]."""
    names = EdgeNames(ctx.cfg)
    dims = [{"Name": "ApiName", "Value": names.api}, {"Name": "Stage", "Value": f"{names.stage}/Canary" if canary else names.stage}]
    what = "canary" if canary else "stage"
    window = _window(started, ended)
    values = _metric_values(ctx, window, [_query("count", "Count", "Sum", dims, window[2]), _query("errors", "5XXError", "Sum", dims, window[2])])
    count = values.get("count", 0.0)
    readings: dict[str, Any] = {"dimensions": {d["Name"]: d["Value"] for d in dims}, "requests": count}
    if count <= 0:
        if not ctx.target.is_live:
            return Gate(f"{what} metrics", SKIPPED, f"sandbox: no traffic flows here, so the {what} has no metrics to judge (not measured)", readings)
        return Gate(f"{what} metrics", FAILED, f"no {what} requests in CloudWatch during the bake: nothing shows the new version works", readings)
    if ctx.target.is_live:
        values.update(_metric_values(ctx, window, [_query("p95", "Latency", "p95", dims, window[2]), _query("p99", "Latency", "p99", dims, window[2])]))
    else:  # moto 5.2 answers a percentile statistic with an HTTP 500: not asked, and said
        readings["latency"] = "not measured: the sandbox (moto 5.2) computes no percentile statistics"
    return _judge(ctx, f"{what} metrics", readings, count, values)


def _window(started: datetime, ended: datetime) -> tuple[datetime, datetime, int]:
    """(start, end, period): one datapoint over the whole bake, at least a minute (CloudWatch's resolution)."""
    start = started.astimezone(timezone.utc).replace(microsecond=0)
    end = max(ended.astimezone(timezone.utc), start + timedelta(seconds=60))
    return start, end, max(60, int((end - start).total_seconds() // 60 + 1) * 60)


def _metric_values(ctx: Context, window: tuple[datetime, datetime, int], queries: list[dict]) -> dict[str, float]:
    answer = ctx.client("cloudwatch").get_metric_data(MetricDataQueries=queries, StartTime=window[0], EndTime=window[1])
    return {r["Id"]: (sum(r.get("Values") or []) if r["Id"] in ("count", "errors") else max(r.get("Values") or [0.0]))
            for r in answer.get("MetricDataResults", [])}


def _judge(ctx: Context, name: str, readings: dict[str, Any], count: float, values: dict[str, float]) -> Gate:
    sla = ctx.cfg.sla
    rate = 100.0 * values.get("errors", 0.0) / count
    readings.update({"error_rate_percent": round(rate, 4), "p95_ms": values.get("p95"), "p99_ms": values.get("p99")})
    over = []
    if rate >= sla.error_rate_percent:
        over.append(f"error rate {rate:.3f}% (SLA < {sla.error_rate_percent:g}%)")
    for key, limit in (("p95", sla.p95_latency_ms), ("p99", sla.p99_latency_ms)):
        if values.get(key) is not None and values[key] >= limit:
            over.append(f"{key} {values[key]:.0f} ms (SLA < {limit:g} ms)")
    latency = ", ".join(f"{k} {values[k]:.0f} ms" for k in ("p95", "p99") if values.get(k) is not None) or "latency not measured"
    detail = f"{count:.0f} requests, error rate {rate:.3f}%, {latency}"
    return Gate(name, FAILED if over else PASSED, ("over the SLA: " + "; ".join(over)) if over else detail, readings)
