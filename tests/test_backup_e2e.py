"""invoke backup.verify and backup.cleanup end to end: the real `invoke`
command in a subprocess, against the sandbox (a moto server the tool starts),
seeded with the dynamodb stage (provisioned in-process against the same
server) and an Aurora cluster made with boto3; evidence in the cwd."""

from __future__ import annotations

import json

from fablink_ops.stages import plan_stages
from fablink_ops.config import load_config
from fablink_ops.engine import Context, apply
from fablink_ops.target import sandbox_target

from .conftest import CONFIG
from .util import invoke_in as invoke, sandbox_clients, sandbox_for_invoke

REGION = "ap-northeast-2"
PREFIX = "fablink-prod-bkv-"


def test_backup_verify_and_cleanup_through_invoke_against_the_sandbox(tmp_path):
    config = str(CONFIG)
    cfg = load_config(CONFIG)
    with sandbox_for_invoke() as (info, env):
        # the sources, as the stages leave them: the dynamodb stage, provisioned against the sandbox...
        ctx = Context(cfg, sandbox_target(info.endpoint_url, REGION))
        apply(plan_stages(ctx, ["dynamodb"]), ctx, cfg.engine.concurrency)
        rds, ddb = sandbox_clients(info, "rds", "dynamodb")
        for i in range(30):
            ddb.put_item(TableName="fablink-prod-cache", Item={"cache_key": {"S": f"k{i}"}, "value": {"S": "v"}})
        # ... and the Aurora cluster as the aurora stage will make it (managed master password)
        cluster = cfg.backup.aurora_cluster
        rds.create_db_cluster(DBClusterIdentifier=cluster, Engine="aurora-postgresql", EngineVersion="15.4", MasterUsername="fablink",
                              ManageMasterUserPassword=True, StorageEncrypted=True, DeletionProtection=True, BackupRetentionPeriod=30)
        rds.create_db_instance(DBInstanceIdentifier=f"{cluster}-1", DBClusterIdentifier=cluster, Engine="aurora-postgresql",
                               DBInstanceClass="db.r6g.large")

        def temporaries():
            names = [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]
            names += [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]]
            names += ddb.list_tables()["TableNames"]
            return [n for n in names if n.startswith(PREFIX)]

        # the whole run: checks, 7 restores, verification, cleanup; pass, exit 0,
        # one JSON document on stdout = the evidence file
        run = invoke(tmp_path, "backup.verify", "--json", "--config", config, env=env)
        assert run.returncode == 0, run.stderr + run.stdout
        doc = json.loads(run.stdout)
        assert doc["verdict"] == "pass" and doc["runbook"] == "backup.verify" and doc["target"] == "sandbox"
        assert json.loads((tmp_path / doc["evidence"]["json"]).read_text()) == doc
        resources = doc["measurements"]["resources"]
        assert len(resources) == 1 + len(cfg.dynamodb.tables)
        assert all(r["result"] == "pass" and r["restore"]["rto_seconds"] is not None for r in resources.values())
        assert resources["dynamodb fablink-prod-cache"]["restore"]["verification"]["items"]["restored_items"] == 30
        assert {t["result"] for t in doc["measurements"]["temporaries"].values()} == {"deleted"}
        assert len(doc["measurements"]["temporaries"]) == 7
        assert temporaries() == []
        assert rds.describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DeletionProtection"]
        assert all(ddb.describe_table(TableName=t.name)["Table"]["DeletionProtectionEnabled"] for t in cfg.dynamodb.tables)

        # a check failing, human output, read-only: exit 1, evidence, no write
        ddb.update_continuous_backups(TableName="fablink-prod-analytics",
                                      PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
        run = invoke(tmp_path, "backup.verify", "--checks-only", "--only", "dynamodb", "--config", config, env=env)
        assert run.returncode == 1, run.stderr
        out = " ".join(run.stdout.split())
        assert "✗ check dynamodb fablink-prod-analytics: point-in-time recovery: DISABLED" in out
        assert "backup.verify: FAIL: 1 of 6 resource(s) fail" in out and "0 writes" in out

        # nothing left for the sweep
        run = invoke(tmp_path, "backup.cleanup", "--json", "--config", config, env=env)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["reason"] == f"no temporaries under {PREFIX}"
        assert len(list((tmp_path / "reports").glob("*/*.json"))) == 3
