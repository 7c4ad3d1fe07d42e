"""[drill], [backup] and [access]: the settings of the operators' runbooks
(failover drill, backup verification, access review), read by
fablink_ops/runbooks/."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from .check_ids import ACCESS_CHECK_IDS
from .checks import KMS_ALIAS, REGION, _each_once, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


# ----- drill

# https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html (DBClusterIdentifier)
DB_CLUSTER_ID = _pattern(
    r"[A-Za-z](?:-?[A-Za-z0-9])*", 63, "Aurora DB cluster identifier (letters, digits, single hyphens; starts with a letter)"
)
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html (AlarmName)
ALARM_NAME = _pattern(r"[^\x00-\x1f\x7f]+", 255, "CloudWatch alarm name (no control characters)")


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
    # The lease of the drill's run lock (fablink_ops/lock.py): a killed drill
    # blocks the next run no longer than this.
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


def _validate_drill(cfg: Config) -> None:
    file, drill = cfg.path, cfg.drill
    _each_once(file, "drill.stop_alarms", drill.stop_alarms, ALARM_NAME)
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


# ----- backup

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


# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html (BackupVaultName)
BACKUP_VAULT_NAME = _pattern(r"[a-zA-Z0-9\-_]{2,50}", 50, "backup vault name (2-50 letters, digits, - or _)")
BACKUP_PLAN_NAME = _pattern(r"[a-zA-Z0-9\-_.]+", 50, "backup plan name")
# https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupRuleInput.html (ScheduleExpression)
BACKUP_SCHEDULE = _pattern(r"cron\([^()]+\)", 256, "schedule: a cron(...) expression in UTC")
VAULT_LOCK_MODES = ("compliance", "governance", "off")


@dataclass(frozen=True)
class BackupPlanConfig:
    """[backup.plan]: an AWS Backup vault and plan beyond the services' own
    PITR (design doc: Operational readiness, "backup strategy"); the
    provisioning stage ``backup`` builds it, backup.verify checks its latest
    recovery points. Every value is ours."""

    vault_name: str = check(BACKUP_VAULT_NAME, default="fablink-prod-backup")
    kms_key_alias: str = check(KMS_ALIAS, default="alias/fablink-prod-backup")
    role_name: str = check(_pattern(r"[\w+=,.@-]+", 64, "IAM role name"), default="fablink-prod-backup")
    plan_name: str = check(BACKUP_PLAN_NAME, default="fablink-prod-daily")
    schedule: str = check(BACKUP_SCHEDULE, default="cron(0 19 * * ? *)")
    start_window_minutes: int = check(_positive, default=60)
    completion_window_minutes: int = check(_positive, default=480)
    retention_days: int = check(_positive, default=35)
    # compliance: nobody (root included) can delete a recovery point early or
    # unlock the vault once changeable_for_days have passed; governance: those
    # with backup:DeleteBackupVaultLockConfiguration can; off: no lock.
    vault_lock: str = check(_one_of(*VAULT_LOCK_MODES), default="compliance")
    lock_min_retention_days: int = check(_positive, default=7)
    lock_max_retention_days: int = check(_positive, default=400)
    lock_changeable_for_days: int = check(_positive, default=3)
    # Optional copy of every recovery point to a vault in another region or
    # account (its ARN); "" for none.
    copy_to_vault_arn: str = ""
    copy_retention_days: int = check(_positive, default=35)
    # backup.verify: the latest recovery point of each resource may be this old.
    max_recovery_point_age_hours: float = check(_positive, default=26.0)


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
    count_tolerance_percent: float = check(lambda v: None if 0 <= v < 100 else f"{v:g}: give a percentage from 0 up to (not including) 100",
                                           default=0.0)
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
    plan: BackupPlanConfig = field(default_factory=BackupPlanConfig)


def _validate_backup_plan(file: str, p: BackupPlanConfig) -> None:
    key = "backup.plan"
    if p.vault_lock != "off":
        if p.lock_min_retention_days > p.lock_max_retention_days:
            raise _fail(file, f"{key}.lock_min_retention_days", f"{p.lock_min_retention_days} exceeds lock_max_retention_days ({p.lock_max_retention_days})")
        # A locked vault refuses recovery points kept outside [min, max].
        for name in ("retention_days", "copy_retention_days"):
            days = getattr(p, name)
            if not p.lock_min_retention_days <= days <= p.lock_max_retention_days:
                raise _fail(file, f"{key}.{name}", f"{days} is outside the vault lock's {p.lock_min_retention_days}-{p.lock_max_retention_days} days")
    if p.vault_lock == "compliance" and p.lock_changeable_for_days < 3:
        raise _fail(file, f"{key}.lock_changeable_for_days", f"{p.lock_changeable_for_days}: AWS Backup requires at least 3 days")
    if p.copy_to_vault_arn and not re.fullmatch(r"arn:aws[\w-]*:backup:[a-z0-9-]+:\d{12}:backup-vault:[a-zA-Z0-9\-_]{2,50}", p.copy_to_vault_arn):
        raise _fail(file, f"{key}.copy_to_vault_arn", f"{p.copy_to_vault_arn!r} is not a backup vault ARN")
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupRuleInput.html: completion >= start + 60
    if p.completion_window_minutes < p.start_window_minutes + 60:
        raise _fail(file, f"{key}.completion_window_minutes", "must be at least start_window_minutes + 60")


def _validate_backup(cfg: Config) -> None:
    file, b = cfg.path, cfg.backup
    _validate_backup_plan(file, b.plan)
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
    shortest = min(b.aurora_cluster_wait_minutes, b.aurora_instance_wait_minutes, b.dynamodb_restore_wait_minutes, b.cleanup_wait_minutes)
    if b.poll_interval_seconds >= shortest * 60:
        raise _fail(file, "backup.poll_interval_seconds",
                    f"{b.poll_interval_seconds:g} s is not shorter than the shortest wait budget ({shortest:g} min)")
    longest_run = max(b.aurora_cluster_wait_minutes + b.aurora_instance_wait_minutes, b.dynamodb_restore_wait_minutes) + b.cleanup_wait_minutes
    if b.expiry_hours * 60 <= longest_run:
        raise _fail(file, "backup.expiry_hours",
                    f"{b.expiry_hours:g} h must exceed the longest run ({longest_run:g} min of wait budgets): "
                    "backup.cleanup must never delete the temporaries of a run still in progress")
    _each_once(file, "backup.row_count_tables", b.row_count_tables, SQL_TABLE)


# ----- access


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
    for i, sup in enumerate(entries):
        key = f"{prefix}[{i}]"
        if sup.check not in ACCESS_CHECK_IDS:
            near = difflib.get_close_matches(sup.check, ACCESS_CHECK_IDS, n=1)
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
