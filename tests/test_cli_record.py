"""What `provision` says it did must be what it did (issue 18): after a failed
apply the summary and the JSON document list what was applied before the
error, what failed and what was never started; and the ownership guard
refuses through the CLI before any write."""

from __future__ import annotations

import dataclasses
import json

from botocore.awsrequest import AWSResponse

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.output import make_console

from .conftest import CONFIG, make_target
from .util import edited_config, provision


class DenyOperation:
    """Answers one operation with AccessDenied (never retried), as an IAM
    policy missing one action would."""

    def __init__(self, operation: str):
        self.operation = operation

    @property
    def hooks(self):
        return [("before-call", self._handler)]

    def _handler(self, model, **_):
        if model.name != self.operation:
            return None
        http = AWSResponse("https://denied.invalid", 403, {}, None)
        return http, {"Error": {"Code": "UnauthorizedOperation", "Message": "not allowed"}, "ResponseMetadata": {"HTTPStatusCode": 403}}


def _in_process_cli(monkeypatch, cfg, hooks=()):
    serial = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1))
    monkeypatch.setattr(
        cli, "open_session", lambda opts: cli.Session(opts, serial, make_target(serial, hooks, wait_scale=0.01), make_console(opts.json))
    )


def test_a_failed_apply_reports_what_was_applied_failed_and_not_started(aws, cfg, monkeypatch, capsys):
    _in_process_cli(monkeypatch, cfg, DenyOperation("CreateFlowLogs").hooks)
    code = cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), stage="network", json=True))
    assert code == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["result"] == "error"
    applied = {(c["kind"], c["name"]) for c in doc["applied"]}
    assert ("vpc", "fablink-prod-vpc") in applied and len(applied) > 10  # far from "0 applied"
    assert [(c["kind"], c["name"]) for c in doc["failed"]] == [("flow-log", "fablink-prod-vpc-flow-logs")]
    assert "UnauthorizedOperation" in doc["failed"][0]["error"]
    runnable = sum(1 for c in doc["changes"] if c["action"] in ("create", "update"))
    assert len(doc["applied"]) + len(doc["failed"]) + len(doc["not_started"]) == runnable
    assert not applied & {(c["kind"], c["name"]) for c in doc["not_started"]}


def test_the_console_summary_counts_what_was_applied(aws, cfg, monkeypatch, capsys):
    _in_process_cli(monkeypatch, cfg, DenyOperation("CreateFlowLogs").hooks)
    assert cli.run(cli.cmd_provision, cli.Options(config=str(CONFIG), stage="network")) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    summary = next(line for line in text.splitlines() if line.startswith("stopped:"))
    applied = int(summary.split()[1])
    assert applied > 10 and ", 1 failed, " in summary and " not started" in summary


def test_plan_and_provision_refuse_another_environments_resources(aws, cfg, monkeypatch, capsys, tmp_path):
    provision(cfg)
    # A hand-made copy of prod.toml with its names written out and only the
    # environment changed: the names still say fablink-prod.
    from .conftest import CONFIG as PROD

    text = PROD.read_text().replace("{prefix}", "fablink-prod").replace("{name}-cluster-{environment}", "fablink-cluster-prod")
    text = text.replace('"{environment}"', '"prod"').replace("FabLink {environment}", "FabLink prod")
    staging_path = tmp_path / "copy.toml"
    staging_path.write_text(text.replace('environment = "prod"', 'environment = "staging"', 1))
    staging = load_config(staging_path)
    _in_process_cli(monkeypatch, staging)
    for command in (cli.cmd_plan, cli.cmd_provision):
        code = cli.run(command, cli.Options(config=str(staging_path), stage="network", adopt=True))
        err = capsys.readouterr().err
        assert code == 2
        assert "belong to another environment" in err and "vpc fablink-prod-vpc (Environment=prod)" in err
    _, replan = provision(cfg)  # prod itself is untouched: nothing to do
    assert {c.action for c in replan} == {"no change"}
