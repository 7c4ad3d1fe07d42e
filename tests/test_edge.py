"""The edge stage on moto: API Gateway -> VPC link -> NLB, WAF, rate limits, domain."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from fablink_ops import cli
from fablink_ops.stages import plan_stages
from fablink_ops.config import load_config
from fablink_ops.engine import CREATE, REPLACE, UPDATE, WAIT, Context, apply
from fablink_ops.errors import ConfigError, GuardError, OpsError
from fablink_ops.resources import edge, kms_key
from fablink_ops.resources.edge import api as edge_api
from fablink_ops.resources.edge import nlb as edge_nlb
from fablink_ops.resources.edge import domain as edge_domain
from fablink_ops.resources.edge import stage as edge_stage
from fablink_ops.resources.edge.common import DEFINITION_VARIABLE, DEPLOYMENT_PREFIX, EdgeNames, Found, Out
from fablink_ops.resources.network import Names as NetworkNames
from fablink_ops.target import Client, Target

from .conftest import CONFIG, FAST_RETRY, make_ctx, boto_session
from .faults import CrashAtWrite, SimulatedCrash, Throttle, WriteCounter, at_every_write
from .state import dump, edge_inventory
from .util import edited_config, logs_key, plan_refused, provision, provisioned

REGION = "ap-northeast-2"
NLB_ARN = "arn:aws:elasticloadbalancing:ap-northeast-2:853963783084:loadbalancer/net/fablink-prod-nlb/50dc6c495c0c9188"
# Writes of a clean edge provision (concurrency 1), checked by test_write_count
# so the crash parametrisation below stays complete.
# 31 writes (green's target group and listener included), and the fidelity
# layer's answers a serial run meets: the WAF association twice (the stage not
# yet visible to WAF). A serial run races nothing, so no concurrent
# modification (test_concurrent_modification_... forces those).
# Issue 17: +1 SetSecurityGroups with PrivateLink inbound rules off (item 8);
# +3 the WAF log group (create, retention) and its logging configuration (item 4);
# +2 a second client key and its attachment (item 10).
EDGE_WRITES = 39


def client(service: str):
    return boto_session(REGION).client(service, region_name=REGION)


def _serial(cfg):
    """Concurrency 1: the k-th write is the same call on every run."""
    return dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1))


def fast_network(cfg) -> None:
    """The VPC and subnets the edge stage builds on, made directly.

    The network stage has its own tests; the crash tests here only need its
    outputs, and building the whole network 30 times would dominate the run."""
    ec2 = client("ec2")
    names = NetworkNames(cfg)

    def tag(kind: str, name: str) -> list[dict]:
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]

    vpc = ec2.create_vpc(CidrBlock=cfg.network.vpc_cidr, TagSpecifications=tag("vpc", names.vpc))["Vpc"]["VpcId"]
    for zone in cfg.network.zones:
        for tier, cidr in (("public", zone.public_cidr), ("private", zone.private_cidr)):
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone.az, TagSpecifications=tag("subnet", names.subnet(tier, zone)))
    # The NLB's security group (issue 17 item 8) and the logs key, which the edge's log groups are encrypted with.
    ec2.create_security_group(GroupName=names.security_group("nlb"), Description="nlb", VpcId=vpc,
                              TagSpecifications=tag("security-group", names.security_group("nlb")))
    logs_key(cfg)


def _tag_name(item: dict) -> str:
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == "Name"), "")


def run_edge(cfg, hooks=()):
    """Plan and apply the edge stage alone, with the network's outputs set."""
    ctx = make_ctx(cfg, hooks)
    ec2 = client("ec2")
    ctx.set_output("vpc", ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [cfg.network.vpc_name]}])["Vpcs"][0]["VpcId"])
    for subnet in ec2.describe_subnets()["Subnets"]:
        if _tag_name(subnet):
            ctx.set_output(f"subnet:{_tag_name(subnet)}", subnet["SubnetId"])
    nlb_group = NetworkNames(cfg).security_group("nlb")
    ctx.set_output("sg:nlb", ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [nlb_group]}])["SecurityGroups"][0]["GroupId"])
    key = client("kms").describe_key(KeyId=cfg.logging.kms_key_alias)["KeyMetadata"]["Arn"]
    ctx.set_output(kms_key.output_key(cfg.logging.kms_key_alias, REGION), key)
    changes = edge.plan(ctx)
    done = apply(changes, ctx, cfg.engine.concurrency)
    return ctx, changes, done


_REFERENCE: dict[str, dict] = {}


def reference(cfg) -> dict:
    """The inventory of a clean run (once per test process)."""
    if "edge" not in _REFERENCE:
        with mock_aws():
            fast_network(cfg)
            run_edge(cfg)
            _REFERENCE["edge"] = edge_inventory(REGION)
    return _REFERENCE["edge"]


# --------------------------------------------------------------------------
# the state after provisioning


def test_state_after_provisioning(cfg, aws):
    """One provision (network, then edge), every line of the issue checked."""
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    check_nlb_target_group_and_listener()
    check_rest_api_vpc_link_and_keyed_proxy_methods()
    check_stage_logging_metrics_tracing_and_account_role()
    check_usage_plan_rate_limit_and_api_key()
    check_certificate_domain_and_mapping()
    check_waf_web_acl_and_association()


