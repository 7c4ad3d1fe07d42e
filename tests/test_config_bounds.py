"""Bounds on every number of the config (issue 20 item 3): NaN, infinities,
huge and negative values in any numeric key are refused naming that key,
before any AWS call; the file's size is bounded; a byte-order mark is fine."""

from __future__ import annotations

import copy
import math
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fablink_ops.config import load_config
from fablink_ops.config.loader import MAX_CONFIG_BYTES, config_from_data
from fablink_ops.errors import ConfigError

from .conftest import CONFIG
from .util import edited_config, plan_refused

DATA = tomllib.loads(CONFIG.read_text())


def numeric_paths(node, path=()):
    """Every numeric leaf of the parsed file: (key, index, ...) paths."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from numeric_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from numeric_paths(v, (*path, i))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield path


PATHS = sorted(numeric_paths(DATA), key=str)


def dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def with_value(path, value):
    data = copy.deepcopy(DATA)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


BAD = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, 10**23, 2**31, -1, -1.5]),
    st.integers(max_value=-1),
    st.integers(min_value=2**31),
    st.floats(min_value=2.0**31, allow_infinity=True),
    st.floats(max_value=-1e-9, allow_infinity=True),
)


def test_the_file_has_numeric_keys_in_every_section():
    assert len(PATHS) > 60
    assert {p[0] for p in PATHS} >= {"network", "eks", "aurora", "dynamodb", "edge", "monitoring", "engine", "backup", "drill"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=BAD)
def test_any_out_of_bounds_number_is_refused_naming_its_key(path, value):
    with pytest.raises(ConfigError) as err:
        config_from_data(with_value(path, value), "prod.toml")
    message = str(err.value)
    assert message.startswith(f"prod.toml: {dotted(path)}: "), (message, value)
    assert "\n" not in message


@pytest.mark.parametrize("old, new, key", [
    ("threshold = 80.0", "threshold = nan #", "threshold"),
    ("max_size = ", "max_size = 10000 #", "max_size"),
    ("concurrency = ", "concurrency = 100000000000000000000000 #", "engine.concurrency"),
])
def test_through_the_cli_exit_2_before_any_aws_call(tmp_path, monkeypatch, capsys, old, new, key):
    text = CONFIG.read_text()
    if old not in text:
        pytest.skip(f"{old!r} not in the config")
    err = plan_refused(edited_config(tmp_path, old, new), monkeypatch, capsys)
    assert key in err and err.count("\n") == 1 and "Traceback" not in err


def test_inf_in_a_duration_is_refused(tmp_path):
    path = edited_config(tmp_path, "expiry_hours =", "expiry_hours = inf #")
    with pytest.raises(ConfigError, match="backup.expiry_hours: must be a finite number"):
        load_config(path)


def test_a_file_over_1_mib_is_refused_unread(tmp_path, monkeypatch, capsys):
    big = tmp_path / "big.toml"
    big.write_text(CONFIG.read_text() + "#" * MAX_CONFIG_BYTES)
    err = plan_refused(big, monkeypatch, capsys)
    assert "larger than 1024 KiB" in err


def test_dev_zero_is_refused_not_read_to_the_end(monkeypatch, capsys):
    err = plan_refused("/dev/zero", monkeypatch, capsys)
    assert "/dev/zero: larger than 1024 KiB" in err


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + CONFIG.read_bytes())
    assert load_config(path).project.environment_name == "fablink-prod"
