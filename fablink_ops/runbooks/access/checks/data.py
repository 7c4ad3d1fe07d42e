"""Data protection and encryption: Aurora/RDS clusters, DynamoDB tables, KMS
keys, SNS topics.

Design doc: Aurora Security ("Encryption at Rest: Enabled", "IAM Database
Authentication: Enabled"), High Availability ("Backup Retention: 30 days");
DynamoDB ("Point-in-time Recovery: Enabled", "Deletion Protection: Enabled",
"Encryption: Customer Managed KMS"); Security review ("encryption settings").
"""

from __future__ import annotations

from typing import Iterator

from ....lock import TABLE as LOCK_TABLE
from ..models import HIGH, MEDIUM, Inventory
from .base import Check, Hit, Settings

# A reasoned exception, not a fix: fablink-ops' own run-lock table
# (fablink_ops/lock.py) holds one lease item per environment (holder, command,
# expiry), rewritten every few minutes while a run holds it and worthless once
# it expires. Point-in-time recovery would restore only stale leases, and a
# key of our own would guard user@host, a pid and the caller's ARN, which
# CloudTrail records anyway (it has deletion protection: that check applies).
BOOKKEEPING_TABLES = (LOCK_TABLE,)


def _data_tables(inv: Inventory):
    return (t for t in inv.tables if t.name not in BOOKKEEPING_TABLES)

# Engines whose clusters support IAM database authentication.
IAM_AUTH_ENGINES = ("aurora-postgresql", "aurora-mysql", "aurora", "postgres", "mysql")


