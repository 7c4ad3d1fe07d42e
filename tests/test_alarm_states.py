"""Issue 17 item 9: every alarm fires on the data its metric documents, and
stays quiet below it. Metric data goes in through the sandbox's CloudWatch
(PutMetricData) and back out through GetMetricData; moto 5.2 never evaluates
alarms, so tests/alarm_eval.py applies CloudWatch's rules to each alarm as
DescribeAlarms returns it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .alarm_eval import state
from .conftest import boto_session
from .util import provision

REGION = "ap-northeast-2"
CLUSTER, NS, API = "fablink-cluster-prod", "fablink-prod", [{"Name": "ApiName", "Value": "fablink-prod-api"}, {"Name": "Stage", "Value": "prod"}]
# Two moments: the calm data ends at CALM, the breaching data at BREACH (hours apart: no overlap).
CALM = datetime.now(timezone.utc).replace(tzinfo=None, minute=0, second=0, microsecond=0) - timedelta(hours=6)
BREACH = CALM + timedelta(hours=3)


def put(cw, namespace: str, name: str, dims: list[dict], end: datetime, period: int, values: list[float | None]) -> None:
    """One datapoint in each of the last len(values) periods before ``end`` (None: none)."""
    data = [{"MetricName": name, "Dimensions": dims, "Timestamp": end - timedelta(seconds=period * (len(values) - i)) + timedelta(seconds=1),
             "Value": v} for i, v in enumerate(values) if v is not None]
    cw.put_metric_data(Namespace=namespace, MetricData=data)


def test_each_alarm_fires_on_its_metric_and_stays_quiet_below(aws, cfg):
    provision(cfg, ("monitoring",))
    cw = boto_session(REGION).client("cloudwatch")
    alarms = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNamePrefix="fablink-prod-")["MetricAlarms"]}

    def check(alarm: str, namespace: str, metric: str, dims: list[dict], period: int, calm: list, breach: list) -> None:
        put(cw, namespace, metric, dims, CALM, period, calm)
        put(cw, namespace, metric, dims, BREACH, period, breach)
        assert (state(cw, alarms[alarm], CALM), state(cw, alarms[alarm], BREACH)) == ("OK", "ALARM"), alarm

    cluster = [{"Name": "ClusterName", "Value": CLUSTER}]
    # "sustained 5 min": four breaching minutes of five are not enough
    check("fablink-prod-eks-cpu", "ContainerInsights", "node_cpu_utilization", cluster, 60, [85, 85, 85, 85, 50], [90] * 5)
    check("fablink-prod-eks-memory", "ContainerInsights", "node_memory_utilization", cluster, 60, [90, 90, 90, 90, 80], [90] * 5)
    check("fablink-prod-api-latency", "AWS/ApiGateway", "Latency", API, 60, [2500, 2500, 900], [2500] * 3)
    check("fablink-prod-db-connections-near-max", "AWS/RDS", "DatabaseConnections",
          [{"Name": "DBClusterIdentifier", "Value": "fablink-prod-aurora"}, {"Name": "Role", "Value": "WRITER"}], 60, [1500] * 5, [1700] * 5)
    check("fablink-prod-db-connection-failures", "FabLink/Aurora", "ConnectionFailures", [], 300, [3], [6])

    # 5XX as a share of requests: 0.5% is fine, 2% for two minutes is not
    put(cw, "AWS/ApiGateway", "Count", API, CALM, 60, [1000, 1000])
    put(cw, "AWS/ApiGateway", "Count", API, BREACH, 60, [1000, 1000])
    check("fablink-prod-api-error-rate", "AWS/ApiGateway", "5XXError", API, 60, [5, 5], [20, 20])

    # DynamoDB: throttle metrics exist only when there are throttles (FILL); 2 minutes of 5
    table = [{"Name": "TableName", "Value": cfg.dynamodb_tables[0]}]
    throttling = f"fablink-prod-dynamodb-throttling-{cfg.dynamodb_tables[0].removeprefix('fablink-prod-')}"
    put(cw, "AWS/DynamoDB", "ReadThrottleEvents", table, CALM, 60, [None, None, 1, None, None])
    check(throttling, "AWS/DynamoDB", "WriteThrottleEvents", table, 60, [None] * 5, [None, 4, None, 2, None])


def test_pod_restarts_count_the_window_not_the_lifetime(aws, cfg):
    """pod_number_of_container_restarts is a total since the pod started: a pod
    that restarted 7 times long ago is calm; one going 0 -> 12 now is not."""
    provision(cfg, ("monitoring",))
    cw = boto_session(REGION).client("cloudwatch")
    [alarm] = cw.describe_alarms(AlarmNames=["fablink-prod-pod-restarts"])["MetricAlarms"]

    def pod(name: str) -> list[dict]:
        return [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "Namespace", "Value": NS}, {"Name": "PodName", "Value": name}]

    for end in (CALM, BREACH):
        put(cw, "ContainerInsights", "pod_number_of_container_restarts", pod("backend-old"), end, 600, [7, 7])
    put(cw, "ContainerInsights", "pod_number_of_container_restarts", pod("backend-looping"), BREACH, 600, [0, 12])
    assert (state(cw, alarm, CALM), state(cw, alarm, BREACH)) == ("OK", "ALARM")
    # the former definition (the highest lifetime total) alarmed on the calm pod for ever
    former = dict(alarm, Metrics=[dict(alarm["Metrics"][0], ReturnData=True)])
    assert state(cw, former, CALM) == "ALARM"
