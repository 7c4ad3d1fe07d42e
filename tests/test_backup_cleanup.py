"""invoke backup.cleanup: expired temporaries go; anything not tagged as a
temporary (and every production table and cluster) is never touched."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fablink_ops.runbooks.backup import PERMISSIONS, aurora, cleanup, dynamodb
from fablink_ops.runbooks.backup.checks import read_aurora, read_tables

from .backup_timeline import RestoreModel
from .backup_util import assert_production_intact, client, leftovers, make_sources, run_sweep, run_verify, small, step
from .conftest import make_ctx
from .util import seeding
from .timeline import WALL, FakeClock

SESSIONS, ACTIVITIES = "fablink-prod-sessions", "fablink-prod-user-activities"
PREFIX = "fablink-prod-bkv"


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sources(aws, cfg, monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # see test_backup_verify.py
    cfg = small(cfg)
    make_sources(cfg)
    return cfg


def killed_run(cfg, run_id: str, expires, tables=(SESSIONS,)) -> tuple[str, list[str]]:
    """What a run killed with SIGKILL leaves: its restores requested through
    the runbook's own functions (names, tags), no cleanup."""
    ctx = make_ctx(cfg)
    name = cleanup.cluster_name(cfg, run_id)
    job = aurora.AuroraRestore(read_aurora(ctx, cfg.backup.aurora_cluster), name, cleanup.instance_name(name),
                               cleanup.temporary_tags(cfg, name, run_id, expires))
    aurora.request(ctx, job)
    aurora.poll(ctx, [job])  # available at once in moto: its instance is created
    assert job.instance_requested is not None
    temps = []
    for table, src in read_tables(ctx, list(tables)).items():
        temp = cleanup.table_name(cfg, run_id, table)
        dynamodb.request(ctx, dynamodb.TableRestore(src, temp, cleanup.temporary_tags(cfg, temp, run_id, expires)))
        temps.append(temp)
    return name, temps


def tag_table(name: str, tags: dict[str, str]) -> None:
    ddb = client("dynamodb")
    arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def test_expired_temporaries_go_and_everything_else_stays(sources):
    cfg = sources
    ddb, rds = client("dynamodb"), client("rds")
    old_cluster, old_tables = killed_run(cfg, "20300101000000-dead", WALL - timedelta(hours=1))
    ddb.update_table(TableName=old_tables[0], DeletionProtectionEnabled=True)  # turned off before deleting: a temporary
    _, fresh = killed_run(cfg, "20300102030000-live", WALL + timedelta(hours=5), tables=(ACTIVITIES,))
    rds.delete_db_instance(DBInstanceIdentifier=f"{PREFIX}-20300102030000-live-1")
    rds.delete_db_cluster(DBClusterIdentifier=f"{PREFIX}-20300102030000-live", SkipFinalSnapshot=True)
    # under the prefix but not tagged as a temporary: refused, left alone
    ddb.restore_table_to_point_in_time(SourceTableName=SESSIONS, TargetTableName=f"{PREFIX}-untagged", UseLatestRestorableTime=True)
    rds.restore_db_cluster_to_point_in_time(DBClusterIdentifier=f"{PREFIX}-foreign", SourceDBClusterIdentifier=cfg.backup.aurora_cluster,
                                            UseLatestRestorableTime=True,
                                            Tags=[{"Key": "temporary", "Value": "true"}, {"Key": "expires", "Value": "2000-01-01T00:00:00.000Z"}])
    # production tagged "temporary" and expired by mistake: never a candidate
    tag_table(SESSIONS, {"temporary": "true", "expires": "2000-01-01T00:00:00.000Z", "backup-run": "x"})

    run = run_sweep(cfg)

    assert run.code == 1 and run.doc["verdict"] == "fail"
    assert run.doc["reason"] == (f"2 deleted, 1 not expired yet; refused (not tagged as a temporary of backup.verify): "
                                 f"{PREFIX}-foreign, {PREFIX}-untagged")
    found = run.doc["measurements"]["candidates"]
    assert found[old_cluster]["result"] == "deleted" and found[old_tables[0]]["result"] == "deleted"
    assert found[fresh[0]]["result"] == "not expired"
    assert found[f"{PREFIX}-untagged"] == {"kind": "dynamodb-table", "result": "refused", "detail": "not tagged temporary=true"}
    assert found[f"{PREFIX}-foreign"]["detail"] == "not tagged ManagedBy=fablink-ops"
    assert SESSIONS not in found
    assert leftovers(cfg) == sorted([fresh[0], f"{PREFIX}-foreign", f"{PREFIX}-untagged"])
    assert_production_intact(cfg)
    assert step(run.doc, f"refused: DynamoDB table {PREFIX}-untagged")["status"] == "skipped"
    used = set(run.target.meter.calls)  # every call the sweep made is a declared IAM permission
    assert used <= set(PERMISSIONS), used - set(PERMISSIONS)

    # once a person has dealt with the refused ones, the sweep passes
    foreign = rds.describe_db_clusters(DBClusterIdentifier=f"{PREFIX}-foreign")["DBClusters"][0]
    assert foreign["DeletionProtection"]  # moto copied the source's; the sweep did not turn it off
    ddb.delete_table(TableName=f"{PREFIX}-untagged")
    rds.modify_db_cluster(DBClusterIdentifier=f"{PREFIX}-foreign", DeletionProtection=False, ApplyImmediately=True)
    rds.delete_db_cluster(DBClusterIdentifier=f"{PREFIX}-foreign", SkipFinalSnapshot=True)
    run = run_sweep(cfg)
    assert run.code == 0 and run.doc["reason"] == "0 deleted, 1 not expired yet"
    assert leftovers(cfg) == [fresh[0]]
    assert_production_intact(cfg)


