"""IAM for the EKS stage: the cluster and node roles, the cluster's OIDC
provider, and the IRSA roles of the add-ons that need AWS permissions (the
backend's role is the workload stage's: it names the Aurora cluster's resource
id and the data keys' ARNs, which exist only once those stages have run).

Design doc: Security, "Authentication and authorization" (IRSA, service
account per application, least privilege). Managed policies are attached by
ARN; what no managed policy covers narrowly enough is an inline policy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError

from ... import ownership
from ... import tags as tagging
from .. import kit
from ...config import AddonConfig
from ...engine import CREATE, Change, Context, Diff
from ...target import error_code
from .common import NAME, STS_AUDIENCE, Names, Out, change, desired_tags, maybe_update
from .discover import Found, oidc_host, role_tags

ARN = "arn:aws:iam::aws:policy/"
CLUSTER_POLICIES = (ARN + "AmazonEKSClusterPolicy",)
NODE_POLICIES = (ARN + "AmazonEKSWorkerNodePolicy", ARN + "AmazonEKS_CNI_Policy", ARN + "AmazonEC2ContainerRegistryReadOnly")
SECRETS_POLICY = "secrets-encryption"
EKS = kit.StageKit(NAME)

# A document, or None when it cannot be known yet (plan time, before what it
# names exists). ``resolve`` is True at run time, when everything it names does.
DocFn = Callable[[bool], dict | None]


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str
    trust: DocFn
    trust_summary: str
    managed: tuple[str, ...] = ()
    inline: dict[str, DocFn] = field(default_factory=dict)
    needs: tuple[str, ...] = ()


def role_names(names: Names, cfg) -> list[str]:
    return [names.cluster_role, names.node_role] + [
        names.addon_role(a) for a in cfg.eks.addons if a.service_account
    ]


# --------------------------------------------------------------------------
# policy documents


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _service_trust(service: str, *actions: str) -> DocFn:
    doc = _doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)})
    return lambda resolve: doc


def _known(ctx: Context, key: str, resolve: bool) -> str | None:
    return ctx.output(key) if resolve else ctx.outputs.get(key)


def irsa_trust(ctx: Context, namespace: str, service_account: str) -> DocFn:
    """Only this service account of this cluster, only for STS.

    https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
    StringEquals on both :sub and :aud: a token of any other service account,
    or minted for another audience, cannot assume the role."""

    def doc(resolve: bool) -> dict | None:
        arn, issuer = _known(ctx, Out.OIDC_ARN, resolve), _known(ctx, Out.OIDC_ISSUER, resolve)
        if not arn or not issuer:
            return None
        host = oidc_host(issuer)
        return _doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{host}:aud": STS_AUDIENCE,
                    }
                },
            }
        )

    return doc


def secrets_policy(ctx: Context, names: Names) -> DocFn:
    """What the cluster role needs to use the secrets key (the key policy
    delegates to IAM). As terraform-aws-eks grants it, scoped to the one key."""

    def doc(resolve: bool) -> dict | None:
        key_arn = _known(ctx, names.key_arn_output, resolve)
        if not key_arn:
            return None
        return _doc(
            {
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                "Resource": key_arn,
            }
        )

    return doc


# --------------------------------------------------------------------------
# the roles


def role_specs(ctx: Context, names: Names) -> list[RoleSpec]:
    cfg = ctx.cfg
    irsa_needs = (names.k_oidc,)
    specs = [
        RoleSpec(
            names.cluster_role,
            f"EKS control plane of {names.cluster}",
            # https://docs.aws.amazon.com/eks/latest/userguide/cluster-iam-role.html
            # No confused-deputy condition (issue 17 item 6): AWS's published
            # trust for the cluster role has none, and EKS is not documented
            # to send aws:SourceAccount/SourceArn when it assumes it; a
            # condition it does not meet would stop the control plane.
            _service_trust("eks.amazonaws.com", "sts:AssumeRole", "sts:TagSession"),
            "eks.amazonaws.com",
            CLUSTER_POLICIES,
            {SECRETS_POLICY: secrets_policy(ctx, names)},
            needs=(names.k_key,),
        ),
        RoleSpec(
            names.node_role,
            f"EKS managed nodes of {names.cluster}",
            # No confused-deputy condition (issue 17 item 6): EC2 assumes an
            # instance profile's role for the instance itself, with no source
            # ARN or account in the request; AWS's node role trust
            # (https://docs.aws.amazon.com/eks/latest/userguide/create-node-role.html)
            # has none. iam:PassRole (ours only) is what guards it.
            _service_trust("ec2.amazonaws.com", "sts:AssumeRole"),
            "ec2.amazonaws.com",
            NODE_POLICIES,
        ),
    ]
    for addon in cfg.eks.addons:
        if addon.service_account:
            specs.append(_addon_role(ctx, names, addon, irsa_needs))
    return specs


def _addon_role(ctx: Context, names: Names, addon: AddonConfig, needs: tuple[str, ...]) -> RoleSpec:
    namespace, _, account = addon.service_account.partition(":")
    return RoleSpec(
        names.addon_role(addon),
        f"IRSA: EKS add-on {addon.name} ({namespace}/{account})",
        irsa_trust(ctx, namespace, account),
        f"system:serviceaccount:{namespace}:{account}, aud {STS_AUDIENCE}",
        addon.policy_arns,
        needs=needs,
    )


def _same(a: dict | str | None, b: dict | None) -> bool:
    if isinstance(a, str):
        a = json.loads(a)
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def role(ctx: Context, found: Found, spec: RoleSpec, stage: kit.StageKit = EKS) -> Change:
    """The role of ``spec``, created or corrected. ``stage``: the stage that
    owns it (the workload stage's IRSA roles are made by this function too)."""
    iam = ctx.client("iam")
    name = spec.name
    tags = stage.tags(ctx.cfg, name)
    current = found.roles.get(name)

    def attach(arn: str) -> None:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)

    def put(policy: str) -> None:
        iam.put_role_policy(RoleName=name, PolicyName=policy, PolicyDocument=json.dumps(spec.inline[policy](True)))

    def set_trust() -> None:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(spec.trust(True)))

    if current is None:

        def create() -> str:
            arn = kit.create_role(ctx, name, spec.trust(True), spec.description, tags)
            ctx.set_output(Out.role_arn(name), arn)
            for policy_arn in spec.managed:
                attach(policy_arn)
            for policy in spec.inline:
                put(policy)
            return arn

        diffs = [Diff("trusts", None, spec.trust_summary)]
        diffs += [Diff("managed policy", None, a.rsplit("/", 1)[-1]) for a in spec.managed]
        diffs += [Diff("inline policy", None, p) for p in spec.inline]
        return stage.change("iam-role", name, CREATE, diffs=diffs, needs=spec.needs, run=create)

    diffs, steps = [], []
    trust = spec.trust(False)
    if trust is None or not _same(current.get("AssumeRolePolicyDocument"), trust):
        diffs.append(Diff("trusts", "differs" if trust else "(the cluster's OIDC provider is not known yet)", spec.trust_summary))
        steps.append(set_trust)
    attached = {p["PolicyArn"] for p in current.get("AttachedManagedPolicies", [])}
    for arn in spec.managed:
        if arn not in attached:
            diffs.append(Diff("managed policy", None, arn.rsplit("/", 1)[-1]))
            steps.append(lambda a=arn: attach(a))
    for arn in sorted(attached - set(spec.managed)):  # our role: nothing beyond what it needs
        diffs.append(Diff("managed policy", arn.rsplit("/", 1)[-1], None))
        steps.append(lambda a=arn: iam.detach_role_policy(RoleName=name, PolicyArn=a))
    inline = {p["PolicyName"]: p["PolicyDocument"] for p in current.get("RolePolicyList", [])}
    for policy, doc_fn in spec.inline.items():
        wanted = doc_fn(False)
        if policy not in inline or wanted is None or not _same(inline[policy], wanted):
            diffs.append(Diff("inline policy", "differs" if policy in inline else None, policy))
            steps.append(lambda p=policy: put(p))
    for policy in sorted(set(inline) - set(spec.inline)):
        diffs.append(Diff("inline policy", policy, None))
        steps.append(lambda p=policy: iam.delete_role_policy(RoleName=name, PolicyName=p))
    now = role_tags(current)
    todo = tagging.missing(now, tags)
    diffs += kit.tag_diff(now, tags)
    if todo:
        steps.append(lambda: iam.tag_role(RoleName=name, Tags=tagging.to_list(todo)))
    return stage.maybe_update("iam-role", name, current["Arn"], diffs, steps, spec.needs)


