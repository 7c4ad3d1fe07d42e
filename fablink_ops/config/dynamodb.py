"""[dynamodb]: the tables, their indexes, encryption and replicas."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import KMS_ALIAS, REGION, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


DYNAMODB_TABLE_NAME = _pattern(r"[A-Za-z0-9_.-]{3,255}", 255, "DynamoDB table name")
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
DYNAMODB_INDEX_NAME = _pattern(r"[A-Za-z0-9_.-]{3,255}", 255, "DynamoDB index name")
# Key attribute names are 1-255 bytes; we keep to printable ASCII without spaces
# so the names read the same in every SDK and expression.
DYNAMODB_ATTRIBUTE = _pattern(r"[A-Za-z0-9_.\-#:]+", 255, "DynamoDB attribute name")


def _on_demand_only(value: str) -> str | None:
    if value == "PAY_PER_REQUEST":
        return None
    return (
        f"{value!r}: only PAY_PER_REQUEST (on demand) is supported; provisioned mode would need "
        "Auto Scaling (design doc), which this tool does not build"
    )


@dataclass(frozen=True)
class DynamoIndex:
    """A global secondary index. Keys name attributes of the table's ``attributes``."""

    name: str = check(DYNAMODB_INDEX_NAME)
    hash_key: str = check(DYNAMODB_ATTRIBUTE)
    range_key: str = ""
    projection: str = check(_one_of("KEYS_ONLY", "INCLUDE", "ALL"), default="KEYS_ONLY")
    non_key_attributes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DynamoTable:
    """One table. ``attributes`` maps every key attribute (table and indexes) to
    its type, as AttributeDefinitions does: S string, N number, B binary."""

    name: str = check(DYNAMODB_TABLE_NAME)
    attributes: dict[str, str]
    hash_key: str = check(DYNAMODB_ATTRIBUTE)
    range_key: str = ""
    ttl_attribute: str = ""
    indexes: tuple[DynamoIndex, ...] = ()


@dataclass(frozen=True)
class DynamoDBConfig:
    """Design doc: Databases, DynamoDB tables; Security ("Customer Managed KMS")."""

    billing_mode: str = check(_on_demand_only)
    point_in_time_recovery: bool
    recovery_period_days: int
    deletion_protection: bool
    kms_key_alias: str = check(KMS_ALIAS)
    kms_key_description: str
    table_wait_minutes: float = check(_positive)
    index_wait_minutes: float = check(_positive)
    replica_wait_minutes: float = check(_positive)
    tables: tuple[DynamoTable, ...]
    replica_regions: tuple[str, ...] = ()


# Limits from https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
DYNAMODB_MAX_GSIS = 20  # global secondary indexes per table (default quota)
DYNAMODB_MAX_PROJECTED = 100  # non-key attributes projected, over all indexes of a table
DYNAMODB_TYPES = ("S", "N", "B")  # key attributes are scalar: string, number, binary


@functools.lru_cache(maxsize=8)
def dynamodb_regions(region: str) -> tuple[str, ...]:
    """The regions of ``region``'s partition that offer DynamoDB, from the
    SDK's own endpoint data (offline: no AWS call, and no profile or AWS
    config file read: a botocore Session would). Opt-in regions are listed
    too; AWS refuses a replica there until the account has enabled it."""
    from botocore.loaders import create_loader
    from botocore.regions import EndpointResolver

    resolver = EndpointResolver(create_loader().load_data("endpoints"))
    return tuple(resolver.get_available_endpoints("dynamodb", resolver.get_partition_for_region(region)))


def _validate_dynamodb(cfg: Config) -> None:
    file, ddb = cfg.path, cfg.dynamodb
    if not ddb.point_in_time_recovery:
        raise _fail(file, "dynamodb.point_in_time_recovery",
                    "must be true (design doc: \"Point-in-time Recovery: Enabled\"); this tool never turns it off")
    if not ddb.deletion_protection and cfg.project.production:
        # A non-production environment (project.production = false) may turn
        # it off, so that `invoke destroy` can delete it.
        raise _fail(file, "dynamodb.deletion_protection",
                    "must be true in production (design doc: \"Deletion Protection: Enabled\"); this tool never turns it off")
    if not 1 <= ddb.recovery_period_days <= 35:
        raise _fail(file, "dynamodb.recovery_period_days", f"{ddb.recovery_period_days}: AWS allows 1 to 35 days")
    if ddb.kms_key_alias.startswith("alias/aws/"):
        raise _fail(file, "dynamodb.kms_key_alias", f"{ddb.kms_key_alias}: alias/aws/ is reserved for AWS managed keys")
    if not ddb.kms_key_description or len(ddb.kms_key_description) > 8192:
        raise _fail(file, "dynamodb.kms_key_description", "give a description of 1 to 8192 characters")
    home = cfg.project.region
    known = dynamodb_regions(home)
    for i, region in enumerate(ddb.replica_regions):
        key = f"dynamodb.replica_regions[{i}]"
        problem = REGION(region)
        if problem:
            raise _fail(file, key, problem)
        if region == home:
            raise _fail(file, key, f"{region} is the home region (project.region); a replica goes to another region")
        if region not in known:
            raise _fail(file, key, f"{region!r} is not a region where DynamoDB is offered in {home}'s partition")
        if region in ddb.replica_regions[:i]:
            raise _fail(file, key, f"{region} is listed twice")
    if not ddb.tables:
        raise _fail(file, "dynamodb.tables", "at least one table is required")
    names = [t.name for t in ddb.tables]
    for i, table in enumerate(ddb.tables):
        _validate_table(file, f"dynamodb.tables[{i}]", table, names[:i])


