"""A small Kubernetes API client: GET, list, server-side apply and its dry run.

Server-side apply (PATCH with application/apply-patch+yaml; JSON is YAML)
under the field manager ``fablink-ops``: the API server merges what we send
with what others own, and answers 409 when another manager owns a field we
set. We do not force: such a conflict is shown to the operator, never taken
over silently (the tool changes only what is its own).
https://kubernetes.io/docs/reference/using-api/server-side-apply/
A dry run (dryRun=All) runs admission and defaulting without persisting:
the plan compares its answer with the live object (diff.py).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import FAILED, OpsError

FIELD_MANAGER = "fablink-ops"
# Every object the tool renders carries it: how the plan finds the objects it
# made that the config no longer lists (shown, never deleted).
MANAGED_LABEL = ("app.kubernetes.io/managed-by", "fablink-ops")
TOKEN_LIFETIME_SECONDS = 600.0  # renewed after 10 minutes (EKS accepts 15)

# kind -> (URL plural, namespaced): the kinds the tool applies or reads.
KINDS: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "ServiceAccount": ("serviceaccounts", True),
    "Service": ("services", True),
    "Deployment": ("deployments", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "NetworkPolicy": ("networkpolicies", True),
    "TargetGroupBinding": ("targetgroupbindings", True),
    "CustomResourceDefinition": ("customresourcedefinitions", False),
}


class KubeError(OpsError):
    """An answer of the API server the operator must see (one line)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message, FAILED)
        self.status = status


def collection_path(api_version: str, kind: str, namespace: str = "") -> str:
    if kind not in KINDS:
        raise KubeError(f"internal: no API path known for kind {kind}")
    plural, namespaced = KINDS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespaced else f"{base}/{plural}"


def object_path(obj: dict) -> str:
    meta = obj["metadata"]
    return f"{collection_path(obj['apiVersion'], obj['kind'], meta.get('namespace', ''))}/{meta['name']}"


def describe(obj: dict) -> str:
    """'Deployment fablink-prod/fablink-backend-blue': how the operator reads an object's name."""
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


@dataclass
class KubeClient:
    server: str  # https://<endpoint> (DescribeCluster's endpoint)
    token: Callable[[], str]  # a fresh bearer token
    ca_pem: bytes = b""  # the cluster's CA (DescribeCluster's certificateAuthority.data, decoded)
    timeout: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _token: tuple[float, str] | None = field(default=None, repr=False)
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    def _bearer(self) -> str:
        now = self.clock()
        if self._token is None or now - self._token[0] > TOKEN_LIFETIME_SECONDS:
            self._token = (now, self.token())
        return self._token[1]

    def _context(self) -> ssl.SSLContext | None:
        if not self.server.startswith("https://"):
            return None
        if self._ssl is None:
            self._ssl = ssl.create_default_context(cadata=self.ca_pem.decode()) if self.ca_pem else ssl.create_default_context()
        return self._ssl

    def request(self, method: str, path: str, body: dict | None = None, query: dict[str, str] | None = None,
                content_type: str = "application/json") -> tuple[int, dict]:
        url = self.server.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._bearer()}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=self._context()) as resp:
                return resp.status, _json(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KubeError(
                f"cannot reach the Kubernetes API at {self.server}: {reason} (is this machine allowed by the cluster's "
                "endpoint access? eks.endpoint_private_access / eks.admin_cidrs)"
            ) from None

    def get(self, path: str) -> dict | None:
        status, body = self.request("GET", path)
        if status == 404:
            return None
        _check(status, body, f"GET {path}")
        return body

    def list(self, path: str, label_selector: str = "") -> list[dict]:
        status, body = self.request("GET", path, query={"labelSelector": label_selector} if label_selector else None)
        if status == 404:  # the namespace or the kind (a CRD not installed) does not exist
            return []
        _check(status, body, f"GET {path}")
        return body.get("items", [])

    def apply(self, obj: dict, dry_run: bool = False) -> dict:
        """Server-side apply of one object; with ``dry_run`` what it would become."""
        query = {"fieldManager": FIELD_MANAGER}
        if dry_run:
            query["dryRun"] = "All"
        status, body = self.request("PATCH", object_path(obj), obj, query, "application/apply-patch+yaml")
        _check(status, body, ("dry-run apply " if dry_run else "apply ") + describe(obj))
        return body


def _json(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {"message": raw[:200].decode(errors="replace")}
    return value if isinstance(value, dict) else {}


def _check(status: int, body: dict, doing: str) -> None:
    if 200 <= status < 300:
        return
    message = body.get("message") or body.get("reason") or f"HTTP {status}"
    if status == 409:
        message += " (another field manager owns these fields; the tool does not force: settle it by hand)"
    elif status in (401, 403):
        message += " (the operator's IAM principal needs an EKS access entry: eks.admin_principal_arns)"
    raise KubeError(f"{doing}: {status} {message}", status)


def for_cluster(cluster: dict, token: Callable[[], str], timeout: float = 10.0) -> KubeClient:
    """A client for an EKS cluster as DescribeCluster reports it."""
    ca = base64.b64decode(cluster.get("certificateAuthority", {}).get("data", "") or b"")
    return KubeClient(server=cluster["endpoint"], token=token, ca_pem=ca, timeout=timeout)
