"""invoke destroy (issue 18): refused for production and for deletion
protection; otherwise only this environment's tagged resources go, in
reverse build order, data stores snapshotted first; re-runnable after a crash
at any write; what is left is listed."""

from __future__ import annotations

import io
import re

import boto3
import pytest

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.destroy import ORDER, discover
from fablink_ops.destroy.command import cmd_destroy
from fablink_ops.output import make_console

from fablink_ops import operator_policy

from .conftest import CONFIG, ROOT, make_ctx, make_target
from .faults import CrashAtWrite, SimulatedCrash, WriteCounter
from .test_eks import _moto_env
from .util import pending, plan, provision, provisioned

REGION = "ap-northeast-2"


@pytest.fixture
def aws(aws, monkeypatch):  # noqa: F811 - the conftest's moto, with the managed policies the roles attach
    _moto_env(monkeypatch)
    yield


def staging_config(tmp_path, protection: bool = False, extra: str = ""):
    """prod.toml renamed to a non-production "staging" (every name differs)."""
    text = CONFIG.read_text()
    text = text.replace("fablink-prod", "fablink-staging").replace('environment = "prod"', 'environment = "staging"')
    text = text.replace("fablink-cluster-prod", "fablink-cluster-staging").replace('"api.fablink.com"', '"api.staging.fablink.com"')
    assert "production = true" in text
    text = text.replace("production = true", "production = false")
    if not protection:
        text = text.replace("deletion_protection = true", "deletion_protection = false")
        text = text.replace("nlb_deletion_protected = true", "nlb_deletion_protected = false")
    path = tmp_path / "staging.toml"
    path.write_text(text + extra)
    return load_config(path)


def destroy(cfg, hooks=(), yes=True, json=False, stage=None, target=None) -> int:
    """`invoke destroy` through the CLI's command, on in-process moto."""
    opts = cli.Options(config=cfg.path, yes=yes, json=json, stage=stage)
    session = cli.Session(opts, cfg, target or make_target(cfg, hooks), make_console(json))
    return cli.run(lambda o: cmd_destroy(o, session), opts)


def left(cfg, stages=ORDER):
    inv = discover(make_ctx(cfg), list(stages))
    return [(d.kind, d.name) for d in inv.deletable() + inv.blocked()]


# ----- refusals


def test_production_is_refused_before_any_aws_call(monkeypatch, capsys):
    reached = []
    from fablink_ops import session

    monkeypatch.setattr(session.sandbox, "ensure_running", lambda *a, **k: reached.append("sandbox"))
    monkeypatch.setattr(session, "live_target", lambda *a, **k: reached.append("live"))
    code = cli.run(cmd_destroy, cli.Options(config=str(CONFIG), yes=True))
    assert (code, reached) == (2, [])
    err = capsys.readouterr().err
    assert "marks fablink-prod as production" in err and err.count("\n") == 1


def test_a_config_without_the_production_key_counts_as_production(tmp_path):
    path = tmp_path / "noflag.toml"
    path.write_text(re.sub(r"\nproduction = true\n", "\n", CONFIG.read_text()))
    assert load_config(path).project.production is True


def test_config_destroy_section_and_deletion_protection_outside_production(tmp_path):
    from .util import assert_config_error

    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.read_text() + "\n[destroy]\nfinal_snapshot = false\n")
    assert_config_error(path, "destroy.final_snapshot", "did you mean 'aurora_final_snapshot'")
    path.write_text(CONFIG.read_text().replace("deletion_protection = true      # \"Deletion", "deletion_protection = false      # \"Deletion"))
    assert_config_error(path, "dynamodb.deletion_protection", "must be true in production")
    staging = staging_config(tmp_path, extra="\n[destroy]\naurora_final_snapshot = false\nwait_minutes = 5\n")
    assert (staging.dynamodb.deletion_protection, staging.destroy.aurora_final_snapshot, staging.destroy.wait_minutes) == (False, False, 5.0)
    assert load_config(CONFIG).destroy.aurora_final_snapshot is True  # the section is optional


def test_deletion_protection_is_a_refusal_naming_them_with_zero_writes(aws, tmp_path, capsys):
    cfg = staging_config(tmp_path, protection=True)
    provisioned(cfg, ("network", "aurora", "dynamodb"))
    writes = WriteCounter()
    assert destroy(cfg, hooks=writes.hooks) == 2
    assert writes.names == []
    err = capsys.readouterr().err
    assert "deletion protection on" in err
    assert "db-cluster fablink-staging-aurora (deletion protection)" in err
    assert "dynamodb-table fablink-staging-sessions (deletion protection)" in err


