"""Cluster-admin access entries for the principals in eks.admin_principal_arns.

With authentication mode API or API_AND_CONFIG_MAP, who administers the
cluster is an EKS resource (an access entry with AmazonEKSClusterAdminPolicy
associated, cluster-wide), visible in `aws eks list-access-entries`, instead
of a line of the aws-auth ConfigMap or CONFIG_MAP's invisible creator admin.
https://docs.aws.amazon.com/eks/latest/userguide/access-entries.html

moto has no access-entry API: the sandbox shows each entry as skipped, and
the live path is tested through botocore's Stubber.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ...engine import CREATE, NOOP, SKIP, UPDATE, Change, Context, Diff
from ...target import error_code
from .. import kit
from .common import Names, Out, change, desired_tags
from .discover import Found

KIND = "eks-access-entry"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CLUSTER_SCOPE = {"type": "cluster"}


def access_entries(ctx: Context, names: Names, found: Found) -> list[Change]:
    arns = ctx.cfg.eks.admin_principal_arns
    if not arns:
        return []
    if not ctx.target.is_live:
        note = "the sandbox (moto) has no EKS access entries: not made here; on --live each admin gets one"
        return [change(KIND, arn, SKIP, note=note) for arn in arns]
    existing: set[str] = set()
    if found.cluster is not None:  # one list for all the entries
        existing = set(ctx.client("eks").paginate("list_access_entries", "accessEntries", clusterName=names.cluster))
    return [_entry(ctx, names, arn, arn in existing) for arn in arns]


def _is_admin(ctx: Context, names: Names, arn: str) -> bool:
    policies = ctx.client("eks").paginate(
        "list_associated_access_policies", "associatedAccessPolicies", clusterName=names.cluster, principalArn=arn
    )
    return any(p.get("policyArn") == ADMIN_POLICY and (p.get("accessScope") or {}).get("type") == "cluster" for p in policies)


def _entry(ctx: Context, names: Names, arn: str, exists: bool) -> Change:
    eks = ctx.client("eks")
    needs = (names.k_cluster,)  # the cluster's authentication mode admits access entries first

    def associate() -> str:
        # Idempotent: associating the same policy and scope again answers as the first time.
        eks.associate_access_policy(clusterName=names.cluster, principalArn=arn, policyArn=ADMIN_POLICY, accessScope=CLUSTER_SCOPE)
        return arn

    if exists:
        if _is_admin(ctx, names, arn):
            return change(KIND, arn, NOOP, resource_id=arn, needs=needs)
        return change(KIND, arn, UPDATE, diffs=[Diff("access policy", None, "AmazonEKSClusterAdminPolicy (cluster)")],
                      resource_id=arn, needs=needs, run=associate)

    def create() -> str:
        try:
            eks.create_access_entry(clusterName=names.cluster, principalArn=arn, type="STANDARD",
                                    tags=desired_tags(ctx.cfg, "cluster-admin"),
                                    clientRequestToken=kit.request_token("eks-access-entry", ctx.output(Out.CLUSTER_ARN), arn))
        except ClientError as exc:  # made by a run whose answer was lost
            if error_code(exc) != "ResourceInUseException":
                raise
        return associate()

    diffs = [Diff("access entry", None, "STANDARD"), Diff("access policy", None, "AmazonEKSClusterAdminPolicy (cluster)")]
    return change(KIND, arn, CREATE, diffs=diffs, needs=needs, run=create)