def rds_encryption(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.db_clusters:
        if not c.encrypted:
            yield (c.arn, f"{c.engine} cluster {c.id} is not encrypted at rest",
                   "encryption cannot be turned on in place: restore a snapshot copy made with a KMS key into a new, encrypted cluster")


def rds_iam_auth(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.db_clusters:
        if c.engine in IAM_AUTH_ENGINES and not c.iam_auth:
            yield (c.arn, f"{c.engine} cluster {c.id} does not allow IAM database authentication",
                   f"aws rds modify-db-cluster --db-cluster-identifier {c.id} --enable-iam-database-authentication --apply-immediately")


def rds_deletion_protection(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.db_clusters:
        if not c.deletion_protection:
            yield (c.arn, f"{c.engine} cluster {c.id} has no deletion protection",
                   f"aws rds modify-db-cluster --db-cluster-identifier {c.id} --deletion-protection --apply-immediately")


def rds_backup_retention(inv: Inventory, s: Settings) -> Iterator[Hit]:
    want = s.access.min_backup_retention_days
    for c in inv.db_clusters:
        if c.backup_retention_days < want:
            yield (c.arn, f"{c.engine} cluster {c.id} keeps backups {c.backup_retention_days} days (at least {want})",
                   f"aws rds modify-db-cluster --db-cluster-identifier {c.id} --backup-retention-period {want} --apply-immediately")


# What must reach someone when it happens to a cluster (issue 17; the
# monitoring stage's [[monitoring.rds_events]] sends more).
CLUSTER_EVENTS = ("failover", "failure")


def rds_event_subscription(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for c in inv.db_clusters:
        subs = [e for e in inv.rds_event_subscriptions if e.region == c.region]
        if not any(e.covers("db-cluster", c.id, CLUSTER_EVENTS) for e in subs):
            yield (c.arn, f"{c.engine} cluster {c.id}: no enabled RDS event subscription sends its {' and '.join(CLUSTER_EVENTS)} events",
                   f"aws rds create-event-subscription --subscription-name <name> --sns-topic-arn <topic> --source-type db-cluster "
                   f"--source-ids {c.id} --event-categories {' '.join(CLUSTER_EVENTS)} --region {c.region}")


def backup_plan_coverage(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """Every Aurora/RDS cluster and DynamoDB table in some AWS Backup plan's
    selection (by ARN or ARN pattern). Selections by tag are not expanded: a
    region with one counts as covering (not judged here, said in the runbook)."""
    tagged = {sel.region for sel in inv.backup_selections if sel.by_tag}
    data = [(c.arn, c.region, f"{c.engine} cluster {c.id}") for c in inv.db_clusters] + [(t.arn, t.region, f"DynamoDB table {t.name}") for t in inv.tables]
    for arn, region, what in data:
        if region not in inv.backup_regions:
            continue  # selections not read there (collector failed or not run): nothing to claim
        if region in tagged or any(sel.region == region and sel.covers(arn) for sel in inv.backup_selections):
            continue
        yield (arn, f"{what} is in no AWS Backup plan: its only backups are the service's own (PITR, automated snapshots), "
               "deleted with it and kept in the same account",
               "add it to a backup plan's selection (fablink-ops: [backup.plan], invoke provision --stage backup)")


def dynamodb_pitr(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for t in _data_tables(inv):
        if not t.pitr:
            yield (t.arn, f"DynamoDB table {t.name} has no point-in-time recovery",
                   f"aws dynamodb update-continuous-backups --table-name {t.name} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")


def dynamodb_deletion_protection(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for t in inv.tables:
        if not t.deletion_protection:
            yield (t.arn, f"DynamoDB table {t.name} has no deletion protection",
                   f"aws dynamodb update-table --table-name {t.name} --deletion-protection-enabled")


def dynamodb_customer_key(inv: Inventory, s: Settings) -> Iterator[Hit]:
    managers = {k.arn: k.manager for k in inv.keys}
    for t in _data_tables(inv):
        # A key this review did not see (another account's, say) is not judged.
        manager = "AWS_OWNED" if not t.kms_key_arn else managers.get(t.kms_key_arn, "CUSTOMER")
        if manager != "CUSTOMER":
            what = "an AWS owned key" if manager == "AWS_OWNED" else "the AWS managed key aws/dynamodb"
            yield (t.arn, f"DynamoDB table {t.name} is encrypted with {what}, not a customer managed KMS key",
                   f"aws dynamodb update-table --table-name {t.name} --sse-specification Enabled=true,SSEType=KMS,KMSMasterKeyId=<key ARN>")


def kms_rotation(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for k in inv.keys:
        if k.rotatable and k.rotation is False:
            yield (k.arn, f"customer managed KMS key {k.id} does not rotate its key material",
                   f"aws kms enable-key-rotation --key-id {k.id} --region {k.region}")


def sns_encryption(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for t in inv.topics:
        if not t.kms_key:
            yield (t.arn, f"SNS topic {t.arn.rsplit(':', 1)[-1]} is not encrypted at rest",
                   f"aws sns set-topic-attributes --topic-arn {t.arn} --attribute-name KmsMasterKeyId --attribute-value <key ARN or alias>")


CHECKS = (
    Check("rds.encryption", HIGH, "Aurora/RDS clusters not encrypted at rest", rds_encryption),
    Check("rds.iam_auth", MEDIUM, "Aurora/RDS clusters without IAM authentication", rds_iam_auth),
    Check("rds.deletion_protection", MEDIUM, "Aurora/RDS clusters without deletion protection", rds_deletion_protection),
    Check("rds.backup_retention", MEDIUM, "Aurora/RDS backup retention below config", rds_backup_retention),
    Check("rds.event_subscription", MEDIUM, "Aurora/RDS clusters whose failover and failure events reach no one", rds_event_subscription),
    Check("backup.plan_coverage", MEDIUM, "clusters and tables in no AWS Backup plan", backup_plan_coverage, ("backup",)),
    Check("dynamodb.pitr", MEDIUM, "DynamoDB tables without point-in-time recovery", dynamodb_pitr),
    Check("dynamodb.deletion_protection", MEDIUM, "DynamoDB tables without deletion protection", dynamodb_deletion_protection),
    Check("dynamodb.customer_key", MEDIUM, "DynamoDB tables without a customer managed key", dynamodb_customer_key),
    Check("kms.rotation", MEDIUM, "customer managed KMS keys without rotation", kms_rotation),
    Check("sns.encryption", MEDIUM, "SNS topics not encrypted", sns_encryption),
)
