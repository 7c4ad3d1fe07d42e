"""invoke release (issue 16) on one sandbox for the whole module: the moto
server the tool starts, the network and edge stages provisioned on it by the
tool's own plan/apply, and the two stop alarms the monitoring stage names.

The CLI runs as a subprocess where a process is the subject (a promotion
through `invoke`, a real Ctrl-C (SIGINT) and a real kill (SIGKILL) in a
bake); release.rollback after the kill, the next release, release.status, the
approval, the metric gate and the Kubernetes rollout run in-process against
the same server, with a clock that only sleeping advances and a sleep that
acts in the middle of a bake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from fablink_ops import lock as run_lock
from fablink_ops import operator_policy
from fablink_ops import sandbox
from fablink_ops.config import load_config
from fablink_ops.engine import Context, apply
from fablink_ops.errors import OpsError
from fablink_ops.output import make_console
from fablink_ops import cli
from fablink_ops.runbooks.release import PERMISSIONS, ReleaseOptions, colour_images, command, rollback_command, status_command
from fablink_ops.runbooks.release import gates, rollout
from fablink_ops.runbooks.release import stage as release_stage
from fablink_ops.session import Session
from fablink_ops.stages import plan_stages
from fablink_ops.target import Target, sandbox_target

from .conftest import CONFIG, FAST_RETRY, ROOT, boto_session, make_ctx
from .test_cli_e2e import _invoke_cmd, clean_env, run_invoke
from .test_kube import api  # noqa: F401 (a fixture: a fake Kubernetes API server)

REGION = "ap-northeast-2"
ALARMS = ("fablink-prod-api-error-rate", "fablink-prod-api-latency")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """(the sandbox's endpoint, the config path, the environment for invoke): network and edge built once."""
    root = tmp_path_factory.mktemp("release")
    config = root / "prod.toml"  # polls every 0.2 s: a stop alarm is seen within the test's bake
    config.write_text(CONFIG.read_text().replace("poll_seconds = 10 ", "poll_seconds = 0.2 ", 1))
    cfg = load_config(config)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FABLINK_SANDBOX_DIR", str(root / "sandbox"))
        for var in [v for v in os.environ if v.startswith("AWS_")]:
            mp.delenv(var)
        info, _ = sandbox.ensure_running(cfg.project.account_id)
        try:
            target = sandbox_target(info.endpoint_url, REGION, FAST_RETRY)
            ctx = Context(cfg, target, sleep=lambda s: None)
            apply(plan_stages(ctx, ["network", "edge"]), ctx, cfg.engine.concurrency)
            cw = target.client("cloudwatch")
            for name in ALARMS:
                cw.put_metric_alarm(AlarmName=name, MetricName="5XXError", Namespace="AWS/ApiGateway", Statistic="Sum",
                                    Period=60, EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanThreshold")
            invoke_env = clean_env(FABLINK_SANDBOX_DIR=str(root / "sandbox"), FABLINK_REPORTS_DIR=str(root / "reports"))
            yield info.endpoint_url, config, invoke_env
        finally:
            sandbox.stop()


def _target(env):
    return sandbox_target(env[0], REGION, FAST_RETRY)


def _view(env) -> release_stage.StageView:
    cfg = load_config(env[1])
    return release_stage.read(Context(cfg, _target(env)))


def _alarm(env, name: str, state: str) -> None:
    _target(env).client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test_release")


class Clock:
    """A monotonic clock that only sleeping advances: a bake of seconds passes at once."""

    def __init__(self, action=None, after: int = 1):
        self.now, self.calls, self.action, self.after = 1000.0, 0, action, after

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)
        self.calls += 1
        if self.action is not None and self.calls == self.after:
            self.action()


def _in_process(env, tmp_path, clock: Clock, **options) -> tuple[int, dict]:
    """The release runbook in-process against the module's sandbox; (exit code, evidence)."""
    opts = ReleaseOptions(config=str(env[1]), **options)
    cfg = load_config(env[1])
    session = Session(opts, cfg, _target(env), make_console(True), identity="sandbox")
    code = command(opts, session=session, clock=clock.clock, sleep=clock.sleep, reports_dir=tmp_path)
    [evidence] = sorted(tmp_path.glob("*-release.json"))
    return code, json.loads(evidence.read_text())


def _invoke(env, *args: str) -> subprocess.CompletedProcess:
    return run_invoke(*args, "--config", str(env[1]), env=env[2])


# --------------------------------------------------------------------------


def _status(env, monkeypatch, capsys) -> dict:
    """`invoke release.status --json`'s command, in-process on the module's sandbox."""
    monkeypatch.setenv("FABLINK_SANDBOX_DIR", env[2]["FABLINK_SANDBOX_DIR"])
    capsys.readouterr()
    assert cli.run(status_command, cli.Options(config=str(env[1]), json=True)) == 0
    return json.loads(capsys.readouterr().out)


def test_a_release_promotes_green_and_the_next_goes_back_to_blue(env, tmp_path, monkeypatch, capsys):
    before = _view(env)  # blue on a fresh sandbox (the module's first test when run in order)
    run = _invoke(env, "release", "--image", "v2", "--approve", "--bake", "1", "--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["verdict"] == "pass" and doc["measurements"]["release"]["to_colour"] == before.idle
    assert doc["measurements"]["release"]["approval"]["how"] == "--approve"
    assert "not measured" in doc["reason"]  # the sandbox has no traffic: said, never passed on made-up numbers
    status = _status(env, monkeypatch, capsys)
    assert status == {"live_colour": before.idle, "images": {before.live: before.image(before.live), before.idle: "v2"},
                                         "canary": None, "release_in_progress": False, "lock": None}
    code, doc = _in_process(env, tmp_path, Clock(), image="v3", approve=True, bake=0)  # the CLI proven above: in-process
    assert code == 0, doc["reason"]
    view = _view(env)
    assert (view.live, view.image(before.live), view.image(before.idle), view.canary) == (before.live, "v3", "v2", None)
    dns = _target(env).client("elbv2").describe_load_balancers(Names=["fablink-prod-nlb"])["LoadBalancers"][0]["DNSName"]
    assert view.variables["backendHost"] == f"{dns}:{80 if before.live == 'blue' else 8080}"  # the live colour's listener


def test_a_stop_alarm_during_a_bake_rolls_back(env, tmp_path):
    before = _view(env)
    code, doc = _in_process(env, tmp_path, Clock(lambda: _alarm(env, ALARMS[1], "ALARM")), image="v9", approve=True, bake=1)
    _alarm(env, ALARMS[1], "OK")
    assert code == 1 and doc["verdict"] == "fail", doc["reason"]
    assert "stop alarm" in doc["reason"] and "rolled back" in doc["reason"]
    rollback = doc["measurements"]["release"]["rollback"]
    assert rollback["verified"] and rollback["seconds"] >= 0
    after = _view(env)
    assert after.canary is None and (after.live, after.image(after.live)) == (before.live, before.image(before.live))
    assert doc["measurements"]["seconds_with_traffic_on_new_version"] >= 0
    # every call the release made is an IAM permission it declares (the lock's are metered apart, and declared)
    used = {operator_policy.action_of(call) for call in doc["calls"]["by_operation"]}
    assert used <= set(PERMISSIONS), used - set(PERMISSIONS)


def _start_release(env, image: str) -> subprocess.Popen:
    """`invoke release` in the background, returned once its canary is on the stage."""
    proc = subprocess.Popen([*_invoke_cmd(), "release", "--image", image, "--approve", "--bake", "60", "--config", str(env[1])],
                            cwd=ROOT, env=env[2], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 60
    while _view(env).canary is None:
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail(f"the canary never appeared: {proc.communicate()[0]}")
        time.sleep(0.2)
    return proc


def test_ctrl_c_during_a_bake_rolls_back(env):
    before = _view(env)
    proc = _start_release(env, "v10")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1, out
    assert "release: ABORTED: interrupted by the operator (Ctrl-C)" in out and "(verified)" in out, out
    after = _view(env)
    assert after.canary is None and (after.live, after.image(after.live)) == (before.live, before.image(before.live))


def test_no_terminal_and_no_approve_rolls_back_before_the_promotion(env, tmp_path):
    before = _view(env)
    code, doc = _in_process(env, tmp_path, Clock(), image="v11", bake=0)
    assert code == 1 and "no --approve" in doc["reason"] and "rolled back" in doc["reason"], doc["reason"]
    assert _view(env).live == before.live and _view(env).canary is None


def test_canary_errors_in_cloudwatch_fail_the_gate(env, tmp_path):
    """The gate reads the canary's own metrics (Stage=<stage>/Canary): errors over the SLA roll back."""
    cw = _target(env).client("cloudwatch")

    def traffic() -> None:
        dims = [{"Name": "ApiName", "Value": "fablink-prod-api"}, {"Name": "Stage", "Value": "prod/Canary"}]
        cw.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[
            {"MetricName": "Count", "Dimensions": dims, "Value": 200.0},
            {"MetricName": "5XXError", "Dimensions": dims, "Value": 9.0},
            {"MetricName": "Latency", "Dimensions": dims, "Value": 120.0}])

    code, doc = _in_process(env, tmp_path, Clock(traffic), image="v12", approve=True, bake=0.5)
    assert code == 1 and "canary metrics" in doc["reason"] and "error rate 4.500%" in doc["reason"], doc["reason"]
    assert _view(env).canary is None


def test_a_killed_release_is_undone_by_release_rollback(env, monkeypatch, capsys):
    before = _view(env)
    proc = _start_release(env, "v13")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _view(env).canary_colour == before.idle
    # provision leaves the release's state alone: the canary and the colour variables are no drift
    plan = plan_stages(Context(load_config(env[1]), _target(env)), ["edge"])
    assert [(c.key, c.action) for c in plan if c.action != "no change"] == []
    # `invoke release.rollback --json`'s command (in-process: the kill above is what needs a real process).
    # It needs no run lock: the dead run still holds it.
    monkeypatch.setenv("FABLINK_SANDBOX_DIR", env[2]["FABLINK_SANDBOX_DIR"])
    monkeypatch.setenv("FABLINK_REPORTS_DIR", env[2]["FABLINK_REPORTS_DIR"])
    capsys.readouterr()
    assert cli.run(rollback_command, cli.Options(config=str(env[1]), json=True)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "pass" and doc["measurements"]["rollback"]["verified"], doc["reason"]
    after = _view(env)
    assert after.canary is None and (after.live, after.image(after.live)) == (before.live, before.image(before.live))
    # the killed run's lock stays until its lease ends: a new release is refused (exit 2) until then or `invoke unlock`
    holder = run_lock.read(run_lock.lock_target(_target(env)), "fablink-prod")
    assert holder is not None and holder.command == "release"
    opts = ReleaseOptions(config=str(env[1]), image="v14", approve=True)
    session = Session(opts, load_config(env[1]), _target(env), make_console(True), identity="sandbox")
    with pytest.raises(OpsError) as refused:
        command(opts, session=session)
    assert refused.value.exit_code == 2 and "locked by" in refused.value.message
    run_lock.unlock(run_lock.lock_target(_target(env)), "fablink-prod", lambda holder: None)


def test_bad_input_is_refused_before_any_aws_call():
    for opts in (ReleaseOptions(image="repo@sha256:abc"), ReleaseOptions(image="v2", bake="-1"), ReleaseOptions()):
        with pytest.raises(OpsError) as err:
            command(opts)  # no session, no sandbox: the refusal comes first
        assert err.value.exit_code == 2


def test_colour_images_is_the_workload_contract():
    stage = {"variables": {"liveColour": "green", "greenImage": "v2"}}
    assert colour_images(stage, "123.dkr.ecr/fablink-backend:v1") == {"green": "123.dkr.ecr/fablink-backend:v2"}
    stage = {"variables": {"liveColour": "blue", "greenImage": "reg/app:v3"}}
    assert colour_images(stage, "reg/app:v1") == {"blue": "reg/app:v1", "green": "reg/app:v3"}
    assert colour_images({}, "reg:5000/app") == {"blue": "reg:5000/app"}


def _deployment(colour: str, image: str, generation: int, observed: int, updated: int, available: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"fablink-backend-{colour}", "namespace": "fablink-prod", "generation": generation,
                         "labels": {"app.kubernetes.io/managed-by": "fablink-ops"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "backend", "image": image}]}}},
            "status": {"observedGeneration": observed, "replicas": 3, "updatedReplicas": updated, "availableReplicas": available}}


