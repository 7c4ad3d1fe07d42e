"""The fidelity layer in the sandbox's server: any client pointed at the
sandbox (the aws CLI, a script) meets AWS's answers, not only the tool.

One server for the module (it takes a second or two to start); each test
talks to it as a foreign client would: plain boto3, no retries, so what the
server answers is what the test sees.
"""

from __future__ import annotations

import json
import urllib.request
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from fablink_ops import sandbox
from fablink_ops.moto_server import CONTROL_PATH

REGION = "ap-northeast-2"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FABLINK_SANDBOX_DIR", str(tmp_path_factory.mktemp("sandbox")))
        info, _ = sandbox.ensure_running("853963783084", say=lambda text: None)
        try:
            # the directory, for a test's own ensure_running (the test's env has a directory of its own)
            yield SimpleNamespace(endpoint_url=info.endpoint_url, port=info.port, state_dir=str(sandbox.state_dir()))
        finally:
            sandbox.stop()


def _client(info, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=info.endpoint_url, aws_access_key_id="cli",
                        aws_secret_access_key="cli", config=Config(retries={"total_max_attempts": 1}))


def _control(info, settings: dict | None = None) -> dict:
    data = json.dumps(settings).encode() if settings is not None else None
    request = urllib.request.Request(info.endpoint_url + CONTROL_PATH, data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _new_table(ddb, name: str) -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])


def test_a_foreign_client_meets_the_not_found_window_and_the_switch_gives_plain_moto(server):
    _control(server, {"FABLINK_FIDELITY_5XX": "0"})
    ddb = _client(server, "dynamodb")
    _new_table(ddb, "cli-table")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ddb.describe_table(TableName="cli-table")
    assert ddb.describe_table(TableName="cli-table")["Table"]["TableStatus"] == "ACTIVE"
    assert _control(server)["fired"]["dynamodb-table-not-found-after-create"] >= 1

    assert _control(server, {"FABLINK_FIDELITY": "off"})["on"] is False
    _new_table(ddb, "cli-table-off")
    assert ddb.describe_table(TableName="cli-table-off")["Table"]["TableStatus"] == "ACTIVE"
    assert _control(server, {})["on"] is True  # absent settings are the defaults: on


def test_each_command_sends_its_own_settings(server, monkeypatch):
    """The server outlives commands; the settings are the command's (sandbox.ensure_running sends them)."""
    monkeypatch.setenv("FABLINK_SANDBOX_DIR", server.state_dir)
    monkeypatch.setenv("FABLINK_FIDELITY_5XX", "0.2")
    monkeypatch.setenv("FABLINK_FIDELITY_SEED", "3")
    monkeypatch.setenv("FABLINK_FIDELITY_LATENCY", "600")
    info, started = sandbox.ensure_running("853963783084", say=lambda text: None)
    assert not started and info.port == server.port
    status = _control(server)
    assert (status["error_rate"], status["seed"], status["latency_scale"]) == (0.2, 3, 600)
    _control(server, {"FABLINK_FIDELITY_5XX": "0"})


def test_server_errors_and_dropped_connections_reach_any_client(server):
    _control(server, {"FABLINK_FIDELITY_5XX": "1"})
    ec2 = _client(server, "ec2")
    seen = set()
    try:
        for _ in range(12):
            try:
                ec2.describe_vpcs()
                seen.add("answered")
            except ConnectionClosedError:
                seen.add("dropped")  # the socket closed with no answer
            except ClientError as exc:
                seen.add(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    finally:
        _control(server, {"FABLINK_FIDELITY_5XX": "0"})
    assert "answered" not in seen and "dropped" in seen and seen & {500, 503}
    ec2.describe_vpcs()  # and the server serves on


def test_sequential_writes_on_one_api_never_conflict(server):
    """AWS's concurrent-modification conflict needs a race: one call after another never meets it."""
    _control(server, {"FABLINK_FIDELITY_5XX": "0"})
    apigw = _client(server, "apigateway")
    api = apigw.create_rest_api(name="cli-api")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    for part in ("a", "b", "c", "d"):
        apigw.create_resource(restApiId=api, parentId=root, pathPart=part)
    assert len(apigw.get_resources(restApiId=api)["items"]) == 5


def test_what_eks_reports_comes_from_the_server_too(server):
    """A rule that acts in moto on its own (EKS's cluster security group, made
    by the server's in-process helper client) works in the server's process."""
    _control(server, {"FABLINK_FIDELITY_5XX": "0"})
    ec2, iam, eks = _client(server, "ec2"), _client(server, "iam"), _client(server, "eks")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.7.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)]
    role = iam.create_role(RoleName="cli-eks", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
    for _ in range(2):  # the role is not assumable by EKS at once (IAM propagation)
        with pytest.raises(ClientError, match="could not be assumed"):
            eks.create_cluster(name="cli-cluster", roleArn=role["Role"]["Arn"], resourcesVpcConfig={"subnetIds": subnets})
    eks.create_cluster(name="cli-cluster", roleArn=role["Role"]["Arn"], resourcesVpcConfig={"subnetIds": subnets})
    group = eks.describe_cluster(name="cli-cluster")["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["VpcId"] == vpc


def test_a_reset_of_moto_is_a_reset_of_the_layer(server):
    """After moto's /moto-api/reset nothing the layer remembered exists any
    more (creates, EKS update tokens, forced conflicts already given): it
    forgets them, and a table made again under an old name is new again."""
    _control(server, {"FABLINK_FIDELITY_5XX": "0"})
    ddb = _client(server, "dynamodb")
    _new_table(ddb, "cli-reset")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ddb.describe_table(TableName="cli-reset")
    urllib.request.urlopen(urllib.request.Request(server.endpoint_url + "/moto-api/reset", method="POST"), timeout=10)
    assert _control(server)["fired"] == {}
    _new_table(ddb, "cli-reset")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        ddb.describe_table(TableName="cli-reset")
