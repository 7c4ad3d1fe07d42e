"""The Aurora cluster as the drill sees it, and the drill's lock on it.

``describe_cluster`` reads the cluster by its identifier (two calls: the
cluster, then its instances in one filtered describe) into a small model.
The lock is one tag on the cluster, ``fablink-ops:drill-lock = <drill id>
until <UTC expiry>``: it needs no table or state file, shows in the console
next to the cluster, and expires by itself when a drill is killed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from ..engine import Context
from ..errors import OpsError
from ..report import FAILED_STEP, OK, SKIPPED, Aborted, Report, iso
from ..target import error_code, wrap_aws_error

LOCK_TAG = "fablink-ops:drill-lock"
AVAILABLE = "available"

# --------------------------------------------------------------------------
# what the drill sees of the cluster


@dataclass(frozen=True)
class Member:
    id: str
    az: str
    status: str
    writer: bool
    tier: int

    def label(self) -> str:
        return f"{self.id} ({self.az}, tier {self.tier})"


@dataclass(frozen=True)
class ClusterView:
    id: str
    arn: str
    status: str
    endpoint: str
    port: int
    members: tuple[Member, ...]
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def writer(self) -> Member | None:
        """The one member reported as writer; None while there is none (mid-failover)."""
        writers = [m for m in self.members if m.writer]
        return writers[0] if len(writers) == 1 else None

    def member(self, instance_id: str) -> Member | None:
        return next((m for m in self.members if m.id == instance_id), None)

    @property
    def not_available(self) -> list[Member]:
        return [m for m in self.members if m.status != AVAILABLE]

    @property
    def full_strength(self) -> bool:
        return self.status == AVAILABLE and not self.not_available and self.writer is not None


Describe = Callable[[], "ClusterView | None"]


def describe_cluster(ctx: Context, name: str) -> ClusterView | None:
    """Two calls: the cluster (members, writer flag, tiers, tags) and its
    instances (AZ, status) in one filtered describe. None if it does not exist."""
    rds = ctx.client("rds")
    try:
        cluster = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    except ClientError as exc:
        if error_code(exc) == "DBClusterNotFoundFault":
            return None
        raise
    # The filter takes an identifier or an ARN on AWS; moto matches identifiers only.
    instances = rds.paginate(
        "describe_db_instances", "DBInstances", Filters=[{"Name": "db-cluster-id", "Values": [cluster["DBClusterIdentifier"]]}]
    )
    by_id = {i["DBInstanceIdentifier"]: i for i in instances}
    members = []
    for m in cluster.get("DBClusterMembers", []):
        inst = by_id.get(m["DBInstanceIdentifier"], {})
        members.append(
            Member(
                id=m["DBInstanceIdentifier"],
                az=inst.get("AvailabilityZone", "unknown"),
                # a member the instance describe did not list yet (just created, or
                # being deleted) is not available as far as the drill is concerned
                status=inst.get("DBInstanceStatus", "unknown"),
                writer=bool(m.get("IsClusterWriter")),
                tier=int(m.get("PromotionTier", inst.get("PromotionTier", 15))),
            )
        )
    return ClusterView(
        id=cluster["DBClusterIdentifier"],
        arn=cluster["DBClusterArn"],
        status=cluster.get("Status", "unknown"),
        endpoint=cluster.get("Endpoint", ""),
        port=int(cluster.get("Port") or 5432),
        members=tuple(sorted(members, key=lambda m: m.id)),
        tags={t["Key"]: t.get("Value", "") for t in cluster.get("TagList", [])},
    )


def choose_target(view: ClusterView, to: str | None) -> tuple[Member | None, str]:
    """The instance to promote, or None and why not.

    By default the available reader in another AZ with the best (lowest)
    promotion tier, ties broken by name so the choice is repeatable. That is
    the instance Aurora itself would promote first, in the AZ that proves the
    cluster survives losing the writer's AZ.
    """
    writer = view.writer
    if writer is None:
        return None, "no writer is reported"
    if to:
        member = view.member(to)
        if member is None:
            return None, f"--to {to} is not a member of {view.id} (members: {', '.join(m.id for m in view.members)})"
        if member.writer:
            return None, f"--to {to} is already the writer"
        if member.status != AVAILABLE:
            return None, f"--to {to} is {member.status}, not available"
        return member, ""
    candidates = other_az_readers(view)
    if not candidates:
        return None, f"no available reader outside the writer's AZ {writer.az}"
    return min(candidates, key=lambda m: (m.tier, m.id)), ""


def other_az_readers(view: ClusterView) -> list[Member]:
    writer = view.writer
    if writer is None:
        return []
    return [m for m in view.members if not m.writer and m.status == AVAILABLE and m.az != writer.az]


# --------------------------------------------------------------------------
# the lock: one cluster tag, "<drill id> until <UTC expiry>"


@dataclass(frozen=True)
class Lock:
    drill_id: str
    expires: datetime

    def text(self) -> str:
        return f"{self.drill_id} until {iso(self.expires)}"

    @classmethod
    def parse(cls, text: str) -> "Lock | None":
        drill_id, sep, expiry = text.partition(" until ")
        if not sep or not drill_id:
            return None
        try:
            return cls(drill_id, datetime.fromisoformat(expiry.replace("Z", "+00:00")))
        except ValueError:
            return None


def lock_state(view: ClusterView, now: datetime, drill_id: str = "") -> tuple[bool, str]:
    """(free to take?, detail)."""
    text = view.tags.get(LOCK_TAG)
    if text is None:
        return True, "no drill holds the lock"
    held = Lock.parse(text)
    if held is None:
        return False, (f"the lock tag {LOCK_TAG} reads {text!r}, which is not a drill lock; "
                       "if no drill is running, remove the tag and run again")
    if held.drill_id == drill_id:
        return True, "the lock is ours"
    if held.expires > now:
        return False, f"drill {held.drill_id} holds the lock until {iso(held.expires)}"
    return True, f"stale lock of drill {held.drill_id} (expired {iso(held.expires)}) will be taken over"


def acquire_lock(ctx: Context, report: Report, describe: Describe, arn: str, drill_id: str) -> Lock:
    """Write our lock tag, then read it back.

    Tags are not compare-and-swap: two drills starting in the same second
    could both write; the read-back makes the later writer win and the other
    abort. Good enough for people starting drills by hand, not a mutex.
    """
    cfg = ctx.cfg.drill
    with report.step("lock acquired") as step:
        view = require(describe(), ctx)
        now = report.moment()
        free, detail = lock_state(view, now, drill_id)
        if not free:
            raise Aborted(f"lock: {detail}")
        mine = Lock(drill_id, now + timedelta(minutes=cfg.lock_expiry_minutes))
        ctx.client("rds").add_tags_to_resource(ResourceName=arn, Tags=[{"Key": LOCK_TAG, "Value": mine.text()}])
        back = require(describe(), ctx).tags.get(LOCK_TAG)
        if back != mine.text():
            raise Aborted(f"lock: another drill wrote the lock at the same moment ({back!r}); run again later")
        taken = f"; {detail}".replace("will be taken over", "taken over") if "stale" in detail else ""
        step.detail = f"{LOCK_TAG} = {mine.text()}{taken}"
        return mine


def release_lock(ctx: Context, report: Report, describe: Describe, arn: str, drill_id: str) -> bool:
    """Remove our lock tag if it is still ours. Never raises: the evidence must
    be written whatever happens here. Returns False if the lock may remain."""
    started = ctx.clock()
    try:
        view = describe()
        text = view.tags.get(LOCK_TAG) if view else None
        held = Lock.parse(text) if text else None
        if held is None or held.drill_id != drill_id:
            report.record("lock released", SKIPPED, f"not ours to release (the tag reads {text!r})" if text else "no lock to release", started)
            return True
        ctx.client("rds").remove_tags_from_resource(ResourceName=arn, TagKeys=[LOCK_TAG])
        report.record("lock released", OK, f"removed {LOCK_TAG} from {view.id}", started)
        return True
    except (OpsError, ClientError, BotoCoreError) as exc:
        message = exc.message if isinstance(exc, OpsError) else wrap_aws_error(exc, "release").message
        report.record(
            "lock released", FAILED_STEP,
            f"{message}; the lock expires by itself, or remove it: aws rds remove-tags-from-resource "
            f"--resource-name {arn} --tag-keys {LOCK_TAG}",
            started,
        )
        return False



def require(view: ClusterView | None, ctx: Context) -> ClusterView:
    if view is None:
        raise Aborted(f"the cluster {ctx.cfg.drill.aurora_cluster} is gone")
    return view
