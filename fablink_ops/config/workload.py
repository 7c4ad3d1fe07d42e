"""[workload]: the backend on EKS (design doc: Workload resources; Health
checks and probes; Security: Pod Security Standards, Network Policies, RBAC).

The service account's name, its database user and data keys stay in
[eks.irsa]; the container port is [edge].target_port (the target group's),
so neither is written twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from .checks import _between, _fail, _one_of, _pattern, check

if TYPE_CHECKING:
    from .loader import Config

# Kubernetes quantities: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
_SUFFIXES = {"": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text: str) -> Decimal | None:
    """'500m' -> 0.5, '1Gi' -> 1073741824; None when it is not a quantity."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?", text)
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2) or ""]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def _cpu(value: str) -> str | None:
    q = quantity(value)
    return None if q and q >= Decimal("0.001") and not value.endswith(("i", "k", "M", "G", "T")) else (
        f"{value!r} is not a CPU quantity (e.g. 500m or 1)")


def _memory(value: str) -> str | None:
    q = quantity(value)
    return None if q and q >= 1 and not value.endswith("m") else f"{value!r} is not a memory quantity (e.g. 1Gi or 512Mi)"


# A container image reference with a tag or digest (never an implicit :latest).
IMAGE = _pattern(r"[a-z0-9][a-z0-9.\-]*(?::\d+)?(?:/[a-z0-9._\-]+)+(?::[\w][\w.\-]{0,127}|@sha256:[0-9a-f]{64})", 512,
                 "container image with a tag or digest (registry/repository:tag)")
HTTP_PATH = _pattern(r"/[\w\-./~%]*", 1024, "HTTP path")
K8S_NAME = _pattern(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", 63, "Kubernetes name (RFC 1123 label)")
# The one capability the Restricted profile lets a container add.
RESTRICTED_ADDABLE = ("NET_BIND_SERVICE",)


@dataclass(frozen=True)
class ResourcesConfig:
    cpu: str = check(_cpu)
    memory: str = check(_memory)


@dataclass(frozen=True)
class ProbesConfig:
    """Design doc: Health checks and probes."""

    liveness_path: str = check(HTTP_PATH)
    readiness_path: str = check(HTTP_PATH)  # also the NLB's health check: edge.health_check.path (cross-checked)
    startup_path: str = check(HTTP_PATH)
    initial_delay_seconds: int
    period_seconds: int = check(_between(1, 3600))
    timeout_seconds: int = check(_between(1, 3600))
    failure_threshold: int = check(_between(1, 100))


@dataclass(frozen=True)
class SecurityConfig:
    """The container's security context. Only values the Restricted Pod
    Security Standard admits load; the renderer writes them as they are."""

    run_as_user: int = check(_between(1, 2147483647))  # 0 is root: Restricted requires runAsNonRoot
    run_as_group: int = check(_between(1, 2147483647))
    privileged: bool
    allow_privilege_escalation: bool
    read_only_root_filesystem: bool
    seccomp_profile: str = check(_one_of("RuntimeDefault", "Localhost"))
    capabilities_add: tuple[str, ...] = ()


@dataclass(frozen=True)
class LbControllerConfig:
    """The AWS Load Balancer Controller, which registers the pods in the
    target group (TargetGroupBinding). Installed by the operator with helm
    (the tool prints the command); its IRSA role is the workload stage's."""

    namespace: str = check(K8S_NAME)
    service_account: str = check(K8S_NAME)
    chart_version: str = check(_pattern(r"\d+\.\d+\.\d+", 32, "helm chart version (x.y.z)"))


@dataclass(frozen=True)
class WorkloadConfig:
    app_name: str = check(K8S_NAME)
    image: str = check(IMAGE)
    min_replicas: int = check(_between(1, 1000))
    max_replicas: int = check(_between(1, 1000))
    requests: ResourcesConfig
    limits: ResourcesConfig
    hpa_cpu_percent: int = check(_between(1, 100))
    hpa_memory_percent: int = check(_between(1, 100))
    pdb_min_available: int = check(_between(1, 1000))
    pod_security_level: str = check(lambda v: None if v == "restricted" else (
        f"{v!r}: the design requires the Restricted Pod Security Standard (\"restricted\")"))
    probes: ProbesConfig
    security: SecurityConfig
    lb_controller: LbControllerConfig


def _validate_workload(cfg: Config) -> None:
    file, w = cfg.path, cfg.workload
    for what in ("cpu", "memory"):
        request, limit = getattr(w.requests, what), getattr(w.limits, what)
        if quantity(limit) < quantity(request):  # type: ignore[operator]
            raise _fail(file, f"workload.limits.{what}", f"{limit} is below the request ({request}, workload.requests.{what})")
    if w.min_replicas > w.max_replicas:
        raise _fail(file, "workload.min_replicas", f"{w.min_replicas} is more than max_replicas ({w.max_replicas})")
    if w.pdb_min_available >= w.min_replicas:
        raise _fail(file, "workload.pdb_min_available",
                    f"{w.pdb_min_available} must be below min_replicas ({w.min_replicas}): otherwise no pod may ever be evicted and node drains hang")
    if w.probes.timeout_seconds >= w.probes.period_seconds:
        raise _fail(file, "workload.probes.timeout_seconds", f"{w.probes.timeout_seconds}s must be shorter than period_seconds ({w.probes.period_seconds}s)")
    _validate_security(cfg)


def _validate_security(cfg: Config) -> None:
    """What the Restricted Pod Security Standard forbids, refused here so the
    key is named (the rendered objects are checked again, control by control)."""
    file, s = cfg.path, cfg.workload.security
    if s.privileged:
        raise _fail(file, "workload.security.privileged", "a privileged container is refused (Pod Security Standards: Privileged Containers)")
    if s.allow_privilege_escalation:
        raise _fail(file, "workload.security.allow_privilege_escalation", "must be false (Pod Security Standards, Restricted: Privilege Escalation)")
    if not s.read_only_root_filesystem:
        raise _fail(file, "workload.security.read_only_root_filesystem", "must be true: the design's security context has a read-only root filesystem")
    for i, cap in enumerate(s.capabilities_add):
        if cap not in RESTRICTED_ADDABLE:
            raise _fail(file, f"workload.security.capabilities_add[{i}]",
                        f"{cap!r} is refused (Pod Security Standards, Restricted: Capabilities; only NET_BIND_SERVICE may be added)")
