"""The Aurora stage (issue 4): state on moto, idempotence, crash-resume,
throttling, drift, immutable changes, waits, secrets kept out of output, and
bad config."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends
from moto.rds.models import rds_backends

from fablink_ops import cli
from fablink_ops import config as config_module
from fablink_ops.config import load_config
from fablink_ops.engine import (
    BLOCKED, CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Context, SilentReporter, apply, block_dependents,
)
from fablink_ops.errors import ConfigError, OpsError
from fablink_ops.output import make_console
from fablink_ops.resources import aurora, network
from fablink_ops.resources.aurora import instances as aurora_instances
from fablink_ops.resources.aurora.common import ROLE_ARN, Names
from fablink_ops.resources.kms_key import ALIAS_TAG
from fablink_ops.target import Target, _retryable

from .conftest import CONFIG, make_target
from .faults import CrashAtWrite, SimulatedCrash, Throttle, WriteCounter
from .state import aurora_inventory, dump
from .util import edited_config, logs_key, plan, plan_refused, provision, provisioned

REGION = "ap-northeast-2"
ACCOUNT = "853963783084"
CLUSTER = "fablink-prod-aurora"
WRITER, READER_B, READER_D = "fablink-prod-aurora-2a", "fablink-prod-aurora-2b", "fablink-prod-aurora-2d"
BOTH = ("network", "aurora")


@pytest.fixture(autouse=True)
def _lean_moto(monkeypatch):
    # moto loads thousands of sample AMIs into every EC2 backend: nothing here uses them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


_POLICY: dict = {}


def managed_policy_exists():
    """AmazonRDSEnhancedMonitoringRole exists in every AWS account. moto can
    load all ~1,600 AWS managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES, as
    the sandbox server does), which costs more per test than the stage itself,
    so the tests add just the one the stage attaches, from moto's own copy."""
    if not _POLICY:
        _POLICY.update(json.loads(aws_managed_policies_data)["AmazonRDSEnhancedMonitoringRole"])
    policy = AWSManagedPolicy.from_data("AmazonRDSEnhancedMonitoringRole", ACCOUNT, "aws", _POLICY)
    iam_backends[ACCOUNT]["aws"].managed_policies[policy.arn] = policy


@pytest.fixture
def aws(aws):  # noqa: F811 - the conftest's moto, plus the managed policy
    managed_policy_exists()
    yield


def rds():
    return boto3.client("rds", region_name=REGION)


def substrate(cfg) -> dict:
    """The little of the network the stage stands on (a VPC, the private
    subnets, the db security group), made directly: most tests exercise the
    aurora stage alone, and a full network provision costs more than the
    stage itself on moto. Returns the outputs the network stage would record."""
    managed_policy_exists()
    ec2 = boto3.client("ec2", region_name=REGION)
    names = network.Names(cfg)

    def tag(kind, name):
        return [{"ResourceType": kind, "Tags": [{"Key": "Name", "Value": name}]}]

    vpc = ec2.create_vpc(CidrBlock=cfg.network.vpc_cidr, TagSpecifications=tag("vpc", names.vpc))["Vpc"]["VpcId"]
    out = {"vpc": vpc, "vpc_cidr": cfg.network.vpc_cidr}
    for zone in cfg.network.zones:
        name = names.subnet("private", zone)
        out[f"subnet:{name}"] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=zone.private_cidr, AvailabilityZone=zone.az, TagSpecifications=tag("subnet", name)
        )["Subnet"]["SubnetId"]
    out["sg:db"] = ec2.create_security_group(GroupName=names.security_group("db"), Description="db", VpcId=vpc)["GroupId"]
    return {**out, **logs_key(cfg)}


def stage_ctx(cfg, outputs, hooks=(), **kwargs) -> Context:
    ctx = Context(cfg, make_target(cfg, hooks), **{"sleep": lambda s: None, **kwargs})
    ctx.outputs.update(outputs)
    return ctx


def run_stage(cfg, outputs, hooks=(), **kwargs):
    """Plan then apply the aurora stage alone, over ``outputs`` of a network."""
    ctx = stage_ctx(cfg, outputs, hooks, **kwargs)
    changes = block_dependents(aurora.plan(ctx))  # as cli.plan_stages does
    apply(changes, ctx, cfg.engine.concurrency)
    return ctx, changes


def plan_stage(cfg, outputs):
    return block_dependents(aurora.plan(stage_ctx(cfg, outputs)))


def by_key(changes):
    return {c.key: c for c in changes}


def diffs(change):
    return {d.attribute: (d.before, d.after) for d in change.diffs}


class Recorder(SilentReporter):
    """A reporter that keeps what the stage told the operator."""

    def __init__(self):
        self.warnings, self.waits = [], []

    def warn(self, text):
        self.warnings.append(text)

    def wait_started(self, what, budget):
        self.waits.append(what)
        return what


# --------------------------------------------------------------------------
# the state after provisioning