def check_nlb_target_group_and_listener():
    elb = client("elbv2")
    ec2 = client("ec2")
    lb = elb.describe_load_balancers(Names=["fablink-prod-nlb"])["LoadBalancers"][0]
    assert (lb["Type"], lb["Scheme"]) == ("network", "internet-facing")
    subnet_names = {s["SubnetId"]: _tag_name(s) for s in ec2.describe_subnets()["Subnets"]}
    assert sorted(subnet_names[z["SubnetId"]] for z in lb["AvailabilityZones"]) == ["fablink-prod-public-2a", "fablink-prod-public-2b", "fablink-prod-public-2d"]
    # issue 17 item 8: the NLB's own group admits nothing; the app tier admits the NLB's group, not the VPC
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    assert lb["SecurityGroups"] == [groups["fablink-prod-nlb"]["GroupId"]] and groups["fablink-prod-nlb"]["IpPermissions"] == []
    if "fablink-prod-app" in groups:  # built by the network stage (not by the crash tests' fast network)
        [rule] = groups["fablink-prod-app"]["IpPermissions"]
        assert rule["IpRanges"] == [] and [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [groups["fablink-prod-nlb"]["GroupId"]]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["load_balancing.cross_zone.enabled"] == "true"
    assert attrs["deletion_protection.enabled"] == "true"

    tg = elb.describe_target_groups(Names=["fablink-prod-backend"])["TargetGroups"][0]
    assert (tg["TargetType"], tg["Protocol"], tg["Port"]) == ("ip", "TCP", 8000)
    assert tg["HealthCheckEnabled"] is True
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"], tg["HealthCheckPort"]) == ("HTTP", "/ready/", "traffic-port")
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (15, 5)
    assert (tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]) == (3, 2)

    green = elb.describe_target_groups(Names=["fablink-prod-backend-green"])["TargetGroups"][0]
    assert (green["TargetType"], green["Protocol"], green["Port"], green["HealthCheckPath"]) == ("ip", "TCP", 8000, "/ready/")
    listeners = {lst["Port"]: lst for lst in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    assert sorted(listeners) == [80, 8080]  # blue's, green's
    for port, group in ((80, tg), (8080, green)):
        assert listeners[port]["Protocol"] == "TCP"
        assert [(a["Type"], a["TargetGroupArn"]) for a in listeners[port]["DefaultActions"]] == [("forward", group["TargetGroupArn"])]
    tags = {d["ResourceArn"]: {t["Key"]: t["Value"] for t in d["Tags"]} for d in elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"], tg["TargetGroupArn"]])["TagDescriptions"]}
    assert tags[lb["LoadBalancerArn"]]["Stage"] == "edge" and tags[lb["LoadBalancerArn"]]["Name"] == "fablink-prod-nlb"
    assert tags[tg["TargetGroupArn"]]["ManagedBy"] == "fablink-ops"


def check_rest_api_vpc_link_and_keyed_proxy_methods():
    apigw = client("apigateway")
    elb = client("elbv2")
    lb = elb.describe_load_balancers(Names=["fablink-prod-nlb"])["LoadBalancers"][0]
    [link] = apigw.get_vpc_links()["items"]
    assert (link["name"], link["targetArns"], link["status"]) == ("fablink-prod-vpc-link", [lb["LoadBalancerArn"]], "AVAILABLE")
    [api] = apigw.get_rest_apis()["items"]
    assert api["name"] == "fablink-prod-api"
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["tags"]["Stage"] == "edge"
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"]}
    assert set(resources) == {"/", "/{proxy+}"}
    # The host and port are the stage's: backendHost names the live colour's listener.
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert (stage["variables"]["liveColour"], stage["variables"]["backendHost"]) == ("blue", f"{lb['DNSName']}:80")
    for path, uri in (("/", "http://${stageVariables.backendHost}/"), ("/{proxy+}", "http://${stageVariables.backendHost}/{proxy}")):
        method = resources[path]["resourceMethods"]["ANY"]
        assert method["apiKeyRequired"] is True
        assert method["authorizationType"] == "NONE"
        integration = method["methodIntegration"]
        assert (integration["type"], integration["httpMethod"], integration["connectionType"]) == ("HTTP_PROXY", "ANY", "VPC_LINK")
        assert integration["uri"] == uri
    assert resources["/{proxy+}"]["resourceMethods"]["ANY"]["requestParameters"] == {"method.request.path.proxy": True}
    assert resources["/{proxy+}"]["resourceMethods"]["ANY"]["methodIntegration"]["requestParameters"] == {
        "integration.request.path.proxy": "method.request.path.proxy"}


def check_stage_logging_metrics_tracing_and_account_role():
    apigw = client("apigateway")
    logs = client("logs")
    iam = client("iam")
    [api] = apigw.get_rest_apis()["items"]
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["tracingEnabled"] is True
    settings = stage["methodSettings"]["*/*"]
    assert (settings["loggingLevel"], settings["metricsEnabled"], settings["dataTraceEnabled"]) == ("INFO", True, False)
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    access = groups["/aws/apigateway/fablink-prod-api/access"]
    assert access["retentionInDays"] == 90
    assert stage["accessLogSettings"]["destinationArn"] == access["arn"].removesuffix(":*")
    fields = json.loads(stage["accessLogSettings"]["format"])  # JSON: one object per request
    assert fields["requestId"] == "$context.requestId" and fields["status"] == "$context.status"
    assert groups[f"API-Gateway-Execution-Logs_{api['id']}/prod"]["retentionInDays"] == 90
    deployment = apigw.get_deployment(restApiId=api["id"], deploymentId=stage["deploymentId"])
    assert deployment["description"] == DEPLOYMENT_PREFIX + stage["variables"][DEFINITION_VARIABLE]

    role_arn = apigw.get_account()["cloudwatchRoleArn"]
    assert role_arn.endswith(":role/fablink-prod-apigateway-cloudwatch")
    role = iam.get_role(RoleName="fablink-prod-apigateway-cloudwatch")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    # confused deputy (issue 17 item 6): only on behalf of this account
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "853963783084"}}
    # every log group of the edge encrypted with the logs key (issue 17 item 3)
    key = client("kms").describe_key(KeyId="alias/fablink-prod-logs")["KeyMetadata"]["Arn"]
    assert {n: g.get("kmsKeyId") for n, g in groups.items() if "flow-logs" not in n} == {
        "/aws/apigateway/fablink-prod-api/access": key, f"API-Gateway-Execution-Logs_{api['id']}/prod": key, "aws-waf-logs-fablink-prod-api": key}
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="push-to-cloudwatch-logs")["PolicyDocument"]
    assert "logs:PutLogEvents" in policy["Statement"][0]["Action"]


