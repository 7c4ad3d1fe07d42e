"""A small evaluator of CloudWatch alarm definitions, for tests.

moto 5.2 stores alarms and metric data but never evaluates an alarm (its
state changes only through SetAlarmState). So the tests read each alarm as
AWS holds it (DescribeAlarms), read the metric data back through the
sandbox's GetMetricData (per period, per statistic: moto aggregates them),
and apply CloudWatch's documented rules here:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
(the last EvaluationPeriods datapoints; ALARM when DatapointsToAlarm of them
breach; TreatMissingData for the missing ones). Only what our alarms use:
GreaterThanThreshold; math with IF, FILL, DIFF and + - * / >; Metrics
Insights "SELECT MAX|SUM(metric) FROM SCHEMA(ns, dims) WHERE d = 'v' AND ...".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

Series = dict[datetime, float]

SELECT = re.compile(r"SELECT (MAX|SUM)\((\w+)\) FROM SCHEMA\(([^)]*)\)(?: WHERE (.*))?$")


def _stat_series(cw: Any, metric: dict, stat: str, period: int, start: datetime, end: datetime) -> Series:
    answer = cw.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": metric, "Period": period, "Stat": stat}}],
                                StartTime=start, EndTime=end)["MetricDataResults"][0]
    return {t.astimezone(timezone.utc).replace(tzinfo=None): v for t, v in zip(answer["Timestamps"], answer["Values"])}


def _insights(cw: Any, query: str, period: int, start: datetime, end: datetime) -> Series:
    fn, name, schema, where = SELECT.match(query).groups()  # type: ignore[union-attr]
    namespace, *keys = [p.strip() for p in schema.split(",")]
    wanted = dict(re.findall(r"(\w+) = '([^']*)'", where or ""))
    out: Series = {}
    for metric in cw.list_metrics(Namespace=namespace, MetricName=name)["Metrics"]:
        dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
        if set(dims) != set(keys) or any(dims.get(k) != v for k, v in wanted.items()):
            continue  # SCHEMA: exactly these dimensions
        for t, v in _stat_series(cw, metric, "Maximum" if fn == "MAX" else "Sum", period, start, end).items():
            if fn == "SUM":
                out[t] = out.get(t, 0.0) + v
            else:
                out[t] = max(out.get(t, v), v)
    return out


def _math(expression: str, values: dict[str, Series], times: list[datetime], period: int) -> Series:
    """Pointwise over ``times``; DIFF(x) is x minus x one period earlier; a
    missing operand makes the point missing (FILL excepted)."""
    py = expression
    m = re.fullmatch(r"IF\((.+?), (.+), (.+)\)", py)
    if m:  # CloudWatch's IF evaluates only the branch taken (no division by zero)
        py = f"(({m.group(2)}) if ({m.group(1)}) else ({m.group(3)}))"
    py = re.sub(r"DIFF\((\w+)\)", r"_diff('\1', t)", py)
    py = re.sub(r"FILL\((\w+), *([\d.]+)\)", r"_fill(\1, \2)", py)

    def diff(name: str, at: datetime) -> float | None:
        now, before = values[name].get(at), values[name].get(at - timedelta(seconds=period))
        return None if now is None or before is None else now - before

    out: Series = {}
    for t in times:
        env: dict[str, Any] = {k: s.get(t) for k, s in values.items()}
        env.update(t=t, _diff=diff, _fill=lambda v, d: d if v is None else v)
        try:
            out[t] = eval(py, {"__builtins__": {}}, env)  # noqa: S307 (our own alarm definitions)
        except TypeError:  # None in arithmetic or a comparison: no datapoint
            continue
    return out


def datapoints(cw: Any, alarm: dict, end: datetime) -> list[float | None]:
    """The alarm's last EvaluationPeriods datapoints before ``end`` (None: missing)."""
    period = alarm.get("Period") or next(q.get("Period") or q["MetricStat"]["Period"] for q in alarm["Metrics"])
    n = alarm["EvaluationPeriods"]
    times = [end - timedelta(seconds=period * (n - i)) for i in range(n)]
    start = times[0] - timedelta(seconds=period)  # one more: DIFF needs the period before
    if not alarm.get("Metrics"):  # moto answers an empty list for a single-metric alarm
        metric = {"Namespace": alarm["Namespace"], "MetricName": alarm["MetricName"], "Dimensions": alarm.get("Dimensions", [])}
        series = _stat_series(cw, metric, alarm["Statistic"], period, start, end)
        return [series.get(t) for t in times]
    values: dict[str, Series] = {}
    result: Series = {}
    for q in alarm["Metrics"]:
        if "MetricStat" in q:
            values[q["Id"]] = _stat_series(cw, q["MetricStat"]["Metric"], q["MetricStat"]["Stat"], period, start, end)
        elif q["Expression"].startswith("SELECT"):
            values[q["Id"]] = _insights(cw, q["Expression"], period, start, end)
        else:
            values[q["Id"]] = _math(q["Expression"], values, [start, *times], period)
        if q.get("ReturnData", True):
            result = values[q["Id"]]
    return [result.get(t) for t in times]


def state(cw: Any, alarm: dict, end: datetime) -> str:
    """ALARM, OK or INSUFFICIENT_DATA, as CloudWatch decides at ``end``."""
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold", alarm["ComparisonOperator"]
    points = datapoints(cw, alarm, end)
    missing = alarm.get("TreatMissingData", "missing")
    if missing == "breaching":
        points = [float("inf") if p is None else p for p in points]
    elif missing == "notBreaching":
        points = [float("-inf") if p is None else p for p in points]
    present = [p for p in points if p is not None]
    if not present:
        return "INSUFFICIENT_DATA"
    breaching = sum(1 for p in present if p > alarm["Threshold"])
    return "ALARM" if breaching >= alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) else "OK"