def test_provision_from_empty_builds_every_line_of_the_issue(cfg, aws):
    # Network and aurora planned together: the aurora plan works before the
    # network exists (ids resolve at run time).
    ctx, changes = provision(cfg, BOTH)
    # everything is created; the new writer's wait for "available" is a change of its own
    assert {c.key for c in changes if c.stage == "aurora" and c.action != CREATE} == {f"db-instance-ready:{CLUSTER}-2a"}
    ec2, kms, iam, logs, client = (boto3.client(s, region_name=REGION) for s in ("ec2", "kms", "iam", "logs", "rds"))

    key = kms.describe_key(KeyId=cfg.aurora.kms_key_alias)["KeyMetadata"]
    assert (key["KeyManager"], key["KeyState"], key["KeySpec"]) == ("CUSTOMER", "Enabled", "SYMMETRIC_DEFAULT")
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    key_tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert key_tags[ALIAS_TAG] == cfg.aurora.kms_key_alias and key_tags["ManagedBy"] == "fablink-ops"

    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets()["Subnets"]}
    group = client.describe_db_subnet_groups(DBSubnetGroupName=f"{CLUSTER}-subnets")["DBSubnetGroups"][0]
    names = sorted(next(t["Value"] for t in subnets[s["SubnetIdentifier"]]["Tags"] if t["Key"] == "Name") for s in group["Subnets"])
    assert names == ["fablink-prod-private-2a", "fablink-prod-private-2b", "fablink-prod-private-2d"]

    params = client.describe_db_cluster_parameters(DBClusterParameterGroupName=f"{CLUSTER}-pg15", Source="user")["Parameters"]
    values = {p["ParameterName"]: p["ParameterValue"] for p in params}
    assert values["rds.force_ssl"] == "1"
    assert values["log_min_duration_statement"] == str(cfg.aurora.slow_query_threshold_ms)
    pg = client.describe_db_cluster_parameter_groups(DBClusterParameterGroupName=f"{CLUSTER}-pg15")["DBClusterParameterGroups"][0]
    assert pg["DBParameterGroupFamily"] == "aurora-postgresql15"

    c = client.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    db_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["fablink-prod-db"]}])["SecurityGroups"][0]
    assert (c["Engine"], c["EngineVersion"]) == ("aurora-postgresql", cfg.aurora.engine_version)
    assert c["StorageEncrypted"] is True and c["KmsKeyId"] == key["Arn"]
    assert c["MasterUserSecret"]["KmsKeyId"] == key["Arn"]  # the password lives in Secrets Manager, under our key
    assert c["BackupRetentionPeriod"] == 30
    assert (c["PreferredBackupWindow"], c["PreferredMaintenanceWindow"]) == (cfg.aurora.backup_window, cfg.aurora.maintenance_window)
    assert c["IAMDatabaseAuthenticationEnabled"] is True and c["DeletionProtection"] is True and c["CopyTagsToSnapshot"] is True
    assert c["EnabledCloudwatchLogsExports"] == ["postgresql"]
    assert [g["VpcSecurityGroupId"] for g in c["VpcSecurityGroups"]] == [db_sg["GroupId"]]
    assert (c["DBSubnetGroup"], c["DBClusterParameterGroup"]) == (f"{CLUSTER}-subnets", f"{CLUSTER}-pg15")
    assert {t["Key"]: t["Value"] for t in c["TagList"]}["Stage"] == "aurora"

    log_group = logs.describe_log_groups(logGroupNamePrefix=f"/aws/rds/cluster/{CLUSTER}/")["logGroups"]
    assert [(g["logGroupName"], g["retentionInDays"]) for g in log_group] == [(f"/aws/rds/cluster/{CLUSTER}/postgresql", 90)]

    role = iam.get_role(RoleName="fablink-prod-rds-monitoring")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonRDSEnhancedMonitoringRole"]

    members = {m["DBInstanceIdentifier"]: m for m in c["DBClusterMembers"]}
    assert members[WRITER]["IsClusterWriter"] is True
    assert not members[READER_B]["IsClusterWriter"] and not members[READER_D]["IsClusterWriter"]
    insts = {i["DBInstanceIdentifier"]: i for i in client.describe_db_instances()["DBInstances"]}
    expected = {WRITER: ("ap-northeast-2a", 0), READER_B: ("ap-northeast-2b", 1), READER_D: ("ap-northeast-2d", 2)}
    assert set(insts) == set(expected)
    for name, (az, tier) in expected.items():
        i = insts[name]
        assert (i["DBInstanceClass"], i["AvailabilityZone"], i["PromotionTier"]) == ("db.r6g.large", az, tier)
        assert i["PubliclyAccessible"] is False
        assert (i["MonitoringInterval"], i["MonitoringRoleArn"]) == (60, role["Arn"])

    # Re-applying the converged environment writes nothing.
    again, changes = provision(cfg, BOTH)
    assert again.target.meter.writes == 0
    assert {c.action for c in changes if c.stage == "aurora"} <= {NOOP, SKIP}


