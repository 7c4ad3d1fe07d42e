"""The workload stage on moto: the backend's and the controller's IRSA roles
(least privilege, every resource by ARN), the Kubernetes objects rendered,
validated and skipped in the sandbox, re-run 0 writes; the live path's
Kubernetes changes against a fake API server."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest

from fablink_ops.engine import CREATE, NOOP, SKIP, UNMANAGED, UPDATE
from fablink_ops.engine import apply
from fablink_ops.resources import workload
from fablink_ops.resources.eks.common import Out
from fablink_ops.resources.workload import iam as wl_iam
from fablink_ops.resources.workload import objects
from fablink_ops.resources.workload.common import WorkloadNames

from .conftest import make_ctx
from .faults import CrashAtWrite, SimulatedCrash, at_every_write


REGION, ACCOUNT = "ap-northeast-2", "853963783084"
ISSUER = "https://oidc.eks.ap-northeast-2.amazonaws.com/id/EXAMPLE"
RESOURCE_ID = "cluster-ABCDEFGHIJKLMNOPQRSTUVWXY0"


def _workload_ctx(cfg, hooks=()):
    """What the workload stage takes from the stages before it, and no more
    (a whole-design provision costs ~8 s; test_destroy and the access review
    build the whole design, the workload stage included): the cluster's OIDC
    provider, the Aurora cluster's resource id, the two data keys."""
    ctx = make_ctx(cfg, hooks)
    ctx.outputs.update({Out.OIDC_ISSUER: ISSUER, Out.OIDC_ARN: f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER[8:]}",
                        "aurora:resource-id": RESOURCE_ID})
    kms = boto3.client("kms", region_name=REGION)
    for alias in ("alias/fablink-prod-aurora", "alias/fablink-prod-dynamodb"):
        kms.create_alias(AliasName=alias, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    return ctx


def _provision(cfg, ctx=None):
    ctx = ctx or _workload_ctx(cfg)
    changes = workload.plan(ctx)
    apply(changes, ctx, 4)
    return ctx, changes


def _policy(role: str, name: str) -> dict:
    return boto3.client("iam", region_name=REGION).get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]


