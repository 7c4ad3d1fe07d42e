"""Retries (issue 14 item 5, issue 20 item 2): transient server and transport
errors are retried for reads and writes; a token-less create whose answer was
lost is not blindly retried: what it made is found and adopted."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from fablink_ops import adopt
from fablink_ops.target import NOT_SENT, THROTTLED, TRANSIENT, classify
from fablink_ops.resources import STAGE_NAMES as STAGE_ORDER

from .conftest import make_target
from .faults import LostAnswer, ServerErrors
from .util import plan, provision

REGION = "ap-northeast-2"


def error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize("code", ["ServiceUnavailableException", "ServiceUnavailable", "Unavailable", "InternalServerError",
                                  "InternalFailure", "ServiceFailure", "ServerException", "KMSInternalException",
                                  "WAFInternalErrorException", "InternalServiceFault", "InternalError"])
def test_server_error_codes_are_transient(code):
    assert classify(error(code)) == TRANSIENT


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_any_5xx_is_transient_whatever_its_code(status):
    assert classify(error("SomethingNew", status)) == TRANSIENT
    assert classify(error("ValidationException", 400)) is None


def test_transport_errors_sent_or_not():
    assert classify(ReadTimeoutError(endpoint_url="u")) == TRANSIENT  # may have been carried out
    assert classify(EndpointConnectionError(endpoint_url="u")) == NOT_SENT
    assert classify(ConnectTimeoutError(endpoint_url="u")) == NOT_SENT
    assert classify(error("Throttling")) == THROTTLED


def test_server_errors_on_reads_and_writes_are_retried(aws, cfg):
    """The 503s of issue 20 item 2: each answered twice, then carried out."""
    errors = ServerErrors({
        "DescribeVpcs": ("Unavailable", 503),
        "CreateVpc": ("InternalError", 500),
        "CreateRole": ("ServiceFailure", 500),
        "CreateTable": ("InternalServerError", 500),
        "CreateKey": ("KMSInternalException", 500),
        "DescribeTable": ("InternalServerError", 500),
    })
    provision(cfg, ("network", "dynamodb"), hooks=errors.hooks)
    assert {"DescribeVpcs", "CreateVpc", "CreateRole", "CreateTable", "DescribeTable", "CreateKey"} <= set(errors.answered)
    _, again = plan(cfg, ("network", "dynamodb"))
    assert all(c.action == "no change" for c in again)


def _everything(cfg):
    ec2 = boto3.client("ec2", region_name=REGION)
    apigw = boto3.client("apigateway", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    aliased = {a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a.get("TargetKeyId")}
    return {
        "vpcs": len(ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["fablink"]}])["Vpcs"]),
        "subnets": len(ec2.describe_subnets(Filters=[{"Name": "tag:Project", "Values": ["fablink"]}])["Subnets"]),
        "igws": len(ec2.describe_internet_gateways()["InternetGateways"]),
        "eips": len(ec2.describe_addresses()["Addresses"]),
        "keys without alias": len([k for k in kms.list_keys()["Keys"] if k["KeyId"] not in aliased]),
        "rest apis": len(apigw.get_rest_apis()["items"]),
        "vpc links": len(apigw.get_vpc_links()["items"]),
        "api keys": len(apigw.get_api_keys()["items"]),
        "usage plans": len(apigw.get_usage_plans()["items"]),
    }


ONE_OF_EACH = {"vpcs": 1, "subnets": 6, "igws": 1, "eips": 3, "keys without alias": 0, "rest apis": 1, "vpc links": 1,
               "api keys": 2, "usage plans": 1}  # a key per client (issue 17)


@pytest.mark.parametrize("how", ["timeout", "500"])
def test_a_token_less_create_whose_answer_is_lost_is_adopted_not_repeated(aws, cfg, how, monkeypatch):
    """Every token-less create carried out by AWS, its answer lost (issue 20:
    VPC x2, EIP x2, KMS keys without alias): one of each, adopted."""
    from .test_aurora import managed_policy_exists
    from .test_eks import _moto_env
    _moto_env(monkeypatch)  # the AWS managed policies the stages attach
    managed_policy_exists()
    lost = LostAnswer(tuple(op for _, op in adopt.FINDERS), how=how)
    provision(cfg, STAGE_ORDER, hooks=lost.hooks)
    assert set(lost.lost) == {op for _, op in adopt.FINDERS}
    assert _everything(cfg) == ONE_OF_EACH
    _, again = plan(cfg, STAGE_ORDER)
    assert [c for c in again if c.action in ("create", "update", "replace-required")] == []


def test_a_retried_call_carries_one_idempotency_token(aws, cfg):
    """botocore fills a missing token with a fresh uuid on each call: our
    retries would each carry another. The client fixes one for all attempts."""
    seen: list[str] = []
    lost = LostAnswer(("CreateRouteTable",), how="500")
    hooks = [*lost.hooks, ("before-parameter-build.ec2.CreateRouteTable", lambda params, **_: seen.append(params.get("ClientToken")))]
    ec2 = make_target(cfg, hooks=hooks).client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.create_route_table(VpcId=vpc)
    assert len(seen) == 2 and seen[0] and seen[0] == seen[1]
    # AWS then answers the retry with the first table (EC2 idempotency,
    # https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html);
    # moto ignores ClientToken on CreateRouteTable, so only the token is checked.


def test_two_matches_after_a_lost_answer_are_refused_not_guessed(aws, cfg):
    from fablink_ops.errors import AwsError
    ec2 = make_target(cfg).client("ec2")
    spec = [{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "x"}]}]
    for _ in range(2):
        boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=spec)
    with pytest.raises(AwsError, match="2 VPCs match x 10.8.0.0/16"):
        adopt.vpc(ec2, {"CidrBlock": "10.8.0.0/16", "TagSpecifications": spec})
