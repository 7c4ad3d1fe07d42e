"""The prod stage: its deployment, logging, metrics and tracing.

Design doc: API Gateway "Request/Response logging"; Logging ("Level: INFO",
"Format: JSON", "Retention: 90 days"); Monitoring Stack ("AWS X-Ray"). API
Gateway writes logs with one account-wide role (its "account settings"),
created and set here.

A deployment is a snapshot of the API's resources, methods and integrations.
The stage variable ``fablinkOpsDefinition`` (and the deployment's description)
carry a hash of that definition, so a new deployment is made only when the
definition changed; a run that died after deploying finds its deployment by
description instead of making another one.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, UNMANAGED, UPDATE, Change, Context, Diff, wait_for
from ...target import error_code
from .. import kit, shared
from .api import definition_hash, pending_definition_change
from .common import COLOUR_VARIABLE, COLOURS, DEFINITION_VARIABLE, DEPLOYMENT_PREFIX, ENDPOINT_VARIABLE, EdgeNames, Found, Out, apigw_arn, change, maybe_update, tags

# The inline policy of the account-wide API Gateway logging role: the actions
# of AWS's AmazonAPIGatewayPushToCloudWatchLogs, limited to this region's log
# groups. Inline, so the role is complete in one put (and the sandbox, which
# does not load AWS managed policies, behaves like AWS).
# https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
ROLE_POLICY_NAME = "push-to-cloudwatch-logs"
ROLE_PROPAGATION_SECONDS = 120.0

# One JSON object per request (design doc: "Format: JSON (structured logging)").
# Request and response bodies are never logged (data tracing stays off).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "ip": "$context.identity.sourceIp",
        "userAgent": "$context.identity.userAgent",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "path": "$context.path",
        "resourcePath": "$context.resourcePath",
        "protocol": "$context.protocol",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integrationStatus",
        "apiKeyId": "$context.identity.apiKeyId",
        "wafResponseCode": "$context.wafResponseCode",
        "xrayTraceId": "$context.xrayTraceId",
    },
    separators=(",", ":"),
)


def discover(ctx: Context, names: EdgeNames, found: Found) -> None:
    """Reads: the stages and the account settings; the role and log groups from shared reads."""
    apigw = ctx.client("apigateway")
    if found.api:
        stages = apigw.get_stages(restApiId=found.api["id"]).get("item", [])
        found.stage = next((s for s in stages if s.get("stageName") == names.stage), None)
        if found.stage:
            ctx.set_output(Out.STAGE_ARN, names.stage_arn(ctx.cfg.project.region, found.api["id"]))
            ctx.set_output(Out.STAGE_VARIABLES, dict(found.stage.get("variables") or {}))
    found.account = apigw.get_account()
    # The role and the log groups come from reads the stages share (shared.py).
    found.role = shared.roles(ctx).get(names.role)
    if found.role:
        found.role_policy = shared.inline_policy(found.role, ROLE_POLICY_NAME)
        ctx.set_output(Out.APIGW_ROLE_ARN, found.role["Arn"])
    groups = shared.log_groups(ctx)
    wanted = [names.access_log_group] + ([names.execution_log_group(found.api["id"])] if found.api else [])
    found.log_groups.update({n: groups[n] for n in wanted if n in groups})


def plan(ctx: Context, names: EdgeNames, found: Found, earlier: list[Change]) -> list[Change]:
    return [
        kit.log_group_change(ctx, "edge", names.access_log_group, found.log_groups.get(names.access_log_group), output=Out.ACCESS_LOG_ARN),
        _execution_log_group(ctx, names, found),
        _role(ctx, names, found),
        _account(ctx, names, found),
        _stage(ctx, names, found, earlier),
    ]


def _execution_log_name(names: EdgeNames, found: Found) -> str:
    """Its real name once the API exists; the API's name stands in for its id before."""
    return names.execution_log_group(found.api["id"] if found.api else f"({names.api})")


def _execution_log_group(ctx: Context, names: EdgeNames, found: Found) -> Change:
    name = _execution_log_name(names, found)
    return kit.log_group_change(
        ctx, "edge", name, found.log_groups.get(name), needs=(names.k_api,),
        name_at_run=lambda: names.execution_log_group(ctx.output(Out.REST_API)),
    )


# ----- the account-level CloudWatch role