def test_a_stage_another_still_builds_on_is_refused(aws, tmp_path, capsys):
    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network", "aurora"))
    writes = WriteCounter()
    assert destroy(cfg, hooks=writes.hooks, stage="network") == 2
    assert writes.names == [] and "network is still needed by aurora" in capsys.readouterr().err
    assert destroy(cfg, stage="aurora") == 0 and destroy(cfg, stage="network") == 0
    assert left(cfg) == []


def test_no_terminal_and_no_yes_is_a_refusal_with_zero_writes(aws, tmp_path, monkeypatch, capsys):
    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network",))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    writes = WriteCounter()
    assert destroy(cfg, hooks=writes.hooks, yes=False) == 2
    assert writes.names == [] and "no --yes" in capsys.readouterr().err


def test_typed_confirmation_must_be_the_environment_name(aws, tmp_path, monkeypatch):
    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network",))
    tty = io.StringIO("fablink-prod\n")
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", tty)
    assert destroy(cfg, yes=False) == 2
    assert ("vpc", "fablink-staging-vpc") in left(cfg, ["network"])
    tty = io.StringIO("fablink-staging\n")
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", tty)
    assert destroy(cfg, yes=False) == 0
    assert left(cfg, ["network"]) == []


# ----- only ours, in order, data kept


def test_staging_beside_prod_goes_entirely_and_prod_is_untouched(aws, tmp_path, cfg, capsys):
    """Both built in one moto (prod first, so the account's API Gateway
    logging role is prod's); destroying staging leaves prod exactly as it was."""
    staging = staging_config(tmp_path)
    provision(cfg, stages=ORDER)
    provision(staging, stages=ORDER)
    before = [c.to_json() for c in plan(cfg, stages=ORDER)[1]]

    target = make_target(staging)
    assert destroy(staging, json=True, target=target) == 0
    doc = __import__("json").loads(capsys.readouterr().out)
    assert doc["result"] == "ok" and doc["left"] == []
    # every call destroy made is in its own policy (docs/destroy-policy.json, derived from its source)
    policy = __import__("json").loads((ROOT / "docs" / "destroy-policy.json").read_text())["Statement"][0]["Action"]
    assert {operator_policy.action_of(c) for c in target.meter.calls} - set(policy) == set()
    # the plan: reverse build order, data stores called out
    stages = [d["stage"] for d in doc["plan"]]
    assert stages == sorted(stages, key=ORDER.index) and set(stages) == set(ORDER)
    kinds = [d["kind"] for d in doc["plan"] if d["stage"] == "network"]
    assert kinds.index("nat-gateway") < kinds.index("elastic-ip") < kinds.index("internet-gateway") < kinds.index("vpc")
    assert kinds.index("subnet") < kinds.index("vpc") and kinds.index("security-group") < kinds.index("vpc")
    eks_kinds = [d["kind"] for d in doc["plan"] if d["stage"] == "eks"]
    assert eks_kinds.index("nodegroup") < eks_kinds.index("eks-cluster")
    aurora_kinds = [d["kind"] for d in doc["plan"] if d["stage"] == "aurora"]
    assert aurora_kinds.index("db-instance") < aurora_kinds.index("db-cluster") < aurora_kinds.index("db-subnet-group")
    stores = {d["name"]: d["data"] for d in doc["plan"] if d.get("data")}
    assert set(stores) == {"fablink-staging-aurora", "fablink-staging-backup", *(t.name for t in staging.dynamodb.tables)}
    assert not [d for d in doc["plan"] if "prod" in d["name"].replace("/prod", "")]

    # staging: nothing left but the keys its final snapshots are encrypted with
    assert left(staging) == []
    assert sorted(d["name"] for d in doc["kept"]) == ["alias/fablink-staging-aurora", "alias/fablink-staging-dynamodb"]
    rds = boto3.client("rds", region_name=REGION)
    snaps = rds.describe_db_cluster_snapshots(DBClusterIdentifier="fablink-staging-aurora", SnapshotType="manual")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in snaps] == [stores["fablink-staging-aurora"].split()[-1]]
    backups = boto3.client("dynamodb", region_name=REGION).list_backups(BackupType="USER")["BackupSummaries"]
    assert sorted(b["TableName"] for b in backups) == sorted(t.name for t in staging.dynamodb.tables)
    kms = boto3.client("kms", region_name=REGION)
    states = {a["AliasName"]: kms.describe_key(KeyId=a["TargetKeyId"])["KeyMetadata"]["KeyState"]
              for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/fablink-")}
    assert states["alias/fablink-staging-aurora"] == "Enabled" and "alias/fablink-staging-alarms" not in states
    # prod: exactly as before
    after = plan(cfg, stages=ORDER)[1]
    assert pending(after) == [c for c in after if c.action in ("skipped", "unmanaged")]
    assert [c.to_json() for c in after] == before


def test_opting_out_of_final_backups_takes_none_and_deletes_the_key(aws, tmp_path, capsys):
    cfg = staging_config(tmp_path, extra="\n[destroy]\ndynamodb_final_backup = false\n")
    provisioned(cfg, ("network", "dynamodb"))
    assert destroy(cfg, stage="dynamodb") == 0
    out = capsys.readouterr().out
    assert "data lost: dynamodb-table fablink-staging-sessions: NO backup ([destroy] dynamodb_final_backup = false)" in " ".join(out.split())
    assert boto3.client("dynamodb", region_name=REGION).list_backups()["BackupSummaries"] == []
    assert left(cfg, ["dynamodb"]) == [] and discover(make_ctx(cfg), ["dynamodb"]).kept() == []
    assert ("vpc", "fablink-staging-vpc") in left(cfg, ["network"])  # --stage: only that stage


def test_what_could_not_be_deleted_is_listed_and_exit_1(aws, tmp_path, capsys):
    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network",))

    def deny_delete_vpc(model, **_):
        if model.name == "DeleteVpc":
            from botocore.exceptions import ClientError
            raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "denied"}}, "DeleteVpc")

    assert destroy(cfg, hooks=[("before-call", deny_delete_vpc)]) == 1
    err = capsys.readouterr()
    assert "left: network vpc fablink-staging-vpc" in err.out and "UnauthorizedOperation" in err.err
    # it stopped there: the VPC and what comes after it (the flow logs' role and group) are left
    assert left(cfg, ["network"]) == [("vpc", "fablink-staging-vpc"), ("iam-role", "fablink-staging-vpc-flow-logs"),
                                      ("log-group", "/aws/vpc/fablink-staging/flow-logs")]
    assert destroy(cfg) == 0 and left(cfg, ["network"]) == []


