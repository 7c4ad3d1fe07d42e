"""docs/operator-policy.json stays in sync with the calls the tool makes."""

from __future__ import annotations

import json
import os
import re

from fablink_ops import cli, operator_policy
from fablink_ops.runbooks import access, backup, failover, release

from .conftest import ROOT
from .util import load_stage_policies, provision

POLICY = ROOT / "docs" / "operator-policy.json"
DESTROY_POLICY = ROOT / "docs" / "destroy-policy.json"
RUNBOOK_PERMISSIONS = (*access.PERMISSIONS, *backup.PERMISSIONS, *backup.IMPLIED_PERMISSIONS, *failover.PERMISSIONS,
                       *release.PERMISSIONS)


def test_the_policy_covers_exactly_a_full_provision_the_live_only_calls_and_the_runbooks(aws, cfg, monkeypatch):
    load_stage_policies(monkeypatch)
    ctx, _ = provision(cfg, stages=cli.select_stages(None))
    calls = set(ctx.target.meter.calls)
    files = {str(p.relative_to(ROOT / "fablink_ops")): p.read_text() for p in (ROOT / "fablink_ops").rglob("*.py")}
    services = {c.split(":")[0] for c in calls} | set(re.findall(r'client\("([a-z0-9-]+)"', "\n".join(files.values())))  # the runbooks' too
    operations, destroy = operator_policy.split_sources(files)
    calls |= operator_policy.source_calls(operations, services)
    destroy_calls = operator_policy.source_calls(destroy, services)
    scoped = operator_policy.scoped_deletes(cfg)
    _in_sync(POLICY, operator_policy.document(operator_policy.actions(calls, RUNBOOK_PERMISSIONS), scoped=scoped), calls)
    _in_sync(DESTROY_POLICY, operator_policy.destroy_document(destroy_calls), destroy_calls)
    # the production operators' policy holds none of destroy's own deletes
    destroy_only = {operator_policy.action_of(c) for c in destroy_calls} - {operator_policy.action_of(c) for c in calls}
    assert {"ec2:DeleteVpc", "eks:DeleteCluster", "kms:ScheduleKeyDeletion"} <= destroy_only
    assert not destroy_only & operator_policy.granted(json.loads(POLICY.read_text()))
    # the data deletes it holds are backup.verify's, on its temporaries' names only
    doc = json.loads(POLICY.read_text())
    [deletes] = [s for s in doc["Statement"] if s["Sid"] == "DeleteOnlyBackupVerifyTemporaries"]
    assert set(deletes["Action"]) == set(operator_policy.SCOPED_DELETES)
    assert all(f":{cfg.backup.temporary_prefix}-*" in r or f"/{cfg.backup.temporary_prefix}-*" in r for r in deletes["Resource"])
    assert not set(operator_policy.SCOPED_DELETES) & set(doc["Statement"][0]["Action"])  # never on "*"


def _in_sync(path, doc: dict, calls: set[str]) -> None:
    wanted = operator_policy.render(doc)
    if os.environ.get("FABLINK_WRITE_POLICY"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(wanted)
    have = path.read_text() if path.exists() else ""
    granted = operator_policy.granted(json.loads(have)) if have else set()
    missing = sorted({operator_policy.action_of(c) for c in calls} - granted - {"iam:PassRole"})
    assert not missing, f"calls {path.name} does not allow: {missing} (regenerate: FABLINK_WRITE_POLICY=1 pytest {__file__})"
    assert have == wanted, f"{path.name} is stale (regenerate: FABLINK_WRITE_POLICY=1 pytest {__file__})"


def test_live_only_calls_are_made_by_the_code_and_never_by_a_sandbox_provision():
    source = "\n".join(p.read_text() for p in (ROOT / "fablink_ops").rglob("*.py"))
    for action in operator_policy.LIVE_ONLY:
        service, operation = action.split(":")
        if service == "apigateway":
            continue  # a verb, not an operation
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        assert re.search(rf"\b{snake}\b", source), f"{action} is listed as live-only but no code calls {snake}"


def test_api_gateway_calls_are_authorised_by_http_verb():
    assert operator_policy.action_of("apigateway:CreateRestApi") == "apigateway:POST"
    assert operator_policy.action_of("apigateway:GetStages") == "apigateway:GET"
    assert operator_policy.action_of("elbv2:CreateLoadBalancer") == "elasticloadbalancing:CreateLoadBalancer"
    assert operator_policy.action_of("resourcegroupstaggingapi:GetResources") == "tag:GetResources"


def test_invoke_policy_gives_each_environment_its_own_scoped_deletes(capsys, tmp_path):
    """The actions are the code's, the same everywhere; the data deletes are
    scoped to the chosen environment's temporaries (staging's, not prod's)."""
    from fablink_ops.config import load_config

    committed = json.loads(POLICY.read_text())
    assert cli.run(cli.cmd_policy, cli.Options(config=str(ROOT / "config" / "prod.toml"))) == 0
    assert json.loads(capsys.readouterr().out) == committed  # prod's is the committed file

    staging = load_config(ROOT / "config" / "staging.toml")
    out = tmp_path / "staging-policy.json"
    assert cli.run(cli.cmd_policy, cli.Options(config=str(ROOT / "config" / "staging.toml"), out=str(out))) == 0
    doc = json.loads(out.read_text())
    [deletes] = [s for s in doc["Statement"] if s["Sid"] == operator_policy.SCOPED_SID]
    assert all(staging.backup.temporary_prefix + "-*" in r and staging.project.account_id in r for r in deletes["Resource"])
    assert staging.backup.temporary_prefix != load_config(ROOT / "config" / "prod.toml").backup.temporary_prefix
    assert [s for s in doc["Statement"] if s["Sid"] != operator_policy.SCOPED_SID] == \
        [s for s in committed["Statement"] if s["Sid"] != operator_policy.SCOPED_SID]


def test_invoke_policy_with_a_bad_config_is_one_line_and_exit_2(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[project\n")
    assert cli.run(cli.cmd_policy, cli.Options(config=str(bad))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
