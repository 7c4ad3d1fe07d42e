"""IAM policy documents, read the way IAM reads them, as far as the review needs.

- A document may arrive as a dict (boto3 decodes IAM's URL-encoded JSON), as
  JSON text, or still URL-encoded; ``Statement`` may be one object or a list.
- ``Action`` / ``NotAction`` / ``Resource`` / ``NotResource`` and principal
  values may each be a string or a list. Action names match case-insensitively
  with IAM's wildcards ``*`` and ``?`` (``iam:*``, ``iam:Put*Policy``, ``*``).
- ``Principal: "*"`` means ``{"AWS": "*"}`` (anyone).
- Condition operator and key names are case-insensitive (IAM's rule for keys).

https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html

What this does not model, and a live Access Analyzer does: permission
boundaries, SCPs, resource policies, session policies, and whether a
Condition can ever be met. An Allow with a Condition still counts as granted
(it grants whenever the condition holds); only an unconditional Deny takes a
grant away.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from fnmatch import fnmatchcase
from typing import Any, Iterator

ANYONE = "*"


def parse(document: Any) -> dict | None:
    """The document as a dict, or None when it is not a policy document."""
    if isinstance(document, dict):
        return document
    if not isinstance(document, str):
        return None
    for text in (document, urllib.parse.unquote(document)):
        try:
            parsed = json.loads(text)
        except ValueError:
            continue
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(document: Any) -> list[dict]:
    doc = parse(document)
    if doc is None:
        return []
    raw = doc.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    return [s for s in items if isinstance(s, dict)]


def strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def is_allow(stmt: dict) -> bool:
    return str(stmt.get("Effect", "")).lower() == "allow"


def is_deny(stmt: dict) -> bool:
    return str(stmt.get("Effect", "")).lower() == "deny"


# --------------------------------------------------------------------------
# actions and resources (identity policies)


def action_matches(pattern: str, action: str) -> bool:
    """IAM matching: case-insensitive, ``*`` any run of characters, ``?`` one."""
    return fnmatchcase(action.lower(), pattern.lower())


def covers_action(stmt: dict, action: str) -> bool:
    if "Action" in stmt:
        return any(action_matches(p, action) for p in strings(stmt["Action"]))
    if "NotAction" in stmt:
        return not any(action_matches(p, action) for p in strings(stmt["NotAction"]))
    return False


_TYPE_WILDCARD = re.compile(r"[A-Za-z0-9_.-]+[/:]\*")


def broad(resource: str) -> bool:
    """True for a resource pattern that names every resource (of a type):
    ``*``, ``arn:aws:iam::*:*``, ``arn:aws:iam::123456789012:role/*``.
    ``arn:aws:iam::123456789012:role/fablink-prod-*`` is scoped: False."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    service, rest = parts[2], parts[5]
    return service == "*" or rest == "*" or bool(_TYPE_WILDCARD.fullmatch(rest))


def on_everything(stmt: dict) -> bool:
    """The statement applies to every resource (of some type), not to named ones.
    A NotResource statement applies to everything but what it lists: broad."""
    if "NotResource" in stmt:
        return True
    return any(broad(r) for r in strings(stmt.get("Resource")))


def grant(stmts: list[dict], action: str) -> dict | None:
    """The Allow statement granting ``action`` on every resource, unless an
    unconditional Deny takes it away. None when not granted that broadly."""
    for stmt in stmts:
        # Only a Deny on "*" itself: a Deny with NotResource leaves the listed resources granted.
        if is_deny(stmt) and "Condition" not in stmt and covers_action(stmt, action) and "*" in strings(stmt.get("Resource")):
            return None
    for stmt in stmts:
        if is_allow(stmt) and covers_action(stmt, action) and on_everything(stmt):
            return stmt
    return None


def allows_everything(stmts: list[dict]) -> bool:
    """An Allow of every action (``*`` or ``*:*``) on every resource (``*``): administrator."""
    for stmt in stmts:
        if is_allow(stmt) and any(a in ("*", "*:*") for a in strings(stmt.get("Action"))) \
                and "*" in strings(stmt.get("Resource")):
            return True
    return False


# --------------------------------------------------------------------------
# principals and conditions (trust policies)


def principals(stmt: dict) -> dict[str, tuple[str, ...]]:
    """{"AWS": (...), "Service": (...), "Federated": (...)}; ``"*"`` is {"AWS": ("*",)}."""
    raw = stmt.get("Principal")
    if raw is None:
        return {}
    if isinstance(raw, str):
        return {"AWS": (raw,)} if raw == ANYONE else {}
    if isinstance(raw, dict):
        return {str(k): strings(v) for k, v in raw.items()}
    return {}


def conditions(stmt: dict) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(operator, key, values) for every condition, operator and key lower-cased."""
    block = stmt.get("Condition")
    if not isinstance(block, dict):
        return
    for operator, tests in block.items():
        if not isinstance(tests, dict):
            continue
        for key, values in tests.items():
            yield str(operator).lower(), str(key).lower(), strings(values)


def has_condition_key(stmt: dict, *keys: str) -> bool:
    wanted = {k.lower() for k in keys}
    return any(key in wanted for _, key, _ in conditions(stmt))


_ACCOUNT = re.compile(r"\d{12}")


def account_of(principal: str) -> str | None:
    """The account of an AWS principal: ``123456789012``, ``arn:aws:iam::123456789012:root``,
    ``arn:aws:iam::123456789012:role/x``, ``arn:aws:sts::123456789012:assumed-role/x/y``."""
    if _ACCOUNT.fullmatch(principal):
        return principal
    parts = principal.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and _ACCOUNT.fullmatch(parts[4]):
        return parts[4]
    return None