def test_a_subnet_still_in_use_is_retried_until_it_can_go(aws, tmp_path, capsys):
    """AWS answers DependencyViolation while another service's network
    interfaces (the EKS cluster's, the NLB's) linger in a subnet for minutes."""
    from botocore.awsrequest import AWSResponse

    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network",))
    refused = []

    def in_use_once(model, **_):
        if model.name == "DeleteSubnet" and not refused:
            refused.append(model.name)
            parsed = {"Error": {"Code": "DependencyViolation", "Message": "The subnet has dependencies"},
                      "ResponseMetadata": {"HTTPStatusCode": 400}}
            return AWSResponse("https://in-use.invalid", 400, {}, None), parsed
        return None

    assert destroy(cfg, hooks=[("before-call", in_use_once)]) == 0
    assert refused and "to be deletable" in capsys.readouterr().out
    assert left(cfg, ["network"]) == []


# ----- re-runnable after a crash at any write


class CrashAtWriteNotTheLock(CrashAtWrite):
    """The run lock's own writes are not the destroy's (a crash releases the
    lock on the way out, as Ctrl-C does; kill -9 leaves it for its lease)."""

    LOCK_WRITES = {"CreateTable", "PutItem", "UpdateItem", "DeleteItem"}  # destroy itself makes none of these

    def _handler(self, model, **kw):
        if model.name in self.LOCK_WRITES:
            return None
        return super()._handler(model, **kw)


def test_a_crash_after_every_write_then_a_rerun_converges_to_nothing_left(aws, tmp_path):
    """Each run dies right after its first write (AWS did it; the process
    never learned): the next run carries on from what AWS then shows. Run
    after run, that is a crash at every write of the destroy. (A crash before
    write k leaves AWS as a crash after write k-1 does.)"""
    cfg = staging_config(tmp_path)
    provisioned(cfg, ("network", "dynamodb"))
    crashed: list[str] = []
    crash = CrashAtWriteNotTheLock(1, after=True)
    target = make_target(cfg, crash.hooks)  # one for every run: building clients costs more than the run
    for _ in range(200):
        crash.writes = 0  # each run dies after its own first write
        try:
            code = destroy(cfg, target=target)
        except SimulatedCrash:
            crashed.append(crash.crashed_on)
            continue
        break
    assert code == 0 and left(cfg, ["network", "dynamodb"]) == []
    assert len(crashed) > 30
    assert {"CreateBackup", "DeleteTable", "DeleteNatGateway", "ReleaseAddress", "DetachInternetGateway",
            "DisassociateRouteTable", "DeleteSecurityGroup", "DeleteVpc", "DeleteRole"} <= set(crashed)
    backups = boto3.client("dynamodb", region_name=REGION).list_backups(BackupType="USER")["BackupSummaries"]
    assert sorted(b["TableName"] for b in backups) == sorted(t.name for t in cfg.dynamodb.tables)  # one each, never two


