"""The vault's key, the role AWS Backup takes, the vault and its lock.

The vault is encrypted with a customer managed key of its own (rotation on):
recovery points of the cluster and tables are re-encrypted with it, so
deleting or disabling the data keys does not take the backups with them.
AWS Backup uses the key through grants made with the role's permissions (the
default key policy: the account governs it through IAM).
https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ...engine import CREATE, NOOP, REPLACE, UPDATE, Change, Context, Diff
from ...errors import OpsError
from .. import kit, kms_key, shared
from .common import INLINE_POLICY, NAME, ROLE_ARN, Found, Names, change, maybe_update, partition, tags


def key_spec(ctx: Context, names: Names) -> kms_key.KeySpec:
    return kms_key.KeySpec(NAME, names.key_alias, "Encrypts the FabLink AWS Backup vault (fablink-ops)", tags(ctx.cfg, names.key_alias))


# ----- the role


def trust(ctx: Context) -> dict:
    """AWS Backup only, for this account only (confused deputy: aws:SourceAccount
    is what AWS Backup sets when it assumes the role)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ctx.cfg.project.account_id}},
        }],
    }


def role_policy(ctx: Context, names: Names) -> dict:
    """What AWS Backup needs to back up Aurora clusters and DynamoDB tables
    into this vault (and copy out of it), scoped to ours.

    Taken statement by statement from AWS's managed
    AWSBackupServiceRolePolicyForBackup (version v30, 2026-02-23), keeping only
    the RDS cluster, DynamoDB, vault, KMS and tagging statements. Not the
    managed policy itself: it also grants iam:PassRole on every role (to
    GuardDuty malware scanning), EC2, EBS, EFS, S3, ... for resources this
    plan never backs up. Not AWSBackupServiceRolePolicyForRestores: restores
    go through RDS and DynamoDB themselves (backup.verify); that policy may
    pass any role to EC2 with ec2:RunInstances. Known cost: when AWS Backup
    needs a new permission for these services, AWS updates its managed policy
    and this copy must follow (a failed backup job names the action).
    https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html
    """
    pr = ctx.cfg.project
    p = partition(pr.region)
    cluster, *tables = names.resources()
    vaults = [f"arn:{p}:backup:{pr.region}:{pr.account_id}:backup-vault:{names.vault}"]
    if names.plan_cfg.copy_to_vault_arn:
        vaults.append(names.plan_cfg.copy_to_vault_arn)

    def allow(sid: str, actions: list[str], resources: list[str] | str, condition: dict | None = None) -> dict:
        stmt = {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}
        return {**stmt, "Condition": condition} if condition else stmt

    return {"Version": "2012-10-17", "Statement": [
        allow("DynamoDBTables", ["dynamodb:DescribeTable", "dynamodb:CreateBackup", "dynamodb:StartAwsBackupJob", "dynamodb:ListTagsOfResource"], tables),
        allow("DynamoDBBackups", ["dynamodb:DescribeBackup", "dynamodb:DeleteBackup"], [f"{t}/backup/*" for t in tables]),
        # RDS's Describe* calls take no resource-level permissions.
        allow("RdsRead", ["rds:DescribeDBClusters", "rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusterAutomatedBackups",
                          "rds:DescribeDBInstances", "rds:ListTagsForResource"], "*"),
        allow("RdsCluster", ["rds:CreateDBClusterSnapshot", "rds:AddTagsToResource", "rds:ModifyDBCluster"], [cluster]),
        allow("RdsBackupSnapshots", ["rds:CreateDBClusterSnapshot", "rds:CopyDBClusterSnapshot", "rds:AddTagsToResource",
                                     "rds:DeleteDBClusterSnapshot", "rds:ModifyDBClusterSnapshotAttribute"],
              [f"arn:{p}:rds:{pr.region}:{pr.account_id}:cluster-snapshot:awsbackup:*"]),
        allow("Vaults", ["backup:DescribeBackupVault", "backup:CopyIntoBackupVault", "backup:CopyFromBackupVault"], vaults),
        allow("RecoveryPointTags", ["backup:TagResource"], f"arn:{p}:backup:*:{pr.account_id}:recovery-point:*"),
        allow("KmsDynamoDB", ["kms:Decrypt", "kms:GenerateDataKey"], "*", {"StringLike": {"kms:ViaService": [f"dynamodb.{pr.region}.amazonaws.com"]}}),
        allow("KmsDescribe", ["kms:DescribeKey"], "*"),
        allow("KmsGrants", ["kms:CreateGrant"], "*", {"Bool": {"kms:GrantIsForAWSResource": "true"}}),
        allow("FindResources", ["tag:GetResources"], "*"),
    ]}


