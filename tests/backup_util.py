"""Shared set-up for the backup.verify / backup.cleanup tests: the sources in
moto (the dynamodb stage provisioned, an Aurora cluster as the aurora stage
will build it, items), and a way to run the commands in-process on a fake
clock with the restore model of tests/backup_timeline.py."""

from __future__ import annotations

import dataclasses
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta

from botocore.awsrequest import AWSResponse

from fablink_ops.runbooks.backup import sweep, verify

from .backup_timeline import RestoreModel
from .conftest import boto_session
from .timeline import WALL, FakeClock
from .util import RunbookRun, run_runbook, seeding

REGION = "ap-northeast-2"
OPERATOR = "arn:aws:iam::853963783084:user/operator"
RUN_ID = "20300102030405-t001"
TABLES = ("fablink-prod-sessions", "fablink-prod-user-activities")  # one with an index, one with a range key
ITEMS = {"fablink-prod-sessions": 25, "fablink-prod-user-activities": 5}


def client(service: str):
    return boto_session(REGION).client(service)


def small(cfg, **backup):
    """The prod config with two tables (lean tests) and [backup] changes."""
    tables = tuple(t for t in cfg.dynamodb.tables if t.name in TABLES)
    return dataclasses.replace(cfg, dynamodb=dataclasses.replace(cfg.dynamodb, tables=tables),
                               backup=dataclasses.replace(cfg.backup, **backup))


def session_key(i: int) -> dict:
    return {"session_id": {"S": f"s{i:03d}"}}


@seeding()  # the world before the run: no fidelity windows for its creates
def make_sources(cfg) -> None:
    """What backup.verify expects to find: the tables as the dynamodb stage
    makes them (key schema, indexes, PITR, deletion protection, tags; created
    here directly, which is faster: the stage itself is provisioned in
    test_backup_e2e.py) with items, and the Aurora cluster as designed
    (30-day retention, encrypted, deletion protection, managed password, its
    own subnet group, security group and parameter group)."""
    ddb = client("dynamodb")
    for t in cfg.dynamodb.tables:
        kwargs = {}
        if t.indexes:
            kwargs["GlobalSecondaryIndexes"] = [{"IndexName": ix.name, "Projection": {"ProjectionType": "KEYS_ONLY"}, "KeySchema": [
                {"AttributeName": ix.hash_key, "KeyType": "HASH"}, {"AttributeName": ix.range_key, "KeyType": "RANGE"}]} for ix in t.indexes]
        ddb.create_table(
            TableName=t.name, BillingMode="PAY_PER_REQUEST", DeletionProtectionEnabled=True,
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": k} for a, k in t.attributes.items()],
            KeySchema=[{"AttributeName": t.hash_key, "KeyType": "HASH"}] + ([{"AttributeName": t.range_key, "KeyType": "RANGE"}] if t.range_key else []),
            Tags=[{"Key": "Name", "Value": t.name}, {"Key": "ManagedBy", "Value": "fablink-ops"}], **kwargs,
        )
        ddb.update_continuous_backups(TableName=t.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    for i in range(ITEMS["fablink-prod-sessions"]):
        ddb.put_item(TableName="fablink-prod-sessions", Item={**session_key(i), "user_id": {"S": f"u{i % 4}"}, "expires_at": {"N": "1900000000"}})
    for i in range(ITEMS["fablink-prod-user-activities"]):
        ddb.put_item(TableName="fablink-prod-user-activities", Item={"user_id": {"S": "u1"}, "activity_at": {"S": f"2030-01-0{i + 1}T00:00:00Z#a{i}"}})
    ec2, rds = client("ec2"), client("rds")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{n}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
               for n, az in ((1, "a"), (2, "b"))]
    sg = ec2.create_security_group(GroupName="fablink-prod-db", Description="db", VpcId=vpc)["GroupId"]
    rds.create_db_subnet_group(DBSubnetGroupName="fablink-prod-db", DBSubnetGroupDescription="db", SubnetIds=subnets)
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName="fablink-prod-aurora-pg",
                                          DBParameterGroupFamily="aurora-postgresql15", Description="fablink")
    cluster = cfg.backup.aurora_cluster
    rds.create_db_cluster(
        DBClusterIdentifier=cluster, Engine="aurora-postgresql", EngineVersion="15.4", MasterUsername="fablink",
        ManageMasterUserPassword=True, StorageEncrypted=True, DeletionProtection=True, BackupRetentionPeriod=30,
        DBSubnetGroupName="fablink-prod-db", VpcSecurityGroupIds=[sg], DBClusterParameterGroupName="fablink-prod-aurora-pg",
        Tags=[{"Key": "Name", "Value": cluster}, {"Key": "ManagedBy", "Value": "fablink-ops"}],
    )
    rds.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBClusterIdentifier=cluster, Engine="aurora-postgresql",
                           DBInstanceClass="db.r6g.large")


