"""The Kubernetes side of the workload stage: render, validate, and (live)
server-side apply.

Plan renders every object from the config and what the other stages built
and validates it with no cluster (checks.py: exit 2 naming object and field).
Live, it then reads each object, asks the API server for a server-side dry
run of our apply and shows the difference per field; objects carrying our
managed-by label that the config no longer renders are shown, never deleted.
In the sandbox there is no API server: the apply is skipped, said plainly.
"""

from __future__ import annotations

from typing import Callable

from botocore.exceptions import ClientError

from ...engine import CREATE, NOOP, SKIP, UNMANAGED, UPDATE, Change, Context, Diff
from ...target import error_code
from ...kube import MANAGED_LABEL, KubeClient, apply_diff, eks_token, for_cluster, object_path
from ...kube.client import collection_path, describe
from ..eks.common import Names as EksNames
from ..edge.colours import colour_images
from ..edge.common import COLOURS, EdgeNames
from ..edge.common import Out as EdgeOut
from . import checks
from .common import AURORA_ENDPOINT, AURORA_READER, TG_ARN, VPC_ID, Found, WorkloadNames, change
from .render import TGB_API, Refs, render_objects

TGB_CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/targetgroupbindings.elbv2.k8s.aws"
SANDBOX_NOTE = "sandbox: no Kubernetes API server here; rendered and validated (invoke workload.manifests), not applied"
# The namespaced kinds the tool renders: where it looks for objects it made that the config no longer has.
RENDERED_KINDS = (("v1", "ServiceAccount"), ("v1", "Service"), ("apps/v1", "Deployment"),
                  ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
                  ("networking.k8s.io/v1", "NetworkPolicy"), (TGB_API, "TargetGroupBinding"))


def refs(ctx: Context, names: WorkloadNames, resolve: bool = False) -> Refs:
    """What the objects name from other stages; ``resolve`` (run time) reads
    what this run has made since the plan, else a <placeholder>."""
    def known(key: str, read: Callable[[], str] | None = None) -> str:
        value = ctx.outputs.get(key)
        if not value and resolve and read is not None:
            value = read()
        return value or f"<{key}>"

    def aurora(attr: str) -> Callable[[], str]:
        rds = ctx.client("rds")
        return lambda: rds.describe_db_clusters(DBClusterIdentifier=ctx.cfg.aurora.cluster_identifier)["DBClusters"][0][attr]

    net = ctx.cfg.network
    return Refs(
        backend_role_arn=names.role_arn(names.backend_role),
        target_groups={colour: known(key) for colour, key in TG_ARN.items()},
        vpc_cidr=net.vpc_cidr,
        db_subnet_cidrs=tuple(z.private_cidr for z in net.zones),  # Aurora's subnet group: the private subnets
        aurora_writer=known(AURORA_ENDPOINT, aurora("Endpoint")),
        aurora_reader=known(AURORA_READER, aurora("ReaderEndpoint")),
    )


def images(ctx: Context) -> dict[str, str]:
    """Which image each colour runs: what the release runbook recorded in the
    stage's variables (edge discovery reads them), [workload].image for a
    colour no release has deployed yet. Both colours are always rendered: the
    idle one is what a release deploys to (its rollout changes only the image
    of an existing Deployment) and what a rollback returns to at once. Values
    the runbook owns are read, never corrected: a provision after a release
    renders the released images, so the two field managers agree."""
    default = ctx.cfg.workload.image
    recorded = colour_images({"variables": ctx.outputs.get(EdgeOut.STAGE_VARIABLES) or {}}, default)
    return {colour: recorded.get(colour, default) for colour in COLOURS}


def rendered(ctx: Context, names: WorkloadNames, resolve: bool = False) -> list[dict]:
    return render_objects(ctx.cfg, refs(ctx, names, resolve), images(ctx))


def helm_command(ctx: Context, names: WorkloadNames) -> str:
    """The operator's one step: install the AWS Load Balancer Controller (its
    chart brings the TargetGroupBinding CRD) with its IRSA role."""
    cfg, lbc = ctx.cfg, ctx.cfg.workload.lb_controller
    values = [
        ("clusterName", cfg.project.cluster_name), ("region", cfg.project.region),
        ("vpcId", ctx.outputs.get(VPC_ID, "<the VPC id: invoke output --stage network>")),
        ("serviceAccount.create", "true"), ("serviceAccount.name", lbc.service_account),
        ("serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn", names.role_arn(names.controller_role)),
        # Its role grants target registration only: no WAF, Shield or
        # load balancers of its own, and Services of type LoadBalancer stay untouched.
        ("enableShield", "false"), ("enableWaf", "false"), ("enableWafv2", "false"), ("enableServiceMutatorWebhook", "false"),
        # Nor security groups of its own: the app tier admits the NLB by the
        # network stage's rules, and the role cannot create groups.
        ("enableBackendSecurityGroup", "false"),
    ]
    sets = " ".join(f"--set {k}={v}" for k, v in values)
    return (f"helm upgrade --install aws-load-balancer-controller aws-load-balancer-controller --repo https://aws.github.io/eks-charts "
            f"--version {lbc.chart_version} --namespace {lbc.namespace} {sets}")


def helm_step(ctx: Context, names: WorkloadNames) -> str:
    return f"install the AWS Load Balancer Controller (it registers the backend's pods in the target group): {helm_command(ctx, names)}"


