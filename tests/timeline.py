"""Modelled time for the failover drill.

moto fails an Aurora cluster over at once and reports every member available
throughout, so a drill against it measures nothing. These helpers give the
drill a clock that only moves when it sleeps, and a describe layer that
reports what Aurora shows during a failover, after known delays:

    request ──► old writer still reported ──► no writer (cluster failing-over,
    old writer rebooting) ──► new writer ──► cluster available ──► every
    member available (the old writer back as a reader)

The layer sits on top of the real describe (moto's state), notices each
FailoverDBCluster through a botocore after-call hook, and hides the real,
instant result until the modelled moment.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from fablink_ops.runbooks.cluster import ClusterView

from .conftest import boto_session

WALL = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # the fake clock's wall time at the start
REGION = "ap-northeast-2"


class FakeClock:
    """Monotonic seconds that move only when slept."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.slept.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Timeline:
    """Seconds after the failover request."""

    old_writer_until: float = 3.0  # the old writer is still reported until then
    new_writer_at: float = 17.0  # no writer in between; the new one from here on
    cluster_available_at: float = 20.0  # the cluster reports failing-over until then
    members_available_at: float = 45.0  # the old writer restarts as a reader until then


INSTANT = Timeline(0.0, 0.0, 0.0, 0.0)  # moto's own behaviour: for tests about something else than timing


class DelayedFailover:
    """A describe wrapper reporting a failover as Aurora does, on the fake clock.

    ``on_poll(dt)`` (optional) runs on every describe after a request, with
    the seconds since it: tests fire alarms or press Ctrl-C there.
    """

    def __init__(self, clock: FakeClock, timeline: Timeline = Timeline(), on_poll: Callable[[float], None] | None = None):
        self.clock = clock
        self.timeline = timeline
        self.on_poll = on_poll
        self.real: Callable[[], ClusterView | None] | None = None
        self.requests: list[tuple[float, str | None]] = []  # (when, the writer before it)
        self.last_writer: str | None = None
        self.tags_seen: list[dict[str, str]] = []
        self.locks_seen: list = []  # the environment's run lock when the failover was requested

    @property
    def hooks(self):
        return [("after-call.rds.FailoverDBCluster", self._requested)]

    def _requested(self, context=None, **_):
        self.requests.append((self.clock.monotonic(), self.last_writer))
        self.locks_seen.append(self.lock_holder())

    def lock_holder(self):
        """Read with a client of our own: the run lock item of fablink-prod."""
        from fablink_ops import lock
        from .state import client
        item = client("dynamodb", "ap-northeast-2").get_item(TableName=lock.TABLE, Key={lock.KEY: {"S": "fablink-prod"}})
        return lock.Holder.from_item(item["Item"]) if "Item" in item else None

    def wrap(self, real: Callable[[], ClusterView | None]) -> "DelayedFailover":
        self.real = real
        return self

    def __call__(self) -> ClusterView | None:
        assert self.real is not None
        view = self.real()
        if view is None:
            return None
        self.tags_seen.append(dict(view.tags))
        if not self.requests:
            self.last_writer = view.writer.id if view.writer else None
            return view
        started, old = self.requests[-1]
        dt = self.clock.monotonic() - started
        if self.on_poll is not None:
            self.on_poll(dt)
        t = self.timeline
        if dt >= t.members_available_at:
            self.last_writer = view.writer.id if view.writer else None
            return view
        new = view.writer.id if view.writer else None
        members = []
        for m in view.members:
            if dt < t.old_writer_until:
                writer = m.id == old
            elif dt < t.new_writer_at:
                writer = False
            else:
                writer = m.id == new
            status = "rebooting" if m.id == old and dt >= t.old_writer_until else m.status
            members.append(dataclasses.replace(m, writer=writer, status=status))
        status = "failing-over" if t.old_writer_until <= dt < t.cluster_available_at else view.status
        return dataclasses.replace(view, status=status, members=tuple(members))


class StatusOverride:
    """A describe wrapper that reports some members in another status."""

    def __init__(self, statuses: dict[str, str]):
        self.statuses = statuses
        self.real: Callable[[], ClusterView | None] | None = None

    def wrap(self, real):
        self.real = real
        return self

    def __call__(self):
        view = self.real()
        members = tuple(dataclasses.replace(m, status=self.statuses.get(m.id, m.status)) for m in view.members)
        return dataclasses.replace(view, members=members)


# --------------------------------------------------------------------------
# real state in moto


def _client(service: str):
    return boto_session(REGION).client(service)


def make_cluster(name: str, azs=("a", "b", "d"), tiers=None) -> list[str]:
    """An Aurora PostgreSQL cluster with one instance per entry of ``azs``
    (the first one becomes the writer). Returns the instance ids."""
    rds = _client("rds")
    rds.create_db_cluster(
        DBClusterIdentifier=name, Engine="aurora-postgresql", MasterUsername="fablink", MasterUserPassword="not-a-secret-1"
    )
    ids = []
    for i, az in enumerate(azs):
        instance = f"{name}-{i + 1}{az}"
        rds.create_db_instance(
            DBInstanceIdentifier=instance,
            DBClusterIdentifier=name,
            Engine="aurora-postgresql",
            DBInstanceClass="db.r6g.large",
            AvailabilityZone=f"{REGION}{az}",
            PromotionTier=(tiers[i] if tiers else i),
        )
        ids.append(instance)
    return ids


def make_alarms(names, state: str | None = None) -> None:
    cw = _client("cloudwatch")
    for name in names:
        cw.put_metric_alarm(
            AlarmName=name, MetricName="5XXError", Namespace="AWS/ApiGateway", Statistic="Sum", Period=60,
            EvaluationPeriods=2, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )
        if state:
            set_alarm(name, state)


def set_alarm(name: str, state: str) -> None:
    _client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"test set {state}")


def writer(name: str) -> str:
    members = _client("rds").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterMembers"]
    return next(m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"])


def cluster_tags(name: str) -> dict[str, str]:
    cluster = _client("rds").describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return {t["Key"]: t["Value"] for t in cluster.get("TagList", [])}


def tag_cluster(name: str, key: str, value: str) -> None:
    rds = _client("rds")
    arn = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["DBClusterArn"]
    rds.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": key, "Value": value}])
