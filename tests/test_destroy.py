"""invoke destroy (issue 18): refused for production and for deletion
protection; otherwise only this environment's tagged resources go, in
reverse build order, data stores snapshotted first; re-runnable after a crash
at any write; what is left is listed."""

from __future__ import annotations

import io
import re

import boto3
import pytest

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.destroy import ORDER, discover
from fablink_ops.destroy.command import cmd_destroy
from fablink_ops.output import make_console

from .conftest import CONFIG, make_ctx, make_target
from .faults import CrashAtWrite, SimulatedCrash, WriteCounter
from .test_eks import _moto_env
from .util import pending, plan, provision

REGION = "ap-northeast-2"


@pytest.fixture
def aws(aws, monkeypatch):  # noqa: F811 - the conftest's moto, with the managed policies the roles attach
    _moto_env(monkeypatch)
    yield


def staging_config(tmp_path, protection: bool = False, extra: str = ""):
    """prod.toml renamed to a non-production "staging" (every name differs)."""
    text = CONFIG.read_text()
    text = text.replace("fablink-prod", "fablink-staging").replace('environment = "prod"', 'environment = "staging"')
    text = text.replace("fablink-cluster-prod", "fablink-cluster-staging").replace('"api.fablink.com"', '"api.staging.fablink.com"')
    assert "production = true" in text
    text = text.replace("production = true", "production = false")
    if not protection:
        text = text.replace("deletion_protection = true", "deletion_protection = false")
        text = text.replace("nlb_deletion_protected = true", "nlb_deletion_protected = false")
    path = tmp_path / "staging.toml"
    path.write_text(text + extra)
    return load_config(path)


def destroy(cfg, hooks=(), yes=True, json=False, stage=None) -> int:
    """`invoke destroy` through the CLI's command, on in-process moto."""
    opts = cli.Options(config=cfg.path, yes=yes, json=json, stage=stage)
    session = cli.Session(opts, cfg, make_target(cfg, hooks), make_console(json))
    return cli.run(lambda o: cmd_destroy(o, session), opts)


def left(cfg, stages=ORDER):
    inv = discover(make_ctx(cfg), list(stages))
    return [(d.kind, d.name) for d in inv.deletable() + inv.blocked()]


# ----- refusals


def test_production_is_refused_before_any_aws_call(monkeypatch, capsys):
    reached = []
    monkeypatch.setattr(cli.sandbox, "ensure_running", lambda *a, **k: reached.append("sandbox"))
    monkeypatch.setattr(cli, "live_target", lambda *a, **k: reached.append("live"))
    code = cli.run(cmd_destroy, cli.Options(config=str(CONFIG), yes=True))
    assert (code, reached) == (2, [])
    err = capsys.readouterr().err
    assert "marks fablink-prod as production" in err and err.count("\n") == 1


def test_a_config_without_the_production_key_counts_as_production(tmp_path):
    path = tmp_path / "noflag.toml"
    path.write_text(re.sub(r"\nproduction = true\n", "\n", CONFIG.read_text()))
    assert load_config(path).project.production is True


def test_deletion_protection_is_a_refusal_naming_them_with_zero_writes(aws, tmp_path, capsys):
    cfg = staging_config(tmp_path, protection=True)
    provision(cfg, stages=("network", "aurora", "dynamodb"))
    writes = WriteCounter()
    assert destroy(cfg, hooks=writes.hooks) == 2
    assert writes.names == []
    err = capsys.readouterr().err
    assert "deletion protection on" in err
    assert "db-cluster fablink-staging-aurora (deletion protection)" in err
    assert "dynamodb-table fablink-staging-sessions (deletion protection)" in err


def test_no_terminal_and_no_yes_is_a_refusal_with_zero_writes(aws, tmp_path, monkeypatch, capsys):
    cfg = staging_config(tmp_path)
    provision(cfg, stages=("network",))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    writes = WriteCounter()
    assert destroy(cfg, hooks=writes.hooks, yes=False) == 2
    assert writes.names == [] and "no --yes" in capsys.readouterr().err


def test_typed_confirmation_must_be_the_environment_name(aws, tmp_path, monkeypatch):
    cfg = staging_config(tmp_path)
    provision(cfg, stages=("network",))
    tty = io.StringIO("fablink-prod\n")
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", tty)
    assert destroy(cfg, yes=False) == 2
    assert ("vpc", "fablink-staging-vpc") in left(cfg, ["network"])
    tty = io.StringIO("fablink-staging\n")
    tty.isatty = lambda: True
    monkeypatch.setattr("sys.stdin", tty)
    assert destroy(cfg, yes=False) == 0
    assert left(cfg, ["network"]) == []