def check_usage_plan_rate_limit_and_api_key():
    apigw = client("apigateway")
    [api] = apigw.get_rest_apis()["items"]
    [plan] = apigw.get_usage_plans()["items"]
    assert plan["name"] == "fablink-prod-standard"
    assert plan["apiStages"] == [{"apiId": api["id"], "stage": "prod"}]
    # 1000 requests per minute, per second, never above the stated figure.
    assert plan["throttle"]["rateLimit"] <= 1000 / 60
    assert plan["throttle"]["rateLimit"] == pytest.approx(1000 / 60, abs=0.001)
    assert plan["throttle"]["burstLimit"] == 50
    # one key per client, each with its own 1000/min under the plan (issue 17 item 10)
    keys = {k["name"]: k for k in apigw.get_api_keys(includeValues=True)["items"]}
    assert sorted(keys) == ["fablink-prod-mobile", "fablink-prod-web"] and all(k["enabled"] for k in keys.values())
    assert sorted(k["id"] for k in apigw.get_usage_plan_keys(usagePlanId=plan["id"])["items"]) == sorted(k["id"] for k in keys.values())
    # the whole API: the stage's throttle at [sla] peak_rps
    settings = apigw.get_stage(restApiId=api["id"], stageName="prod")["methodSettings"]["*/*"]
    assert (settings["throttlingRateLimit"], settings["throttlingBurstLimit"]) == (5000.0, 5000)


def test_api_key_value_is_never_printed(cfg, aws):
    provisioned(cfg, ("network",))
    ctx = make_ctx(cfg)
    changes = plan_stages(ctx, ["edge"])
    done = apply(changes, ctx, cfg.engine.concurrency)
    keys = client("apigateway").get_api_keys(includeValues=True)["items"]
    shown = json.dumps([c.to_json() for c in changes] + [dict(c.to_json(), detail=d) for c, d in done] + [ctx.outputs], default=str)
    assert len(keys) == 2 and not any(k["value"] in shown for k in keys)
    details = " ".join(d for c, d in done if c.kind == "api-key")
    assert all(f"aws apigateway get-api-key --api-key {k['id']} --include-value" in details for k in keys)
    again = plan_stages(make_ctx(cfg), ["edge"])
    assert not any(k["value"] in json.dumps([c.to_json() for c in again], default=str) for k in keys)
    assert "--include-value" in next(c.note for c in again if c.kind == "api-key")


def check_certificate_domain_and_mapping():
    apigw = client("apigateway")
    acm = client("acm")
    [cert] = acm.list_certificates()["CertificateSummaryList"]
    detail = acm.describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
    assert detail["DomainName"] == "api.fablink.com"
    assert [o["ValidationMethod"] for o in detail["DomainValidationOptions"]] == ["DNS"]
    [api] = apigw.get_rest_apis()["items"]
    domain = apigw.get_domain_name(domainName="api.fablink.com")
    assert domain["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert domain["securityPolicy"] == "TLS_1_2"
    assert domain["regionalCertificateArn"] == cert["CertificateArn"]
    [mapping] = apigw.get_base_path_mappings(domainName="api.fablink.com")["items"]
    assert (mapping["basePath"], mapping["restApiId"], mapping["stage"]) == ("(none)", api["id"], "prod")


def test_certificate_plan_shows_the_validation_record(cfg, aws):
    """Before the domain exists, a pending certificate's CNAME is in the plan."""
    provisioned(cfg, ("network",))
    acm = client("acm")
    arn = acm.request_certificate(DomainName="api.fablink.com", ValidationMethod="DNS")["CertificateArn"]
    record = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"][0]["ResourceRecord"]
    ctx = make_ctx(cfg)
    changes = plan_stages(ctx, ["edge"])
    cert = next(c for c in changes if c.kind == "certificate")
    assert cert.resource_id == arn
    assert f"{record['Name']} CNAME {record['Value']}" in cert.note
    assert "sandbox" in cert.note


def check_waf_web_acl_and_association():
    waf = client("wafv2")
    apigw = client("apigateway")
    [summary] = waf.list_web_acls(Scope="REGIONAL")["WebACLs"]
    acl = waf.get_web_acl(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])["WebACL"]
    assert acl["Name"] == "fablink-prod-api-waf"
    assert acl["DefaultAction"] == {"Allow": {}}
    rules = {r["Name"]: r for r in acl["Rules"]}
    rate = rules["rate-limit-per-ip"]["Statement"]["RateBasedStatement"]
    assert (rate["Limit"], rate["AggregateKeyType"], rate["EvaluationWindowSec"]) == (2000, "IP", 300)
    assert rules["rate-limit-per-ip"]["Action"] == {"Block": {}}
    for group in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"):
        rule = rules[f"AWS-{group}"]
        assert rule["Statement"]["ManagedRuleGroupStatement"] == {"VendorName": "AWS", "Name": group}
        assert rule["OverrideAction"] == {"None": {}}
    assert all(r["VisibilityConfig"]["CloudWatchMetricsEnabled"] and r["VisibilityConfig"]["SampledRequestsEnabled"] for r in acl["Rules"])
    assert sorted(r["Priority"] for r in acl["Rules"]) == [0, 1, 2, 3]
    [api] = apigw.get_rest_apis()["items"]
    stage_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api['id']}/stages/prod"
    assert waf.get_web_acl_for_resource(ResourceArn=stage_arn)["WebACL"]["ARN"] == acl["ARN"]
    # issue 17 item 4: every request logged to aws-waf-logs-<prefix>-api (90 days), credentials redacted
    logging = waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
    assert logging["LogDestinationConfigs"] == [f"arn:aws:logs:{REGION}:853963783084:log-group:aws-waf-logs-fablink-prod-api"]
    assert logging["RedactedFields"] == [{"SingleHeader": {"Name": "authorization"}}, {"SingleHeader": {"Name": "x-api-key"}}]
    [group] = client("logs").describe_log_groups(logGroupNamePrefix="aws-waf-logs-fablink-prod-api")["logGroups"]
    assert group["retentionInDays"] == 90


