"""IAM: the root user, console users, access keys, administrators,
privilege-escalation paths, role trust (anyone, other accounts, IRSA), the
password policy; live only, IAM Access Analyzer's external-access findings.

Design doc: Security, "Authentication and authorization" (IRSA, least
privilege, cross-account access, regular access review).
"""

from __future__ import annotations

import re
from typing import Iterator

from .. import policy as pol
from ..models import CRITICAL, HIGH, LOW, MEDIUM, Inventory, Principal
from .base import Check, Hit, Settings, day

# --------------------------------------------------------------------------
# the root user (credential report's <root_account> row; not in moto)


def root_access_keys(inv: Inventory, s: Settings) -> Iterator[Hit]:
    root = inv.iam.root
    if root and any(root.keys_active):
        yield (root.arn, f"the root user has {sum(root.keys_active)} active access key(s)",
               "sign in as root, delete its access keys (Security credentials), and use IAM roles for automation")


def root_mfa(inv: Inventory, s: Settings) -> Iterator[Hit]:
    root = inv.iam.root
    if root and not root.mfa_active:
        yield (root.arn, "the root user has no MFA device", "sign in as root and register an MFA device (a hardware key kept offline)")


def root_recent_use(inv: Inventory, s: Settings) -> Iterator[Hit]:
    root = inv.iam.root
    if not root:
        return
    uses = [("password", root.password_last_used), ("access key 1", root.keys_last_used[0]), ("access key 2", root.keys_last_used[1])]
    recent = [(when, what) for what, when in uses if when and s.days_since(when) <= s.access.root_recent_use_days]
    if recent:
        when, what = max(recent)
        yield (root.arn, f"the root user was used {s.days_since(when)} days ago ({what}, {day(when)}; limit {s.access.root_recent_use_days} days)",
               "do daily work through IAM roles; keep root for the few tasks only root can do, and find out who used it")


# --------------------------------------------------------------------------
# users: console MFA, key age, unused credentials