def _role_arn(ctx: Context, names: EdgeNames) -> str:
    return f"arn:aws:iam::{ctx.cfg.project.account_id}:role/{names.role}"


def _trust(ctx: Context) -> dict:
    # Confused deputy (issue 17 item 6): API Gateway may take the role only on
    # behalf of this account. aws:SourceAccount alone: API Gateway's ARNs carry
    # no account (arn:aws:apigateway:<region>::/restapis/...), so an
    # aws:SourceArn pattern would add nothing that ties it to us.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole",
                       "Condition": {"StringEquals": {"aws:SourceAccount": ctx.cfg.project.account_id}}}],
    }


def _policy(ctx: Context) -> dict:
    p = ctx.cfg.project
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups", "logs:DescribeLogStreams",
                    "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents",
                ],
                "Resource": f"arn:aws:logs:{p.region}:{p.account_id}:*",
            }
        ],
    }


def _role(ctx: Context, names: EdgeNames, found: Found) -> Change:
    iam = ctx.client("iam")
    name = names.role
    policy = _policy(ctx)

    def put_policy() -> None:
        iam.put_role_policy(RoleName=name, PolicyName=ROLE_POLICY_NAME, PolicyDocument=json.dumps(policy))

    if found.role is None:

        def create() -> str:
            arn = kit.create_role(ctx, name, _trust(ctx), "Lets API Gateway write the FabLink API's logs to CloudWatch (account-wide setting)", tags(ctx.cfg, name))
            ctx.set_output(Out.APIGW_ROLE_ARN, arn)
            put_policy()
            return arn

        return change("iam-role", name, CREATE, diffs=[Diff("inline policy", None, ROLE_POLICY_NAME)], run=create)
    diffs, steps = kit.role_drift(ctx, found.role, _trust(ctx), "apigateway.amazonaws.com", tags(ctx.cfg, name))
    if found.role_policy != policy:
        diffs.append(Diff("inline policy", "missing" if found.role_policy is None else "differs", ROLE_POLICY_NAME))
        steps.append(put_policy)
    return maybe_update("iam-role", name, found.role["Arn"], diffs, steps)


def _account(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    ours = _role_arn(ctx, names)
    current = found.account.get("cloudwatchRoleArn") or None
    name = "cloudwatch-role"
    if current == ours:
        return change("apigateway-account", name, NOOP, resource_id=ours, needs=(names.k_role,))
    if current:
        # Account-wide: every API of the region logs with this role. One that
        # someone else set, and that works, is left alone.
        return change("apigateway-account", name, UNMANAGED, resource_id=current,
                      note=f"API Gateway's account-wide CloudWatch role is {current}, set outside fablink-ops; left alone")

    def set_role() -> str:
        role_arn = ctx.output(Out.APIGW_ROLE_ARN)

        # A just-created role is not yet usable by API Gateway: it answers
        # BadRequestException ("...role ARN does not have required
        # permissions...") for a few seconds. That is IAM propagation, so it is
        # waited for (bounded), not treated as a failure.
        def attempt() -> tuple[str, str]:
            try:
                apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role_arn}])
            except ClientError as exc:
                if error_code(exc) == "BadRequestException" and "role" in str(exc).lower():
                    return "propagating", str(exc)
                raise
            return "set", ""

        wait_for(ctx, f"API Gateway account CloudWatch role {names.role}", attempt, {"set"}, set(), ROLE_PROPAGATION_SECONDS)
        return role_arn

    return change("apigateway-account", name, UPDATE, diffs=[Diff("cloudwatch role", None, names.role)], needs=(names.k_role,), run=set_role,
                  note="account-wide: API Gateway logs every API of the region with this role")


# ----- deployment and stage


def _deploy(ctx: Context) -> tuple[str, str]:
    """The deployment of the API's current definition: found by its description, or made."""
    apigw = ctx.client("apigateway")
    api_id = ctx.output(Out.REST_API)
    digest = definition_hash(apigw.paginate("get_resources", "items", restApiId=api_id, embed=["methods"]))
    description = DEPLOYMENT_PREFIX + digest
    existing = [d for d in apigw.paginate("get_deployments", "items", restApiId=api_id) if d.get("description") == description]
    if existing:
        return existing[-1]["id"], digest
    # No stageName: the stage is created or repointed below, keeping its settings.
    return apigw.create_deployment(restApiId=api_id, description=description)["id"], digest


