"""The IAM policy an operator needs to run fablink-ops against AWS (--live).

Derived, not hand-kept: the actions are
- the API calls a full provision makes (the Meter counts them, "service:Operation"),
  turned into IAM actions (API Gateway's REST API is authorised by HTTP verb);
- the calls the code can make that a fresh provision does not (drift
  corrections: UpdateClusterConfig, RevokeSecurityGroupIngress, ...), found in
  the source: every boto3 method name written in fablink_ops/ that is an
  operation of a service the tool uses (a name several services share, such
  as tag_resource, is granted on each of them: a little more than needed);
- the calls only a live run makes (moto lacks the API: add-ons, access
  entries, ...), listed in LIVE_ONLY with where they are made;
- the runbooks' declared PERMISSIONS (each runbook's tests check its list);
- the permissions AWS checks without an API call of ours (IMPLICIT, each
  with why): iam:PassRole, service-linked roles, tag-on-create, KMS grants,
  Secrets Manager for RDS's managed master password, WAF on API Gateway.

docs/operator-policy.json is the document for production operators
(provision and the runbooks); docs/destroy-policy.json, `invoke destroy`'s,
is apart (derived from destroy's own calls, the guard's and the run lock's),
so that prod operators need not hold destroy's Delete* calls.
tests/test_operator_policy.py regenerates both (the first from a full
sandbox provision) and fails when either differs:

    FABLINK_WRITE_POLICY=1 python -m pytest -q tests/test_operator_policy.py

Resource "*": the tool finds resources by name and tag, and creates them
with names from the config; scope it further per account if you must (the
PassRole statement is already limited to the services that take our roles).
The exceptions are the calls that delete data (SCOPED_DELETES): outside
destroy, only backup.verify's sweep deletes tables, clusters and instances,
its own temporaries, so the operators' policy allows those deletes on the
environment's temporary names only (``[backup] temporary_prefix``): a
mistake, or a bug, cannot delete a production table with these credentials.
docs/operator-policy.json is prod's (config/prod.toml); another
environment's operators need its prefix: ``invoke policy -c CONFIG``
(``for_environment``).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import botocore
import botocore.session

# botocore service name -> IAM action prefix, where they differ.
IAM_PREFIX = {
    "elbv2": "elasticloadbalancing",
    "resourcegroupstaggingapi": "tag",
    "accessanalyzer": "access-analyzer",
}

# Calls only a live run makes: moto lacks the API, so a sandbox provision never does.
LIVE_ONLY: dict[str, str] = {
    "eks:DescribeAddon": "resources/eks/discover.py: add-ons",
    "eks:CreateAddon": "resources/eks/addons.py",
    "eks:UpdateAddon": "resources/eks/addons.py",
    "eks:DescribeAddonVersions": "resources/eks/addons.py: the default version after an upgrade",
    "eks:DescribeUpdate": "waits for cluster, node group and add-on updates",
    "eks:UpdateClusterVersion": "resources/eks/cluster.py: upgrades",
    "eks:UpdateNodegroupVersion": "resources/eks/nodegroups.py: upgrades and launch template roll-outs",
    "eks:ListAccessEntries": "resources/eks/access_entries.py",
    "eks:CreateAccessEntry": "resources/eks/access_entries.py",
    "eks:AssociateAccessPolicy": "resources/eks/access_entries.py",
    "eks:ListAssociatedAccessPolicies": "resources/eks/access_entries.py",
    "acm:DescribeCertificate": "resources/edge/domain.py: the certificate's validation record and wait",
    "apigateway:PATCH": "resources/edge/domain.py: UpdateDomainName (moto lacks it)",
}

# Checked by AWS without an API call of ours.
IMPLICIT: dict[str, str] = {
    "iam:PassRole": "EKS (cluster, node, IRSA roles), RDS (Enhanced Monitoring role), API Gateway (its CloudWatch role)",
    "iam:CreateServiceLinkedRole": "first EKS cluster / node group, RDS, ELB, NAT gateway in an account make their service-linked roles",
    "ec2:CreateTags": "TagSpecifications in an EC2 create call is authorised as ec2:CreateTags",
    "elasticloadbalancing:AddTags": "Tags in CreateLoadBalancer / CreateTargetGroup",
    "eks:TagResource": "tags in CreateCluster / CreateNodegroup / CreateAddon",
    "dynamodb:TagResource": "Tags in CreateTable",
    "rds:AddTagsToResource": "Tags in RDS create calls",
    "logs:TagResource": "tags in CreateLogGroup",
    "kms:TagResource": "Tags in CreateKey",
    "iam:TagRole": "Tags in CreateRole",
    "iam:TagOpenIDConnectProvider": "Tags in CreateOpenIDConnectProvider",
    "sns:TagResource": "Tags in CreateTopic",
    "wafv2:TagResource": "Tags in CreateWebACL",
    "acm:AddTagsToCertificate": "Tags in RequestCertificate",
    "kms:CreateGrant": "EKS secrets encryption, Aurora storage, DynamoDB tables with our customer managed keys",
    "kms:DescribeKey": "services check our keys before using them",
    "kms:GenerateDataKey": "Secrets Manager (RDS's managed master password) encrypts under the key",
    "kms:Decrypt": "as above, and restores of encrypted backups",
    "secretsmanager:CreateSecret": "RDS ManageMasterUserPassword creates the master password's secret as the caller",
    "secretsmanager:TagResource": "as above",
    "secretsmanager:RotateSecret": "as above: RDS turns rotation on",
    "apigateway:SetWebACL": "wafv2:AssociateWebACL on an API Gateway stage",
    "ec2:CreateVpcEndpointServiceConfiguration": "CreateVpcLink (API Gateway makes an endpoint service for the NLB as the caller)",
    "ec2:DescribeVpcEndpointServiceConfigurations": "CreateVpcLink, as above",
    "ec2:ModifyVpcEndpointServicePermissions": "CreateVpcLink, as above",
    "ec2:DeleteVpcEndpointServiceConfigurations": "CreateVpcLink, as above (on failure)",
    "ec2:RunInstances": "CreateNodegroup with a launch template is authorised against the template's contents",
    # WAF logging to CloudWatch Logs (issue 17 item 4): WAF creates a log
    # delivery and the log group's resource policy as the caller.
    # https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
    "logs:CreateLogDelivery": "wafv2:PutLoggingConfiguration to a CloudWatch Logs group",
    "logs:DeleteLogDelivery": "wafv2:PutLoggingConfiguration replacing a destination",
    "logs:PutResourcePolicy": "wafv2:PutLoggingConfiguration (the group's policy for delivery.logs.amazonaws.com)",
    "logs:DescribeResourcePolicies": "wafv2:PutLoggingConfiguration, as above",
}

# What destroy needs beyond the calls it makes: checked by AWS on them.
DESTROY_IMPLICIT: dict[str, str] = {
    "rds:CreateDBClusterSnapshot": "DeleteDBCluster with FinalDBSnapshotIdentifier takes the final snapshot as the caller",
    "rds:AddTagsToResource": "the final snapshot copies the cluster's tags (CopyTagsToSnapshot)",
    "kms:CreateGrant": "the final snapshot and backups stay encrypted under our customer managed keys",
    "kms:DescribeKey": "as above",
}

# The destroy policy is derived from these modules' calls: destroy itself,
# and what every command does first (the account/region guard, the run lock).
DESTROY_MODULES = ("destroy/", "lock.py", "session.py", "target.py")

# The data deletes an operator's run makes (runbooks/backup/cleanup.py:
# backup.verify's temporaries): allowed on those names only. IAM resource
# ARNs: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
# (table/NAME) and list_amazonrds.html (cluster:ID, db:ID).
SCOPED_DELETES: dict[str, str] = {
    "dynamodb:DeleteTable": "arn:aws:dynamodb:{region}:{account}:table/{prefix}-*",
    "rds:DeleteDBCluster": "arn:aws:rds:{region}:{account}:cluster:{prefix}-*",
    "rds:DeleteDBInstance": "arn:aws:rds:{region}:{account}:db:{prefix}-*",
}


SCOPED_SID = "DeleteOnlyBackupVerifyTemporaries"


def scoped_deletes(cfg: Any) -> dict[str, str]:
    """SCOPED_DELETES for one environment: action -> the resource ARN pattern it is allowed on."""
    values = {"region": cfg.project.region, "account": cfg.project.account_id, "prefix": cfg.backup.temporary_prefix}
    return {action: pattern.format(**values) for action, pattern in SCOPED_DELETES.items()}


PASS_ROLE_SERVICES = ("eks.amazonaws.com", "ec2.amazonaws.com", "monitoring.rds.amazonaws.com", "apigateway.amazonaws.com")


def _http_methods(service: str) -> dict[str, str]:
    model = botocore.session.get_session().get_service_model(service)
    return {op: model.operation_model(op).http["method"] for op in model.operation_names}


def action_of(call: str, _methods: dict[str, dict[str, str]] = {}) -> str:  # noqa: B006 - a cache on purpose
    """'service:Operation' as the Meter counts it -> the IAM action that authorises it."""
    service, operation = call.split(":", 1)
    if service in ("apigateway", "apigatewayv2"):  # API Gateway (REST and HTTP APIs) is authorised by HTTP verb
        if service not in _methods:
            _methods[service] = _http_methods(service)
        return f"apigateway:{_methods[service][operation]}"
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def actions(calls: Iterable[str], runbook_permissions: Iterable[str] = ()) -> set[str]:
    return {action_of(c) for c in calls} | set(LIVE_ONLY) | set(IMPLICIT) | set(runbook_permissions)


def source_calls(source: str, services: Iterable[str]) -> set[str]:
    """'service:Operation' for every boto3 method name in ``source`` that is an operation of one of ``services``."""
    import re

    names = set(re.findall(r"[.\"']([a-z][a-z0-9_]+)[(\"']", source))
    session = botocore.session.get_session()
    found = set()
    for service in services:
        model = session.get_service_model(service)
        client_names = {botocore.xform_name(op): op for op in model.operation_names}
        found |= {f"{service}:{client_names[n]}" for n in names & set(client_names)}
    return found


def split_sources(files: dict[str, str]) -> tuple[str, str]:
    """(the source of everything but destroy, the source destroy's policy is
    derived from), from {path relative to fablink_ops/: text}. Production
    operators run provision and the runbooks and never need destroy's calls."""
    operations = "\n".join(text for path, text in sorted(files.items()) if not path.startswith("destroy/"))
    destroy = "\n".join(text for path, text in sorted(files.items()) if path.startswith(DESTROY_MODULES))
    return operations, destroy


