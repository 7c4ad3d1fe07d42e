"""The edge of this environment: WAF, API Gateway, the NLB, the certificate.

Order (steps): the web ACL (disassociated from its APIs first, then deleted
with its lock token), the custom domain (its base path mappings first), the
usage plan (its API stages removed first: AWS refuses to delete a plan that
still names a stage) and the API key; then the REST API (its stages,
resources and methods go with it); then the VPC link (it holds the NLB) and
the certificate (ACM refuses while the domain uses it); then the NLB (its
listeners go with it; an NLB with deletion protection on is a refusal of the
whole destroy); then the target group; then the logging role and log groups.

The API Gateway account setting (the CloudWatch role of every API in the
region) is shared by every environment of the account: it is never changed,
and our role is kept while the setting names it (listed as left).
"""

from __future__ import annotations

from typing import Any

from .. import tags as tagging
from ..engine import Context
from . import iam, logs
from .common import Doomed, gone, owned, retry_in_use, status_or_gone, wait_gone

STAGE = "edge"
APIGW_GONE = ("NotFoundException",)


def find(ctx: Context) -> list[Doomed]:
    out = _web_acls(ctx) + _apigateway(ctx) + _certificates(ctx) + _load_balancers(ctx)
    roles = iam.roles(ctx, STAGE, 5)
    account_role = ctx.client("apigateway").get_account().get("cloudwatchRoleArn")
    for r in roles:
        if r.id == account_role:
            r.blocked = ("the region's API Gateway account setting logs every API through it (shared by all environments): "
                      "point it at another role, then run destroy again")
    return out + roles + logs.log_groups(ctx, STAGE, 5)


def _web_acls(ctx: Context) -> list[Doomed]:
    waf = ctx.client("wafv2")
    out = []
    for acl in _list_acls(ctx):
        tags = tagging.from_list(waf.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"].get("TagList"))
        if owned(ctx, tags):
            out.append(Doomed(STAGE, "web-acl", acl["Name"], acl["ARN"], 0, _delete_acl(ctx, acl)))
    return out


def _list_acls(ctx: Context) -> list[dict]:
    """ListWebACLs has no paginator in botocore: NextMarker by hand."""
    waf, acls, marker = ctx.client("wafv2"), [], None
    while True:
        page = waf.list_web_acls(Scope="REGIONAL", Limit=100, **({"NextMarker": marker} if marker else {}))
        acls += page.get("WebACLs", [])
        marker = page.get("NextMarker")
        if not marker or not page.get("WebACLs"):
            return acls


def _delete_acl(ctx: Context, acl: dict):
    waf = ctx.client("wafv2")

    def delete() -> None:
        for arn in _associated(ctx, acl["ARN"]):
            gone(lambda: waf.disassociate_web_acl(ResourceArn=arn), "WAFNonexistentItemException")
        # The lock token guards against a concurrent change: read it just before.
        got = status_or_gone(lambda: waf.get_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"])["LockToken"],
                             "WAFNonexistentItemException")
        if got != "gone":
            gone(lambda: waf.delete_web_acl(Name=acl["Name"], Scope="REGIONAL", Id=acl["Id"], LockToken=got),
                 "WAFNonexistentItemException")

    return delete


def _associated(ctx: Context, acl_arn: str) -> list[str]:
    """The API stages the web ACL protects. moto has no ListResourcesForWebACL:
    in the sandbox they are our REST APIs' stages that name the ACL (against
    AWS, every associated resource, so that DeleteWebACL is not refused)."""
    if ctx.target.is_live:
        return ctx.client("wafv2").list_resources_for_web_acl(WebACLArn=acl_arn, ResourceType="API_GATEWAY").get("ResourceArns", [])
    apigw, region = ctx.client("apigateway"), ctx.target.region
    return [f"arn:aws:apigateway:{region}::/restapis/{a['id']}/stages/{st['stageName']}"
            for a in apigw.paginate("get_rest_apis", "items") if owned(ctx, a.get("tags") or {})
            for st in apigw.get_stages(restApiId=a["id"]).get("item", []) if st.get("webAclArn") == acl_arn]


def _apigateway(ctx: Context) -> list[Doomed]:
    apigw = ctx.client("apigateway")
    out = []
    for d in apigw.paginate("get_domain_names", "items"):
        if owned(ctx, d.get("tags") or {}):
            out.append(Doomed(STAGE, "domain-name", d["domainName"], d["domainName"], 0, _delete_domain(ctx, d["domainName"])))
    for p in apigw.paginate("get_usage_plans", "items"):
        if owned(ctx, p.get("tags") or {}):
            out.append(Doomed(STAGE, "usage-plan", p["name"], p["id"], 0, _delete_usage_plan(ctx, p)))
    for k in apigw.paginate("get_api_keys", "items", includeValues=False):
        if owned(ctx, k.get("tags") or {}):
            out.append(Doomed(STAGE, "api-key", k["name"], k["id"], 0, _apigw_delete(lambda i=k["id"]: apigw.delete_api_key(apiKey=i))))
    for a in apigw.paginate("get_rest_apis", "items"):
        if owned(ctx, a.get("tags") or {}):
            out.append(Doomed(STAGE, "rest-api", a["name"], a["id"], 1, _apigw_delete(lambda i=a["id"]: apigw.delete_rest_api(restApiId=i))))
    for v in apigw.paginate("get_vpc_links", "items"):
        if owned(ctx, v.get("tags") or {}):
            out.append(_vpc_link(ctx, v))
    return out


def _apigw_delete(call):
    return lambda: gone(call, *APIGW_GONE) and None


def _delete_domain(ctx: Context, domain: str):
    apigw = ctx.client("apigateway")

    def delete() -> None:
        mappings = status_or_gone(lambda: apigw.paginate("get_base_path_mappings", "items", domainName=domain), *APIGW_GONE)
        for m in mappings if mappings != "gone" else []:
            gone(lambda: apigw.delete_base_path_mapping(domainName=domain, basePath=m["basePath"]), *APIGW_GONE)
        gone(lambda: apigw.delete_domain_name(domainName=domain), *APIGW_GONE)

    return delete


def _delete_usage_plan(ctx: Context, plan: dict):
    apigw = ctx.client("apigateway")

    def delete() -> None:
        ops = [{"op": "remove", "path": "/apiStages", "value": f"{s['apiId']}:{s['stage']}"} for s in plan.get("apiStages", [])]
        if ops:
            gone(lambda: apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=ops), *APIGW_GONE)
        gone(lambda: apigw.delete_usage_plan(usagePlanId=plan["id"]), *APIGW_GONE)

    return delete


