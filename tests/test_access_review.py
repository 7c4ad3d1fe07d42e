"""invoke access.review in-process on moto: seeded violations give exactly
their findings (check id + resource), a clean account gives none, the review
never writes, suppressions (active, expired, unused), --fail-on and exit
codes, the evidence, a collector that fails, throttling, and the live-only
paths (the root user's credential-report row, IAM Access Analyzer) through
botocore's Stubber."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends

from fablink_ops import cli
from fablink_ops.config import Suppression
from fablink_ops.engine import Context
from fablink_ops.runbooks import access
from fablink_ops.runbooks.access.checks import CHECKS, evaluate, Settings
from fablink_ops.runbooks.access.collect import PERMISSIONS
from fablink_ops.runbooks.access.collect import iam as iam_collector
from fablink_ops.runbooks.access.models import Inventory

from .conftest import CONFIG, make_target
from . import state
from .faults import Throttle
from .util import RunbookRun, load_stage_policies, provision, run_runbook, seeding

ACCOUNT = "853963783084"
REGION = "ap-northeast-2"
PARTNER = "111122223333"
OIDC = "oidc.eks.ap-northeast-2.amazonaws.com/id/5C5E0F6A1B2C3D4E5F60718293A4B5C6"
SEVERITY = {c.id: c.severity for c in CHECKS}


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # evidence goes to ./reports
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # never used here


def client(service: str):
    return state.client(service, REGION)  # cached: building a client parses its service model


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*") -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def arn(kind: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"


GOOD_PASSWORD_POLICY = dict(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True, RequireUppercaseCharacters=True,
                            RequireLowercaseCharacters=True, PasswordReusePrevention=24)


def good_password_policy() -> None:
    client("iam").update_account_password_policy(**GOOD_PASSWORD_POLICY)


def baseline() -> None:
    """What an operator sets up for the account once (not a stage of the design)."""
    good_password_policy()
    audit_baseline()


def audit_baseline(make=client, region: str = REGION, trail: dict | None = None) -> None:
    """The account's audit controls as an operator sets them up (account
    baseline, not a stage of the design): a multi-region trail with log-file
    validation and a KMS key, GuardDuty, AWS Config recording, Security Hub.
    ``trail`` overrides create_trail's arguments (a weaker trail)."""
    s3, kms = make("s3"), make("kms")
    bucket = "fablink-audit-trail"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    key = kms.create_key(Description="trail")["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=key)
    args = dict(Name="account-trail", S3BucketName=bucket, IsMultiRegionTrail=True, EnableLogFileValidation=True, KmsKeyId=key)
    make("cloudtrail").create_trail(**dict(args, **(trail or {})))
    make("cloudtrail").start_logging(Name="account-trail")
    make("guardduty").create_detector(Enable=True)
    config = make("config")
    config.put_configuration_recorder(ConfigurationRecorder={
        "name": "default", "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config", "recordingGroup": {"allSupported": True}})
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": bucket})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    make("securityhub").enable_security_hub()


def administrator_access_exists() -> None:
    """AdministratorAccess exists in every AWS account; moto loads AWS managed
    policies only all at once (~1,300, slow), so add just this one from moto's copy."""
    data = json.loads(aws_managed_policies_data)["AdministratorAccess"]
    policy = AWSManagedPolicy.from_data("AdministratorAccess", ACCOUNT, "aws", data)
    iam_backends[ACCOUNT]["aws"].managed_policies[policy.arn] = policy


@dataclass
class Run(RunbookRun):

    def open(self) -> set[tuple[str, str]]:
        return {(f["check"], f["resource"]) for f in self.doc["measurements"]["findings"] if f["status"] == "open"}

    def finding(self, check: str, resource: str) -> dict:
        matches = [f for f in self.doc["measurements"]["findings"] if (f["check"], f["resource"]) == (check, resource)]
        assert len(matches) == 1, self.doc["measurements"]["findings"]
        return matches[0]


def review(cfg, fail_on="high", wall: datetime | None = None, json_mode=False, hooks=(), live=False) -> Run:
    """`invoke access.review` in-process: the same command, on moto, evidence in ./reports."""
    opts = access.ReviewOptions(json=json_mode, fail_on=fail_on, live=live)
    return Run(*run_runbook(cfg, opts, lambda o, session: access.command(o, session=session, sleep=lambda s: None, wall=wall),
                            hooks=hooks, identity=arn("user", "auditor")))


def later(days: int) -> datetime:
    return datetime.now(timezone.utc) + timedelta(days=days)


# --------------------------------------------------------------------------
# seeded violations (and a compliant twin next to each, which must stay quiet)


@seeding()  # the world before the review: no fidelity windows for its creates
def seed(keep: dict) -> set[tuple[str, str]]:
    """Every kind of violation the review looks for, each beside a resource
    that does it right. Returns the findings a review 100 days later must give."""
    iam, ec2, eks, elb = client("iam"), client("ec2"), client("eks"), client("elbv2")
    expected: set[tuple[str, str]] = set()

    # IAM -------------------------------------------------------------------
    administrator_access_exists()
    iam.update_account_password_policy(**dict(GOOD_PASSWORD_POLICY, MinimumPasswordLength=8))
    expected.add(("iam.password_policy", ACCOUNT))

    iam.create_user(UserName="alice")  # a console user: no MFA, password never used
    iam.create_login_profile(UserName="alice", Password="Not-a-secret-1")
    iam.put_user_policy(UserName="alice", PolicyName="everything", PolicyDocument=doc(allow("*")))
    expected |= {("iam.console_mfa", arn("user", "alice")), ("iam.unused_password", arn("user", "alice")),
                 ("iam.admin_access", arn("user", "alice"))}

    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_group(GroupName="readers")
    iam.put_group_policy(GroupName="readers", PolicyName="read", PolicyDocument=doc(allow(["s3:Get*", "s3:List*"])))
    expected.add(("iam.admin_access", arn("group", "admins")))

    deployer = iam.create_policy(PolicyName="deployer", PolicyDocument=doc(
        allow("iam:PassRole"), allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/*")))["Policy"]["Arn"]
    iam.create_user(UserName="ci-bot")  # an access key never used; may pass any role
    iam.attach_user_policy(UserName="ci-bot", PolicyArn=deployer)
    keep["ci_key"] = iam.create_access_key(UserName="ci-bot")["AccessKey"]["AccessKeyId"]
    expected |= {("iam.privilege_escalation", arn("user", "ci-bot")), ("iam.access_key_age", keep["ci_key"]),
                 ("iam.unused_access_key", keep["ci_key"])}
    iam.create_user(UserName="app")  # scoped: passes only its own roles
    iam.put_user_policy(UserName="app", PolicyName="pass", PolicyDocument=doc(
        allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/fablink-prod-*")))

    def role(name: str, trust: dict, policy: dict | None = None) -> None:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(trust))
        if policy:
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=doc(policy))

    service = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role("anyone", {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    role("org-only", {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}})
    role("partner", {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"}, "Action": "sts:AssumeRole"})
    role("partner-external-id", {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole",
                                 "Condition": {"StringEquals": {"sts:ExternalId": "agreed-secret"}}})
    federated = {"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{OIDC}"},
                 "Action": "sts:AssumeRoleWithWebIdentity"}
    role("irsa-namespace", dict(federated, Condition={"StringLike": {f"{OIDC}:sub": "system:serviceaccount:fablink-prod:*"}}))
    role("irsa-backend", dict(federated, Condition={"StringEquals": {f"{OIDC}:sub": "system:serviceaccount:fablink-prod:backend",
                                                                     f"{OIDC}:aud": "sts.amazonaws.com"}}))
    role("hopper", service, allow("sts:AssumeRole"))
    role("worker", service, allow(["dynamodb:GetItem", "dynamodb:PutItem"], f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/fablink-prod-*"))
    # confused deputy: AWS Backup trusted bare (a finding), and with aws:SourceAccount; EC2 (hopper, worker) is exempt
    backup = {"Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"}, "Action": "sts:AssumeRole"}
    role("backup-bare", backup)
    role("backup-guarded", dict(backup, Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}))
    expected.add(("iam.service_role_confused_deputy", arn("role", "backup-bare")))
    expected |= {("iam.trust_any_principal", arn("role", "anyone")), ("iam.trust_cross_account", arn("role", "partner")),
                 ("iam.irsa_trust_scope", arn("role", "irsa-namespace")), ("iam.privilege_escalation", arn("role", "hopper"))}

    # network ---------------------------------------------------------------
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.1.0/24", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet)  # something runs in it: it needs flow logs
    expected.add(("ec2.vpc_flow_logs", f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/{vpc}"))
    logged = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    logged_subnet = ec2.create_subnet(VpcId=logged, CidrBlock="10.60.1.0/24", AvailabilityZone=f"{REGION}b")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=logged_subnet)
    ec2.create_flow_logs(ResourceIds=[logged], ResourceType="VPC", TrafficType="ALL", LogGroupName="/flow",
                         DeliverLogsPermissionArn=arn("role", "flow"))
    # default security groups: AWS's rules in the first VPC (a finding), stripped in the logged one
    def default_group(v: str) -> dict:
        return ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [v]}, {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"][0]

    stripped = default_group(logged)
    ec2.revoke_security_group_egress(GroupId=stripped["GroupId"], IpPermissions=stripped["IpPermissionsEgress"])
    expected.add(("ec2.default_security_group", f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{default_group(vpc)['GroupId']}"))
    # gateway endpoints: AWS's full-access default in the first VPC (a finding), a scoped policy in the logged one
    open_ep = ec2.create_vpc_endpoint(VpcEndpointType="Gateway", VpcId=vpc, ServiceName=f"com.amazonaws.{REGION}.s3")["VpcEndpoint"]["VpcEndpointId"]
    ec2.create_vpc_endpoint(VpcEndpointType="Gateway", VpcId=logged, ServiceName=f"com.amazonaws.{REGION}.s3", PolicyDocument=doc(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::prod-ap-northeast-2-starport-layer-bucket/*"}))
    expected.add(("ec2.endpoint_policy", f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-endpoint/{open_ep}"))

    def group(name: str, *rules: dict) -> str:
        gid = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
        if rules:
            ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=list(rules))
        return f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{gid}"

    def tcp(port: int, *cidrs: str) -> dict:
        return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
                "IpRanges": [{"CidrIp": c} for c in cidrs if ":" not in c], "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs if ":" in c]}

    ssh = group("ssh-from-anywhere", tcp(22, "0.0.0.0/0"))
    db = group("postgres-from-an-office", tcp(5432, "203.0.113.0/24"))
    mysql = group("mysql-from-everyone-v6", tcp(3306, "::/0"))
    group("web", tcp(443, "0.0.0.0/0", "::/0"), tcp(80, "0.0.0.0/0"))
    group("postgres-in-vpc", tcp(5432, "10.50.0.0/16"))
    expected |= {("ec2.sg_open_to_internet", ssh), ("ec2.sg_database_port", db),
                 ("ec2.sg_open_to_internet", mysql), ("ec2.sg_database_port", mysql)}

    eks.create_cluster(name="open-cluster", roleArn=arn("role", "eks"), resourcesVpcConfig={"subnetIds": [subnet]})  # AWS's defaults
    eks.create_cluster(name="closed-cluster", roleArn=arn("role", "eks"),
                       resourcesVpcConfig={"subnetIds": [subnet], "endpointPublicAccess": True, "publicAccessCidrs": ["198.51.100.0/24"]},
                       logging={"clusterLogging": [{"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": True}]})
    open_cluster = f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/open-cluster"
    expected |= {("eks.public_endpoint", open_cluster), ("eks.control_plane_logging", open_cluster)}

    nlb = elb.create_load_balancer(Name="edge-nlb", Type="network", Scheme="internet-facing", Subnets=[subnet])["LoadBalancers"][0]
    elb.create_load_balancer(Name="inner-nlb", Type="network", Scheme="internal", Subnets=[subnet])
    apigw = client("apigateway")
    apigw.create_vpc_link(name="edge", targetArns=[nlb["LoadBalancerArn"]])
    expected.add(("elbv2.internet_facing_nlb", nlb["LoadBalancerArn"]))

    # API stages --------------------------------------------------------------
    def rest_stage(api_name: str, logged: bool) -> str:
        api = apigw.create_rest_api(name=api_name)["id"]
        root = apigw.get_resources(restApiId=api)["items"][0]["id"]
        apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
        apigw.create_deployment(restApiId=api, stageName="prod")
        if logged:
            apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
                {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/api"},
                {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"}])
        return f"arn:aws:apigateway:{REGION}::/restapis/{api}/stages/prod"

    expected.add(("apigateway.access_logs", rest_stage("quiet-api", logged=False)))
    rest_stage("logged-api", logged=True)
    http = client("apigatewayv2").create_api(Name="http-api", ProtocolType="HTTP")["ApiId"]
    client("apigatewayv2").create_stage(ApiId=http, StageName="live")
    expected.add(("apigateway.access_logs", f"arn:aws:apigateway:{REGION}::/apis/{http}/stages/live"))

    # data ------------------------------------------------------------------
    rds, ddb, kms, sns = client("rds"), client("dynamodb"), client("kms"), client("sns")
    plain = rds.create_db_cluster(DBClusterIdentifier="plain-aurora", Engine="aurora-postgresql", MasterUsername="fablink",
                                  MasterUserPassword="not-a-secret-1")["DBCluster"]["DBClusterArn"]
    rds.create_db_cluster(DBClusterIdentifier="designed-aurora", Engine="aurora-postgresql", MasterUsername="fablink",
                          MasterUserPassword="not-a-secret-1", StorageEncrypted=True, EnableIAMDatabaseAuthentication=True,
                          DeletionProtection=True, BackupRetentionPeriod=30)
    expected |= {(c, plain) for c in ("rds.encryption", "rds.iam_auth", "rds.deletion_protection", "rds.backup_retention",
                                      "rds.event_subscription")}
    # the designed cluster's failover and failure events reach a topic; a disabled one and a maintenance-only one do not count
    rds.create_event_subscription(SubscriptionName="designed-events", SnsTopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
                                  SourceType="db-cluster", SourceIds=["designed-aurora"], EventCategories=["failover", "failure"], Enabled=True)
    rds.create_event_subscription(SubscriptionName="plain-maintenance", SnsTopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
                                  SourceType="db-cluster", SourceIds=["plain-aurora"], EventCategories=["maintenance"], Enabled=True)
    rds.create_event_subscription(SubscriptionName="plain-off", SnsTopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts",
                                  SourceType="db-cluster", SourceIds=["plain-aurora"], Enabled=False)

    unrotated = kms.create_key(Description="no rotation")["KeyMetadata"]
    rotated = kms.create_key(Description="rotated")["KeyMetadata"]
    kms.enable_key_rotation(KeyId=rotated["KeyId"])
    kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")  # cannot rotate: not asked to
    expected.add(("kms.rotation", unrotated["Arn"]))

    table = dict(KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                 BillingMode="PAY_PER_REQUEST")
    bare = ddb.create_table(TableName="bare", **table)["TableDescription"]["TableArn"]
    ddb.create_table(TableName="designed", SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": rotated["Arn"]},
                     DeletionProtectionEnabled=True, **table)
    ddb.update_continuous_backups(TableName="designed", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    expected |= {(c, bare) for c in ("dynamodb.pitr", "dynamodb.deletion_protection", "dynamodb.customer_key")}

    loud = sns.create_topic(Name="alerts-plain")["TopicArn"]
    sns.create_topic(Name="alerts", Attributes={"KmsMasterKeyId": rotated["Arn"]})
    expected.add(("sns.encryption", loud))

    # logging ---------------------------------------------------------------
    logs = client("logs")
    for name, days in (("/short", 7), ("/designed", 90), ("/long", 365)):
        logs.create_log_group(logGroupName=name)
        logs.put_retention_policy(logGroupName=name, retentionInDays=days)
    logs.create_log_group(logGroupName="/forever")
    expected.add(("logs.retention", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/short"))
    logs.create_log_group(logGroupName="/encrypted", kmsKeyId=rotated["Arn"])
    logs.put_retention_policy(logGroupName="/encrypted", retentionInDays=90)
    expected |= {("logs.kms_encryption", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{g}") for g in ("/short", "/designed", "/long", "/forever")}
    # WAF: one web ACL logs nothing, one logs credentials, one redacts them
    waf = client("wafv2")

    def acl(name: str, redacted: tuple[str, ...] | None) -> str:
        arn_ = waf.create_web_acl(Name=name, Scope="REGIONAL", DefaultAction={"Allow": {}}, VisibilityConfig={
            "SampledRequestsEnabled": False, "CloudWatchMetricsEnabled": False, "MetricName": name})["Summary"]["ARN"]
        if redacted is not None:
            waf.put_logging_configuration(LoggingConfiguration={
                "ResourceArn": arn_, "LogDestinationConfigs": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:aws-waf-logs-{name}"],
                "RedactedFields": [{"SingleHeader": {"Name": h}} for h in redacted]})
        return arn_

    expected |= {("wafv2.logging", acl("unlogged", None)), ("wafv2.logging", acl("logs-keys", ("authorization",)))}
    acl("redacted", ("Authorization", "x-api-key"))

    # audit controls: one single-region trail, neither validated nor KMS-encrypted; no GuardDuty, Config, Security Hub
    client("s3").create_bucket(Bucket="regional-trail", CreateBucketConfiguration={"LocationConstraint": REGION})
    trail = client("cloudtrail").create_trail(Name="regional", S3BucketName="regional-trail")["TrailARN"]
    client("cloudtrail").start_logging(Name="regional")
    here = f"{ACCOUNT}@{REGION}"
    expected |= {("cloudtrail.multi_region_trail", ACCOUNT), ("cloudtrail.log_file_validation", trail), ("cloudtrail.encryption", trail),
                 ("guardduty.enabled", here), ("config.recording", here), ("securityhub.enabled", here)}
    return expected


def test_each_seeded_violation_gives_exactly_its_finding_and_nothing_writes(aws, cfg):
    keep: dict = {}
    expected = seed(keep)
    run = review(cfg, wall=later(100))

    assert run.open() == expected
    assert run.code == 1 and run.doc["verdict"] == "fail"
    for f in run.doc["measurements"]["findings"]:
        assert f["severity"] == SEVERITY[f["check"]]
        assert f["problem"] and f["fix"] and "\n" not in f["problem"] + f["fix"]
    # a few findings word for word: what is wrong, and how to fix it
    assert run.finding("iam.unused_access_key", keep["ci_key"])["problem"].startswith("access key of user ci-bot unused for 100 days (never used since ")
    assert run.finding("iam.privilege_escalation", arn("user", "ci-bot"))["problem"] == \
        "user ci-bot can raise its own privileges: iam:CreatePolicyVersion, iam:PassRole on every resource"
    assert run.finding("cloudtrail.multi_region_trail", ACCOUNT)["problem"] == (
        "no trail both covers every region and is logging (regional: single-region, logging): "
        "API calls in this account leave no lasting record")
    assert run.finding("iam.irsa_trust_scope", arn("role", "irsa-namespace"))["problem"] == (
        f"IRSA role irsa-namespace is not scoped to one service account: {OIDC.lower()}:sub is tested with stringlike "
        "['system:serviceaccount:fablink-prod:*'], not StringEquals")
    # read only: not one write, and every call is one the runbook page lists
    assert run.target.meter.writes == 0
    assert run.doc["calls"]["writes"] == 0
    iam_prefix = {"elbv2": "elasticloadbalancing", "apigatewayv2": "apigateway", "accessanalyzer": "access-analyzer"}
    for call in run.doc["calls"]["by_operation"]:
        service, operation = call.split(":")
        action = "apigateway:GET" if service.startswith("apigateway") else f"{iam_prefix.get(service, service)}:{operation}"
        assert action in PERMISSIONS, call
    # the whole account, batched: a handful of calls per service, not one per resource
    assert run.doc["calls"]["by_operation"]["iam:GetAccountAuthorizationDetails"] == 1
    assert run.doc["calls"]["by_operation"]["ec2:DescribeSecurityGroups"] == 1


def test_the_same_findings_under_throttling(aws, cfg):
    expected = seed({})
    throttle = Throttle(every=3)
    run = review(cfg, wall=later(100), hooks=throttle.hooks)
    assert throttle.throttled > 10
    assert run.open() == expected and run.target.meter.writes == 0


def test_a_clean_account_has_no_findings(aws, cfg):
    """moto's account as it comes: a default VPC with its default security
    group (ingress from itself only), no users, roles or data. The default VPC
    has no flow logs, but nothing runs in it: not a finding. The one real gap
    of a fresh account is the password policy (AWS's default is 8 characters)."""
    run = review(cfg)
    here = f"{ACCOUNT}@{REGION}"
    # the account's audit controls are absent until an operator turns them on
    assert run.open() == {("iam.password_policy", ACCOUNT), ("cloudtrail.multi_region_trail", ACCOUNT), ("guardduty.enabled", here),
                          ("config.recording", here), ("securityhub.enabled", here)}
    assert run.code == 1 and run.doc["verdict"] == "fail"  # no trail, no GuardDuty: high
    assert run.finding("cloudtrail.multi_region_trail", ACCOUNT)["problem"] == \
        "the account has no CloudTrail trail: API calls in this account leave no lasting record"

    audit_baseline()
    run = review(cfg)
    assert run.open() == {("iam.password_policy", ACCOUNT)}
    assert run.code == 0 and run.doc["verdict"] == "pass"  # medium: below --fail-on high

    good_password_policy()
    client("iam").create_user(UserName="service-reader")  # no password, no key: nothing to say
    run = review(cfg, fail_on="low")
    assert run.doc["measurements"]["findings"] == []
    assert (run.code, run.doc["verdict"]) == (0, "pass")
    assert run.doc["reason"] == "no open finding at or above low; 0 open below it; 0 suppressed"
    # coverage: every check is listed with what it concluded, passed ones too
    results = {c["check"]: c["result"] for c in run.doc["measurements"]["checks"]}
    assert list(results) == [c.id for c in CHECKS]
    assert {k for k, v in results.items() if v == "not evaluated"} == set(run.doc["measurements"]["not_evaluated"])
    assert {v for k, v in results.items() if k not in run.doc["measurements"]["not_evaluated"]} == {"passed"}
    assert "| cloudtrail.multi_region_trail |" in run.md and "passed" in run.md
    # what the sandbox cannot show is said, not passed over in silence
    not_evaluated = run.doc["measurements"]["not_evaluated"]
    assert set(not_evaluated) == {"iam.root_access_keys", "iam.root_mfa", "iam.root_recent_use",
                                  "accessanalyzer.external_access", "accessanalyzer.enabled", "backup.plan_coverage"}
    assert "moto 5.2 lacks AWS Backup selections" in not_evaluated["backup.plan_coverage"]
    assert "moto does not model the root user" in not_evaluated["iam.root_mfa"]
    assert "moto lacks IAM Access Analyzer" in not_evaluated["accessanalyzer.external_access"]
    skipped = {s["name"] for s in run.doc["steps"] if s["status"] == "skipped"}
    assert skipped == {"not seen: root", f"collect: accessanalyzer in {REGION}", f"collect: backup in {REGION}", "suppressions"}


def test_access_keys_in_use_and_recent_passwords_are_not_findings(aws, cfg):
    iam = client("iam")
    baseline()
    iam.create_user(UserName="bob")
    key = iam.create_access_key(UserName="bob")["AccessKey"]
    # moto marks a key used when a request is signed with it, as AWS does
    sts = boto3.client("sts", region_name=REGION, aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert sts.get_caller_identity()["Arn"] == arn("user", "bob")
    assert review(cfg, wall=later(40), fail_on="low").open() == set()
    # 50 days on, unused for 50 days (> 45), but only 50 days old (< 90)
    assert review(cfg, wall=later(50)).open() == {("iam.unused_access_key", key["AccessKeyId"])}


# --------------------------------------------------------------------------
# suppressions, --fail-on, exit codes


def with_suppressions(cfg, *entries: Suppression):
    return dataclasses.replace(cfg, access=dataclasses.replace(cfg.access, suppressions=tuple(entries)))


def test_suppressions_active_expired_and_unused(aws, cfg):
    baseline()
    ec2, sns = client("ec2"), client("sns")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    gid = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                                     "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    topic = sns.create_topic(Name="plain")["TopicArn"]
    sg_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{gid}"
    today = datetime.now(timezone.utc).date()
    cfg = with_suppressions(
        cfg,
        Suppression("ec2.sg_open_to_internet", f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*", "bastion host, MFA SSH (OPS-7)", today),
        Suppression("sns.encryption", topic, "public status feed, no secrets", today - timedelta(days=1)),
        Suppression("rds.encryption", "arn:aws:rds:*:cluster:gone", "cluster deleted in June", today + timedelta(days=30)),
    )
    run = review(cfg, fail_on="medium")

    assert run.open() == {("sns.encryption", topic)}
    sg = run.finding("ec2.sg_open_to_internet", sg_arn)
    assert sg["status"] == "suppressed" and sg["suppressed"] == {"reason": "bastion host, MFA SSH (OPS-7)", "expires": today.isoformat()}
    expired = run.finding("sns.encryption", topic)
    assert expired["status"] == "open"
    assert expired["suppression_expired"] == {"reason": "public status feed, no secrets", "expired": (today - timedelta(days=1)).isoformat()}
    assert run.doc["measurements"]["suppressions_unused"] == [
        {"check": "rds.encryption", "resource": "arn:aws:rds:*:cluster:gone", "expires": (today + timedelta(days=30)).isoformat()}]
    assert run.doc["measurements"]["summary"] == {"open": {"critical": 0, "high": 0, "medium": 1, "low": 0}, "suppressed": 1,
                                                  "expired_suppressions": 1, "total": 2}
    assert (run.code, run.doc["verdict"]) == (1, "fail")  # the expired one counts again, at medium
    assert run.doc["reason"] == "1 open finding(s) at or above medium (1 medium: sns.encryption); 0 open below it; 1 suppressed"
    step = next(s for s in run.doc["steps"] if s["name"] == "suppressions")
    assert step["detail"] == ("1 finding(s) suppressed; 1 suppression(s) expired: their findings count again; "
                              "1 match nothing (remove them): rds.encryption arn:aws:rds:*:cluster:gone")

    # the next day the first suppression has expired too
    run = review(cfg, wall=later(1))
    assert run.open() == {("ec2.sg_open_to_internet", sg_arn), ("sns.encryption", topic)}
    assert run.code == 1


@pytest.mark.parametrize("fail_on, code", [("critical", 0), ("high", 1), ("medium", 1), ("low", 1), ("HIGH", 1)])
def test_fail_on_thresholds(aws, cfg, fail_on, code):
    baseline()
    client("iam").create_role(RoleName="partner", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole"}))  # high
    run = review(cfg, fail_on=fail_on)
    assert run.open() == {("iam.trust_cross_account", arn("role", "partner"))}
    assert run.code == code
    assert run.doc["verdict"] == ("fail" if code else "pass")
    assert run.doc["parameters"]["fail_on"] == fail_on.lower()


def test_an_unknown_fail_on_is_a_usage_error_before_any_aws_call(aws, cfg, capsys):
    run = review(cfg, fail_on="severe")
    assert run.code == 2 and run.doc is None
    assert run.target.meter.calls == {}
    assert "--fail-on 'severe': choose one of critical, high, medium, low" in capsys.readouterr().err


# --------------------------------------------------------------------------
# evidence, --json, a collector that fails


def test_json_prints_the_evidence_document_and_the_markdown_has_the_findings(aws, cfg, capsys):
    baseline()
    topic = client("sns").create_topic(Name="plain")["TopicArn"]
    run = review(cfg, json_mode=True)
    out = capsys.readouterr()
    printed = json.loads(out.out)  # exactly one document on stdout
    assert printed == run.doc
    assert run.doc["format"] == "fablink-ops/evidence/1" and run.doc["runbook"] == "access.review"
    assert run.doc["target"] == "sandbox" and run.doc["verdict"] == "pass"
    assert "open findings: 0 critical, 0 high, 1 medium, 0 low; 0 suppressed" in out.err  # the table and summary: stderr
    assert [s["name"] for s in run.doc["steps"]][:4] == ["collect: iam", "not seen: root", f"collect: accessanalyzer in {REGION}",
                                                         f"collect: ec2 in {REGION}"]
    measurements = run.doc["measurements"]
    assert set(measurements) == {"fail_on", "regions", "resources", "credential_report_generated", "summary", "findings", "checks",
                                 "not_evaluated", "suppressions_unused"}
    assert measurements["regions"] == [REGION]
    assert measurements["resources"]["SNS topics"] == 1 and measurements["resources"]["VPCs"] == 1
    assert measurements["findings"] == [{
        "check": "sns.encryption", "severity": "medium", "resource": topic, "problem": "SNS topic plain is not encrypted at rest",
        "fix": f"aws sns set-topic-attributes --topic-arn {topic} --attribute-name KmsMasterKeyId --attribute-value <key ARN or alias>",
        "status": "open"}]
    assert run.md.startswith("# access.review: PASS")
    assert "### findings" in run.md
    assert f"| sns.encryption | medium | {topic} | SNS topic plain is not encrypted at rest |" in run.md


def access_denied(operation: str):
    """A botocore hook answering ``operation`` with AccessDenied, as AWS does to a role without the permission."""

    def handler(model, **_):
        if model.name != operation:
            return None
        return (AWSResponse("https://denied.invalid", 403, {}, None),
                {"Error": {"Code": "AccessDenied", "Message": f"not authorized to perform {operation}"},
                 "ResponseMetadata": {"HTTPStatusCode": 403}})

    return [("before-call", handler)]


def test_a_collector_that_cannot_read_makes_the_review_incomplete(aws, cfg):
    baseline()
    topic = client("sns").create_topic(Name="plain")["TopicArn"]
    run = review(cfg, hooks=access_denied("DescribeLoadBalancers"))
    assert (run.code, run.doc["verdict"]) == (1, "aborted")
    assert run.doc["reason"].startswith(f"incomplete: could not read elbv2 in {REGION} (AccessDenied: not authorized")
    step = next(s for s in run.doc["steps"] if s["name"] == f"collect: elbv2 in {REGION}")
    assert step["status"] == "failed"
    assert run.open() == {("sns.encryption", topic)}  # what could be read is still reviewed

    client("iam").create_user(UserName="alice")
    client("iam").create_login_profile(UserName="alice", Password="Not-a-secret-1")
    run = review(cfg, hooks=access_denied("DescribeLoadBalancers"))
    assert run.doc["verdict"] == "fail"  # a high finding fails the review, incomplete or not
    assert run.doc["reason"].endswith(f"incomplete: could not read elbv2 in {REGION} (AccessDenied: "
                                      "not authorized to perform DescribeLoadBalancers)")


# --------------------------------------------------------------------------
# live-only paths, through Stubber


ROOT_REPORT = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,"
    "access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,"
    "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
    "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n"
    f"<root_account>,arn:aws:iam::{ACCOUNT}:root,2019-01-01T00:00:00+00:00,not_supported,2031-02-27T08:00:00+00:00,not_supported,"
    "not_supported,false,true,2019-01-01T00:00:00+00:00,2020-05-01T00:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
    f"ops,arn:aws:iam::{ACCOUNT}:user/ops,2030-01-01T00:00:00+00:00,true,no_information,2030-01-01T00:00:00+00:00,N/A,true,"
    "false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
)


def live_ctx(cfg) -> Context:
    target = make_target(cfg)
    target.mode = "live"
    return Context(cfg, target, sleep=lambda s: None)


def test_live_credential_report_with_the_root_row(cfg):
    ctx = live_ctx(cfg)
    iam = ctx.client("iam")
    with Stubber(iam.raw) as stub:
        stub.add_response("generate_credential_report", {"State": "STARTED"})
        stub.add_response("generate_credential_report", {"State": "COMPLETE"})
        stub.add_response("get_credential_report", {"Content": ROOT_REPORT.encode(), "ReportFormat": "text/csv",
                                                    "GeneratedTime": datetime(2031, 3, 1, 11, 0, tzinfo=timezone.utc)})
        rows, generated = iam_collector.credential_report(ctx, iam)
        stub.assert_no_pending_responses()
    assert generated == datetime(2031, 3, 1, 11, 0, tzinfo=timezone.utc)
    root = next(r for r in rows if r.is_root)
    assert root.password_enabled and not root.mfa_active and root.keys_active == (True, False)
    ops = next(r for r in rows if not r.is_root)
    assert ops.password_last_used is None and ops.mfa_active

    inv = Inventory(ACCOUNT, (REGION,))
    inv.iam.collected, inv.iam.root, inv.iam.credentials = True, root, [ops]
    inv.iam.password_policy = dict(GOOD_PASSWORD_POLICY)
    now = datetime(2031, 3, 1, 12, 0, tzinfo=timezone.utc)
    findings, _ = evaluate(inv, Settings(cfg.access, 90, ACCOUNT, now))
    root_arn = f"arn:aws:iam::{ACCOUNT}:root"
    assert [(f.check, f.resource) for f in findings] == [
        ("iam.root_access_keys", root_arn), ("iam.root_mfa", root_arn), ("iam.root_recent_use", root_arn),
        ("iam.unused_password", arn("user", "ops"))]
    assert findings[2].problem == "the root user was used 2 days ago (password, 2031-02-27; limit 30 days)"


def test_live_access_analyzer_findings(cfg):
    ctx = live_ctx(cfg)
    aa = ctx.target.client("accessanalyzer", REGION)
    analyzer = f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/account"
    bucket = "arn:aws:s3:::fablink-prod-exports"
    with Stubber(aa.raw) as stub:
        stub.add_response("list_analyzers", {"analyzers": [
            {"arn": analyzer, "name": "account", "type": "ACCOUNT", "status": "ACTIVE", "createdAt": datetime(2030, 1, 1)},
            {"arn": analyzer + "-unused", "name": "unused", "type": "ACCOUNT_UNUSED_ACCESS", "status": "ACTIVE", "createdAt": datetime(2030, 1, 1)}]})
        stub.add_response("list_findings_v2", {"findings": [
            {"id": "f-1", "resource": bucket, "resourceType": "AWS::S3::Bucket", "resourceOwnerAccount": ACCOUNT, "status": "ACTIVE",
             "findingType": "ExternalAccess", "analyzedAt": datetime(2031, 1, 1), "createdAt": datetime(2031, 1, 1), "updatedAt": datetime(2031, 1, 1)}]},
            {"analyzerArn": analyzer, "filter": {"status": {"eq": ["ACTIVE"]}}})
        piece = iam_collector.collect_analyzers(ctx, REGION)
        stub.assert_no_pending_responses()
    inv = Inventory(ACCOUNT, (REGION,), analyzers=piece["analyzers"], analyzer_findings=piece["analyzer_findings"])
    findings, not_evaluated = evaluate(inv, Settings(cfg.access, 90, ACCOUNT, datetime(2031, 3, 1, tzinfo=timezone.utc)))
    assert not_evaluated == {}
    assert [(f.check, f.severity, f.resource) for f in findings] == [("accessanalyzer.external_access", "high", bucket)]

    with Stubber(aa.raw) as stub:
        stub.add_response("list_analyzers", {"analyzers": []})
        piece = iam_collector.collect_analyzers(ctx, REGION)
    inv = Inventory(ACCOUNT, (REGION,), analyzers=piece["analyzers"])
    findings, _ = evaluate(inv, Settings(cfg.access, 90, ACCOUNT, datetime(2031, 3, 1, tzinfo=timezone.utc)))
    assert [(f.check, f.resource) for f in findings] == [("accessanalyzer.enabled", f"{ACCOUNT}:{REGION}")]


def test_live_backup_plan_coverage(cfg):
    """moto 5.2 has no AWS Backup selections: the live collector is fed AWS's
    answers; a table outside every selection is a finding, the rest are not."""
    from fablink_ops.runbooks.access.collect import backup as backup_collector
    from fablink_ops.runbooks.access.models import DbCluster, Table

    ctx = live_ctx(cfg)
    backup = ctx.target.client("backup", REGION)
    cluster = f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:fablink-prod-aurora"
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    when = datetime(2031, 1, 1)
    with Stubber(backup.raw) as stub:
        stub.add_response("list_backup_plans", {"BackupPlansList": [{"BackupPlanId": "p-1", "BackupPlanName": "fablink-prod-daily",
                                                                      "BackupPlanArn": "arn:aws:backup:x", "VersionId": "v"}]})
        stub.add_response("list_backup_selections", {"BackupSelectionsList": [
            {"SelectionId": "s-1", "SelectionName": "fablink-data", "BackupPlanId": "p-1", "CreationDate": when}]}, {"BackupPlanId": "p-1"})
        stub.add_response("get_backup_selection", {"BackupPlanId": "p-1", "SelectionId": "s-1", "BackupSelection": {
            "SelectionName": "fablink-data", "IamRoleArn": f"arn:aws:iam::{ACCOUNT}:role/fablink-prod-backup",
            "Resources": [cluster, table + "fablink-prod-sessions"]}}, {"BackupPlanId": "p-1", "SelectionId": "s-1"})
        piece = backup_collector.collect(ctx, REGION)
        stub.assert_no_pending_responses()
    inv = Inventory(ACCOUNT, (REGION,), db_clusters=[DbCluster("fablink-prod-aurora", cluster, REGION, "aurora-postgresql", True, True, True, 30)],
                    tables=[Table(n, table + n, REGION, True, True, "k") for n in ("fablink-prod-sessions", "fablink-prod-cache")], **piece)
    findings, not_evaluated = evaluate(inv, Settings(cfg.access, 90, ACCOUNT, datetime(2031, 3, 1, tzinfo=timezone.utc)))
    assert "backup.plan_coverage" not in not_evaluated
    assert [(f.check, f.resource) for f in findings if f.check == "backup.plan_coverage"] == [("backup.plan_coverage", table + "fablink-prod-cache")]


def test_more_regions_are_reviewed_when_configured(aws, cfg):
    baseline()
    far = state.client("sns", "us-east-1").create_topic(Name="far")["TopicArn"]
    assert review(cfg).open() == set()  # only project.region by default
    cfg = dataclasses.replace(cfg, access=dataclasses.replace(cfg.access, regions=("us-east-1",)))
    run = review(cfg)
    # the multi-region trail covers us-east-1 too; GuardDuty, Config and Security Hub are per region
    far_account = f"{ACCOUNT}@us-east-1"
    assert run.open() == {("sns.encryption", far), ("guardduty.enabled", far_account), ("config.recording", far_account),
                          ("securityhub.enabled", far_account)}
    assert run.doc["measurements"]["regions"] == [REGION, "us-east-1"]
    assert "collect: sns in us-east-1" in {s["name"] for s in run.doc["steps"]}


# --------------------------------------------------------------------------
# the design passes its own review


def test_a_full_provision_of_the_design_passes_its_own_review(aws, cfg, monkeypatch):
    """Every stage implemented so far (this test grows as stages land),
    provisioned as `invoke provision` does, then reviewed: no finding at all
    (the internet-facing NLB is closed by its security group, issue 17). The
    account's password policy is account baseline, not a stage of the design:
    set here as an operator would."""
    stages = cli.select_stages(None)
    load_stage_policies(monkeypatch)
    provision(cfg, stages=stages)
    baseline()
    run = review(cfg, fail_on="low")

    nlbs = {lb["LoadBalancerArn"] for lb in client("elbv2").describe_load_balancers()["LoadBalancers"]
            if lb["Type"] == "network" and lb["Scheme"] == "internet-facing"}
    assert len(nlbs) == (1 if "edge" in stages else 0)
    # issue 17: not even the internet-facing NLB (its security group admits nothing from outside the VPC),
    # nor log groups without the logs key, WAF without logging, service roles without a source condition
    assert run.open() == set()
    assert run.target.meter.writes == 0
    resources = run.doc["measurements"]["resources"]
    assert resources["DynamoDB tables"] == len(cfg.dynamodb.tables) and resources["VPCs"] == 2  # the design's and moto's default
    assert (run.code, run.doc["verdict"]) == (0, "pass")


def test_authorization_details_are_read_page_by_page(cfg):
    """Accounts with thousands of principals: every page of GetAccountAuthorizationDetails, four lists per page."""
    ctx = live_ctx(cfg)
    iam = ctx.client("iam")
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def user(name):
        return {"UserName": name, "UserId": "AIDA" + name.upper().ljust(16, "X"), "Arn": arn("user", name), "Path": "/", "CreateDate": when}

    flt = ["User", "Group", "Role", "LocalManagedPolicy"]
    with Stubber(iam.raw) as stub:
        stub.add_response("get_account_authorization_details", {"UserDetailList": [user("a"), user("b")], "IsTruncated": True,
                                                                "Marker": "page-2"}, {"Filter": flt, "MaxItems": 1000})
        stub.add_response("get_account_authorization_details", {"UserDetailList": [user("c")], "RoleDetailList": [
            {"RoleName": "r", "RoleId": "AROAXXXXXXXXXXXXXXXX", "Arn": arn("role", "r"), "Path": "/", "CreateDate": when,
             "AssumeRolePolicyDocument": '{"Version":"2012-10-17","Statement":[]}'}], "IsTruncated": False},
            {"Filter": flt, "MaxItems": 1000, "Marker": "page-2"})
        details = iam_collector.authorization_details(iam)
        stub.assert_no_pending_responses()
    assert [u["UserName"] for u in details["UserDetailList"]] == ["a", "b", "c"]
    assert [r["RoleName"] for r in details["RoleDetailList"]] == ["r"]


# --------------------------------------------------------------------------
# evidence an auditor accepts (issue 18): provenance, sandbox and live apart,
# and the runs listed back by `invoke reports`


def test_evidence_carries_provenance_and_is_kept_apart_by_target(aws, cfg, capsys):
    import hashlib

    from fablink_ops import provenance
    from tests.conftest import CONFIG

    good_password_policy()
    sandbox_run = review(cfg)
    live_run = review(cfg, live=True)
    for run, mode in ((sandbox_run, "sandbox"), (live_run, "live")):
        assert run.doc["evidence"]["json"].startswith(f"reports/{mode}/"), run.doc["evidence"]
        prov = run.doc["provenance"]
        assert prov["version"] == provenance.version() != "unknown"
        assert prov["config_sha256"] == hashlib.sha256(Path(prov["config"]).read_bytes()).hexdigest()
        assert Path(prov["config"]).resolve() == CONFIG.resolve()
        assert f"| Config SHA-256 | {prov['config_sha256']} |" in run.md

    capsys.readouterr()  # the reviews' own output
    assert cli.run(cli.cmd_reports, cli.Options(json=True)) == 0
    listed = json.loads(capsys.readouterr().out)["reports"]
    assert [(r["runbook"], r["target"]) for r in listed] == [("access.review", "live"), ("access.review", "sandbox")]
    assert all(r["verdict"] == run.doc["verdict"] and r["reason"] for r, run in zip(listed, (live_run, sandbox_run)))
    Path("reports/sandbox/broken.json").write_text("{")
    assert cli.run(cli.cmd_reports, cli.Options(json=True, runbook=None)) == 0
    rows = json.loads(capsys.readouterr().out)["reports"]
    assert any(r["verdict"] == "unreadable" and r["file"].endswith("broken.json") for r in rows)
    assert cli.run(cli.cmd_reports, cli.Options(json=True, runbook="drill.failover")) == 0
    assert json.loads(capsys.readouterr().out)["reports"] == []


def test_config_and_reports_resolve_from_the_project_root_wherever_started(tmp_path, monkeypatch):
    from fablink_ops import paths
    from tests.conftest import CONFIG, ROOT

    monkeypatch.chdir(tmp_path / "sandbox" if (tmp_path / "sandbox").exists() else tmp_path)
    assert paths.config_path(None) == ROOT / "config" / "prod.toml"
    assert paths.config_path("config/prod.toml").resolve() == CONFIG.resolve()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "prod.toml").write_text("# a local file wins over the project's\n")
    monkeypatch.chdir(tmp_path)
    assert paths.config_path(None) == Path("config/prod.toml")
    monkeypatch.setenv("FABLINK_CONFIG", "/etc/fablink/staging.toml")
    assert paths.config_path(None) == Path("/etc/fablink/staging.toml")
    assert paths.config_path("other.toml") == Path("other.toml")  # --config wins over FABLINK_CONFIG
    monkeypatch.delenv("FABLINK_REPORTS_DIR")
    assert paths.reports_dir() == ROOT / "reports"


def test_a_key_whose_policy_denies_describe_key_is_a_gap_and_the_review_goes_on(aws, cfg):
    """Keys other teams own may deny us DescribeKey: that key is recorded as
    not seen, and every other key is still reviewed (issue 14, item 12)."""
    good_password_policy()
    kms = client("kms")
    theirs = kms.create_key(Description="another team's")["KeyMetadata"]
    unrotated = kms.create_key(Description="ours, no rotation")["KeyMetadata"]

    def deny_their_key(model, params, **_):
        body = params.get("body") or b""
        if model.name != "DescribeKey" or theirs["KeyId"].encode() not in (body if isinstance(body, bytes) else body.encode()):
            return None
        return (AWSResponse("https://denied.invalid", 400, {}, None),
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform kms:DescribeKey"},
                 "ResponseMetadata": {"HTTPStatusCode": 400}})

    run = review(cfg, hooks=[("before-call", deny_their_key)])
    assert run.doc["verdict"] != "aborted", run.doc.get("reason")
    assert ("kms.rotation", unrotated["Arn"]) in run.open()
    gap = next(s for s in run.doc["steps"] if s["name"] == f"not seen: kms-key {theirs['KeyId']}@{REGION}")
    assert gap["status"] == "skipped" and "AccessDeniedException" in gap["detail"]