def test_no_op_plan_of_the_stage_is_a_handful_of_calls(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    ctx = stage_ctx(cfg, outputs)
    aurora.plan(ctx)
    assert ctx.target.meter.writes == 0
    calls = ctx.target.meter.calls
    assert ctx.target.meter.reads <= 14, ctx.target.meter.summary()
    # One tag-index read; the key's search by its Alias tag only runs when the alias is missing.
    assert calls["resourcegroupstaggingapi:GetResources"] == 1
    assert "kms:ListResourceTags" not in calls and "logs:ListTagsLogGroup" not in calls
    # moto's tag index has no RDS subnet or parameter groups (AWS's has): read one by one here.
    assert calls["rds:ListTagsForResource"] == 2


def test_stage_alone_refuses_without_the_network(cfg, aws):
    with pytest.raises(OpsError, match="needs network"):
        plan(cfg, ("aurora",))


def test_sandbox_says_what_it_cannot_verify(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    changes = plan_stage(cfg, outputs)
    skipped = [c for c in changes if c.action == SKIP]
    assert [c.kind for c in skipped] == ["performance-insights"]
    assert "moto" in skipped[0].note and WRITER in skipped[0].note


# --------------------------------------------------------------------------
# crash at every write, then a re-run converges with no duplicate

# The stage's writes on an empty account: KMS CreateKey, EnableKeyRotation,
# CreateAlias; IAM CreateRole, AttachRolePolicy; Logs CreateLogGroup,
# PutRetentionPolicy; RDS CreateDBSubnetGroup, CreateDBClusterParameterGroup,
# ModifyDBClusterParameterGroup, CreateDBCluster, 3 x CreateDBInstance.
STAGE_WRITES = 14
_clean: dict = {}


def _clean_inventory(cfg) -> dict:
    if "state" not in _clean:
        with mock_aws():
            counter = WriteCounter()
            run_stage(cfg, substrate(cfg), hooks=counter.hooks)
            _clean["writes"] = counter.names
            _clean["state"] = aurora_inventory(REGION)
    return _clean["state"]


def test_crash_points_cover_every_write(cfg):
    _clean_inventory(cfg)
    assert len(_clean["writes"]) == STAGE_WRITES, _clean["writes"]


@pytest.mark.parametrize("after", [False, True], ids=["before-call", "after-call"])
@pytest.mark.parametrize("k", range(1, STAGE_WRITES + 1))
def test_crash_at_every_write_then_rerun_converges(cfg, k, after):
    expected = _clean_inventory(cfg)
    with mock_aws():
        outputs = substrate(cfg)
        crash = CrashAtWrite(k, after=after)
        with pytest.raises(SimulatedCrash):
            run_stage(cfg, outputs, hooks=crash.hooks)
        assert crash.crashed_on
        run_stage(cfg, outputs)  # a fresh process: it knows only what AWS says
        state = aurora_inventory(REGION)
        assert state == expected, f"crash at write {k} ({crash.crashed_on}):\n{dump(state)}"


def test_throttling_on_every_third_call_still_converges(cfg):
    expected = _clean_inventory(cfg)
    with mock_aws():
        outputs = substrate(cfg)
        throttle = Throttle(every=3)
        run_stage(cfg, outputs, hooks=throttle.hooks)
        assert throttle.throttled > 10
        assert aurora_inventory(REGION) == expected


def test_iam_propagation_error_of_rds_is_retried_on_writes_only():
    def error(code, message):
        return ClientError({"Error": {"Code": code, "Message": message}}, "CreateDBInstance")

    late_role = error("InvalidParameterValue", "IAM role ARN value is invalid or does not include the required permissions for: ENHANCED_MONITORING")
    assert _retryable(late_role, write=True)
    assert not _retryable(late_role, write=False)
    assert not _retryable(error("InvalidParameterValue", "Invalid DB instance class"), write=True)


# --------------------------------------------------------------------------
# drift: in-place corrections


def test_drift_is_planned_as_updates_and_corrected(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    clean = aurora_inventory(REGION)
    client, kms, logs = rds(), boto3.client("kms", region_name=REGION), boto3.client("logs", region_name=REGION)
    client.modify_db_cluster(DBClusterIdentifier=CLUSTER, BackupRetentionPeriod=7, DeletionProtection=False,
                             PreferredBackupWindow="10:00-10:30", ApplyImmediately=True)
    client.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"{CLUSTER}-pg15",
        Parameters=[{"ParameterName": "log_min_duration_statement", "ParameterValue": "5000", "ApplyMethod": "immediate"}],
    )
    client.modify_db_instance(DBInstanceIdentifier=READER_B, PromotionTier=9, MonitoringInterval=5, ApplyImmediately=True)
    client.remove_tags_from_resource(ResourceName=f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{CLUSTER}", TagKeys=["Owner"])
    kms.disable_key_rotation(KeyId=kms.describe_key(KeyId=cfg.aurora.kms_key_alias)["KeyMetadata"]["KeyId"])
    logs.put_retention_policy(logGroupName=f"/aws/rds/cluster/{CLUSTER}/postgresql", retentionInDays=7)

    found = by_key(plan_stage(cfg, outputs))
    cluster = found[f"db-cluster:{CLUSTER}"]
    assert cluster.action == UPDATE
    assert diffs(cluster)["backup retention days"] == (7, 30)
    assert diffs(cluster)["deletion protection"] == (False, True)
    assert diffs(cluster)["backup window"] == ("10:00-10:30", cfg.aurora.backup_window)
    assert diffs(cluster)["tag Owner"] == (None, "platform-team")
    assert diffs(found[f"db-cluster-parameter-group:{CLUSTER}-pg15"])["log_min_duration_statement"] == ("5000", "1000")
    reader = found[f"db-instance:{READER_B}"]
    assert reader.action == UPDATE and diffs(reader)["promotion tier"] == (9, 1) and "Enhanced Monitoring" in diffs(reader)
    assert diffs(found[f"kms-key:{cfg.aurora.kms_key_alias}"])["rotation"] == ("off", "on (yearly)")
    assert diffs(found[f"log-group:/aws/rds/cluster/{CLUSTER}/postgresql"])["retention days"] == (7, 90)
    assert found[f"db-instance:{WRITER}"].action == NOOP

    run_stage(cfg, outputs)
    assert aurora_inventory(REGION) == clean
    again, _ = run_stage(cfg, outputs)
    assert again.target.meter.writes == 0


def test_iam_auth_and_log_export_drift_are_requested_in_place(cfg, aws):
    # moto 5.2 ignores these two ModifyDBCluster arguments, so the test
    # checks what is asked of RDS rather than the resulting state.
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    cluster = _backend().clusters[CLUSTER]
    cluster.iam_auth, cluster.enabled_cloudwatch_logs_exports = False, []
    requests = []
    hook = ("provide-client-params.rds.ModifyDBCluster", lambda params, **_: requests.append(dict(params)))
    ctx, changes = run_stage(cfg, outputs, hooks=[hook])
    change = by_key(changes)[f"db-cluster:{CLUSTER}"]
    assert diffs(change) == {"IAM database authentication": (False, True), "log exports": ([], ["postgresql"])}
    assert requests == [{
        "DBClusterIdentifier": CLUSTER, "ApplyImmediately": True, "EnableIAMDatabaseAuthentication": True,
        "CloudwatchLogsExportConfiguration": {"EnableLogTypes": ["postgresql"], "DisableLogTypes": []},
    }]


def test_instance_class_change_restarts_one_instance_at_a_time_with_a_warning(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    bigger = replace(cfg, aurora=replace(cfg.aurora, instance_class="db.r6g.xlarge"))
    reporter = Recorder()
    ctx, changes = run_stage(bigger, outputs, reporter=reporter)
    resized = {c.name: c for c in changes if c.kind == "db-instance"}
    assert {c.action for c in resized.values()} == {UPDATE}
    assert all(diffs(c)["instance class"] == ("db.r6g.large", "db.r6g.xlarge") for c in resized.values())
    assert all("restarts" in c.note for c in resized.values())
    # Readers first, highest promotion tier first, the writer last: a chain.
    assert f"db-instance:{READER_D}" in resized[READER_B].needs
    assert f"db-instance:{READER_B}" in resized[WRITER].needs
    assert [w.split(":")[0] for w in reporter.warnings] == [f"DB instance {n}" for n in (READER_D, READER_B, WRITER)]
    classes = {i["DBInstanceIdentifier"]: i["DBInstanceClass"] for i in rds().describe_db_instances()["DBInstances"]}
    assert set(classes.values()) == {"db.r6g.xlarge"}
    assert rds().describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["Status"] == "available"


def test_missing_reader_is_added_and_an_unlisted_instance_left_alone(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    client = rds()
    client.delete_db_instance(DBInstanceIdentifier=READER_D)
    client.create_db_instance(DBInstanceIdentifier="analytics-adhoc", DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                              DBInstanceClass="db.r6g.2xlarge", AvailabilityZone="ap-northeast-2b")
    found = by_key(plan_stage(cfg, outputs))
    assert found[f"db-instance:{READER_D}"].action == CREATE
    assert found["db-instance:analytics-adhoc"].action == UNMANAGED
    assert found["db-instance:analytics-adhoc"].run is None
    ctx, _ = run_stage(cfg, outputs)
    insts = {i["DBInstanceIdentifier"]: i for i in client.describe_db_instances()["DBInstances"]}
    assert set(insts) == {WRITER, READER_B, READER_D, "analytics-adhoc"}
    assert insts["analytics-adhoc"]["DBInstanceClass"] == "db.r6g.2xlarge"
    assert not any(op.startswith("rds:Delete") for op in ctx.target.meter.calls)


# --------------------------------------------------------------------------
# immutable differences: replace-required, never carried out


def _hand_made_cluster(**overrides):
    kwargs = dict(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", EngineVersion="15.10", MasterUsername="fablink_admin",
                  ManageMasterUserPassword=True, StorageEncrypted=True, DBSubnetGroupName=f"{CLUSTER}-subnets", BackupRetentionPeriod=7)
    kwargs.update(overrides)
    rds().create_db_cluster(**kwargs)


@pytest.mark.parametrize(
    "overrides, attribute",
    [
        ({"StorageEncrypted": False}, "storage encrypted"),
        ({"EngineVersion": "14.9"}, "engine major version"),
        ({"DBSubnetGroupName": "legacy-subnets"}, "subnet group"),
    ],
    ids=["encryption", "engine-major", "subnet-group"],
)
def test_immutable_change_is_replace_required_and_left_untouched(cfg, aws, overrides, attribute):
    outputs = substrate(cfg)
    _hand_made_cluster(**overrides)
    before = aurora_inventory(REGION)["db_clusters"]
    cluster = by_key(plan_stage(cfg, outputs))[f"db-cluster:{CLUSTER}"]
    assert cluster.action == REPLACE and cluster.run is None
    assert attribute in diffs(cluster)
    assert "backup retention days" in diffs(cluster)  # shown, but not corrected either
    ctx, changes = run_stage(cfg, outputs)
    assert aurora_inventory(REGION)["db_clusters"] == before
    assert not [op for op in ctx.target.meter.calls if op in ("rds:ModifyDBCluster", "rds:CreateDBCluster", "rds:CreateDBInstance")]
    assert {c.action for c in changes if c.kind == "db-instance"} == {BLOCKED}  # nothing is added to a wrong cluster


def test_cli_provision_of_a_replace_required_cluster_exits_1(cfg, aws, monkeypatch, capsys):
    provisioned(cfg, ("network",))
    _hand_made_cluster(StorageEncrypted=False)
    _in_process_cli(monkeypatch, cfg)
    # the hand-made cluster carries none of our tags: refused unless adopted
    assert cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), stage="aurora")) == 2
    assert f"db-cluster {CLUSTER} (no Environment, no ManagedBy, no Project)" in capsys.readouterr().err
    code = cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), stage="aurora", adopt=True))
    err = capsys.readouterr().err
    assert code == 1 and "need replacing" in err and f"db-cluster {CLUSTER}" in err


