"""Helpers to provision in-process (on moto's mock_aws) the way the CLI does."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from fablink_ops import ownership
from fablink_ops.stages import plan_stages
from fablink_ops.engine import Change, Context, apply
from fablink_ops.target import Target

from .conftest import make_ctx, make_target


def provision(cfg, stages=("network",), hooks=(), adopt=False, **ctx_kwargs) -> tuple[Context, list[Change]]:
    """Plan then apply, exactly as `invoke provision` does (the ownership
    guard included). Returns (ctx, the plan)."""
    ctx = make_ctx(cfg, hooks, **ctx_kwargs)
    changes = plan_stages(ctx, list(stages))
    ownership.check(changes, adopt)
    apply(changes, ctx, cfg.engine.concurrency)
    return ctx, changes


_PROVISIONED: dict[tuple, object] = {}


def provisioned(cfg, stages=("network",)) -> None:
    """What ``provision(cfg, stages)`` leaves, for a test that only stands on
    it (its own moto, fresh): provisioned the first time in the test process,
    then restored from a snapshot of that (tests/snapshot.py), ~0.01 s. The
    same config (wherever its file is), stages and moto and fidelity settings
    (MOTO_*, FABLINK_FIDELITY*, the managed policies IAM is given) make the
    same state. A moto not fresh: provisioned."""
    import dataclasses

    import moto.iam.models
    from moto.core.base_backend import BackendDict

    from . import snapshot

    settings = sorted((k, v) for k, v in os.environ.items() if k.startswith(("MOTO_", "FABLINK_FIDELITY")))
    key = (repr(dataclasses.replace(cfg, path="")), tuple(stages), tuple(settings), id(moto.iam.models.aws_managed_policies_data))
    fresh = not any(len(d) for d in BackendDict._instances)
    if fresh and key in _PROVISIONED:
        snapshot.restore(_PROVISIONED[key])
        return
    provision(cfg, stages)
    if fresh:
        _PROVISIONED[key] = snapshot.take()


def plan(cfg, stages=("network",), hooks=()) -> tuple[Context, list[Change]]:
    ctx = make_ctx(cfg, hooks)
    return ctx, plan_stages(ctx, list(stages))


def pending(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.action != "no change"]


def assert_config_error(path, key: str, phrase: str) -> str:
    """Loading ``path`` fails with one line naming the file and ``key``, containing ``phrase``."""
    import pytest

    from fablink_ops.config import load_config
    from fablink_ops.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert phrase in message, message
    return message


def edited_config(tmp_path, old: str, new: str, name: str = "prod.toml"):
    """config/prod.toml with its first ``old`` replaced by ``new``, written to tmp_path/name."""
    from .conftest import CONFIG

    text = CONFIG.read_text()
    assert old in text, old
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


def plan_refused(path, monkeypatch, capsys, stage: str | None = None) -> str:
    """`plan` with the config at ``path`` through the CLI: exit 2 before any
    AWS call (neither the sandbox nor a live target is reached). Returns
    what it wrote on stderr."""
    from fablink_ops import cli, session

    reached = []
    monkeypatch.setattr(session.sandbox, "ensure_running", lambda *a, **k: reached.append("sandbox"))
    monkeypatch.setattr(session, "live_target", lambda *a, **k: reached.append("live"))
    code = cli.run(cli.cmd_plan, cli.Options(config=str(path), stage=stage))
    assert reached == []  # every AWS call goes through one of them
    assert code == 2
    return capsys.readouterr().err


def with_section_key(text: str, section: str, key: str, value: str | None) -> str:
    """Config text with one key of ``[section]`` (up to the next table header)
    set to a raw TOML value (None: removed; added at the section's top when absent)."""
    import re

    head, sep, rest = text.partition(f"\n[{section}]\n")
    assert sep, section
    end = re.search(r"^\[", rest, re.M)
    body, tail = (rest[:end.start()], rest[end.start():]) if end else (rest, "")
    line = re.compile(rf"^{re.escape(key)} = .*$", re.M)
    if value is None:
        body = line.sub("", body)
    elif line.search(body):
        body = line.sub(lambda _: f"{key} = {value}", body)
    else:
        body = f"{key} = {value}\n" + body
    return head + sep + body + tail


def logs_key(cfg) -> dict[str, str]:
    """The network stage's logs key (issue 17 item 3), made directly with its
    policy for stage tests that stand on a hand-made network: the output the
    network stage would record, which every log group change needs."""
    import json

    from fablink_ops.resources import kms_key, logs_key as key_module

    from .conftest import boto_session

    region = cfg.project.region
    kms = boto_session(region).client("kms", region_name=region)
    key = kms.create_key(Policy=json.dumps(key_module.key_policy(make_ctx(cfg))), KeyUsage="ENCRYPT_DECRYPT",
                         KeySpec="SYMMETRIC_DEFAULT", Description="logs key (test substrate)")["KeyMetadata"]
    kms.create_alias(AliasName=cfg.logging.kms_key_alias, TargetKeyId=key["KeyId"])
    return {kms_key.output_key(cfg.logging.kms_key_alias, region): key["Arn"]}


def load_stage_policies(monkeypatch) -> None:
    """Stages attach AWS managed policies by ARN, which moto knows only when
    asked: loaded are those the stages' code or the config names (all
    ~1,300 cost ~1.3 s)."""
    import json
    import re

    import moto.iam.models
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    from .conftest import CONFIG, ROOT

    names: set[str] = set()
    for path in [*(ROOT / "fablink_ops" / "resources").rglob("*.py"), CONFIG]:
        names.update(re.findall(r"[A-Za-z][A-Za-z0-9_]+", path.read_text()))
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    monkeypatch.setattr(moto.iam.models, "aws_managed_policies_data",
                        json.dumps({k: v for k, v in json.loads(aws_managed_policies_data).items() if k in names}))


def assert_bad_section_value(tmp_path, section: str, key: str, value: str | None, error_key: str, phrase: str) -> str:
    """prod.toml with one key of ``[section]`` set to ``value`` fails to load
    with one line naming ``error_key`` and containing ``phrase``."""
    from .conftest import CONFIG

    path = tmp_path / "prod.toml"
    path.write_text(with_section_key(CONFIG.read_text(), section, key, value))
    return assert_config_error(path, error_key, phrase)


def invoke_in(cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The real `invoke` in a subprocess started in ``cwd`` (a runbook's
    evidence goes to ./reports there), the project's tasks found by --search-root."""
    from .conftest import ROOT

    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )


@contextmanager
def sandbox_for_invoke() -> Iterator[tuple[object, dict[str, str]]]:
    """The sandbox server a test seeds before its `invoke` runs use it (the
    same FABLINK_SANDBOX_DIR: the conftest's, this test's own), started here
    and stopped after. Yields (its SandboxInfo, the environment for invoke_in)."""
    from fablink_ops import sandbox
    from fablink_ops.config import load_config

    from .conftest import CONFIG, ROOT

    env = dict(os.environ)  # conftest: no real credentials
    env["PYTHONPATH"] = str(ROOT)
    try:
        info, started = sandbox.ensure_running(load_config(CONFIG).project.account_id)
        assert started
        yield info, env
    finally:
        sandbox.stop()
    assert sandbox.running() is None


def sandbox_clients(info, *services: str) -> list:
    """boto3 clients on the sandbox server (a test's own view of it, not the tool's)."""
    import boto3

    from .conftest import CONFIG
    from fablink_ops.config import load_config

    region = load_config(CONFIG).project.region
    return [boto3.client(service, region_name=region, endpoint_url=info.endpoint_url,
                         aws_access_key_id="sandbox", aws_secret_access_key="sandbox") for service in services]


@dataclass
class RunbookRun:
    """What a runbook command run in-process left: its exit code, its
    evidence (JSON document and Markdown; None and "" when it wrote none) and
    the target it ran on."""

    code: int
    doc: dict | None
    md: str
    target: Target


def run_runbook(cfg, opts, command, hooks=(), identity: str = "") -> tuple[int, dict | None, str, Target]:
    """``command(opts, session)`` through cli.run as the Invoke task runs it,
    on moto (a live target when ``opts.live``, as ``identity``), evidence in
    ./reports: at most one new record. Returns (code, doc, md, target)."""
    import json

    from fablink_ops import cli
    from fablink_ops.output import make_console

    target = make_target(cfg, hooks=hooks)
    if getattr(opts, "live", False):
        target.mode = "live"
    session = cli.Session(opts, cfg, target, make_console(opts.json), identity=identity if target.is_live else "")
    before = set(Path("reports").glob("*/*.json"))
    code = cli.run(lambda o: command(o, session), opts)
    files = sorted(set(Path("reports").glob("*/*.json")) - before)
    assert len(files) <= 1
    if not files:
        return code, None, "", target
    return code, json.loads(files[0].read_text()), files[0].with_suffix(".md").read_text(), target


@contextmanager
def seeding() -> Iterator[None]:
    """A test's setup past the in-process fidelity layer: the world as it was
    before the run under test (a table whose PITR AWS enabled long ago), not
    AWS's answers in the seconds after each seeding write."""
    from fablink_ops.fidelity import inprocess

    layer = inprocess.layer()
    was = layer.on if layer else None
    if layer:
        layer.on = False
    try:
        yield
    finally:
        if layer:
            layer.on = was

