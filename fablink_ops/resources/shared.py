"""Account-wide discovery reads that several stages share within one plan.

A no-op plan of the whole design should read each resource type once, not
once per resource (issue 9). Three kinds of resource are spread over several
stages, so each stage reading its own would repeat the call:

- CloudWatch Logs groups (network, eks, aurora, edge, monitoring): one
  paginated DescribeLogGroups with no filter. Not ``logGroupNamePattern``:
  with it AWS answers only the name, ARN and creation time, without the
  retention we correct (moto ignores the parameter, which hid that). Not
  ``logGroupIdentifiers``: the API Gateway execution group's name carries the
  API id, and monitoring looks for groups AWS made on the project's behalf.
- IAM roles (network, eks, aurora, edge): one paginated
  GetAccountAuthorizationDetails(Filter=Role), which carries each role's
  trust policy, inline and attached policies and tags, instead of GetRole,
  GetRolePolicy and ListAttachedRolePolicies per role. botocore decodes its
  URL-encoded policy documents, as for GetRole.
- Tags of the resources whose describe call does not return them (DynamoDB
  tables, KMS keys, log groups, RDS subnet and parameter groups, SNS topics,
  the ACM certificate): one
  Resource Groups Tagging API GetResources, filtered by the project's tags.
  That index is eventually consistent (a resource is listed seconds after it
  is tagged), so it is trusted only to say "all our tags are there"; when it
  shows a tag missing or the resource absent, ``tags_of`` reads the resource
  itself before the plan claims drift. A re-run right after a create thus
  costs one more read per new resource, never a spurious tag update.

These reads are for plan-time discovery only (Context.read_once): a run
never trusts them after writing.
"""

from __future__ import annotations

import json
from typing import Callable

from .. import tags as tagging
from ..engine import Context

# ResourceTypeFilters of the tag index: only the types whose tags it stands in
# for. "logs" is the service: AWS names the type log-group, moto loggroup.
TAG_INDEX_TYPES = ("dynamodb:table", "kms:key", "logs", "rds:subgrp", "rds:cluster-pg", "rds:es", "sns:topic", "acm:certificate",
                   "backup:backup-vault", "backup:backup-plan")


def log_groups(ctx: Context) -> dict[str, dict]:
    """Every log group of the account and region, by name."""

    def read() -> dict[str, dict]:
        groups = ctx.client("logs").paginate("describe_log_groups", "logGroups", PaginationConfig={"PageSize": 50})
        return {g["logGroupName"]: g for g in groups}

    return ctx.read_once("logs:DescribeLogGroups", read)


def roles(ctx: Context) -> dict[str, dict]:
    """Every IAM role of the account (RoleDetail: trust, policies, tags), by name."""

    def read() -> dict[str, dict]:
        details = ctx.client("iam").paginate(
            "get_account_authorization_details", "RoleDetailList", Filter=["Role"], PaginationConfig={"PageSize": 1000}
        )
        return {r["RoleName"]: r for r in details}

    return ctx.read_once("iam:GetAccountAuthorizationDetails:Role", read)


def inline_policy(role: dict, name: str) -> dict | None:
    """An inline policy document of a RoleDetail, or None."""
    doc = next((p["PolicyDocument"] for p in role.get("RolePolicyList", []) if p["PolicyName"] == name), None)
    return json.loads(doc) if isinstance(doc, str) else doc


def attached_policies(role: dict) -> list[str]:
    return [p["PolicyArn"] for p in role.get("AttachedManagedPolicies", [])]


def _strip_star(arn: str) -> str:
    # DescribeLogGroups answers "arn:...:log-group:NAME:*"; the tagging API
    # names the group without ":*".
    return arn[:-2] if arn.endswith(":*") else arn


def tag_index(ctx: Context, region: str | None = None) -> dict[str, dict[str, str]]:
    """Tags by ARN of the project's resources of TAG_INDEX_TYPES in a region."""
    region = region or ctx.cfg.project.region

    def read() -> dict[str, dict[str, str]]:
        project = ctx.cfg.project
        items = ctx.target.client("resourcegroupstaggingapi", region).paginate(
            "get_resources",
            "ResourceTagMappingList",
            TagFilters=[{"Key": "Project", "Values": [project.name]}, {"Key": "Environment", "Values": [project.environment]}],
            ResourceTypeFilters=list(TAG_INDEX_TYPES),
            # Pages are cut by tags (100 by default); at 500, ~60 resources a page.
            TagsPerPage=500,
        )
        return {_strip_star(i["ResourceARN"]): tagging.from_list(i.get("Tags")) for i in items}

    return ctx.read_once(("tag:GetResources", region), read)


def tags_of(
    ctx: Context, arn: str, desired: dict[str, str], read: Callable[[], dict[str, str]], region: str | None = None
) -> dict[str, str]:
    """A resource's tags: from the tag index when it shows every desired tag,
    else from ``read`` (the resource's own tag call), which is authoritative.
    Once a run has started writing, always from ``read``."""
    if ctx.writing:
        return read()
    seen = tag_index(ctx, region).get(_strip_star(arn))
    if seen is not None and not tagging.missing(seen, desired):
        return seen
    return read()
