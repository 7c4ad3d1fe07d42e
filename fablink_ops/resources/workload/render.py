"""The backend's Kubernetes objects, rendered from the config and from what
the other stages built. Pure: no AWS call, no cluster.

Shared objects: the Namespace (Pod Security Standards: restricted, enforced,
audited and warned), the ServiceAccount (IRSA), the NetworkPolicies. Per
colour (blue, green: the release runbook shifts traffic between them): a
Deployment, its Service, the TargetGroupBinding that registers its pods in
the colour's NLB target group, its HorizontalPodAutoscaler and its
PodDisruptionBudget. A colour without an image is not rendered.

Design doc: Workload resources; Health checks and probes; Security.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ...config import Config
from ...kube import MANAGED_LABEL

COLOURS = ("blue", "green")
APP_LABEL = "app.kubernetes.io/name"
COLOUR_LABEL = "fablink.com/colour"
ZONE_KEY = "topology.kubernetes.io/zone"
TGB_API = "elbv2.k8s.aws/v1beta1"
CONTAINER = "backend"
# The root filesystem is read-only: the backend writes temporaries here.
TMP_VOLUME = "tmp"


@dataclass(frozen=True)
class Refs:
    """What the other stages built, as the objects name it. At plan time a
    value not known yet (made in this run) is a placeholder in <...>."""

    backend_role_arn: str
    target_groups: Mapping[str, str]  # colour -> target group ARN
    vpc_cidr: str
    db_subnet_cidrs: tuple[str, ...]  # where Aurora's instances live (the private subnets)
    aurora_writer: str
    aurora_reader: str
    extra_env: Mapping[str, str] = field(default_factory=dict)


def deployment_name(cfg: Config, colour: str) -> str:
    return f"{cfg.workload.app_name}-{colour}"


def _meta(cfg: Config, name: str, namespaced: bool = True, **extra: str) -> dict:
    labels = {APP_LABEL: cfg.workload.app_name, "app.kubernetes.io/part-of": cfg.project.name, MANAGED_LABEL[0]: MANAGED_LABEL[1]}
    labels.update(extra)
    meta: dict = {"name": name, "labels": labels}
    if namespaced:
        meta["namespace"] = cfg.project.namespace
    return meta


def render_objects(cfg: Config, refs: Refs, images: Mapping[str, str]) -> list[dict]:
    """Every object, shared ones first (a Deployment needs its namespace and
    service account), then each colour that has an image."""
    objects = [namespace(cfg), service_account(cfg, refs)] + network_policies(cfg, refs)
    for colour in COLOURS:
        if colour in images:
            objects += colour_objects(cfg, refs, colour, images[colour])
    return objects


def namespace(cfg: Config) -> dict:
    # https://kubernetes.io/docs/concepts/security/pod-security-admission/ :
    # the level, pinned to the cluster's minor so an upgrade cannot change the policy unseen.
    version = f"v{cfg.eks.version}"
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = cfg.workload.pod_security_level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = version
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(cfg, cfg.project.namespace, False, **labels)}


def service_account(cfg: Config, refs: Refs) -> dict:
    meta = _meta(cfg, cfg.eks.irsa.service_account)
    meta["annotations"] = {"eks.amazonaws.com/role-arn": refs.backend_role_arn}
    # The pod identity webhook mounts the IRSA token itself; the Kubernetes
    # API token is not needed by the backend, so it is not mounted.
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False}


def colour_objects(cfg: Config, refs: Refs, colour: str, image: str) -> list[dict]:
    name = deployment_name(cfg, colour)
    selector = {APP_LABEL: cfg.workload.app_name, COLOUR_LABEL: colour}
    port = cfg.edge.target_port
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(cfg, name, **{COLOUR_LABEL: colour}),
        # ClusterIP (design doc: "EKS Service (ClusterIP)"): the NLB reaches the
        # pods' own addresses through the TargetGroupBinding, not a node port.
        "spec": {"type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}]},
    }
    binding = {
        "apiVersion": TGB_API, "kind": "TargetGroupBinding", "metadata": _meta(cfg, name, **{COLOUR_LABEL: colour}),
        "spec": {"serviceRef": {"name": name, "port": port}, "targetGroupARN": refs.target_groups.get(colour, f"<{colour} target group>"),
                 "targetType": "ip"},
    }
    return [deployment(cfg, refs, colour, image), service, binding, autoscaler(cfg, colour), disruption_budget(cfg, colour)]


def deployment(cfg: Config, refs: Refs, colour: str, image: str) -> dict:
    name, w = deployment_name(cfg, colour), cfg.workload
    selector = {APP_LABEL: w.app_name, COLOUR_LABEL: colour}
    pod_spec = {
        "serviceAccountName": cfg.eks.irsa.service_account,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": w.security.run_as_user, "runAsGroup": w.security.run_as_group,
            "fsGroup": w.security.run_as_group, "seccompProfile": {"type": w.security.seccomp_profile},
        },
        "nodeSelector": dict(cfg.eks.nodegroups.labels),
        # "Pod Network (Multi-AZ)": as even as the three zones allow.
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule",
                                       "labelSelector": {"matchLabels": selector}}],
        "containers": [container(cfg, refs, colour, image)],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "256Mi"}}],
    }
    # No spec.replicas: the HPA owns it (an applied count would fight it).
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(cfg, name, **{COLOUR_LABEL: colour}),
        "spec": {
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": {**selector, MANAGED_LABEL[0]: MANAGED_LABEL[1]}}, "spec": pod_spec},
        },
    }


def container(cfg: Config, refs: Refs, colour: str, image: str) -> dict:
    w, p = cfg.workload, cfg.workload.probes

    def probe(path: str, delay: int = 0) -> dict:
        return {"httpGet": {"path": path, "port": "http"}, "initialDelaySeconds": delay, "periodSeconds": p.period_seconds,
                "timeoutSeconds": p.timeout_seconds, "failureThreshold": p.failure_threshold}

    security = {
        "privileged": w.security.privileged, "allowPrivilegeEscalation": w.security.allow_privilege_escalation,
        "readOnlyRootFilesystem": w.security.read_only_root_filesystem, "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"], **({"add": list(w.security.capabilities_add)} if w.security.capabilities_add else {})},
        "seccompProfile": {"type": w.security.seccomp_profile},
    }
    return {
        "name": CONTAINER, "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": cfg.edge.target_port, "protocol": "TCP"}],
        "env": [{"name": k, "value": v} for k, v in environment(cfg, refs, colour).items()],
        "resources": {"requests": {"cpu": w.requests.cpu, "memory": w.requests.memory},
                      "limits": {"cpu": w.limits.cpu, "memory": w.limits.memory}},
        # The startup probe holds the other two back until the backend has
        # started ("allow for the initial start-up time": Initial Delay 60s).
        "startupProbe": probe(p.startup_path, p.initial_delay_seconds),
        "livenessProbe": probe(p.liveness_path),
        "readinessProbe": probe(p.readiness_path),
        "securityContext": security,
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def environment(cfg: Config, refs: Refs, colour: str) -> dict[str, str]:
    """What the backend reads to find the rest (no secret: IAM authentication to Aurora)."""
    env = {
        "AWS_REGION": cfg.project.region,
        "FABLINK_ENVIRONMENT": cfg.project.environment,
        "FABLINK_COLOUR": colour,
        "LOG_LEVEL": cfg.logging.level,
        "LOG_FORMAT": cfg.logging.format,
        "DB_HOST": refs.aurora_writer,
        "DB_READER_HOST": refs.aurora_reader,
        "DB_PORT": str(cfg.aurora.port),
        "DB_NAME": cfg.aurora.database_name,
        "DB_USER": cfg.eks.irsa.db_iam_user,
        "DB_SSLMODE": "verify-full",  # "Encryption in Transit: Required"
    }
    for table in cfg.dynamodb.tables:
        env["DYNAMODB_TABLE_" + table.name.removeprefix(cfg.project.prefix + "-").upper().replace("-", "_")] = table.name
    env.update(refs.extra_env)
    return env


def autoscaler(cfg: Config, colour: str) -> dict:
    w, name = cfg.workload, deployment_name(cfg, colour)

    def target(resource: str, percent: int) -> dict:
        return {"type": "Resource", "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": percent}}}

    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _meta(cfg, name, **{COLOUR_LABEL: colour}),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "minReplicas": w.min_replicas, "maxReplicas": w.max_replicas,
                 "metrics": [target("cpu", w.hpa_cpu_percent), target("memory", w.hpa_memory_percent)]},
    }


def disruption_budget(cfg: Config, colour: str) -> dict:
    name = deployment_name(cfg, colour)
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(cfg, name, **{COLOUR_LABEL: colour}),
        "spec": {"minAvailable": cfg.workload.pdb_min_available,
                 "selector": {"matchLabels": {APP_LABEL: cfg.workload.app_name, COLOUR_LABEL: colour}}},
    }


def network_policies(cfg: Config, refs: Refs) -> list[dict]:
    """Design doc: "Network Policies: Namespace isolation, Ingress/Egress
    rules, Database access restrictions". Deny everything in the namespace,
    then allow what the backend needs. Enforced by the VPC CNI
    (eks.addons vpc-cni enableNetworkPolicy)."""
    backend = {"matchLabels": {APP_LABEL: cfg.workload.app_name}}

    def policy(name: str, spec: dict) -> dict:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(cfg, name), "spec": spec}

    def tcp(port: int) -> dict:
        return {"protocol": "TCP", "port": port}

    return [
        policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        # The NLB (target type ip) connects from its own addresses in the VPC.
        policy("allow-nlb-ingress", {"podSelector": backend, "policyTypes": ["Ingress"],
                                     "ingress": [{"from": [{"ipBlock": {"cidr": refs.vpc_cidr}}], "ports": [tcp(cfg.edge.target_port)]}]}),
        policy("allow-dns-egress", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, tcp(53)]}]}),
        policy("allow-aurora-egress", {"podSelector": backend, "policyTypes": ["Egress"], "egress": [{
            "to": [{"ipBlock": {"cidr": c}} for c in refs.db_subnet_cidrs], "ports": [tcp(cfg.aurora.port)]}]}),
        # AWS's APIs (STS for IRSA, DynamoDB, KMS, ...) answer on 443, through
        # the gateway endpoints or the NAT gateways.
        policy("allow-https-egress", {"podSelector": backend, "policyTypes": ["Egress"], "egress": [{
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [tcp(443)]}]}),
    ]
