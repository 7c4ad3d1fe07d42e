"""The DynamoDB stage on moto: state, idempotency, crashes, throttling, drift,
immutable changes, bad config; the live-only paths (waits, replicas) with
botocore's Stubber."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from fablink_ops import cli
from fablink_ops.config import DynamoIndex, load_config
from fablink_ops.engine import CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Context
from fablink_ops.errors import AwsError, ConfigError, OpsError
from fablink_ops.resources import dynamodb, kms_key
from fablink_ops.target import Target

from .conftest import CONFIG, FAST_RETRY, own_moto
from .faults import CrashAtWrite, SimulatedCrash, Throttle, WriteCounter, at_every_write
from .state import dump, dynamodb_inventory
from .util import pending, plan, provision

STAGES = ("dynamodb",)
REGION = "ap-northeast-2"
ALIAS = "alias/fablink-prod-dynamodb"
# Writes of a clean provision: CreateKey, CreateAlias, EnableKeyRotation; per
# table CreateTable and UpdateContinuousBackups; UpdateTimeToLive for the
# three tables with a TTL (sessions, cache, notifications).
# + 6 x 2: the fidelity layer refuses each new table's PITR twice, as AWS
# does while "backups are being enabled"; each refusal is a write to crash at.
CLEAN_WRITES = 3 + 6 * 2 + 3 + 6 * 2


def _with_tables(cfg, **changes_by_name):
    """cfg with some tables replaced: name -> {field: value}."""
    tables = tuple(
        dataclasses.replace(t, **changes_by_name[t.name]) if t.name in changes_by_name else t for t in cfg.dynamodb.tables
    )
    return dataclasses.replace(cfg, dynamodb=dataclasses.replace(cfg.dynamodb, tables=tables))


def _serial(cfg):
    """One change at a time, so the k-th write is the same write every run."""
    return dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1))


def _table(cfg, name):
    return next(t for t in cfg.dynamodb.tables if t.name == name)


@pytest.fixture(scope="module")
def clean_state():
    """The inventory after one clean provision (computed once, in its own moto)."""
    with own_moto():
        provision(load_config(CONFIG), STAGES)
        return dynamodb_inventory(REGION)


# --------------------------------------------------------------------------
# the state after provisioning


def test_provision_builds_every_table_as_configured(aws, cfg):
    ctx, changes = provision(cfg, STAGES)
    assert {c.key: c.action for c in changes} == {
        f"kms-key:{ALIAS}": CREATE, **{f"dynamodb-table:{t.name}": CREATE for t in cfg.dynamodb.tables}
    }
    ddb = boto3.client("dynamodb", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)

    # The key: customer managed, symmetric, rotation on, tagged with its alias.
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == ALIAS)
    key = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
    assert (key["KeyManager"], key["KeyState"], key["KeySpec"], key["KeyUsage"]) == ("CUSTOMER", "Enabled", "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    key_tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert key_tags["Alias"] == ALIAS and key_tags["ManagedBy"] == "fablink-ops" and key_tags["Stage"] == "dynamodb"
    assert key_tags["Name"] == "fablink-prod-dynamodb"

    # The design doc's six tables, no others.
    assert sorted(ddb.list_tables()["TableNames"]) == sorted([
        "fablink-prod-sessions", "fablink-prod-user-activities", "fablink-prod-cache",
        "fablink-prod-ai-requests", "fablink-prod-notifications", "fablink-prod-analytics",
    ])
    for t in cfg.dynamodb.tables:
        desc = ddb.describe_table(TableName=t.name)["Table"]
        assert desc["TableStatus"] == "ACTIVE"
        assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert desc["DeletionProtectionEnabled"] is True
        assert desc["SSEDescription"]["SSEType"] == "KMS"
        assert desc["SSEDescription"]["KMSMasterKeyArn"] == key["Arn"]
        types = {a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
        assert types == t.attributes
        want_key = [{"AttributeName": t.hash_key, "KeyType": "HASH"}]
        if t.range_key:
            want_key.append({"AttributeName": t.range_key, "KeyType": "RANGE"})
        assert desc["KeySchema"] == want_key
        gsis = {i["IndexName"]: i for i in desc.get("GlobalSecondaryIndexes", [])}
        assert set(gsis) == {ix.name for ix in t.indexes}
        for ix in t.indexes:
            assert gsis[ix.name]["KeySchema"][0] == {"AttributeName": ix.hash_key, "KeyType": "HASH"}
            assert gsis[ix.name]["Projection"]["ProjectionType"] == ix.projection
            assert sorted(gsis[ix.name]["Projection"].get("NonKeyAttributes", [])) == sorted(ix.non_key_attributes)
        pitr = ddb.describe_continuous_backups(TableName=t.name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        assert (pitr["PointInTimeRecoveryStatus"], pitr["RecoveryPeriodInDays"]) == ("ENABLED", 35)
        ttl = ddb.describe_time_to_live(TableName=t.name)["TimeToLiveDescription"]
        if t.ttl_attribute:
            assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", t.ttl_attribute)
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"
        tags = {x["Key"]: x["Value"] for x in ddb.list_tags_of_resource(ResourceArn=desc["TableArn"])["Tags"]}
        assert tags == {**cfg.base_tags("dynamodb"), "Name": t.name}
        assert not desc.get("Replicas")  # replica_regions is empty by default
        assert not desc.get("StreamSpecification", {}).get("StreamEnabled")
    # TTL at least on sessions and cache (the issue), from config.
    assert _table(cfg, "fablink-prod-sessions").ttl_attribute and _table(cfg, "fablink-prod-cache").ttl_attribute


def test_reapply_makes_zero_writes_within_the_read_budget(aws, cfg, no_random_faults):
    counter = WriteCounter()
    provision(cfg, STAGES, hooks=counter.hooks)
    assert len(counter.names) == CLEAN_WRITES, counter.names
    ctx, changes = provision(cfg, STAGES)
    assert ctx.target.meter.writes == 0
    assert not pending(changes)
    # ListTables + 3 reads per table (no batch describe exists) + 3 for the
    # key + 1 tag index for the tags of all of them.
    assert ctx.target.meter.reads == 1 + 3 * 6 + 3 + 1, ctx.target.meter.summary()
    assert "dynamodb:ListTagsOfResource" not in ctx.target.meter.calls


# --------------------------------------------------------------------------
# crashes and throttling


# Changes run one at a time here (_serial), so a crash just before write k
# leaves AWS exactly as a crash just after write k-1 does: "before" is only
# distinct for the first write. Every crash point is covered, each once.
@at_every_write(CLEAN_WRITES, "{k}-{when}")
def test_crash_at_every_write_then_rerun_converges(aws, cfg, clean_state, k, after):
    cfg = _serial(cfg)
    crash = CrashAtWrite(k, after=after)
    with pytest.raises(SimulatedCrash):
        provision(cfg, STAGES, hooks=crash.hooks)
    provision(cfg, STAGES)
    state = dynamodb_inventory(REGION)
    assert state == clean_state, f"after a crash at write {k} ({crash.crashed_on}):\n{dump(state)}"
    _, changes = plan(cfg, STAGES)
    assert not pending(changes)


def test_throttling_is_retried_to_the_same_state(aws, cfg, clean_state):
    throttle = Throttle(every=3, code="ThrottlingException")
    provision(cfg, STAGES, hooks=throttle.hooks)
    assert throttle.throttled > 10
    assert dynamodb_inventory(REGION) == clean_state


class BackupsNotYetAvailable:
    """AWS refuses PITR on a table ACTIVE for only moments: the first
    UpdateContinuousBackups of each table fails as it does there."""

    def __init__(self):
        self.refused: set[str] = set()

    @property
    def hooks(self):
        return [("before-call.dynamodb.UpdateContinuousBackups", self._handler)]

    def _handler(self, params, **_):
        table = json.loads(params["body"])["TableName"]  # the serialised request
        if table in self.refused:
            return None
        self.refused.add(table)
        http = AWSResponse("https://dynamodb.invalid", 400, {}, None)
        return http, {"Error": {"Code": "ContinuousBackupsUnavailableException", "Message": "Backups are being enabled for the table"},
                      "ResponseMetadata": {"HTTPStatusCode": 400}}


def test_pitr_right_after_create_is_retried_until_aws_takes_it(aws, cfg, clean_state):
    refusal = BackupsNotYetAvailable()
    provision(cfg, STAGES, hooks=refusal.hooks)
    assert len(refusal.refused) == 6
    assert dynamodb_inventory(REGION) == clean_state


# --------------------------------------------------------------------------
# drift, immutable changes, additions


def test_drift_is_planned_as_updates_and_corrected(aws, cfg, clean_state):
    provision(cfg, STAGES)
    ddb = boto3.client("dynamodb", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    ddb.update_continuous_backups(TableName="fablink-prod-sessions", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    ddb.update_table(TableName="fablink-prod-cache", DeletionProtectionEnabled=False)
    ddb.update_continuous_backups(TableName="fablink-prod-analytics", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})
    ddb.update_time_to_live(TableName="fablink-prod-notifications", TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"})
    arn = ddb.describe_table(TableName="fablink-prod-ai-requests")["Table"]["TableArn"]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["Owner"])
    kms.disable_key_rotation(KeyId=kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"])

    _, changes = plan(cfg, STAGES)
    got = {c.key: (c.action, {d.attribute: (d.before, d.after) for d in c.diffs}) for c in pending(changes)}
    assert got == {
        "dynamodb-table:fablink-prod-sessions": (UPDATE, {"point-in-time recovery": ("DISABLED", "ENABLED"), "recovery period days": (None, 35)}),
        "dynamodb-table:fablink-prod-cache": (UPDATE, {"deletion protection": (False, True)}),
        "dynamodb-table:fablink-prod-analytics": (UPDATE, {"recovery period days": (7, 35)}),
        "dynamodb-table:fablink-prod-notifications": (UPDATE, {"ttl": (None, "expires_at")}),
        "dynamodb-table:fablink-prod-ai-requests": (UPDATE, {"tag Owner": (None, "platform-team")}),
        f"kms-key:{ALIAS}": (UPDATE, {"rotation": ("off", "on (yearly)")}),
    }
    provision(cfg, STAGES)
    assert dynamodb_inventory(REGION) == clean_state
    ctx, changes = provision(cfg, STAGES)
    assert ctx.target.meter.writes == 0 and not pending(changes)


def test_key_schema_change_is_replace_required_and_left_untouched(aws, cfg):
    provision(cfg, STAGES)
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.put_item(TableName="fablink-prod-cache", Item={"cache_key": {"S": "k1"}, "v": {"S": "kept"}})
    before = dynamodb_inventory(REGION)
    changed = _with_tables(
        cfg,
        **{
            "fablink-prod-cache": {"attributes": {"cache_id": "N"}, "hash_key": "cache_id"},
            # an index's projection cannot change either
            "fablink-prod-sessions": {"indexes": (DynamoIndex("user-sessions", "user_id", "expires_at", "ALL"),)},
        },
    )
    ctx, changes = provision(changed, STAGES)
    got = {c.key: c for c in pending(changes)}
    assert set(got) == {"dynamodb-table:fablink-prod-cache", "dynamodb-index:fablink-prod-sessions/user-sessions"}
    cache = got["dynamodb-table:fablink-prod-cache"]
    assert cache.action == REPLACE and cache.run is None
    assert [(d.attribute, d.before, d.after) for d in cache.diffs] == [("key", "cache_key (S)", "cache_id (N)")]
    index = got["dynamodb-index:fablink-prod-sessions/user-sessions"]
    assert index.action == REPLACE and [(d.attribute, d.before, d.after) for d in index.diffs] == [("projection", "KEYS_ONLY", "ALL")]
    assert ctx.target.meter.writes == 0
    assert dynamodb_inventory(REGION) == before
    assert ddb.get_item(TableName="fablink-prod-cache", Key={"cache_key": {"S": "k1"}})["Item"]["v"] == {"S": "kept"}


def test_indexes_added_in_place_one_after_the_other(aws, cfg, no_random_faults):
    provision(cfg, STAGES)
    t = _table(cfg, "fablink-prod-ai-requests")
    added = (
        DynamoIndex("status-created", "status", "created_at", "KEYS_ONLY"),
        DynamoIndex("by-model", "model", "", "INCLUDE", ("status",)),
    )
    changed = _with_tables(cfg, **{t.name: {
        "attributes": {**t.attributes, "status": "S", "model": "S"}, "indexes": t.indexes + added}})
    counter = WriteCounter()
    ctx, changes = provision(changed, STAGES, hooks=counter.hooks)
    creates = [c for c in changes if c.action == CREATE]
    assert [c.key for c in creates] == [f"dynamodb-index:{t.name}/status-created", f"dynamodb-index:{t.name}/by-model"]
    assert creates[1].needs[-1] == creates[0].key  # one index update at a time
    assert counter.names == ["UpdateTable", "UpdateTable"]
    desc = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=t.name)["Table"]
    gsis = {i["IndexName"]: i for i in desc["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"user-requests", "status-created", "by-model"}
    assert all(i["IndexStatus"] == "ACTIVE" for i in gsis.values())
    assert {a["AttributeName"] for a in desc["AttributeDefinitions"]} == {"request_id", "user_id", "created_at", "status", "model"}
    ctx, changes = provision(changed, STAGES)
    assert ctx.target.meter.writes == 0 and not pending(changes)


def test_unknown_tables_and_indexes_are_shown_and_left_alone(aws, cfg):
    provision(cfg, STAGES)
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(TableName="fablink-prod-legacy", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    ddb.update_table(TableName="fablink-prod-cache", AttributeDefinitions=[
        {"AttributeName": "cache_key", "AttributeType": "S"}, {"AttributeName": "owner", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    ctx, changes = provision(cfg, STAGES)
    assert {c.key: c.action for c in pending(changes)} == {
        "dynamodb-table:fablink-prod-legacy": UNMANAGED, "dynamodb-index:fablink-prod-cache/by-owner": UNMANAGED}
    assert ctx.target.meter.writes == 0
    assert "fablink-prod-legacy" in ddb.list_tables()["TableNames"]


# --------------------------------------------------------------------------
# the key


def test_a_key_pending_deletion_is_cancelled_and_enabled(aws, cfg, clean_state):
    provision(cfg, STAGES)
    kms = boto3.client("kms", region_name=REGION)
    kms.schedule_key_deletion(KeyId=kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"], PendingWindowInDays=7)
    _, changes = plan(cfg, STAGES)
    (key,) = pending(changes)
    assert (key.key, key.action, [(d.attribute, d.before, d.after) for d in key.diffs]) == (
        f"kms-key:{ALIAS}", UPDATE, [("state", "PendingDeletion", "Enabled")])
    provision(cfg, STAGES)
    assert dynamodb_inventory(REGION) == clean_state


def test_two_keys_tagged_for_the_alias_without_it_is_an_error_naming_both(aws, cfg):
    kms = boto3.client("kms", region_name=REGION)
    arns = [kms.create_key(Tags=[{"TagKey": "Alias", "TagValue": ALIAS}])["KeyMetadata"]["Arn"] for _ in range(2)]
    with pytest.raises(OpsError) as err:
        plan(cfg, STAGES)
    assert arns[0] in str(err.value) and arns[1] in str(err.value)


# --------------------------------------------------------------------------
# global tables


def test_replica_regions_in_the_sandbox_get_keys_and_streams_and_say_what_was_skipped(aws, cfg):
    cfg = dataclasses.replace(cfg, dynamodb=dataclasses.replace(cfg.dynamodb, replica_regions=("ap-northeast-1",)))
    ctx, changes = provision(cfg, STAGES)
    replicas = [c for c in changes if c.kind == "dynamodb-replica"]
    assert len(replicas) == 6 and all(c.action == SKIP and "moto" in c.note for c in replicas)
    assert {c.key: c.action for c in changes if c.kind == "kms-key"} == {
        f"kms-key:{ALIAS}": CREATE, f"kms-key:{ALIAS}@ap-northeast-1": CREATE}
    state = dynamodb_inventory(REGION, ("ap-northeast-1",))
    assert [(k[0], k[1], k[2], k[6]) for k in state["kms_keys"]] == [
        ("ap-northeast-1", ALIAS, "Enabled", True), (REGION, ALIAS, "Enabled", True)]
    assert all(t[8] == (True, "NEW_AND_OLD_IMAGES") for t in state["tables"])
    ctx, changes = provision(cfg, STAGES)
    assert ctx.target.meter.writes == 0


def _live_ctx(cfg, **kwargs) -> Context:
    target = Target("live", REGION, boto3.Session(region_name=REGION), retry=FAST_RETRY)
    return Context(cfg, target, sleep=lambda s: None, **kwargs)


def _desc(status="ACTIVE", indexes=(), replicas=(), stream=True) -> dict:
    table = {
        "TableName": "fablink-prod-ai-requests", "TableStatus": status,
        "TableArn": "arn:aws:dynamodb:ap-northeast-2:853963783084:table/fablink-prod-ai-requests",
        "AttributeDefinitions": [{"AttributeName": "request_id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "request_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": list(indexes), "Replicas": list(replicas),
    }
    if stream:
        table["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return {"Table": table}


def test_live_replica_is_created_with_its_regions_key_and_waited_for(cfg):
    cfg = dataclasses.replace(cfg, dynamodb=dataclasses.replace(cfg.dynamodb, replica_regions=("us-west-2",)))
    ctx = _live_ctx(cfg)
    key_arn = "arn:aws:kms:us-west-2:853963783084:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ctx.set_output(kms_key.output_key(ALIAS, "us-west-2"), key_arn)
    t = _table(cfg, "fablink-prod-ai-requests")
    change = dynamodb._replica(ctx, t, dynamodb.FoundTable(_desc()["Table"]), "us-west-2")
    assert change.action == CREATE and f"kms-key:{ALIAS}@us-west-2" in change.needs
    ddb = ctx.client("dynamodb")
    name = {"TableName": t.name}
    with Stubber(ddb.raw) as stub:
        stub.add_response("describe_table", _desc(), name)
        stub.add_response("update_table", {}, {**name, "ReplicaUpdates": [{"Create": {"RegionName": "us-west-2", "KMSMasterKeyId": key_arn}}]})
        stub.add_response("describe_table", _desc("UPDATING", replicas=[{"RegionName": "us-west-2", "ReplicaStatus": "CREATING", "ReplicaStatusPercentProgress": "40"}]), name)
        stub.add_response("describe_table", _desc(replicas=[{"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": key_arn}]), name)
        assert change.run() == "us-west-2"
        stub.assert_no_pending_responses()
    active = _desc(replicas=[{"RegionName": "us-west-2", "ReplicaStatus": "ACTIVE", "KMSMasterKeyId": key_arn}])["Table"]
    assert dynamodb._replica(ctx, t, dynamodb.FoundTable(active), "us-west-2").action == NOOP
    creating = _desc(replicas=[{"RegionName": "us-west-2", "ReplicaStatus": "CREATING"}])["Table"]
    assert dynamodb._replica(ctx, t, dynamodb.FoundTable(creating), "us-west-2").action == WAIT
    failed = _desc(replicas=[{"RegionName": "us-west-2", "ReplicaStatus": "CREATION_FAILED", "ReplicaStatusDescription": "KMS key not accessible"}])["Table"]
    broken = dynamodb._replica(ctx, t, dynamodb.FoundTable(failed), "us-west-2")
    assert broken.action == REPLACE and "KMS key not accessible" in broken.note


# --------------------------------------------------------------------------
# waits (moto is ACTIVE at once: modelled with the Stubber)


class Recorder:
    def __init__(self):
        self.events = []

    def applied(self, change, detail):
        pass

    def info(self, text):
        pass

    def warn(self, text):
        pass

    def wait_started(self, what, budget):
        self.events.append(("start", what, budget))
        return what

    def wait_progress(self, handle, status, elapsed):
        self.events.append(("progress", status))

    def wait_finished(self, handle, status, elapsed):
        self.events.append(("finished", status))


def test_an_added_index_is_waited_for_until_active_with_progress(cfg):
    recorder = Recorder()
    ctx = _live_ctx(cfg, reporter=recorder)
    t = _table(cfg, "fablink-prod-ai-requests")
    ix = t.indexes[0]
    change = dynamodb._index(ctx, t, dynamodb.FoundTable(_desc()["Table"]), ix)
    assert change.action == CREATE
    spec = {"IndexName": ix.name, "KeySchema": [{"AttributeName": "user_id", "KeyType": "HASH"}, {"AttributeName": "created_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status", "model"]}}
    creating = dict(spec, IndexStatus="CREATING", Backfilling=True)
    name = {"TableName": t.name}
    ddb = ctx.client("dynamodb")
    with Stubber(ddb.raw) as stub:
        stub.add_response("describe_table", _desc(), name)
        stub.add_response("update_table", {}, {**name, "AttributeDefinitions": [
            {"AttributeName": "created_at", "AttributeType": "S"}, {"AttributeName": "request_id", "AttributeType": "S"},
            {"AttributeName": "user_id", "AttributeType": "S"}], "GlobalSecondaryIndexUpdates": [{"Create": spec}]})
        stub.add_response("describe_table", _desc("UPDATING", indexes=[creating]), name)
        stub.add_response("describe_table", _desc("UPDATING", indexes=[creating]), name)
        stub.add_response("describe_table", _desc(indexes=[dict(spec, IndexStatus="ACTIVE")]), name)
        change.run()
        stub.assert_no_pending_responses()
    index_events = recorder.events[2:]  # after the table wait's start and finish
    assert index_events[0] == ("start", f"DynamoDB index {t.name}/{ix.name}", cfg.dynamodb.index_wait_minutes * 60)
    assert index_events[1:] == [("progress", "CREATING (backfilling)"), ("progress", "CREATING (backfilling)"), ("finished", "ACTIVE")]


def test_table_waits_fail_fast_on_an_unusable_key_and_stop_at_the_budget(cfg):
    ctx = _live_ctx(cfg)
    ddb = ctx.client("dynamodb")
    name = {"TableName": "fablink-prod-ai-requests"}
    with Stubber(ddb.raw) as stub:
        stub.add_response("describe_table", _desc("INACCESSIBLE_ENCRYPTION_CREDENTIALS"), name)
        with pytest.raises(AwsError, match="INACCESSIBLE_ENCRYPTION_CREDENTIALS: its KMS key is disabled"):
            dynamodb.wait_table(ctx, "fablink-prod-ai-requests")
    ticks = iter(range(0, 10_000, 400))  # each poll: 400 s later
    ctx = _live_ctx(cfg, clock=lambda: next(ticks))
    ddb = ctx.client("dynamodb")
    with Stubber(ddb.raw) as stub:
        for _ in range(3):
            stub.add_response("describe_table", _desc("CREATING"), name)
        with pytest.raises(AwsError, match=r"still CREATING after 800s \(budget 600s\): run the same command again"):
            dynamodb.wait_table(ctx, "fablink-prod-ai-requests")


# --------------------------------------------------------------------------
# bad config: one line naming the key, exit 2, no AWS call


TOML = CONFIG.read_text()
BAD = [
    ('name = "{prefix}-cache"', 'name = "fablink prod cache"', "dynamodb.tables[2].name"),
    ('name = "{prefix}-analytics"', 'name = "fablink-prod-cache"', "dynamodb.tables[5].name"),
    ('attributes = { cache_key = "S" }', 'attributes = { cache_key = "X" }', "dynamodb.tables[2].attributes.cache_key"),
    ('attributes = { cache_key = "S" }', 'attributes = { cache_key = "S", spare = "S" }', "dynamodb.tables[2].attributes.spare"),
    ('hash_key = "cache_key"', 'hash_key = "cache_id"', "dynamodb.tables[2].hash_key"),
    ('hash_key = "user_id", range_key = "expires_at"', 'hash_key = "uid", range_key = "expires_at"', "dynamodb.tables[0].indexes[0].hash_key"),
    ('range_key = "created_at", projection = "INCLUDE", non_key_attributes = ["status", "model"]',
     'range_key = "created_at", projection = "INCLUDE"', "dynamodb.tables[3].indexes[0].non_key_attributes"),
    ('projection = "KEYS_ONLY" }]', 'projection = "SOME" }]', "dynamodb.tables[0].indexes[0].projection"),
    ('name = "user-sessions"', 'name = "us"', "dynamodb.tables[0].indexes[0].name"),
    ('ttl_attribute = "expires_at"    # set by the app', 'ttl_attribute = "unread_at"    # set by the app', "dynamodb.tables[4].ttl_attribute"),
    ('ttl_attribute = "expires_at"    # set by the app', 'ttl_attribute = "expires at"    # set by the app', "dynamodb.tables[4].ttl_attribute"),
    ('ttl_attribute = "expires_at"    # set by the app', 'ttl_atribute = "expires_at"    # set by the app', "dynamodb.tables[4].ttl_atribute"),
    ("replica_regions = []", 'replica_regions = ["ap-northeast-2"]', "dynamodb.replica_regions[0]"),
    ("replica_regions = []", 'replica_regions = ["us-east-1", "us-east-1"]', "dynamodb.replica_regions[1]"),
    ("replica_regions = []", 'replica_regions = ["mars-east-1"]', "dynamodb.replica_regions[0]"),
    ("replica_regions = []", 'replica_regions = ["cn-north-1"]', "dynamodb.replica_regions[0]"),
    ("replica_regions = []", 'replica_regions = ["Tokyo"]', "dynamodb.replica_regions[0]"),
    ('billing_mode = "PAY_PER_REQUEST"', 'billing_mode = "PROVISIONED"', "dynamodb.billing_mode"),
    ("point_in_time_recovery = true", "point_in_time_recovery = false", "dynamodb.point_in_time_recovery"),
    # (the [aurora] section has a deletion_protection line too: this one is the table's)
    ('deletion_protection = true      # "Deletion Protection: Enabled"', 'deletion_protection = false      # "Deletion Protection: Enabled"', "dynamodb.deletion_protection"),
    ("recovery_period_days = 35", "recovery_period_days = 36", "dynamodb.recovery_period_days"),
    ('kms_key_alias = "alias/{prefix}-dynamodb"', 'kms_key_alias = "alias/aws/dynamodb"', "dynamodb.kms_key_alias"),
    ('kms_key_alias = "alias/{prefix}-dynamodb"', 'kms_key_alias = "fablink-prod-dynamodb"', "dynamodb.kms_key_alias"),
    ("table_wait_minutes = 10", "table_wait_minutes = 0", "dynamodb.table_wait_minutes"),
]


@pytest.mark.parametrize("old,new,key", BAD, ids=[b[2] + ":" + b[1][:24] for b in BAD])
def test_bad_dynamodb_config_is_one_line_naming_the_key_and_exit_2(tmp_path, capsys, old, new, key):
    assert TOML.count(old) == 1, old
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: {key}:"), message
    assert cli.run(cli.cmd_plan, cli.Options(config=str(path), stage="dynamodb")) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines == [f"error: {message}"]
    assert not Path(os.environ["FABLINK_SANDBOX_DIR"]).exists()  # no sandbox started: no AWS call


def test_a_table_still_creating_is_waited_for_then_completed(cfg):
    """A run interrupted while AWS was creating the table: the re-run waits,
    then sets what CreateTable could not (PITR)."""
    ctx = _live_ctx(cfg)
    key_arn = "arn:aws:kms:ap-northeast-2:853963783084:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ctx.set_output(kms_key.output_key(ALIAS, REGION), key_arn)
    t = _table(cfg, "fablink-prod-ai-requests")
    change = dynamodb._table(ctx, t, dynamodb.FoundTable(_desc("CREATING", stream=False)["Table"]))
    assert change.action == WAIT and change.needs == (f"kms-key:{ALIAS}",)

    def done(status):
        desc = _desc(status, stream=False)
        desc["Table"].update(BillingModeSummary={"BillingMode": "PAY_PER_REQUEST"}, DeletionProtectionEnabled=True,
                             SSEDescription={"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": key_arn},
                             AttributeDefinitions=[{"AttributeName": "request_id", "AttributeType": "S"}])
        return desc

    name = {"TableName": t.name}
    arn = done("ACTIVE")["Table"]["TableArn"]
    tags = [{"Key": k, "Value": v} for k, v in dynamodb.table_tags(cfg, t.name).items()]
    ddb = ctx.client("dynamodb")
    with Stubber(ddb.raw) as stub:
        stub.add_response("describe_table", done("CREATING"), name)
        stub.add_response("describe_table", done("ACTIVE"), name)
        stub.add_response("describe_table", done("ACTIVE"), name)
        stub.add_response("describe_continuous_backups", {"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}}, name)
        stub.add_response("describe_time_to_live", {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}, name)
        stub.add_response("list_tags_of_resource", {"Tags": tags}, {"ResourceArn": arn})
        stub.add_response("update_continuous_backups", {}, {**name, "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 35}})
        ctx.writing = True  # as apply sets it: a run reads tags from the table itself, not the tag index
        assert change.run() == arn
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("current,wanted,diff,disables,note", [
    ({"TimeToLiveStatus": "DISABLED"}, "expires_at", (None, "expires_at"), False, ""),
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}, "expires_at", None, None, ""),
    ({"TimeToLiveStatus": "ENABLING", "AttributeName": "expires_at"}, "expires_at", None, None, ""),
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}, "expires_at", ("ttl (ENABLED)", "expires_at"), True, "two runs an hour apart"),
    ({"TimeToLiveStatus": "DISABLING", "AttributeName": "ttl"}, "expires_at", ("ttl (DISABLING)", "expires_at"), None, "re-run later"),
    ({"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}, "", ("ttl (ENABLED)", None), True, ""),
])
def test_ttl_changes_respect_one_change_per_hour(cfg, current, wanted, diff, disables, note):
    t = dataclasses.replace(_table(cfg, "fablink-prod-cache"), ttl_attribute=wanted)
    ctx = _live_ctx(cfg)
    got_diff, step, got_note = dynamodb._ttl(ctx, t, current)
    assert (got_diff.before, got_diff.after) == diff if diff else got_diff is None
    assert note in got_note
    if disables is None:
        assert step is None
        return
    with Stubber(ctx.client("dynamodb").raw) as stub:
        attribute = current.get("AttributeName") if disables else wanted
        stub.add_response("update_time_to_live", {}, {"TableName": t.name, "TimeToLiveSpecification": {"Enabled": not disables, "AttributeName": attribute}})
        step()
        stub.assert_no_pending_responses()
