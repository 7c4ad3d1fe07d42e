"""A copy of moto's in-process AWS, taken once and put back before each test
that needs that state: the prerequisite stages provisioned once per test
process instead of once per test (or per crash point).

moto 5.2 keeps every service's state in ``BackendDict``s (service -> account
-> region -> backend object); ``BackendDict._instances`` lists those in use,
and mock_aws's start/stop clear them. ``take()`` deep-copies every backend in
use (one copy, so objects that point at each other across services still do);
``restore()`` puts a fresh deep copy of it in place of whatever moto holds
now: what a test writes after a restore never reaches the snapshot, and the
next restore starts from the same state again (test_snapshot.py proves it).

Only moto's backends are copied: a Target's or the fidelity layer's state is
not (a restored state looks like one provisioned by another process).
Take and restore with no request in flight (between runs).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock


@dataclass(frozen=True)
class Snapshot:
    """The BackendDicts in use and, for each, account -> region -> a private
    copy of its backend (never handed out: restore copies it again)."""

    dicts: tuple[BackendDict, ...]
    state: tuple[dict[str, dict[str, Any]], ...]

    def services(self) -> list[str]:
        return sorted(d.service_name for d in self.dicts)


def _deep_copy(state: Any, dicts: tuple[BackendDict, ...]) -> Any:
    # A model holding a BackendDict itself (not a backend from it) keeps the
    # live one: the BackendDicts are moto's module-level registries.
    memo = {id(d): d for d in dicts}
    memo.update({id(d): d for d in BackendDict._instances})
    return copy.deepcopy(state, memo)


def take() -> Snapshot:
    """Moto's state now, under mock_aws (or own_moto), between runs."""
    with backend_lock:
        dicts = tuple(BackendDict._instances)
        live = tuple({account: dict(regions.items()) for account, regions in d.items()} for d in dicts)
        return Snapshot(dicts, _deep_copy(live, dicts))


def restore(snapshot: Snapshot) -> None:
    """Moto's state becomes a fresh copy of ``snapshot``: everything moto held
    before (in any service) is dropped. Under an active mock_aws."""
    fresh = _deep_copy(snapshot.state, snapshot.dicts)
    with backend_lock:
        for d in BackendDict._instances:
            d.clear()
        BackendDict._instances.clear()
        for d, accounts in zip(snapshot.dicts, fresh):
            for account, regions in accounts.items():
                d._create_account_specific_backend(account)  # registers d in _instances
                per_account = dict.__getitem__(d, account)
                for region, backend in regions.items():
                    dict.__setitem__(per_account, region, backend)
