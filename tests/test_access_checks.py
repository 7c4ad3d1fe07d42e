"""The access review's checks and policy reading, on hand-built inventories
(no AWS): every edge a collector cannot easily produce on moto (ages to the
day, the root user, policy grammar variants, Deny, IPv6, ...)."""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import pytest

from fablink_ops.config import AccessConfig
from fablink_ops.runbooks.access import policy as pol
from fablink_ops.runbooks.access.checks import CHECK_IDS, CHECKS, Settings, evaluate
from fablink_ops.runbooks.access.checks.iam import ESCALATION_ACTIONS
from fablink_ops.runbooks.access.models import (AccessKey, CredentialRow, EksCluster, Gap, IamState, Inventory, KmsKey,
                                                LoadBalancer, Permission, Policy, Principal, SecurityGroup, Table, Vpc, VpcLink)

ACCOUNT = "853963783084"
NOW = datetime(2031, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = Settings(AccessConfig(), 90, ACCOUNT, NOW)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def inventory(**kw) -> Inventory:
    inv = Inventory(account=ACCOUNT, regions=("ap-northeast-2",))
    for key, value in kw.items():
        setattr(inv, key, value)
    return inv


def found(inv: Inventory, settings: Settings = SETTINGS) -> set[tuple[str, str]]:
    findings, _ = evaluate(inv, settings)
    return {(f.check, f.resource) for f in findings}


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def iam(*principals: Principal, **kw) -> IamState:
    # A compliant password policy, so only what a test builds is found.
    policy = {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True, "RequireUppercaseCharacters": True,
              "RequireLowercaseCharacters": True, "PasswordReusePrevention": 24}
    return IamState(collected=True, principals=list(principals), password_policy=kw.pop("password_policy", policy), **kw)


def role(name: str, trust: dict, *policies: dict, path: str = "/") -> Principal:
    return Principal("role", name, f"arn:aws:iam::{ACCOUNT}:role/{name}", path,
                     tuple(Policy(f"p{i}", "", d) for i, d in enumerate(policies)), trust=trust)


def user(name: str, *policies: Policy) -> Principal:
    return Principal("user", name, f"arn:aws:iam::{ACCOUNT}:user/{name}", "/", tuple(policies))


SERVICE_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def test_check_ids_are_unique_and_well_formed():
    assert len(CHECK_IDS) == len(set(CHECK_IDS))
    for check in CHECKS:
        assert check.id.count(".") == 1 and check.id == check.id.lower()
        assert check.severity in ("critical", "high", "medium", "low")


def test_the_config_validates_suppressions_against_exactly_the_catalogue_s_ids():
    # config/ keeps its own list (it imports nothing of the runbooks): the two agree.
    from fablink_ops.config.check_ids import ACCESS_CHECK_IDS

    assert ACCESS_CHECK_IDS == CHECK_IDS


# --------------------------------------------------------------------------
# policy grammar


def test_documents_parse_from_dict_json_and_url_encoded_json():
    d = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    for form in (d, json.dumps(d), urllib.parse.quote(json.dumps(d))):
        assert pol.statements(form) == d["Statement"]
    single = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    assert pol.allows_everything(pol.statements(single))
    assert pol.statements("not json") == [] and pol.statements(None) == []


@pytest.mark.parametrize(
    "statement, action, granted",
    [
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}, "iam:PassRole", True),
        ({"Effect": "Allow", "Action": ["s3:*", "iam:passrole"], "Resource": ["*"]}, "iam:PassRole", True),  # case-insensitive
        ({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}, "iam:CreatePolicyVersion", True),
        ({"Effect": "Allow", "Action": "iam:Put*Policy", "Resource": "*"}, "iam:PutRolePolicy", True),
        ({"Effect": "Allow", "Action": "iam:Put?olePolicy", "Resource": "*"}, "iam:PutRolePolicy", True),
        ({"Effect": "Allow", "Action": "*", "Resource": "*"}, "sts:AssumeRole", True),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "sts:AssumeRole", True),  # PowerUserAccess's shape
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "iam:PassRole", False),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::853963783084:role/*"}, "iam:PassRole", True),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:*"}, "iam:PassRole", True),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::853963783084:role/fablink-prod-*"}, "iam:PassRole", False),
        ({"Effect": "Allow", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::853963783084:role/admin"}, "iam:PassRole", True),
        ({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*", "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
         "iam:PassRole", True),  # a conditional grant still grants
        ({"Effect": "Deny", "Action": "iam:PassRole", "Resource": "*"}, "iam:PassRole", False),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "iam:PassRole", False),
    ],
)
def test_grant_reads_actions_wildcards_and_resources(statement, action, granted):
    assert (pol.grant([statement], action) is not None) is granted


def test_an_unconditional_deny_removes_a_grant_and_a_conditional_one_does_not():
    allow = {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": ["iam:PassRole", "iam:Attach*"], "Resource": "*"}
    conditional = dict(deny, Condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})
    assert pol.grant([allow, deny], "iam:PassRole") is None
    assert pol.grant([allow, deny], "iam:AttachUserPolicy") is None
    assert pol.grant([allow, deny], "iam:CreatePolicyVersion") is allow
    assert pol.grant([allow, conditional], "iam:PassRole") is allow
    # a Deny of everything but one role leaves that role granted: still a grant
    all_but = {"Effect": "Deny", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::853963783084:role/app"}
    assert pol.grant([allow, all_but], "iam:PassRole") is allow


def test_administrator_access_is_aws_s_policy_not_a_namesake():
    namesake = user("u", Policy("AdministratorAccess", f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess",
                                doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})))
    assert found(inventory(iam=iam(namesake))) == set()


def test_principals_and_accounts():
    assert pol.principals({"Principal": "*"}) == {"AWS": ("*",)}
    assert pol.principals({"Principal": {"AWS": ["arn:aws:iam::111122223333:root", "*"]}})["AWS"] == ("arn:aws:iam::111122223333:root", "*")
    assert pol.account_of("111122223333") == "111122223333"
    assert pol.account_of("arn:aws:iam::111122223333:role/x") == "111122223333"
    assert pol.account_of("arn:aws:sts::111122223333:assumed-role/x/y") == "111122223333"
    assert pol.account_of("ec2.amazonaws.com") is None


# --------------------------------------------------------------------------
# IAM checks


def test_administrators_and_escalation_paths():
    admin_doc = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
    principals = [
        user("admin-inline", Policy("all", "", admin_doc)),
        user("admin-managed", Policy("AdministratorAccess", "arn:aws:iam::aws:policy/AdministratorAccess", None)),
        Principal("group", "ops", f"arn:aws:iam::{ACCOUNT}:group/ops", "/", (Policy("all", "", admin_doc),)),
        user("passer", Policy("p", "", doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}))),
        user("scoped", Policy("p", "", doc({"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/app-*"}))),
        role("assumer", SERVICE_TRUST, doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})),
        role("admin-role", SERVICE_TRUST, admin_doc),
        role("AWSServiceRoleForX", SERVICE_TRUST, admin_doc, path="/aws-service-role/x.amazonaws.com/"),
    ]
    assert found(inventory(iam=iam(*principals))) == {
        ("iam.admin_access", f"arn:aws:iam::{ACCOUNT}:user/admin-inline"),
        ("iam.admin_access", f"arn:aws:iam::{ACCOUNT}:user/admin-managed"),
        ("iam.admin_access", f"arn:aws:iam::{ACCOUNT}:group/ops"),
        ("iam.privilege_escalation", f"arn:aws:iam::{ACCOUNT}:user/passer"),
        ("iam.privilege_escalation", f"arn:aws:iam::{ACCOUNT}:role/assumer"),
        ("iam.privilege_escalation", f"arn:aws:iam::{ACCOUNT}:role/admin-role"),
    }


@pytest.mark.parametrize("action", ESCALATION_ACTIONS)
def test_every_escalation_action_alone_is_a_path(action):
    p = user("u", Policy("p", "", doc({"Effect": "Allow", "Action": action, "Resource": "*"})))
    findings, _ = evaluate(inventory(iam=iam(p)), SETTINGS)
    assert [(f.check, f.problem) for f in findings] == [("iam.privilege_escalation", f"user u can raise its own privileges: {action} on every resource")]


IRSA_HOST = "oidc.eks.ap-northeast-2.amazonaws.com/id/0123456789ABCDEF"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{IRSA_HOST}"


def irsa(condition: dict | None) -> dict:
    st = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"}
    if condition is not None:
        st["Condition"] = condition
    return doc(st)


@pytest.mark.parametrize(
    "trust, check",
    [
        (doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}), "iam.trust_any_principal"),
        (doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}), "iam.trust_any_principal"),
        (doc({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::853963783084:root", "*"]}, "Action": "sts:AssumeRole"}),
         "iam.trust_any_principal"),
        (doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
              "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}), "iam.trust_any_principal"),  # ExternalId does not say who
        (doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
              "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}), None),
        (doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}), "iam.trust_cross_account"),
        (doc({"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole"}), "iam.trust_cross_account"),
        (doc({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/ci"}, "Action": "sts:AssumeRole",
              "Condition": {"StringEquals": {"STS:ExternalID": "secret"}}}), None),  # condition keys are case-insensitive
        (doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}), None),
        (doc({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}), None),
        (irsa(None), "iam.irsa_trust_scope"),
        (irsa({"StringEquals": {f"{IRSA_HOST}:aud": "sts.amazonaws.com"}}), "iam.irsa_trust_scope"),
        (irsa({"StringLike": {f"{IRSA_HOST}:sub": "system:serviceaccount:fablink-prod:*"}}), "iam.irsa_trust_scope"),
        (irsa({"StringEquals": {f"{IRSA_HOST}:sub": ["system:serviceaccount:a:x", "system:serviceaccount:b:y"]}}), "iam.irsa_trust_scope"),
        (irsa({"StringEquals": {f"{IRSA_HOST}:sub": "system:serviceaccount:fablink-prod:*"}}), "iam.irsa_trust_scope"),
        (irsa({"StringEquals": {f"{IRSA_HOST}:sub": "system:serviceaccount:fablink-prod:backend"}}), None),
        (irsa({"StringEquals": {f"{IRSA_HOST.lower()}:sub": ["system:serviceaccount:fablink-prod:backend"],
                                f"{IRSA_HOST}:aud": "sts.amazonaws.com"}}), None),
        # another identity provider (GitHub's, say) is not an IRSA role
        (doc({"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
              "Action": "sts:AssumeRoleWithWebIdentity"}), None),
    ],
)
def test_trust_policies(trust, check):
    expected = {(check, f"arn:aws:iam::{ACCOUNT}:role/r")} if check else set()
    assert found(inventory(iam=iam(role("r", trust)))) == expected


def row(name: str = "alice", **kw) -> CredentialRow:
    values = dict(user=name, arn=f"arn:aws:iam::{ACCOUNT}:user/{name}", created=ago(400), password_enabled=False,
                  password_last_used=None, password_last_changed=None, mfa_active=False, keys_active=(False, False),
                  keys_last_used=(None, None))
    values.update(kw)
    return CredentialRow(**values)


ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"


def test_root_user_checks():
    root = row("<root_account>", arn=ROOT_ARN, password_enabled=True, password_last_used=ago(3), mfa_active=False,
               keys_active=(True, False), keys_last_used=(ago(200), None))
    assert found(inventory(iam=iam(root=root))) == {
        ("iam.root_access_keys", ROOT_ARN), ("iam.root_mfa", ROOT_ARN), ("iam.root_recent_use", ROOT_ARN)}
    quiet = dataclasses.replace(root, password_last_used=ago(31), mfa_active=True, keys_active=(False, False))
    assert found(inventory(iam=iam(root=quiet))) == set()


def test_root_checks_are_not_evaluated_without_the_root_row():
    findings, not_evaluated = evaluate(inventory(iam=iam(), gaps=[Gap("root", "no <root_account> row")]), SETTINGS)
    assert findings == []
    assert not_evaluated == {c: "no <root_account> row" for c in ("iam.root_access_keys", "iam.root_mfa", "iam.root_recent_use")}


def key(key_id: str, created: float, last_used: float | None = None, active: bool = True) -> AccessKey:
    return AccessKey("bot", f"arn:aws:iam::{ACCOUNT}:user/bot", key_id, active, ago(created), None if last_used is None else ago(last_used))


def test_access_key_age_and_use_to_the_day():
    keys = [
        key("AKIAOLD", created=91, last_used=1),        # too old, in use
        key("AKIAAT90", created=90, last_used=1),       # exactly at the limit: fine
        key("AKIAIDLE", created=60, last_used=46),      # unused too long
        key("AKIANEVER", created=46),                   # never used, created too long ago
        key("AKIANEW", created=10),                     # never used, but new
        key("AKIAOFF", created=400, active=False),      # inactive keys are neither
    ]
    assert found(inventory(iam=iam(keys=keys))) == {
        ("iam.access_key_age", "AKIAOLD"), ("iam.unused_access_key", "AKIAIDLE"), ("iam.unused_access_key", "AKIANEVER")}


def test_console_users_mfa_and_unused_passwords():
    rows = [
        row("no-mfa", password_enabled=True, password_last_used=ago(1), mfa_active=False),
        row("idle", password_enabled=True, password_last_used=ago(50), mfa_active=True),
        row("never", password_enabled=True, password_last_changed=ago(46), mfa_active=True),
        row("fine", password_enabled=True, password_last_used=ago(44), mfa_active=True),
        row("api-only", password_enabled=False),
    ]
    arn = lambda n: f"arn:aws:iam::{ACCOUNT}:user/{n}"  # noqa: E731
    assert found(inventory(iam=iam(credentials=rows))) == {
        ("iam.console_mfa", arn("no-mfa")), ("iam.unused_password", arn("idle")), ("iam.unused_password", arn("never"))}


@pytest.mark.parametrize(
    "policy, weak",
    [
        (None, "the account has no password policy"),
        ({"MinimumPasswordLength": 8, "RequireSymbols": True, "RequireNumbers": True, "RequireUppercaseCharacters": True,
          "RequireLowercaseCharacters": True, "PasswordReusePrevention": 24}, "minimum length 8 < 14"),
        ({"MinimumPasswordLength": 14, "RequireSymbols": False, "RequireNumbers": True, "RequireUppercaseCharacters": True,
          "RequireLowercaseCharacters": True, "PasswordReusePrevention": 5}, "RequireSymbols off, reuse prevention 5 < 24"),
    ],
)
def test_password_policy_weaker_than_config(policy, weak):
    findings, _ = evaluate(inventory(iam=iam(password_policy=policy)), SETTINGS)
    assert [(f.check, f.resource) for f in findings] == [("iam.password_policy", ACCOUNT)]
    assert weak in findings[0].problem
    assert findings[0].fix.startswith("aws iam update-account-password-policy --minimum-password-length 14 --require-symbols")


def test_password_expiry_when_config_requires_it():
    strict = Settings(dataclasses.replace(AccessConfig(), password_policy=dataclasses.replace(AccessConfig().password_policy, max_age_days=90)),
                      90, ACCOUNT, NOW)
    good = {"MinimumPasswordLength": 14, "RequireSymbols": True, "RequireNumbers": True, "RequireUppercaseCharacters": True,
            "RequireLowercaseCharacters": True, "PasswordReusePrevention": 24}
    assert found(inventory(iam=iam(password_policy=good)), strict) == {("iam.password_policy", ACCOUNT)}
    assert found(inventory(iam=iam(password_policy=dict(good, ExpirePasswords=True, MaxPasswordAge=60))), strict) == set()


def test_an_iam_collector_that_did_not_finish_claims_nothing():
    assert found(inventory(iam=IamState())) == set()


# --------------------------------------------------------------------------
# network checks


def sg(*perms: Permission, vpc: str = "vpc-1") -> SecurityGroup:
    return SecurityGroup("sg-1", f"arn:aws:ec2:ap-northeast-2:{ACCOUNT}:security-group/sg-1", "g", vpc, "ap-northeast-2", perms)


VPC = Vpc("vpc-1", "arn:vpc-1", "ap-northeast-2", ("10.20.0.0/16", "2001:db8::/56"), False, True, ("fl-1",))


@pytest.mark.parametrize(
    "perm, checks",
    [
        (Permission("tcp", 443, 443, ("0.0.0.0/0",)), set()),
        (Permission("tcp", 80, 80, ("0.0.0.0/0", "::/0")), set()),
        (Permission("tcp", 80, 443, ("0.0.0.0/0",)), {"ec2.sg_open_to_internet"}),  # the range holds more than 80 and 443
        (Permission("tcp", 22, 22, ("0.0.0.0/0",)), {"ec2.sg_open_to_internet"}),
        (Permission("udp", 443, 443, ("0.0.0.0/0",)), {"ec2.sg_open_to_internet"}),
        (Permission("icmp", -1, -1, ("0.0.0.0/0",)), {"ec2.sg_open_to_internet"}),
        (Permission("-1", None, None, ("::/0",)), {"ec2.sg_open_to_internet", "ec2.sg_database_port"}),
        (Permission("tcp", 5432, 5432, ("203.0.113.0/24",)), {"ec2.sg_database_port"}),
        (Permission("tcp", 5000, 6000, ("198.51.100.7/32",)), {"ec2.sg_database_port"}),  # covers 5432
        (Permission("tcp", 5432, 5432, ("10.20.64.0/18",)), set()),  # inside the VPC
        (Permission("tcp", 5432, 5432, ("2001:db8::/64",)), set()),  # inside the VPC's IPv6 block
        (Permission("tcp", 5432, 5432, ("2001:db9::/64",)), {"ec2.sg_database_port"}),
        (Permission("tcp", 8000, 8000, ("10.0.0.0/8",)), set()),  # not a database port
    ],
)
def test_security_group_rules(perm, checks):
    assert {c for c, _ in found(inventory(security_groups=[sg(perm)], vpcs=[VPC]))} == checks


def test_eks_endpoint_and_logging():
    full = frozenset({"api", "audit", "authenticator", "controllerManager", "scheduler"})
    clusters = [
        EksCluster("open", "arn:open", "r", True, ("0.0.0.0/0",), full),
        EksCluster("admins", "arn:admins", "r", True, ("198.51.100.0/24",), full),
        EksCluster("private", "arn:private", "r", False, ("0.0.0.0/0",), full - {"audit", "scheduler"}),
    ]
    findings, _ = evaluate(inventory(clusters=clusters), SETTINGS)
    assert [(f.check, f.resource) for f in findings] == [("eks.public_endpoint", "arn:open"), ("eks.control_plane_logging", "arn:private")]
    assert "does not log audit, scheduler" in findings[1].problem


def test_internet_facing_nlbs_behind_the_api_and_not():
    lbs = [LoadBalancer("api-nlb", "arn:nlb1", "r", "network", "internet-facing"),
           LoadBalancer("other-nlb", "arn:nlb2", "r", "network", "internet-facing"),
           LoadBalancer("inner", "arn:nlb3", "r", "network", "internal"),
           LoadBalancer("alb", "arn:alb", "r", "application", "internet-facing")]
    findings, _ = evaluate(inventory(load_balancers=lbs, vpc_links=[VpcLink("vl1", "edge", "r", ("arn:nlb1",))]), SETTINGS)
    assert [(f.check, f.severity, f.resource) for f in findings] == [
        ("elbv2.internet_facing_nlb", "medium", "arn:nlb1"), ("elbv2.internet_facing_nlb", "medium", "arn:nlb2")]
    assert "bypass the API's WAF, API keys and rate limits" in findings[0].problem
    assert "no WAF in front" in findings[1].problem


def test_an_internet_facing_nlb_whose_groups_admit_nothing_from_outside_is_closed():
    """Issue 17 item 8: security groups that admit only the VPC close the bypass (the VPC link passes as PrivateLink)."""
    closed = SecurityGroup("sg-nlb", "arn:sg-nlb", "nlb", "vpc-1", "ap-northeast-2", ())
    inner = SecurityGroup("sg-in", "arn:sg-in", "in", "vpc-1", "ap-northeast-2", (Permission("tcp", 80, 80, ("10.20.0.0/16",)),))
    world = SecurityGroup("sg-w", "arn:sg-w", "w", "vpc-1", "ap-northeast-2", (Permission("tcp", 80, 80, ("0.0.0.0/0",)),))

    def nlb(arn: str, *groups: str) -> LoadBalancer:
        return LoadBalancer(arn, arn, "r", "network", "internet-facing", "vpc-1", groups)

    lbs = [nlb("arn:closed", "sg-nlb"), nlb("arn:inner", "sg-nlb", "sg-in"), nlb("arn:open", "sg-nlb", "sg-w"), nlb("arn:none")]
    inv = inventory(load_balancers=lbs, security_groups=[closed, inner, world], vpcs=[VPC])
    assert {r for c, r in found(inv) if c == "elbv2.internet_facing_nlb"} == {"arn:open", "arn:none"}


def test_unused_vpcs_need_no_flow_logs():
    vpcs = [dataclasses.replace(VPC, id="vpc-a", arn="arn:a", flow_logs=()),
            dataclasses.replace(VPC, id="vpc-b", arn="arn:b", flow_logs=(), in_use=False, is_default=True)]
    assert found(inventory(vpcs=vpcs)) == {("ec2.vpc_flow_logs", "arn:a")}


# --------------------------------------------------------------------------
# data checks


def test_dynamodb_keys_aws_owned_aws_managed_and_customer():
    keys = [KmsKey("k1", "arn:k1", "r", "CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled", True),
            KmsKey("k2", "arn:k2", "r", "AWS", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled", None)]
    tables = [Table("owned", "arn:t1", "r", True, True, ""), Table("managed", "arn:t2", "r", True, True, "arn:k2"),
              Table("customer", "arn:t3", "r", True, True, "arn:k1")]
    findings, _ = evaluate(inventory(keys=keys, tables=tables), SETTINGS)
    assert [(f.check, f.resource) for f in findings] == [("dynamodb.customer_key", "arn:t1"), ("dynamodb.customer_key", "arn:t2")]
    assert "AWS owned key" in findings[0].problem and "AWS managed key aws/dynamodb" in findings[1].problem


def test_the_run_lock_table_is_a_reasoned_exception_to_pitr_and_customer_keys():
    """fablink-ops' lease table: no PITR, AWS owned key, on purpose; deletion protection still judged."""
    tables = [Table("fablink-ops-run-lock", "arn:lock", "r", False, False, ""), Table("orders", "arn:orders", "r", False, True, "")]
    assert found(inventory(tables=tables)) == {("dynamodb.pitr", "arn:orders"), ("dynamodb.customer_key", "arn:orders"),
                                               ("dynamodb.deletion_protection", "arn:lock")}


def test_only_rotatable_keys_are_asked_to_rotate():
    keys = [KmsKey("k1", "arn:k1", "r", "CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled", False),
            KmsKey("k2", "arn:k2", "r", "CUSTOMER", "RSA_2048", "AWS_KMS", "Enabled", None),
            KmsKey("k3", "arn:k3", "r", "CUSTOMER", "SYMMETRIC_DEFAULT", "EXTERNAL", "Enabled", None),
            KmsKey("k4", "arn:k4", "r", "CUSTOMER", "SYMMETRIC_DEFAULT", "AWS_KMS", "PendingDeletion", None),
            KmsKey("k5", "arn:k5", "r", "AWS", "SYMMETRIC_DEFAULT", "AWS_KMS", "Enabled", None)]
    assert found(inventory(keys=keys)) == {("kms.rotation", "arn:k1")}


# --------------------------------------------------------------------------
# account audit controls

from fablink_ops.runbooks.access.models import AuditServices, Trail  # noqa: E402

TRAIL = Trail("org", "arn:aws:cloudtrail:ap-northeast-2:853963783084:trail/org", "ap-northeast-2", True, True, "arn:key", True)
ALL_ON = AuditServices("ap-northeast-2", True, True, True)


def test_one_good_multi_region_trail_listed_by_every_region_is_enough():
    shadow = dataclasses.replace(TRAIL)  # the same ARN, as a second region lists it
    services = [ALL_ON, dataclasses.replace(ALL_ON, region="ap-northeast-1")]
    assert found(inventory(trails=[TRAIL, shadow], audit_services=services)) == set()


@pytest.mark.parametrize("change, checks", [
    (dict(logging=False), {"cloudtrail.multi_region_trail"}),  # stopped: records nothing
    (dict(multi_region=False), {"cloudtrail.multi_region_trail"}),
    (dict(log_file_validation=False), {"cloudtrail.log_file_validation"}),
    (dict(kms_key=""), {"cloudtrail.encryption"}),
])
def test_trail_weaknesses(change, checks):
    got = found(inventory(trails=[dataclasses.replace(TRAIL, **change)], audit_services=[ALL_ON]))
    assert {c for c, _ in got} == checks


def test_regional_services_each_a_finding_per_region():
    off = AuditServices("ap-northeast-1", False, False, False)
    got = found(inventory(trails=[TRAIL], audit_services=[ALL_ON, off]))
    where = f"{ACCOUNT}@ap-northeast-1"
    assert got == {("guardduty.enabled", where), ("config.recording", where), ("securityhub.enabled", where)}
    severity = {c.id: c.severity for c in CHECKS}
    assert (severity["cloudtrail.multi_region_trail"], severity["guardduty.enabled"]) == ("high", "high")


def test_an_audit_collector_that_read_nothing_claims_no_missing_trail():
    # no AuditServices: the collector failed everywhere (its step says so), not "the account has no trail"
    assert found(inventory(trails=[], audit_services=[])) == set()


def test_rds_event_subscriptions_cover_a_cluster_by_id_by_type_or_all():
    from fablink_ops.runbooks.access.models import DbCluster, RdsEventSubscription

    r = "ap-northeast-2"
    clusters = [DbCluster(n, f"arn:{n}", r, "aurora-postgresql", True, True, True, 30) for n in ("a", "b", "c", "d")]
    subs = [RdsEventSubscription("by-id", r, "db-cluster", ("a",), ("failover", "failure", "maintenance"), True),
            RdsEventSubscription("every-cluster-elsewhere", "us-east-1", "db-cluster", (), (), True),  # another region
            RdsEventSubscription("everything", r, "", ("b",), (), True),  # no type, no categories: all of b's events
            RdsEventSubscription("failover-only", r, "db-cluster", ("c",), ("failover",), True),
            RdsEventSubscription("off", r, "db-cluster", ("d",), (), False)]
    assert found(inventory(db_clusters=clusters, rds_event_subscriptions=subs)) == {
        ("rds.event_subscription", "arn:c"), ("rds.event_subscription", "arn:d")}


def test_backup_plan_coverage_by_arn_pattern_exclusion_and_tag():
    from fablink_ops.runbooks.access.models import BackupSelection, DbCluster

    r = "ap-northeast-2"
    clusters = [DbCluster("db", "arn:aws:rds:r:1:cluster:db", r, "aurora-postgresql", True, True, True, 30)]
    tables = [Table(n, f"arn:aws:dynamodb:r:1:table/{n}", r, True, True, "k") for n in ("a", "b", "tmp-c")]
    sels = [BackupSelection("p", "s", r, ("arn:aws:rds:r:1:cluster:db", "arn:aws:dynamodb:r:1:table/*"), ("arn:aws:dynamodb:r:1:table/tmp-*",), False)]
    inv = inventory(db_clusters=clusters, tables=tables, backup_selections=sels, backup_regions=[r])
    assert {x for x in found(inv) if x[0] == "backup.plan_coverage"} == {("backup.plan_coverage", "arn:aws:dynamodb:r:1:table/tmp-c")}
    # a selection by tag is not expanded: its region counts as covered; a region not read claims nothing
    tagged = BackupSelection("p", "t", r, (), (), True)
    assert not {x for x in found(dataclasses.replace(inv, backup_selections=[tagged])) if x[0] == "backup.plan_coverage"}
    assert not {x for x in found(dataclasses.replace(inv, backup_selections=[], backup_regions=[])) if x[0] == "backup.plan_coverage"}


def test_default_security_groups_with_rules_in_used_vpcs():
    groups = [SecurityGroup("sg-d1", "arn:d1", "default", "vpc-a", "r", (Permission("-1", None, None, ()),), 1),
              SecurityGroup("sg-d2", "arn:d2", "default", "vpc-a2", "r", (), 1),  # egress only: still a finding
              SecurityGroup("sg-d3", "arn:d3", "default", "vpc-b", "r", (Permission("-1", None, None, ()),), 1),  # unused VPC
              SecurityGroup("sg-d4", "arn:d4", "default", "vpc-c", "r", (), 0),  # stripped
              SecurityGroup("sg-x", "arn:x", "app", "vpc-a", "r", (), 1)]  # not a default group
    vpcs = [dataclasses.replace(VPC, id=i, arn=f"arn:{i}", flow_logs=("fl",), in_use=i != "vpc-b") for i in ("vpc-a", "vpc-a2", "vpc-b", "vpc-c")]
    assert {x for x in found(inventory(security_groups=groups, vpcs=vpcs)) if x[0] == "ec2.default_security_group"} == {
        ("ec2.default_security_group", "arn:d1"), ("ec2.default_security_group", "arn:d2")}


def test_gateway_endpoint_policies():
    import json as _json

    from fablink_ops.runbooks.access.models import Endpoint

    full = _json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
    scoped = _json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    conditioned = _json.dumps({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                                              "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}}]})
    eps = [Endpoint("e1", "arn:e1", "r", "vpc-a", "com.amazonaws.r.s3", full), Endpoint("e2", "arn:e2", "r", "vpc-a", "com.amazonaws.r.s3", scoped),
           Endpoint("e3", "arn:e3", "r", "vpc-a", "com.amazonaws.r.dynamodb", conditioned),
           Endpoint("e4", "arn:e4", "r", "vpc-b", "com.amazonaws.r.s3", full)]  # an unused VPC
    vpcs = [dataclasses.replace(VPC, id=i, arn=f"arn:{i}", flow_logs=("fl",), in_use=i == "vpc-a") for i in ("vpc-a", "vpc-b")]
    assert {x for x in found(inventory(endpoints=eps, vpcs=vpcs)) if x[0] == "ec2.endpoint_policy"} == {("ec2.endpoint_policy", "arn:e1")}
