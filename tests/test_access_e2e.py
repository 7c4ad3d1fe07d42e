"""invoke access.review end to end: the real `invoke` command in a subprocess,
against the sandbox (a moto server the tool starts), evidence in the cwd."""

from __future__ import annotations

import json

from .conftest import CONFIG
from .test_access_review import audit_baseline
from .util import invoke_in as invoke, sandbox_clients, sandbox_for_invoke

REGION = "ap-northeast-2"
ACCOUNT = "853963783084"


def test_the_review_through_invoke_against_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # the sandbox server's EC2 starts faster without them
    config = str(CONFIG)
    with sandbox_for_invoke() as (info, env):
        iam, ec2 = sandbox_clients(info, "iam", "ec2")
        audit_baseline(lambda service: sandbox_clients(info, service)[0])
        iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                           RequireUppercaseCharacters=True, RequireLowercaseCharacters=True, PasswordReusePrevention=24)
        iam.create_role(RoleName="anyone", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        gid = ec2.create_security_group(GroupName="wide-open", Description="wide open", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

        # --json: one document on stdout, the evidence file; exit 1 (a critical finding)
        run = invoke(tmp_path, "access.review", "--json", "--config", config, env=env)
        assert run.returncode == 1, run.stderr
        doc = json.loads(run.stdout)
        assert doc["runbook"] == "access.review" and doc["target"] == "sandbox" and doc["verdict"] == "fail"
        assert json.loads((tmp_path / doc["evidence"]["json"]).read_text()) == doc
        found = {(f["check"], f["resource"]) for f in doc["measurements"]["findings"]}
        sg = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{gid}"
        assert found == {("iam.trust_any_principal", f"arn:aws:iam::{ACCOUNT}:role/anyone"),
                         ("ec2.sg_open_to_internet", sg), ("ec2.sg_database_port", sg)}
        assert doc["calls"]["writes"] == 0

        # fixed but for SSH open to the world (high): below --fail-on critical, exit 0;
        # people's output: the table and the summary line
        iam.delete_role(RoleName="anyone")
        ec2.revoke_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                                         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        run = invoke(tmp_path, "access.review", "--fail-on", "critical", "--config", config, env=env)
        out = " ".join(run.stdout.split())
        assert run.returncode == 0, run.stdout + run.stderr
        assert "ec2.sg_open_to_internet" in out and f"security-group/{gid}" in out
        assert "open findings: 0 critical, 1 high, 0 medium, 0 low; 0 suppressed" in out
        assert "access.review: PASS: no open finding at or above critical; 1 open below it (ec2.sg_open_to_internet)" in out

        # a usage error: exit 2, no evidence
        run = invoke(tmp_path, "access.review", "--fail-on", "severe", "--config", config, env=env)
        assert run.returncode == 2 and "choose one of critical, high, medium, low" in run.stderr
        assert len(list((tmp_path / "reports").glob("*/*.json"))) == 2