def _vpc_link(ctx: Context, v: dict) -> Doomed:
    apigw = ctx.client("apigateway")

    def status() -> str:
        return apigw.get_vpc_link(vpcLinkId=v["id"])["status"]

    return Doomed(STAGE, "vpc-link", v["name"], v["id"], 2, _apigw_delete(lambda: apigw.delete_vpc_link(vpcLinkId=v["id"])),
                  wait=lambda: wait_gone(ctx, f"VPC link {v['name']}", lambda: status_or_gone(status, *APIGW_GONE)))


def _certificates(ctx: Context) -> list[Doomed]:
    acm = ctx.client("acm")
    out = []
    for c in acm.paginate("list_certificates", "CertificateSummaryList"):
        arn = c["CertificateArn"]
        tags = tagging.from_list(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags"))
        if owned(ctx, tags):
            out.append(Doomed(STAGE, "certificate", c["DomainName"], arn, 2, retry_in_use(ctx, f"certificate {c['DomainName']}", lambda arn=arn: gone(
                lambda: acm.delete_certificate(CertificateArn=arn), "ResourceNotFoundException"), ("ResourceInUseException",))))
    return out


def _load_balancers(ctx: Context) -> list[Doomed]:
    elb = ctx.client("elbv2")
    lbs = elb.paginate("describe_load_balancers", "LoadBalancers")
    tgs = elb.paginate("describe_target_groups", "TargetGroups")
    tags = _elb_tags(ctx, [x["LoadBalancerArn"] for x in lbs] + [x["TargetGroupArn"] for x in tgs])
    out = []
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        if owned(ctx, tags.get(arn, {})):
            out.append(_load_balancer(ctx, lb))
    for tg in tgs:
        arn = tg["TargetGroupArn"]
        if owned(ctx, tags.get(arn, {})):
            out.append(Doomed(STAGE, "target-group", tg["TargetGroupName"], arn, 4, retry_in_use(ctx, f"target group {tg['TargetGroupName']}", lambda arn=arn: gone(
                lambda: elb.delete_target_group(TargetGroupArn=arn), "TargetGroupNotFound"), ("ResourceInUse",))))
    return out


def _elb_tags(ctx: Context, arns: list[str]) -> dict[str, dict[str, str]]:
    elb, out = ctx.client("elbv2"), {}
    for i in range(0, len(arns), 20):  # DescribeTags takes 20 ARNs at most
        for d in elb.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
            out[d["ResourceArn"]] = tagging.from_list(d.get("Tags"))
    return out


def _load_balancer(ctx: Context, lb: dict[str, Any]) -> Doomed:
    elb = ctx.client("elbv2")
    arn = lb["LoadBalancerArn"]
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}

    def status() -> str:
        return elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"]

    return Doomed(STAGE, "load-balancer", lb["LoadBalancerName"], arn, 3,
                  lambda: gone(lambda: elb.delete_load_balancer(LoadBalancerArn=arn), "LoadBalancerNotFound") and None,
                  wait=lambda: wait_gone(ctx, f"load balancer {lb['LoadBalancerName']}", lambda: status_or_gone(status, "LoadBalancerNotFound")),
                  protected="deletion protection" if attrs.get("deletion_protection.enabled") == "true" else "")
