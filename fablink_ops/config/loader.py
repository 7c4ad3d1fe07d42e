"""The top-level Config and how a file becomes one: read the TOML, build the
dataclasses from it (``_build``, driven by their fields, type hints and
``check`` metadata), add [access].suppressions_file, then run the cross-value
checks of every section (``_validate``).

This module imports every section; the sections import only ``checks`` (and
Config for type hints), so there is no import cycle.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .aurora import AuroraConfig, _validate_aurora
from . import layering
from .checks import _fail, number_bounds
from .copies import _validate_copies
from .cost import CostConfig, _validate_cost
from .destroy import DestroyConfig
from .dynamodb import DynamoDBConfig, _validate_dynamodb
from .edge import EdgeConfig, _validate_edge
from .eks import EksConfig, _validate_eks
from .monitoring import MonitoringConfig, _validate_monitoring
from .network import NetworkConfig, _validate_network
from .workload import WorkloadConfig, _validate_workload
from .release import ReleaseConfig, _validate_release
from .project import EngineConfig, LoggingConfig, ProjectConfig, SlaConfig, _validate_tags
from .runbooks import (
    AccessConfig, BackupConfig, DrillConfig, SuppressionsFile, _validate_access, _validate_backup, _validate_drill,
    _validate_suppressions,
)

DEFAULT_PATH = Path("config/prod.toml")


# --------------------------------------------------------------------------
# the whole file


@dataclass(frozen=True)
class Config:
    path: str
    project: ProjectConfig
    tags: dict[str, str]
    network: NetworkConfig
    aurora: AuroraConfig
    eks: EksConfig
    logging: LoggingConfig
    sla: SlaConfig
    engine: EngineConfig
    dynamodb: DynamoDBConfig
    drill: DrillConfig
    access: AccessConfig
    backup: BackupConfig
    edge: EdgeConfig
    monitoring: MonitoringConfig
    cost: CostConfig
    workload: WorkloadConfig
    destroy: DestroyConfig = dataclasses.field(default_factory=DestroyConfig)  # optional section
    release: ReleaseConfig = dataclasses.field(default_factory=ReleaseConfig)  # optional section

    @property
    def dynamodb_tables(self) -> list[str]:
        """The tables the monitoring stage watches: the dynamodb stage's."""
        return [t.name for t in self.dynamodb.tables]

    def base_tags(self, stage: str) -> dict[str, str]:
        """Tags every resource of a stage carries (plus its Name)."""
        tags = dict(self.tags)
        tags.update(
            {
                "Project": self.project.name,
                "Environment": self.project.environment,
                "Stage": stage,
                "ManagedBy": "fablink-ops",
            }
        )
        return tags


# --------------------------------------------------------------------------
# loading


# A config is a few kilobytes; anything over this is not one (--config
# /dev/zero would otherwise be read until memory runs out).
MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: str | Path = DEFAULT_PATH) -> Config:
    """Read, type-check and validate a config file. Raises ConfigError."""
    path = Path(path)
    return config_from_data(layering.resolve_extends(_parse(path), path, _parse), str(path))


def _parse(path: Path) -> dict[str, Any]:
    return _toml(path, _read_bounded(path))


def _toml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        # utf-8-sig: a byte-order mark (some Windows editors write one) is accepted.
        return tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None


def config_from_data(data: dict[str, Any], path: str) -> Config:
    """Expand the name placeholders, then type-check and validate parsed TOML
    (``path`` names it in errors)."""
    data = layering.expand(data, path)
    config = _build(Config, {"path": path, **data}, "", path)
    config = _with_suppressions_file(config)
    _validate(config)
    return config


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, refused past MAX_CONFIG_BYTES before reading more."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a config file")
    return raw


def _read_toml(path: Path, named_by: str, key: str) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(named_by, key, f"cannot read {path}: {exc.strerror}") from None
    return _toml(path, raw)