def document(all_actions: set[str], sid: str = "FablinkOps", pass_role: bool = True,
             scoped: dict[str, str] | None = None) -> dict:
    """The policy: every action but iam:PassRole on "*", PassRole (``pass_role``)
    only to the services that take our roles, and the ``scoped`` actions
    (action -> resource ARN pattern) only on their resources."""
    scoped = {a: r for a, r in (scoped or {}).items() if a in all_actions}
    plain = sorted(a for a in all_actions if a != "iam:PassRole" and a not in scoped)
    statements: list[dict] = [{"Sid": sid, "Effect": "Allow", "Action": plain, "Resource": "*"}]
    if scoped:
        statements.append({"Sid": SCOPED_SID, "Effect": "Allow", "Action": sorted(scoped),
                           "Resource": sorted(set(scoped.values()))})
    if pass_role:
        statements.append({"Sid": "PassOurRoles", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                           "Condition": {"StringEquals": {"iam:PassedToService": list(PASS_ROLE_SERVICES)}}})
    return {"Version": "2012-10-17", "Statement": statements}


def destroy_document(calls: Iterable[str]) -> dict:
    """`invoke destroy`'s policy: its own calls (reads included) and DESTROY_IMPLICIT, no PassRole."""
    return document({action_of(c) for c in calls} | set(DESTROY_IMPLICIT), sid="FablinkOpsDestroy", pass_role=False)


def for_environment(doc: dict, cfg: Any) -> dict:
    """The committed (prod's) document for ``cfg``'s environment: the actions
    are the code's, the same for every environment; only the data deletes'
    resources (that environment's temporaries, account and region) differ.
    ``invoke policy -c config/staging.toml``."""
    resources = sorted(set(scoped_deletes(cfg).values()))
    statements = [dict(s, Resource=resources) if s.get("Sid") == SCOPED_SID else s for s in doc["Statement"]]
    return {**doc, "Statement": statements}


def granted(doc: dict) -> set[str]:
    """Every action the document allows, on any resource."""
    found: set[str] = set()
    for statement in doc["Statement"]:
        action = statement["Action"]
        found |= {action} if isinstance(action, str) else set(action)
    return found


def render(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"
