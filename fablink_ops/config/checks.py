"""Per-value checks of config fields, and the one-line error every config
problem becomes.

A dataclass field carries a check through ``check(...)``; the loader runs it
on the field's value. A check returns an error text, or None when the value is
fine.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import field
from typing import Any, Callable, Sequence

from ..errors import ConfigError


def _pattern(regex: str, max_len: int, what: str) -> Callable[[Any], str | None]:
    compiled = re.compile(regex)

    def check(value: str) -> str | None:
        if not value or len(value) > max_len or not compiled.fullmatch(value):
            return f"{value!r} is not a valid {what} ({max_len} characters at most, matching {regex})"
        return None

    return check


def _cidr(value: str) -> str | None:
    try:
        net = ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        return f"{value!r} is not a valid IPv4 CIDR ({exc})"
    if "/" not in value:
        return f"{value!r} is not a valid IPv4 CIDR (no prefix length)"
    del net
    return None


def _positive(value: int | float) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def _one_of(*allowed: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"{value!r} is not one of {', '.join(map(str, allowed))}"

    return check


def _between(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}, got {value}"

    return check


# Every number of the config, whatever its key: finite (TOML has nan and inf),
# not negative (no value here is), and no larger than the 32-bit integers
# AWS's APIs take (the largest documented value here is WAF's rate limit,
# 2e9). Durations, by their key's unit, at most what any wait or budget here
# needs: beyond that a timedelta overflows a datetime (OverflowError).
MAX_NUMBER = 2**31 - 1
DURATION_LIMITS = (("_seconds", 86_400, "one day"), ("_minutes", 10_080, "one week"), ("_hours", 168, "one week"),
                   ("_days", 3_653, "ten years"))


def number_bounds(key: str, value: int | float) -> str | None:
    if value != value or value in (float("inf"), float("-inf")):
        return f"must be a finite number, got {value}"
    if value < 0:
        return f"must not be negative, got {value}"
    if value > MAX_NUMBER:
        return f"must be at most {MAX_NUMBER}, got {value:.6g}"
    for suffix, limit, what in DURATION_LIMITS:
        if key.endswith(suffix) and value > limit:
            return f"must be at most {limit} ({what}), got {value:g}"
    return None


def check(fn: Callable[[Any], str | None], **kwargs: Any) -> Any:
    """A dataclass field carrying a per-value check."""
    return field(metadata={"check": fn}, **kwargs)


# Names several sections check.
REGION = _pattern(r"[a-z]{2}(?:-gov)?-[a-z]+-\d", 32, "AWS region")
# https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html
KMS_ALIAS = _pattern(r"alias/(?!aws/)[a-zA-Z0-9/_-]+", 256, "KMS alias (alias/..., not alias/aws/...)")


# Every config problem is one line: the file, the key, what is wrong.
def _fail(file: str, key: str, text: str) -> ConfigError:
    return ConfigError(f"{file}: {key or '(top level)'}: {text}")


def _each_once(file: str, key: str, values: Sequence[Any], rule: Callable[[Any], str | None]) -> None:
    """Every element of the list at ``key`` passes ``rule`` and appears once;
    the error names the element (``key[i]``)."""
    for i, value in enumerate(values):
        problem = rule(value) or (f"{value!r} is listed twice" if list(values).index(value) != i else None)
        if problem:
            raise _fail(file, f"{key}[{i}]", problem)
