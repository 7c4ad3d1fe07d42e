"""The discovery reads the stages share (resources/shared.py): a no-op plan of
the whole design reads each resource type once, and the tag index, which is
eventually consistent, never makes the plan claim drift that is not there."""

from __future__ import annotations

from collections import Counter

import boto3
import pytest

from fablink_ops.stages import select_stages
from fablink_ops.engine import Context
from fablink_ops.resources import shared

from .conftest import make_ctx
from .test_eks import _moto_env

REGION = "ap-northeast-2"
from .util import pending, plan, provision

ALL = tuple(select_stages(None))


def _per_resource(cfg) -> Counter:
    """The reads AWS offers only one resource at a time, and how many."""
    keys = 6  # eks secrets, aurora, dynamodb, monitoring, backup (its vault), logs (issue 17)
    return Counter({
        "kms:GetKeyPolicy": 2,  # the keys with a policy of their own: the alarm topics', the logs key
        "dynamodb:DescribeTable": len(cfg.dynamodb.tables),
        "dynamodb:DescribeContinuousBackups": len(cfg.dynamodb.tables),
        "dynamodb:DescribeTimeToLive": len(cfg.dynamodb.tables),
        "kms:DescribeKey": keys,
        "kms:GetKeyRotationStatus": keys,
        "eks:DescribeNodegroup": len(cfg.network.zones),
        "ec2:DescribeVpcAttribute": 2,  # enableDnsSupport, enableDnsHostnames
        "sns:GetTopicAttributes": 2,  # the alarm topics
        # moto's tag index has no RDS subnet or parameter groups, nor event subscriptions (4); AWS's has
        "rds:ListTagsForResource": 2 + len(cfg.monitoring.rds_events),
    })


@pytest.fixture
def everything(monkeypatch, cfg):
    from moto import mock_aws

    _moto_env(monkeypatch)  # the AWS managed policies the EKS roles attach
    with mock_aws():
        provision(cfg, ALL)
        yield


def _calls(ctx: Context) -> Counter:
    return Counter(ctx.target.meter.calls)


def test_a_no_op_plan_of_the_whole_design_reads_each_type_once(cfg, everything, no_random_faults):
    """Every stage together converges (a second plan changes nothing), and its
    discovery reads each type once, except where AWS has no list or batch read."""
    ctx, changes = plan(cfg, ALL)
    # "skipped": what the sandbox cannot do (EKS add-ons on moto), said plainly
    assert [c.key for c in changes if c.action not in ("no change", "skipped")] == []
    calls = _calls(ctx)
    assert ctx.target.meter.writes == 0
    per_resource = _per_resource(cfg)
    repeated = {op: n for op, n in calls.items() if n > 1 and op not in per_resource}
    assert repeated == {}, repeated
    assert {op: calls[op] for op in per_resource} == dict(per_resource)
    # the shared reads: one each for every stage together
    for op in ("logs:DescribeLogGroups", "iam:GetAccountAuthorizationDetails", "resourcegroupstaggingapi:GetResources"):
        assert calls[op] == 1, op
    # tags come from the index, not one call per resource
    assert not {"dynamodb:ListTagsOfResource", "kms:ListResourceTags", "logs:ListTagsLogGroup", "iam:GetRole"} & set(calls)
    # 42 types once + 35 per resource (README: Speed), and since issue 17: DescribeEventSubscriptions,
    # ListBackupVaults, ListBackupPlans, GetBackupPlan, the vault key's DescribeKey and rotation (6), plus
    # in the sandbox only 4 x rds:ListTagsForResource (event subscriptions) and 1 x backup:ListTags,
    # which moto's tag index lacks; since issue 17 items 3, 4, 10: the logs key (DescribeKey, rotation,
    # GetKeyPolicy), the web ACL's GetLoggingConfiguration, the usage plan's GetUsagePlanKeys (5)
    assert sum(calls.values()) <= 93, calls


def _params_of(operation: str, seen: list):
    def hook(model, params, **_):
        if model.name == operation:
            seen.append(params)

    return ("before-call", hook)


def test_log_groups_are_listed_with_their_retention(cfg, everything):
    """DescribeLogGroups with logGroupNamePattern answers names only, no
    retention (moto ignores the parameter, so only the request shows it):
    the shared read must not filter that way."""
    seen: list = []
    plan(cfg, ALL, hooks=[_params_of("DescribeLogGroups", seen)])
    assert len(seen) == 1
    body = seen[0]["body"].decode()
    assert "logGroupNamePattern" not in body and "logGroupNamePrefix" not in body


def _index_rewrite(rewrite):
    """An after-call hook that edits the tag index's answer (a stale index)."""

    def hook(model, parsed, **_):
        if model.name == "GetResources":
            parsed["ResourceTagMappingList"] = rewrite(parsed["ResourceTagMappingList"])

    return ("after-call", hook)


def test_a_lagging_tag_index_costs_reads_not_spurious_tag_updates(aws, cfg):
    """Right after a create the index may not list a resource yet: each one
    missing is read itself, and the plan stays a no-op."""
    provision(cfg, ("dynamodb",))
    ctx, changes = plan(cfg, ("dynamodb",), hooks=[_index_rewrite(lambda items: [])])
    assert pending(changes) == []
    calls = _calls(ctx)
    assert calls["dynamodb:ListTagsOfResource"] == len(cfg.dynamodb.tables)
    assert calls["kms:ListResourceTags"] == 1


def test_an_index_showing_a_tag_missing_is_checked_before_claiming_drift(aws, cfg):
    provision(cfg, ("dynamodb",))
    victim = cfg.dynamodb.tables[0].name

    def drop_owner(items):
        for item in items:
            if item["ResourceARN"].endswith(f"table/{victim}"):
                item["Tags"] = [t for t in item["Tags"] if t["Key"] != "Owner"]
        return items

    ctx, changes = plan(cfg, ("dynamodb",), hooks=[_index_rewrite(drop_owner)])
    assert pending(changes) == []
    assert _calls(ctx)["dynamodb:ListTagsOfResource"] == 1  # that table only


def test_real_tag_drift_is_shown_and_corrected(aws, cfg):
    provision(cfg, ("dynamodb",))
    ddb = boto3.client("dynamodb", region_name=REGION)
    arn = ddb.describe_table(TableName=cfg.dynamodb.tables[0].name)["Table"]["TableArn"]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["Owner", "Project"])  # Project: it drops out of the filtered index
    _, changes = plan(cfg, ("dynamodb",))
    [drift] = pending(changes)
    assert drift.name == cfg.dynamodb.tables[0].name
    assert {d.attribute for d in drift.diffs} >= {"tag Owner", "tag Project"}
    provision(cfg, ("dynamodb",), adopt=True)  # an ownership tag gone: taken back explicitly
    assert pending(plan(cfg, ("dynamodb",))[1]) == []


def test_shared_reads_are_read_afresh_once_a_run_writes(aws, cfg):
    ctx = make_ctx(cfg)
    assert shared.log_groups(ctx) == {}
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName="made-meanwhile")
    assert shared.log_groups(ctx) == {}  # planning: one read, shared
    ctx.writing = True  # as apply sets it
    assert "made-meanwhile" in shared.log_groups(ctx)
    assert _calls(ctx)["logs:DescribeLogGroups"] == 2
