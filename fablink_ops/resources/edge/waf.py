"""AWS WAF in front of the stage: a REGIONAL web ACL with AWS managed rule
groups and a per-IP rate-based rule, associated with the prod stage.

Design doc: Security, "AWS WAF on API Gateway". The rule groups and the rate
are config values (ours). Every rule publishes CloudWatch metrics and keeps
sampled requests, for the incident runbooks.
"""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, UPDATE, Change, Context, Diff
from ...errors import OpsError
from ...patience import WAF_ASSOCIATION, retry_within
from ...target import error_code
from .. import kit, shared
from .common import NAME, EdgeNames, Found, Out, change, maybe_update, tags

SCOPE = "REGIONAL"  # API Gateway stages take REGIONAL web ACLs (CLOUDFRONT is for distributions)
RATE_RULE = "rate-limit-per-ip"


def discover(ctx: Context, names: EdgeNames, found: Found) -> None:
    """One read of our web ACL (its rules and lock token), found through the
    stage's association, or by listing the region's web ACLs while it is not
    associated; then its logging configuration (one read) and log group
    (from the read the stages share)."""
    _discover_acl(ctx, names, found)
    group = shared.log_groups(ctx).get(names.waf_log_group)
    if group is not None:
        found.log_groups[names.waf_log_group] = group
    if found.web_acl is not None:
        try:
            found.waf_logging = ctx.client("wafv2").get_logging_configuration(ResourceArn=found.web_acl["ARN"])["LoggingConfiguration"]
        except ClientError as exc:
            if error_code(exc) != "WAFNonexistentItemException":
                raise


def _discover_acl(ctx: Context, names: EdgeNames, found: Found) -> None:
    waf = ctx.client("wafv2")
    # The stage names its web ACL: arn:aws:wafv2:REGION:ACCOUNT:regional/webacl/NAME/ID.
    associated = (found.stage or {}).get("webAclArn") or ""
    parts = associated.split("/")
    if len(parts) >= 4 and parts[-2] == names.waf and parts[-4].endswith(":regional"):
        try:
            _read(ctx, names, found, parts[-1])
            return
        except ClientError as exc:  # deleted since: look it up by name
            if error_code(exc) != "WAFNonexistentItemException":
                raise
    ours: list[dict] = []
    marker = None
    while True:  # wafv2 has no botocore paginator
        page = waf.list_web_acls(Scope=SCOPE, Limit=100, **({"NextMarker": marker} if marker else {}))
        ours += [a for a in page.get("WebACLs", []) if a.get("Name") == names.waf]
        marker = page.get("NextMarker")
        if not marker or not page.get("WebACLs"):
            break
    if len(ours) > 1:  # names are unique per scope and region; kept for the rule
        raise OpsError(f"two web ACLs are named {names.waf}: {ours[0]['ARN']} and {ours[1]['ARN']}; remove one, then re-run")
    if ours:
        _read(ctx, names, found, ours[0]["Id"])


def _read(ctx: Context, names: EdgeNames, found: Found, acl_id: str) -> None:
    answer = ctx.client("wafv2").get_web_acl(Name=names.waf, Scope=SCOPE, Id=acl_id)
    found.web_acl, found.web_acl_lock = answer["WebACL"], answer["LockToken"]
    ctx.set_output(Out.WEB_ACL_ARN, found.web_acl["ARN"])


def plan(ctx: Context, names: EdgeNames, found: Found) -> list[Change]:
    log_group = kit.log_group_change(ctx, NAME, names.waf_log_group, found.log_groups.get(names.waf_log_group))
    return [_web_acl(ctx, names, found), _association(ctx, names, found), log_group, _logging(ctx, names, found)]


