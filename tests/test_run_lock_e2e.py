"""Two operators at once (issue 20): two `invoke provision` started at the
same instant on an empty sandbox leave exactly one of everything; one of them
refuses (exit 2) naming the lock's holder."""

from __future__ import annotations

import json
import subprocess

import boto3

from .test_cli_e2e import REGION, _invoke_cmd, clean_env, run_invoke
from .conftest import ROOT


def _sandbox_client(sandbox_dir, service: str):
    info = json.loads((sandbox_dir / "sandbox.json").read_text())
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{info['port']}", region_name=REGION,
                        aws_access_key_id="t", aws_secret_access_key="t")


def start(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([*_invoke_cmd(), *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def test_two_provisions_at_the_same_instant_leave_one_of_everything(tmp_path):
    sandbox_dir = tmp_path / "sandbox"
    env = clean_env(FABLINK_SANDBOX_DIR=str(sandbox_dir))
    # no sandbox yet: both start from nothing, server included
    try:
        runs = [start("provision", env=env) for _ in range(2)]
        # communicate, not wait: the plan table of the whole design outgrows a pipe's buffer (64 KiB),
        # and a child blocked writing to an unread pipe never exits
        results = [(lambda out_err, p=p: (p.returncode, *out_err))(p.communicate(timeout=300)) for p in runs]
        codes = sorted(code for code, _, _ in results)
        assert codes == [0, 2], results
        refused = next(err for code, _, err in results if code == 2)
        assert refused.count("\n") == 1 and "Traceback" not in refused
        assert "is locked by" in refused and "running `provision`" in refused and "pid " in refused
        ec2 = _sandbox_client(sandbox_dir, "ec2")
        assert len(ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fablink-prod-vpc"]}])["Vpcs"]) == 1
        assert len(ec2.describe_addresses()["Addresses"]) == 3  # an Elastic IP per AZ, once
        assert len(ec2.describe_subnets(Filters=[{"Name": "tag:Project", "Values": ["fablink"]}])["Subnets"]) == 6
        kms = _sandbox_client(sandbox_dir, "kms")
        keys = [k for k in kms.list_keys()["Keys"]]
        aliased = {a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a.get("TargetKeyId")}
        assert all(k["KeyId"] in aliased for k in keys), "a KMS key without an alias: made twice"
        # and the next run finds one of everything: converged, nothing pending
        again = run_invoke("plan", "--detailed-exitcode", env=env)
        assert again.returncode == 0, again.stderr
    finally:
        run_invoke("sandbox.down", env=env)
