"""The events stage: RDS event subscriptions (issue 17), ours by their tags."""

from __future__ import annotations

from .. import tags as tagging
from ..engine import Context
from .common import Doomed, gone, owned

STAGE = "events"


def find(ctx: Context) -> list[Doomed]:
    rds = ctx.client("rds")
    out = []
    for sub in rds.paginate("describe_event_subscriptions", "EventSubscriptionsList"):
        arn, name = sub["EventSubscriptionArn"], sub["CustSubscriptionId"]
        if owned(ctx, tagging.from_list(rds.list_tags_for_resource(ResourceName=arn).get("TagList"))):
            out.append(Doomed(STAGE, "rds-event-subscription", name, arn, 0,
                              lambda n=name: gone(lambda: rds.delete_event_subscription(SubscriptionName=n), "SubscriptionNotFound") and None))
    return out