# ----- the real `invoke destroy`, live mode against a moto server


def test_invoke_destroy_live_end_to_end(tmp_path):
    from .test_cli_e2e import ACCOUNT, MotoServer, one_json, run_invoke

    cfg = staging_config(tmp_path)
    server = MotoServer(ACCOUNT)
    try:
        env = server.live_env()
        built = run_invoke("provision", "--stage", "network", "--live", "--yes", "--config", cfg.path, env=env)
        assert built.returncode == 0, built.stderr + built.stdout
        prod = run_invoke("destroy", "--live", "--yes", "--json", env=env)
        assert prod.returncode == 2 and one_json(prod.stdout)["error"].startswith("refusing: config/prod.toml marks fablink-prod")
        unconfirmed = run_invoke("destroy", "--live", "--stage", "network", "--json", "--config", cfg.path, env=env)
        assert unconfirmed.returncode == 2 and "no --yes" in unconfirmed.stderr
        assert len(server.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["staging"]}])["Vpcs"]) == 1
        done = run_invoke("destroy", "--live", "--yes", "--stage", "network", "--json", "--config", cfg.path, env=env)
        assert done.returncode == 0, done.stderr
        doc = one_json(done.stdout)
        assert doc["target"] == "live" and doc["result"] == "ok" and doc["left"] == [] and len(doc["deleted"]) == len(doc["plan"]) > 20
        assert server.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Environment", "Values": ["staging"]}])["Vpcs"] == []
    finally:
        server.stop()


def test_live_eks_add_ons_are_deleted_before_the_cluster(aws, tmp_path):
    """moto has no add-on API: the live path, on botocore's Stubber."""
    from botocore.stub import Stubber

    from fablink_ops.destroy import delete

    cfg = staging_config(tmp_path)
    ctx = make_ctx(cfg)
    ctx.target.mode = "live"
    eks = ctx.client("eks")
    name, arn = "fablink-cluster-staging", "arn:aws:eks:ap-northeast-2:853963783084:cluster/fablink-cluster-staging"
    tags = {"ManagedBy": "fablink-ops", "Project": "fablink", "Environment": "staging", "Stage": "eks"}
    cluster = {"name": name, "arn": arn, "status": "ACTIVE", "tags": tags, "version": "1.34"}
    gone = {"service_error_code": "ResourceNotFoundException", "http_status_code": 404}
    with Stubber(eks.raw) as stub:
        stub.add_response("list_clusters", {"clusters": [name, "someone-elses"]})
        stub.add_response("describe_cluster", {"cluster": cluster}, {"name": name})
        stub.add_response("list_addons", {"addons": ["vpc-cni"]}, {"clusterName": name})
        stub.add_response("list_nodegroups", {"nodegroups": []}, {"clusterName": name})
        stub.add_response("describe_cluster", {"cluster": {**cluster, "name": "someone-elses", "tags": {**tags, "Environment": "prod"}}},
                          {"name": "someone-elses"})  # another environment's: nothing of it is listed or deleted
        inv = discover(ctx, ["eks"])
        assert [(d.kind, d.name) for d in inv.doomed] == [("eks-addon", f"{name}/vpc-cni"), ("eks-cluster", name)]
        stub.add_response("delete_addon", {"addon": {"addonName": "vpc-cni", "clusterName": name, "status": "DELETING"}},
                          {"clusterName": name, "addonName": "vpc-cni"})
        stub.add_client_error("describe_addon", **gone)
        stub.add_response("delete_cluster", {"cluster": {**cluster, "status": "DELETING"}}, {"name": name})
        stub.add_client_error("describe_cluster", **gone)
        delete(ctx, inv, lambda d: None)
        stub.assert_no_pending_responses()


def test_staging_is_destroyed_through_invoke_on_the_sandbox_server(tmp_path):
    """The real command against the sandbox's moto server, whose answers to
    what moto lacks (backup recovery points) are 404 pages, not exceptions."""
    from .test_cli_e2e import clean_env, run_invoke

    env = clean_env(FABLINK_SANDBOX_DIR=str(tmp_path / "sandbox"))
    try:
        built = run_invoke("provision", "-c", "config/staging.toml", "--stage", "backup", env=env)
        assert built.returncode == 0, built.stderr
        gone = run_invoke("destroy", "-c", "config/staging.toml", "--stage", "backup", "--yes", "--json", env=env)
        assert gone.returncode == 0, gone.stderr
        doc = __import__("json").loads(gone.stdout)
        assert doc["result"] == "ok" and doc["left"] == []
        assert {d["kind"] for d in doc["deleted"]} >= {"backup-plan", "backup-vault", "kms-key", "iam-role"}
    finally:
        run_invoke("sandbox.down", env=env)
