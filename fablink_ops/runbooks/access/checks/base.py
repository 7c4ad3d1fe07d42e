"""What a check is, what it is given, and what it finds."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable

from ....config import AccessConfig, Suppression
from ..models import Inventory

OPEN = "open"
SUPPRESSED = "suppressed"

# (resource ARN or id, what is wrong in one line, how to fix it in one line)
Hit = tuple[str, str, str]


@dataclass(frozen=True)
class Settings:
    """What the checks compare against: config thresholds, the account, and the moment of the review."""

    access: AccessConfig
    log_retention_days: int
    account: str
    now: datetime

    def days_since(self, moment: datetime) -> int:
        return max(0, (self.now - moment).days)


@dataclass(frozen=True)
class Check:
    id: str  # stable: suppressions and evidence name it
    severity: str
    title: str  # what it looks for, in a few words
    run: Callable[[Inventory, Settings], Iterable[Hit]]
    # Areas (models.Gap.area) without which the check cannot be evaluated here.
    requires: tuple[str, ...] = ()


@dataclass
class Finding:
    check: str
    severity: str
    resource: str
    problem: str
    fix: str
    status: str = OPEN
    suppression: Suppression | None = None  # the active suppression (status suppressed)
    expired: Suppression | None = None  # a suppression that matched but has expired (status open)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "severity": self.severity,
            "resource": self.resource,
            "problem": self.problem,
            "fix": self.fix,
            "status": self.status,
        }
        if self.suppression is not None:
            out["suppressed"] = {"reason": self.suppression.reason, "expires": self.suppression.expires.isoformat()}
        if self.expired is not None:
            out["suppression_expired"] = {"reason": self.expired.reason, "expired": self.expired.expires.isoformat()}
        return out


# --------------------------------------------------------------------------
# helpers shared by the check modules


def day(moment: datetime | date) -> str:
    return moment.strftime("%Y-%m-%d")


def is_world(cidr: str) -> bool:
    """0.0.0.0/0 or ::/0 (any prefix length 0)."""
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def within(cidr: str, blocks: Iterable[str]) -> bool:
    """``cidr`` lies inside one of ``blocks`` (same IP version)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    for block in blocks:
        try:
            outer = ipaddress.ip_network(block, strict=False)
        except ValueError:
            continue
        if outer.version == net.version and net.subnet_of(outer):  # type: ignore[arg-type]
            return True
    return False