def _metric(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", "-".join(parts))[:255]


def _visibility(metric: str) -> dict:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def desired_rules(ctx: Context, names: EdgeNames) -> list[dict[str, Any]]:
    waf_cfg = ctx.cfg.edge.waf
    # The rate rule first: a flood is blocked before the (costlier) managed groups run.
    rules: list[dict[str, Any]] = [
        {
            "Name": RATE_RULE,
            "Priority": 0,
            "Statement": {
                "RateBasedStatement": {
                    "Limit": waf_cfg.rate_limit_per_ip,
                    "EvaluationWindowSec": waf_cfg.rate_window_seconds,
                    "AggregateKeyType": "IP",
                }
            },
            "Action": {"Block": {}},
            "VisibilityConfig": _visibility(_metric(names.waf, RATE_RULE)),
        }
    ]
    for i, group in enumerate(waf_cfg.managed_rule_groups, start=1):
        rules.append(
            {
                "Name": f"AWS-{group}",
                "Priority": i,
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": group}},
                # Managed groups take an override action; None = their own actions (block).
                "OverrideAction": {"None": {}},
                "VisibilityConfig": _visibility(_metric(names.waf, group)),
            }
        )
    return rules


def rule_view(rule: dict) -> tuple:
    """The parts we set, in a form AWS's answer and moto's both reduce to."""
    stmt = rule.get("Statement") or {}
    if "RateBasedStatement" in stmt:
        r = stmt["RateBasedStatement"]
        what: tuple = ("rate", int(r.get("Limit", 0)), int(r.get("EvaluationWindowSec", 300)), r.get("AggregateKeyType"))
    elif "ManagedRuleGroupStatement" in stmt:
        m = stmt["ManagedRuleGroupStatement"]
        what = ("managed", m.get("VendorName"), m.get("Name"), tuple(sorted(x.get("Name", "") for x in m.get("ExcludedRules") or [])))
    else:
        what = ("other", repr(sorted(stmt)))
    action = sorted((rule.get("Action") or {}).keys())
    override = sorted((rule.get("OverrideAction") or {}).keys())
    vis = rule.get("VisibilityConfig") or {}
    return (rule.get("Name"), int(rule.get("Priority", -1)), what, tuple(action), tuple(override),
            bool(vis.get("SampledRequestsEnabled")), bool(vis.get("CloudWatchMetricsEnabled")), vis.get("MetricName"))


def _web_acl(ctx: Context, names: EdgeNames, found: Found) -> Change:
    waf = ctx.client("wafv2")
    name = names.waf
    rules = desired_rules(ctx, names)
    visibility = _visibility(_metric(name))
    # wafv2 allows no parentheses in a description (its model pattern; moto accepts them).
    description = f"{names.api}: AWS managed rules and a per-IP rate limit, by fablink-ops"
    acl = found.web_acl
    if acl is None:

        def create() -> str:
            try:
                arn = waf.create_web_acl(
                    Name=name, Scope=SCOPE, DefaultAction={"Allow": {}}, Description=description, Rules=rules,
                    VisibilityConfig=visibility, Tags=tagging.to_list(tags(ctx.cfg, name)),
                )["Summary"]["ARN"]
            except ClientError as exc:  # created by a run whose answer was lost
                if error_code(exc) != "WAFDuplicateItemException":
                    raise
                found_now = Found()
                _discover_acl(ctx, names, found_now)
                arn = found_now.web_acl["ARN"]  # type: ignore[index]
            ctx.set_output(Out.WEB_ACL_ARN, arn)
            return arn

        diffs = [Diff("rule", None, r["Name"]) for r in rules]
        return change("web-acl", name, CREATE, diffs=diffs, run=create)
    arn = acl["ARN"]
    current = sorted(rule_view(r) for r in acl.get("Rules") or [])
    wanted = sorted(rule_view(r) for r in rules)
    diffs = []
    if current != wanted:
        have = {v[0] for v in current}
        want = {v[0] for v in wanted}
        diffs += [Diff("rule", None, n) for n in sorted(want - have)] + [Diff("rule", n, None) for n in sorted(have - want)]
        diffs += [Diff(f"rule {n}", "differs", "as configured") for n in sorted(have & want)
                  if next(v for v in current if v[0] == n) != next(v for v in wanted if v[0] == n)]
    if sorted((acl.get("DefaultAction") or {}).keys()) != ["Allow"]:
        diffs.append(Diff("default action", sorted((acl.get("DefaultAction") or {}).keys()), "Allow"))
    steps = []
    if diffs:
        steps.append(lambda: waf.update_web_acl(
            Name=name, Scope=SCOPE, Id=acl["Id"], DefaultAction={"Allow": {}}, Description=description, Rules=rules,
            VisibilityConfig=visibility, LockToken=found.web_acl_lock,
        ))
    # Tags are set in the create call; not re-read (one more call per plan).
    return maybe_update("web-acl", name, arn, diffs, steps)


def _association(ctx: Context, names: EdgeNames, found: Found) -> Change:
    waf = ctx.client("wafv2")
    name = f"{names.waf} -> {names.api}/{names.stage}"
    needs = (names.k_waf, names.k_stage)
    current = (found.stage or {}).get("webAclArn")
    wanted = ctx.outputs.get(Out.WEB_ACL_ARN)
    if found.stage and wanted and current == wanted:
        return change("web-acl-association", name, NOOP, resource_id=current, needs=needs)

    def associate() -> str:
        stage_arn = ctx.output(Out.STAGE_ARN)
        # Idempotent; replaces another web ACL's association if there is one.
        # WAF sees a new stage only after a while (minutes): WAF_ASSOCIATION's budget.
        retry_within(ctx, WAF_ASSOCIATION, lambda: waf.associate_web_acl(WebACLArn=ctx.output(Out.WEB_ACL_ARN), ResourceArn=stage_arn))
        return stage_arn

    action = CREATE if not current else UPDATE
    return change("web-acl-association", name, action, diffs=[Diff("web ACL", current, names.waf)], needs=needs, run=associate)



# ----- logging (issue 17 item 4)


def desired_logging(ctx: Context, names: EdgeNames, acl_arn: str) -> dict:
    """Every request to CloudWatch Logs (the group's ARN without ":*", as WAF
    wants it), the configured headers redacted: a client's credentials
    (Authorization, x-api-key) never reach the log."""
    p = ctx.cfg.project
    return {
        "ResourceArn": acl_arn,
        "LogDestinationConfigs": [f"arn:{kit.partition(p.region)}:logs:{p.region}:{p.account_id}:log-group:{names.waf_log_group}"],
        "RedactedFields": [{"SingleHeader": {"Name": h}} for h in ctx.cfg.edge.waf.redacted_headers],
    }


def logging_view(conf: dict | None) -> tuple:
    """The parts we set: destinations and redacted header names (AWS and moto
    answer the same fields; header names compared in lowercase)."""
    if not conf:
        return ((), ())
    headers = sorted(f["SingleHeader"]["Name"].lower() for f in conf.get("RedactedFields") or [] if "SingleHeader" in f)
    return (tuple(conf.get("LogDestinationConfigs") or ()), tuple(headers))


def _logging(ctx: Context, names: EdgeNames, found: Found) -> Change:
    waf = ctx.client("wafv2")
    name = f"{names.waf} -> {names.waf_log_group}"
    needs = (names.k_waf, names.k_waf_log_group)
    acl_arn = (found.web_acl or {}).get("ARN", "")
    wanted = logging_view(desired_logging(ctx, names, acl_arn))
    current = logging_view(found.waf_logging)
    if found.waf_logging is not None and current == wanted:
        return change("waf-logging", name, NOOP, resource_id=acl_arn, needs=needs)

    def put() -> str:
        # WAF writes the log group's resource policy for its log delivery
        # itself (the caller needs logs:PutResourcePolicy); no role of ours.
        arn = ctx.output(Out.WEB_ACL_ARN)
        waf.put_logging_configuration(LoggingConfiguration=desired_logging(ctx, names, arn))
        return arn

    diffs = [Diff("destination", list(current[0]) or None, names.waf_log_group),
             Diff("redacted headers", list(current[1]) or None, list(wanted[1]))]
    diffs = [d for d, before, after in zip(diffs, current, wanted) if before != after]
    return change("waf-logging", name, CREATE if found.waf_logging is None else UPDATE, diffs=diffs, needs=needs, run=put)
