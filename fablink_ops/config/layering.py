"""One design, several environments: ``extends`` and name placeholders.

Issue 18 ("Staging, for real"): every resource name derives from the
environment, so a staging file is short. Two mechanisms, both applied to the
parsed TOML before it is type-checked, so every later check sees plain values:

- ``extends = "prod.toml"`` (top level, relative to the file): the file is
  laid over the one it extends. Tables merge key by key; anything else (a
  string, a number, an array such as ``network.zones`` or ``aurora.instances``)
  replaces the base's value whole, so an environment never inherits half an
  array. At most ``MAX_DEPTH`` files in a chain; a cycle is refused.
- Placeholders in string values: ``{prefix}`` (``<name>-<environment>``,
  e.g. fablink-prod), ``{name}`` and ``{environment}`` from ``[project]``.
  ``vpc_name = "{prefix}-vpc"`` is fablink-prod-vpc in prod and
  fablink-staging-vpc in staging. Any other ``{word}`` is refused, naming the
  key, so a typo never becomes a resource name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError

MAX_DEPTH = 3
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
NAMES = ("prefix", "name", "environment")


def resolve_extends(data: dict[str, Any], path: Path, read: Callable[[Path], dict[str, Any]], chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """``data`` laid over the file it extends (and so on, up the chain)."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str) or not base_name:
        raise ConfigError(f"{path}: extends: give the path of the file this one builds on, e.g. \"prod.toml\"")
    base_path = (path.parent / base_name).resolve()
    chain = (*chain, path.resolve())
    if base_path in chain:
        raise ConfigError(f"{path}: extends: {base_name} extends this file again (a cycle)")
    if len(chain) >= MAX_DEPTH:
        raise ConfigError(f"{path}: extends: at most {MAX_DEPTH} files in a chain")
    base = resolve_extends(read(base_path), base_path, read, chain)
    return merge(base, data)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def expand(data: dict[str, Any], path: str) -> dict[str, Any]:
    """Every ``{prefix}``, ``{name}`` and ``{environment}`` replaced."""
    project = data.get("project")
    if not isinstance(project, dict):
        return data  # the loader names the missing section
    name, environment = project.get("name"), project.get("environment")
    if not isinstance(name, str) or not isinstance(environment, str):
        return data
    for key in ("name", "environment"):
        if PLACEHOLDER.search(project[key]):
            raise ConfigError(f"{path}: project.{key}: cannot itself hold a placeholder")
    values = {"prefix": f"{name}-{environment}", "name": name, "environment": environment}
    return _expand(data, values, "", path)


def _expand(value: Any, values: dict[str, str], key: str, path: str) -> Any:
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            word = match.group(1)
            if word not in values:
                raise ConfigError(f"{path}: {key}: unknown placeholder {{{word}}}: use {{prefix}}, {{name}} or {{environment}}")
            return values[word]

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, dict):
        return {k: _expand(v, values, f"{key}.{k}" if key else str(k), path) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, values, f"{key}[{i}]", path) for i, v in enumerate(value)]
    return value
