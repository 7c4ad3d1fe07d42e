"""The REST API, its VPC link to the NLB, and the greedy proxy methods.

Design doc: API Gateway ("Name: fablink-prod-api", "Type: REGIONAL", "API key
authentication"), Traffic flow ("API Gateway -> VPC Link -> Network Load
Balancer"). Every request, on the root and on any path below it, must carry
an API key and is passed as is (HTTP_PROXY) through the VPC link to the NLB.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, REPLACE, UNMANAGED, UPDATE, WAIT, Change, Context, Diff, wait_for
from ...target import error_code
from .. import kit
from .common import ENDPOINT_VARIABLE, PROXY_PATH, ROOT_PATH, EdgeNames, Found, Out, apigw_arn, change, maybe_update, one_by_name, tags

# API Gateway's longest integration timeout for REST APIs (the default).
INTEGRATION_TIMEOUT_MS = 29000
PROXY_PARAM = "method.request.path.proxy"


def discover(ctx: Context, names: EdgeNames, found: Found) -> None:
    """Two reads (APIs, VPC links), plus one for the API's resources with their methods."""
    apigw = ctx.client("apigateway")
    found.vpc_link = one_by_name(apigw.paginate("get_vpc_links", "items"), names.vpc_link, "VPC link")
    if found.vpc_link:
        ctx.set_output(Out.VPC_LINK, found.vpc_link["id"])
    found.api = one_by_name(apigw.paginate("get_rest_apis", "items"), names.api, "REST API")
    if found.api:
        api_id = found.api["id"]
        ctx.set_output(Out.REST_API, api_id)
        ctx.set_output(Out.REST_API_ROOT, found.api.get("rootResourceId") or "")
        # embed=methods returns each method with its integration: one call
        # for the whole API definition instead of two per method.
        found.resources = apigw.paginate("get_resources", "items", restApiId=api_id, embed=["methods"])
        for res in found.resources:
            if res.get("path") == ROOT_PATH:
                ctx.set_output(Out.REST_API_ROOT, res["id"])
            if res.get("path") == PROXY_PATH:
                ctx.set_output(names.k_proxy, res["id"])


def plan(ctx: Context, names: EdgeNames, found: Found) -> list[Change]:
    return [
        _vpc_link(ctx, names, found),
        _rest_api(ctx, names, found),
        _proxy_resource(ctx, names, found),
        _method(ctx, names, found, ROOT_PATH),
        _method(ctx, names, found, PROXY_PATH),
    ] + _unmanaged(found)


def _unmanaged(found: Found) -> list[Change]:
    """Methods someone added by hand: shown, left alone (they are deployed
    with the rest of the API, as its definition is)."""
    out = []
    for res in found.resources:
        for verb in sorted(res.get("resourceMethods") or {}):
            if res.get("path") in (ROOT_PATH, PROXY_PATH) and verb == "ANY":
                continue
            out.append(change("api-method", f"{verb} {res.get('path')}", UNMANAGED, resource_id=res["id"], note="not in the config; left alone"))
    return out


# ----- the VPC link


def _wait_link(ctx: Context, names: EdgeNames) -> str:
    apigw = ctx.client("apigateway")
    link_id = ctx.output(Out.VPC_LINK)

    def poll() -> tuple[str, str]:
        link = apigw.get_vpc_link(vpcLinkId=link_id)
        return link.get("status", "PENDING"), link.get("statusMessage", "")

    wait_for(ctx, f"VPC link {names.vpc_link} ({link_id})", poll, {"AVAILABLE"}, {"FAILED", "DELETING"},
             ctx.cfg.edge.api.vpc_link_wait_minutes * 60, interval=10.0)
    return link_id


