"""Data protection: RDS/Aurora clusters, DynamoDB tables (with PITR), KMS keys
(with rotation), SNS topics (with their encryption)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ....engine import Context
from ....target import error_code
from ..models import DbCluster, Gap, KmsKey, RdsEventSubscription, Table, Topic
from .common import Piece, each

RDS_PERMISSIONS = ("rds:DescribeDBClusters", "rds:DescribeEventSubscriptions")
DYNAMODB_PERMISSIONS = ("dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups")
KMS_PERMISSIONS = ("kms:ListKeys", "kms:ListAliases", "kms:DescribeKey", "kms:GetKeyRotationStatus")
SNS_PERMISSIONS = ("sns:ListTopics", "sns:GetTopicAttributes")


def collect_rds(ctx: Context, region: str) -> Piece:
    rds = ctx.target.client("rds", region)
    return {
        "db_clusters": [
            DbCluster(
                id=c["DBClusterIdentifier"],
                arn=c["DBClusterArn"],
                region=region,
                engine=c.get("Engine", ""),
                encrypted=bool(c.get("StorageEncrypted")),
                iam_auth=bool(c.get("IAMDatabaseAuthenticationEnabled")),
                deletion_protection=bool(c.get("DeletionProtection")),
                backup_retention_days=int(c.get("BackupRetentionPeriod") or 0),
            )
            for c in rds.paginate("describe_db_clusters", "DBClusters")
        ],
        "rds_event_subscriptions": [
            RdsEventSubscription(e["CustSubscriptionId"], region, e.get("SourceType") or "", tuple(e.get("SourceIdsList") or ()),
                                 tuple(e.get("EventCategoriesList") or ()), bool(e.get("Enabled")))
            for e in rds.paginate("describe_event_subscriptions", "EventSubscriptionsList")
        ],
    }


def collect_dynamodb(ctx: Context, region: str) -> Piece:
    ddb = ctx.target.client("dynamodb", region)

    def describe(name: str) -> Table:
        t = ddb.describe_table(TableName=name)["Table"]
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus") == "ENABLED"
        sse = t.get("SSEDescription") or {}
        # No SSEDescription: the AWS owned key. SSEType KMS: a KMS key, AWS
        # managed (aws/dynamodb) or customer managed; the KMS collector tells which.
        key = sse.get("KMSMasterKeyArn", "") if sse.get("Status", "ENABLED") in ("ENABLED", "UPDATING") else ""
        return Table(name, t["TableArn"], region, pitr, bool(t.get("DeletionProtectionEnabled")), key)

    return {"tables": each(ddb.paginate("list_tables", "TableNames"), describe)}


def collect_kms(ctx: Context, region: str) -> Piece:
    kms = ctx.target.client("kms", region)
    # alias/aws/* names only AWS managed keys (AWS reserves the prefix). moto
    # creates those keys on first use with KeyManager CUSTOMER; the alias
    # tells them apart on moto as on AWS.
    aws_managed = {a["TargetKeyId"] for a in kms.paginate("list_aliases", "Aliases")
                   if a.get("TargetKeyId") and a["AliasName"].startswith("alias/aws/")}

    gaps: list[Gap] = []

    def describe_or_gap(item: dict) -> KmsKey | None:
        # A key's own policy may deny us (keys other teams own): that key is
        # a gap of the review, the others are still reviewed (issue 14, item 12).
        try:
            return describe(item)
        except ClientError as exc:
            if error_code(exc) != "AccessDeniedException":
                raise
            gaps.append(Gap(f"kms-key {item['KeyId']}@{region}", f"its key policy denies us: {error_code(exc)}"))
            return None

    def describe(item: dict) -> KmsKey:
        m = kms.describe_key(KeyId=item["KeyId"])["KeyMetadata"]
        manager = "AWS" if m["KeyId"] in aws_managed else m.get("KeyManager", "")
        key = KmsKey(
            id=m["KeyId"], arn=m["Arn"], region=region, manager=manager,
            spec=m.get("KeySpec") or m.get("CustomerMasterKeySpec", ""), origin=m.get("Origin", ""),
            state=m.get("KeyState", ""), rotation=None,
        )
        if key.rotatable:
            enabled = bool(kms.get_key_rotation_status(KeyId=key.id).get("KeyRotationEnabled"))
            key = KmsKey(key.id, key.arn, key.region, key.manager, key.spec, key.origin, key.state, enabled)
        return key

    keys = [k for k in each(kms.paginate("list_keys", "Keys"), describe_or_gap) if k is not None]
    return {"keys": keys, **({"gaps": gaps} if gaps else {})}


def collect_sns(ctx: Context, region: str) -> Piece:
    sns = ctx.target.client("sns", region)

    def describe(item: dict) -> Topic:
        attrs = sns.get_topic_attributes(TopicArn=item["TopicArn"])["Attributes"]
        return Topic(item["TopicArn"], region, attrs.get("KmsMasterKeyId", ""))

    return {"topics": each(sns.paginate("list_topics", "Topics"), describe)}
