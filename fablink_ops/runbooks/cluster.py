"""The Aurora cluster as the drill sees it, and the drill's lock on it.

``describe_cluster`` reads the cluster by its identifier (two calls: the
cluster, then its instances in one filtered describe) into a small model.
The drill's lock is the environment's run lock (fablink_ops/lock.py): one
operator acting on the environment at a time, taken atomically, expiring by
itself when a drill is killed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import Any, Callable


from ..engine import Context
from .. import lock
from ..errors import GuardError
from ..report import FAILED_STEP, OK, Aborted, Report
from ..target import none_if

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


def read_db_cluster(rds: Any, name: str) -> dict | None:
    """DescribeDBClusters' one cluster, None when there is none of that name."""
    return none_if(("DBClusterNotFoundFault",), lambda: rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0])


def describe_cluster(ctx: Context, name: str) -> ClusterView | None:
    """Two calls: the cluster (members, writer flag, tiers, tags) and its
    instances (AZ, status) in one filtered describe. None if it does not exist."""
    rds = ctx.client("rds")
    cluster = read_db_cluster(rds, name)
    if cluster is None:
        return None
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
# the lock: the environment's run lock (fablink_ops/lock.py)
#
# It was a tag on the cluster, written then read back: two drills starting in
# the same second could both hold it (issue 14, item 13). The run lock is a
# conditional write, so exactly one of them wins; and a provision, a backup
# restore or a second drill cannot act on the environment during a drill.


def lock_state(ctx: Context) -> tuple[bool, str]:
    """(free to take?, detail). Read-only: one consistent GetItem."""
    holder = lock.read(lock.lock_target(ctx.target), ctx.cfg.project.environment_name)
    if holder is None:
        return True, "no run holds the environment's lock"
    if holder.expired(time.time()):
        return True, f"stale lock of {holder.describe()} will be taken over"
    return False, f"locked by {holder.describe()}"


def acquire_lock(ctx: Context, report: Report, identity: str) -> lock.RunLock:
    """Take the run lock for the drill, or Aborted naming its holder."""
    cfg = ctx.cfg
    said: list[str] = []
    held = lock.RunLock(lock.lock_target(ctx.target), cfg.project.environment_name, cfg.project.name, "drill.failover",
                        identity=identity, lease=cfg.drill.lock_expiry_minutes * 60, say=said.append)
    with report.step("lock acquired") as step:
        try:
            held.acquire()
        except GuardError as exc:
            raise Aborted(f"lock: {exc.message.removeprefix('refusing: ')}") from None
        step.detail = f"{lock.TABLE}: {cfg.project.environment_name} held by {held.who}" + "".join(f"; {s}" for s in said)
    return held


def release_lock(ctx: Context, report: Report, held: lock.RunLock) -> bool:
    """Release our lock. Never raises: the evidence must be written whatever
    happens here. Returns False if the lock may remain (until its lease)."""
    started = ctx.clock()
    said: list[str] = []
    held.say = said.append
    held.release()
    if said:
        report.record("lock released", FAILED_STEP, f"{said[0]}; or, once sure no drill runs: invoke unlock", started)
        return False
    report.record("lock released", OK, f"released {ctx.cfg.project.environment_name} in {lock.TABLE}", started)
    return True


def require(view: ClusterView | None, ctx: Context) -> ClusterView:
    if view is None:
        raise Aborted(f"the cluster {ctx.cfg.drill.aurora_cluster} is gone")
    return view
