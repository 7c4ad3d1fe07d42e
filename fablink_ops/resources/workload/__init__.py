"""The workload stage: the backend on EKS, and traffic that reaches it.

Design doc: Workload resources; Health checks and probes; Security (Pod
Security Standards, Network Policies); Authentication and authorization
(IRSA, a service account per application, least privilege).

    iam.py      the backend's IRSA role (tables, its database user on the
                cluster's resource id, the data keys: each by ARN) and the
                AWS Load Balancer Controller's (target registration only)
    render.py   the Kubernetes objects, pure: Namespace (Restricted), the
                ServiceAccount, NetworkPolicies; per colour a Deployment,
                Service, TargetGroupBinding, HPA and PDB
    checks.py   validation with no cluster: OpenAPI schema of the configured
                version, the Restricted Pod Security Standard
    objects.py  live: server-side dry-run diff in plan, server-side apply in
                provision; the sandbox skips the apply (no API server)

Discovery: the roles come from the shared IAM read; live, one DescribeCluster
(the API endpoint) and the Kubernetes reads.
"""

from __future__ import annotations

from typing import Callable

from ...engine import CREATE, Change, Context
from . import iam, objects
from .common import NAME, Found, WorkloadNames

__all__ = ["NAME", "plan"]


def discover(ctx: Context, names: WorkloadNames) -> Found:
    found = Found()
    iam.discover(ctx, names, found)
    objects.discover(ctx, names, found)
    return found


def plan(ctx: Context) -> list[Change]:
    names = WorkloadNames(ctx.cfg)
    found = discover(ctx, names)
    roles = iam.plan(ctx, names, found)
    for change in roles:
        if change.name == names.controller_role and change.action == CREATE:
            change.run = _then_helm_step(ctx, names, change.run)
    return roles + objects.plan(ctx, names, found)


def _then_helm_step(ctx: Context, names: WorkloadNames, create: Callable[[], str | None] | None) -> Callable[[], str | None]:
    """The controller's role is made: the operator installs the controller
    with it (live, the plan says so again while its CRD is missing)."""
    def run() -> str | None:
        detail = create() if create else None
        ctx.operator_step(objects.helm_step(ctx, names))
        return detail
    return run