# --------------------------------------------------------------------------
# convergence


def test_reapply_makes_no_write_and_no_new_deployment(cfg, aws):
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    apigw = client("apigateway")
    [api] = apigw.get_rest_apis()["items"]
    before = apigw.get_deployments(restApiId=api["id"])["items"]
    ctx, changes = provision(cfg, ("network", "edge"))
    assert ctx.target.meter.writes == 0, ctx.target.meter.summary()
    assert [c for c in changes if c.action != "no change"] == []
    assert apigw.get_deployments(restApiId=api["id"])["items"] == before
    assert len(before) == 1


def test_method_put_back_by_hand_needs_no_new_deployment(cfg, aws):
    """A method changed by hand (never deployed) is put back; the deployed
    snapshot already matches it, so no deployment is made."""
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    apigw = client("apigateway")
    [api] = apigw.get_rest_apis()["items"]
    original = apigw.get_stage(restApiId=api["id"], stageName="prod")["deploymentId"]
    proxy = next(r for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/{proxy+}")
    apigw.delete_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY")
    apigw.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE", apiKeyRequired=False)
    ctx, changes = provision(cfg, ("network", "edge"))
    assert {c.key for c in changes if c.action != "no change"} == {"api-method:ANY /{proxy+}", "api-stage:prod"}
    method = apigw.get_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY")
    assert method["apiKeyRequired"] is True and method["methodIntegration"]["connectionType"] == "VPC_LINK"
    assert [d["id"] for d in apigw.get_deployments(restApiId=api["id"])["items"]] == [original]
    assert apigw.get_stage(restApiId=api["id"], stageName="prod")["deploymentId"] == original
    ctx, _ = provision(cfg, ("network", "edge"))
    assert ctx.target.meter.writes == 0
    # a method added by hand is shown and left alone
    apigw.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="OPTIONS", authorizationType="NONE")
    _, changes = provision(cfg, ("network", "edge"))
    assert [(c.key, c.action) for c in changes if c.kind == "api-method" and c.action != "no change"] == [("api-method:OPTIONS /{proxy+}", "unmanaged")]
    assert apigw.get_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="OPTIONS")


def test_definition_change_deploys_once(cfg, aws):
    """An integration changed by hand: corrected; the definition is then the
    deployed one again, so its deployment (found by description) is reused,
    never made twice."""
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    apigw = client("apigateway")
    [api] = apigw.get_rest_apis()["items"]
    original = apigw.get_stage(restApiId=api["id"], stageName="prod")["deploymentId"]
    proxy = next(r for r in apigw.get_resources(restApiId=api["id"])["items"] if r["path"] == "/{proxy+}")
    apigw.put_integration(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri="http://example.com/{proxy}")
    ctx, changes = provision(cfg, ("network", "edge"))
    assert {c.key for c in changes if c.action != "no change"} == {"api-method:ANY /{proxy+}", "api-stage:prod"}
    proxy = next(r for r in apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"] if r["path"] == "/{proxy+}")
    assert proxy["resourceMethods"]["ANY"]["methodIntegration"]["uri"] == "http://${stageVariables.backendHost}/{proxy}"
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["deploymentId"] == original
    deployed = apigw.get_deployment(restApiId=api["id"], deploymentId=stage["deploymentId"])
    assert deployed["description"] == DEPLOYMENT_PREFIX + stage["variables"][DEFINITION_VARIABLE]
    ctx, _ = provision(cfg, ("network", "edge"))
    assert ctx.target.meter.writes == 0
    assert len(apigw.get_deployments(restApiId=api["id"])["items"]) == 1


def test_colour_variables_are_the_runbooks_and_the_host_follows_the_listener(cfg, aws):
    """liveColour is never corrected (the release runbook owns it); backendHost
    follows the live colour's listener port; canary settings are left alone."""
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    apigw = client("apigateway")
    [api] = apigw.get_rest_apis()["items"]
    dns = client("elbv2").describe_load_balancers(Names=["fablink-prod-nlb"])["LoadBalancers"][0]["DNSName"]
    apigw.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/variables/liveColour", "value": "green"},
        {"op": "replace", "path": "/variables/greenImage", "value": "v7"}])
    moved = dataclasses.replace(cfg, edge=dataclasses.replace(cfg.edge, green_listener_port=9090))
    ctx, changes = provision(moved, ("network", "edge"))
    assert {c.key for c in changes if c.action != "no change"} == {"listener:fablink-prod-nlb:9090", "api-stage:prod"}
    variables = apigw.get_stage(restApiId=api["id"], stageName="prod")["variables"]
    assert (variables["liveColour"], variables["backendHost"], variables["greenImage"]) == ("green", f"{dns}:9090", "v7")
    assert len(apigw.get_deployments(restApiId=api["id"])["items"]) == 1  # no redeploy: the definition is the same
    ctx, _ = provision(moved, ("network", "edge"))
    assert ctx.target.meter.writes == 0


