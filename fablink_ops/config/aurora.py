"""[aurora]: the Aurora PostgreSQL cluster, its parameters and instances."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import KMS_ALIAS, _between, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html (DBClusterIdentifier):
# a letter first, letters/digits/hyphens, no two hyphens in a row, no hyphen at the end.
RDS_IDENTIFIER = _pattern(r"[a-z](?:[a-z0-9]|-(?!-))*[a-z0-9]", 63, "RDS identifier (lowercase letters, digits, single hyphens)")
# PostgreSQL identifiers (master user, initial database): 63 bytes at most.
PG_IDENTIFIER = _pattern(r"[a-z][a-z0-9_]*", 63, "PostgreSQL identifier (lowercase letters, digits, underscores)")
PG_PARAMETER = _pattern(r"[a-z_][a-z0-9_.]*", 255, "parameter name")


@dataclass(frozen=True)
class AuroraInstance:
    """One DB instance of the cluster. The first listed is created first and so
    becomes the writer; the others are readers."""

    identifier: str = check(RDS_IDENTIFIER)
    az: str
    # Failover order: lowest tier first. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Concepts.AuroraHighAvailability.html
    promotion_tier: int = check(_between(0, 15))


@dataclass(frozen=True)
class ClusterParameter:
    """A cluster parameter group value. ``apply`` is how it takes effect:
    "immediate" only works for dynamic parameters (AWS refuses it for static
    ones), "pending-reboot" for either."""

    name: str = check(PG_PARAMETER)
    value: str
    apply: str = check(_one_of("immediate", "pending-reboot"))


@dataclass(frozen=True)
class AuroraConfig:
    """Design doc: Databases, Aurora PostgreSQL cluster; Security; backup strategy."""

    cluster_identifier: str = check(RDS_IDENTIFIER)
    engine_version: str = check(_pattern(r"15\.\d+", 8, "Aurora PostgreSQL version (the design doc pins 15.x, e.g. 15.10)"))
    instance_class: str = check(_pattern(r"db\.[a-z0-9]+\.[a-z0-9]+", 32, "DB instance class (e.g. db.r6g.large)"))
    database_name: str = check(PG_IDENTIFIER)
    master_username: str = check(PG_IDENTIFIER)
    port: int = check(_between(1150, 65535))  # the range RDS accepts
    security_group_tier: str
    kms_key_alias: str = check(KMS_ALIAS)
    kms_key_description: str = check(_pattern(r"[^\x00-\x1f]+", 8192, "KMS key description"))
    backup_retention_days: int = check(_between(1, 35))  # the range RDS accepts
    backup_window: str
    maintenance_window: str
    iam_database_authentication: bool
    deletion_protection: bool
    copy_tags_to_snapshot: bool
    auto_minor_version_upgrade: bool
    log_exports: tuple[str, ...]
    slow_query_threshold_ms: int = check(_between(1, 2147483647))  # PostgreSQL's int range
    parameters: tuple[ClusterParameter, ...]
    performance_insights_retention_days: int
    monitoring_interval_seconds: int = check(_one_of(0, 1, 5, 10, 15, 30, 60))  # type: ignore[arg-type]
    instances: tuple[AuroraInstance, ...]
    cluster_wait_minutes: float = check(_positive)
    instance_wait_minutes: float = check(_positive)

    @property
    def engine_major(self) -> int:
        return int(self.engine_version.split(".")[0])

    @property
    def parameter_group_family(self) -> str:
        return f"aurora-postgresql{self.engine_major}"


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"([01]\d|2[0-3]):([0-5]\d)"
_DAY_HHMM = r"(mon|tue|wed|thu|fri|sat|sun):" + _HHMM
# Log types Aurora PostgreSQL can export to CloudWatch Logs.
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/AuroraPostgreSQL.CloudWatch.html
AURORA_PG_LOG_TYPES = ("postgresql", "iam-db-auth-error")
# Performance Insights retention: 7 days (free tier), a whole number of months
# (31 days each) up to 23, or 731. https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
PI_RETENTION_DAYS = (7, *(31 * m for m in range(1, 24)), 731)
# Reserved by RDS for its own use: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html#RDS_Limits.Constraints
RESERVED_MASTER_USERNAMES = ("postgres", "rdsadmin", "rdsrepladmin", "rds_superuser", "admin")
# Instance sizes from db.r6g.large up: the design doc's "db.r6g.large (minimum)".
_LARGE_OR_BIGGER = re.compile(r"large|\d*xlarge")


def window_minutes(window: str) -> list[tuple[int, int]]:
    """A backup ("hh:mm-hh:mm", daily) or maintenance ("ddd:hh:mm-ddd:hh:mm",
    weekly) window as [start, end) minute-of-week intervals, split at the end
    of the week. Assumes the syntax was checked."""
    week = 7 * 24 * 60
    if re.fullmatch(f"{_HHMM}-{_HHMM}", window):
        h1, m1, h2, m2 = map(int, re.fullmatch(f"{_HHMM}-{_HHMM}", window).groups())  # type: ignore[union-attr]
        start, length = h1 * 60 + m1, ((h2 * 60 + m2) - (h1 * 60 + m1)) % (24 * 60)
        starts = [day * 24 * 60 + start for day in range(7)]
    else:
        d1, h1, m1, d2, h2, m2 = re.fullmatch(f"{_DAY_HHMM}-{_DAY_HHMM}", window).groups()  # type: ignore[union-attr]
        start = _DAYS.index(d1) * 24 * 60 + int(h1) * 60 + int(m1)
        end = _DAYS.index(d2) * 24 * 60 + int(h2) * 60 + int(m2)
        starts, length = [start], (end - start) % week
    out = []
    for s in starts:
        if s + length <= week:
            out.append((s, s + length))
        else:
            out += [(s, week), (0, s + length - week)]
    return out


def _validate_aurora(cfg: Config) -> None:
    file, a = cfg.path, cfg.aurora
    tiers = {t.tier: t for t in cfg.network.security_groups}
    tier = tiers.get(a.security_group_tier)
    if tier is None:
        raise _fail(file, "aurora.security_group_tier", f"{a.security_group_tier!r} is not a tier in network.security_groups")
    if a.port not in {r.port for r in tier.ingress}:
        raise _fail(file, "aurora.port", f"{a.port}: the {tier.tier} security group admits no traffic on this port")
    if a.master_username in RESERVED_MASTER_USERNAMES:
        raise _fail(file, "aurora.master_username", f"{a.master_username!r} is reserved by RDS")
    if a.kms_key_alias.startswith("alias/aws/"):
        raise _fail(file, "aurora.kms_key_alias", "alias/aws/ names AWS managed keys; the design asks for a customer managed key")
    size = a.instance_class.rsplit(".", 1)[-1]
    if a.instance_class.startswith("db.t") or not _LARGE_OR_BIGGER.fullmatch(size):
        raise _fail(file, "aurora.instance_class", f"{a.instance_class}: the design doc's minimum is db.r6g.large (no burstable or smaller classes)")
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Backups.html#Aurora.Managing.Backups.BackupWindow
    for key, value, pattern in (("backup_window", a.backup_window, f"{_HHMM}-{_HHMM}"),
                                ("maintenance_window", a.maintenance_window, f"{_DAY_HHMM}-{_DAY_HHMM}")):
        if not re.fullmatch(pattern, value):
            example = "17:00-17:30" if key == "backup_window" else "sun:18:00-sun:18:30"
            raise _fail(file, f"aurora.{key}", f"{value!r} is not a UTC window like {example!r} (days in lowercase)")
        length = sum(e - s for s, e in window_minutes(value)) // (7 if key == "backup_window" else 1)
        if length < 30:
            raise _fail(file, f"aurora.{key}", f"{value}: a window must last at least 30 minutes, this one lasts {length}")
    backup, maintenance = window_minutes(a.backup_window), window_minutes(a.maintenance_window)
    if any(bs < me and ms < be for bs, be in backup for ms, me in maintenance):
        raise _fail(file, "aurora.maintenance_window", f"{a.maintenance_window} overlaps the backup window {a.backup_window} (RDS refuses this)")
    if not a.log_exports:
        raise _fail(file, "aurora.log_exports", "at least 'postgresql' (the design doc's slow query logging)")
    for i, log in enumerate(a.log_exports):
        if log not in AURORA_PG_LOG_TYPES or a.log_exports.count(log) > 1:
            raise _fail(file, f"aurora.log_exports[{i}]", f"{log!r}: one of {', '.join(AURORA_PG_LOG_TYPES)}, each once")
    names = [p.name for p in a.parameters]
    for i, param in enumerate(a.parameters):
        if names.count(param.name) > 1:
            raise _fail(file, f"aurora.parameters[{i}].name", f"{param.name} is listed twice")
        if param.name == "log_min_duration_statement":
            raise _fail(file, f"aurora.parameters[{i}].name", "set by aurora.slow_query_threshold_ms; do not list it")
    force_ssl = [p for p in a.parameters if p.name == "rds.force_ssl"]
    if not force_ssl or force_ssl[0].value != "1":
        raise _fail(file, "aurora.parameters", "rds.force_ssl must be listed with value \"1\" (design doc: Encryption in Transit: Required)")
    if a.performance_insights_retention_days not in PI_RETENTION_DAYS:
        raise _fail(file, "aurora.performance_insights_retention_days",
                    f"{a.performance_insights_retention_days}: 7, a multiple of 31 up to 713, or 731")
    if a.monitoring_interval_seconds == 0:
        raise _fail(file, "aurora.monitoring_interval_seconds", "0 turns Enhanced Monitoring off; the design doc requires it (1, 5, 10, 15, 30 or 60)")
    _validate_aurora_instances(cfg)


def _validate_aurora_instances(cfg: Config) -> None:
    file, a = cfg.path, cfg.aurora
    zones = [z.az for z in cfg.network.zones]
    ids = [i.identifier for i in a.instances]
    if len(a.instances) < 2:
        raise _fail(file, "aurora.instances", "at least two instances (a writer and a reader): the design doc asks for Multi-AZ")
    for i, inst in enumerate(a.instances):
        key = f"aurora.instances[{i}]"
        if ids.count(inst.identifier) > 1 or inst.identifier == a.cluster_identifier:
            raise _fail(file, f"{key}.identifier", f"{inst.identifier} is used twice")
        if inst.az not in zones:
            raise _fail(file, f"{key}.az", f"{inst.az!r} is not one of the network zones ({', '.join(zones)})")
    if len({i.az for i in a.instances}) < 2:
        raise _fail(file, "aurora.instances", "the instances must span at least two availability zones (Multi-AZ)")
    writer = a.instances[0]
    if any(inst.promotion_tier <= writer.promotion_tier for inst in a.instances[1:]):
        raise _fail(file, "aurora.instances[0].promotion_tier",
                    "the first instance is the writer: its promotion tier must be lower than every reader's")