def console_mfa(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for row in inv.iam.credentials:
        if row.password_enabled and not row.mfa_active:
            yield (row.arn, f"user {row.user} can sign in to the console without MFA",
                   f"register an MFA device for {row.user}, or delete its password (aws iam delete-login-profile --user-name {row.user})")


def access_key_age(inv: Inventory, s: Settings) -> Iterator[Hit]:
    limit = s.access.access_key_max_age_days
    for key in inv.iam.keys:
        age = s.days_since(key.created)
        if key.active and age > limit:
            yield (key.key_id, f"access key of user {key.user} is {age} days old (created {day(key.created)}; limit {limit} days)",
                   f"rotate it: create a new key for {key.user}, switch its users over, then deactivate and delete {key.key_id}")


def unused_access_key(inv: Inventory, s: Settings) -> Iterator[Hit]:
    limit = s.access.unused_credentials_days
    for key in inv.iam.keys:
        idle = s.days_since(key.last_used or key.created)
        if key.active and idle > limit:
            how = f"last used {day(key.last_used)}" if key.last_used else f"never used since {day(key.created)}"
            yield (key.key_id, f"access key of user {key.user} unused for {idle} days ({how}; limit {limit} days)",
                   f"deactivate it (aws iam update-access-key --user-name {key.user} --access-key-id {key.key_id} --status Inactive), then delete it")


def unused_password(inv: Inventory, s: Settings) -> Iterator[Hit]:
    limit = s.access.unused_credentials_days
    for row in inv.iam.credentials:
        since = row.password_last_used or row.password_last_changed or row.created
        if not row.password_enabled or since is None:
            continue
        idle = s.days_since(since)
        if idle > limit:
            how = f"last used {day(since)}" if row.password_last_used else f"never used since it was set on {day(since)}"
            yield (row.arn, f"console password of user {row.user} unused for {idle} days ({how}; limit {limit} days)",
                   f"delete it (aws iam delete-login-profile --user-name {row.user}); set a new one if the user comes back")


# --------------------------------------------------------------------------
# what principals may do


def _statements(p: Principal) -> list[dict]:
    return [st for policy in p.policies for st in pol.statements(policy.document)]


ADMINISTRATOR_ACCESS = re.compile(r"arn:[\w-]+:iam::aws:policy/AdministratorAccess")


def _admin_via(p: Principal) -> list[str]:
    """The policies that make ``p`` an administrator: AWS's AdministratorAccess, or any allowing * on *."""
    return [policy.name for policy in p.policies
            if ADMINISTRATOR_ACCESS.fullmatch(policy.arn) or pol.allows_everything(pol.statements(policy.document))]


def admin_access(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for p in inv.iam.principals:
        via = _admin_via(p) if p.kind in ("user", "group") else []
        if via:
            yield (p.arn, f"{p.kind} {p.name} has full administrator access (* on *) through {', '.join(via)}",
                   "grant the actions the job needs instead; keep administrator access on a role assumed with MFA, not on a user or group")


# Each lets a principal give itself (or a role it can pass or assume) more
# than it has. Rhino Security Labs' list of IAM escalation methods, reduced to
# the one action that opens each path; PassRole and AssumeRole count on every
# role ("*"), the others on every resource of their type.
ESCALATION_ACTIONS = (
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:AttachUserPolicy",
    "iam:AttachGroupPolicy",
    "iam:AttachRolePolicy",
    "iam:PutUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutRolePolicy",
    "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:PassRole",
    "sts:AssumeRole",
)


def privilege_escalation(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for p in inv.iam.principals:
        if p.service_linked or (p.kind != "role" and _admin_via(p)):
            continue  # AWS's own roles; administrators are iam.admin_access's finding
        stmts = _statements(p)
        paths = ["every action (* on *)"] if pol.allows_everything(stmts) else [a for a in ESCALATION_ACTIONS if pol.grant(stmts, a)]
        if paths:
            yield (p.arn, f"{p.kind} {p.name} can raise its own privileges: {', '.join(paths)} on every resource",
                   "scope these actions to the resource ARNs that need them (or remove them); Deny what must never be allowed")


# --------------------------------------------------------------------------
# who may assume roles


# Conditions that tie "anyone" back to known principals.
PRINCIPAL_SCOPING = ("aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn",
                     "aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID")


def _roles(inv: Inventory) -> Iterator[Principal]:
    return (p for p in inv.iam.principals if p.kind == "role")


def trust_any_principal(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for role in _roles(inv):
        for st in pol.statements(role.trust):
            anyone = pol.ANYONE in pol.principals(st).get("AWS", ()) or "NotPrincipal" in st
            if pol.is_allow(st) and anyone and not pol.has_condition_key(st, *PRINCIPAL_SCOPING):
                yield (role.arn, f"role {role.name} can be assumed by any AWS principal (Principal \"*\") with no condition naming who",
                       "name the trusted principals in the trust policy, or add a condition on aws:PrincipalOrgID / aws:PrincipalAccount")
                break


def trust_cross_account(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for role in _roles(inv):
        others: set[str] = set()
        for st in pol.statements(role.trust):
            if pol.is_allow(st) and not pol.has_condition_key(st, "sts:ExternalId"):
                others |= {a for a in map(pol.account_of, pol.principals(st).get("AWS", ())) if a and a != s.account}
        if others:
            yield (role.arn, f"role {role.name} trusts account {', '.join(sorted(others))} without an sts:ExternalId condition",
                   "add Condition StringEquals sts:ExternalId with a value agreed with that account's owner, or remove the trust")


# Services whose trust AWS publishes with no confused-deputy condition, and
# which are not documented to send aws:SourceAccount/SourceArn when they
# assume a role: a condition would only break them (issue 17 item 6).
NO_SOURCE_CONTEXT = {
    "ec2.amazonaws.com": "EC2 assumes an instance profile's role for the instance, with no source in the request",
    "eks.amazonaws.com": "AWS's EKS cluster role trust has no condition",
}
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID", "aws:SourceOrgPaths")


def service_role_confused_deputy(inv: Inventory, s: Settings) -> Iterator[Hit]:
    """Prowler iam_role_cross_service_confused_deputy_prevention. Risk: a
    service trusted without aws:SourceAccount can be steered by another
    account's resource into acting with this role (the confused deputy)."""
    for role in _roles(inv):
        if role.service_linked:
            continue
        bare = sorted({svc for st in pol.statements(role.trust) if pol.is_allow(st) and not pol.has_condition_key(st, *SOURCE_KEYS)
                       for svc in pol.principals(st).get("Service", ()) if svc not in NO_SOURCE_CONTEXT})
        if bare:
            yield (role.arn, f"role {role.name} trusts {', '.join(bare)} with no aws:SourceAccount or aws:SourceArn condition",
                   f"add Condition StringEquals aws:SourceAccount {s.account} (and ArnLike aws:SourceArn where the service sets it) to the trust")


EKS_OIDC = re.compile(r":oidc-provider/(oidc\.eks\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/id/[A-Za-z0-9]+)$")
SERVICE_ACCOUNT = re.compile(r"system:serviceaccount:[^:*?\s]+:[^:*?\s]+")


def _irsa_problem(st: dict, host: str) -> str | None:
    sub = f"{host.lower()}:sub"
    tests = [(op, values) for op, key, values in pol.conditions(st) if key == sub]
    equals = [values for op, values in tests if op == "stringequals"]
    if not equals:
        if tests:
            return f"{sub} is tested with {tests[0][0]} {list(tests[0][1])}, not StringEquals"
        return f"no condition on {sub}: every service account of the cluster can assume it"
    if len(equals[0]) != 1:
        return f"{sub} admits {len(equals[0])} subjects"
    if not SERVICE_ACCOUNT.fullmatch(equals[0][0]):
        return f"{sub} is {equals[0][0]!r}, not one system:serviceaccount:<namespace>:<name>"
    return None


def irsa_trust_scope(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for role in _roles(inv):
        problems = []
        for st in pol.statements(role.trust):
            for provider in pol.principals(st).get("Federated", ()) if pol.is_allow(st) else ():
                match = EKS_OIDC.search(provider)
                problem = _irsa_problem(st, match.group(1)) if match else None
                if problem:
                    problems.append(problem)
        if problems:
            yield (role.arn, f"IRSA role {role.name} is not scoped to one service account: {'; '.join(problems)}",
                   "trust one service account: Condition StringEquals <provider>:sub = system:serviceaccount:<namespace>:<name> (and :aud = sts.amazonaws.com)")


# --------------------------------------------------------------------------
# the account password policy


def password_policy(inv: Inventory, s: Settings) -> Iterator[Hit]:
    if not inv.iam.collected:
        return
    want, have = s.access.password_policy, inv.iam.password_policy
    if have is None:
        yield (s.account, "the account has no password policy (AWS's default: 8 characters, no reuse prevention)",
               f"aws iam update-account-password-policy {_policy_args(s)}")
        return
    weak = []
    if have.get("MinimumPasswordLength", 0) < want.minimum_length:
        weak.append(f"minimum length {have.get('MinimumPasswordLength', 0)} < {want.minimum_length}")
    weak += [f"{key} off" for flag, key, _ in _CLASSES if getattr(want, flag) and not have.get(key)]
    age = have.get("MaxPasswordAge", 0) if have.get("ExpirePasswords") else 0
    if want.max_age_days and not 0 < age <= want.max_age_days:
        weak.append(f"passwords expire after {age or 'never'} days (at most {want.max_age_days})")
    if have.get("PasswordReusePrevention", 0) < want.reuse_prevention:
        weak.append(f"reuse prevention {have.get('PasswordReusePrevention', 0)} < {want.reuse_prevention}")
    if weak:
        yield (s.account, f"the password policy is weaker than config: {', '.join(weak)}", f"aws iam update-account-password-policy {_policy_args(s)}")


# (config flag, GetAccountPasswordPolicy field, update-account-password-policy option)
_CLASSES = (
    ("require_symbols", "RequireSymbols", "--require-symbols"),
    ("require_numbers", "RequireNumbers", "--require-numbers"),
    ("require_uppercase", "RequireUppercaseCharacters", "--require-uppercase-characters"),
    ("require_lowercase", "RequireLowercaseCharacters", "--require-lowercase-characters"),
)


def _policy_args(s: Settings) -> str:
    want = s.access.password_policy
    args = [f"--minimum-password-length {want.minimum_length}"] + [opt for flag, _, opt in _CLASSES if getattr(want, flag)]
    if want.reuse_prevention:
        args.append(f"--password-reuse-prevention {want.reuse_prevention}")
    if want.max_age_days:
        args.append(f"--max-password-age {want.max_age_days}")
    return " ".join(args)


# --------------------------------------------------------------------------
# IAM Access Analyzer (live only)


def external_access(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for f in inv.analyzer_findings:
        yield (f.resource, f"IAM Access Analyzer: this {f.resource_type} is reachable from outside the account ({f.finding_type}, finding {f.id})",
               "remove the grant from its resource or trust policy, or archive the finding in Access Analyzer if the access is intended")


def analyzer_enabled(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for a in inv.analyzers:
        if not a.active:
            yield (f"{s.account}:{a.region}", f"no active IAM Access Analyzer in {a.region}: nobody is told when a resource is shared outside",
                   f"aws accessanalyzer create-analyzer --analyzer-name account --type ACCOUNT --region {a.region}")


ROOT = ("root",)
ANALYZER = ("accessanalyzer",)

CHECKS = (
    Check("iam.root_access_keys", CRITICAL, "the root user has access keys", root_access_keys, ROOT),
    Check("iam.root_mfa", CRITICAL, "the root user has no MFA", root_mfa, ROOT),
    Check("iam.root_recent_use", HIGH, "the root user was used recently", root_recent_use, ROOT),
    Check("iam.console_mfa", HIGH, "console users without MFA", console_mfa),
    Check("iam.access_key_age", MEDIUM, "access keys older than the limit", access_key_age),
    Check("iam.unused_access_key", MEDIUM, "access keys unused for too long", unused_access_key),
    Check("iam.unused_password", MEDIUM, "console passwords unused for too long", unused_password),
    Check("iam.admin_access", HIGH, "users or groups with administrator access", admin_access),
    Check("iam.privilege_escalation", HIGH, "principals that can raise their own privileges", privilege_escalation),
    Check("iam.trust_any_principal", CRITICAL, "roles anyone can assume", trust_any_principal),
    Check("iam.service_role_confused_deputy", MEDIUM, "service roles trusted without a source condition", service_role_confused_deputy),
    Check("iam.trust_cross_account", HIGH, "roles trusting other accounts without ExternalId", trust_cross_account),
    Check("iam.irsa_trust_scope", HIGH, "IRSA roles not scoped to one service account", irsa_trust_scope),
    Check("iam.password_policy", MEDIUM, "password policy weaker than config", password_policy),
    Check("accessanalyzer.external_access", HIGH, "resources shared outside the account (Access Analyzer)", external_access, ANALYZER),
    Check("accessanalyzer.enabled", LOW, "regions without an Access Analyzer", analyzer_enabled, ANALYZER),
)