def test_the_rollout_sets_the_idle_colours_image_through_the_kubernetes_api(env, tmp_path, api):
    """The live path's rollout, at the HTTP level (a fake API server; the rest on the sandbox): the
    image field alone, applied server-side by the release's own field manager, then waited for."""
    client, fake = api
    idle = _view(env).idle
    base = "/apis/apps/v1/namespaces/fablink-prod/deployments"
    current = _deployment(idle, "123.dkr.ecr/fablink-backend:v1", 4, 4, 3, 3)
    fake.answers[("GET", base)] = (200, {"items": [_deployment(_view(env).live, "x:1", 1, 1, 3, 3), current]})
    fake.answers[("PATCH", f"{base}/fablink-backend-{idle}")] = (200, current)
    fake.answers[("GET", f"{base}/fablink-backend-{idle}")] = (200, _deployment(idle, "123.dkr.ecr/fablink-backend:v20", 5, 5, 3, 3))
    opts = ReleaseOptions(config=str(env[1]), image="v20", approve=True, bake=0)
    session = Session(opts, load_config(env[1]), _target(env), make_console(True), identity="sandbox")
    clock = Clock()
    assert command(opts, session=session, kube=client, clock=clock.clock, sleep=clock.sleep, reports_dir=tmp_path) == 0
    [patch] = [r for r in fake.seen if r["method"] == "PATCH"]
    assert patch["query"] == {"fieldManager": "fablink-ops-release", "force": "true"}
    assert patch["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert patch["body"]["spec"] == {"template": {"spec": {"containers": [{"name": "backend", "image": "123.dkr.ecr/fablink-backend:v20"}]}}}
    [doc] = [json.loads(p.read_text()) for p in tmp_path.glob("*-release.json")]
    [step] = [s for s in doc["steps"] if s["name"] == f"rollout: {idle}"]
    assert step["status"] == "ok" and "3/3 updated" in step["detail"]
    # a rollout that never completes is a failure, named with what the controller reports
    fake.answers[("GET", f"{base}/fablink-backend-{idle}")] = (200, _deployment(idle, "r:v21", 6, 5, 1, 3))
    clock = Clock()
    with pytest.raises(OpsError, match=r"not rolled out in time: 1/3 updated, 3 available, 3 in all \(new generation not yet observed\)"):
        rollout.wait_rollout(client, current, clock.now + 1, clock.clock, clock.sleep, 0.2)


def test_no_canary_data_fails_live_and_is_said_not_measured_in_the_sandbox(aws, cfg):
    """No requests in CloudWatch: live, a failure (nothing shows the version works); sandbox, skipped, never a pass."""
    now = datetime.now(timezone.utc)
    live = Context(cfg, Target("live", REGION, boto_session(REGION), retry=FAST_RETRY))
    gate = gates.traffic_metrics(live, now - timedelta(minutes=5), now, canary=True)
    assert (gate.verdict, gate.readings["dimensions"]["Stage"]) == (gates.FAILED, "prod/Canary"), gate.detail
    gate = gates.traffic_metrics(make_ctx(cfg), now - timedelta(minutes=5), now, canary=False)
    assert gate.verdict == gates.SKIPPED and "not measured" in gate.detail
