"""Validation of the rendered objects, with no cluster: the Kubernetes OpenAPI
schema of the cluster's configured version (kubernetes-validate, strict: an
unknown field is an error), the TargetGroupBinding against its CRD's schema,
and every pod template against the Restricted Pod Security Standard, control
by control. A violation is one line naming the object and the field; the
plan stops with exit 2.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable

import jsonschema
import kubernetes_validate

from ...errors import USAGE, OpsError
from ...kube.client import describe
from ...kube.diff import show_path
from .render import TGB_API

# The TargetGroupBinding's schema, as the AWS Load Balancer Controller's CRD
# (elbv2.k8s.aws_targetgroupbindings.yaml, v1beta1) declares the fields this
# tool sets; the live plan validates against the CRD the cluster serves.
# https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/targetgroupbinding/spec/
TGB_SCHEMA: dict = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {
            "type": "object", "required": ["serviceRef", "targetGroupARN"],
            "properties": {
                "serviceRef": {"type": "object", "required": ["name", "port"], "additionalProperties": False,
                               "properties": {"name": {"type": "string"}, "port": {"type": ["integer", "string"]}}},
                "targetGroupARN": {"type": "string", "minLength": 1},
                "targetType": {"type": "string", "enum": ["instance", "ip"]},
                "ipAddressType": {"type": "string", "enum": ["ipv4", "ipv6"]},
                "nodeSelector": {"type": "object"},
                "networking": {"type": "object"},
                "vpcID": {"type": "string"},
            },
        },
    },
}


def invalid(obj: dict, field: str, text: str) -> OpsError:
    return OpsError(f"{describe(obj)}: {field}: {text}", USAGE)


def check_schema(obj: dict, version: str, crd_schema: dict | None = None) -> None:
    """The object against the OpenAPI schema of Kubernetes ``version`` ('1.34')."""
    if obj["apiVersion"] == TGB_API:
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(crd_schema or TGB_SCHEMA).iter_errors(obj))
        if error is not None:
            raise invalid(obj, show_path(tuple(error.absolute_path)) or "(object)", error.message)
        return
    problem = _openapi_problem(json.dumps(obj, sort_keys=True), version)
    if problem:
        raise invalid(obj, *problem)


@functools.lru_cache(maxsize=256)
def _openapi_problem(text: str, version: str) -> tuple[str, str] | None:
    """(field, message) of the first schema error, or None. Cached by the
    object's text: kubernetes-validate reads its schema files on every call
    (~20 ms an object), and a plan renders the same objects each time."""
    obj = json.loads(text)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
        # kubernetes-validate wraps jsonschema's error (.caught) or lets it through, by version
        caught = getattr(exc, "caught", exc)
        return show_path(tuple(caught.absolute_path)) or "(object)", caught.message
    except kubernetes_validate.SchemaNotFoundError:
        return "apiVersion", f"{obj['apiVersion']} {obj['kind']} is not in Kubernetes {version}'s schema"
    return None


# --------------------------------------------------------------------------
# Pod Security Standards, Restricted (which includes Baseline):
# https://kubernetes.io/docs/concepts/security/pod-security-standards/

Violation = tuple[str, str]  # (field, what)
ALLOWED_VOLUMES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret")


def _containers(spec: dict) -> list[tuple[str, dict]]:
    return [(f"{kind}[{i}]", c) for kind in ("initContainers", "containers", "ephemeralContainers")
            for i, c in enumerate(spec.get(kind) or [])]


def _host_namespaces(spec: dict) -> list[Violation]:
    return [(k, "must be unset or false") for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]


def _volume_types(spec: dict) -> list[Violation]:
    out = []
    for i, vol in enumerate(spec.get("volumes") or []):
        kinds = [k for k in vol if k != "name"]
        if any(k not in ALLOWED_VOLUMES for k in kinds):
            out.append((f"volumes[{i}]", f"{', '.join(kinds)} is not an allowed volume type ({', '.join(ALLOWED_VOLUMES)})"))
    return out


def _per_container(check: Callable[[dict, dict, str], list[Violation]]) -> Callable[[dict], list[Violation]]:
    def run(spec: dict) -> list[Violation]:
        return [v for where, c in _containers(spec) for v in check(spec, c, where)]
    return run


def _privileged(spec: dict, c: dict, where: str) -> list[Violation]:
    sc = c.get("securityContext") or {}
    out = [(f"{where}.securityContext.privileged", "must be unset or false")] if sc.get("privileged") else []
    if (sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append((f"{where}.securityContext.windowsOptions.hostProcess", "must be unset or false"))
    return out


def _host_ports(spec: dict, c: dict, where: str) -> list[Violation]:
    return [(f"{where}.ports[{i}].hostPort", "must be unset or 0") for i, p in enumerate(c.get("ports") or []) if p.get("hostPort")]


def _escalation(spec: dict, c: dict, where: str) -> list[Violation]:
    sc = c.get("securityContext") or {}
    return [] if sc.get("allowPrivilegeEscalation") is False else [(f"{where}.securityContext.allowPrivilegeEscalation", "must be false")]


def _non_root(spec: dict, c: dict, where: str) -> list[Violation]:
    sc, pod = c.get("securityContext") or {}, spec.get("securityContext") or {}
    out = []
    if sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
        out.append((f"{where}.securityContext.runAsNonRoot", "must be true (here or in the pod's securityContext)"))
    if sc.get("runAsUser", pod.get("runAsUser")) == 0:
        out.append((f"{where}.securityContext.runAsUser", "must not be 0"))
    return out


def _seccomp(spec: dict, c: dict, where: str) -> list[Violation]:
    kind = ((c.get("securityContext") or {}).get("seccompProfile") or (spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    return [] if kind in ("RuntimeDefault", "Localhost") else [(f"{where}.securityContext.seccompProfile.type", "must be RuntimeDefault or Localhost")]


def _capabilities(spec: dict, c: dict, where: str) -> list[Violation]:
    caps = (c.get("securityContext") or {}).get("capabilities") or {}
    out = [] if "ALL" in (caps.get("drop") or []) else [(f"{where}.securityContext.capabilities.drop", "must include ALL")]
    out += [(f"{where}.securityContext.capabilities.add", f"{cap} may not be added (only NET_BIND_SERVICE)")
            for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"]
    return out


def _proc_mount(spec: dict, c: dict, where: str) -> list[Violation]:
    mount = (c.get("securityContext") or {}).get("procMount")
    return [] if mount in (None, "Default") else [(f"{where}.securityContext.procMount", "must be unset or Default")]


def _host_path(spec: dict) -> list[Violation]:
    return [(f"volumes[{i}].hostPath", "must not be used") for i, v in enumerate(spec.get("volumes") or []) if "hostPath" in v]


def _sysctls(spec: dict) -> list[Violation]:
    safe = ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
            "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
            "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes")
    return [(f"securityContext.sysctls[{i}]", f"{s.get('name')} is not a safe sysctl")
            for i, s in enumerate((spec.get("securityContext") or {}).get("sysctls") or []) if s.get("name") not in safe]


# The controls, named as the Pod Security Standards page names them.
CONTROLS: tuple[tuple[str, Callable[[dict], list[Violation]]], ...] = (
    ("Host Namespaces", _host_namespaces),
    ("Privileged Containers", _per_container(_privileged)),
    ("HostPath Volumes", _host_path),
    ("Host Ports", _per_container(_host_ports)),
    ("/proc Mount Type", _per_container(_proc_mount)),
    ("Sysctls", _sysctls),
    ("Volume Types", _volume_types),
    ("Privilege Escalation", _per_container(_escalation)),
    ("Running as Non-root", _per_container(_non_root)),
    ("Seccomp", _per_container(_seccomp)),
    ("Capabilities", _per_container(_capabilities)),
)


def pod_spec_path(obj: dict) -> tuple[str, Any] | None:
    """Where an object keeps its pod template's spec, or None (not a workload)."""
    if obj["kind"] == "Pod":
        return "spec", obj.get("spec", {})
    template = (obj.get("spec") or {}).get("template")
    return ("spec.template.spec", template.get("spec", {})) if isinstance(template, dict) else None


def restricted_violations(obj: dict) -> list[str]:
    """Each violation of the Restricted profile, as 'field: Pod Security Standards (restricted), <control>: what'."""
    found = pod_spec_path(obj)
    if found is None:
        return []
    prefix, spec = found
    return [f"{prefix}.{field}: Pod Security Standards (restricted), {control}: {what}"
            for control, check in CONTROLS for field, what in check(spec)]


def validate_objects(objects: list[dict], version: str, crd_schema: dict | None = None) -> None:
    """Every object against its schema and the Restricted profile; the first problem raises (exit 2)."""
    for obj in objects:
        check_schema(obj, version, crd_schema)
        problems = restricted_violations(obj)
        if problems:
            raise OpsError(f"{describe(obj)}: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), USAGE)
