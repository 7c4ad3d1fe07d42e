"""[monitoring]: the alarms of the design doc's Alerts, their notification
channels and the dashboard."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import KMS_ALIAS, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


ALARM_TOPICS = ("critical", "warning")
METRIC_NAMESPACE = _pattern(r"(?!AWS/)[\w .\-/#:]+", 255, "CloudWatch namespace (not AWS/...)")
DASHBOARD_NAME = _pattern(r"[\w\-]+", 255, "dashboard name")


# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
# (Period: 10, 30 or any multiple of 60)
def _alarm_period(value: int) -> str | None:
    return None if value in (10, 30) or (value > 0 and value % 60 == 0) else f"{value}: a period is 10, 30 or a multiple of 60 seconds"


@dataclass(frozen=True)
class AlarmConfig:
    """One alarm of the design doc's Alerts: threshold and window."""

    topic: str = check(_one_of(*ALARM_TOPICS))
    threshold: float
    period_seconds: int = check(_alarm_period)
    evaluation_periods: int = check(_positive)
    datapoints_to_alarm: int = check(_positive)


@dataclass(frozen=True)
class AlarmsConfig:
    """Design doc: Alerts. One field per alarm: an unknown one is a typo."""

    cpu: AlarmConfig
    memory: AlarmConfig
    latency: AlarmConfig
    error_rate: AlarmConfig
    pod_restarts: AlarmConfig
    db_connection_failures: AlarmConfig
    db_connections: AlarmConfig
    dynamodb_throttling: AlarmConfig

    def items(self) -> list[tuple[str, AlarmConfig]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]


@dataclass(frozen=True)
class SubscriptionConfig:
    """Notification channels: "SNS -> Slack", "PagerDuty (Critical alerts)", "Email (Non-critical)"."""

    topic: str = check(_one_of(*ALARM_TOPICS))
    protocol: str = check(_one_of("https", "email", "email-json", "sqs", "lambda"))
    endpoint: str = check(_pattern(r"\S+", 2048, "subscription endpoint"))


# RDS event categories per source type, as AWS documents them for Aurora
# (DescribeEventCategories answers the same lists):
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Messages.html
RDS_EVENT_CATEGORIES = {
    "db-cluster": ("configuration change", "creation", "deletion", "failover", "failure", "global-failover", "maintenance",
                   "migration", "notification", "serverless"),
    "db-instance": ("availability", "backup", "configuration change", "creation", "deletion", "failover", "failure",
                    "low storage", "maintenance", "notification", "read replica", "recovery", "restoration", "security",
                    "security patching"),
}


@dataclass(frozen=True)
class RdsEventsConfig:
    """One RDS event subscription: the Aurora cluster's events (db-cluster) or
    its instances' (db-instance) of these categories, to one alarm topic."""

    source_type: str = check(_one_of(*RDS_EVENT_CATEGORIES))
    topic: str = check(_one_of(*ALARM_TOPICS))
    categories: tuple[str, ...]


@dataclass(frozen=True)
class MonitoringConfig:
    """Design doc: Monitoring and logging; Alerts; Performance targets."""

    kms_key_alias: str = check(KMS_ALIAS)
    aurora_cluster: str = check(_pattern(r"[a-zA-Z][a-zA-Z0-9-]*", 63, "Aurora cluster identifier"))
    dashboard_name: str = check(DASHBOARD_NAME)
    runbook_base_url: str = check(_pattern(r"\S+", 512, "runbook base URL"))
    connection_failure_pattern: str = check(_pattern(r".+", 1024, "metric filter pattern"))
    connection_failure_namespace: str = check(METRIC_NAMESPACE)
    alarms: AlarmsConfig
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    rds_events: tuple[RdsEventsConfig, ...] = ()


def _validate_monitoring(cfg: Config) -> None:
    file, mon = cfg.path, cfg.monitoring
    for name, alarm in mon.alarms.items():
        key = f"monitoring.alarms.{name}"
        if alarm.datapoints_to_alarm > alarm.evaluation_periods:
            raise _fail(file, f"{key}.datapoints_to_alarm", f"{alarm.datapoints_to_alarm} is more than evaluation_periods ({alarm.evaluation_periods})")
        # CloudWatch evaluates at most one day of periods.
        if alarm.period_seconds * alarm.evaluation_periods > 86400:
            raise _fail(file, f"{key}.evaluation_periods", "period_seconds x evaluation_periods must not exceed one day")
        if alarm.threshold < 0:
            raise _fail(file, f"{key}.threshold", f"must not be negative, got {alarm.threshold}")
    pairs = [(e.source_type, e.topic) for e in mon.rds_events]
    for i, events in enumerate(mon.rds_events):
        key = f"monitoring.rds_events[{i}]"
        if (events.source_type, events.topic) in pairs[:i]:
            raise _fail(file, key, f"a second {events.source_type} subscription to the {events.topic} topic: merge their categories")
        allowed = RDS_EVENT_CATEGORIES[events.source_type]
        unknown = [c for c in events.categories if c not in allowed]
        if unknown or not events.categories:
            raise _fail(file, f"{key}.categories", f"{unknown or 'none'}: {events.source_type} events are one of {', '.join(allowed)}")
    for i, sub in enumerate(mon.subscriptions):
        key = f"monitoring.subscriptions[{i}].endpoint"
        if sub.protocol == "https" and not sub.endpoint.startswith("https://"):
            raise _fail(file, key, f"{sub.endpoint!r}: an https subscription needs an https:// URL")
        if sub.protocol.startswith("email") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", sub.endpoint):
            raise _fail(file, key, f"{sub.endpoint!r} is not an e-mail address")
        if sub.protocol in ("sqs", "lambda") and not sub.endpoint.startswith("arn:"):
            raise _fail(file, key, f"{sub.endpoint!r}: an {sub.protocol} subscription needs an ARN")
