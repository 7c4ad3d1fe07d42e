"""A latency model for moto: resources take time to be created, as in AWS.

moto reports every resource ready the moment it is created. This model, a set
of botocore event hooks installed on a Target, remembers when each slow
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
class Slow:
    """One slow resource type: how to read its id from the create answer, and
    where its status sits in the describe answers."""

    model: str  # key in AWS_SECONDS
    create: str  # "service.Operation" of the create call
    created_id: Callable[[dict, dict], str]  # (parsed response, request params) -> id
    describes: dict[str, Callable[[dict], list[tuple[str, Callable[[str], None]]]]]
    pending: str  # the status to report while it is being created


def _items(path: list[str], id_key: str, status_key: str | list[str]) -> Callable[[dict], list]:
    """Items at ``path`` in a describe answer, each as (id, set_status)."""

    def get(parsed: dict) -> list:
        node: Any = parsed
        for key in path:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        items = node if isinstance(node, list) else ([node] if node else [])
        out = []
        for item in items:
            if not isinstance(item, dict) or id_key not in item:
                continue

            def setter(value: str, item: dict = item) -> None:
                if isinstance(status_key, list):
                    target = item
                    for k in status_key[:-1]:
                        target = target.setdefault(k, {})
                    target[status_key[-1]] = value
                else:
                    item[status_key] = value

            out.append((item[id_key], setter))
        return out

    return get


SLOW: list[Slow] = [
    Slow("nat-gateway", "ec2.CreateNatGateway", lambda r, p: r["NatGateway"]["NatGatewayId"],
         {"ec2.DescribeNatGateways": _items(["NatGateways"], "NatGatewayId", "State")}, "pending"),
    Slow("eks-cluster", "eks.CreateCluster", lambda r, p: r["cluster"]["name"],
         {"eks.DescribeCluster": _items(["cluster"], "name", "status")}, "CREATING"),
    Slow("eks-nodegroup", "eks.CreateNodegroup", lambda r, p: r["nodegroup"]["nodegroupName"],
         {"eks.DescribeNodegroup": _items(["nodegroup"], "nodegroupName", "status")}, "CREATING"),
    Slow("aurora-cluster", "rds.CreateDBCluster", lambda r, p: r["DBCluster"]["DBClusterIdentifier"],
         {"rds.DescribeDBClusters": _items(["DBClusters"], "DBClusterIdentifier", "Status")}, "creating"),
    Slow("aurora-instance", "rds.CreateDBInstance", lambda r, p: r["DBInstance"]["DBInstanceIdentifier"],
         {"rds.DescribeDBInstances": _items(["DBInstances"], "DBInstanceIdentifier", "DBInstanceStatus")}, "creating"),
    Slow("nlb", "elbv2.CreateLoadBalancer", lambda r, p: r["LoadBalancers"][0]["LoadBalancerArn"],
         {"elbv2.DescribeLoadBalancers": _items(["LoadBalancers"], "LoadBalancerArn", ["State", "Code"])}, "provisioning"),
    Slow("vpc-link", "apigateway.CreateVpcLink", lambda r, p: r["id"],
         {"apigateway.GetVpcLink": _items([], "id", "status"), "apigateway.GetVpcLinks": _items(["items"], "id", "status")}, "PENDING"),
    Slow("dynamodb-table", "dynamodb.CreateTable", lambda r, p: r["TableDescription"]["TableName"],
         {"dynamodb.DescribeTable": _items(["Table"], "TableName", "TableStatus")}, "CREATING"),
]


class LatencyModel:
    """Install with ``Target(hooks=model.hooks)``. Thread-safe."""

    def __init__(self, scale: float = 60.0, clock: Callable[[], float] = time.monotonic, seconds: dict[str, float] | None = None):
        self.scale = scale
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

    @property
    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("after-call", self._after_call)]

    def _after_call(self, model: Any, parsed: dict, **kwargs: Any) -> None:
        service = model.service_model.service_name
        name = f"{service}.{model.name}"
        if parsed.get("Error"):
            return
        slow = self._by_create.get(name)
        if slow is not None:
            rid = slow.created_id(parsed, kwargs.get("params") or {})
            now = self.clock()
            with self._lock:
                # An idempotent retry (same token) answers with the same id:
                # the resource keeps its first creation time.
                if (slow.model, rid) not in self._ready_at:
                    self._ready_at[(slow.model, rid)] = now + self.duration(slow.model)
                    self.created.append((now, slow.model, rid))
            _set_created_status(slow, parsed)
            return
        slow = self._by_describe.get(name)
        if slow is None:
            return
        now = self.clock()
        for rid, set_status in slow.describes[name](parsed):
            with self._lock:
                ready_at = self._ready_at.get((slow.model, rid))
            if ready_at is not None and now < ready_at:
                set_status(slow.pending)


def _set_created_status(slow: Slow, parsed: dict) -> None:
    """The create answer itself reports the resource as being created."""
    for getter in slow.describes.values():
        for _, set_status in getter(parsed):
            set_status(slow.pending)