def test_drift_is_corrected(cfg, aws):
    provisioned(cfg, ("network",))
    provision(cfg, ("edge",))
    elb = client("elbv2")
    apigw = client("apigateway")
    logs = client("logs")
    lb = elb.describe_load_balancers(Names=["fablink-prod-nlb"])["LoadBalancers"][0]
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}])
    tg = elb.describe_target_groups(Names=["fablink-prod-backend"])["TargetGroups"][0]
    elb.modify_target_group(TargetGroupArn=tg["TargetGroupArn"], HealthCheckPath="/")
    [api] = apigw.get_rest_apis()["items"]
    apigw.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/tracingEnabled", "value": "false"},
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"},
    ])
    logs.put_retention_policy(logGroupName="/aws/apigateway/fablink-prod-api/access", retentionInDays=7)
    logs.untag_log_group(logGroupName="/aws/apigateway/fablink-prod-api/access", tags=["CostCenter"])
    iam, role = client("iam"), "fablink-prod-apigateway-cloudwatch"
    iam.update_assume_role_policy(RoleName=role, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}))
    iam.untag_role(RoleName=role, TagKeys=["Owner"])
    acm = client("acm")
    cert_arn = acm.list_certificates()["CertificateSummaryList"][0]["CertificateArn"]
    acm.remove_tags_from_certificate(CertificateArn=cert_arn, Tags=[{"Key": "Project", "Value": "fablink"}])
    # an ownership tag gone: the certificate is no longer provably ours, so
    # taking it back is explicit (issue 18's ownership guard)
    with pytest.raises(GuardError, match=r"certificate api.fablink.com \(no Project\)"):
        provision(cfg, ("network", "edge"))
    ctx, changes = provision(cfg, ("network", "edge"), adopt=True)
    updated = sorted(c.key for c in changes if c.action == "update")
    assert updated == ["api-stage:prod", "certificate:api.fablink.com", f"iam-role:{role}", "load-balancer:fablink-prod-nlb",
                       "log-group:/aws/apigateway/fablink-prod-api/access", "target-group:fablink-prod-backend"]
    assert {t["Key"] for t in acm.list_tags_for_certificate(CertificateArn=cert_arn)["Tags"]} >= {"Project", "ManagedBy"}
    group_change = next(c for c in changes if c.key == "log-group:/aws/apigateway/fablink-prod-api/access")
    assert {d.attribute for d in group_change.diffs} == {"retention days", "tag CostCenter"}
    role_change = next(c for c in changes if c.key == f"iam-role:{role}")
    assert {d.attribute for d in role_change.diffs} == {"trust policy", "tag Owner"}
    assert iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    stage_change = next(c for c in changes if c.key == "api-stage:prod")
    assert {d.attribute for d in stage_change.diffs} == {"tracingEnabled", "logging level"}  # no redeploy
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    assert attrs["deletion_protection.enabled"] == "true"
    assert elb.describe_target_groups(Names=["fablink-prod-backend"])["TargetGroups"][0]["HealthCheckPath"] == "/ready/"
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert stage["tracingEnabled"] is True and stage["methodSettings"]["*/*"]["loggingLevel"] == "INFO"
    assert len(apigw.get_deployments(restApiId=api["id"])["items"]) == 1
    ctx, _ = provision(cfg, ("network", "edge"))
    assert ctx.target.meter.writes == 0


def test_write_count(cfg, aws):
    """The crash parametrisation covers every write of a clean provision."""
    fast_network(cfg)
    counter = WriteCounter()
    run_edge(_serial(cfg), counter.hooks)
    assert len(counter.names) == EDGE_WRITES, counter.names


# A crash before write k leaves AWS as a crash after write k-1 does (only the
# unfinished change differs), so every write is crashed after its call (the
# answer lost: the harder case), plus once before the very first write.
@at_every_write(EDGE_WRITES)
def test_crash_at_every_write_then_rerun_converges(cfg, k, after):
    cfg = _serial(cfg)
    expected = reference(cfg)
    with mock_aws():
        fast_network(cfg)
        crash = CrashAtWrite(k, after=after)
        with pytest.raises(SimulatedCrash):
            run_edge(cfg, crash.hooks)
        run_edge(cfg)
        state = edge_inventory(REGION)
        assert state == expected, f"crash at {crash.crashed_on}:\n{dump(state)}"
        ctx, _, _ = run_edge(cfg)
        assert ctx.target.meter.writes == 0, f"crash at {crash.crashed_on}: {ctx.target.meter.summary()}"


def test_throttling_everywhere_still_converges(cfg):
    expected = reference(_serial(cfg))
    with mock_aws():
        fast_network(cfg)
        throttle = Throttle(every=3)
        run_edge(cfg, throttle.hooks)
        assert throttle.throttled > 10
        assert edge_inventory(REGION) == expected