def _vpc_link(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    name = names.vpc_link
    desired_tags = tags(ctx.cfg, name)
    link = found.vpc_link
    if link is None:

        def create() -> str:
            # No idempotency token and names are not unique: a lost answer is
            # found by name on the next run (two with one name is an error).
            link_id = apigw.create_vpc_link(
                name=name, description=f"{names.api} to {names.nlb}", targetArns=[ctx.output(Out.NLB_ARN)], tags=desired_tags,
            )["id"]
            ctx.set_output(Out.VPC_LINK, link_id)
            return _wait_link(ctx, names)

        return change("vpc-link", name, CREATE, diffs=[Diff("target", None, names.nlb)], needs=(names.k_nlb,), run=create,
                      note=f"AWS can take over 10 minutes; waits up to {ctx.cfg.edge.api.vpc_link_wait_minutes:g} min")
    link_id = link["id"]
    nlb_arn = ctx.outputs.get(Out.NLB_ARN)
    if nlb_arn and link.get("targetArns") != [nlb_arn]:
        return change("vpc-link", name, REPLACE, diffs=[Diff("target", link.get("targetArns"), names.nlb)], resource_id=link_id,
                      note="a VPC link's target cannot change: create a new link and repoint the integrations; nothing was changed")
    status = link.get("status")
    if status == "FAILED":
        return change("vpc-link", name, REPLACE, resource_id=link_id,
                      note=f"AWS reports it FAILED: {link.get('statusMessage', 'no reason given')}; delete it, then re-run")
    current = link.get("tags") or {}
    missing = tagging.missing(current, desired_tags)
    diffs = kit.tag_diff(current, desired_tags)
    steps = []
    if missing:
        steps.append(lambda: apigw.tag_resource(resourceArn=apigw_arn(ctx.cfg.project.region, f"/vpclinks/{link_id}"), tags=missing))
    if status == "PENDING":
        return change("vpc-link", name, WAIT, diffs=diffs, resource_id=link_id, needs=(names.k_nlb,), note="still being created by AWS",
                      run=kit.sequence(*steps, lambda: _wait_link(ctx, names)))
    return maybe_update("vpc-link", name, link_id, diffs, steps, (names.k_nlb,))


# ----- the REST API


def _rest_api(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    api_cfg = ctx.cfg.edge.api
    name = names.api
    desired_tags = tags(ctx.cfg, name)
    api = found.api
    if api is None:

        def create() -> str:
            created = apigw.create_rest_api(
                name=name,
                description="FabLink backend API (fablink-ops)",
                endpointConfiguration={"types": [api_cfg.endpoint_type]},
                apiKeySource="HEADER",  # clients send x-api-key
                tags=desired_tags,
            )
            ctx.set_output(Out.REST_API, created["id"])
            ctx.set_output(Out.REST_API_ROOT, created.get("rootResourceId") or _root_id(ctx, created["id"]))
            return created["id"]

        return change("rest-api", name, CREATE, diffs=[Diff("endpoint", None, api_cfg.endpoint_type)], run=create)
    api_id = api["id"]
    diffs, ops = [], []
    types = (api.get("endpointConfiguration") or {}).get("types", [])
    if types != [api_cfg.endpoint_type]:
        diffs.append(Diff("endpoint", types, api_cfg.endpoint_type))
        # An EDGE API can be switched to REGIONAL in place.
        ops += [{"op": "replace", "path": f"/endpointConfiguration/types/{t}", "value": api_cfg.endpoint_type} for t in types[:1]]
    if api.get("apiKeySource", "HEADER") != "HEADER":
        diffs.append(Diff("api key source", api.get("apiKeySource"), "HEADER"))
        ops.append({"op": "replace", "path": "/apiKeySource", "value": "HEADER"})
    steps = []
    if ops:
        steps.append(lambda: apigw.update_rest_api(restApiId=api_id, patchOperations=ops))
    current = api.get("tags") or {}
    missing = tagging.missing(current, desired_tags)
    diffs += kit.tag_diff(current, desired_tags)
    if missing:
        steps.append(lambda: apigw.tag_resource(resourceArn=apigw_arn(ctx.cfg.project.region, f"/restapis/{api_id}"), tags=missing))
    return maybe_update("rest-api", name, api_id, diffs, steps)


def _root_id(ctx: Context, api_id: str) -> str:
    items = ctx.client("apigateway").paginate("get_resources", "items", restApiId=api_id)
    return next(r["id"] for r in items if r.get("path") == ROOT_PATH)


# ----- the greedy proxy resource


def _proxy_resource(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    existing = next((r for r in found.resources if r.get("path") == PROXY_PATH), None)
    if existing:
        return change("api-resource", PROXY_PATH, NOOP, resource_id=existing["id"], needs=(names.k_api,))

    def create() -> str:
        api_id = ctx.output(Out.REST_API)
        try:
            rid = apigw.create_resource(restApiId=api_id, parentId=ctx.output(Out.REST_API_ROOT), pathPart="{proxy+}")["id"]
        except ClientError as exc:  # created by a run whose answer was lost? Only a read says so.
            if error_code(exc) != "ConflictException":
                raise
            items = apigw.paginate("get_resources", "items", restApiId=api_id)
            rid = next((r["id"] for r in items if r.get("path") == PROXY_PATH), None)
            if rid is None:  # a conflict of another kind: AWS's answer as it is
                raise
        ctx.set_output(names.k_proxy, rid)
        return rid

    return change("api-resource", PROXY_PATH, CREATE, needs=(names.k_api,), run=create)


# ----- methods and their integrations


def desired_method(path: str) -> dict[str, Any]:
    return {
        "authorizationType": "NONE",
        "apiKeyRequired": True,
        "requestParameters": {PROXY_PARAM: True} if path == PROXY_PATH else {},
    }


def desired_integration(ctx: Context, path: str, resolve: bool) -> dict[str, Any]:
    """HTTP_PROXY through the VPC link to the NLB's listener of the live colour.

    The host and port come from the stage variable backendHost (the NLB's DNS
    name and the live colour's listener port): switching it switches the
    colour with no redeployment, and a canary overrides it for its share of
    the traffic (common.py). At plan time on an empty account the VPC link
    does not exist yet: its name stands in for its id (``resolve=False``)."""
    names = EdgeNames(ctx.cfg)
    link_id = ctx.output(Out.VPC_LINK) if resolve else ctx.outputs.get(Out.VPC_LINK, f"({names.vpc_link})")
    base = "http://${stageVariables.%s}" % ENDPOINT_VARIABLE
    proxy = path == PROXY_PATH
    return {
        "type": "HTTP_PROXY",
        "httpMethod": "ANY",
        "uri": f"{base}/{{proxy}}" if proxy else f"{base}/",
        "connectionType": "VPC_LINK",
        "connectionId": link_id,
        "requestParameters": {"integration.request.path.proxy": PROXY_PARAM} if proxy else {},
        "timeoutInMillis": INTEGRATION_TIMEOUT_MS,
    }


def method_view(method: dict | None) -> dict[str, Any] | None:
    if method is None:
        return None
    return {
        "authorizationType": method.get("authorizationType"),
        "apiKeyRequired": bool(method.get("apiKeyRequired")),
        "requestParameters": {k: bool(v) for k, v in (method.get("requestParameters") or {}).items()},
    }


def integration_view(integration: dict | None) -> dict[str, Any] | None:
    if not integration:
        return None
    view = {
        "type": integration.get("type"),
        "httpMethod": integration.get("httpMethod"),
        "uri": integration.get("uri"),
        "connectionType": integration.get("connectionType"),
        "connectionId": integration.get("connectionId"),
        "requestParameters": dict(integration.get("requestParameters") or {}),
        "timeoutInMillis": int(integration.get("timeoutInMillis") or INTEGRATION_TIMEOUT_MS),
    }
    return view


def _same_integration(current: dict[str, Any] | None, desired: dict[str, Any]) -> bool:
    if current is None:
        return False
    # AWS always returns the connectionId of a VPC_LINK integration; moto 5.2
    # drops it. A missing one is "not reported", not drift.
    if current.get("connectionId") is None and current.get("connectionType") == "VPC_LINK":
        current = dict(current, connectionId=desired["connectionId"])
    return current == desired


def definition(resources: list[dict]) -> list:
    """What a deployment snapshots: every resource's methods and integrations."""
    out = []
    for res in sorted(resources, key=lambda r: r.get("path", "")):
        for verb, method in sorted((res.get("resourceMethods") or {}).items()):
            out.append([res.get("path"), verb, method_view(method), integration_view(method.get("methodIntegration"))])
    return out


def definition_hash(resources: list[dict]) -> str:
    return kit.digest(definition(resources))


def _method(ctx: Context, names: EdgeNames, found: Found, path: str) -> Change:
    apigw = ctx.client("apigateway")
    name = f"ANY {path}"
    resource_key = Out.REST_API_ROOT if path == ROOT_PATH else names.k_proxy
    needs = (names.k_api, names.k_vpc_link, names.k_nlb) + ((names.k_proxy,) if path == PROXY_PATH else ())
    resource = next((r for r in found.resources if r.get("path") == path), None)
    method = ((resource or {}).get("resourceMethods") or {}).get("ANY")
    want_method = desired_method(path)

    def put_method() -> None:
        apigw.put_method(restApiId=ctx.output(Out.REST_API), resourceId=ctx.output(resource_key), httpMethod="ANY", **want_method)

    def put_integration() -> str:
        want = desired_integration(ctx, path, resolve=True)
        apigw.put_integration(
            restApiId=ctx.output(Out.REST_API), resourceId=ctx.output(resource_key), httpMethod="ANY",
            integrationHttpMethod=want.pop("httpMethod"), **want,
        )
        return name

    planned = desired_integration(ctx, path, resolve=False)
    if method is None:
        diffs = [Diff("api key required", None, True), Diff("integration", None, f"HTTP_PROXY via {names.vpc_link} to {names.nlb}")]
        return change("api-method", name, CREATE, diffs=diffs, needs=needs, run=kit.sequence(put_method, put_integration))
    diffs: list[Diff] = []
    steps: list = []
    current_method = method_view(method)
    if current_method != want_method:
        diffs += [Diff(k, current_method.get(k), v) for k, v in want_method.items() if current_method.get(k) != v]  # type: ignore[union-attr]
        # A method's working copy holds no data and the stage keeps serving
        # the deployed snapshot until the redeploy, so delete + put is safe;
        # it also avoids update_method's per-key patch paths.
        steps += [lambda: apigw.delete_method(restApiId=ctx.output(Out.REST_API), resourceId=ctx.output(resource_key), httpMethod="ANY"), put_method]
    current_integration = integration_view(method.get("methodIntegration"))
    if steps or not _same_integration(current_integration, planned):
        if not steps:
            cur = current_integration or {}
            diffs += [Diff(f"integration {k}", cur.get(k), v) for k, v in planned.items() if cur.get(k) != v]
        steps.append(put_integration)
    return maybe_update("api-method", name, f"{path} ANY", diffs, steps, needs)


def pending_definition_change(changes: list[Change]) -> bool:
    """Whether this plan changes what a deployment would snapshot."""
    return any(c.kind in ("api-resource", "api-method") and c.action in (CREATE, UPDATE) for c in changes)