@pytest.mark.parametrize("as_json", [True, False])
def test_a_tag_only_update_never_shows_aws_s_raw_response(cfg, aws, monkeypatch, capsys, as_json):
    # AddTagsToResource answers {'ResponseMetadata': ...}; the run's detail is
    # what the operator reads (console and --json), never that.
    provisioned(cfg, BOTH)
    rds().remove_tags_from_resource(ResourceName=f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:{CLUSTER}", TagKeys=["Owner"])
    _in_process_cli(monkeypatch, cfg)
    code = cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), stage="aurora", json=as_json))
    out, err = capsys.readouterr()
    assert code == 0
    assert "ResponseMetadata" not in out + err and "HTTPHeaders" not in out + err
    if as_json:
        [applied] = json.loads(out)["applied"]
        assert (applied["kind"], applied["name"], applied["detail"]) == ("db-cluster", CLUSTER, None)


# --------------------------------------------------------------------------
# waits: an interrupted run resumes; budgets; terminal states fail fast


def _backend():
    return rds_backends[ACCOUNT][REGION]


def test_cluster_and_instance_found_creating_are_waited_for(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    backend = _backend()
    backend.clusters[CLUSTER].status = "creating"  # moto reports it once, then available
    backend.databases[READER_D].status = "creating"
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        backend.databases[READER_D].status = "available"

    reporter = Recorder()
    ctx = stage_ctx(cfg, outputs, reporter=reporter, sleep=sleep)
    changes = aurora.plan(ctx)
    found = by_key(changes)
    assert found[f"db-cluster:{CLUSTER}"].action == WAIT
    assert found[f"db-instance:{READER_D}"].action == WAIT
    apply(changes, ctx, cfg.engine.concurrency)
    assert reporter.waits == [f"DB cluster {CLUSTER}", f"DB instance {READER_D}"]
    assert polls  # the instance was polled until it was available
    assert ctx.target.meter.writes == 0


def _timed_stage(cfg, hide_writer_while_creating: bool = False):
    """The stage alone through the latency model (fablink_ops/fidelity/latency.py: a cluster
    5 minutes, an instance 10, here at 1:1200). Returns the model and when
    the writer became available. ``hide_writer_while_creating``: the cluster
    lists no writer until the writer is available (if that is what AWS does)."""
    import time

    from fablink_ops.fidelity.latency import LatencyModel

    model = LatencyModel(scale=1200.0)
    writer = cfg.aurora.instances[0].identifier

    def hide(parsed, **kwargs):
        ready_at = model._ready_at.get(("aurora-instance", writer))
        if kwargs["model"].name == "DescribeDBClusters" and (ready_at is None or time.monotonic() < ready_at):
            for cluster in parsed.get("DBClusters", []):
                for member in cluster.get("DBClusterMembers", []):
                    member["IsClusterWriter"] = False

    from fablink_ops.fidelity import inprocess

    inprocess.layer().latency = model  # moto's answers carry the model's statuses; ``hide`` reads them after
    hooks = [("after-call", hide)] if hide_writer_while_creating else []
    ctx, changes = run_stage(cfg, substrate(cfg), hooks, sleep=time.sleep, poll_scale=1 / 1200.0)
    assert {c.key for c in changes if c.action != CREATE} == {f"db-instance-ready:{writer}"}
    return model, model._ready_at[("aurora-instance", writer)]


def test_readers_are_added_once_the_cluster_lists_the_writer_not_once_it_is_available(cfg, aws):
    """moto lists the first instance as the writer when it is created: the
    readers then start at once, 10 minutes sooner than after "available"."""
    model, writer_ready = _timed_stage(cfg)
    readers = [t for t, m, rid in model.created if m == "aurora-instance" and rid != cfg.aurora.instances[0].identifier]
    assert len(readers) == 2 and all(t < writer_ready for t in readers)
    members = boto3.client("rds", region_name=REGION).describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]["DBClusterMembers"]
    assert [m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]] == [cfg.aurora.instances[0].identifier]


