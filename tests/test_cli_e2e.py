"""End to end: the real `invoke` command in subprocesses.

- sandbox (the default): the tool starts its own moto server, and never goes
  anywhere else, even with credentials and an endpoint in the environment;
- --live: the standard AWS_* variables point boto3 at a moto server started
  here with MOTO_ACCOUNT_ID, exactly as an operator's environment would point
  it at AWS.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from .conftest import ROOT

ACCOUNT = "853963783084"
REGION = "ap-northeast-2"


def _invoke_cmd() -> list[str]:
    script = Path(sys.executable).parent / "invoke"
    return [str(script)] if script.exists() else [sys.executable, "-m", "invoke"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "FABLINK_"))}
    env.update(extra)
    return env


def run_invoke(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_invoke_cmd(), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self, account: str):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = clean_env(MOTO_ACCOUNT_ID=account)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
        )

    def our_vpcs(self) -> list:
        return self.client("ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["fablink-prod-vpc"]}])["Vpcs"]

    def live_env(self, **extra: str) -> dict[str, str]:
        values = {
            "AWS_ENDPOINT_URL": self.url, "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "live-test", "AWS_SECRET_ACCESS_KEY": "live-test",
        }
        return clean_env(**{**values, **extra})

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine: seen at teardown, an error on a passed test
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    srv = MotoServer(ACCOUNT)
    yield srv
    srv.stop()


@pytest.fixture
def live(server):
    server.reset()
    return server


def one_json(stdout: str) -> dict:
    return json.loads(stdout)  # fails unless stdout is exactly one JSON document


# --------------------------------------------------------------------------


def test_sandbox_is_the_default_and_never_reaches_elsewhere(tmp_path):
    # Credentials, a profile that does not exist and an endpoint are all in the
    # environment: the sandbox ignores every one of them.
    env = clean_env(
        FABLINK_SANDBOX_DIR=str(tmp_path / "sandbox"),
        AWS_PROFILE="does-not-exist",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="AKIAREALLOOKINGKEY00",
        AWS_SECRET_ACCESS_KEY="secret",
    )
    try:
        first = run_invoke("provision", "--stage", "network", env=env)
        assert first.returncode == 0, first.stderr + first.stdout
        assert "sandbox" in first.stdout and "started" in first.stdout
        assert "AWS calls:" in first.stdout and "27 create" in first.stdout

        second = run_invoke("provision", "--stage", "network", "--json", env=env)
        assert second.returncode == 0, second.stderr
        doc = one_json(second.stdout)
        assert doc["target"] == "sandbox" and doc["result"] == "ok"
        assert doc["calls"]["writes"] == 0 and doc["calls"]["reads"] > 0
        assert doc["summary"] == {"no change": 28}  # 27 made (issue 17: the logs key, the NLB's group) + the VPC's default security group (stripped)

        plan = run_invoke("plan", "--stage", "network", "--detailed-exitcode", env=env)
        assert plan.returncode == 0, plan.stderr + plan.stdout

        status = run_invoke("sandbox.status", "--json", env=env)
        state = one_json(status.stdout)
        assert state["running"] is True
        assert state["stages"]["network"] == {"exist": 28, "desired": 28}
    finally:
        down = run_invoke("sandbox.down", env=env)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert one_json(run_invoke("sandbox.status", "--json", env=env).stdout) == {"running": False}


def test_live_provision_then_zero_writes_then_no_changes(live):
    env = live.live_env()
    first = run_invoke("provision", "--stage", "network", "--live", "--yes", "--json", env=env)
    assert first.returncode == 0, first.stderr
    doc = one_json(first.stdout)
    assert doc["target"] == "live" and doc["account"] == ACCOUNT
    assert doc["calls"]["writes"] >= 25
    assert len(live.our_vpcs()) == 1

    second = run_invoke("provision", "--stage", "network", "--live", "--yes", "--json", env=env)
    assert second.returncode == 0, second.stderr
    assert one_json(second.stdout)["calls"]["writes"] == 0

    assert run_invoke("plan", "--stage", "network", "--live", "--detailed-exitcode", env=env).returncode == 0

    # drift: plan says changes are pending (2) and shows the attribute
    vpc_id = live.our_vpcs()[0]["VpcId"]
    live.client("ec2").modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": False})
    drifted = run_invoke("plan", "--stage", "network", "--live", "--detailed-exitcode", env=env)
    assert drifted.returncode == 2
    assert "enableDnsHostnames" in drifted.stdout


def test_live_without_yes_and_without_a_terminal_refuses_with_zero_writes(live):
    result = run_invoke("provision", "--stage", "network", "--live", env=live.live_env())
    assert result.returncode == 2
    assert "refusing" in result.stderr and "--yes" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert live.our_vpcs() == []


def test_live_in_the_wrong_region_refuses_with_both_values(live):
    result = run_invoke("provision", "--stage", "network", "--live", "--yes", env=live.live_env(AWS_REGION="us-east-1"))
    assert result.returncode == 2
    assert "us-east-1" in result.stderr and REGION in result.stderr
    assert live.our_vpcs() == []


def test_live_in_the_wrong_account_refuses_with_both_values_and_zero_writes():
    other = MotoServer("111111111111")
    try:
        result = run_invoke("provision", "--stage", "network", "--live", "--yes", env=other.live_env())
        assert result.returncode == 2, result.stderr
        assert "111111111111" in result.stderr and ACCOUNT in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert other.our_vpcs() == []
    finally:
        other.stop()


def test_unknown_stage_and_bad_config_exit_2_with_one_line(tmp_path):
    env = clean_env(FABLINK_SANDBOX_DIR=str(tmp_path / "sandbox"))
    bad_stage = run_invoke("provision", "--stage", "netwrok", env=env)
    assert bad_stage.returncode == 2 and bad_stage.stderr.startswith("error: unknown stage 'netwrok'")
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "config" / "prod.toml").read_text().replace('account_id = "853963783084"', 'account_id = "12"'))
    result = run_invoke("plan", "--config", str(bad), env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "project.account_id" in result.stderr
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()  # nothing was started


def test_invokes_own_parse_errors_exit_2_with_the_closest_name(tmp_path):
    env = clean_env(FABLINK_SANDBOX_DIR=str(tmp_path / "sandbox"))
    flag = run_invoke("provision", "--stag", "network", env=env)
    assert flag.returncode == 2 and flag.stderr == "error: No idea what '--stag' is!; did you mean '--stage'?\n"
    name = run_invoke("provison", env=env)
    assert name.returncode == 2 and "did you mean 'provision'?" in name.stderr
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()  # nothing was started
    version = run_invoke("version", env=env)
    assert version.returncode == 0 and version.stdout.startswith("fablink-ops ")


@pytest.mark.skipif(shutil.which("script") is None, reason="needs util-linux 'script' for a pseudo-terminal")
def test_live_confirmation_needs_the_environment_name_typed(live):
    env = live.live_env()
    cmd = " ".join([*_invoke_cmd(), "provision", "--stage", "network", "--live"])
    wrong = subprocess.run(["script", "-qec", cmd, "/dev/null"], cwd=ROOT, env=env, input="prod\n", capture_output=True, text=True, timeout=180)
    assert wrong.returncode == 2 and "does not match" in wrong.stdout
    assert live.our_vpcs() == []
    right = subprocess.run(["script", "-qec", cmd, "/dev/null"], cwd=ROOT, env=env, input="fablink-prod\n", capture_output=True, text=True, timeout=180)
    assert right.returncode == 0, right.stdout
    assert len(live.our_vpcs()) == 1


def test_replace_required_is_reported_never_carried_out_and_exits_1_with_one_json_document(live):
    ec2 = live.client("ec2")
    vpc_id = ec2.create_vpc(
        CidrBlock="10.99.0.0/16",
        TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "fablink-prod-vpc"}]}],
    )["Vpc"]["VpcId"]
    result = run_invoke("provision", "--stage", "network", "--live", "--yes", "--json", env=live.live_env())
    assert result.returncode == 1
    doc = one_json(result.stdout)
    assert doc["result"] == "incomplete"
    (vpc,) = [c for c in doc["changes"] if c["kind"] == "vpc"]
    assert vpc["action"] == "replace-required"
    assert vpc["diffs"] == [{"attribute": "cidr", "before": "10.99.0.0/16", "after": "10.20.0.0/16"}]
    assert result.stderr.strip().splitlines()[-1].startswith("error: not converged: 1 resource(s) need replacing")
    assert [v["VpcId"] for v in live.our_vpcs()] == [vpc_id]  # untouched, not replaced
