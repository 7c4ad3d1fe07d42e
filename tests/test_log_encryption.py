"""Issue 17 item 3: every log group of the project encrypted with the logs
key, whose policy admits CloudWatch Logs for this environment's groups only;
a group found without the key is associated with it (live), said (sandbox)."""

from __future__ import annotations

from fablink_ops.engine import SKIP, UPDATE
from fablink_ops.resources import kit, kms_key, logs_key

from .conftest import make_ctx
from .test_edge import live_ctx

REGION = "ap-northeast-2"
ACCOUNT = "853963783084"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_the_logs_key_admits_cloudwatch_logs_for_our_groups_only(cfg):
    """AWS's statement for logs.<region>.amazonaws.com, its encryption-context
    condition naming this environment's groups (tests/test_network.py: the key
    in AWS carries this policy and the flow log group uses it)."""
    policy = logs_key.key_policy(make_ctx(cfg))
    [admin, logs_statement] = policy["Statement"]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert logs_statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs_statement["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    prefix = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
    assert logs_statement["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": [prefix + g for g in (
        "/aws/vpc/fablink-prod/flow-logs", "/aws/eks/fablink-cluster-prod/cluster", "/aws/rds/cluster/fablink-prod-aurora/postgresql",
        "/aws/apigateway/fablink-prod-api/access", "API-Gateway-Execution-Logs_*/prod", "aws-waf-logs-fablink-prod-api")]}}


def _unencrypted(name: str) -> dict:
    return {"logGroupName": name, "arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*", "retentionInDays": 90}


def test_a_group_without_the_key_is_associated_live_and_said_in_the_sandbox(aws, cfg):
    """EKS or RDS made the group before us (or someone removed the key)."""
    name = "/aws/eks/fablink-cluster-prod/cluster"
    output = kms_key.output_key("alias/fablink-prod-logs", REGION)
    ctx, stubs = live_ctx(cfg, "logs")
    ctx.set_output(output, KEY_ARN)
    change = kit.log_group_change(ctx, "eks", name, _unencrypted(name), own_tags=False)
    assert change.action == UPDATE and [(d.attribute, d.before, d.after) for d in change.diffs] == [("kms key", None, "alias/fablink-prod-logs")]
    stubs["logs"].add_response("associate_kms_key", {}, {"logGroupName": name, "kmsKeyId": KEY_ARN})
    with stubs["logs"]:
        change.run()
    stubs["logs"].assert_no_pending_responses()

    sandbox = make_ctx(cfg)
    sandbox.set_output(output, KEY_ARN)
    skipped = kit.log_group_change(sandbox, "eks", name, _unencrypted(name), own_tags=False)
    assert skipped.action == SKIP and "moto 5.2 has no AssociateKmsKey" in skipped.note
