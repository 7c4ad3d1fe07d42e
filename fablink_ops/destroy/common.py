"""What every destroy area shares: the record of one resource to delete, the
ownership test, and the two idioms of a re-runnable delete (already gone is
done; wait until gone, bounded).

Ownership is by tags only (DESIGN.md principle 9): a resource is this
environment's when it carries ManagedBy=fablink-ops and this config's Project
and Environment. A resource with our name and another environment's tags is
never a candidate, whatever its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from ..engine import Context, wait_for
from ..target import error_code

GONE = "gone"


@dataclass
class Doomed:
    """One resource `invoke destroy` deletes.

    ``step`` orders the deletes within a stage (AWS's dependency order):
    every delete of one step is issued, then their waits run, then the next
    step starts, so waits of one step overlap (three NAT gateways take the
    time of one).
    """

    stage: str
    kind: str
    name: str
    id: str
    step: int
    delete: Callable[[], None]
    wait: Callable[[], None] | None = None
    data: str = ""  # a data store: what becomes of its data (the plan calls it out)
    protected: str = ""  # deletion protection that is on: destroy refuses
    keep: str = ""  # ours, kept on purpose (the reason): listed as kept, not an error
    blocked: str = ""  # ours, but cannot go yet (the reason): not attempted, listed as left

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "kind": self.kind, "name": self.name, "id": self.id}
        for key in ("data", "protected", "keep", "blocked"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


def owned(ctx: Context, tags: dict[str, str]) -> bool:
    p = ctx.cfg.project
    return tags.get("ManagedBy") == "fablink-ops" and tags.get("Project") == p.name and tags.get("Environment") == p.environment


def ec2_filters(ctx: Context) -> list[dict[str, Any]]:
    """Server-side tag filters: EC2 describes return only this environment's resources."""
    p = ctx.cfg.project
    return [
        {"Name": "tag:ManagedBy", "Values": ["fablink-ops"]},
        {"Name": "tag:Project", "Values": [p.name]},
        {"Name": "tag:Environment", "Values": [p.environment]},
    ]


def tag_filters(ctx: Context) -> list[dict[str, Any]]:
    """The same, for the Resource Groups Tagging API (tag:GetResources)."""
    p = ctx.cfg.project
    return [{"Key": "ManagedBy", "Values": ["fablink-ops"]}, {"Key": "Project", "Values": [p.name]},
            {"Key": "Environment", "Values": [p.environment]}]


def name_tag(tags: dict[str, str], default: str) -> str:
    return tags.get("Name") or default


def gone(call: Callable[[], Any], *codes: str) -> bool:
    """Run a delete; an error code of ``codes`` (NotFound and friends) means a
    crashed run already deleted it: done, not an error. True when it deleted."""
    try:
        call()
        return True
    except ClientError as exc:
        if error_code(exc) in codes:
            return False
        raise


def wait_gone(ctx: Context, what: str, status: Callable[[], str], failed: set[str] | None = None) -> None:
    """Poll ``status`` (GONE once AWS no longer has it) within [destroy].wait_minutes."""
    wait_for(ctx, f"{what} to be deleted", lambda: (status(), ""), {GONE}, failed or set(),
             ctx.cfg.destroy.wait_minutes * 60, interval=2.0)


def status_or_gone(read: Callable[[], str], *codes: str) -> str:
    try:
        return read()
    except ClientError as exc:
        if error_code(exc) in codes:
            return GONE
        raise


def retry_in_use(ctx: Context, what: str, delete: Callable[[], Any], codes: tuple[str, ...] = ("DependencyViolation",)) -> Callable[[], None]:
    """A delete AWS refuses while something else still holds the resource:
    another service's network interfaces in a subnet or group (for minutes
    after their owner is gone), a certificate the deleted custom domain
    released, a target group the deleted NLB released. Retried within
    [destroy].wait_minutes, shown as a wait only when it is refused."""

    def attempt() -> tuple[str, str]:
        try:
            delete()
            return GONE, ""
        except ClientError as exc:
            if error_code(exc) in codes:
                return f"in use ({error_code(exc)})", str(exc)
            raise

    def run() -> None:
        if attempt()[0] != GONE:
            wait_for(ctx, f"{what} to be deletable", attempt, {GONE}, set(), ctx.cfg.destroy.wait_minutes * 60, interval=5.0)

    return run