def leftovers(cfg) -> list[str]:
    """Every cluster, instance and table under the temporary prefix."""
    prefix = f"{cfg.backup.temporary_prefix}-"
    rds, ddb = client("rds"), client("dynamodb")
    names = [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
    names += [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
    names += ddb.list_tables()["TableNames"]
    return sorted(n for n in names if n.startswith(prefix))


def assert_production_intact(cfg) -> None:
    rds, ddb = client("rds"), client("dynamodb")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cfg.backup.aurora_cluster)["DBClusters"][0]
    assert cluster["DeletionProtection"] and [m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"]] == [f"{cfg.backup.aurora_cluster}-1"]
    for table in cfg.dynamodb.tables:
        desc = ddb.describe_table(TableName=table.name)["Table"]
        assert desc["DeletionProtectionEnabled"], table.name
        assert ddb.scan(TableName=table.name, Select="COUNT")["Count"] == ITEMS.get(table.name, 0), table.name


@dataclass
class Run(RunbookRun):
    clock: FakeClock
    model: RestoreModel


class RecoveryPoints:
    """AWS Backup's ListRecoveryPointsByResource, which moto 5.2 lacks: every
    resource has one COMPLETED point ``age_hours`` before WALL in ``vault``,
    unless ``by_arn`` says otherwise (a list of points, [] for none)."""

    def __init__(self, age_hours: float = 2.0, vault: str = "fablink-prod-backup", by_arn: dict[str, list[dict]] | None = None):
        self.age_hours, self.vault, self.by_arn = age_hours, vault, by_arn or {}
        self.asked: list[str] = []

    @property
    def hooks(self):
        return [("before-call.backup.ListRecoveryPointsByResource", self._answer)]

    def point(self, age_hours: float, status: str = "COMPLETED", vault: str | None = None) -> dict:
        return {"RecoveryPointArn": f"arn:aws:backup:ap-northeast-2:853963783084:recovery-point:{age_hours}", "Status": status,
                "CreationDate": WALL - timedelta(hours=age_hours), "BackupVaultName": vault or self.vault}

    def _answer(self, params, **_):
        # before-call sees the serialized request: the ARN is the URL's /resources/{resourceArn}/...
        arn = urllib.parse.unquote(params["url_path"].split("/")[2])
        self.asked.append(arn)
        points = self.by_arn.get(arn, [self.point(self.age_hours)])
        return AWSResponse("https://backup.invalid", 200, {}, None), {"RecoveryPoints": points, "ResponseMetadata": {"HTTPStatusCode": 200}}


def run_verify(cfg, model: RestoreModel | None = None, hooks=(), live=False, yes=True, json_mode=False, connect=None,
               run_id=RUN_ID, recovery_points: RecoveryPoints | None = None, **options) -> Run:
    """`invoke backup.verify` in-process: the same command, with moto, a fake
    clock and the restore model (instant unless given). Live, AWS Backup's
    recovery points come from ``recovery_points`` (a recent one each unless given)."""
    clock = model.clock if model else FakeClock()
    model = model or RestoreModel(clock, cluster_at=0, instance_at=0, table_default=0)
    points = (recovery_points or RecoveryPoints()).hooks if live else []
    opts = verify.VerifyOptions(live=live, yes=yes, json=json_mode, **options)
    ran = run_runbook(cfg, opts, lambda o, session: verify.command(
        o, session=session, clock=clock.monotonic, sleep=clock.sleep, wall=WALL, run_id=run_id, connect=connect),
        hooks=[*model.hooks, *points, *hooks], identity=OPERATOR)
    return Run(*ran, clock, model)


def run_sweep(cfg, clock: FakeClock | None = None, model: RestoreModel | None = None, wall=WALL, live=False, yes=True,
              json_mode=False, hooks=()) -> Run:
    clock = clock or (model.clock if model else FakeClock())
    model = model or RestoreModel(clock, cluster_at=0, instance_at=0, table_default=0)
    opts = sweep.CleanupOptions(live=live, yes=yes, json=json_mode)
    ran = run_runbook(cfg, opts, lambda o, session: sweep.command(
        o, session=session, clock=clock.monotonic, sleep=clock.sleep, wall=wall), hooks=[*model.hooks, *hooks], identity=OPERATOR)
    return Run(*ran, clock, model)


def step(doc, name) -> dict:
    matches = [s for s in doc["steps"] if s["name"] == name]
    assert len(matches) == 1, (name, [s["name"] for s in doc["steps"]])
    return matches[0]
