"""IAM: every user, group and role with its policies; the credential report;
the password policy; access keys with their last use. And, live only, IAM
Access Analyzer's active findings.

Few calls for any number of principals: GetAccountAuthorizationDetails
returns every user, group, role and customer managed policy with their inline
policies, attachments and trust policies, a page of up to 1,000 at a time
(one call per page instead of five per principal). The AWS managed policies
attached somewhere are read once each (ListPolicies OnlyAttached, then their
default version). Per-key reads (ListAccessKeys, GetAccessKeyLastUsed) are
made only for users the credential report shows with an active key.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from ....engine import Context, wait_for
from ....target import error_code
from .. import policy as pol
from ..models import AccessKey, AnalyzerFinding, Analyzers, CredentialRow, Gap, IamState, Policy, Principal
from .common import Piece, each, utc

PERMISSIONS = (
    "iam:GetAccountAuthorizationDetails",
    "iam:ListPolicies",
    "iam:GetPolicyVersion",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountPasswordPolicy",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
)
ANALYZER_PERMISSIONS = ("access-analyzer:ListAnalyzers", "access-analyzer:ListFindingsV2")

ROOT = "<root_account>"


def collect(ctx: Context, region: str) -> Piece:
    iam = ctx.client("iam")
    details = authorization_details(iam)
    documents = {p["Arn"]: _default_document(p) for p in details["Policies"]}
    documents.update(aws_managed_documents(iam))
    principals = [_principal(kind, item, documents) for kind, key in (("user", "UserDetailList"), ("group", "GroupDetailList"),
                                                                      ("role", "RoleDetailList")) for item in details[key]]
    rows, generated = credential_report(ctx, iam)
    state = IamState(collected=True, principals=principals, credentials=[r for r in rows if not r.is_root],
                     root=next((r for r in rows if r.is_root), None), password_policy=password_policy(iam),
                     report_generated=generated)
    with_keys = [r for r in state.credentials if any(r.keys_active)]
    state.keys = [k for keys in each(with_keys, lambda row: access_keys(iam, row)) for k in keys]
    piece: Piece = {"iam": state}
    if state.root is None:
        piece["gaps"] = [Gap("root", "the credential report has no <root_account> row"
                             + ("" if ctx.target.is_live else " (moto does not model the root user)"))]
    return piece


# --------------------------------------------------------------------------
# principals and policies


def authorization_details(iam: Any) -> dict[str, list]:
    """All pages of GetAccountAuthorizationDetails (four lists per page, so not Client.paginate)."""
    out: dict[str, list] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    kwargs: dict[str, Any] = {"Filter": ["User", "Group", "Role", "LocalManagedPolicy"], "MaxItems": 1000}
    while True:
        page = iam.get_account_authorization_details(**kwargs)
        for key in out:
            out[key].extend(page.get(key, []))
        if not page.get("IsTruncated"):
            return out
        kwargs["Marker"] = page["Marker"]


def aws_managed_documents(iam: Any) -> dict[str, Any]:
    """{ARN: default version's document} of the AWS managed policies attached in this account."""
    attached = iam.paginate("list_policies", "Policies", Scope="AWS", OnlyAttached=True)

    def document(p: dict) -> tuple[str, Any]:
        version = iam.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])["PolicyVersion"]
        return p["Arn"], pol.parse(version.get("Document"))

    return dict(each(attached, document))


def _default_document(policy: dict) -> Any:
    for version in policy.get("PolicyVersionList", []):
        if version.get("IsDefaultVersion"):
            return pol.parse(version.get("Document"))
    return None