def desired_settings(ctx: Context) -> dict[str, Any]:
    api_cfg = ctx.cfg.edge.api
    return {
        "tracingEnabled": api_cfg.tracing_enabled,
        "access log format": ACCESS_LOG_FORMAT,
        "logging level": api_cfg.execution_log_level,
        "metrics": api_cfg.metrics_enabled,
        "data trace": False,
        **stage_throttle(ctx),
    }


def stage_throttle(ctx: Context) -> dict[str, Any]:
    """The whole API's limit (issue 17 item 10): the design's peak, [sla]
    peak_rps, for every method; the burst the same, at most AWS's regional
    burst quota (5,000). Each client's own limit is the usage plan's."""
    peak = ctx.cfg.sla.peak_rps
    return {"throttle rate": float(peak), "throttle burst": min(peak, 5000)}


def _settings_ops(ctx: Context, todo: set[str]) -> list[dict]:
    want = desired_settings(ctx)
    ops = []
    if "tracingEnabled" in todo:
        ops.append({"op": "replace", "path": "/tracingEnabled", "value": str(want["tracingEnabled"]).lower()})
    if "access log destination" in todo or "access log format" in todo:
        ops.append({"op": "replace", "path": "/accessLogSettings/destinationArn", "value": ctx.output(Out.ACCESS_LOG_ARN)})
        ops.append({"op": "replace", "path": "/accessLogSettings/format", "value": ACCESS_LOG_FORMAT})
    if "logging level" in todo:
        ops.append({"op": "replace", "path": "/*/*/logging/loglevel", "value": want["logging level"]})
    if "metrics" in todo:
        ops.append({"op": "replace", "path": "/*/*/metrics/enabled", "value": str(want["metrics"]).lower()})
    if "data trace" in todo:
        ops.append({"op": "replace", "path": "/*/*/logging/dataTrace", "value": "false"})
    if "throttle rate" in todo:
        ops.append({"op": "replace", "path": "/*/*/throttling/rateLimit", "value": str(want["throttle rate"])})
    if "throttle burst" in todo:
        ops.append({"op": "replace", "path": "/*/*/throttling/burstLimit", "value": str(want["throttle burst"])})
    return ops


def current_settings(stage: dict) -> dict[str, Any]:
    method = (stage.get("methodSettings") or {}).get("*/*") or {}
    access = stage.get("accessLogSettings") or {}
    return {
        "tracingEnabled": bool(stage.get("tracingEnabled")),
        "access log destination": access.get("destinationArn"),
        "access log format": access.get("format"),
        "logging level": method.get("loggingLevel", "OFF"),
        "metrics": bool(method.get("metricsEnabled")),
        "data trace": bool(method.get("dataTraceEnabled")),
        "throttle rate": method.get("throttlingRateLimit"),
        "throttle burst": method.get("throttlingBurstLimit"),
    }


