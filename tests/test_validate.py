"""Request validation: the model constraints botocore skips refuse the request before it is sent."""

from __future__ import annotations

import pytest

from fablink_ops.target import Target
from fablink_ops.validate import RequestInvalid, RequestValidator
from tests.conftest import FAST_RETRY, boto_session

REGION = "ap-northeast-2"


@pytest.fixture
def target(aws):
    return Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY)


def test_a_pattern_violation_names_operation_parameter_and_rule_and_nothing_is_sent(target):
    wafv2 = target.client("wafv2")
    with pytest.raises(RequestInvalid) as err:
        wafv2.create_web_acl(
            Name="acl",
            Scope="REGIONAL",
            DefaultAction={"Allow": {}},
            Description="FabLink API (managed)",  # parentheses: AWS refuses, moto would not
            VisibilityConfig={"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"},
        )
    text = str(err.value)
    assert "wafv2:CreateWebACL" in text and "CreateWebACL.Description" in text and "pattern" in text
    assert target.meter.calls == {}  # refused before the call: nothing reached moto
    assert wafv2.list_web_acls(Scope="REGIONAL")["WebACLs"] == []


def test_enum_max_length_and_range_in_nested_lists_and_maps(target):
    ec2 = target.client("ec2")
    with pytest.raises(RequestInvalid, match=r"CreateVpc.InstanceTenancy='shared' is not one of"):
        ec2.create_vpc(CidrBlock="10.0.0.0/16", InstanceTenancy="shared")
    logs = target.client("logs")
    with pytest.raises(RequestInvalid, match=r"CreateLogGroup.tags<key> has 129 characters, more than the maximum 128"):
        logs.create_log_group(logGroupName="g", tags={"k" * 129: "v"})
    dynamodb = target.client("dynamodb")
    with pytest.raises(RequestInvalid, match=r"Tags\[0\].Value has 257 characters"):
        dynamodb.tag_resource(ResourceArn="arn:aws:dynamodb:ap-northeast-2:853963783084:table/t", Tags=[{"Key": "k", "Value": "v" * 257}])
    with pytest.raises(RequestInvalid, match=r"ScheduleKeyDeletion.PendingWindowInDays=400 is above the maximum 365"):
        target.client("kms").schedule_key_deletion(KeyId="k", PendingWindowInDays=400)
    with pytest.raises(RequestInvalid, match=r"tags<key>='\(x\)' does not match the pattern"):  # \p{L}: the regex module
        logs.create_log_group(logGroupName="g", tags={"(x)": "v"})


def test_a_valid_request_passes(target):
    target.client("ec2").create_vpc(CidrBlock="10.0.0.0/16", InstanceTenancy="default")
    assert target.validator is not None and target.validator.checked == 1


def test_a_pattern_python_cannot_compile_is_skipped_and_counted_never_a_crash():
    class Shape:
        type_name = "string"
        enum: list[str] = []
        metadata = {"pattern": r"^[a-z]++(?<name>x)\Q(\E$"}  # Java-only syntax: \Q..\E quoting

    validator = RequestValidator()
    problems: list[str] = []
    validator._check(Shape(), "anything", "Op.Name", problems)
    assert problems == [] and validator.skipped_patterns == {Shape.metadata["pattern"]}


def test_a_sensitive_value_is_never_shown(target):
    secrets = target.client("secretsmanager")
    with pytest.raises(RequestInvalid) as err:
        secrets.create_secret(Name="s", SecretString="p" * 70000)
    assert "ppp" not in str(err.value) and "CreateSecret.SecretString" in str(err.value)