def _with_suppressions_file(cfg: Config) -> Config:
    """Validate [access].suppressions, then add those of [access].suppressions_file
    (whose errors name that file)."""
    _validate_suppressions(cfg.path, "access.suppressions", cfg.access.suppressions)
    name = cfg.access.suppressions_file
    if not name:
        return cfg
    if Path(name).is_absolute():
        raise _fail(cfg.path, "access.suppressions_file", "give a path relative to the config file")
    path = Path(cfg.path).parent / name
    data = _read_toml(path, cfg.path, "access.suppressions_file")
    extra = _build(SuppressionsFile, data, "", str(path)).suppressions
    _validate_suppressions(str(path), "suppressions", extra)
    access = dataclasses.replace(cfg.access, suppressions=cfg.access.suppressions + extra)
    return dataclasses.replace(cfg, access=access)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is tuple:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        return "a table of strings"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            date: "a date (YYYY-MM-DD)"}.get(tp, str(tp))


def _build(tp: Any, value: Any, key: str, file: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(file, key, f"expected a table, got {value!r}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        for name in value:
            if name not in fields:
                near = difflib.get_close_matches(name, list(fields), n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                if any(word in name.lower() for word in ("password", "secret")):
                    # The Aurora master password is managed by Secrets Manager;
                    # no secret value belongs in this file, ever.
                    hint = " (secrets never go in the config file: passwords are managed by AWS Secrets Manager)"
                raise _fail(file, _join(key, name), f"unknown key{hint}")
        kwargs = {}
        for name, f in fields.items():
            sub = _join(key, name)
            if name not in value:
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                    continue
                raise _fail(file, sub, f"missing key ({_type_name(hints[name])} expected)")
            built = _build(hints[name], value[name], sub, file)
            check_fn = f.metadata.get("check")
            problem = check_fn(built) if check_fn is not None else None
            # then the bounds every number has (the field's own check speaks first)
            if not problem and hints[name] in (int, float):
                problem = number_bounds(sub, built)
            if problem:
                raise _fail(file, sub, problem)
            kwargs[name] = built
        return tp(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(file, key, f"expected {_type_name(tp)}, got {value!r}")
        item_tp = typing.get_args(tp)[0]
        items = tuple(_build(item_tp, item, f"{key}[{i}]", file) for i, item in enumerate(value))
        for i, item in enumerate(items):
            problem = number_bounds(key, item) if item_tp in (int, float) else None
            if problem:
                raise _fail(file, f"{key}[{i}]", problem)
        return items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(file, key, f"expected a table, got {value!r}")
        out = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise _fail(file, _join(key, k), f"expected a string, got {v!r}")
            out[k] = v
        return out
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported config type {tp}")  # pragma: no cover - a programming error
    # TOML booleans are not integers here, and integers are accepted where a
    # number (float) is expected.
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp is str:
        ok = isinstance(value, str)
    elif tp is date:
        # A TOML date (2025-06-30) or the same as a string.
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise _fail(file, key, f"{value!r} is not a date (YYYY-MM-DD)") from None
        ok = isinstance(value, date) and not isinstance(value, datetime)
    else:  # pragma: no cover - a programming error
        raise TypeError(f"unsupported config type {tp}")
    if not ok:
        raise _fail(file, key, f"expected {_type_name(tp)}, got {value!r}")
    return value


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


# --------------------------------------------------------------------------
# checks across values


def _validate(cfg: Config) -> None:
    _validate_tags(cfg)
    _validate_network(cfg)
    _validate_aurora(cfg)
    _validate_eks(cfg)
    _validate_dynamodb(cfg)
    _validate_drill(cfg)
    _validate_access(cfg)
    _validate_backup(cfg)
    _validate_edge(cfg)
    _validate_monitoring(cfg)
    _validate_cost(cfg)
    _validate_workload(cfg)
    _validate_release(cfg)
    # Last: each section's own values are valid, so a difference is a copy that drifted.
    _validate_copies(cfg)
