"""Request validation: the input constraints of the AWS model that botocore skips.

botocore checks a request's types, required members and some minimums before
sending it; it does not check `pattern`, `enum`, maximum lengths or maximum
values, which AWS does (an InvalidParameter / ValidationException answer).
moto checks almost none of them either, so a request AWS rejects can pass the
whole suite: a WAF description with parentheses did (issue 14, item 1).

``RequestValidator`` is a botocore ``before-parameter-build`` handler that
walks the request through its operation's input shape (structures, lists,
maps, recursively) and raises ``RequestInvalid`` naming the operation, the
parameter path and the rule broken. It makes no call and costs microseconds,
so every client the tool builds carries it: sandbox, tests and live.

The model's patterns are Java regular expressions (Smithy: not implicitly
anchored, hence ``search``; ``\\w`` and ``\\s`` ASCII as in Java). Python's
``re`` lacks Java's Unicode classes (``\\p{L}``, in every tag key pattern), so
those are compiled with the ``regex`` module when it is installed (moto's
server extras bring it). A pattern neither can compile is skipped and counted
in ``skipped_patterns``: a rule we cannot check is never a crash.
"""

from __future__ import annotations

import re
import threading
from typing import Any

try:  # optional: Java's \p{...} classes, which the stdlib's re lacks
    import regex as _regex
except ImportError:  # pragma: no cover - present with moto[server]
    _regex = None

from .errors import AwsError

_MAX_REPORTED = 3  # violations named in one error; the rest counted


class RequestInvalid(AwsError):
    """A request AWS would refuse by its own model's constraints. Never sent."""


class RequestValidator:
    """Thread-safe; one per Target, shared by all its clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled: dict[str, Any] = {}
        self.skipped_patterns: set[str] = set()  # patterns Python's re cannot compile
        self.checked = 0

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        """botocore ``before-parameter-build`` handler (``model`` is the OperationModel)."""
        shape = model.input_shape
        if shape is None:
            return
        problems: list[str] = []
        self._check(shape, params, model.name, problems)
        with self._lock:
            self.checked += 1
        if problems:
            extra = f" (and {len(problems) - _MAX_REPORTED} more)" if len(problems) > _MAX_REPORTED else ""
            service = model.service_model.service_name
            raise RequestInvalid(
                f"{service}:{model.name} would be refused by AWS: " + "; ".join(problems[:_MAX_REPORTED]) + extra
            )

    # -- the walk ------------------------------------------------------------

    def _check(self, shape: Any, value: Any, path: str, problems: list[str]) -> None:
        kind = shape.type_name
        if kind == "structure" and isinstance(value, dict):
            for name, member in shape.members.items():
                if name in value and value[name] is not None:
                    self._check(member, value[name], f"{path}.{name}", problems)
        elif kind == "list" and isinstance(value, (list, tuple)):
            self._length(shape, len(value), path, "items", problems)
            for i, item in enumerate(value):
                self._check(shape.member, item, f"{path}[{i}]", problems)
        elif kind == "map" and isinstance(value, dict):
            self._length(shape, len(value), path, "entries", problems)
            for key, item in value.items():
                self._check(shape.key, key, f"{path}<key>", problems)
                self._check(shape.value, item, f"{path}[{key!r}]", problems)
        elif kind == "string" and isinstance(value, str):
            self._string(shape, value, path, problems, secret=bool(shape.metadata.get("sensitive")))
        elif kind == "blob" and isinstance(value, (bytes, bytearray, str)):
            self._length(shape, len(value), path, "bytes", problems)
        elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
            self._range(shape, value, path, problems)

    def _string(self, shape: Any, value: str, path: str, problems: list[str], secret: bool) -> None:
        shown = "<sensitive>" if secret else _show(value)  # a password never reaches an error message
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            problems.append(f"{path}={shown} is not one of {sorted(enum)}")
        self._length(shape, len(value), path, "characters", problems)
        pattern = shape.metadata.get("pattern")
        if pattern:
            compiled = self._pattern(pattern)
            if compiled is not None and compiled.search(value) is None:
                problems.append(f"{path}={shown} does not match the pattern {pattern}")

    @staticmethod
    def _length(shape: Any, length: int, path: str, unit: str, problems: list[str]) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and length < low:
            problems.append(f"{path} has {length} {unit}, fewer than the minimum {low}")
        if high is not None and length > high:
            problems.append(f"{path} has {length} {unit}, more than the maximum {high}")

    @staticmethod
    def _range(shape: Any, value: float, path: str, problems: list[str]) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            problems.append(f"{path}={value} is below the minimum {low}")
        if high is not None and value > high:
            problems.append(f"{path}={value} is above the maximum {high}")

    def _pattern(self, pattern: str) -> Any:
        with self._lock:
            if pattern not in self._compiled:
                compiled = _compile(pattern)
                if compiled is None:
                    self.skipped_patterns.add(pattern)
                self._compiled[pattern] = compiled
            return self._compiled[pattern]


def _compile(pattern: str) -> Any:
    """The pattern compiled, or None. Java's \\w, \\s, \\d are ASCII unless asked otherwise."""
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:
        pass
    if _regex is not None:
        try:
            return _regex.compile(pattern, _regex.ASCII | _regex.VERSION0)
        except _regex.error:
            pass
    return None


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")
