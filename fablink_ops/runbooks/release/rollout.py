"""Live: the idle colour's Deployment rolled out with the new image, through
the Kubernetes API (fablink_ops/kube: an EKS token from the operator's AWS
credentials, no kubectl).

The image is set by a server-side apply of the container's ``image`` field
alone, under a field manager of its own (``fablink-ops-release``), forced:
the image of a colour is the release's (a stage variable records it), and
the workload stage renders the same value from the stage (``colour_images``),
so the two managers then agree on it. Every other field stays the workload
stage's. The Deployment is found by the workload stage's label
(``app.kubernetes.io/managed-by=fablink-ops``) and its name's colour suffix
(``<app>-blue``, ``<app>-green``) in the project's namespace.

A rollout is done when the Deployment's controller has seen the new
generation and every replica is updated and available, with no old one left
(what ``kubectl rollout status`` waits for).
"""

from __future__ import annotations

from typing import Any, Callable

from ...engine import Context
from ...errors import OpsError
from ...kube import MANAGED_LABEL, KubeClient, KubeError, eks_token, for_cluster, object_path
from .stage import with_repository

RELEASE_MANAGER = "fablink-ops-release"


def kube_for(ctx: Context) -> KubeClient:
    """A client for the environment's EKS cluster, as DescribeCluster reports it."""
    name = ctx.cfg.project.cluster_name
    cluster = ctx.client("eks").describe_cluster(name=name)["cluster"]
    return for_cluster(cluster, lambda: eks_token(ctx.target.session, ctx.target.region, name))


def find_deployment(kube: KubeClient, namespace: str, colour: str) -> dict:
    items = kube.list(f"/apis/apps/v1/namespaces/{namespace}/deployments", label_selector="=".join(MANAGED_LABEL))
    ours = [d for d in items if d.get("metadata", {}).get("name", "").endswith(f"-{colour}")]
    if len(ours) != 1:
        found = ", ".join(d["metadata"]["name"] for d in ours) or "none"
        raise OpsError(f"the {colour} Deployment in namespace {namespace}: expected one labelled {'='.join(MANAGED_LABEL)} "
                       f"and named *-{colour}, found {found} (provision the workload stage)")
    return ours[0]


def set_image(kube: KubeClient, deployment: dict, image: str) -> str:
    """Apply ``image`` (a bare tag: the current image's repository at that tag) to the first container. Returns the reference."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    reference = with_repository(image, container.get("image", ""))
    meta = deployment["metadata"]
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
             "spec": {"template": {"spec": {"containers": [{"name": container["name"], "image": reference}]}}}}
    status, body = kube.request("PATCH", object_path(patch), patch, {"fieldManager": RELEASE_MANAGER, "force": "true"},
                                "application/apply-patch+yaml")
    if not 200 <= status < 300:
        raise KubeError(f"setting {meta['name']}'s image to {reference}: {status} {body.get('message') or body.get('reason') or ''}", status)
    return reference


def rollout_state(deployment: dict) -> tuple[bool, str]:
    """(done?, what the controller reports)."""
    spec, status, meta = deployment.get("spec", {}), deployment.get("status", {}), deployment.get("metadata", {})
    want = int(spec.get("replicas", 1))
    updated, available, total = (int(status.get(k, 0)) for k in ("updatedReplicas", "availableReplicas", "replicas"))
    seen = int(status.get("observedGeneration", 0)) >= int(meta.get("generation", 0))
    done = seen and updated == want and available >= want and total == want
    return done, f"{updated}/{want} updated, {available} available, {total} in all{'' if seen else ' (new generation not yet observed)'}"


def wait_rollout(kube: KubeClient, deployment: dict, deadline: float, clock: Callable[[], float],
                 sleep: Callable[[float], None], interval: float) -> str:
    path = object_path(deployment)
    while True:
        current: Any = kube.get(path) or {}
        done, detail = rollout_state(current)
        if done:
            return detail
        if clock() >= deadline:
            raise OpsError(f"{deployment['metadata']['name']} not rolled out in time: {detail}")
        sleep(interval)