def test_provision_builds_the_roles_skips_the_apply_and_converges(cfg, aws):
    ctx, changes = _provision(cfg)
    names = WorkloadNames(cfg)
    mine = {(c.kind, c.name): c for c in changes if c.stage == "workload"}
    assert mine[("iam-role", names.backend_role)].action == CREATE
    assert mine[("iam-role", names.controller_role)].action == CREATE
    skipped = [c for c in mine.values() if c.action == SKIP]
    assert len(skipped) == 1 and "no Kubernetes API server" in skipped[0].note and "17 objects" in skipped[0].name  # shared 7, 5 a colour

    doc = _policy(names.backend_role, "fablink-backend")
    stmts = {s["Sid"]: s for s in doc["Statement"]}
    for s in doc["Statement"]:
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]):
            assert r != "*" and ":key/*" not in r and "cluster-*" not in r
    assert stmts["AuroraIamAuthentication"]["Resource"] == f"arn:aws:rds-db:{REGION}:{ACCOUNT}:dbuser:{RESOURCE_ID}/fablink_app"
    kms = boto3.client("kms", region_name=REGION)
    keys = sorted(kms.describe_key(KeyId=a)["KeyMetadata"]["Arn"] for a in ("alias/fablink-prod-aurora", "alias/fablink-prod-dynamodb"))
    assert stmts["DecryptWithDataKeys"] == {"Sid": "DecryptWithDataKeys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": keys}
    tables = [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t.name}" for t in cfg.dynamodb.tables]
    assert sorted(stmts["DynamoDBItems"]["Resource"]) == sorted(tables + [t + "/index/*" for t in tables])
    assert set(stmts["DynamoDBItems"]["Action"]) == set(wl_iam.DYNAMODB_ITEM_ACTIONS)

    lbc = {s["Sid"]: s for s in _policy(names.controller_role, "target-group-binding")["Statement"]}
    assert lbc["RegisterPods"]["Resource"] == f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/fablink-prod-*/*"
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in lbc["Describe"]["Action"])
    trust = boto3.client("iam", region_name=REGION).get_role(RoleName=names.controller_role)["Role"]["AssumeRolePolicyDocument"]
    assert list(trust["Statement"][0]["Condition"]["StringEquals"].values())[0] == "system:serviceaccount:kube-system:aws-load-balancer-controller"

    again = make_ctx(cfg)
    again.outputs.update({k: v for k, v in ctx.outputs.items() if not k.startswith("kms-key-arn")})
    _, second = _provision(cfg, again)
    assert again.target.meter.writes == 0
    assert {c.action for c in second} == {NOOP, SKIP}

    # A widened policy (someone's "*") is shown and corrected.
    boto3.client("iam", region_name=REGION).put_role_policy(
        RoleName=names.backend_role, PolicyName="fablink-backend",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    changes = workload.plan(again)
    role = next(c for c in changes if c.name == names.backend_role)
    assert role.action == UPDATE and [d.attribute for d in role.diffs] == ["inline policy"]


# Writes of a clean provision: CreateRole and PutRolePolicy for the backend's
# role and for the controller's (the Kubernetes apply is skipped in the sandbox).
CLEAN_WRITES = 4


@at_every_write(CLEAN_WRITES)
def test_crash_at_every_write_then_rerun_converges(cfg, aws, k, after):
    """A run killed at any write (before it, or after AWS did it and the answer
    was lost) is finished by the next run: both roles, each with its policy,
    none twice, and a plan with nothing left to do."""
    serial = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1))
    crash = CrashAtWrite(k, after=after)
    ctx = _workload_ctx(serial, crash.hooks)
    with pytest.raises(SimulatedCrash):
        apply(workload.plan(ctx), ctx, 1)
    again = make_ctx(serial)
    again.outputs.update({key: v for key, v in ctx.outputs.items() if key in (Out.OIDC_ISSUER, Out.OIDC_ARN, "aurora:resource-id")})
    apply(workload.plan(again), again, 1)
    names = WorkloadNames(cfg)
    iam = boto3.client("iam", region_name=REGION)
    ours = sorted(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] in (names.backend_role, names.controller_role))
    assert ours == sorted([names.backend_role, names.controller_role]), crash.crashed_on
    for role in ours:
        assert len(iam.list_role_policies(RoleName=role)["PolicyNames"]) == 1
    assert {c.action for c in workload.plan(again)} <= {NOOP, SKIP}


def test_the_helm_step_names_the_role_and_values(cfg):
    names = WorkloadNames(cfg)
    ctx = make_ctx(cfg)
    ctx.outputs["vpc"] = "vpc-123"
    helm = objects.helm_command(ctx, names)
    assert "--set serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::853963783084:role/fablink-prod-aws-load-balancer-controller" in helm
    assert "--version 1.14.0 --namespace kube-system" in helm and "--set vpcId=vpc-123" in helm and "clusterName=fablink-cluster-prod" in helm


# --------------------------------------------------------------------------
# live: the Kubernetes changes against a fake API server (test_kube's)

from fablink_ops.kube import object_path  # noqa: E402
from fablink_ops.resources.workload.checks import TGB_SCHEMA  # noqa: E402

from .test_kube import api  # noqa: E402,F401  (the fake API server fixture)

CRD = {"spec": {"versions": [{"name": "v1beta1", "schema": {"openAPIV3Schema": TGB_SCHEMA}}]}}


def _live_ctx(cfg):
    ctx = make_ctx(cfg)
    ctx.outputs.update({"edge:tg-arn": "arn:aws:elasticloadbalancing:ap-northeast-2:853963783084:targetgroup/fablink-prod-backend/1",
                        "aurora:endpoint": "w.example", "aurora:reader-endpoint": "r.example"})
    return ctx


def test_live_plan_diffs_the_dry_run_applies_and_shows_what_it_no_longer_renders(cfg, api):
    client, fake = api
    ctx, names = _live_ctx(cfg), WorkloadNames(cfg)
    rendered = objects.rendered(ctx, names, resolve=True)
    namespace, deployment = rendered[0], next(o for o in rendered if o["kind"] == "Deployment")
    old = json.loads(json.dumps(deployment))
    old["spec"]["template"]["spec"]["containers"][0]["image"] = "repo/backend:0.9"
    fake.answers.update({
        ("GET", objects.TGB_CRD): (200, CRD),
        ("GET", object_path(namespace)): (200, namespace),
        ("GET", object_path(deployment)): (200, old),
        ("GET", "/apis/apps/v1/namespaces/fablink-prod/deployments"): (200, {"items": [
            {"metadata": {"name": "fablink-backend-canary", "namespace": "fablink-prod"}}]}),
    })
    changes = {(c.kind, c.name): c for c in objects.live_changes(ctx, names, client, rendered)}
    assert changes[("k8s-Namespace", "fablink-prod")].action == NOOP
    update = changes[("k8s-Deployment", "fablink-prod/fablink-backend-blue")]
    assert update.action == UPDATE
    assert [(d.attribute, d.before, d.after) for d in update.diffs] == [
        ("spec.template.spec.containers[0].image", "repo/backend:0.9", cfg.workload.image)]
    assert changes[("k8s-TargetGroupBinding", "fablink-prod/fablink-backend-blue")].action == CREATE
    assert changes[("k8s-Deployment", "fablink-prod/fablink-backend-canary")].action == UNMANAGED
    dry_runs = [r for r in fake.seen if r["method"] == "PATCH"]
    assert dry_runs and all(r["query"]["dryRun"] == "All" for r in dry_runs)  # plan never writes
    assert ctx.operator_steps == []
    fake.seen.clear()
    update.run()
    assert [(r["method"], r["path"], r["query"]) for r in fake.seen] == [
        ("PATCH", object_path(deployment), {"fieldManager": "fablink-ops"})]
    assert fake.seen[0]["body"]["spec"]["template"]["spec"]["containers"][0]["image"] == cfg.workload.image


def test_live_plan_without_the_controller_prints_the_helm_step(cfg, api):
    client, fake = api
    ctx, names = _live_ctx(cfg), WorkloadNames(cfg)
    changes = objects.live_changes(ctx, names, client, objects.rendered(ctx, names))
    bindings = [c for c in changes if c.kind == "k8s-TargetGroupBinding"]
    assert len(bindings) == 2 and all(b.action == SKIP and "not installed" in b.note for b in bindings)  # a colour each
    # No namespace yet: everything is new, and no dry run is asked in a namespace that does not exist.
    assert {c.action for c in changes if c not in bindings} == {CREATE}
    assert [r["path"] for r in fake.seen if r["method"] == "PATCH"] == ["/api/v1/namespaces/fablink-prod"]
    assert len(ctx.operator_steps) == 1 and "helm upgrade --install aws-load-balancer-controller" in ctx.operator_steps[0]


def test_manifests_writes_one_valid_file_per_object(cfg, tmp_path):
    import yaml

    from fablink_ops.resources.workload import manifests
    from fablink_ops.resources.workload.checks import validate_objects

    rendered = objects.rendered(make_ctx(cfg), WorkloadNames(cfg))  # nothing built: placeholders, said
    assert manifests.placeholders(rendered) == ["<aurora:endpoint>", "<aurora:reader-endpoint>", "<edge:tg-arn-green>", "<edge:tg-arn>"]
    paths = manifests.write(rendered, str(tmp_path / "out"))
    assert [p.rsplit("/", 1)[1] for p in paths][:2] == ["00-namespace-fablink-prod.yaml", "01-serviceaccount-fablink-backend.yaml"]
    loaded = [yaml.safe_load(open(p)) for p in paths]
    assert loaded == rendered
    validate_objects(loaded, cfg.eks.version)


def test_both_colours_run_the_images_the_release_recorded_on_the_stage(cfg):
    """The contract with invoke release: the stage's variables (edge discovery
    records them) say each colour's image; a colour never released runs
    [workload].image. Provision renders what the release applied, so the
    release's field manager and provision's agree instead of conflicting."""
    from fablink_ops.resources.edge.common import Out as EdgeOut

    ctx = make_ctx(cfg)
    assert objects.images(ctx) == {"blue": cfg.workload.image, "green": cfg.workload.image}
    repository = cfg.workload.image.rsplit(":", 1)[0]
    ctx.outputs[EdgeOut.STAGE_VARIABLES] = {"liveColour": "green", "greenImage": "v2", "blueImage": f"{repository}:v1"}
    assert objects.images(ctx) == {"blue": f"{repository}:v1", "green": f"{repository}:v2"}
    deployments = {o["metadata"]["name"]: o for o in objects.rendered(ctx, WorkloadNames(cfg)) if o["kind"] == "Deployment"}
    images = {name: d["spec"]["template"]["spec"]["containers"][0]["image"] for name, d in deployments.items()}
    assert images == {"fablink-backend-blue": f"{repository}:v1", "fablink-backend-green": f"{repository}:v2"}