def discover(ctx: Context, names: WorkloadNames, found: Found) -> None:
    if ctx.target.is_live:  # the API endpoint and CA; the sandbox has no API server to reach
        try:
            found.cluster = ctx.client("eks").describe_cluster(name=ctx.cfg.project.cluster_name)["cluster"]
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise


def plan(ctx: Context, names: WorkloadNames, found: Found) -> list[Change]:
    objects = rendered(ctx, names)
    checks.validate_objects(objects, ctx.cfg.eks.version)
    if not ctx.target.is_live:
        return [change("kubernetes", f"{len(objects)} objects in namespace {names.namespace}", SKIP, note=SANDBOX_NOTE)]
    if found.cluster is None or found.cluster.get("status") != "ACTIVE":
        return [_object_change(ctx, names, obj, None, [Diff("object", None, "created")], CREATE) for obj in objects]
    client = for_cluster(found.cluster, lambda: eks_token(ctx.target.session, ctx.target.region, ctx.cfg.project.cluster_name))
    return live_changes(ctx, names, client, objects)


def live_changes(ctx: Context, names: WorkloadNames, client: KubeClient, objects: list[dict]) -> list[Change]:
    crd = client.get(TGB_CRD)
    if crd is None:
        ctx.operator_step(helm_step(ctx, names))
    has_namespace = client.get(object_path(objects[0])) is not None
    changes = []
    for obj in objects:
        if obj["apiVersion"] == TGB_API:
            if crd is None:
                changes.append(change(f"k8s-{obj['kind']}", _name(obj), SKIP, note="the AWS Load Balancer Controller is not installed (see the operator step)"))
                continue
            checks.check_schema(obj, ctx.cfg.eks.version, _crd_schema(crd))
        if not has_namespace and obj["kind"] != "Namespace":
            # A dry run in a namespace that does not exist yet is refused: all new.
            changes.append(_object_change(ctx, names, obj, client, [Diff("object", None, "created")], CREATE))
            continue
        live = client.get(object_path(obj))
        dry = client.apply(obj, dry_run=True)
        diffs = [Diff(field, before, after) for field, before, after in apply_diff(obj, live, dry)]
        action = CREATE if live is None else (UPDATE if diffs else NOOP)
        changes.append(_object_change(ctx, names, obj, client, diffs if live is not None else [Diff("object", None, "created")], action))
    return changes + unmanaged(ctx, names, client, objects)


def _name(obj: dict) -> str:
    return describe(obj).split(" ", 1)[1]


def _crd_schema(crd: dict) -> dict | None:
    for version in crd.get("spec", {}).get("versions", []):
        if version.get("name") == TGB_API.split("/")[1]:
            return version.get("schema", {}).get("openAPIV3Schema")
    return None


def _needs(ctx: Context, names: WorkloadNames, obj: dict) -> tuple[str, ...]:
    """Namespace first, the service account before the pods that use it, the
    roles and the target group before what names them."""
    eks = EksNames(ctx.cfg)
    needs = [eks.k_cluster] + [eks.k_nodegroup(z) for z in ctx.cfg.network.zones]
    ns = names.namespace
    if obj["kind"] != "Namespace":
        needs.append(names.k_object({"kind": "Namespace", "metadata": {"name": ns}}))
    if obj["kind"] == "ServiceAccount":
        needs.append(names.k_backend_role)
    if obj["kind"] == "Deployment":
        needs.append(names.k_object({"kind": "ServiceAccount", "metadata": {"name": ctx.cfg.eks.irsa.service_account, "namespace": ns}}))
    if obj["kind"] == "TargetGroupBinding":
        needs += [EdgeNames(ctx.cfg).k_tg, names.k_controller_role]
    return tuple(needs)


def _object_change(ctx: Context, names: WorkloadNames, obj: dict, client: KubeClient | None, diffs: list[Diff], action: str) -> Change:
    key = names.k_object(obj)

    def apply() -> str:
        api = client or _client_at_run(ctx)
        # Rendered again: what this run made since the plan (a role, the
        # target group, the Aurora endpoints) is known now.
        now = next(o for o in rendered(ctx, names, resolve=True) if names.k_object(o) == key)
        checks.validate_objects([now], ctx.cfg.eks.version)
        api.apply(now)
        return "applied (server-side, field manager fablink-ops)"

    run = apply if action in (CREATE, UPDATE) else None
    return change(f"k8s-{obj['kind']}", _name(obj), action, diffs=diffs if action != NOOP else [], run=run,
                  needs=_needs(ctx, names, obj), resource_id=object_path(obj))


def _client_at_run(ctx: Context) -> KubeClient:
    cluster = ctx.client("eks").describe_cluster(name=ctx.cfg.project.cluster_name)["cluster"]
    return for_cluster(cluster, lambda: eks_token(ctx.target.session, ctx.target.region, ctx.cfg.project.cluster_name))


def unmanaged(ctx: Context, names: WorkloadNames, client: KubeClient, objects: list[dict]) -> list[Change]:
    """Objects with our managed-by label the config no longer renders: shown, never deleted."""
    wanted = {names.k_object(o) for o in objects}
    selector = "=".join(MANAGED_LABEL)
    out = []
    for api_version, kind in RENDERED_KINDS:
        for item in client.list(collection_path(api_version, kind, names.namespace), selector):
            item = {**item, "apiVersion": api_version, "kind": kind}
            if names.k_object(item) not in wanted:
                out.append(change(f"k8s-{kind}", _name(item), UNMANAGED, note="made by fablink-ops, no longer in the config: left alone"))
    return out
