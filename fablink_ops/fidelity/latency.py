"""A latency model for moto: resources take time to be created, as in AWS.

moto reports every resource ready the moment it is created. This model, part
of the fidelity layer (where moto answers), remembers when each slow
resource was created and, until its modelled creation time has passed,
rewrites what describe calls return so the resource reads as still being
created (CREATING, pending, provisioning...). The code under test then waits
for it exactly as it would in AWS.

The durations are AWS's (seconds), divided by ``scale`` to run quickly; the
same table gives the benchmark its critical-path lower bound.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

# Creation times in AWS, seconds (issue 9; AWS documentation and experience):
# a NAT gateway ~2 min, an EKS cluster 10-15, a managed node group 2-4, an
# Aurora cluster with its instances 10-20, an NLB ~2.5, a VPC link up to 12,
# a DynamoDB table ~10 s.
AWS_SECONDS: dict[str, float] = {
    "nat-gateway": 120,
    "eks-cluster": 720,
    "eks-nodegroup": 180,
    "aurora-cluster": 300,
    "aurora-instance": 600,
    "nlb": 150,
    "vpc-link": 600,
    "dynamodb-table": 10,
}


@dataclass(frozen=True)
class Where:
    """Where a describe answer lists the items, their id and their status."""

    path: tuple[str, ...]  # keys down to the item (a dict) or the list of items
    id_key: str
    status: tuple[str, ...]  # keys down to the status inside an item

    def items(self, parsed: dict) -> list[tuple[str, dict]]:
        node: Any = parsed
        for key in self.path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        items = node if isinstance(node, list) else ([node] if node else [])
        return [(i[self.id_key], i) for i in items if isinstance(i, dict) and self.id_key in i]

    def set_status(self, item: dict, value: str) -> None:
        for key in self.status[:-1]:
            item = item.setdefault(key, {})
        item[self.status[-1]] = value


@dataclass(frozen=True)
class Slow:
    """One slow resource type: how to read its id from the create answer, and
    where its status sits in the describe answers."""

    model: str  # key in AWS_SECONDS
    create: str  # "service.Operation" of the create call
    created_id: Callable[[dict], str]  # parsed create answer -> id
    describes: dict[str, Where]  # "service.Operation" -> where the items are
    pending: str  # the status to report while it is being created
    failed: str = ""  # the terminal failure status, for models told to fail
    reason: str = ""  # the key, next to the status, of the failure's reason


SLOW: list[Slow] = [
    Slow("nat-gateway", "ec2.CreateNatGateway", lambda r: r["NatGateway"]["NatGatewayId"],
         {"ec2.DescribeNatGateways": Where(("NatGateways",), "NatGatewayId", ("State",))}, "pending",
         failed="failed", reason="FailureMessage"),
    Slow("eks-cluster", "eks.CreateCluster", lambda r: r["cluster"]["name"],
         {"eks.DescribeCluster": Where(("cluster",), "name", ("status",))}, "CREATING"),
    Slow("eks-nodegroup", "eks.CreateNodegroup", lambda r: r["nodegroup"]["nodegroupName"],
         {"eks.DescribeNodegroup": Where(("nodegroup",), "nodegroupName", ("status",))}, "CREATING"),
    Slow("aurora-cluster", "rds.CreateDBCluster", lambda r: r["DBCluster"]["DBClusterIdentifier"],
         {"rds.DescribeDBClusters": Where(("DBClusters",), "DBClusterIdentifier", ("Status",))}, "creating"),
    Slow("aurora-instance", "rds.CreateDBInstance", lambda r: r["DBInstance"]["DBInstanceIdentifier"],
         {"rds.DescribeDBInstances": Where(("DBInstances",), "DBInstanceIdentifier", ("DBInstanceStatus",))}, "creating"),
    Slow("nlb", "elbv2.CreateLoadBalancer", lambda r: r["LoadBalancers"][0]["LoadBalancerArn"],
         {"elbv2.DescribeLoadBalancers": Where(("LoadBalancers",), "LoadBalancerArn", ("State", "Code"))}, "provisioning"),
    Slow("vpc-link", "apigateway.CreateVpcLink", lambda r: r["id"],
         {"apigateway.GetVpcLink": Where((), "id", ("status",)), "apigateway.GetVpcLinks": Where(("items",), "id", ("status",))},
         "PENDING"),
    Slow("dynamodb-table", "dynamodb.CreateTable", lambda r: r["TableDescription"]["TableName"],
         {"dynamodb.DescribeTable": Where(("Table",), "TableName", ("TableStatus",))}, "CREATING"),
]


class LatencyModel:
    """The fidelity layer's (``FidelityLayer.latency``): wire.py shows it every
    create and describe answer (``observe``). Thread-safe."""

    def __init__(
        self,
        scale: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        seconds: dict[str, float] | None = None,
        fail: dict[str, str] | None = None,
    ):
        """``fail``: model -> reason; such resources end in their failure
        status (with that reason) instead of becoming ready."""
        self.scale = scale
        self.fail = dict(fail or {})
        self.clock = clock
        self.seconds = dict(AWS_SECONDS if seconds is None else seconds)
        self._ready_at: dict[tuple[str, str], float] = {}  # (model, id) -> when it becomes ready
        self.created: list[tuple[float, str, str]] = []  # (time, model, id), in order
        self._lock = threading.Lock()
        self._by_create = {s.create: s for s in SLOW}
        self._by_describe = {d: s for s in SLOW for d in s.describes}

    def duration(self, model: str) -> float:
        """The modelled creation time, already scaled."""
        return self.seconds[model] / self.scale

    def watches(self, name: str) -> bool:
        """``name`` ("service.Operation") creates or describes a slow resource."""
        return name in self._by_create or name in self._by_describe

    def observe(self, name: str, parsed: dict) -> None:
        """Remember a create's time, or rewrite a describe's statuses, in ``parsed``."""
        if parsed.get("Error"):
            return
        slow = self._by_create.get(name)
        if slow is not None:
            rid = slow.created_id(parsed)
            now = self.clock()
            with self._lock:
                # An idempotent retry (same token) answers with the same id:
                # the resource keeps its first creation time.
                if (slow.model, rid) not in self._ready_at:
                    self._ready_at[(slow.model, rid)] = now + self.duration(slow.model)
                    self.created.append((now, slow.model, rid))
            return
        slow = self._by_describe.get(name)
        if slow is None:
            return
        where = slow.describes[name]
        now = self.clock()
        for rid, item in where.items(parsed):
            with self._lock:
                ready_at = self._ready_at.get((slow.model, rid))
            if ready_at is None:
                continue
            if now < ready_at:
                where.set_status(item, slow.pending)
            elif slow.model in self.fail and slow.failed:
                where.set_status(item, slow.failed)
                if slow.reason:
                    item[slow.reason] = self.fail[slow.model]
