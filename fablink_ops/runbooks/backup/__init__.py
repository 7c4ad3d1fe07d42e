"""Backup and restore verification: ``invoke backup.verify`` and
``invoke backup.cleanup``. Human runbook: runbooks/backup-verify.md.

Design doc: Performance tests ("backup/restore test"), Operational readiness
("backup strategy"), Aurora "Backup Retention: 30 days", DynamoDB
"Point-in-time Recovery: Enabled".

    checks.py    read-only checks: retention, RPO, snapshots, PITR, deletion protection
    aurora.py    the Aurora restore test (PITR restore + one instance) and its verification
    dynamodb.py  the DynamoDB restore test (PITR restore per table)
    items.py     restored items against the source's, by key (exact, or sampled)
    sql.py       optional row counts over SQL (live, psycopg)
    cleanup.py   temporaries: names, tags, the rule for deleting one, deleting
    verify.py    backup.verify: checks → confirm → restores → cleanup → verdict
    sweep.py     backup.cleanup: expired temporaries of killed runs
"""

from __future__ import annotations

from . import sweep, verify

# What the runbooks call in AWS (live), declared next to the code (cloud-
# custodian's habit); a test checks every call made is listed here.
PERMISSIONS = (
    "sts:GetCallerIdentity",
    # checks
    "rds:DescribeDBClusters",
    "rds:DescribeDBInstances",
    "rds:DescribeDBClusterSnapshots",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeContinuousBackups",
    "backup:ListRecoveryPointsByResource",  # the AWS Backup plan's latest recovery points
    # restore tests
    "rds:RestoreDBClusterToPointInTime",
    "rds:CreateDBInstance",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:TagResource",
    "dynamodb:Scan",
    "dynamodb:BatchGetItem",
    "secretsmanager:GetSecretValue",  # --row-counts only
    # cleanup (the run's own, and backup.cleanup)
    "rds:DeleteDBInstance",
    "rds:DeleteDBCluster",
    "rds:ModifyDBCluster",  # only to turn deletion protection off on a temporary
    "dynamodb:ListTables",
    "dynamodb:ListTagsOfResource",
    "dynamodb:UpdateTable",  # only to turn deletion protection off on a temporary
    "dynamodb:DeleteTable",
)

# Needed in IAM without being an API call of ours: tags in a create call are
# authorised as rds:AddTagsToResource; a DynamoDB restore writes the target
# table as the caller (AWS: "dynamodb:PutItem, UpdateItem, DeleteItem,
# GetItem, Query, Scan, BatchWriteItem" on the target); encrypted sources need
# kms:CreateGrant, kms:Decrypt and kms:DescribeKey on their keys.
IMPLIED_PERMISSIONS = (
    "rds:AddTagsToResource",
    "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:Query",
    "dynamodb:BatchWriteItem",
    "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey",
)

__all__ = ["PERMISSIONS", "IMPLIED_PERMISSIONS", "sweep", "verify"]
