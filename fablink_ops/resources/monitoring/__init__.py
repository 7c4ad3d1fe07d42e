"""The monitoring stage: alarm topics, alarms, the SLO dashboard, log retention.

Design doc: Monitoring and logging; Alerts; Performance targets (SLA).

    topics.py     KMS key (customer managed: CloudWatch must be able to use
                  it), SNS topics critical and warning, optional subscriptions
    alarms.py     the Alerts (thresholds and windows from config), each linking
                  its runbook page; the Aurora connection-failure metric filter
    dashboard.py  the SLO dashboard
    logs.py       90-day retention on every log group of the project

Discovery: three reads for the key, one per topic, one for all alarms, one for
the metric filter, one for the dashboard, one for the log groups (nine), plus
one per topic that has subscriptions configured.
"""

from __future__ import annotations

from ...engine import Change, Context
from .. import kit
from . import alarms, dashboard, logs, topics
from .common import NAME, Found, MonitoringNames

__all__ = ["NAME", "plan"]


PARTS = (topics, alarms, dashboard, logs)


def discover(ctx: Context, names: MonitoringNames) -> Found:
    return kit.discover_parts(ctx, names, Found(), PARTS)


def plan(ctx: Context) -> list[Change]:
    names = MonitoringNames(ctx.cfg)
    found = discover(ctx, names)
    return (
        topics.plan(ctx, names, found)
        + logs.plan(ctx, names, found)
        + alarms.plan(ctx, names, found)
        + dashboard.plan(ctx, names, found)
    )

