"""The events stage: RDS event subscriptions, Aurora's own word that the cluster failed over,
failed, is in maintenance, changed its configuration or runs low on storage,
sent to the alarm topics ([[monitoring.rds_events]]).

Design doc: Alerts; Aurora "Auto Failover: Enabled" (a failover nobody hears
about hides a failing instance). One subscription per (source type, topic):
fablink-prod-rds-cluster-critical, fablink-prod-rds-instance-warning, ...

Sources: the cluster (monitoring.aurora_cluster) and the aurora stage's
instances (aurora.instances), by identifier; targets: the monitoring stage's
topics. RDS refuses a subscription whose source or topic does not exist
(SourceNotFound, SNSTopicArnNotFound), hence a stage of its own that requires
aurora and monitoring: in one `provision` the engine orders the creates;
alone, the stage needs both to exist first.
Never without source ids: a subscription without them covers every cluster
(or instance) of the account, backup.verify's temporaries included.

The topics' KMS key lets events.rds.amazonaws.com use it (topics.key_policy).
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Subscribing.html

Drift: categories, topic and the enabled flag are corrected with
ModifyEventSubscription, source ids with Add/RemoveSourceIdentifier...;
moto 5.2 implements neither, so that path is tested with botocore's Stubber.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..config import RdsEventsConfig
from ..engine import CREATE, UNMANAGED, Change, Context, Diff
from ..errors import OpsError
from ..target import error_code
from . import kit, shared
from .monitoring.common import MonitoringNames

NAME = "events"
KIND = "rds-event-subscription"
SHORT = {"db-cluster": "cluster", "db-instance": "instance"}


def name(names: MonitoringNames, events: RdsEventsConfig) -> str:
    return f"{names.prefix}-rds-{SHORT[events.source_type]}-{events.topic}"


def sources(ctx: Context, events: RdsEventsConfig) -> list[str]:
    if events.source_type == "db-cluster":
        return [ctx.cfg.monitoring.aurora_cluster]
    return [i.identifier for i in ctx.cfg.aurora.instances]


def source_changes(ctx: Context, events: RdsEventsConfig) -> tuple[str, ...]:
    """The aurora stage's change keys for these sources (names as its common.py makes them)."""
    kind = "db-cluster" if events.source_type == "db-cluster" else "db-instance"
    return tuple(f"{kind}:{s}" for s in sources(ctx, events))


def change(kind: str, name: str, action: str, **kwargs: Any) -> Change:
    return kit.change(NAME, kind, name, action, **kwargs)


def tags(cfg, name: str) -> dict[str, str]:
    return kit.desired_tags(cfg, NAME, name)


def discover(ctx: Context) -> dict[str, dict]:
    """One paginated DescribeEventSubscriptions for all of them, by name."""
    if not ctx.cfg.monitoring.rds_events:
        return {}
    return {s["CustSubscriptionId"]: s for s in ctx.client("rds").paginate("describe_event_subscriptions", "EventSubscriptionsList")}


def plan(ctx: Context) -> list[Change]:
    names = MonitoringNames(ctx.cfg)
    found = discover(ctx)
    changes = [_subscription(ctx, names, found, events) for events in ctx.cfg.monitoring.rds_events]
    ours = {name(names, e) for e in ctx.cfg.monitoring.rds_events}
    prefix = f"{names.prefix}-rds-"
    for sub_name, sub in sorted(found.items()):
        if sub_name.startswith(prefix) and sub_name not in ours:
            changes.append(change(KIND, sub_name, UNMANAGED, resource_id=sub.get("EventSubscriptionArn", ""),
                                  note="not in the config ([[monitoring.rds_events]]); left alone"))
    return changes


def _subscription(ctx: Context, names: MonitoringNames, found: dict[str, dict], events: RdsEventsConfig) -> Change:
    sub_name = name(names, events)
    current = found.get(sub_name)
    needs = (names.k_topic(events.topic), *source_changes(ctx, events))
    if current is None:
        diffs = [Diff("events", None, f"{events.source_type} {', '.join(events.categories)} -> {names.topic(events.topic)}")]
        return change(KIND, sub_name, CREATE, diffs=diffs, needs=needs, run=lambda: _create(ctx, names, events, sub_name))
    diffs, steps = _drift(ctx, names, events, current)
    arn = current.get("EventSubscriptionArn", "")
    want = tags(ctx.cfg, sub_name)
    rds = ctx.client("rds")
    now = shared.tags_of(ctx, arn, want, lambda: tagging.from_list(rds.list_tags_for_resource(ResourceName=arn).get("TagList")))
    tag_diffs, tag_steps = kit.tag_drift(now, want, lambda todo: rds.add_tags_to_resource(ResourceName=arn, Tags=tagging.to_list(todo)))
    return kit.maybe_update(NAME, KIND, sub_name, arn, diffs + tag_diffs, steps + tag_steps, needs)


def _create(ctx: Context, names: MonitoringNames, events: RdsEventsConfig, sub_name: str) -> str:
    rds = ctx.client("rds")
    try:
        return rds.create_event_subscription(
            SubscriptionName=sub_name, SnsTopicArn=names.topic_arn(events.topic), SourceType=events.source_type,
            SourceIds=sources(ctx, events), EventCategories=list(events.categories), Enabled=True,
            Tags=tagging.to_list(tags(ctx.cfg, sub_name)),
        )["EventSubscription"]["EventSubscriptionArn"]
    except ClientError as exc:
        code = error_code(exc)
        if code == "SubscriptionAlreadyExist":  # an earlier run's answer was lost: the next plan compares it
            return sub_name
        if code == "SourceNotFound":
            raise OpsError(f"RDS event subscription {sub_name}: {', '.join(sources(ctx, events))} not found; "
                           "run invoke provision --stage aurora first (or provision everything at once)") from exc
        raise


def _drift(ctx: Context, names: MonitoringNames, events: RdsEventsConfig, current: dict[str, Any]) -> tuple[list[Diff], list]:
    rds, sub_name = ctx.client("rds"), current["CustSubscriptionId"]
    diffs: list[Diff] = []
    steps: list = []
    topic = names.topic_arn(events.topic)
    have_categories = sorted(current.get("EventCategoriesList") or [])
    modify: dict[str, Any] = {}
    if current.get("SnsTopicArn") != topic:
        diffs.append(Diff("topic", current.get("SnsTopicArn"), topic))
        modify["SnsTopicArn"] = topic
    if current.get("SourceType") != events.source_type:
        diffs.append(Diff("source type", current.get("SourceType"), events.source_type))
        modify["SourceType"] = events.source_type
    if have_categories != sorted(events.categories):
        diffs.append(Diff("categories", have_categories, sorted(events.categories)))
        modify["EventCategories"] = list(events.categories)
    if not current.get("Enabled"):
        diffs.append(Diff("enabled", False, True))
        modify["Enabled"] = True
    if modify:
        steps.append(lambda: rds.modify_event_subscription(SubscriptionName=sub_name, **modify))
    have, want = set(current.get("SourceIdsList") or []), set(sources(ctx, events))
    if have != want:
        diffs.append(Diff("sources", sorted(have), sorted(want)))
        for add in sorted(want - have):
            steps.append(lambda s=add: rds.add_source_identifier_to_subscription(SubscriptionName=sub_name, SourceIdentifier=s))
        for drop in sorted(have - want):
            steps.append(lambda s=drop: rds.remove_source_identifier_from_subscription(SubscriptionName=sub_name, SourceIdentifier=s))
    return diffs, steps
