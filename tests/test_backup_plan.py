"""The backup stage on moto (issue 17 item 7): the vault with its own
customer managed key and lock, the role AWS Backup takes (confused-deputy
condition), the daily plan; the selection and plan updates (moto 5.2 lacks
them) through botocore's Stubber."""

from __future__ import annotations

import dataclasses
import json

import pytest
from botocore.stub import Stubber
from moto.iam.aws_managed_policies import aws_managed_policies_data
from moto.iam.models import AWSManagedPolicy, iam_backends

from fablink_ops.resources import backup as stage
from fablink_ops.resources.backup import plans as backup_plan
from fablink_ops.resources.backup.common import Found, Names

from .conftest import boto_session, make_ctx
from .faults import WriteCounter
from .util import provision

REGION = "ap-northeast-2"
ACCOUNT = "853963783084"
POLICIES = ("AWSBackupServiceRolePolicyForBackup",)


def client(service: str):
    return boto_session(REGION).client(service, region_name=REGION)


@pytest.fixture
def aws(aws):  # noqa: F811 - the conftest's moto, plus the two managed policies every account has
    data = json.loads(aws_managed_policies_data)
    for name in POLICIES:
        policy = AWSManagedPolicy.from_data(name, ACCOUNT, "aws", data[name])
        iam_backends[ACCOUNT]["aws"].managed_policies[policy.arn] = policy
    yield


def with_plan(cfg, **changes):
    return dataclasses.replace(cfg, backup=dataclasses.replace(cfg.backup, plan=dataclasses.replace(cfg.backup.plan, **changes)))