# --------------------------------------------------------------------------
# bad config: one line, exit 2, no AWS call


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("requests_per_minute = 1000", "requests_per_minute = 0", "edge.rate_limit.requests_per_minute: must be greater than 0, got 0"),
        ("requests_per_minute = 1000", 'requests_per_minute = "1000"', "edge.rate_limit.requests_per_minute: expected an integer"),
        ('nlb_scheme = "internet-facing"', 'nlb_scheme = "public"', "edge.nlb_scheme: 'public' is not one of internet-facing, internal"),
        ("timeout_seconds = 5 ", "timeout_seconds = 20 ", "edge.health_check.timeout_seconds: 20s must be shorter than the interval (15s)"),
        ("target_port = 8000", "target_port = 9000", "edge.target_port: 9000 is not admitted by any network.security_groups ingress rule"),
        ("rate_window_seconds = 300", "rate_window_seconds = 900", "edge.waf.rate_window_seconds: 900 is not one of 60, 120, 300, 600"),
        ('"AWSManagedRulesCommonRuleSet",', '"CommonRuleSet",', "edge.waf.managed_rule_groups[1]: 'CommonRuleSet' is not an AWS managed rule group name"),
    ],
)
def test_bad_edge_config_is_one_line_exit_2_before_any_aws_call(tmp_path, capsys, monkeypatch, old, new, message):
    path = edited_config(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)
    lines = plan_refused(path, monkeypatch, capsys).strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0]


# --------------------------------------------------------------------------
# live-only paths (moto issues certificates and VPC links at once, never
# refuses a fresh role, lacks update_domain_name): botocore's Stubber


CERT_ARN = f"arn:aws:acm:{REGION}:853963783084:certificate/abc"
RECORD = {"Name": "_x.api.fablink.com.", "Type": "CNAME", "Value": "_y.acm-validations.aws."}


def live_ctx(cfg, *services: str):
    """A live-mode context whose clients answer from Stubbers (nothing is sent)."""
    target = Target("live", REGION, boto_session(REGION), retry=FAST_RETRY)
    stubs = {}
    for service in services:
        raw = boto_session(REGION).client(service, region_name=REGION)
        stubs[service] = Stubber(raw)
        target._clients[service] = Client(raw, target)
    return Context(cfg, target, sleep=lambda s: None), stubs


def _cert(status: str, record: bool = True) -> dict:
    option = {"DomainName": "api.fablink.com", "ValidationMethod": "DNS", **({"ResourceRecord": RECORD} if record else {})}
    return {"Certificate": {"CertificateArn": CERT_ARN, "DomainName": "api.fablink.com", "Status": status, "DomainValidationOptions": [option]}}


def test_live_certificate_prints_the_record_and_waits_for_issued(cfg):
    ctx, stubs = live_ctx(cfg, "acm")
    acm = stubs["acm"]
    acm.add_response("request_certificate", {"CertificateArn": CERT_ARN},
                     {"DomainName": "api.fablink.com", "ValidationMethod": "DNS", "IdempotencyToken": ANY, "Tags": ANY})
    acm.add_response("describe_certificate", _cert("PENDING_VALIDATION", record=False), {"CertificateArn": CERT_ARN})
    acm.add_response("describe_certificate", _cert("PENDING_VALIDATION"), {"CertificateArn": CERT_ARN})
    acm.add_response("describe_certificate", _cert("PENDING_VALIDATION"), {"CertificateArn": CERT_ARN})
    acm.add_response("describe_certificate", _cert("ISSUED"), {"CertificateArn": CERT_ARN})
    said = []
    ctx.reporter.info = said.append  # type: ignore[method-assign]
    change = edge_domain._certificate(ctx, EdgeNames(cfg), Found())
    assert change.action == CREATE and "sandbox" not in change.note
    with acm:
        assert change.run() == CERT_ARN
        acm.assert_no_pending_responses()
    assert said == [f"operator step: create the DNS record {RECORD['Name']} CNAME {RECORD['Value']} (validates the certificate of api.fablink.com)"]
    assert ctx.operator_steps == [said[0].removeprefix("operator step: ")]  # repeated at the end of provision


def test_live_certificate_failure_names_the_record(cfg):
    ctx, stubs = live_ctx(cfg, "acm")
    ctx.set_output(Out.CERTIFICATE_ARN, CERT_ARN)
    acm = stubs["acm"]
    acm.add_response("describe_certificate", _cert("PENDING_VALIDATION"), {"CertificateArn": CERT_ARN})
    failed = _cert("VALIDATION_TIMED_OUT")
    failed["Certificate"]["FailureReason"] = "NO_AVAILABLE_CONTACTS"
    acm.add_response("describe_certificate", failed, {"CertificateArn": CERT_ARN})
    with acm, pytest.raises(OpsError) as err:
        edge_domain._wait_issued(ctx, EdgeNames(cfg))
    assert "VALIDATION_TIMED_OUT: NO_AVAILABLE_CONTACTS" in err.value.message
    assert f"{RECORD['Name']} CNAME {RECORD['Value']}" in err.value.message and "re-run" in err.value.message


def test_live_pending_certificate_is_a_wait_with_the_record(cfg):
    ctx, stubs = live_ctx(cfg, "resourcegroupstaggingapi")
    # the shared tag index shows the certificate with all our tags: no tag read, no tag change
    tags = [{"Key": k, "Value": v} for k, v in edge.common.tags(cfg, "api.fablink.com").items()]
    stubs["resourcegroupstaggingapi"].add_response("get_resources", {"ResourceTagMappingList": [{"ResourceARN": CERT_ARN, "Tags": tags}]})
    found = Found(certificate=_cert("PENDING_VALIDATION")["Certificate"])
    with stubs["resourcegroupstaggingapi"]:
        change = edge_domain._certificate(ctx, EdgeNames(cfg), found)
    assert change.action == WAIT and change.run is not None and change.diffs == []
    assert f"{RECORD['Name']} CNAME {RECORD['Value']}" in change.note


