"""The DynamoDB stage: the six tables of the data tier, encrypted with our own
KMS key, recoverable (PITR), protected (deletion protection), global when
config lists replica regions.

Design doc: Databases, "DynamoDB tables"; Security ("Customer Managed KMS");
Traffic flow ("DynamoDB (Global Tables)"). Nothing here ever deletes a table,
an index or a replica, or turns PITR or deletion protection off: data outlives
every run. What cannot change in place (a table's or an index's key schema)
is reported as replace-required and never carried out.

Discovery: one paginated ListTables, then per desired table that exists
DescribeTable, DescribeContinuousBackups (PITR) and DescribeTimeToLive.
DynamoDB has no batch describe and neither setting is part of DescribeTable,
so three reads per table is the floor. Tags come from the tag index the
stages share (shared.py: one tag:GetResources), ListTagsOfResource only for a
table the index does not show fully tagged (it lags behind a new table by
seconds). The reads of different tables run concurrently. Plus the key: see
kms_key.py.

The stage needs nothing from the others (no network: DynamoDB is a regional
service reached through the network stage's gateway endpoint).

IAM the operator needs (live): dynamodb:ListTables, DescribeTable,
CreateTable, UpdateTable, DescribeContinuousBackups, UpdateContinuousBackups,
DescribeTimeToLive, UpdateTimeToLive, ListTagsOfResource, TagResource;
kms:ListAliases, DescribeKey, GetKeyRotationStatus, ListResourceTags,
CreateKey, CreateAlias, EnableKeyRotation, EnableKey, CancelKeyDeletion,
UpdateKeyDescription, TagResource, plus CreateGrant/Decrypt/GenerateDataKey on
the key (DynamoDB uses it through grants made as the caller); tag:GetResources.
With replicas also dynamodb:CreateTableReplica and, the first time,
iam:CreateServiceLinkedRole (AWSServiceRoleForDynamoDBReplication).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..config import Config, DynamoIndex, DynamoTable
from ..engine import CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Change, Context, Diff, change_key, wait_for
from ..errors import OpsError
from ..target import error_code
from . import kms_key, shared

NAME = "dynamodb"

TABLE, INDEX, REPLICA = "dynamodb-table", "dynamodb-index", "dynamodb-replica"
STREAM_VIEW = "NEW_AND_OLD_IMAGES"  # what global tables replicate from
# Table statuses: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TableDescription.html
READABLE = ("ACTIVE", "UPDATING")
TABLE_FAILED = {"DELETING", "ARCHIVING", "ARCHIVED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"}
REPLICA_FAILED = {"CREATION_FAILED", "DELETING", "REGION_DISABLED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS"}


def key_spec(cfg: Config) -> kms_key.KeySpec:
    tags = cfg.base_tags(NAME)
    tags["Name"] = cfg.dynamodb.kms_key_alias.removeprefix("alias/")
    return kms_key.KeySpec(NAME, cfg.dynamodb.kms_key_alias, cfg.dynamodb.kms_key_description, tags)


def table_tags(cfg: Config, name: str) -> dict[str, str]:
    tags = cfg.base_tags(NAME)
    tags["Name"] = name
    return tags


def table_output(name: str) -> str:
    return f"dynamodb-table-arn:{name}"


# --------------------------------------------------------------------------
# discovery


@dataclass
class FoundTable:
    table: dict  # DescribeTable's Table
    pitr: dict = field(default_factory=dict)  # PointInTimeRecoveryDescription
    ttl: dict = field(default_factory=dict)  # TimeToLiveDescription
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.table.get("TableStatus", "ACTIVE")


def read_table(ctx: Context, name: str) -> FoundTable | None:
    ddb = ctx.client("dynamodb")
    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None  # deleted between ListTables and now
        raise
    found = FoundTable(table)
    ctx.set_output(table_output(name), table["TableArn"])
    if found.status in READABLE:
        # A table still CREATING has no settings to read yet: its WAIT change
        # reads them once it is ACTIVE.
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        found.pitr = backups.get("PointInTimeRecoveryDescription", {})
        found.ttl = ddb.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        found.tags = shared.tags_of(
            ctx, table["TableArn"], table_tags(ctx.cfg, name),
            lambda: tagging.from_list(ddb.paginate("list_tags_of_resource", "Tags", ResourceArn=table["TableArn"])),
        )
    return found


def discover(ctx: Context) -> tuple[dict[str, FoundTable], list[str]]:
    """The desired tables that exist, and the unmanaged ones (our prefix, not in config)."""
    cfg = ctx.cfg
    existing = set(ctx.client("dynamodb").paginate("list_tables", "TableNames"))
    desired = [t.name for t in cfg.dynamodb.tables]
    present = [n for n in desired if n in existing]
    found: dict[str, FoundTable] = {}
    if present:
        with ThreadPoolExecutor(max_workers=max(1, min(cfg.engine.concurrency, len(present))), thread_name_prefix="ddb-read") as pool:
            for name, table in zip(present, pool.map(lambda n: read_table(ctx, n), present)):
                if table is not None:
                    found[name] = table
    prefix = f"{cfg.project.prefix}-"
    unmanaged = sorted(n for n in existing if n.startswith(prefix) and n not in desired)
    return found, unmanaged


# --------------------------------------------------------------------------
# the plan


def plan(ctx: Context) -> list[Change]:
    cfg = ctx.cfg
    spec = key_spec(cfg)
    regions = [cfg.project.region, *cfg.dynamodb.replica_regions]
    keys = [kms_key.discover(ctx, spec, region) for region in regions]
    found, unmanaged = discover(ctx)
    changes = [kms_key.change(ctx, spec, key) for key in keys]
    for table in cfg.dynamodb.tables:
        changes += _table_changes(ctx, table, found.get(table.name))
    for name in unmanaged:
        changes.append(_change(TABLE, name, UNMANAGED, note="not in config/prod.toml: shown, left alone"))
    return changes



def _change(kind: str, name: str, action: str, **kwargs: Any) -> Change:
    return Change(stage=NAME, kind=kind, name=name, action=action, **kwargs)


def _key_change(ctx: Context, region: str | None = None) -> str:
    cfg = ctx.cfg
    return kms_key.change_key(cfg.dynamodb.kms_key_alias, region or cfg.project.region, cfg.project.region)


def _key_arn_output(ctx: Context, region: str | None = None) -> str:
    return kms_key.output_key(ctx.cfg.dynamodb.kms_key_alias, region or ctx.cfg.project.region)


def _table_changes(ctx: Context, t: DynamoTable, f: FoundTable | None) -> list[Change]:
    """The table's change, then its indexes' and replicas' (one after the other:
    DynamoDB takes one index or replica update per table at a time)."""
    table = _table(ctx, t, f)
    changes = [table]
    if table.action == REPLACE:
        return changes  # nothing else is done to a table whose key is not ours
    if f is not None:
        changes += [_index(ctx, t, f, ix) for ix in t.indexes]
        ours = {ix.name for ix in t.indexes}
        for ix in f.table.get("GlobalSecondaryIndexes", []):
            if ix["IndexName"] not in ours:
                changes.append(_change(INDEX, f"{t.name}/{ix['IndexName']}", UNMANAGED, note="not in config/prod.toml: shown, left alone"))
    changes += [_replica(ctx, t, f, region) for region in ctx.cfg.dynamodb.replica_regions]
    if f is not None:
        wanted = set(ctx.cfg.dynamodb.replica_regions) | {ctx.cfg.project.region}
        for rep in f.table.get("Replicas", []):
            if rep["RegionName"] not in wanted:
                changes.append(_change(REPLICA, f"{t.name}@{rep['RegionName']}", UNMANAGED, note="not in config/prod.toml: shown, left alone (never deleted)"))
    # Serialise the table's own changes: each needs the one before it.
    for before, after in zip(changes, changes[1:]):
        after.needs = tuple(dict.fromkeys((*after.needs, before.key)))
    return changes


# ----- waits


def _budget(minutes: float) -> float:
    return minutes * 60


def wait_table(ctx: Context, name: str, key_being_fixed: bool = False) -> dict:
    """Until the table and all its indexes are ACTIVE. Returns the description.

    A table whose key is unusable (INACCESSIBLE_ENCRYPTION_CREDENTIALS) fails
    the wait at once, unless this run has just re-enabled the key
    (``key_being_fixed``): then the table recovers by itself, within minutes."""
    ddb = ctx.client("dynamodb")
    last: dict[str, dict] = {}

    def poll() -> tuple[str, str]:
        table = ddb.describe_table(TableName=name)["Table"]
        last["table"] = table
        status = table.get("TableStatus", "ACTIVE")
        if status == "INACCESSIBLE_ENCRYPTION_CREDENTIALS":
            return status, "its KMS key is disabled or its grants revoked: enable the key (see the kms-key change)"
        busy = [i for i in table.get("GlobalSecondaryIndexes", []) if i.get("IndexStatus", "ACTIVE") != "ACTIVE"]
        if status == "ACTIVE" and busy:
            return f"index {busy[0]['IndexName']} {busy[0].get('IndexStatus')}", ""
        return status, ""

    failed = TABLE_FAILED - {"INACCESSIBLE_ENCRYPTION_CREDENTIALS"} if key_being_fixed else TABLE_FAILED
    wait_for(ctx, f"DynamoDB table {name}", poll, {"ACTIVE"}, failed, _budget(ctx.cfg.dynamodb.table_wait_minutes))
    return last["table"]


def wait_index(ctx: Context, table: str, index: str) -> None:
    ddb = ctx.client("dynamodb")

    def poll() -> tuple[str, str]:
        desc = ddb.describe_table(TableName=table)["Table"]
        ix = next((i for i in desc.get("GlobalSecondaryIndexes", []) if i["IndexName"] == index), None)
        if ix is None:
            return "MISSING", "the index is gone (deleted outside this tool?)"
        status = ix.get("IndexStatus", "ACTIVE")
        if status == "CREATING" and ix.get("Backfilling"):
            return "CREATING (backfilling)", ""
        return status, ""

    wait_for(ctx, f"DynamoDB index {table}/{index}", poll, {"ACTIVE"}, {"DELETING", "MISSING"}, _budget(ctx.cfg.dynamodb.index_wait_minutes))


def wait_replica(ctx: Context, table: str, region: str) -> None:
    ddb = ctx.client("dynamodb")

    def poll() -> tuple[str, str]:
        desc = ddb.describe_table(TableName=table)["Table"]
        rep = next((r for r in desc.get("Replicas", []) if r["RegionName"] == region), None)
        if rep is None:
            return "PENDING", ""  # the update is accepted before the replica is listed
        status = rep.get("ReplicaStatus", "ACTIVE")
        if status == "ACTIVE" and desc.get("TableStatus") != "ACTIVE":
            return f"table {desc.get('TableStatus')}", ""
        progress = rep.get("ReplicaStatusPercentProgress")
        return (f"{status} {progress}%" if progress and status == "CREATING" else status), rep.get("ReplicaStatusDescription", "")

    wait_for(ctx, f"DynamoDB replica {table} in {region}", poll, {"ACTIVE"}, REPLICA_FAILED, _budget(ctx.cfg.dynamodb.replica_wait_minutes))


def update_table(ctx: Context, name: str, **kwargs: Any) -> None:
    """UpdateTable once the table is ACTIVE: AWS takes one update at a time
    and refuses another while the table is UPDATING."""
    wait_table(ctx, name)
    ctx.client("dynamodb").update_table(TableName=name, **kwargs)


# ----- tables


def _key_schema(hash_key: str, range_key: str) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _show_key(schema: list[dict], types: dict[str, str]) -> str:
    """session_id (S) or user_id (S) + activity_at (S): hash first."""
    ordered = sorted(schema, key=lambda k: k["KeyType"] != "HASH")
    return " + ".join(f"{k['AttributeName']} ({types.get(k['AttributeName'], '?')})" for k in ordered)


def _projection(ix: DynamoIndex) -> dict:
    projection: dict[str, Any] = {"ProjectionType": ix.projection}
    if ix.non_key_attributes:
        projection["NonKeyAttributes"] = list(ix.non_key_attributes)
    return projection


def _show_projection(projection: dict) -> str:
    kind = projection.get("ProjectionType", "?")
    extra = sorted(projection.get("NonKeyAttributes", []))
    return f"{kind} {', '.join(extra)}".strip() if extra else kind


def _index_spec(ix: DynamoIndex) -> dict:
    # On-demand: no ProvisionedThroughput (the index follows the table's mode).
    return {"IndexName": ix.name, "KeySchema": _key_schema(ix.hash_key, ix.range_key), "Projection": _projection(ix)}


def _attribute_definitions(types: dict[str, str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": types[n]} for n in sorted(types)]


def _create_args(ctx: Context, t: DynamoTable, key_arn: str) -> dict:
    dyn = ctx.cfg.dynamodb
    args: dict[str, Any] = {
        "TableName": t.name,
        "AttributeDefinitions": _attribute_definitions(t.attributes),
        "KeySchema": _key_schema(t.hash_key, t.range_key),
        "BillingMode": dyn.billing_mode,
        "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
        "DeletionProtectionEnabled": dyn.deletion_protection,
        "Tags": tagging.to_list(table_tags(ctx.cfg, t.name)),
    }
    if t.indexes:
        args["GlobalSecondaryIndexes"] = [_index_spec(ix) for ix in t.indexes]
    if dyn.replica_regions:
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": STREAM_VIEW}
    return args


def _table(ctx: Context, t: DynamoTable, f: FoundTable | None) -> Change:
    dyn = ctx.cfg.dynamodb
    needs = (_key_change(ctx),)
    if f is None:

        def create() -> str:
            ddb = ctx.client("dynamodb")
            try:
                ddb.create_table(**_create_args(ctx, t, ctx.output(_key_arn_output(ctx))))
            except ClientError as exc:  # created by a run whose answer was lost
                if error_code(exc) != "ResourceInUseException":
                    raise
            return _settle(ctx, t)

        key = ctx.outputs.get(_key_arn_output(ctx)) or dyn.kms_key_alias
        diffs = [
            Diff("key", None, _show_key(_key_schema(t.hash_key, t.range_key), t.attributes)),
            Diff("billing", None, dyn.billing_mode),
            Diff("encryption key", None, key),
            Diff("point-in-time recovery", None, f"ENABLED, {dyn.recovery_period_days} days"),
            Diff("deletion protection", None, dyn.deletion_protection),
        ]
        if t.ttl_attribute:
            diffs.append(Diff("ttl", None, t.ttl_attribute))
        diffs += [Diff(f"index {ix.name}", None, f"{_show_key(_key_schema(ix.hash_key, ix.range_key), t.attributes)}, {_show_projection(_projection(ix))}") for ix in t.indexes]
        if dyn.replica_regions:
            diffs.append(Diff("stream", None, STREAM_VIEW))
        return _change(TABLE, t.name, CREATE, diffs=diffs, needs=needs, run=create)
    desc = f.table
    arn = desc["TableArn"]
    if f.status in ("DELETING", "ARCHIVING", "ARCHIVED"):
        return _change(TABLE, t.name, REPLACE, resource_id=arn, diffs=[Diff("status", f.status, "ACTIVE")],
                       note=f"the table is {f.status}: restore it from its backups by hand; nothing was changed")
    immutable = _key_drift(t, desc)
    if immutable:
        return _change(TABLE, t.name, REPLACE, diffs=immutable, resource_id=arn,
                       note="a table's key schema cannot change: create a new table and migrate the data; nothing was changed")
    if f.status not in READABLE:  # CREATING, or INACCESSIBLE_ENCRYPTION_CREDENTIALS until the key is enabled
        inaccessible = f.status == "INACCESSIBLE_ENCRYPTION_CREDENTIALS"
        return _change(TABLE, t.name, WAIT, resource_id=arn, needs=needs, run=lambda: _settle(ctx, t, inaccessible),
                       note=f"{f.status}: apply waits for ACTIVE, then sets what is missing")
    diffs, steps, notes = _in_place(ctx, t, f)
    if not diffs:
        return _change(TABLE, t.name, NOOP, resource_id=arn, needs=needs)
    run = _steps(steps, arn) if steps else None
    return _change(TABLE, t.name, UPDATE, diffs=diffs, run=run, needs=needs, resource_id=arn, note="; ".join(notes))


def _steps(steps: list[Callable[[], Any]], detail: str) -> Callable[[], str]:
    def run() -> str:
        for step in steps:
            step()
        return detail

    return run


def _settle(ctx: Context, t: DynamoTable, key_being_fixed: bool = False) -> str:
    """After CreateTable (or finding the table not yet ACTIVE): wait for
    ACTIVE, read its settings, and set what CreateTable cannot (PITR, TTL)."""
    desc = wait_table(ctx, t.name, key_being_fixed)
    ctx.set_output(table_output(t.name), desc["TableArn"])
    found = read_table(ctx, t.name)
    if found is None:
        raise OpsError(f"DynamoDB table {t.name} disappeared while being created; re-run")
    drift = _key_drift(t, found.table)
    if drift:
        shown = "; ".join(f"{d.attribute}: {d.before} (wanted {d.after})" for d in drift)
        raise OpsError(f"DynamoDB table {t.name} exists with another key schema ({shown}): nothing was changed")
    _, steps, _ = _in_place(ctx, t, found)
    for step in steps:
        step()
    return desc["TableArn"]


def _key_drift(t: DynamoTable, desc: dict) -> list[Diff]:
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    current = _show_key(desc.get("KeySchema", []), types)
    wanted = _show_key(_key_schema(t.hash_key, t.range_key), t.attributes)
    return [Diff("key", current, wanted)] if current != wanted else []


def _in_place(ctx: Context, t: DynamoTable, f: FoundTable) -> tuple[list[Diff], list[Callable[[], Any]], list[str]]:
    """What differs and can be corrected on the live table, one step each."""
    dyn = ctx.cfg.dynamodb
    ddb = ctx.client("dynamodb")
    desc, name = f.table, t.name
    diffs: list[Diff] = []
    steps: list[Callable[[], Any]] = []
    notes: list[str] = []

    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if billing != dyn.billing_mode:
        diffs.append(Diff("billing", billing, dyn.billing_mode))
        steps.append(lambda: update_table(ctx, name, BillingMode=dyn.billing_mode))

    if bool(desc.get("DeletionProtectionEnabled")) != dyn.deletion_protection:
        diffs.append(Diff("deletion protection", bool(desc.get("DeletionProtectionEnabled")), dyn.deletion_protection))
        steps.append(lambda: update_table(ctx, name, DeletionProtectionEnabled=dyn.deletion_protection))

    sse = desc.get("SSEDescription") or {}
    current_key = sse.get("KMSMasterKeyArn") if sse.get("SSEType") == "KMS" and sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING") else None
    wanted_key = ctx.outputs.get(_key_arn_output(ctx))
    if current_key is None or current_key != wanted_key:
        # Changing the key re-encrypts in the background; the table stays
        # readable and writable throughout.
        diffs.append(Diff("encryption key", current_key or "an AWS owned key", wanted_key or dyn.kms_key_alias))
        steps.append(lambda: update_table(ctx, name, SSESpecification={
            "Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": ctx.output(_key_arn_output(ctx))}))

    if dyn.replica_regions:
        stream = desc.get("StreamSpecification") or {}
        if not stream.get("StreamEnabled"):
            diffs.append(Diff("stream", None, STREAM_VIEW))
            steps.append(lambda: update_table(ctx, name, StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW}))

    pitr_status = f.pitr.get("PointInTimeRecoveryStatus", "DISABLED")
    period = f.pitr.get("RecoveryPeriodInDays", 35) if pitr_status == "ENABLED" else None
    if pitr_status != "ENABLED" or period != dyn.recovery_period_days:
        if pitr_status != "ENABLED":
            diffs.append(Diff("point-in-time recovery", pitr_status, "ENABLED"))
        diffs.append(Diff("recovery period days", period, dyn.recovery_period_days))
        steps.append(lambda: ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": dyn.recovery_period_days}))

    ttl_diff, ttl_step, ttl_note = _ttl(ctx, t, f.ttl)
    if ttl_diff:
        diffs.append(ttl_diff)
    if ttl_step:
        steps.append(ttl_step)
    if ttl_note:
        notes.append(ttl_note)

    desired_tags = table_tags(ctx.cfg, name)
    todo = tagging.missing(f.tags, desired_tags)
    diffs += [Diff(f"tag {k}", f.tags.get(k), v) for k, v in sorted(todo.items())]
    if todo:
        steps.append(lambda: ddb.tag_resource(ResourceArn=desc["TableArn"], Tags=tagging.to_list(todo)))
    return diffs, steps, notes


def _ttl(ctx: Context, t: DynamoTable, current: dict) -> tuple[Diff | None, Callable[[], Any] | None, str]:
    """TTL: AWS takes one change per table per hour (UpdateTimeToLive), and
    renaming the attribute is two (disable the old, then enable the new)."""
    ddb = ctx.client("dynamodb")
    status = current.get("TimeToLiveStatus", "DISABLED")
    attr = current.get("AttributeName") or None
    wanted = t.ttl_attribute or None
    shown = f"{attr} ({status})" if attr and status != "DISABLED" else None

    def set_ttl(enabled: bool, attribute: str) -> Callable[[], Any]:
        return lambda: ddb.update_time_to_live(
            TableName=t.name, TimeToLiveSpecification={"Enabled": enabled, "AttributeName": attribute})

    if wanted is None:
        if status in ("ENABLED", "ENABLING") and attr:
            # Config names no TTL: stop automatic deletion of items by a TTL
            # set outside this tool.
            return Diff("ttl", shown, None), set_ttl(False, attr), ""
        return None, None, ""
    if status in ("ENABLED", "ENABLING") and attr == wanted:
        return None, None, ""
    if status == "DISABLED":
        return Diff("ttl", shown, wanted), set_ttl(True, wanted), ""
    if status == "ENABLED":  # on another attribute
        return (Diff("ttl", shown, wanted), set_ttl(False, attr or ""),
                f"TTL moves from {attr} to {wanted} in two runs an hour apart (AWS takes one TTL change per hour): this one disables {attr}")
    return Diff("ttl", shown, wanted), None, f"TTL is {status}; AWS takes one TTL change per hour: re-run later to set {wanted}"


# ----- indexes (added in place; never changed or removed)


def _index(ctx: Context, t: DynamoTable, f: FoundTable, ix: DynamoIndex) -> Change:
    name = f"{t.name}/{ix.name}"
    desc = f.table
    current = next((i for i in desc.get("GlobalSecondaryIndexes", []) if i["IndexName"] == ix.name), None)
    wanted_key = _show_key(_key_schema(ix.hash_key, ix.range_key), t.attributes)
    wanted_projection = _show_projection(_projection(ix))
    if current is None:

        def create() -> str:
            latest = wait_table(ctx, t.name)
            if not any(i["IndexName"] == ix.name for i in latest.get("GlobalSecondaryIndexes", [])):
                # Definitions for the new index's keys, plus the ones already
                # there (AWS wants the new keys; moto replaces the whole list).
                types = {a["AttributeName"]: a["AttributeType"] for a in latest.get("AttributeDefinitions", [])}
                for attr in (ix.hash_key, ix.range_key):
                    if attr:
                        types[attr] = t.attributes[attr]
                ctx.client("dynamodb").update_table(
                    TableName=t.name,
                    AttributeDefinitions=_attribute_definitions(types),
                    GlobalSecondaryIndexUpdates=[{"Create": _index_spec(ix)}],
                )
            wait_index(ctx, t.name, ix.name)
            return ix.name

        return _change(INDEX, name, CREATE, diffs=[Diff("key", None, wanted_key), Diff("projection", None, wanted_projection)],
                       needs=(f"{TABLE}:{t.name}",), run=create, note="added in place; the table stays available while it backfills")
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    current_key = _show_key(current.get("KeySchema", []), types)
    current_projection = _show_projection(current.get("Projection", {}))
    drift = [Diff(a, c, w) for a, c, w in (("key", current_key, wanted_key), ("projection", current_projection, wanted_projection)) if c != w]
    arn = current.get("IndexArn", "")
    if drift:
        return _change(INDEX, name, REPLACE, diffs=drift, resource_id=arn,
                       note="an index's key and projection cannot change: add one under a new name, move the readers, remove the old by hand; nothing was changed")
    status = current.get("IndexStatus", "ACTIVE")
    if status == "CREATING":
        return _change(INDEX, name, WAIT, resource_id=arn, needs=(f"{TABLE}:{t.name}",),
                       run=lambda: (wait_index(ctx, t.name, ix.name), ix.name)[1], note="being created (backfilling): apply waits")
    if status == "DELETING":
        return _change(INDEX, name, REPLACE, resource_id=arn, diffs=[Diff("status", status, "ACTIVE")],
                       note="being deleted outside this tool: re-run once it is gone to create it again")
    return _change(INDEX, name, NOOP, resource_id=arn)


# ----- replicas (global tables version 2019.11.21)


def _replica(ctx: Context, t: DynamoTable, f: FoundTable | None, region: str) -> Change:
    name = f"{t.name}@{region}"
    needs = (change_key(TABLE, t.name), _key_change(ctx, region))
    if not ctx.target.is_live:
        return _change(REPLICA, name, SKIP, note=(
            "the sandbox (moto 5.2) does not implement global table replicas: UpdateTable ReplicaUpdates is accepted "
            "and ignored, so nothing is created here; on live AWS the replica is created with its region's key"))
    current = None
    if f is not None:
        stream = f.table.get("StreamSpecification") or {}
        if stream.get("StreamEnabled") and stream.get("StreamViewType") != STREAM_VIEW:
            return _change(REPLICA, name, SKIP, note=(
                f"the table's stream is {stream.get('StreamViewType')}; a replica needs {STREAM_VIEW}, and changing it "
                "means disabling the stream its readers use: change it by hand, then re-run"))
        current = next((r for r in f.table.get("Replicas", []) if r["RegionName"] == region), None)
    ddb = ctx.client("dynamodb")
    key_out = _key_arn_output(ctx, region)

    def replica_update(action: str) -> Callable[[], str]:
        def run() -> str:
            latest = wait_table(ctx, t.name)
            listed = any(r["RegionName"] == region for r in latest.get("Replicas", []))
            if action == "Update" or not listed:
                ddb.update_table(TableName=t.name, ReplicaUpdates=[
                    {action: {"RegionName": region, "KMSMasterKeyId": ctx.output(key_out)}}])
            wait_replica(ctx, t.name, region)
            return region

        return run

    if current is None:
        return _change(REPLICA, name, CREATE, diffs=[Diff("replica", None, region), Diff("encryption key", None, f"{ctx.cfg.dynamodb.kms_key_alias} in {region}")],
                       needs=needs, run=replica_update("Create"))
    status = current.get("ReplicaStatus", "ACTIVE")
    if status in ("CREATING", "UPDATING"):
        return _change(REPLICA, name, WAIT, needs=needs, run=lambda: (wait_replica(ctx, t.name, region), region)[1],
                       note=f"{status}: apply waits")
    if status != "ACTIVE":
        return _change(REPLICA, name, REPLACE, diffs=[Diff("status", status, "ACTIVE")],
                       note=f"{current.get('ReplicaStatusDescription') or status}: fix or remove the replica by hand; nothing was changed")
    wanted = ctx.outputs.get(key_out)
    have = current.get("KMSMasterKeyId")
    if wanted and have and have.rsplit("/", 1)[-1] != wanted.rsplit("/", 1)[-1]:
        return _change(REPLICA, name, UPDATE, diffs=[Diff("encryption key", have, wanted)], needs=needs, run=replica_update("Update"))
    return _change(REPLICA, name, NOOP)