def _stage(ctx: Context, names: EdgeNames, found: Found, earlier: list[Change]) -> Change:
    apigw = ctx.client("apigateway")
    name = names.stage
    desired_tags = tags(ctx.cfg, f"{names.api}/{name}")
    needs = (
        names.k_api, names.k_method("/"), names.k_method("/{proxy+}"), names.k_access_logs,
        "log-group:" + _execution_log_name(names, found), names.k_account, names.k_nlb,
    )
    want = desired_settings(ctx)
    stage = found.stage
    if stage is None:
        diffs = [Diff("deployment", None, "new (API definition)")] + [Diff(k, None, v if k != "access log format" else "JSON") for k, v in want.items()]
        return change("api-stage", name, CREATE, diffs=diffs, needs=needs, run=lambda: _create_stage(ctx, names, desired_tags))

    current = current_settings(stage)
    diffs: list[Diff] = []
    todo = {k for k, v in want.items() if current[k] != v}
    log_arn = ctx.outputs.get(Out.ACCESS_LOG_ARN)
    if current["access log destination"] != log_arn:
        todo.add("access log destination")
        diffs.append(Diff("access log destination", current["access log destination"], log_arn or names.access_log_group))
    diffs += [Diff(k, current[k], v if k != "access log format" else "JSON") for k, v in want.items() if k in todo]
    variables = stage.get("variables") or {}
    deployed = variables.get(DEFINITION_VARIABLE)
    redeploy = pending_definition_change(earlier) or deployed != definition_hash(found.resources)
    if redeploy:
        diffs.insert(0, Diff("deployment", deployed, "new (API definition changed)"))
    current_tags = stage.get("tags") or {}
    missing = tagging.missing(current_tags, desired_tags)
    diffs += kit.tag_diff(current_tags, desired_tags)
    api_id = found.api["id"] if found.api else ""
    steps: list = []
    if redeploy:
        steps.append(lambda: _repoint(ctx, name, *_deploy(ctx)))
    if todo:
        steps.append(lambda: apigw.update_stage(restApiId=ctx.output(Out.REST_API), stageName=name, patchOperations=_settings_ops(ctx, todo)))
    routing = routing_variables(ctx, names, variables, resolve=False)
    if routing:
        diffs += [Diff(f"variable {k}", variables.get(k), v) for k, v in routing.items()]
        steps.append(lambda: apigw.update_stage(restApiId=ctx.output(Out.REST_API), stageName=name, patchOperations=[
            {"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in routing_variables(ctx, names, variables, resolve=True).items()]))
    if missing:
        steps.append(lambda: apigw.tag_resource(resourceArn=apigw_arn(ctx.cfg.project.region, f"/restapis/{api_id}/stages/{name}"), tags=missing))
    return maybe_update("api-stage", name, f"{api_id}/{name}", diffs, steps, needs)


def routing_variables(ctx: Context, names: EdgeNames, variables: dict[str, str], resolve: bool) -> dict[str, str]:
    """The colour variables to set: only where missing or inconsistent.

    liveColour is the release runbook's (invoke release): set to blue when
    missing, never changed once there. backendHost follows it (the NLB's DNS
    name and that colour's listener port), so a new NLB or listener port is
    followed without changing the colour. Canary settings are never touched.
    Empty when nothing is to set."""
    colour = variables.get(COLOUR_VARIABLE)
    out = {} if colour in COLOURS else {COLOUR_VARIABLE: "blue"}
    colour = colour if colour in COLOURS else "blue"
    dns = ctx.output(Out.NLB_DNS) if resolve else ctx.outputs.get(Out.NLB_DNS, f"({names.nlb})")
    host = backend_host(dns, names.port_of(colour))
    if variables.get(ENDPOINT_VARIABLE) != host:
        out[ENDPOINT_VARIABLE] = host
    return out


def backend_host(dns: str, port: int) -> str:
    return f"{dns}:{port}"


def _create_stage(ctx: Context, names: EdgeNames, desired_tags: dict[str, str]) -> str:
    apigw, name = ctx.client("apigateway"), names.stage
    want = desired_settings(ctx)
    deployment_id, digest = _deploy(ctx)
    api_id = ctx.output(Out.REST_API)
    try:
        apigw.create_stage(
            restApiId=api_id, stageName=name, deploymentId=deployment_id,
            variables={DEFINITION_VARIABLE: digest, **routing_variables(ctx, names, {}, resolve=True)},
            tracingEnabled=want["tracingEnabled"], tags=desired_tags,
            description="FabLink production (fablink-ops)",
        )
    except ClientError as exc:  # created by a run whose answer was lost? Only a read says so.
        if error_code(exc) != "ConflictException" or not _stage_exists(apigw, api_id, name):
            raise
        _repoint(ctx, name, deployment_id, digest)
    # Logging and method settings cannot be given to CreateStage.
    apigw.update_stage(restApiId=api_id, stageName=name, patchOperations=_settings_ops(ctx, set(want) | {"access log destination"}))
    ctx.set_output(Out.STAGE_ARN, names.stage_arn(ctx.cfg.project.region, api_id))
    return f"{name} -> deployment {deployment_id}"


def _repoint(ctx: Context, stage: str, deployment_id: str, digest: str) -> str:
    ctx.client("apigateway").update_stage(
        restApiId=ctx.output(Out.REST_API), stageName=stage,
        patchOperations=[
            {"op": "replace", "path": "/deploymentId", "value": deployment_id},
            {"op": "replace", "path": f"/variables/{DEFINITION_VARIABLE}", "value": digest},
        ],
    )
    return f"{stage} -> deployment {deployment_id}"



def _stage_exists(apigw: Any, api_id: str, name: str) -> bool:
    try:
        apigw.get_stage(restApiId=api_id, stageName=name)
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return False
        raise
    return True