def role(ctx: Context, names: Names, found: Found) -> Change:
    iam, name = ctx.client("iam"), names.role
    want_tags = tags(ctx.cfg, name)
    policy = role_policy(ctx, names)

    def put_policy() -> None:
        iam.put_role_policy(RoleName=name, PolicyName=INLINE_POLICY, PolicyDocument=json.dumps(policy))

    if found.role is None:

        def create() -> str:
            arn = kit.create_role(ctx, name, trust(ctx), "Lets AWS Backup back up the FabLink cluster and tables", want_tags)
            ctx.set_output(ROLE_ARN, arn)
            put_policy()
            return arn

        return change("iam-role", name, CREATE, diffs=[Diff("inline policy", None, INLINE_POLICY)], run=create)
    ctx.set_output(ROLE_ARN, found.role["Arn"])
    diffs, steps = kit.role_drift(ctx, found.role, trust(ctx), "backup.amazonaws.com, this account only", want_tags)
    if shared.inline_policy(found.role, INLINE_POLICY) != policy:
        diffs.append(Diff("inline policy", "differs" if shared.inline_policy(found.role, INLINE_POLICY) else None, INLINE_POLICY))
        steps.append(put_policy)
    return maybe_update("iam-role", name, found.role["Arn"], diffs, steps)


# ----- the vault


def vault(ctx: Context, names: Names, found: Found) -> Change:
    backup, name = ctx.client("backup"), names.vault
    key_out = kms_key.output_key(names.key_alias, ctx.cfg.project.region)
    want_tags = tags(ctx.cfg, name)
    current = found.vault
    if current is None:

        def create() -> str:
            # CreatorRequestId: a retried create returns the vault it made.
            return backup.create_backup_vault(
                BackupVaultName=name, BackupVaultTags=want_tags, EncryptionKeyArn=ctx.output(key_out),
                CreatorRequestId=kit.request_token(ctx.cfg.project.account_id, name),
            )["BackupVaultArn"]

        return change("backup-vault", name, CREATE, diffs=[Diff("encryption", None, names.key_alias)], needs=(names.k_key,), run=create)
    arn = current["BackupVaultArn"]
    have_key = current.get("EncryptionKeyArn", "")
    try:
        want_key = ctx.output(key_out)
    except OpsError:  # the key is planned, not made yet: it cannot be this vault's
        want_key = None
    if want_key is not None and have_key != want_key:
        # A vault's key is fixed at creation; its recovery points hold data.
        return change("backup-vault", name, REPLACE, diffs=[Diff("encryption key", have_key, names.key_alias)], resource_id=arn,
                      note="a vault's key cannot change: make a new vault by hand, keep this one until its recovery points expire")
    now = shared.tags_of(ctx, arn, want_tags, lambda: backup.list_tags(ResourceArn=arn).get("Tags", {}))
    diffs, steps = kit.tag_drift(now, want_tags, lambda todo: backup.tag_resource(ResourceArn=arn, Tags=todo))
    return maybe_update("backup-vault", name, arn, diffs, steps, needs=(names.k_key,))


def lock_state(v: dict | None) -> dict[str, Any]:
    """The vault's lock as this tool compares it: mode and retention bounds."""
    if not v or not v.get("Locked"):
        return {"mode": "off"}
    return {"mode": "compliance" if v.get("LockDate") else "governance",
            "min": v.get("MinRetentionDays"), "max": v.get("MaxRetentionDays")}


def _immutable(v: dict) -> bool:
    when = v.get("LockDate")
    if not when:
        return False
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(float(when), timezone.utc)
    return moment.astimezone(timezone.utc) <= datetime.now(timezone.utc)


def vault_lock(ctx: Context, names: Names, found: Found) -> Change:
    """AWS Backup Vault Lock: compliance (immutable after the grace days),
    governance, or off. https://docs.aws.amazon.com/aws-backup/latest/devguide/vault-lock.html"""
    backup, p = ctx.client("backup"), names.plan_cfg
    want = {"mode": "off"} if p.vault_lock == "off" else {"mode": p.vault_lock, "min": p.lock_min_retention_days, "max": p.lock_max_retention_days}
    have = lock_state(found.vault)
    name = names.vault
    if have == want:
        return change("backup-vault-lock", name, NOOP, resource_id=name, needs=(names.k_vault,))
    diffs = [Diff("vault lock", _shown(have), _shown(want))]
    if found.vault is not None and _immutable(found.vault):
        return change("backup-vault-lock", name, REPLACE, diffs=diffs, resource_id=name,
                      note="a compliance lock past its grace time cannot be changed or removed, by anyone")
    if want["mode"] == "off":
        run = lambda: backup.delete_backup_vault_lock_configuration(BackupVaultName=name)  # noqa: E731
    else:
        grace = {"ChangeableForDays": p.lock_changeable_for_days} if want["mode"] == "compliance" else {}
        run = lambda: backup.put_backup_vault_lock_configuration(  # noqa: E731
            BackupVaultName=name, MinRetentionDays=p.lock_min_retention_days, MaxRetentionDays=p.lock_max_retention_days, **grace)
    note = f"compliance: changeable for {p.lock_changeable_for_days} days, then immutable" if want["mode"] == "compliance" else ""
    action = CREATE if found.vault is None else UPDATE
    return change("backup-vault-lock", name, action, diffs=diffs, needs=(names.k_vault,), run=run, resource_id=name, note=note)


def _shown(lock: dict[str, Any]) -> str:
    return "off" if lock["mode"] == "off" else f"{lock['mode']} {lock['min']}-{lock['max']} days"
