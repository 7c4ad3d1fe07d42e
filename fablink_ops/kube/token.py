"""The bearer token EKS accepts: "k8s-aws-v1." + base64url(presigned URL of
STS GetCallerIdentity, with the cluster's name signed in as x-k8s-aws-id).

The API server (aws-iam-authenticator) calls that URL; STS answers with the
caller's identity, which the cluster maps to a user through its access
entries. The form is aws-cli's `aws eks get-token`:
https://github.com/kubernetes-sigs/aws-iam-authenticator#api-authorization-from-outside-a-cluster
The URL is valid for 60 s (X-Amz-Expires); the API server accepts a token
for at most 15 minutes from its signing time, so clients renew it well before.
"""

from __future__ import annotations

import base64
from typing import Any

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"
URL_EXPIRES_SECONDS = 60


def sts_endpoint(region: str) -> str:
    """The regional STS endpoint (the authenticator accepts every regional
    one of its partition; the global one lives in us-east-1 only)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def eks_token(session: Any, region: str, cluster: str) -> str:
    """A token for ``cluster`` from ``session``'s credentials (a boto3 Session)."""
    sts = session.client("sts", region_name=region, endpoint_url=sts_endpoint(region))

    def sign_cluster_name(request: Any, **_: Any) -> None:
        request.headers[CLUSTER_HEADER] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", sign_cluster_name)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=URL_EXPIRES_SECONDS, HttpMethod="GET")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
