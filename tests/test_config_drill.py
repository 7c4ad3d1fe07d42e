"""The [drill] section: bad values stop with one line naming the key (exit 2), before any AWS call."""

from __future__ import annotations


import pytest

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.runbooks import failover

from .conftest import CONFIG
from .util import assert_bad_section_value, with_section_key


def drill_section(text: str, key: str, value: str | None) -> str:
    """prod.toml with one [drill] key set to a raw TOML value (None: removed)."""
    return with_section_key(text, "drill", key, value)


@pytest.mark.parametrize(
    "key, value, error_key, text",
    [
        ("aurora_cluster", '"Bad--name"', "drill.aurora_cluster", "not a valid Aurora DB cluster identifier"),
        ("aurora_cluster", '"1cluster"', "drill.aurora_cluster", "starts with a letter"),
        ("aurora_cluster", None, "drill.aurora_cluster", "missing key"),
        ("rto_budget_seconds", "0", "drill.rto_budget_seconds", "must be greater than 0"),
        ("rto_budget_seconds", '"60"', "drill.rto_budget_seconds", "expected a number"),
        ("rto_budget_secs", "60", "drill.rto_budget_secs", "did you mean 'rto_budget_seconds'"),
        ("stop_alarms", '["a", "b", "a"]', "drill.stop_alarms[2]", "listed twice"),
        ("stop_alarms", '["ok", "bad\\u0007bell"]', "drill.stop_alarms[1]", "not a valid CloudWatch alarm name"),
        ("poll_interval_seconds", "60", "drill.poll_interval_seconds", "not shorter than drill.rto_budget_seconds"),
        ("poll_max_interval_seconds", "0.5", "drill.poll_max_interval_seconds", "shorter than drill.poll_interval_seconds"),
        ("observe_budget_minutes", "0.5", "drill.observe_budget_minutes", "does not exceed drill.rto_budget_seconds"),
        ("lock_expiry_minutes", "30", "drill.lock_expiry_minutes", "must exceed twice drill.observe_budget_minutes"),
        ("probe_timeout_seconds", "90", "drill.probe_timeout_seconds", "exceeds drill.rto_budget_seconds"),
        ("probe_interval_seconds", "-1", "drill.probe_interval_seconds", "must be greater than 0"),
    ],
)
def test_bad_drill_values_name_the_key(tmp_path, key, value, error_key, text):
    assert_bad_section_value(tmp_path, "drill", key, value, error_key, text)


def test_defaults_apply_when_tuning_keys_are_left_out(tmp_path):
    text = CONFIG.read_text()
    for key in ("rto_budget_seconds", "lock_expiry_minutes", "poll_interval_seconds", "poll_max_interval_seconds",
                "observe_budget_minutes", "probe_interval_seconds", "probe_timeout_seconds", "stop_alarms"):
        text = drill_section(text, key, None)
    path = tmp_path / "prod.toml"
    path.write_text(text)
    drill = load_config(path).drill
    assert drill.aurora_cluster == "fablink-prod-aurora"
    assert drill.rto_budget_seconds == 60.0 and drill.stop_alarms == ()


def test_the_shipped_drill_section(cfg):
    assert cfg.drill.aurora_cluster == "fablink-prod-aurora"
    assert cfg.drill.rto_budget_seconds == 60.0
    assert cfg.drill.stop_alarms  # the drill ships with stop conditions


def test_a_bad_drill_section_exits_2_through_the_command(tmp_path, capsys):
    path = tmp_path / "prod.toml"
    path.write_text(drill_section(CONFIG.read_text(), "aurora_cluster", '"-x"'))
    code = cli.run(failover.command, failover.FailoverOptions(config=str(path), json=True))
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and "drill.aurora_cluster" in err and err.count("\n") == 1
    assert '"exit_code": 2' in out
