"""Helpers the collectors share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, TypeVar

Piece = dict[str, Any]  # {inventory field: value} from one collector

T = TypeVar("T")
R = TypeVar("R")


def each(items: Iterable[T], fn: Callable[[T], R], workers: int = 4) -> list[R]:
    """fn over items, a few at once (per-resource reads such as DescribeTable), in order."""
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="collect-each") as pool:
        return list(pool.map(fn, items))


def utc(value: Any) -> datetime | None:
    """A datetime from boto3 (aware) or moto (sometimes naive), in UTC."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
