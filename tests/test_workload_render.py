"""[workload] config refusals, the rendered objects, and their validation
(OpenAPI schema of the configured version, Restricted Pod Security Standard)."""

from __future__ import annotations

import copy

import pytest

from fablink_ops.errors import OpsError
from fablink_ops.resources.workload.checks import restricted_violations, validate_objects
from fablink_ops.resources.workload.render import Refs, render_objects

from .util import assert_config_error, edited_config, plan_refused

REFS = Refs("arn:aws:iam::853963783084:role/fablink-prod-fablink-backend", {"blue": "arn:tg/blue", "green": "arn:tg/green"},
            "10.20.0.0/16", ("10.20.64.0/18", "10.20.128.0/18"), "writer.example", "reader.example")


@pytest.mark.parametrize("old,new,key,phrase", [
    ('limits = { cpu = "1000m"', 'limits = { cpu = "250m"', "workload.limits.cpu", "below the request (500m"),
    ('memory = "2Gi" }', 'memory = "512Mi" }', "workload.limits.memory", "below the request (1Gi"),
    ("min_replicas = 3                #", "min_replicas = 30               #", "workload.min_replicas", "more than max_replicas (20)"),
    ("privileged = false", "privileged = true", "workload.security.privileged", "Privileged Containers"),
    ("allow_privilege_escalation = false", "allow_privilege_escalation = true", "workload.security.allow_privilege_escalation", "Privilege Escalation"),
    ("run_as_user = 10001", "run_as_user = 0", "workload.security.run_as_user", "between 1 and"),
    ('seccomp_profile = "RuntimeDefault"', 'seccomp_profile = "Unconfined"', "workload.security.seccomp_profile", "not one of"),
    ('seccomp_profile = "RuntimeDefault"', 'seccomp_profile = "RuntimeDefault"\ncapabilities_add = ["SYS_ADMIN"]',
     "workload.security.capabilities_add[0]", "only NET_BIND_SERVICE"),
    ('pod_security_level = "restricted"', 'pod_security_level = "privileged"', "workload.pod_security_level", "Restricted"),
    ('requests = { cpu = "500m"', 'requests = { cpu = "half"', "workload.requests.cpu", "not a CPU quantity"),
    ("hpa_max_replicas = 20", "hpa_max_replicas = 10", "cost.hpa_max_replicas", "differs from workload.max_replicas"),
    ('readiness_path = "/ready/"', 'readiness_path = "/readyz"', "edge.health_check.path", "differs from workload.probes.readiness_path"),
])
def test_config_refuses_naming_the_key(tmp_path, old, new, key, phrase):
    assert_config_error(edited_config(tmp_path, old, new), key, phrase)


def test_objects_follow_the_design(cfg):
    objects = render_objects(cfg, REFS, {"blue": "repo/backend:1"})
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    ns = by[("Namespace", "fablink-prod")]["metadata"]["labels"]
    assert {ns[f"pod-security.kubernetes.io/{m}"] for m in ("enforce", "audit", "warn")} == {"restricted"}
    assert ns["pod-security.kubernetes.io/enforce-version"] == "v1.34"
    sa = by[("ServiceAccount", "fablink-backend")]
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == REFS.backend_role_arn
    pod = by[("Deployment", "fablink-backend-blue")]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}}
    assert c["readinessProbe"]["httpGet"]["path"] == cfg.edge.health_check.path and c["livenessProbe"]["httpGet"]["path"] == "/health/"
    assert c["ports"][0]["containerPort"] == cfg.edge.target_port
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    hpa = by[("HorizontalPodAutoscaler", "fablink-backend-blue")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    assert [m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]] == [60, 70]
    assert by[("PodDisruptionBudget", "fablink-backend-blue")]["spec"]["minAvailable"] == 2
    assert by[("TargetGroupBinding", "fablink-backend-blue")]["spec"]["targetGroupARN"] == "arn:tg/blue"
    deny = by[("NetworkPolicy", "default-deny")]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # A colour without an image is not rendered; with one, all five of its objects are.
    assert not any("green" in o["metadata"]["name"] for o in objects)
    assert len(render_objects(cfg, REFS, {"blue": "a:1", "green": "a:2"})) == len(objects) + 5
    validate_objects(objects, cfg.eks.version)


def _deployment(cfg) -> dict:
    return copy.deepcopy(next(o for o in render_objects(cfg, REFS, {"blue": "a:1"}) if o["kind"] == "Deployment"))


@pytest.mark.parametrize("edit,control,field", [
    (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "Privileged Containers", "containers[0].securityContext.privileged"),
    (lambda p: p.update(hostNetwork=True), "Host Namespaces", "hostNetwork"),
    (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "HostPath Volumes", "volumes[1].hostPath"),
    (lambda p: p["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"), "Privilege Escalation", "allowPrivilegeEscalation"),
    (lambda p: [p["securityContext"].pop("runAsNonRoot"), p["containers"][0]["securityContext"].pop("runAsNonRoot")], "Running as Non-root", "runAsNonRoot"),
    (lambda p: [p["securityContext"].pop("seccompProfile"), p["containers"][0]["securityContext"].pop("seccompProfile")], "Seccomp", "seccompProfile.type"),
    (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(drop=[]), "Capabilities", "capabilities.drop"),
    (lambda p: p["containers"][0]["ports"][0].update(hostPort=80), "Host Ports", "ports[0].hostPort"),
])
def test_restricted_profile_names_control_and_field(cfg, edit, control, field):
    obj = _deployment(cfg)
    assert restricted_violations(obj) == []
    edit(obj["spec"]["template"]["spec"])
    with pytest.raises(OpsError) as err:
        validate_objects([obj], cfg.eks.version)
    text = str(err.value)
    assert err.value.exit_code == 2 and text.startswith("Deployment fablink-prod/fablink-backend-blue: spec.template.spec.")
    assert field in text and f"Pod Security Standards (restricted), {control}:" in text


def test_schema_of_the_configured_version_names_object_and_field(cfg):
    obj = _deployment(cfg)
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limit"] = {"cpu": "1"}  # a typo: limits
    with pytest.raises(OpsError) as err:
        validate_objects([obj], cfg.eks.version)
    assert err.value.exit_code == 2
    assert "Deployment fablink-prod/fablink-backend-blue: spec.template.spec.containers[0].resources: " in str(err.value)
    assert "'limit' was unexpected" in str(err.value)
    binding = next(o for o in render_objects(cfg, REFS, {"blue": "a:1"}) if o["kind"] == "TargetGroupBinding")
    binding["spec"]["targetType"] = "pod"
    with pytest.raises(OpsError, match=r"TargetGroupBinding fablink-prod/fablink-backend-blue: spec.targetType: 'pod' is not one of"):
        validate_objects([binding], cfg.eks.version)


def test_a_privileged_container_stops_plan_with_exit_2_before_any_aws_call(tmp_path, monkeypatch, capsys):
    path = edited_config(tmp_path, "privileged = false", "privileged = true")
    assert "workload.security.privileged: a privileged container is refused" in plan_refused(path, monkeypatch, capsys)
