"""The alarm topics (critical, warning), their KMS key and subscriptions.

Design doc: Alerts, Notification Channels ("SNS -> Slack", "PagerDuty
(Critical alerts)", "Email (Non-critical)"); Security ("encryption settings").

Why a customer managed key and not the AWS managed alias/aws/sns: CloudWatch
publishes alarm notifications as the cloudwatch.amazonaws.com service, which
must be allowed kms:GenerateDataKey* and kms:Decrypt on the topic's key. The
AWS managed key's policy cannot be changed to allow that, so alarms would
silently fail to publish to a topic encrypted with it.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html (encryption)
https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ...engine import CREATE, NOOP, UNMANAGED, UPDATE, Change, Context, Diff
from ...target import error_code
from ... import tags as tagging
from .. import kit, kms_key, shared
from .common import NAME, Found, MonitoringNames, change, maybe_update, tags


def discover(ctx: Context, names: MonitoringNames, found: Found) -> None:
    """The key (kms_key.py: DescribeKey, rotation, policy; its alias and tags
    from shared reads), one read per topic, one per topic with subscriptions."""
    sns = ctx.client("sns")
    found.key = kms_key.discover(ctx, key_spec(ctx, names), ctx.cfg.project.region)
    wanted_subs = {s.topic for s in ctx.cfg.monitoring.subscriptions}
    for which in names.topics:
        arn = names.topic_arn(which)
        try:
            found.topics[which] = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        except ClientError as exc:
            if error_code(exc) != "NotFound":
                raise
            continue
        if which in wanted_subs:
            found.subscriptions[which] = sns.paginate("list_subscriptions_by_topic", "Subscriptions", TopicArn=arn)


def plan(ctx: Context, names: MonitoringNames, found: Found) -> list[Change]:
    changes = [kms_key.change(ctx, key_spec(ctx, names), found.key)]
    changes += [_topic(ctx, names, found, which) for which in names.topics]
    changes += _subscriptions(ctx, names, found)
    return changes


# ----- the KMS key


def key_policy(ctx: Context) -> dict:
    account = ctx.cfg.project.account_id
    return {
        "Version": "2012-10-17",
        "Statement": [
            kms_key.account_administers(account, ctx.cfg.project.region),
            {
                # CloudWatch alarms publish to the encrypted topics.
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
            {
                # RDS event subscriptions (rds_events.py) publish to them too:
                # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Subscribing.html
                # No aws:SourceAccount condition: AWS's example for RDS events
                # has none and whether RDS sends the key on its KMS calls is
                # not documented; a condition it does not meet would drop
                # every notification silently. The topics' own policy already
                # admits only this account's publishers.
                "Sid": "RdsEventsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.rds.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ],
    }


def key_spec(ctx: Context, names: MonitoringNames) -> kms_key.KeySpec:
    return kms_key.KeySpec(
        NAME, names.key_alias, "Encrypts the FabLink alarm topics (fablink-ops)", tags(ctx.cfg, names.key_alias),
        policy=key_policy(ctx), policy_label="account + CloudWatch alarms + RDS events",
    )


# ----- the topics


def _topic(ctx: Context, names: MonitoringNames, found: Found, which: str) -> Change:
    sns = ctx.client("sns")
    name = names.topic(which)
    arn = names.topic_arn(which)
    alias = names.key_alias
    attrs = found.topics.get(which)
    if attrs is None:

        def create() -> str:
            # CreateTopic is idempotent for the same name, attributes and tags.
            return sns.create_topic(
                Name=name, Attributes={"KmsMasterKeyId": alias, "DisplayName": f"FabLink {which}"},
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags(ctx.cfg, name).items())],
            )["TopicArn"]

        return change("sns-topic", name, CREATE, diffs=[Diff("encryption", None, alias)], needs=(names.k_key,), run=create)
    if attrs.get("KmsMasterKeyId") != alias:
        return change(
            "sns-topic", name, UPDATE, diffs=[Diff("encryption", attrs.get("KmsMasterKeyId"), alias)], needs=(names.k_key,),
            resource_id=arn, run=kit.sequence(lambda: sns.set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=alias)),
        )
    want = tags(ctx.cfg, name)
    current = shared.tags_of(ctx, arn, want, lambda: tagging.from_list(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")))
    diffs, steps = kit.tag_drift(current, want, lambda todo: sns.tag_resource(ResourceArn=arn, Tags=tagging.to_list(todo)))
    return maybe_update("sns-topic", name, arn, diffs, steps, needs=(names.k_key,))


def _subscriptions(ctx: Context, names: MonitoringNames, found: Found) -> list[Change]:
    sns = ctx.client("sns")
    changes = []
    for which in names.topics:
        wanted = [s for s in ctx.cfg.monitoring.subscriptions if s.topic == which]
        current = found.subscriptions.get(which, [])
        for sub in wanted:
            name = f"{names.topic(which)} {sub.protocol}:{_shown(sub.endpoint)}"
            match = next((c for c in current if c.get("Protocol") == sub.protocol and c.get("Endpoint") == sub.endpoint), None)
            if match:
                pending = match.get("SubscriptionArn") == "PendingConfirmation"
                changes.append(change("sns-subscription", name, NOOP, resource_id=match.get("SubscriptionArn", ""),
                                      note="waiting for the endpoint to confirm" if pending else ""))
                continue

            def subscribe(s=sub, w=which) -> str:
                # Subscribe is idempotent for the same topic, protocol and endpoint.
                return sns.subscribe(TopicArn=names.topic_arn(w), Protocol=s.protocol, Endpoint=s.endpoint, ReturnSubscriptionArn=True)["SubscriptionArn"]

            note = "the endpoint must confirm (e-mail: a link to click)" if sub.protocol.startswith(("email", "https")) else ""
            changes.append(change("sns-subscription", name, CREATE, needs=(names.k_topic(which),), run=subscribe, note=note))
        configured = {(s.protocol, s.endpoint) for s in wanted}
        for extra in current:
            if (extra.get("Protocol"), extra.get("Endpoint")) not in configured:
                changes.append(change("sns-subscription", f"{names.topic(which)} {extra.get('Protocol')}:{_shown(extra.get('Endpoint', ''))}",
                                      UNMANAGED, resource_id=extra.get("SubscriptionArn", ""), note="not in the config; left alone"))
    return changes


def _shown(endpoint: str) -> str:
    # PagerDuty and Slack URLs carry their integration key: never shown whole.
    if endpoint.startswith("https://"):
        host = endpoint.split("/")[2]
        return f"https://{host}/…"
    return endpoint
