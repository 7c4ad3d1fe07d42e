"""Kubernetes API access for the workload stage and the release runbook.

    token.py   the EKS bearer token (a presigned STS GetCallerIdentity URL)
    client.py  a small HTTPS client: GET/list, server-side apply (field manager
               fablink-ops), server-side dry run
    diff.py    what a server-side dry run would change, attribute by attribute

No kubeconfig and no kubectl: the cluster's endpoint and CA come from
DescribeCluster, the credentials are the operator's AWS ones (the same as
every other call of the tool).
"""

from __future__ import annotations

from .client import FIELD_MANAGER, MANAGED_LABEL, KubeClient, KubeError, object_path, for_cluster
from .diff import apply_diff
from .token import TOKEN_PREFIX, eks_token

__all__ = ["FIELD_MANAGER", "MANAGED_LABEL", "TOKEN_PREFIX", "KubeClient", "KubeError", "apply_diff", "eks_token",
           "for_cluster", "object_path"]
