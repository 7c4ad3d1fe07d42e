"""The workload's IAM roles, both assumed through IRSA (the cluster's OIDC
provider, made by the eks stage):

- the backend's: DynamoDB item operations on the six tables and their
  indexes, rds-db:connect as its IAM database user on this cluster's resource
  id, kms:Decrypt with the data keys, each by ARN;
- the AWS Load Balancer Controller's: it registers the backend's pods in the
  NLB's target groups (TargetGroupBinding) and nothing else.

Design doc: Authentication and authorization ("IRSA", "Service Account per
application", "Least privilege principle").
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ...engine import Change, Context
from ...target import error_code
from .. import kit, kms_key, shared
from ..aurora.common import Names as AuroraNames
from ..eks.common import STS_AUDIENCE, Names as EksNames
from ..eks.iam import DocFn, RoleSpec, irsa_trust, role
from .common import AURORA_RESOURCE_ID, STAGE, Found, WorkloadNames

# DynamoDB item operations and nothing else: no table, stream, backup or
# index management. (TransactGet/WriteItems are authorised through these.)
DYNAMODB_ITEM_ACTIONS = (
    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem",
)
# What the controller reads to bind a target group to a Service's pods. AWS
# offers no resource scoping for Describe* calls ("*" is the only resource
# they take). The list is the read-only part of AWS's published controller
# policy (docs/install/iam_policy.json of kubernetes-sigs/aws-load-balancer-controller).
CONTROLLER_READS = (
    "ec2:DescribeAvailabilityZones", "ec2:DescribeInstances", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:GetSecurityGroupsForVpc",
    "elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
)
BACKEND_POLICY = "fablink-backend"
CONTROLLER_POLICY = "target-group-binding"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def data_key_aliases(ctx: Context) -> list[str]:
    return sorted({ctx.cfg.dynamodb.kms_key_alias, *ctx.cfg.eks.irsa.data_key_aliases})


def _key_arn(ctx: Context, alias: str, resolve: bool) -> str | None:
    """A data key's ARN: recorded by the stage that owns it, else (a key of
    someone else's, or one made in this run) asked of KMS at run time."""
    known = ctx.outputs.get(kms_key.output_key(alias, ctx.cfg.project.region))
    if known or not resolve:
        return known
    return ctx.client("kms").describe_key(KeyId=alias)["KeyMetadata"]["Arn"]


def _cluster_resource_id(ctx: Context, resolve: bool) -> str | None:
    known = ctx.outputs.get(AURORA_RESOURCE_ID)
    if known or not resolve:
        return known
    rds = ctx.client("rds")
    return rds.describe_db_clusters(DBClusterIdentifier=ctx.cfg.aurora.cluster_identifier)["DBClusters"][0]["DbClusterResourceId"]


def backend_policy(ctx: Context) -> DocFn:
    """Least privilege for the FabLink backend, every resource by ARN.
    None at plan time while the cluster or a key is still to be made."""
    p, irsa = ctx.cfg.project, ctx.cfg.eks.irsa
    arn = f"arn:{kit.partition(ctx.cfg.project.region)}"

    def doc(resolve: bool) -> dict | None:
        resource_id = _cluster_resource_id(ctx, resolve)
        keys = [_key_arn(ctx, alias, resolve) for alias in data_key_aliases(ctx)]
        if not resource_id or not all(keys):
            return None
        tables = [f"{arn}:dynamodb:{p.region}:{p.account_id}:table/{t.name}" for t in ctx.cfg.dynamodb.tables]
        return _doc(
            {"Sid": "DynamoDBItems", "Effect": "Allow", "Action": list(DYNAMODB_ITEM_ACTIONS),
             "Resource": [a for t in tables for a in (t, f"{t}/index/*")]},
            # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
            {"Sid": "AuroraIamAuthentication", "Effect": "Allow", "Action": "rds-db:connect",
             "Resource": f"{arn}:rds-db:{p.region}:{p.account_id}:dbuser:{resource_id}/{irsa.db_iam_user}"},
            {"Sid": "DecryptWithDataKeys", "Effect": "Allow", "Action": "kms:Decrypt", "Resource": sorted(keys)},
        )

    return doc


def controller_policy(ctx: Context) -> dict:
    """Only what a TargetGroupBinding needs: AWS's published policy also lets
    the controller create and delete load balancers, target groups and
    security-group rules for any Ingress or Service; this environment's NLB
    and target groups are the edge stage's, so none of that is granted."""
    p = ctx.cfg.project
    groups = f"arn:{kit.partition(ctx.cfg.project.region)}:elasticloadbalancing:{p.region}:{p.account_id}:targetgroup/{p.prefix}-*/*"
    return _doc(
        {"Sid": "Describe", "Effect": "Allow", "Action": list(CONTROLLER_READS), "Resource": "*"},
        {"Sid": "RegisterPods", "Effect": "Allow", "Resource": groups,
         "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]},
    )


def role_specs(ctx: Context, names: WorkloadNames) -> list[RoleSpec]:
    cfg, eks = ctx.cfg, EksNames(ctx.cfg)
    ns, sa = cfg.project.namespace, cfg.eks.irsa.service_account
    lbc = cfg.workload.lb_controller
    policy = controller_policy(ctx)
    return [
        RoleSpec(names.backend_role, f"IRSA: service account {ns}/{sa}", irsa_trust(ctx, ns, sa),
                 f"system:serviceaccount:{ns}:{sa}, aud {STS_AUDIENCE}", inline={BACKEND_POLICY: backend_policy(ctx)},
                 needs=(eks.k_oidc,) + _data_needs(ctx)),
        RoleSpec(names.controller_role, f"IRSA: AWS Load Balancer Controller ({lbc.namespace}/{lbc.service_account})",
                 irsa_trust(ctx, lbc.namespace, lbc.service_account),
                 f"system:serviceaccount:{lbc.namespace}:{lbc.service_account}, aud {STS_AUDIENCE}",
                 inline={CONTROLLER_POLICY: lambda resolve: policy}, needs=(eks.k_oidc,)),
    ]


def _data_needs(ctx: Context) -> tuple[str, ...]:
    """The changes that make what the backend's policy names: the Aurora
    cluster (its resource id) and the keys the data stages own."""
    region, owned = ctx.cfg.project.region, {ctx.cfg.dynamodb.kms_key_alias, ctx.cfg.aurora.kms_key_alias}
    keys = tuple(kms_key.change_key(a, region, region) for a in data_key_aliases(ctx) if a in owned)
    return (AuroraNames(ctx.cfg).k_cluster,) + keys


def discover(ctx: Context, names: WorkloadNames, found: Found) -> None:
    roles = shared.roles(ctx)
    for name in (names.backend_role, names.controller_role):
        if name in roles:
            found.roles[name] = roles[name]
            ctx.set_output(f"workload:role-arn:{name}", roles[name]["Arn"])  # for invoke output
    # Keys the data stages do not own are read here (one DescribeKey each).
    region = ctx.cfg.project.region
    for alias in data_key_aliases(ctx):
        if not ctx.outputs.get(kms_key.output_key(alias, region)):
            try:
                ctx.set_output(kms_key.output_key(alias, region), ctx.client("kms").describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
            except ClientError as exc:
                if error_code(exc) != "NotFoundException":
                    raise


def plan(ctx: Context, names: WorkloadNames, found: Found) -> list[Change]:
    return [role(ctx, found, spec, STAGE) for spec in role_specs(ctx, names)]
