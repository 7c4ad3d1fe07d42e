"""config/prod.toml -> frozen, validated dataclasses.

The file is the desired state. Loading it never touches AWS, and every problem
becomes a ConfigError whose one line names the file and the key, so the CLI can
stop with exit code 2 before a single AWS call.

The loader is driven by the dataclasses below: their fields are the allowed
keys (anything else is a typo and is refused), their type hints the allowed
types, and a field's ``check`` metadata a per-value validator. Checks that span
several values (overlapping subnets, AZs of the region, ...) live in
``_validate``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checks import KMS_ALIAS, REGION, _fail, _pattern, _positive, check
from .project import (
    ACCOUNT_ID, DOMAIN_NAME, EKS_CLUSTER_NAME, NAME_PREFIX, TAG_KEY, TAG_VALUE, EngineConfig, LoggingConfig,
    ProjectConfig, SlaConfig, _validate_tags,
)
from .network import SG_DESCRIPTION, IngressRule, NetworkConfig, SecurityGroupTier, Zone, _validate_network
from .eks import (
    DB_USER, EKS_ADDON_NAME, EKS_AMI_TYPES, EKS_LOG_TYPES, EKS_MIN_MINOR, K8S_LABEL_KEY, K8S_NAME, AddonConfig,
    EksConfig, IrsaConfig, NodegroupConfig, _validate_eks,
)
from .aurora import (
    AURORA_PG_LOG_TYPES, PG_IDENTIFIER, PG_PARAMETER, PI_RETENTION_DAYS, RDS_IDENTIFIER, RESERVED_MASTER_USERNAMES,
    AuroraConfig, AuroraInstance, ClusterParameter, _validate_aurora, window_minutes,
)
from .dynamodb import (
    DYNAMODB_ATTRIBUTE, DYNAMODB_INDEX_NAME, DYNAMODB_MAX_GSIS, DYNAMODB_MAX_PROJECTED, DYNAMODB_TABLE_NAME,
    DYNAMODB_TYPES, DynamoDBConfig, DynamoIndex, DynamoTable, _validate_dynamodb, dynamodb_regions,
)
from .edge import (
    API_GW_RESOURCE_NAME, API_NAME, IAM_ROLE_NAME, LOG_GROUP_NAME, NLB_NAME, STAGE_NAME, WAF_NAME, ApiConfig,
    DomainConfig, EdgeConfig, HealthCheckConfig, RateLimitConfig, WafConfig, _validate_edge,
)
from .monitoring import (
    ALARM_TOPICS, DASHBOARD_NAME, METRIC_NAMESPACE, AlarmConfig, AlarmsConfig, MonitoringConfig, SubscriptionConfig,
    _validate_monitoring,
)

__all__ = [
    "ACCOUNT_ID", "ALARM_NAME", "ALARM_TOPICS", "API_GW_RESOURCE_NAME", "API_NAME", "AURORA_PG_LOG_TYPES",
    "BACKUP_RUN_SUFFIX", "DASHBOARD_NAME", "DB_CLUSTER_ID", "DB_INSTANCE_CLASS", "DB_USER", "DEFAULT_PATH",
    "DOMAIN_NAME", "DYNAMODB_ATTRIBUTE", "DYNAMODB_INDEX_NAME", "DYNAMODB_MAX_CONCURRENT_RESTORES",
    "DYNAMODB_MAX_GSIS", "DYNAMODB_MAX_PROJECTED", "DYNAMODB_TABLE_NAME", "DYNAMODB_TYPES", "EKS_ADDON_NAME",
    "EKS_AMI_TYPES", "EKS_CLUSTER_NAME", "EKS_LOG_TYPES", "EKS_MIN_MINOR", "IAM_ROLE_NAME", "K8S_LABEL_KEY",
    "K8S_NAME", "KMS_ALIAS", "LOG_GROUP_NAME", "METRIC_NAMESPACE", "NAME_PREFIX", "NLB_NAME", "PG_IDENTIFIER",
    "PG_PARAMETER", "PI_RETENTION_DAYS", "RDS_IDENTIFIER", "REGION", "RESERVED_MASTER_USERNAMES", "SG_DESCRIPTION",
    "SQL_DATABASE", "SQL_TABLE", "STAGE_NAME", "TAG_KEY", "TAG_VALUE", "WAF_NAME", "AccessConfig", "AddonConfig",
    "AlarmConfig", "AlarmsConfig", "ApiConfig", "AuroraConfig", "AuroraInstance", "BackupConfig", "ClusterParameter",
    "Config", "DomainConfig", "DrillConfig", "DynamoDBConfig", "DynamoIndex", "DynamoTable", "EdgeConfig", "EksConfig",
    "EngineConfig", "HealthCheckConfig", "IngressRule", "IrsaConfig", "LoggingConfig", "MonitoringConfig",
    "NetworkConfig", "NodegroupConfig", "PasswordPolicyMinimums", "ProjectConfig", "RateLimitConfig",
    "SecurityGroupTier", "SlaConfig", "SubscriptionConfig", "Suppression", "SuppressionsFile", "WafConfig", "Zone",
    "check", "dynamodb_regions", "load_config", "window_minutes",
]

DEFAULT_PATH = Path("config/prod.toml")


# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html (DBClusterIdentifier)
DB_CLUSTER_ID = _pattern(
    r"[A-Za-z](?:-?[A-Za-z0-9])*", 63, "Aurora DB cluster identifier (letters, digits, single hyphens; starts with a letter)"
)
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (AlarmName)
ALARM_NAME = _pattern(r"[^\x00-\x1f\x7f]+", 255, "CloudWatch alarm name (no control characters)")


# --------------------------------------------------------------------------
# the sections


@dataclass(frozen=True)
class DrillConfig:
    """Design doc: Performance tests ("failure-recovery (failover) test"),
    Aurora High Availability ("Auto Failover"), SLA. Values are ours.

    Read by ``invoke drill.failover`` (fablink_ops/runbooks/failover.py).
    """

    # The cluster the drill fails over, found by this identifier. Must equal
    # the Aurora stage's cluster identifier (the drill does not import that
    # stage: a runbook works on whatever cluster carries the name).
    aurora_cluster: str = check(DB_CLUSTER_ID)
    # Time from "failover requested" to "a new writer is reported" that still
    # passes. Aurora typically fails over in under 30 s.
    rto_budget_seconds: float = check(_positive, default=60.0)
    # Alarms that stop the drill when they are in ALARM (before it acts) or
    # go into ALARM (while it observes). Each must exist.
    stop_alarms: tuple[str, ...] = ()
    # The drill's lock (a tag on the cluster) expires after this, so a killed
    # drill never blocks the next one for long.
    lock_expiry_minutes: float = check(_positive, default=40.0)
    # Poll while waiting for the new writer: this is the resolution of the
    # measured RTO. Afterwards the interval grows up to the maximum.
    poll_interval_seconds: float = check(_positive, default=1.0)
    poll_max_interval_seconds: float = check(_positive, default=10.0)
    # How long one failover is observed at most before its verdict is fail.
    observe_budget_minutes: float = check(_positive, default=15.0)
    # Live mode: TCP connects to the cluster endpoint, every interval, each
    # given at most the timeout.
    probe_interval_seconds: float = check(_positive, default=0.5)
    probe_timeout_seconds: float = check(_positive, default=1.0)


# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.DBInstanceClass.html
DB_INSTANCE_CLASS = _pattern(r"db\.[a-z0-9-]+\.[a-z0-9]+", 32, "DB instance class (db.<family>.<size>, e.g. db.t4g.medium)")
# A table as SQL names it: table or schema.table, plain lower-case identifiers
# (quoted for the query anyway; kept plain so the evidence reads the same).
SQL_TABLE = _pattern(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?", 127, "SQL table name (table or schema.table, lower case)")
SQL_DATABASE = _pattern(r"[a-z_][a-z0-9_]*", 63, "PostgreSQL database name")
# The longest suffix a temporary name gets: "-<UTC yyyymmddHHMMSS>-<4 hex>" plus
# the instance's "-1". RDS identifiers are 63 characters at most.
BACKUP_RUN_SUFFIX = len("-20300102030405-a1b2-1")
DYNAMODB_MAX_CONCURRENT_RESTORES = 50  # per account, any kind of restore (DynamoDB quotas)


def _retention_days(value: int) -> str | None:
    # Aurora keeps automated backups 1 to 35 days.
    return None if 1 <= value <= 35 else f"{value}: Aurora keeps automated backups 1 to 35 days"


@dataclass(frozen=True)
class BackupConfig:
    """Design doc: Aurora "Backup Retention: 30 days"; DynamoDB "Point-in-time
    Recovery: Enabled"; Performance tests ("backup/restore test");
    Operational readiness ("backup strategy"). Values beyond those are ours.

    Read by ``invoke backup.verify`` and ``invoke backup.cleanup``
    (fablink_ops/runbooks/backup/).
    """

    # The cluster whose backups are verified, found by this identifier. Must
    # equal the aurora stage's cluster identifier (as [drill].aurora_cluster):
    # the runbook does not import that stage.
    aurora_cluster: str = check(DB_CLUSTER_ID)
    # The retention the Aurora cluster must have (design doc: 30 days).
    expected_retention_days: int = check(_retention_days, default=30)
    # How old the latest restorable time may be: the data a restore would lose.
    rpo_budget_minutes: float = check(_positive, default=5.0)
    # The one instance added to the restored cluster: small, it only has to
    # prove the data comes up (a restored cluster has no instance of its own).
    restore_instance_class: str = check(DB_INSTANCE_CLASS, default="db.t4g.medium")
    # Temporaries are named <prefix>-<run id>[-...]: recognisable, and never a
    # prefix of a production name (checked below).
    temporary_prefix: str = check(DB_CLUSTER_ID, default="fablink-prod-bkv")
    # Temporaries carry an expiry tag this far ahead; backup.cleanup deletes
    # only expired ones, so it never races a run still in progress.
    expiry_hours: float = check(_positive, default=6.0)
    # Restores in flight at once. DynamoDB allows 50 concurrent restores per account.
    aurora_concurrency: int = check(_positive, default=1)
    dynamodb_concurrency: int = check(_positive, default=10)
    # Tables up to this many items are compared key by key (full scans of both
    # tables); bigger ones by a sample of sample_size keys looked up both ways.
    exact_count_limit: int = check(_positive, default=100_000)
    sample_size: int = check(_positive, default=1_000)
    # The source keeps changing after the restore point, so a live comparison
    # allows this share of the compared keys (or rows) to differ.
    count_tolerance_percent: float = 0.0
    # Poll the restores this often: the resolution of the measured RTO.
    poll_interval_seconds: float = check(_positive, default=30.0)
    # Wait budgets: past them a restore fails (and is deleted all the same).
    aurora_cluster_wait_minutes: float = check(_positive, default=120.0)
    aurora_instance_wait_minutes: float = check(_positive, default=60.0)
    dynamodb_restore_wait_minutes: float = check(_positive, default=120.0)
    # How long the run waits for a temporary to become deletable (a restore
    # still creating cannot be deleted) before leaving it to backup.cleanup.
    cleanup_wait_minutes: float = check(_positive, default=60.0)
    # Live, with --row-counts: count the rows of these tables in the source
    # and the restored cluster (psycopg, the source's managed master secret).
    row_count_tables: tuple[str, ...] = ()
    sql_database: str = check(SQL_DATABASE, default="postgres")


@dataclass(frozen=True)
class PasswordPolicyMinimums:
    """The weakest account password policy the access review accepts (ours:
    CIS AWS Foundations Benchmark 1.8-1.9; no forced expiry by default, as
    NIST SP 800-63B advises against it)."""

    minimum_length: int = 14
    require_symbols: bool = True
    require_numbers: bool = True
    require_uppercase: bool = True
    require_lowercase: bool = True
    # Passwords must expire within this many days; 0: expiry is not required.
    max_age_days: int = 0
    # At least this many previous passwords cannot be reused; 0: not required.
    reuse_prevention: int = 24


@dataclass(frozen=True)
class Suppression:
    """An accepted finding: the check id and the resource (ARN or id; ``*``
    matches any run of characters), why it is accepted, and until when
    (inclusive, UTC). Past that date the finding counts again."""

    check: str
    resource: str
    reason: str
    expires: date


@dataclass(frozen=True)
class SuppressionsFile:
    """A TOML file holding only ``[[suppressions]]`` tables."""

    suppressions: tuple[Suppression, ...] = ()


@dataclass(frozen=True)
class AccessConfig:
    """Design doc: Security review (network security groups, least-privilege
    IAM, encryption settings, audit logging); "Regular access review".
    Thresholds are ours unless a comment in prod.toml says otherwise.

    Read by ``invoke access.review`` (fablink_ops/runbooks/access/).
    """

    access_key_max_age_days: int = check(_positive, default=90)
    unused_credentials_days: int = check(_positive, default=45)
    root_recent_use_days: int = check(_positive, default=30)
    min_backup_retention_days: int = check(_positive, default=30)
    database_ports: tuple[int, ...] = (5432, 3306, 1433, 1521, 27017, 6379, 11211, 9042, 5439, 9200)
    # Regions reviewed besides project.region (and the DynamoDB replica regions).
    regions: tuple[str, ...] = ()
    credential_report_wait_seconds: float = check(_positive, default=120.0)
    password_policy: PasswordPolicyMinimums = field(default_factory=PasswordPolicyMinimums)
    suppressions: tuple[Suppression, ...] = ()
    # Another TOML file of [[suppressions]], relative to this config file.
    suppressions_file: str = ""


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


def load_config(path: str | Path = DEFAULT_PATH) -> Config:
    """Read, type-check and validate a config file. Raises ConfigError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None
    data = {"path": str(path), **data}
    config = _build(Config, data, "", str(path))
    config = _with_suppressions_file(config)
    _validate(config)
    return config