def test_live_vpc_link_waits_for_available_and_fails_fast_with_the_reason(cfg):
    names = EdgeNames(cfg)
    ctx, stubs = live_ctx(cfg, "apigateway")
    ctx.set_output(Out.NLB_ARN, "arn:nlb")
    apigw = stubs["apigateway"]
    apigw.add_response("create_vpc_link", {"id": "vl1", "status": "PENDING"}, {"name": names.vpc_link, "description": ANY, "targetArns": ["arn:nlb"], "tags": ANY})
    apigw.add_response("get_vpc_link", {"id": "vl1", "status": "PENDING"}, {"vpcLinkId": "vl1"})
    apigw.add_response("get_vpc_link", {"id": "vl1", "status": "AVAILABLE"}, {"vpcLinkId": "vl1"})
    change = edge_api._vpc_link(ctx, names, Found())
    with apigw:
        assert change.run() == "vl1"
        apigw.assert_no_pending_responses()
    ctx, stubs = live_ctx(cfg, "apigateway")
    ctx.set_output(Out.VPC_LINK, "vl2")
    stubs["apigateway"].add_response("get_vpc_link", {"id": "vl2", "status": "FAILED", "statusMessage": "NLB ARN is malformed"}, {"vpcLinkId": "vl2"})
    with stubs["apigateway"], pytest.raises(OpsError) as err:
        edge_api._wait_link(ctx, names)
    assert "is FAILED: NLB ARN is malformed" in err.value.message


def test_live_account_role_waits_for_iam_propagation(cfg):
    ctx, stubs = live_ctx(cfg, "apigateway")
    role_arn = "arn:aws:iam::853963783084:role/fablink-prod-apigateway-cloudwatch"
    ctx.set_output(Out.APIGW_ROLE_ARN, role_arn)
    apigw = stubs["apigateway"]
    ops = {"patchOperations": [{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}]}
    apigw.add_client_error("update_account", "BadRequestException",
                           "The role ARN does not have required permissions set to API Gateway", expected_params=ops)
    apigw.add_response("update_account", {"cloudwatchRoleArn": role_arn}, ops)
    change = edge_stage._account(ctx, EdgeNames(cfg), Found())
    assert change.action == UPDATE
    with apigw:
        assert change.run() == role_arn
        apigw.assert_no_pending_responses()


def test_live_domain_drift_is_patched(cfg):
    ctx, stubs = live_ctx(cfg, "apigateway")
    ctx.set_output(Out.CERTIFICATE_ARN, CERT_ARN)
    found = Found(domain={"domainName": "api.fablink.com", "endpointConfiguration": {"types": ["REGIONAL"]}, "securityPolicy": "TLS_1_0",
                          "regionalCertificateArn": CERT_ARN, "regionalDomainName": "d-1.execute-api", "tags": edge.common.tags(cfg, "api.fablink.com")})
    stubs["apigateway"].add_response("update_domain_name", {"domainName": "api.fablink.com"},
                                     {"domainName": "api.fablink.com", "patchOperations": [{"op": "replace", "path": "/securityPolicy", "value": "TLS_1_2"}]})
    change = edge_domain._domain(ctx, EdgeNames(cfg), found)
    assert change.action == UPDATE and [(d.before, d.after) for d in change.diffs] == [("TLS_1_0", "TLS_1_2")]
    with stubs["apigateway"]:
        change.run()
        stubs["apigateway"].assert_no_pending_responses()


# --------------------------------------------------------------------------
# end to end on the sandbox (a moto server, as `invoke provision` uses it)


def test_full_provision_on_the_sandbox_twice(capsys):
    """The whole design through the CLI on the sandbox server, then again:
    the second run makes no write and no new deployment."""
    from fablink_ops import sandbox

    try:
        assert cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), json=True)) == 0
        first = json.loads(capsys.readouterr().out)
        assert first["result"] == "ok" and first["calls"]["writes"] > 0
        assert "edge" in first["stages"] and "monitoring" in first["stages"]
        # what only the operator can do is repeated at the end, not only mid-stream
        steps = first["operator_steps"]
        assert any(s.startswith("create the DNS record ") and "CNAME" in s for s in steps), steps
        assert any(s.startswith("point api.fablink.com at ") for s in steps), steps
        assert cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), json=True)) == 0
        second = json.loads(capsys.readouterr().out)
        assert second["result"] == "ok"
        assert second["calls"]["writes"] == 0, second["calls"]
        # "skipped": what the sandbox cannot do (EKS add-ons on moto), said plainly
        assert [c for c in second["changes"] if c["action"] not in ("no change", "skipped")] == []
        info = sandbox.running()
        apigw = boto_session(REGION).client("apigateway", region_name=REGION, endpoint_url=info.endpoint_url)
        [api] = apigw.get_rest_apis()["items"]
        assert len(apigw.get_deployments(restApiId=api["id"])["items"]) == 1
        key = apigw.get_api_keys(includeValues=True)["items"][0]["value"]
        assert key not in json.dumps(first) and key not in json.dumps(second)
    finally:
        cli.run(cli.cmd_sandbox_down, cli.Options(config=str(CONFIG), json=True))


# --------------------------------------------------------------------------
# AWS's answers moto does not give (the fidelity layer, tests/test_fidelity.py)


def test_concurrent_modification_and_waf_delay_are_waited_out_to_the_clean_state(cfg, fidelity):
    from fablink_ops.fidelity.rules import APIGW_FIRST_WRITE, WAF_STAGE

    expected = reference(cfg)  # in a moto of its own, maybe made now: the layer forgets it
    fidelity.forget()
    fidelity.windows[APIGW_FIRST_WRITE] = 1  # each create path meets a conflict, race or not
    with mock_aws():
        fast_network(cfg)
        ctx, _, _ = run_edge(cfg)
        fired = fidelity.fired
        assert (fired[APIGW_FIRST_WRITE], fired[WAF_STAGE]) == (4, 2)  # each path met its AWS answer
        # the proxy resource, the stage, the plan's key, the mapping: all there
        assert edge_inventory(REGION) == expected
        apigw, names = client("apigateway"), EdgeNames(cfg)
        plan_id = next(p["id"] for p in apigw.get_usage_plans()["items"] if p["name"] == names.usage_plan)
        assert len(apigw.get_usage_plan_keys(usagePlanId=plan_id)["items"]) == len(cfg.edge.rate_limit.clients)
        assert len(apigw.get_base_path_mappings(domainName=names.domain)["items"]) == 1


