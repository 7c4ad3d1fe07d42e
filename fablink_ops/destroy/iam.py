"""IAM roles and the EKS OIDC provider of this environment.

Roles are found in one paginated GetAccountAuthorizationDetails (it returns
each role's tags, attached and inline policies and instance profiles), then
kept by their ownership tags; their Stage tag says which stage's plan lists
them. DeleteRole fails with DeleteConflict while a managed policy is attached,
an inline policy exists or an instance profile holds the role, so those go
first (the order the IAM console and terraform-provider-aws use).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..engine import Context
from ..target import error_code
from .common import Doomed, gone, owned

NOT_FOUND = ("NoSuchEntity",)


def _roles(ctx: Context) -> list[dict[str, Any]]:
    iam = ctx.client("iam")
    return ctx.read_once("destroy:iam-roles", lambda: iam.paginate(
        "get_account_authorization_details", "RoleDetailList", Filter=["Role"]))


def roles(ctx: Context, stage: str, step: int) -> list[Doomed]:
    out = []
    for role in _roles(ctx):
        tags = tagging.from_list(role.get("Tags"))
        if owned(ctx, tags) and tags.get("Stage") == stage:
            out.append(Doomed(stage, "iam-role", role["RoleName"], role["Arn"], step, _delete_role(ctx, role["RoleName"])))
    return out


def _delete_role(ctx: Context, name: str):
    iam = ctx.client("iam")

    def delete() -> None:
        # Read afresh: a crashed run may have detached some already.
        for p in _listed(lambda: iam.paginate("list_attached_role_policies", "AttachedPolicies", RoleName=name)):
            gone(lambda: iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"]), *NOT_FOUND)
        for p in _listed(lambda: iam.paginate("list_role_policies", "PolicyNames", RoleName=name)):
            gone(lambda: iam.delete_role_policy(RoleName=name, PolicyName=p), *NOT_FOUND)
        for prof in _listed(lambda: iam.paginate("list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)):
            gone(lambda: iam.remove_role_from_instance_profile(
                RoleName=name, InstanceProfileName=prof["InstanceProfileName"]), *NOT_FOUND)
        gone(lambda: iam.delete_role(RoleName=name), *NOT_FOUND)

    return delete


def _listed(read) -> list[Any]:
    try:
        return read()
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return []
        raise


def oidc_providers(ctx: Context, stage: str, step: int) -> list[Doomed]:
    iam = ctx.client("iam")
    out = []
    for p in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        arn = p["Arn"]
        try:
            tags = tagging.from_list(iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn).get("Tags"))
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue  # deleted since the listing
            raise
        if owned(ctx, tags) and tags.get("Stage") == stage:
            out.append(Doomed(stage, "oidc-provider", arn.split("/", 1)[-1], arn, step,
                              lambda arn=arn: gone(lambda: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn), *NOT_FOUND)))
    return out
