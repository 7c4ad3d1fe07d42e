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
    for i, sub in enumerate(mon.subscriptions):
        key = f"monitoring.subscriptions[{i}].endpoint"
        if sub.protocol == "https" and not sub.endpoint.startswith("https://"):
            raise _fail(file, key, f"{sub.endpoint!r}: an https subscription needs an https:// URL")
        if sub.protocol.startswith("email") and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", sub.endpoint):
            raise _fail(file, key, f"{sub.endpoint!r} is not an e-mail address")
        if sub.protocol in ("sqs", "lambda") and not sub.endpoint.startswith("arn:"):
            raise _fail(file, key, f"{sub.endpoint!r}: an {sub.protocol} subscription needs an ARN")