def test_a_conflict_that_is_not_the_resource_existing_fails_the_run(cfg, aws):
    """ConflictException is read as "a lost answer made it" only when a read
    finds it: otherwise the run fails, never reports success without it."""
    from botocore.awsrequest import AWSResponse

    def refuse_key(model, **_):
        if model.name != "CreateUsagePlanKey":
            return None
        return (AWSResponse("https://x.invalid", 409, {}, None),
                {"Error": {"Code": "ConflictException", "Message": "Usage plan is in use by another key operation"},
                 "ResponseMetadata": {"HTTPStatusCode": 409}})

    fast_network(cfg)
    with pytest.raises(OpsError, match="ConflictException"):
        run_edge(cfg, [("before-call", refuse_key)])


# --------------------------------------------------------------------------
# tags moto cannot write (issue 18): skipped in the sandbox, set on --live


def test_config_tag_change_on_what_moto_cannot_tag_is_skipped_in_the_sandbox_not_failed(cfg, aws):
    """moto's TagResource answers NotFound for REST APIs, API keys, usage
    plans and VPC links: a new tag in the config used to stop the sandbox's
    provision at the first of them. Now each says it skipped its tags, the
    rest (the stage's tags, which moto keeps) is corrected, and the re-plan
    has nothing left to create or update."""
    fast_network(cfg)
    run_edge(cfg)
    tagged = dataclasses.replace(cfg, tags={**cfg.tags, "Team": "platform"})
    ctx, changes, _ = run_edge(tagged)
    by_key = {(c.kind, c.name): c for c in changes}
    names = EdgeNames(cfg)
    api_keys = [("api-key", k) for k in names.api_keys]  # one a client
    assert api_keys
    for key in (("rest-api", names.api), *api_keys, ("usage-plan", names.usage_plan), ("vpc-link", names.vpc_link)):
        change = by_key[key]
        assert change.action == "skipped", (key, change.action)
        assert "tags skipped in the sandbox: moto's TagResource answers NotFound" in change.note
        assert ("tag Team", None, "platform") in [(d.attribute, d.before, d.after) for d in change.diffs]
    assert by_key[("api-stage", "prod")].action == UPDATE  # moto tags stages: corrected
    stage = client("apigateway").get_stage(restApiId=ctx.outputs[Out.REST_API], stageName="prod")
    assert stage["tags"]["Team"] == "platform"
    _, again, _ = run_edge(tagged)
    assert [c.key for c in again if c.action in (CREATE, UPDATE)] == []


def test_live_rest_api_tag_drift_is_tagged(cfg):
    ctx, stubs = live_ctx(cfg, "apigateway")
    want = edge.common.tags(cfg, "fablink-prod-api")
    current = {k: v for k, v in want.items() if k != "Stage"}
    found = Found(api={"id": "a1b2c3", "name": "fablink-prod-api", "endpointConfiguration": {"types": ["REGIONAL"]},
                       "apiKeySource": "HEADER", "tags": current})
    change = edge_api._rest_api(ctx, EdgeNames(cfg), found)
    assert change.action == UPDATE and change.note == ""
    stubs["apigateway"].add_response("tag_resource", {}, {"resourceArn": f"arn:aws:apigateway:{REGION}::/restapis/a1b2c3", "tags": {"Stage": "edge"}})
    with stubs["apigateway"]:
        change.run()
        stubs["apigateway"].assert_no_pending_responses()


def test_an_nlb_without_security_groups_is_replace_required_and_the_link_passes_as_privatelink(cfg, aws):
    """Issue 17 item 8: an NLB takes groups only at creation (never replaced
    silently); the group is set with PrivateLink inbound rules off (moto keeps
    no such setting: the request is checked)."""
    fast_network(cfg)
    subnets = [s["SubnetId"] for s in client("ec2").describe_subnets()["Subnets"] if "public" in _tag_name(s)]
    client("elbv2").create_load_balancer(Name="fablink-prod-nlb", Subnets=subnets, Scheme="internet-facing", Type="network",
                                         Tags=[{"Key": k, "Value": v} for k, v in cfg.base_tags("edge").items()])
    ctx = make_ctx(cfg)
    found = Found()
    edge_nlb.discover(ctx, EdgeNames(cfg), found)
    [lb] = [c for c in edge_nlb.plan(ctx, EdgeNames(cfg), found) if c.kind == "load-balancer"]
    assert lb.action == REPLACE and lb.run is None and "only at creation" in lb.note

    live, stubs = live_ctx(cfg, "elbv2")
    live.set_output(Out.NLB_ARN, NLB_ARN)
    live.set_output("sg:nlb", "sg-0123456789abcdef0")
    stubs["elbv2"].add_response("set_security_groups", {"SecurityGroupIds": ["sg-0123456789abcdef0"],
                                                        "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off"},
                                {"LoadBalancerArn": NLB_ARN, "SecurityGroups": ["sg-0123456789abcdef0"],
                                 "EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": "off"})
    with stubs["elbv2"]:
        edge_nlb._set_security_groups(live, EdgeNames(cfg))
    stubs["elbv2"].assert_no_pending_responses()