def test_a_restore_stuck_past_the_cleanup_budget_is_left_then_swept(sources):
    """A restore that never finishes within the run: the run cannot delete it
    (still creating), says so, and fails; backup.cleanup takes it later."""
    cfg = small(sources, dynamodb_restore_wait_minutes=5, cleanup_wait_minutes=10)
    clock = FakeClock()
    model = RestoreModel(clock, table_at={SESSIONS: 5000, ACTIVITIES: 30})
    run = run_verify(cfg, model, only="dynamodb")
    temp = f"{PREFIX}-20300102030405-t001-sessions"
    assert run.code == 1 and run.doc["verdict"] == "fail"
    assert run.doc["measurements"]["temporaries"][temp]["result"] == "left"
    assert "1 temporary NOT deleted" in run.doc["reason"] and "run invoke backup.cleanup once it has expired" in run.doc["reason"]
    assert step(run.doc, f"cleanup: DynamoDB table {temp}")["status"] == "failed"
    assert leftovers(cfg) == [temp]

    # before its expiry the sweep leaves it to its run
    assert run_sweep(cfg, model=model).doc["measurements"]["candidates"][temp]["result"] == "not expired"
    # hours later: restored, expired, swept
    clock.sleep(7 * 3600)
    swept = run_sweep(cfg, model=model, wall=WALL + timedelta(hours=7))
    assert swept.code == 0, swept.doc["reason"]
    assert swept.doc["measurements"]["candidates"][temp]["result"] == "deleted"
    assert leftovers(cfg) == []
    assert_production_intact(cfg)


def test_nothing_to_sweep(aws, cfg):
    run = run_sweep(cfg)
    assert run.code == 0 and run.doc["reason"] == f"no temporaries under {PREFIX}-"
    assert run.target.meter.writes == 0


def test_live_sweep_without_confirmation_deletes_nothing(sources, monkeypatch):
    cfg = sources
    killed_run(cfg, "20300101000000-dead", WALL - timedelta(hours=1))
    before = leftovers(cfg)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    run = run_sweep(cfg, live=True, yes=False)
    assert run.code == 2 and run.doc is None
    assert run.target.meter.writes == 0 and leftovers(cfg) == before


@pytest.mark.parametrize(
    "name, tags, why",
    [
        ("fablink-prod-sessions", {"temporary": "true", "ManagedBy": "fablink-ops", "backup-run": "r"}, "is a production resource"),
        ("fablink-prod-aurora", {"temporary": "true", "ManagedBy": "fablink-ops", "backup-run": "r"}, "is a production resource"),
        ("fablink-prod-other", {"temporary": "true", "ManagedBy": "fablink-ops", "backup-run": "r"}, "not under the temporary prefix"),
        (f"{PREFIX}-x", {"temporary": "yes", "ManagedBy": "fablink-ops", "backup-run": "r"}, "not tagged temporary=true"),
        (f"{PREFIX}-x", {"temporary": "true", "ManagedBy": "someone", "backup-run": "r"}, "not tagged ManagedBy=fablink-ops"),
        (f"{PREFIX}-x", {"temporary": "true", "ManagedBy": "fablink-ops"}, "no backup-run tag"),
    ],
)
def test_the_rule_for_a_temporary(cfg, name, tags, why):
    assert why in cleanup.refusal(cfg, name, tags)
    assert cleanup.refusal(cfg, f"{PREFIX}-x", {"temporary": "true", "ManagedBy": "fablink-ops", "backup-run": "r"}) is None


def test_a_restore_killed_before_its_tagging_is_recognised_and_swept(sources):
    """Issue 20 item 7: RestoreTableToPointInTime takes no tags, so a run killed
    between it and TagResource leaves an untagged full copy. Its name (the
    runbook's pattern for a table of this config) and DynamoDB's RestoreSummary
    (a source table of this environment) make it a temporary; its run id gives
    its expiry. A look-alike restored from another table stays refused."""
    cfg = sources
    ddb = client("dynamodb")
    old_run = f"{(WALL - timedelta(hours=cfg.backup.expiry_hours + 1)):%Y%m%d%H%M%S}-dead"
    new_run = f"{(WALL - timedelta(hours=1)):%Y%m%d%H%M%S}-beef"
    expired = cleanup.table_name(cfg, old_run, SESSIONS)
    fresh = cleanup.table_name(cfg, new_run, SESSIONS)
    for name in (expired, fresh):
        ddb.restore_table_to_point_in_time(SourceTableName=SESSIONS, TargetTableName=name, UseLatestRestorableTime=True)
    with seeding():  # another team's table, long there (no fidelity windows)
        ddb.create_table(TableName="other-team-sessions", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}], KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}])
        ddb.update_continuous_backups(TableName="other-team-sessions", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    lookalike = cleanup.table_name(cfg, f"{(WALL - timedelta(hours=9)):%Y%m%d%H%M%S}-abcd", ACTIVITIES)
    ddb.restore_table_to_point_in_time(SourceTableName="other-team-sessions", TargetTableName=lookalike, UseLatestRestorableTime=True)

    run = run_sweep(cfg)

    found = run.doc["measurements"]["candidates"]
    assert found[expired]["result"] == "deleted"
    assert found[fresh]["result"] == "not expired"
    assert found[lookalike]["result"] == "refused" and found[lookalike]["detail"] == "not tagged temporary=true"
    assert "a restore killed before its tagging" in step(run.doc, f"recognised: DynamoDB table {expired}")["detail"]
    assert expired not in ddb.list_tables()["TableNames"] and lookalike in ddb.list_tables()["TableNames"]
    assert_production_intact(cfg)
