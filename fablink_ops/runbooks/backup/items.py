"""A restored table's items against its source's, by key.

- Up to [backup].exact_count_limit items (DescribeTable's ItemCount, refreshed
  only about every 6 hours, is the first hint; the scan itself is the proof):
  every key of both tables is read (a paginated Scan projecting the key
  attributes) and the two key sets compared: keys missing from the restored
  table, and keys the restored table has that the source no longer has.
- Above it: [backup].sample_size keys are sampled from each table, spread over
  the key space (parallel-scan segments at even intervals), and looked up in
  the other one (BatchGetItem, keys only).

The source keeps changing after the restore point (new sessions, expired cache
entries), so up to [backup].count_tolerance_percent of the compared keys may
differ. Differing keys appear in the evidence as the first 16 hex digits of
their SHA-256: enough to find them, without copying user ids into a report.

Scans read every item's full size in capacity units whatever the projection:
a 100,000-item table of 1 KB items costs about 12,500 read units a side on
demand (eventually consistent reads). Paid once per run, on two tables.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

from ...engine import Context
from ...errors import OpsError

BATCH_GET_MAX = 100  # keys per BatchGetItem
MAX_SEGMENTS = 1_000_000  # TotalSegments' maximum
SAMPLED_SEGMENTS = 10  # the sample is spread over this many parallel-scan segments
SHOWN = 5  # differing keys shown in the evidence, per direction


def key_digest(key: dict[str, Any]) -> str:
    canonical = json.dumps(key, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class ItemComparison:
    mode: str  # exact | sampled
    compared: int  # keys compared: the source's (exact) or both samples (sampled)
    missing: list[str] = field(default_factory=list)  # digests in the source, not in the restored table
    extra: list[str] = field(default_factory=list)  # in the restored table, not in the source
    source_items: int | None = None  # exact mode only
    restored_items: int | None = None
    tolerance_percent: float = 0.0

    @property
    def differing(self) -> int:
        return len(self.missing) + len(self.extra)

    @property
    def allowed(self) -> int:
        return math.floor(self.compared * self.tolerance_percent / 100)

    @property
    def ok(self) -> bool:
        return self.differing <= self.allowed

    def detail(self) -> str:
        if self.mode == "exact":
            head = f"exact: {self.source_items} items in the source, {self.restored_items} restored"
        else:
            head = f"sampled: {self.compared} keys looked up across the two tables (table above the exact-count limit)"
        parts = [f"{len(self.missing)} missing from the restored table", f"{len(self.extra)} only in the restored table"]
        for what, keys in (("missing", self.missing), ("extra", self.extra)):
            if keys:
                shown = ", ".join(keys[:SHOWN]) + (" …" if len(keys) > SHOWN else "")
                parts.append(f"{what} key digests: {shown}")
        verdict = f"{self.differing} differ, {self.allowed} allowed ({self.tolerance_percent:g}% of {self.compared})"
        return f"{head}; {'; '.join(parts)}; {verdict}"

    def facts(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "compared_keys": self.compared,
            "source_items": self.source_items,
            "restored_items": self.restored_items,
            "missing_from_restored": len(self.missing),
            "only_in_restored": len(self.extra),
            "missing_key_digests": self.missing[:SHOWN],
            "extra_key_digests": self.extra[:SHOWN],
            "allowed": self.allowed,
            "result": "pass" if self.ok else "fail",
        }


def _projection(key: tuple[str, ...]) -> dict[str, Any]:
    # Placeholders: a key attribute may be a reserved word (status, name, ...).
    names = {f"#k{i}": attr for i, attr in enumerate(key)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def _check_cancel(ctx: Context) -> None:
    if ctx.cancel.is_set():
        raise OpsError("interrupted while comparing items")


def scan_keys(ctx: Context, table: str, key: tuple[str, ...], limit: int) -> list[dict] | None:
    """Every key of ``table``; None as soon as there are more than ``limit``."""
    ddb = ctx.client("dynamodb")
    kwargs: dict[str, Any] = {"TableName": table, **_projection(key)}
    keys: list[dict] = []
    while True:
        _check_cancel(ctx)
        page = ddb.scan(**kwargs)
        keys.extend(page.get("Items", []))
        if len(keys) > limit:
            return None
        if "LastEvaluatedKey" not in page:
            return keys
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def sample_keys(ctx: Context, table: str, key: tuple[str, ...], n: int, estimate: int) -> list[dict]:
    """About ``n`` keys spread over the key space: the first keys of
    SAMPLED_SEGMENTS parallel-scan segments at even intervals, the segment
    count chosen so each segment holds about as many items as it gives."""
    ddb = ctx.client("dynamodb")
    k = max(1, min(SAMPLED_SEGMENTS, n))
    per = math.ceil(n / k)
    total = max(k, min(MAX_SEGMENTS, estimate // per))
    keys: list[dict] = []
    for segment in sorted({i * total // k for i in range(k)}):
        kwargs: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": total, "Limit": per, **_projection(key)}
        got: list[dict] = []
        while len(got) < per:
            _check_cancel(ctx)
            page = ddb.scan(**kwargs)
            got.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            kwargs["Limit"] = per - len(got)
        keys.extend(got[:per])
    return keys[:n]


def found(ctx: Context, table: str, keys: list[dict], key: tuple[str, ...]) -> set[str]:
    """Digests of those ``keys`` that exist in ``table``."""
    ddb = ctx.client("dynamodb")
    present: set[str] = set()
    for i in range(0, len(keys), BATCH_GET_MAX):
        request: dict[str, Any] = {table: {"Keys": keys[i:i + BATCH_GET_MAX], **_projection(key)}}
        # UnprocessedKeys is an answer, not an error: AWS asks to send them
        # again with backoff (the SDK does not). Bounded, like every retry here.
        for attempt in range(8):
            _check_cancel(ctx)
            page = ddb.batch_get_item(RequestItems=request)
            present.update(key_digest(item) for item in page.get("Responses", {}).get(table, []))
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(2.0, 0.05 * 2 ** attempt))  # real time: this runs in a worker thread
        else:
            raise OpsError(f"BatchGetItem on {table} kept returning unprocessed keys")
    return present


def compare(ctx: Context, source: str, restored: str, key: tuple[str, ...], item_count_hint: int) -> ItemComparison:
    cfg = ctx.cfg.backup
    limit = cfg.exact_count_limit
    if item_count_hint <= limit:
        src_keys = scan_keys(ctx, source, key, limit)
        tmp_keys = scan_keys(ctx, restored, key, limit) if src_keys is not None else None
        if src_keys is not None and tmp_keys is not None:
            src = {key_digest(k) for k in src_keys}
            tmp = {key_digest(k) for k in tmp_keys}
            return ItemComparison(
                "exact", compared=len(src), missing=sorted(src - tmp), extra=sorted(tmp - src),
                source_items=len(src), restored_items=len(tmp), tolerance_percent=cfg.count_tolerance_percent,
            )
    estimate = max(item_count_hint, limit + 1)
    src_sample = sample_keys(ctx, source, key, cfg.sample_size, estimate)
    tmp_sample = sample_keys(ctx, restored, key, cfg.sample_size, estimate)
    in_restored = found(ctx, restored, src_sample, key)
    in_source = found(ctx, source, tmp_sample, key)
    missing = sorted({key_digest(k) for k in src_sample} - in_restored)
    extra = sorted({key_digest(k) for k in tmp_sample} - in_source)
    return ItemComparison("sampled", compared=len(src_sample) + len(tmp_sample), missing=missing, extra=extra,
                          tolerance_percent=cfg.count_tolerance_percent)