def test_readers_wait_for_the_writer_when_the_cluster_lists_it_only_once_available(cfg, aws):
    """Never sooner than is safe: with no writer listed, a reader would race
    the writer for the role, so it waits."""
    model, writer_ready = _timed_stage(cfg, hide_writer_while_creating=True)
    readers = [t for t, m, rid in model.created if m == "aurora-instance" and rid != cfg.aurora.instances[0].identifier]
    assert len(readers) == 2 and all(t >= writer_ready for t in readers)


def test_a_wait_past_its_budget_stops_with_a_resume_hint(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    _backend().databases[READER_B].status = "creating"
    now = [0.0]

    def sleep(seconds):
        now[0] += 600  # ten minutes a poll

    ctx = stage_ctx(cfg, outputs, sleep=sleep, clock=lambda: now[0])
    changes = aurora.plan(ctx)
    with pytest.raises(OpsError, match=r"still creating after .*budget 2700s.*run the same command again"):
        apply(changes, ctx, cfg.engine.concurrency)


def test_a_failed_instance_fails_fast(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    _backend().databases[READER_B].status = "incompatible-parameters"
    ctx = stage_ctx(cfg, outputs, sleep=lambda s: pytest.fail("must not wait on a failed instance"))
    changes = aurora.plan(ctx)
    with pytest.raises(OpsError, match=f"DB instance {READER_B} is incompatible-parameters"):
        apply(changes, ctx, cfg.engine.concurrency)


# --------------------------------------------------------------------------
# the KMS key: found by alias, or by its tag after a crash; never doubled


def test_two_keys_tagged_for_the_alias_is_an_error_naming_both(cfg, aws):
    outputs = substrate(cfg)
    kms = boto3.client("kms", region_name=REGION)
    arns = [kms.create_key(Tags=[{"TagKey": ALIAS_TAG, "TagValue": cfg.aurora.kms_key_alias}])["KeyMetadata"]["Arn"] for _ in range(2)]
    with pytest.raises(OpsError) as err:
        plan_stage(cfg, outputs)
    assert arns[0] in str(err.value) and arns[1] in str(err.value)


def test_a_key_scheduled_for_deletion_is_rescued(cfg, aws):
    outputs = substrate(cfg)
    run_stage(cfg, outputs)
    clean = aurora_inventory(REGION)
    kms = boto3.client("kms", region_name=REGION)
    kms.schedule_key_deletion(KeyId=kms.describe_key(KeyId=cfg.aurora.kms_key_alias)["KeyMetadata"]["KeyId"], PendingWindowInDays=30)
    key = by_key(plan_stage(cfg, outputs))[f"kms-key:{cfg.aurora.kms_key_alias}"]
    assert key.action == UPDATE and diffs(key)["state"] == ("PendingDeletion", "Enabled")
    run_stage(cfg, outputs)
    assert aurora_inventory(REGION) == clean


# --------------------------------------------------------------------------
# no password or secret value in any output


def _in_process_cli(monkeypatch, cfg):
    """The CLI's commands, on this test's moto instead of a sandbox server."""
    monkeypatch.setattr(cli, "open_session", lambda opts: cli.Session(opts, load_config(opts.config), make_target(cfg, wait_scale=0.01), make_console(opts.json)))


def test_no_password_or_secret_value_in_any_output(cfg, aws, monkeypatch, capsys):
    provisioned(cfg, ("network",))
    _in_process_cli(monkeypatch, cfg)
    outputs = []
    for command, as_json in ((cli.cmd_plan, True), (cli.cmd_provision, False), (cli.cmd_provision, True), (cli.cmd_plan, False)):
        assert cli.run(command, cli.Options(config=str(CONFIG), stage="aurora", json=as_json)) == 0
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
        if as_json:
            json.loads(captured.out)  # exactly one JSON document
    cluster = rds().describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
    secret_arn = cluster["MasterUserSecret"]["SecretArn"]
    secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=secret_arn)["SecretString"]
    password = json.loads(secret)["password"]
    assert "managed by Secrets Manager" in outputs[0] and "created db-cluster" in outputs[2]  # the output is real
    for text in outputs:
        assert password not in text
        assert secret not in text
        assert secret_arn not in text
        assert "MasterUserPassword" not in text
    assert not re.search(r"(?im)^\s*[\w.]*(password|secret)\w*\s*=", CONFIG.read_text())


# --------------------------------------------------------------------------
# live paths moto cannot show: Performance Insights (Stubber)


def _live_ctx(cfg):
    target = Target("live", REGION, boto3.Session(region_name=REGION), retry=make_target(cfg).retry)
    ctx = Context(cfg, target, sleep=lambda s: None)
    ctx.set_output(Names(cfg).key_output, f"arn:aws:kms:{REGION}:{ACCOUNT}:key/ours")
    ctx.set_output(ROLE_ARN, f"arn:aws:iam::{ACCOUNT}:role/fablink-prod-rds-monitoring")
    return ctx


def _live_instance(cfg, **overrides):
    inst = {
        "DBInstanceIdentifier": READER_B, "DBInstanceArn": f"arn:aws:rds:{REGION}:{ACCOUNT}:db:{READER_B}",
        "DBInstanceClass": "db.r6g.large", "AvailabilityZone": "ap-northeast-2b", "PromotionTier": 1, "PubliclyAccessible": False,
        "AutoMinorVersionUpgrade": True, "MonitoringInterval": 60, "MonitoringRoleArn": f"arn:aws:iam::{ACCOUNT}:role/fablink-prod-rds-monitoring",
        "PerformanceInsightsEnabled": False, "DBInstanceStatus": "available",
        "TagList": [{"Key": k, "Value": v} for k, v in {**cfg.base_tags("aurora"), "Name": READER_B}.items()],
    }
    inst.update(overrides)
    return inst


def test_live_performance_insights_off_is_turned_on_with_our_key(cfg):
    ctx = _live_ctx(cfg)
    change = aurora_instances._existing(ctx, Names(cfg), cfg.aurora.instances[1], _live_instance(cfg), ())
    assert change.action == UPDATE and diffs(change)["Performance Insights"] == (False, cfg.aurora.kms_key_alias)
    with Stubber(ctx.client("rds").raw) as stub:
        stub.add_response("modify_db_instance", {"DBInstance": {}}, {
            "DBInstanceIdentifier": READER_B, "ApplyImmediately": True, "EnablePerformanceInsights": True,
            "PerformanceInsightsKMSKeyId": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/ours", "PerformanceInsightsRetentionPeriod": 7,
        })
        change.run()
        stub.assert_no_pending_responses()


def test_live_performance_insights_under_another_key_is_replace_required(cfg):
    ctx = _live_ctx(cfg)
    current = _live_instance(cfg, PerformanceInsightsEnabled=True, PerformanceInsightsKMSKeyId="arn:aws:kms:x:1:key/other",
                             PerformanceInsightsRetentionPeriod=7)
    change = aurora_instances._existing(ctx, Names(cfg), cfg.aurora.instances[1], current, ())
    assert change.action == REPLACE and change.run is None
    assert "Performance Insights KMS key" in diffs(change)


# --------------------------------------------------------------------------
# bad config: one line naming the key, exit 2, no AWS call


BAD = [
    ('engine_version = "15.10"', 'engine_version = "14.9"', "aurora.engine_version"),
    ('instance_class = "db.r6g.large"', 'instance_class = "db.t4g.medium"', "aurora.instance_class"),
    ('instance_class = "db.r6g.large"', 'instance_class = "r6g.large"', "aurora.instance_class"),
    ('backup_retention_days = 30', 'backup_retention_days = 0', "aurora.backup_retention_days"),
    ('backup_retention_days = 30', 'backup_retention_days = 36', "aurora.backup_retention_days"),
    ('backup_window = "18:00-18:30"', 'backup_window = "18:00-18:10"', "aurora.backup_window"),
    ('backup_window = "18:00-18:30"', 'backup_window = "6pm"', "aurora.backup_window"),
    ('maintenance_window = "sun:19:00-sun:20:00"', 'maintenance_window = "Sun:19:00-Sun:20:00"', "aurora.maintenance_window"),
    ('maintenance_window = "sun:19:00-sun:20:00"', 'maintenance_window = "wed:18:15-wed:19:00"', "aurora.maintenance_window"),
    ("promotion_tier = 1 }", "promotion_tier = 16 }", "aurora.instances[1].promotion_tier"),
    ("promotion_tier = 0 }", "promotion_tier = 5 }", "aurora.instances[0].promotion_tier"),
    ('az = "ap-northeast-2d", promotion_tier', 'az = "ap-northeast-2c", promotion_tier', "aurora.instances[2].az"),
    ("monitoring_interval_seconds = 60", "monitoring_interval_seconds = 7", "aurora.monitoring_interval_seconds"),
    ("monitoring_interval_seconds = 60", "monitoring_interval_seconds = 0", "aurora.monitoring_interval_seconds"),
    ("slow_query_threshold_ms = 1000", "slow_query_threshold_ms = 0", "aurora.slow_query_threshold_ms"),
    ("slow_query_threshold_ms = 1000", 'slow_query_threshold_ms = "1s"', "aurora.slow_query_threshold_ms"),
    ("performance_insights_retention_days = 7", "performance_insights_retention_days = 30", "aurora.performance_insights_retention_days"),
    ('name = "rds.force_ssl", value = "1"', 'name = "rds.force_ssl", value = "0"', "aurora.parameters"),
    ('log_exports = ["postgresql"]', 'log_exports = ["audit"]', "aurora.log_exports[0]"),
    ('security_group_tier = "db"', 'security_group_tier = "app"', "aurora.port"),
    ('master_username = "fablink_admin"', 'master_username = "rdsadmin"', "aurora.master_username"),
    ('cluster_identifier = "{prefix}-aurora"', 'cluster_identifier = "Fablink--aurora"', "aurora.cluster_identifier"),
    ('kms_key_alias = "alias/{prefix}-aurora"', 'kms_key_alias = "alias/aws/rds"', "aurora.kms_key_alias"),
    ('master_username = "fablink_admin"', 'master_username = "fablink_admin"\nmaster_password = "hunter22"', "aurora.master_password"),
]


def _bad_config(tmp_path, old, new):
    return edited_config(tmp_path, old, new, name="bad.toml")


@pytest.mark.parametrize("old, new, key", BAD, ids=[b[2] + ":" + b[1].split("=")[-1].strip()[:12] for b in BAD])
def test_bad_aurora_config_names_the_key(tmp_path, old, new, key):
    with pytest.raises(ConfigError) as err:
        load_config(_bad_config(tmp_path, old, new))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'bad.toml'}: {key}: "), message