def _validate_table(file: str, key: str, table: DynamoTable, earlier: list[str]) -> None:
    if table.name in earlier:
        raise _fail(file, f"{key}.name", f"table {table.name} is listed twice")
    if not table.attributes:
        raise _fail(file, f"{key}.attributes", "list the key attributes with their types (S, N or B)")
    for attr, kind in table.attributes.items():
        problem = DYNAMODB_ATTRIBUTE(attr)
        if problem:
            raise _fail(file, f"{key}.attributes.{attr}", problem)
        if kind not in DYNAMODB_TYPES:
            raise _fail(file, f"{key}.attributes.{attr}",
                        f"{kind!r} is not a key attribute type: S (string), N (number) or B (binary)")

    def defined(sub: str, attr: str) -> None:
        if attr not in table.attributes:
            raise _fail(file, f"{key}.{sub}", f"{attr!r} is not defined in {key}.attributes")

    defined("hash_key", table.hash_key)
    used = {table.hash_key}
    if table.range_key:
        defined("range_key", table.range_key)
        if table.range_key == table.hash_key:
            raise _fail(file, f"{key}.range_key", "the range key must differ from the hash key")
        used.add(table.range_key)
    if len(table.indexes) > DYNAMODB_MAX_GSIS:
        raise _fail(file, f"{key}.indexes", f"{len(table.indexes)} indexes: a table has at most {DYNAMODB_MAX_GSIS}")
    index_names = [ix.name for ix in table.indexes]
    projected = 0
    for j, ix in enumerate(table.indexes):
        ikey = f"indexes[{j}]"
        if ix.name in index_names[:j]:
            raise _fail(file, f"{key}.{ikey}.name", f"index {ix.name} is listed twice")
        defined(f"{ikey}.hash_key", ix.hash_key)
        used.add(ix.hash_key)
        if ix.range_key:
            defined(f"{ikey}.range_key", ix.range_key)
            if ix.range_key == ix.hash_key:
                raise _fail(file, f"{key}.{ikey}.range_key", "the range key must differ from the hash key")
            used.add(ix.range_key)
        if ix.projection == "INCLUDE" and not ix.non_key_attributes:
            raise _fail(file, f"{key}.{ikey}.non_key_attributes", "projection INCLUDE needs the attributes to include")
        if ix.projection != "INCLUDE" and ix.non_key_attributes:
            raise _fail(file, f"{key}.{ikey}.non_key_attributes", f"only projection INCLUDE takes attributes, not {ix.projection}")
        for n, attr in enumerate(ix.non_key_attributes):
            problem = DYNAMODB_ATTRIBUTE(attr)
            if problem:
                raise _fail(file, f"{key}.{ikey}.non_key_attributes[{n}]", problem)
            if attr in table.attributes:
                raise _fail(file, f"{key}.{ikey}.non_key_attributes[{n}]", f"{attr!r} is a key attribute: key attributes are always projected")
        projected += len(ix.non_key_attributes)
    if projected > DYNAMODB_MAX_PROJECTED:
        raise _fail(file, f"{key}.indexes", f"{projected} projected attributes: at most {DYNAMODB_MAX_PROJECTED} over all indexes of a table")
    # AWS refuses an AttributeDefinitions entry that no key uses.
    for attr in table.attributes:
        if attr not in used:
            raise _fail(file, f"{key}.attributes.{attr}", "not used by the table's or an index's key (AWS refuses unused definitions)")
    if table.ttl_attribute:
        problem = DYNAMODB_ATTRIBUTE(table.ttl_attribute)
        if problem:
            raise _fail(file, f"{key}.ttl_attribute", problem)
        kind = table.attributes.get(table.ttl_attribute)
        if kind is not None and kind != "N":
            raise _fail(file, f"{key}.ttl_attribute",
                        f"{table.ttl_attribute!r} is a key of type {kind}: TTL reads epoch seconds from a Number (N)")
