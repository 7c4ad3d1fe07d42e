"""Alarms, metric filters, the dashboard, the alarm topics and their key.

Alarms and topics carry our tags. Two kinds carry none, so they are ours
through something that does: a metric filter is deleted when it has the name
of one of our alarms and sits in one of our log groups (the monitoring stage
names each filter after the alarm that watches it); CloudWatch dashboards take
no tags at all, so a dashboard is deleted when its body names this
environment's EKS cluster or Aurora cluster (another environment's does not).
"""

from __future__ import annotations

import json

from .. import tags as tagging
from ..engine import Context
from . import kms, logs
from .common import Doomed, gone, owned

STAGE = "monitoring"


def find(ctx: Context) -> list[Doomed]:
    cw = ctx.client("cloudwatch")
    alarms = [a for a in cw.paginate("describe_alarms", "MetricAlarms")
              if owned(ctx, tagging.from_list(cw.list_tags_for_resource(ResourceARN=a["AlarmArn"]).get("Tags")))]
    out = [Doomed(STAGE, "alarm", a["AlarmName"], a["AlarmArn"], 0, lambda n=a["AlarmName"]: cw.delete_alarms(AlarmNames=[n]) and None)
           for a in alarms]
    out += _metric_filters(ctx, {a["AlarmName"] for a in alarms})
    out += _dashboards(ctx)
    sns = ctx.client("sns")
    for t in sns.paginate("list_topics", "Topics"):
        arn = t["TopicArn"]
        if owned(ctx, tagging.from_list(sns.list_tags_for_resource(ResourceArn=arn).get("Tags"))):
            out.append(Doomed(STAGE, "sns-topic", arn.rsplit(":", 1)[-1], arn, 1,
                              lambda arn=arn: gone(lambda: sns.delete_topic(TopicArn=arn), "NotFound") and None))
    return out + kms.keys(ctx, STAGE, 2)


def _metric_filters(ctx: Context, alarm_names: set[str]) -> list[Doomed]:
    client = ctx.client("logs")
    out = []
    for group in {d.id for s in ("network", "eks", "aurora", "edge", STAGE) for d in logs.log_groups(ctx, s, 0)}:
        for f in client.paginate("describe_metric_filters", "metricFilters", logGroupName=group):
            if f["filterName"] in alarm_names:
                out.append(Doomed(STAGE, "metric-filter", f["filterName"], f"{group}:{f['filterName']}", 0,
                                  lambda g=group, n=f["filterName"]: gone(lambda: client.delete_metric_filter(
                                      logGroupName=g, filterName=n), "ResourceNotFoundException") and None))
    return out


def _dashboards(ctx: Context) -> list[Doomed]:
    cw = ctx.client("cloudwatch")
    markers = (f'"{ctx.cfg.project.cluster_name}"', f'"{ctx.cfg.aurora.cluster_identifier}"')
    out = []
    for d in cw.paginate("list_dashboards", "DashboardEntries"):
        name = d["DashboardName"]
        body = json.dumps(json.loads(cw.get_dashboard(DashboardName=name)["DashboardBody"] or "{}"))
        if any(m in body for m in markers):
            out.append(Doomed(STAGE, "dashboard", name, name, 0, lambda name=name: gone(
                lambda: cw.delete_dashboards(DashboardNames=[name]), "ResourceNotFound") and None))
    return out