def test_a_password_in_config_is_refused_as_a_secret(tmp_path):
    with pytest.raises(ConfigError, match="secrets never go in the config file"):
        load_config(_bad_config(tmp_path, *BAD[-1][:2]))


def test_bad_aurora_config_through_the_cli_exits_2_before_any_aws_call(tmp_path, capsys, monkeypatch):
    path = _bad_config(tmp_path, "backup_retention_days = 30", "backup_retention_days = 90")
    err = plan_refused(path, monkeypatch, capsys)
    assert err.count("\n") == 1 and "aurora.backup_retention_days" in err


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROD = load_config(CONFIG)


@settings(max_examples=150, deadline=None)
@given(
    backup_start=st.integers(0, 24 * 60 - 1), backup_length=st.integers(30, 300),
    day=st.integers(0, 6), maintenance_start=st.integers(0, 24 * 60 - 1), maintenance_length=st.integers(30, 600),
)
def test_window_overlap_is_refused_exactly_when_the_windows_share_a_minute(
    backup_start, backup_length, day, maintenance_start, maintenance_length
):
    cfg = PROD
    def hhmm(minute):
        return f"{minute // 60 % 24:02d}:{minute % 60:02d}"

    week = 7 * 24 * 60
    backup = f"{hhmm(backup_start)}-{hhmm(backup_start + backup_length)}"
    m_start = day * 24 * 60 + maintenance_start
    m_end = (m_start + maintenance_length) % week
    maintenance = f"{DAYS[m_start // 1440]}:{hhmm(m_start)}-{DAYS[m_end // 1440]}:{hhmm(m_end)}"
    # Brute force: every minute of the week each window covers.
    backup_minutes = {(d * 1440 + backup_start + i) % week for d in range(7) for i in range(backup_length)}
    maintenance_minutes = {(m_start + i) % week for i in range(maintenance_length)}
    candidate = replace(cfg, aurora=replace(cfg.aurora, backup_window=backup, maintenance_window=maintenance))
    if backup_minutes & maintenance_minutes:
        with pytest.raises(ConfigError, match="aurora.maintenance_window: .* overlaps the backup window"):
            config_module._validate(candidate)
    else:
        config_module._validate(candidate)