def test_state_after_provisioning(cfg, aws):
    _, changes = provision(cfg, ("backup",))
    backup, kms, iam = client("backup"), client("kms"), client("iam")
    key = kms.describe_key(KeyId="alias/fablink-prod-backup")["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    [vault] = [v for v in backup.list_backup_vaults()["BackupVaultList"] if v["BackupVaultName"] == "fablink-prod-backup"]
    assert vault["EncryptionKeyArn"] == key["Arn"]
    assert (vault["Locked"], vault["MinRetentionDays"], vault["MaxRetentionDays"]) == (True, 7, 400)
    assert vault.get("LockDate")  # compliance mode: immutable after the grace days
    assert backup.list_tags(ResourceArn=vault["BackupVaultArn"])["Tags"]["ManagedBy"] == "fablink-ops"
    [listed] = backup.list_backup_plans()["BackupPlansList"]
    [rule] = backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"])["BackupPlan"]["Rules"]
    assert (rule["TargetBackupVaultName"], rule["ScheduleExpression"], rule["Lifecycle"]["DeleteAfterDays"]) == (
        "fablink-prod-backup", "cron(0 19 * * ? *)", 35)
    assert "CopyActions" not in rule or not rule["CopyActions"]
    role = iam.get_role(RoleName="fablink-prod-backup")["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}  # confused deputy
    assert iam.list_attached_role_policies(RoleName="fablink-prod-backup")["AttachedPolicies"] == []
    inline = iam.get_role_policy(RoleName="fablink-prod-backup", PolicyName="backup-fablink-data")["PolicyDocument"]
    resources = {r for st in inline["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])}
    actions = {a for st in inline["Statement"] for a in st["Action"]}
    assert not any(a.startswith(("iam:", "ec2:", "s3:")) for a in actions)  # nothing this plan does not back up
    assert f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:fablink-prod-aurora" in resources
    assert f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:fablink-prod-backup" in resources
    # writes reach only ours: every non-"*" resource names this account
    assert all(r == "*" or ACCOUNT in r for r in resources)
    # the selection: said, not faked
    [sel] = [c for c in changes if c.kind == "backup-selection"]
    assert sel.action == "skipped" and "moto 5.2 has no AWS Backup selections" in sel.note


def test_reapply_makes_no_write_and_few_reads(cfg, aws):
    provision(cfg, ("backup",))
    ctx, changes = provision(cfg, ("backup",))
    assert ctx.target.meter.writes == 0, ctx.target.meter.summary()
    assert [c.key for c in changes if c.action not in ("no change", "skipped")] == []


def test_write_count(cfg, aws):
    counter = WriteCounter()
    provision(dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1)), ("backup",), hooks=counter.hooks)
    # key (create, alias, rotation), role (create, inline policy), vault, lock, plan
    assert len(counter.names) == 8, counter.names


def test_governance_lock_and_lock_off(cfg, aws):
    provision(with_plan(cfg, vault_lock="governance"), ("backup",))
    vault = client("backup").list_backup_vaults()["BackupVaultList"][0]
    assert vault["Locked"] and not vault.get("LockDate")
    _, changes = provision(with_plan(cfg, vault_lock="off"), ("backup",))
    [lock] = [c for c in changes if c.kind == "backup-vault-lock"]
    assert lock.action == "update" and [(d.before, d.after) for d in lock.diffs] == [("governance 7-400 days", "off")]
    assert not client("backup").list_backup_vaults()["BackupVaultList"][0].get("Locked")


def test_a_compliance_lock_past_its_grace_time_is_replace_required(cfg, aws):
    names = Names(cfg)
    found = Found(vault={"BackupVaultName": names.vault, "BackupVaultArn": "arn", "Locked": True, "MinRetentionDays": 1,
                         "MaxRetentionDays": 30, "LockDate": 1_000_000.0})
    from fablink_ops.resources.backup import vault as backup_vault

    lock = backup_vault.vault_lock(make_ctx(cfg), names, found)
    assert lock.action == "replace-required" and "cannot be changed or removed" in lock.note and lock.run is None


def test_plan_drift_goes_through_update_backup_plan(cfg, aws):
    """moto 5.2 has no UpdateBackupPlan: the plan read from moto, the update answered by Stubber."""
    provision(cfg, ("backup",))
    changed = with_plan(cfg, retention_days=60, copy_to_vault_arn=f"arn:aws:backup:ap-northeast-1:{ACCOUNT}:backup-vault:fablink-prod-dr")
    ctx = make_ctx(changed)
    [plan_change] = [c for c in stage.plan(ctx) if c.kind == "backup-plan"]
    assert plan_change.action == "update" and [d.attribute for d in plan_change.diffs] == ["rules"]
    rule = backup_plan.desired_rule(Names(changed))
    assert rule["Lifecycle"] == {"DeleteAfterDays": 60}
    assert rule["CopyActions"] == [{"DestinationBackupVaultArn": changed.backup.plan.copy_to_vault_arn, "Lifecycle": {"DeleteAfterDays": 35}}]
    plan_id = client("backup").list_backup_plans()["BackupPlansList"][0]["BackupPlanId"]
    with Stubber(ctx.client("backup").raw) as stub:
        stub.add_response("update_backup_plan", {"BackupPlanId": plan_id},
                          {"BackupPlanId": plan_id, "BackupPlan": {"BackupPlanName": "fablink-prod-daily", "Rules": [rule]}})
        plan_change.run()
        stub.assert_no_pending_responses()


def test_live_selection_covers_the_cluster_and_the_six_tables(cfg, aws):
    """Live: the selection is created with the role and every data resource;
    one that differs is made again (selections are immutable)."""
    provision(cfg, ("backup",))
    ctx = make_ctx(cfg)
    ctx.target.mode = "live"
    names = Names(cfg)
    plan_id = client("backup").list_backup_plans()["BackupPlansList"][0]["BackupPlanId"]
    role = client("iam").get_role(RoleName="fablink-prod-backup")["Role"]
    want = sorted(names.resources())
    assert want[0] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/fablink-prod-ai-requests" and len(want) == 7
    assert f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:fablink-prod-aurora" in want
    ctx.set_output("backup-plan-id", plan_id)
    ctx.set_output("backup-role-arn", role["Arn"])
    with Stubber(ctx.client("backup").raw) as stub:
        change = backup_plan.selection(ctx, names, Found(role=role))
        assert change.action == "create"
        stub.add_response("create_backup_selection", {"SelectionId": "sel-1", "BackupPlanId": plan_id},
                          {"BackupPlanId": plan_id, "CreatorRequestId": backup_plan.kit.request_token(ACCOUNT, change.name, *want),
                           "BackupSelection": {"SelectionName": "fablink-data", "IamRoleArn": role["Arn"], "Resources": want}})
        assert change.run() == "sel-1"
        stale = Found(role=role, selection={"SelectionName": "fablink-data", "IamRoleArn": role["Arn"], "Resources": want[:3]}, selection_id="sel-1")
        change = backup_plan.selection(ctx, names, stale)
        assert change.action == "update" and change.diffs[0].attribute == "resources"
        stub.add_response("delete_backup_selection", {}, {"BackupPlanId": plan_id, "SelectionId": "sel-1"})
        stub.add_response("create_backup_selection", {"SelectionId": "sel-2", "BackupPlanId": plan_id})
        assert change.run() == "sel-2"
        same = Found(role=role, selection={"SelectionName": "fablink-data", "IamRoleArn": role["Arn"], "Resources": want}, selection_id="sel-2")
        assert backup_plan.selection(ctx, names, same).action == "no change"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("key, value, message", [
    ("vault_lock", "strict", "backup.plan.vault_lock: 'strict' is not one of compliance, governance, off"),
    ("retention_days", 500, "backup.plan.retention_days: 500 is outside the vault lock's 7-400 days"),
    ("copy_to_vault_arn", "fablink-prod-dr", "backup.plan.copy_to_vault_arn: 'fablink-prod-dr' is not a backup vault ARN"),
    ("schedule", "rate(1 day)", "backup.plan.schedule"),
])
def test_bad_backup_plan_config_is_one_line(tmp_path, key, value, message):
    from fablink_ops.config import load_config
    from fablink_ops.errors import ConfigError

    from .conftest import CONFIG

    text = CONFIG.read_text()
    line = next(line for line in text.splitlines() if line.startswith(f"{key} = ") and text.index(line) > text.index("[backup.plan]"))
    path = tmp_path / "prod.toml"
    path.write_text(text.replace(line, f"{key} = {json.dumps(value)}", 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value) and "\n" not in str(err.value)