def _principal(kind: str, item: dict, documents: dict[str, Any]) -> Principal:
    inline_key = {"user": "UserPolicyList", "group": "GroupPolicyList", "role": "RolePolicyList"}[kind]
    inline = [Policy(p["PolicyName"], "", pol.parse(p.get("PolicyDocument"))) for p in item.get(inline_key, [])]
    managed = [Policy(p["PolicyName"], p["PolicyArn"], documents.get(p["PolicyArn"])) for p in item.get("AttachedManagedPolicies", [])]
    name = item[{"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]]
    return Principal(
        kind=kind,
        name=name,
        arn=item["Arn"],
        path=item.get("Path", "/"),
        policies=tuple(inline + managed),
        groups=tuple(item.get("GroupList", [])),
        trust=pol.parse(item.get("AssumeRolePolicyDocument")) if kind == "role" else None,
    )


# --------------------------------------------------------------------------
# credential report, password policy, access keys


def credential_report(ctx: Context, iam: Any) -> tuple[list[CredentialRow], datetime | None]:
    """Generate (AWS reuses a report younger than four hours) until COMPLETE, then read it.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html"""
    wait_for(
        ctx, "the IAM credential report",
        lambda: (iam.generate_credential_report().get("State", ""), ""),
        done={"COMPLETE"}, failed=set(), budget_seconds=ctx.cfg.access.credential_report_wait_seconds,
        interval=0.5, max_interval=10.0,
    )
    resp = iam.get_credential_report()
    content = resp["Content"]
    text = content.decode("utf-8") if isinstance(content, bytes) else str(content)
    return parse_credential_report(text), utc(resp.get("GeneratedTime"))


def _when(value: str) -> datetime | None:
    """A report timestamp; N/A, no_information, not_supported: None."""
    try:
        return utc(datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return None


def _yes(value: str) -> bool:
    return value.strip().lower() == "true"


def parse_credential_report(text: str) -> list[CredentialRow]:
    rows = []
    for line in csv.DictReader(io.StringIO(text)):
        rows.append(
            CredentialRow(
                user=line["user"],
                arn=line["arn"],
                created=_when(line.get("user_creation_time", "")),
                # The root row says not_supported here: root always has a password.
                password_enabled=_yes(line.get("password_enabled", "")) or line["user"] == ROOT,
                password_last_used=_when(line.get("password_last_used", "")),
                password_last_changed=_when(line.get("password_last_changed", "")),
                mfa_active=_yes(line.get("mfa_active", "")),
                keys_active=(_yes(line.get("access_key_1_active", "")), _yes(line.get("access_key_2_active", ""))),
                keys_last_used=(_when(line.get("access_key_1_last_used_date", "")), _when(line.get("access_key_2_last_used_date", ""))),
            )
        )
    return rows


def password_policy(iam: Any) -> dict | None:
    try:
        return iam.get_account_password_policy()["PasswordPolicy"]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":  # none set: AWS's default policy applies
            return None
        raise


def access_keys(iam: Any, row: CredentialRow) -> list[AccessKey]:
    out = []
    for meta in iam.paginate("list_access_keys", "AccessKeyMetadata", UserName=row.user):
        active = meta.get("Status") == "Active"
        last_used = None
        if active:
            used = iam.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"]).get("AccessKeyLastUsed", {})
            last_used = utc(used.get("LastUsedDate"))
        out.append(AccessKey(row.user, row.arn, meta["AccessKeyId"], active, utc(meta["CreateDate"]), last_used))  # type: ignore[arg-type]
    return out


# --------------------------------------------------------------------------
# IAM Access Analyzer (live only)


def collect_analyzers(ctx: Context, region: str) -> Piece:
    """Active external-access findings of the account's (or organisation's) analyzers.
    moto has no Access Analyzer: the sandbox review says so instead of asking."""
    if not ctx.target.is_live:
        return {"gaps": [Gap(f"accessanalyzer@{region}", "moto lacks IAM Access Analyzer; a live review reads its findings")]}
    aa = ctx.target.client("accessanalyzer", region)
    analyzers = [a for a in aa.paginate("list_analyzers", "analyzers")
                 if a.get("type") in ("ACCOUNT", "ORGANIZATION") and a.get("status") == "ACTIVE"]
    findings: dict[tuple[str, str], AnalyzerFinding] = {}
    for analyzer in analyzers:
        for f in aa.paginate("list_findings_v2", "findings", analyzerArn=analyzer["arn"], filter={"status": {"eq": ["ACTIVE"]}}):
            if f.get("resourceOwnerAccount") not in (None, ctx.cfg.project.account_id):
                continue  # an organisation analyzer also reports other accounts' resources
            item = AnalyzerFinding(f["id"], f.get("resource", ""), f.get("resourceType", ""), region, f.get("findingType", "ExternalAccess"))
            findings.setdefault((item.resource, item.finding_type), item)
    return {"analyzers": [Analyzers(region, tuple(a["arn"] for a in analyzers))], "analyzer_findings": list(findings.values())}
