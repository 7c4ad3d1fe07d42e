"""Names and the discovery snapshot shared by the monitoring modules.

The monitoring stage watches what the other stages build, by the names the
config gives them (cluster, API, Aurora cluster, DynamoDB tables): it imports
none of their modules and can be built before them (its alarms then wait in
INSUFFICIENT_DATA until metrics arrive).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import ALARM_TOPICS, Config
from ...engine import change_key
from .. import kit, kms_key

NAME = "monitoring"
# Marks the alarms this tool made, so one dropped from the config shows as
# unmanaged instead of disappearing from view.
MARKER = "(fablink-ops monitoring)"


@dataclass(frozen=True)
class MonitoringNames:
    cfg: Config

    @property
    def prefix(self) -> str:
        return self.cfg.project.prefix

    @property
    def key_alias(self) -> str:
        return self.cfg.monitoring.kms_key_alias

    def topic(self, which: str) -> str:
        return f"{self.prefix}-alarms-{which}"

    def topic_arn(self, which: str) -> str:
        p = self.cfg.project
        return f"arn:aws:sns:{p.region}:{p.account_id}:{self.topic(which)}"

    @property
    def topics(self) -> tuple[str, ...]:
        return ALARM_TOPICS

    def alarm_arn(self, name: str) -> str:
        p = self.cfg.project
        return f"arn:aws:cloudwatch:{p.region}:{p.account_id}:alarm:{name}"

    @property
    def aurora_log_group(self) -> str:
        # Where RDS exports an Aurora PostgreSQL cluster's log:
        # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.CloudWatch.html
        return f"/aws/rds/cluster/{self.cfg.monitoring.aurora_cluster}/postgresql"

    @property
    def connection_filter(self) -> str:
        return f"{self.prefix}-db-connection-failures"

    @property
    def connection_metric(self) -> str:
        return "ConnectionFailures"

    @property
    def dashboard(self) -> str:
        return self.cfg.monitoring.dashboard_name

    # change keys
    @property
    def k_key(self) -> str:
        return change_key("kms-key", self.key_alias)

    def k_topic(self, which: str) -> str:
        return change_key("sns-topic", self.topic(which))

    @property
    def k_aurora_logs(self) -> str:
        return change_key("log-group", self.aurora_log_group)

    @property
    def k_filter(self) -> str:
        return change_key("metric-filter", self.connection_filter)


@dataclass
class Found:
    key: kms_key.FoundKey | None = None
    topics: dict[str, dict] = field(default_factory=dict)  # which -> attributes
    subscriptions: dict[str, list[dict]] = field(default_factory=dict)  # which -> subscriptions
    alarms: dict[str, dict] = field(default_factory=dict)  # by name
    dashboard: dict | None = None  # the parsed body
    metric_filters: dict[str, dict] = field(default_factory=dict)
    log_groups: dict[str, dict] = field(default_factory=dict)


_KIT = kit.StageKit(NAME)
change, maybe_update, tags = _KIT.change, _KIT.maybe_update, _KIT.tags
