"""The [backup] section: bad values stop with one line naming the key (exit 2), before any AWS call."""

from __future__ import annotations

from pathlib import Path

import pytest

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.runbooks.backup import sweep, verify

from .conftest import CONFIG
from .util import assert_bad_section_value, with_section_key


def backup_section(text: str, key: str, value: str | None) -> str:
    """prod.toml with one [backup] key set to a raw TOML value (None: removed)."""
    return with_section_key(text, "backup", key, value)


@pytest.mark.parametrize(
    "key, value, error_key, text",
    [
        ("aurora_cluster", None, "backup.aurora_cluster", "missing key"),
        ("aurora_cluster", '"bad--name"', "backup.aurora_cluster", "not a valid Aurora DB cluster identifier"),
        ("expected_retention_days", "40", "backup.expected_retention_days", "1 to 35 days"),
        ("rpo_budget_minutes", "0", "backup.rpo_budget_minutes", "must be greater than 0"),
        ("restore_instance_class", '"t4g.medium"', "backup.restore_instance_class", "not a valid DB instance class"),
        ("temporary_prefix", '"fablink-prod"', "backup.temporary_prefix", "would cover the production resource fablink-prod-aurora"),
        ("temporary_prefix", '"fablink-prod-sessions"', "backup.temporary_prefix", "would cover the production resource fablink-prod-sessions"),
        ("temporary_prefix", '"a-very-long-temporary-prefix-for-backups-x"', "backup.temporary_prefix", "too long"),
        ("temporary_prefix", '"Fablink-Bkv"', "backup.temporary_prefix", "use lower case"),
        ("dynamodb_concurrency", "51", "backup.dynamodb_concurrency", "50 concurrent restores per account"),
        ("aurora_concurrency", "0", "backup.aurora_concurrency", "must be greater than 0"),
        ("sample_size", "200000", "backup.sample_size", "exceeds backup.exact_count_limit"),
        ("count_tolerance_percent", "100", "backup.count_tolerance_percent", "from 0 up to"),
        ("count_tolerance_percent", "-1", "backup.count_tolerance_percent", "from 0 up to"),
        ("poll_interval_seconds", "7200", "backup.poll_interval_seconds", "not shorter than the shortest wait budget"),
        ("expiry_hours", "3", "backup.expiry_hours", "must exceed the longest run (240 min"),
        ("row_count_tables", '["Orders"]', "backup.row_count_tables[0]", "not a valid SQL table name"),
        ("row_count_tables", '["public.orders", "public.orders"]', "backup.row_count_tables[1]", "listed twice"),
        ("sql_database", '"my-db"', "backup.sql_database", "not a valid PostgreSQL database name"),
        ("rpo_budget_minuts", "5", "backup.rpo_budget_minuts", "did you mean 'rpo_budget_minutes'"),
    ],
)
def test_bad_backup_values_name_the_key(tmp_path, key, value, error_key, text):
    assert_bad_section_value(tmp_path, "backup", key, value, error_key, text)


def test_defaults_apply_when_tuning_keys_are_left_out(tmp_path):
    text = CONFIG.read_text()
    for key in ("expected_retention_days", "rpo_budget_minutes", "restore_instance_class", "temporary_prefix", "expiry_hours",
                "dynamodb_concurrency", "count_tolerance_percent", "poll_interval_seconds", "row_count_tables"):
        text = backup_section(text, key, None)
    path = tmp_path / "prod.toml"
    path.write_text(text)
    b = load_config(path).backup
    assert (b.expected_retention_days, b.rpo_budget_minutes, b.restore_instance_class) == (30, 5.0, "db.t4g.medium")
    assert (b.temporary_prefix, b.dynamodb_concurrency, b.count_tolerance_percent, b.row_count_tables) == ("fablink-prod-bkv", 10, 0.0, ())


def test_the_shipped_backup_section(cfg):
    assert cfg.backup.aurora_cluster == cfg.drill.aurora_cluster == "fablink-prod-aurora"
    assert cfg.backup.expected_retention_days == 30  # design doc: "Backup Retention: 30 days"


@pytest.mark.parametrize("command, options", [(verify.command, verify.VerifyOptions), (sweep.command, sweep.CleanupOptions)])
def test_a_bad_backup_section_exits_2_through_the_commands(tmp_path, monkeypatch, capsys, command, options):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "prod.toml"
    path.write_text(backup_section(CONFIG.read_text(), "dynamodb_concurrency", "500"))
    code = cli.run(command, options(config=str(path), json=True))
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("error: ") and "backup.dynamodb_concurrency" in err and err.count("\n") == 1
    assert '"exit_code": 2' in out
    assert not Path("reports").exists() and not (tmp_path / "sandbox" / "sandbox.json").exists()  # nothing started
