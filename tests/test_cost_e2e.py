"""invoke cost.report end to end: the real `invoke` command in a subprocess,
against the sandbox (a moto server the tool starts), with metrics written
there by the test, evidence in the cwd."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from fablink_ops.config import load_config

from .conftest import CONFIG
from .util import invoke_in as invoke, sandbox_clients, sandbox_for_invoke


def test_the_cost_report_through_invoke_against_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    config = str(CONFIG)
    cfg = load_config(CONFIG)
    with sandbox_for_invoke() as (info, env):
        (cw,) = sandbox_clients(info, "cloudwatch")
        now = datetime.now(timezone.utc)
        cw.put_metric_data(Namespace="ContainerInsights", MetricData=[
            {"MetricName": "node_cpu_utilization", "Dimensions": [{"Name": "ClusterName", "Value": cfg.project.cluster_name}],
             "Timestamp": now - timedelta(hours=h, minutes=30), "Value": 70.0} for h in range(24)])

        # --json: one document on stdout; over a budget of 1 USD: exit 1
        run = invoke(tmp_path, "cost.report", "--json", "--budget", "1", "--config", config, env=env)
        assert run.returncode == 1, run.stderr
        doc = json.loads(run.stdout)
        assert doc["runbook"] == "cost.report" and doc["target"] == "sandbox" and doc["verdict"] == "fail"
        assert json.loads((tmp_path / doc["evidence"]["json"]).read_text()) == doc
        assert doc["measurements"]["prices"]["source"] == "snapshot" and doc["calls"]["writes"] == 0
        cpu = [r for r in doc["measurements"]["usage"] if r["metric"] == "node CPU %"][0]
        assert cpu["points"] == 24 and cpu["average"] == 70.0  # read back from the sandbox's CloudWatch

        # people's output: the lines, the total, the verdict; within budget: exit 0
        total = doc["measurements"]["total_monthly_usd"]
        run = invoke(tmp_path, "cost.report", "--budget", str(total), "--config", config, env=env)
        out = " ".join(run.stdout.split())
        assert run.returncode == 0, run.stdout + run.stderr
        assert f"{total:,.2f}" in out and "cost.report: PASS: estimate" in out and "NAT gateways" in out

        # a usage error: exit 2, no evidence
        run = invoke(tmp_path, "cost.report", "--budget", "lots", "--config", config, env=env)
        assert run.returncode == 2 and "--budget 'lots'" in run.stderr
        assert len(list((tmp_path / "reports" / "sandbox").glob("*.json"))) == 2
