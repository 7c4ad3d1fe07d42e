"""Bad config: one line naming the file and the key, exit 2, and no AWS call at all."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import botocore.client
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fablink_ops import cli, sandbox
from fablink_ops.config import load_config
from fablink_ops.errors import ConfigError

from .conftest import CONFIG

GOOD = CONFIG.read_text()


@pytest.fixture
def no_aws_calls(monkeypatch):
    """Any AWS call fails the test, whatever the target."""

    def forbidden(self, operation_name, api_params):
        raise AssertionError(f"AWS was called: {operation_name}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", forbidden)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def replace(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_the_shipped_config_is_valid():
    cfg = load_config(CONFIG)
    assert cfg.project.account_id == "853963783084"
    assert cfg.project.region == "ap-northeast-2"
    assert [z.az for z in cfg.network.zones] == ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2d"]
    assert cfg.logging.retention_days == 90


BAD = [
    # (what, edit, the key the message must name, a phrase it must contain)
    ("TOML syntax", lambda t: replace('name = "fablink"', 'name = "fablink'), "", "line"),
    ("wrong type", lambda t: replace("retention_days = 90", 'retention_days = "90"'), "logging.retention_days", "expected an integer"),
    ("unknown key", lambda t: replace("vpc_cidr =", "vpc_cidrr ="), "network.vpc_cidrr", "did you mean 'vpc_cidr'"),
    ("missing key", lambda t: replace('region = "ap-northeast-2"       # "Region"\n', ""), "project.region", "missing key"),
    ("invalid CIDR", lambda t: replace('vpc_cidr = "10.20.0.0/16"', 'vpc_cidr = "10.20.0.0/33"'), "network.vpc_cidr", "not a valid IPv4 CIDR"),
    ("host bits set", lambda t: replace('vpc_cidr = "10.20.0.0/16"', 'vpc_cidr = "10.20.0.1/16"'), "network.vpc_cidr", "not a valid IPv4 CIDR"),
    ("subnets overlap", lambda t: replace('public_cidr = "10.20.16.0/20"', 'public_cidr = "10.20.0.0/20"'), "network.zones[1].public_cidr", "overlaps"),
    ("subnet outside the VPC", lambda t: replace('private_cidr = "10.20.192.0/18"', 'private_cidr = "10.99.0.0/18"'), "network.zones[2].private_cidr", "outside the VPC"),
    ("AZ outside the region", lambda t: replace('az = "ap-northeast-2b"', 'az = "us-east-1b"'), "network.zones[1].az", "not an availability zone of region ap-northeast-2"),
    ("the internet on a database port", lambda t: replace('{ port = 5432, group = "app"', '{ port = 5432, cidr = "0.0.0.0/0"'), "network.security_groups[1].ingress[0].cidr", "0.0.0.0/0 is allowed on ports 80 and 443 only"),
    ("name AWS rejects", lambda t: replace('vpc_name = "fablink-prod-vpc"', 'vpc_name = "fablink prod vpc!"'), "network.vpc_name", "not a valid VPC name"),
    ("name prefix too long", lambda t: replace('name = "fablink"', 'name = "' + "f" * 40 + '"'), "project.name", "not a valid name prefix"),
    ("account id not 12 digits", lambda t: replace('"853963783084"', '"85396378308"'), "project.account_id", "12 digits"),
    ("region malformed", lambda t: replace('region = "ap-northeast-2"', 'region = "seoul"'), "project.region", "not a valid AWS region"),
    ("retention AWS does not offer", lambda t: replace("retention_days = 90", "retention_days = 91"), "logging.retention_days", "is not one of"),
    ("a tier referenced but not defined", lambda t: replace('group = "app"', 'group = "web"'), "network.security_groups[1].ingress[0].group", "not a tier"),
    ("a boolean where a number is expected", lambda t: replace("concurrency = 8", "concurrency = true"), "engine.concurrency", "expected an integer"),
    ("a reserved tag key", lambda t: replace('Owner = "platform-team"', '"aws:owner" = "x"'), "tags.aws:owner", "reserved"),
]


@pytest.mark.parametrize("what,edit,key,phrase", BAD, ids=[b[0] for b in BAD])
def test_bad_config_is_one_line_naming_the_key(tmp_path, what, edit, key, phrase):
    path = write(tmp_path, edit(GOOD))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert key in message and phrase in message, message


@pytest.mark.parametrize("what,edit,key,phrase", BAD[:6], ids=[b[0] for b in BAD[:6]])
@pytest.mark.parametrize("command", ["plan", "provision"])
def test_bad_config_through_the_cli_exits_2_with_no_aws_call_and_no_sandbox(
    tmp_path, capsys, no_aws_calls, what, edit, key, phrase, command
):
    path = write(tmp_path, edit(GOOD))
    fn = cli.cmd_plan if command == "plan" else cli.cmd_provision
    code = cli.run(fn, cli.Options(config=str(path)))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert "Traceback" not in captured.err + captured.out
    assert sandbox.running() is None  # not even the sandbox was started


def test_bad_config_in_live_mode_makes_no_aws_call(tmp_path, capsys, no_aws_calls):
    path = write(tmp_path, replace('vpc_cidr = "10.20.0.0/16"', 'vpc_cidr = "nonsense"'))
    assert cli.run(cli.cmd_provision, cli.Options(config=str(path), live=True, yes=True)) == 2


def test_missing_file_is_one_line(tmp_path, capsys):
    assert cli.run(cli.cmd_plan, cli.Options(config=str(tmp_path / "nope.toml"))) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nope.toml'}: file not found\n"


def test_json_mode_error_is_one_json_document(tmp_path, capsys, no_aws_calls):
    import json

    path = write(tmp_path, replace("retention_days = 90", "retention_days = -1"))
    assert cli.run(cli.cmd_plan, cli.Options(config=str(path), json=True)) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 2 and "logging.retention_days" in doc["error"]


# --------------------------------------------------------------------------
# fuzzing: whatever the bytes, the loader answers with the config or a ConfigError

LINES = GOOD.splitlines(keepends=True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    line=st.integers(min_value=0, max_value=len(LINES) - 1),
    junk=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    mode=st.sampled_from(["insert", "replace", "truncate"]),
)
def test_fuzzed_configs_never_crash_the_loader(tmp_path_factory, line, junk, mode):
    lines = list(LINES)
    if mode == "insert":
        lines.insert(line, junk + "\n")
    elif mode == "replace":
        lines[line] = junk + "\n"
    else:
        lines = lines[:line]
    path = tmp_path_factory.mktemp("fuzz") / "c.toml"
    path.write_text("".join(lines))
    try:
        load_config(path)
    except ConfigError as err:
        assert "\n" not in str(err) and str(err).startswith(str(path))


VALUES = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.text(max_size=20), st.lists(st.integers(), max_size=3))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_values_never_crash_the_loader(tmp_path_factory, data):
    """Replace one value anywhere in the file by an arbitrary one of any type."""
    assignments = [i for i, l in enumerate(LINES) if re.match(r"^[A-Za-z_\"].*=", l)]
    index = data.draw(st.sampled_from(assignments))
    key = LINES[index].split("=", 1)[0]
    value = data.draw(VALUES)
    lines = list(LINES)
    lines[index] = f"{key}= {_toml(value)}\n"
    path = tmp_path_factory.mktemp("fuzz") / "c.toml"
    path.write_text("".join(lines))
    try:
        tomllib.loads("".join(lines))
    except tomllib.TOMLDecodeError:
        pass
    try:
        load_config(path)
    except ConfigError as err:
        assert "\n" not in str(err)


def _toml(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    return json.dumps(value)


def test_detailed_exitcode_reports_an_error_as_1_not_2(tmp_path, capsys, no_aws_calls):
    path = write(tmp_path, replace("retention_days = 90", "retention_days = -1"))
    assert cli.run(cli.cmd_plan, cli.Options(config=str(path), detailed_exitcode=True)) == 1


# --------------------------------------------------------------------------
# one value, one place: a copy in another section must equal its owner


@pytest.mark.parametrize("section, key, old, new, owner", [
    ("monitoring", "aurora_cluster", 'aurora_cluster = "fablink-prod-aurora"', 'aurora_cluster = "other"', "aurora.cluster_identifier"),
    ("drill", "aurora_cluster", 'aurora_cluster = "fablink-prod-aurora"', 'aurora_cluster = "other"', "aurora.cluster_identifier"),
    ("backup", "aurora_cluster", 'aurora_cluster = "fablink-prod-aurora"', 'aurora_cluster = "other"', "aurora.cluster_identifier"),
    ("aurora", "cluster_identifier", 'cluster_identifier = "fablink-prod-aurora"', 'cluster_identifier = "renamed"', None),
    ("backup", "expected_retention_days", "expected_retention_days = 30", "expected_retention_days = 7", "aurora.backup_retention_days"),
])
def test_a_copy_that_differs_from_its_owner_is_refused_naming_both_keys(tmp_path, monkeypatch, capsys, section, key, old, new, owner):
    from .util import plan_refused

    text = CONFIG.read_text()
    start = text.index(f"\n[{section}]")
    end = text.index(old, start) if owner else start
    path = tmp_path / "prod.toml"
    path.write_text(text[:end] + text[end:].replace(old, new, 1))
    err = plan_refused(path, monkeypatch, capsys)  # exit 2, before any AWS call
    assert err.count("\n") == 1
    if owner:  # the copy is named first, then the key that owns the value
        assert f"{section}.{key}: " in err and f"differs from {owner}" in err, err
    else:  # renaming the owner alone: the first copy is named against it
        assert "monitoring.aurora_cluster: 'fablink-prod-aurora' differs from aurora.cluster_identifier ('renamed')" in err, err