def _read_toml(path: Path, named_by: str, key: str) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _fail(named_by, key, f"cannot read {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from None


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
            if check_fn is not None:
                problem = check_fn(built)
                if problem:
                    raise _fail(file, sub, problem)
            kwargs[name] = built
        return tp(**kwargs)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(file, key, f"expected {_type_name(tp)}, got {value!r}")
        item_tp = typing.get_args(tp)[0]
        return tuple(_build(item_tp, item, f"{key}[{i}]", file) for i, item in enumerate(value))
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


def _validate_backup(cfg: Config) -> None:
    file, b = cfg.path, cfg.backup
    longest = len(b.temporary_prefix) + BACKUP_RUN_SUFFIX
    if longest > 63:
        raise _fail(file, "backup.temporary_prefix",
                    f"{b.temporary_prefix!r} is too long: temporary names would reach {longest} characters (RDS allows 63)")
    if b.temporary_prefix != b.temporary_prefix.lower():
        raise _fail(file, "backup.temporary_prefix", f"{b.temporary_prefix!r}: use lower case (RDS lower-cases identifiers)")
    # A production resource must never look like a temporary: backup.cleanup
    # only ever considers names under the prefix.
    production = [cfg.backup.aurora_cluster, cfg.drill.aurora_cluster, *(t.name for t in cfg.dynamodb.tables)]
    for name in production:
        if name == b.temporary_prefix or name.startswith(b.temporary_prefix + "-"):
            raise _fail(file, "backup.temporary_prefix",
                        f"{b.temporary_prefix!r} would cover the production resource {name}: choose a prefix no production name starts with")
    if b.dynamodb_concurrency > DYNAMODB_MAX_CONCURRENT_RESTORES:
        raise _fail(file, "backup.dynamodb_concurrency",
                    f"{b.dynamodb_concurrency}: DynamoDB allows {DYNAMODB_MAX_CONCURRENT_RESTORES} concurrent restores per account")
    if b.sample_size > b.exact_count_limit:
        raise _fail(file, "backup.sample_size",
                    f"{b.sample_size} exceeds backup.exact_count_limit ({b.exact_count_limit}): below the limit every key is compared anyway")
    if not 0 <= b.count_tolerance_percent < 100:
        raise _fail(file, "backup.count_tolerance_percent", f"{b.count_tolerance_percent:g}: give a percentage from 0 up to (not including) 100")
    shortest = min(b.aurora_cluster_wait_minutes, b.aurora_instance_wait_minutes, b.dynamodb_restore_wait_minutes, b.cleanup_wait_minutes)
    if b.poll_interval_seconds >= shortest * 60:
        raise _fail(file, "backup.poll_interval_seconds",
                    f"{b.poll_interval_seconds:g} s is not shorter than the shortest wait budget ({shortest:g} min)")
    longest_run = max(b.aurora_cluster_wait_minutes + b.aurora_instance_wait_minutes, b.dynamodb_restore_wait_minutes) + b.cleanup_wait_minutes
    if b.expiry_hours * 60 <= longest_run:
        raise _fail(file, "backup.expiry_hours",
                    f"{b.expiry_hours:g} h must exceed the longest run ({longest_run:g} min of wait budgets): "
                    "backup.cleanup must never delete the temporaries of a run still in progress")
    for i, table in enumerate(b.row_count_tables):
        problem = SQL_TABLE(table)
        if problem:
            raise _fail(file, f"backup.row_count_tables[{i}]", problem)
        if b.row_count_tables.index(table) != i:
            raise _fail(file, f"backup.row_count_tables[{i}]", f"{table!r} is listed twice")


def _validate_drill(cfg: Config) -> None:
    file, drill = cfg.path, cfg.drill
    for i, name in enumerate(drill.stop_alarms):
        problem = ALARM_NAME(name)
        if problem:
            raise _fail(file, f"drill.stop_alarms[{i}]", problem)
        if drill.stop_alarms.index(name) != i:
            raise _fail(file, f"drill.stop_alarms[{i}]", f"{name!r} is listed twice")
    if drill.poll_interval_seconds >= drill.rto_budget_seconds:
        raise _fail(
            file, "drill.poll_interval_seconds",
            f"{drill.poll_interval_seconds:g} s is not shorter than drill.rto_budget_seconds ({drill.rto_budget_seconds:g} s): "
            "the measured RTO would be coarser than its budget",
        )
    if drill.poll_max_interval_seconds < drill.poll_interval_seconds:
        raise _fail(
            file, "drill.poll_max_interval_seconds",
            f"{drill.poll_max_interval_seconds:g} s is shorter than drill.poll_interval_seconds ({drill.poll_interval_seconds:g} s)",
        )
    if drill.rto_budget_seconds >= drill.observe_budget_minutes * 60:
        raise _fail(
            file, "drill.observe_budget_minutes",
            f"{drill.observe_budget_minutes:g} min does not exceed drill.rto_budget_seconds ({drill.rto_budget_seconds:g} s)",
        )
    # With --failback a drill observes two failovers: its lock must outlive both,
    # or a second drill could take it over mid-run.
    if drill.lock_expiry_minutes <= 2 * drill.observe_budget_minutes:
        raise _fail(
            file, "drill.lock_expiry_minutes",
            f"{drill.lock_expiry_minutes:g} min must exceed twice drill.observe_budget_minutes "
            f"({2 * drill.observe_budget_minutes:g} min): the lock must outlive a drill with --failback",
        )
    if drill.probe_timeout_seconds > drill.rto_budget_seconds:
        raise _fail(
            file, "drill.probe_timeout_seconds",
            f"{drill.probe_timeout_seconds:g} s exceeds drill.rto_budget_seconds ({drill.rto_budget_seconds:g} s)",
        )


def _validate_access(cfg: Config) -> None:
    file, acc = cfg.path, cfg.access
    for i, port in enumerate(acc.database_ports):
        key = f"access.database_ports[{i}]"
        if not 0 < port < 65536:
            raise _fail(file, key, f"{port} is not a TCP port")
        if port in acc.database_ports[:i]:
            raise _fail(file, key, f"{port} is listed twice")
    for i, region in enumerate(acc.regions):
        key = f"access.regions[{i}]"
        problem = REGION(region)
        if problem:
            raise _fail(file, key, problem)
        if region == cfg.project.region:
            raise _fail(file, key, f"{region} is project.region, which is always reviewed")
        if region in acc.regions[:i]:
            raise _fail(file, key, f"{region} is listed twice")
    pw = acc.password_policy
    # Ranges AWS accepts: https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccountPasswordPolicy.html
    for name, value, low, high in (("minimum_length", pw.minimum_length, 6, 128),
                                   ("max_age_days", pw.max_age_days, 0, 1095),
                                   ("reuse_prevention", pw.reuse_prevention, 0, 24)):
        if not low <= value <= high:
            raise _fail(file, f"access.password_policy.{name}", f"{value} is outside {low}..{high} (what AWS accepts)")
    if acc.credential_report_wait_seconds > 3600:
        raise _fail(file, "access.credential_report_wait_seconds", "at most 3600 s: AWS builds the report in seconds to minutes")
    # Entries were validated one by one as they were read (_with_suppressions_file).
    _no_duplicate_suppressions(file, acc.suppressions)


def _validate_suppressions(file: str, prefix: str, entries: tuple[Suppression, ...]) -> None:
    # Imported here: the check catalogue lives with the access review, which
    # imports the CLI, which imports this module.
    from ..runbooks.access.checks import CHECK_IDS

    for i, sup in enumerate(entries):
        key = f"{prefix}[{i}]"
        if sup.check not in CHECK_IDS:
            near = difflib.get_close_matches(sup.check, CHECK_IDS, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise _fail(file, f"{key}.check", f"{sup.check!r} is not a check id of the access review{hint}")
        if not sup.resource.strip() or not sup.resource.strip("*? "):
            raise _fail(file, f"{key}.resource", "name the resource (an ARN or id; a wildcard alone would suppress every finding of the check)")
        if not sup.reason.strip():
            raise _fail(file, f"{key}.reason", "say why the finding is accepted: the reason must not be empty")


def _no_duplicate_suppressions(file: str, entries: tuple[Suppression, ...]) -> None:
    seen: set[tuple[str, str]] = set()
    for sup in entries:
        pair = (sup.check, sup.resource)
        if pair in seen:
            raise _fail(file, "access.suppressions", f"{sup.check} for {sup.resource} is suppressed twice")
        seen.add(pair)
