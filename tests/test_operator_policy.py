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
RUNBOOK_PERMISSIONS = (*access.PERMISSIONS, *backup.PERMISSIONS, *backup.IMPLIED_PERMISSIONS, *failover.PERMISSIONS,
                       *release.PERMISSIONS)


def test_the_policy_covers_exactly_a_full_provision_the_live_only_calls_and_the_runbooks(aws, cfg, monkeypatch):
    load_stage_policies(monkeypatch)
    ctx, _ = provision(cfg, stages=cli.select_stages(None))
    calls = set(ctx.target.meter.calls)
    source = "\n".join(p.read_text() for p in (ROOT / "fablink_ops").rglob("*.py"))
    services = {c.split(":")[0] for c in calls} | set(re.findall(r'client\("([a-z0-9-]+)"', source))  # the runbooks' too
    calls |= operator_policy.source_calls(source, services)
    wanted = operator_policy.render(operator_policy.document(operator_policy.actions(calls, RUNBOOK_PERMISSIONS)))
    if os.environ.get("FABLINK_WRITE_POLICY"):
        POLICY.parent.mkdir(exist_ok=True)
        POLICY.write_text(wanted)
    have = POLICY.read_text() if POLICY.exists() else ""
    granted = set(json.loads(have)["Statement"][0]["Action"]) if have else set()
    missing = sorted({operator_policy.action_of(c) for c in calls} - granted - {"iam:PassRole"})
    assert not missing, f"calls the policy does not allow: {missing} (regenerate: FABLINK_WRITE_POLICY=1 pytest {__file__})"
    assert have == wanted, f"docs/operator-policy.json is stale (regenerate: FABLINK_WRITE_POLICY=1 pytest {__file__})"


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