# --------------------------------------------------------------------------
# the cluster's OIDC provider (IRSA)


def oidc_provider(ctx: Context, names: Names, found: Found) -> Change:
    iam = ctx.client("iam")
    kind, name = "oidc-provider", names.cluster
    tags = desired_tags(ctx.cfg, f"{names.cluster}-oidc")
    needs = (names.k_cluster,)
    if found.oidc is None:

        def create() -> str:
            issuer = ctx.output(Out.OIDC_ISSUER)
            try:
                # No thumbprint: IAM verifies EKS's OIDC endpoints against its
                # own trusted root CAs and ignores one given.
                # https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html
                arn = iam.create_open_id_connect_provider(
                    Url=issuer, ClientIDList=[STS_AUDIENCE], Tags=tagging.to_list(tags)
                )["OpenIDConnectProviderArn"]
            except ClientError as exc:  # created by a run whose answer was lost, or by someone else
                if error_code(exc) != "EntityAlreadyExists":
                    raise
                partition = ctx.output(Out.CLUSTER_ARN).split(":")[1]
                arn = f"arn:{partition}:iam::{ctx.cfg.project.account_id}:oidc-provider/{oidc_host(issuer)}"
                _adopt_only_ours(ctx, kind, name, arn, tags)
            ctx.set_output(Out.OIDC_ARN, arn)
            return arn

        issuer = ctx.outputs.get(Out.OIDC_ISSUER, "(the cluster's OIDC issuer)")
        return change(kind, name, CREATE, diffs=[Diff("url", None, issuer), Diff("audience", None, STS_AUDIENCE)], needs=needs, run=create)
    arn = found.oidc_arn or ""
    diffs, steps = [], []
    clients = found.oidc.get("ClientIDList", [])
    if STS_AUDIENCE not in clients:
        diffs.append(Diff("audience", clients, STS_AUDIENCE))
        steps.append(lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID=STS_AUDIENCE))
    now = tagging.from_list(found.oidc.get("Tags"))
    todo = tagging.missing(now, tags)
    diffs += kit.tag_diff(now, tags)
    if todo:
        steps.append(lambda: iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=tagging.to_list(todo)))
    return maybe_update(kind, name, arn, diffs, steps, needs)


def _adopt_only_ours(ctx: Context, kind: str, name: str, arn: str, tags: dict[str, str]) -> None:
    """An existing provider for our issuer is taken only if its ownership tags
    are this environment's (a lost answer of our own create carries them):
    one made by another tool or by hand is refused as the plan's ownership
    guard would have refused it, had it been there at plan time."""
    found = tagging.from_list(ctx.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn).get("Tags"))
    ownership.check([change(kind, name, CREATE, diffs=kit.tag_diff(found, tags), resource_id=arn)], adopt=False)
