"""The [access] section and its suppressions: bad values stop with one line
naming the file and the key (exit 2), before any AWS call."""

from __future__ import annotations

import re
from datetime import date

import botocore.client
import pytest

from fablink_ops import cli
from fablink_ops.config import load_config
from fablink_ops.errors import ConfigError
from fablink_ops.runbooks import access

from .conftest import CONFIG
from .util import assert_bad_section_value, assert_config_error, with_section_key


def with_access(text: str, key: str, value: str | None) -> str:
    """prod.toml with one [access] key set to a raw TOML value (None: removed)."""
    return with_section_key(text, "access", key, value)


def suppressions(*entries: str) -> str:
    return "[" + ", ".join(entries) + "]"


GOOD = '{ check = "sns.encryption", resource = "arn:aws:sns:ap-northeast-2:853963783084:status", reason = "public feed", expires = 2031-12-31 }'


def test_the_shipped_access_section():
    cfg = load_config(CONFIG)
    assert cfg.access.access_key_max_age_days == 90 and cfg.access.unused_credentials_days == 45
    assert cfg.access.min_backup_retention_days == 30 and 5432 in cfg.access.database_ports
    assert cfg.access.password_policy.minimum_length == 14 and cfg.access.suppressions == ()


def test_an_empty_access_section_gets_the_issue_defaults(tmp_path):
    text = CONFIG.read_text()
    start = text.index("\n[access]\n")
    following = re.search(r"\n\[(?!access)", text[start + 1:])  # the next section that is not [access...]
    end = start + 1 + following.start() if following else len(text)
    path = tmp_path / "prod.toml"
    path.write_text(text[:start] + "\n[access]\n" + text[end:])
    acc = load_config(path).access
    assert (acc.access_key_max_age_days, acc.unused_credentials_days, acc.root_recent_use_days) == (90, 45, 30)
    assert (acc.min_backup_retention_days, acc.password_policy.minimum_length, acc.suppressions) == (30, 14, ())


def test_suppressions_inline_with_a_toml_date_or_a_string(tmp_path):
    path = tmp_path / "prod.toml"
    path.write_text(with_access(CONFIG.read_text(), "suppressions", suppressions(GOOD, GOOD.replace("2031-12-31", '"2032-01-31"')
                                                                                     .replace(":status", ":other"))))
    sups = load_config(path).access.suppressions
    assert [(s.check, s.expires) for s in sups] == [("sns.encryption", date(2031, 12, 31)), ("sns.encryption", date(2032, 1, 31))]


@pytest.mark.parametrize(
    "key, value, error_key, text",
    [
        ("access_key_max_age_days", "0", "access.access_key_max_age_days", "must be greater than 0"),
        ("unused_credentials_days", '"45"', "access.unused_credentials_days", "expected an integer"),
        ("access_key_max_age", "90", "access.access_key_max_age", "did you mean 'access_key_max_age_days'"),
        ("database_ports", "[5432, 70000]", "access.database_ports[1]", "70000 is not a TCP port"),
        ("database_ports", "[5432, 5432]", "access.database_ports[1]", "listed twice"),
        ("regions", '["ap-northeast-2"]', "access.regions[0]", "is project.region, which is always reviewed"),
        ("regions", '["mars-1"]', "access.regions[0]", "not a valid AWS region"),
        ("suppressions", suppressions(GOOD.replace("sns.encryption", "sns.encrypt")), "access.suppressions[0].check",
         "'sns.encrypt' is not a check id of the access review (did you mean 'sns.encryption'?)"),
        ("suppressions", suppressions(GOOD.replace('reason = "public feed"', 'reason = "  "')), "access.suppressions[0].reason",
         "the reason must not be empty"),
        ("suppressions", suppressions(GOOD.replace('reason = "public feed", ', '')), "access.suppressions[0].reason", "missing key"),
        ("suppressions", suppressions(GOOD.replace("2031-12-31", '"31.12.2031"')), "access.suppressions[0].expires",
         "expected a date (YYYY-MM-DD)"),
        ("suppressions", suppressions(GOOD.replace("2031-12-31", '"2031-02-30"')), "access.suppressions[0].expires", "is not a date"),
        ("suppressions", suppressions(GOOD.replace("2031-12-31", "2031-12-31T10:00:00Z")), "access.suppressions[0].expires",
         "expected a date (YYYY-MM-DD)"),
        ("suppressions", suppressions(GOOD.replace('"arn:aws:sns:ap-northeast-2:853963783084:status"', '"*"')),
         "access.suppressions[0].resource", "a wildcard alone would suppress every finding"),
        ("suppressions", suppressions(GOOD, GOOD), "access.suppressions", "is suppressed twice"),
        ("suppressions_file", '"missing.toml"', "access.suppressions_file", "cannot read"),
        ("suppressions_file", '"/etc/suppressions.toml"', "access.suppressions_file", "relative to the config file"),
    ],
)
def test_bad_access_values_name_the_key(tmp_path, key, value, error_key, text):
    assert_bad_section_value(tmp_path, "access", key, value, error_key, text)


def test_bad_password_policy_minimum(tmp_path):
    path = tmp_path / "prod.toml"
    path.write_text(CONFIG.read_text().replace("minimum_length = 14", "minimum_length = 4"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: access.password_policy.minimum_length: 4 is outside 6..128")):
        load_config(path)


def test_a_suppressions_file_is_merged_and_its_errors_name_it(tmp_path):
    path = tmp_path / "prod.toml"
    path.write_text(with_access(CONFIG.read_text(), "suppressions_file", '"accepted.toml"'))
    accepted = tmp_path / "accepted.toml"
    accepted.write_text(f"suppressions = [{GOOD}]\n")
    assert [s.resource for s in load_config(path).access.suppressions] == ["arn:aws:sns:ap-northeast-2:853963783084:status"]

    accepted.write_text("[[suppressions]]\ncheck = \"kms.rotate\"\nresource = \"arn:k\"\nreason = \"r\"\nexpires = 2031-01-01\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{accepted}: suppressions[0].check: 'kms.rotate' is not a check id")

    accepted.write_text("suppression = []\n")
    with pytest.raises(ConfigError, match=re.escape(f"{accepted}: suppression: unknown key (did you mean 'suppressions'?)")):
        load_config(path)

    # the same pair in the config and in the file
    path.write_text(with_access(path.read_text(), "suppressions", suppressions(GOOD)))
    accepted.write_text(f"suppressions = [{GOOD}]\n")
    with pytest.raises(ConfigError, match="is suppressed twice"):
        load_config(path)


@pytest.fixture
def no_aws_calls(monkeypatch):
    def forbidden(self, operation_name, api_params):
        raise AssertionError(f"AWS was called: {operation_name}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", forbidden)


def test_through_the_command_a_bad_config_exits_2_without_aws(tmp_path, capsys, no_aws_calls):
    path = tmp_path / "prod.toml"
    path.write_text(with_access(CONFIG.read_text(), "suppressions", suppressions(GOOD.replace("sns.encryption", "nope"))))
    code = cli.run(access.command, access.ReviewOptions(config=str(path)))
    assert code == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: access.suppressions[0].check: 'nope' is not a check id")
