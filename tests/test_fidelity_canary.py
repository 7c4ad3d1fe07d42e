"""The fidelity layer's API Gateway canary settings (moto 5.2 has none):
created by CreateDeployment or UpdateStage, overridden stage variables,
percentage changes, promotion's copies, removal, and the refusal to repoint
a stage under a canary. A tiny REST API made directly: no stage provision."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fablink_ops.fidelity import canary

from .conftest import boto_session, make_target

REGION = "ap-northeast-2"


@pytest.fixture
def api(aws, cfg):
    """(the tool's apigateway client through the layer, api id, the stage's deployment id, cfg)."""
    raw = boto_session(REGION).client("apigateway", region_name=REGION)
    api_id = raw.create_rest_api(name="t")["id"]
    root = raw.get_resources(restApiId=api_id)["items"][0]["id"]
    raw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    raw.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="HTTP_PROXY", integrationHttpMethod="ANY",
                        uri="http://${stageVariables.backendHost}/")
    base = raw.create_deployment(restApiId=api_id, description="base")["id"]
    raw.create_stage(restApiId=api_id, stageName="prod", deploymentId=base, variables={"liveColour": "blue"})
    return make_target(cfg).client("apigateway"), api_id, base, cfg


def test_a_canary_deployment_is_the_stages_canary_not_its_deployment(api):
    apigw, api_id, base, cfg = api
    made = apigw.create_deployment(restApiId=api_id, stageName="prod", description="release v2", canarySettings={
        "percentTraffic": 10.0, "stageVariableOverrides": {"liveColour": "green"}, "useStageCache": False})
    stage = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert stage["deploymentId"] == base  # moto alone would have repointed the stage
    assert stage["canarySettings"] == {"deploymentId": made["id"], "percentTraffic": 10.0,
                                       "stageVariableOverrides": {"liveColour": "green"}, "useStageCache": False}
    assert canary.HIDDEN not in stage["variables"]
    [listed] = apigw.get_stages(restApiId=api_id)["item"]
    assert listed["canarySettings"]["percentTraffic"] == 10.0
    # the canary outlives the run: a new target (another process) reads it from moto
    again = make_target(cfg).client("apigateway")
    assert again.get_stage(restApiId=api_id, stageName="prod")["canarySettings"]["deploymentId"] == made["id"]


def test_percentage_then_promotion_then_removal(api, fidelity):
    apigw, api_id, base, cfg = api
    with pytest.raises(ClientError, match="BadRequestException"):
        apigw.create_deployment(restApiId=api_id, stageName="nope", canarySettings={"percentTraffic": 10.0})
    # added on the stage by an update: its deployment is the stage's at first
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "50"},
        {"op": "replace", "path": "/canarySettings/stageVariableOverrides/liveColour", "value": "green"}])
    stage = apigw.get_stage(restApiId=api_id, stageName="prod")
    assert (stage["canarySettings"]["deploymentId"], stage["canarySettings"]["percentTraffic"]) == (base, 50.0)
    with pytest.raises(ClientError, match="BadRequestException"):
        apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "150"}])
    other = apigw.create_deployment(restApiId=api_id, description="other")["id"]
    with pytest.raises(ClientError, match="canary"):
        apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[{"op": "replace", "path": "/deploymentId", "value": other}])
    # promotion as AWS documents it: copy the overrides and the deployment, remove the canary
    stage = apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "copy", "from": "/canarySettings/stageVariableOverrides", "path": "/variables"},
        {"op": "copy", "from": "/canarySettings/deploymentId", "path": "/deploymentId"},
        {"op": "remove", "path": "/canarySettings"}])
    assert "canarySettings" not in stage and stage["variables"] == {"liveColour": "green"}
    assert "canarySettings" not in apigw.get_stage(restApiId=api_id, stageName="prod")
    fired = fidelity.fired
    assert fired["apigateway-canary-stage-update"] >= 3 and fired["apigateway-canary-deployment"] >= 1
