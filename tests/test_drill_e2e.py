"""invoke drill.failover end to end: the real `invoke` command in a subprocess,
against the sandbox (a moto server the tool starts), evidence in the cwd."""

from __future__ import annotations

import json

from .conftest import CONFIG
from .util import invoke_in as invoke, sandbox_clients, sandbox_for_invoke

CLUSTER = "fablink-prod-aurora"
REGION = "ap-northeast-2"


def test_the_drill_through_invoke_against_the_sandbox(tmp_path):
    config = str(CONFIG)
    # the sandbox the drill will use (same FABLINK_SANDBOX_DIR), started here to seed it
    with sandbox_for_invoke() as (info, env):
        endpoint = info.endpoint_url
        rds, cw = sandbox_clients(info, "rds", "cloudwatch")
        rds.create_db_cluster(DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql", MasterUsername="fablink",
                              MasterUserPassword="not-a-secret-1")
        for i, az in enumerate("abd"):
            rds.create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-{az}", DBClusterIdentifier=CLUSTER, Engine="aurora-postgresql",
                                   DBInstanceClass="db.r6g.large", AvailabilityZone=f"{REGION}{az}", PromotionTier=i)
        for name in ("fablink-prod-api-error-rate", "fablink-prod-api-latency"):
            cw.put_metric_alarm(AlarmName=name, MetricName="5XXError", Namespace="AWS/ApiGateway", Statistic="Sum",
                                Period=60, EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanThreshold")

        def state():
            cluster = rds.describe_db_clusters(DBClusterIdentifier=CLUSTER)["DBClusters"][0]
            writer = next(m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if m["IsClusterWriter"])
            return writer, {t["Key"] for t in cluster.get("TagList", [])}

        # the drill with failback: pass, exit 0, one JSON document on stdout = the evidence file
        run = invoke(tmp_path, "drill.failover", "--failback", "--json", "--config", config, env=env)
        assert run.returncode == 0, run.stderr
        doc = json.loads(run.stdout)
        assert doc["verdict"] == "pass" and doc["target"] == "sandbox" and doc["runbook"] == "drill.failover"
        assert json.loads((tmp_path / doc["evidence"]["json"]).read_text()) == doc
        assert (tmp_path / doc["evidence"]["markdown"]).read_text().startswith("# drill.failover: PASS")
        assert doc["measurements"]["failover"]["new_writer"] == f"{CLUSTER}-b"
        assert doc["measurements"]["failback"]["new_writer"] == f"{CLUSTER}-a"
        assert state() == (f"{CLUSTER}-a", set())  # back home, lock released

        # aborted preflight (a stop alarm in ALARM), human output: exit 1, evidence, nothing done
        cw.set_alarm_state(AlarmName="fablink-prod-api-latency", StateValue="ALARM", StateReason="e2e")
        run = invoke(tmp_path, "drill.failover", "--to", f"{CLUSTER}-d", "--config", config, env=env)
        assert run.returncode == 1, run.stderr
        assert "drill.failover: ABORTED: preflight failed: in ALARM: fablink-prod-api-latency" in " ".join(run.stdout.split())
        assert state() == (f"{CLUSTER}-a", set())
        assert len(list((tmp_path / "reports").glob("*/*.json"))) == 2

        # live mode aimed at the same server: the guard and the confirmation (no
        # terminal, no --yes) refuse with exit 2 before anything is done
        cw.set_alarm_state(AlarmName="fablink-prod-api-latency", StateValue="OK", StateReason="e2e")
        live_env = dict(env, AWS_ENDPOINT_URL=endpoint, AWS_REGION=REGION)
        run = invoke(tmp_path, "drill.failover", "--live", "--config", config, env=live_env)
        assert run.returncode == 2, run.stderr
        assert "refusing: live changes need confirmation" in run.stderr
        assert state() == (f"{CLUSTER}-a", set())
        assert len(list((tmp_path / "reports").glob("*/*.json"))) == 2
