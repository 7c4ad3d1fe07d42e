"""EKS add-ons: the VPC CNI with network policy enforcement, and CloudWatch
observability (Container Insights).

Design doc: EKS Security, "Network Policies: Enabled"; Monitoring Stack,
"CloudWatch Container Insights" (the monitoring stage's alarms read its
metrics). moto 5.2 has no add-on API: in the sandbox each add-on is a SKIP that
says so; the live path is tested with botocore's Stubber.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ...config import AddonConfig
from ...engine import CREATE, SKIP, WAIT, Change, Context, Diff
from ...target import error_code
from .. import kit
from .common import Names, Out, change, desired_tags, issues, maybe_update, wait_update, waiter
from .cluster import after_version_change
from .discover import Found

KIND = "eks-addon"
ADDON_FAILED = {"CREATE_FAILED", "DEGRADED", "UPDATE_FAILED", "DELETING", "DELETE_FAILED"}
ADDON_BUSY = ("CREATING", "UPDATING")


def _budget(ctx: Context) -> float:
    return ctx.cfg.eks.addon_wait_minutes * 60


def wait_active(ctx: Context, names: Names, addon: str) -> dict:
    eks = ctx.client("eks")

    def describe() -> dict:
        return eks.describe_addon(clusterName=names.cluster, addonName=addon)["addon"]

    return waiter(ctx, f"add-on {addon}", describe, {"ACTIVE"}, ADDON_FAILED, _budget(ctx))


def _configuration(addon: AddonConfig) -> str:
    return json.dumps(addon.configuration, sort_keys=True) if addon.configuration else ""


def _current_configuration(found: dict) -> dict:
    text = found.get("configurationValues") or ""
    try:
        return json.loads(text) if text.strip() else {}
    except ValueError:  # YAML is accepted too; then it differs from ours, which is JSON
        return {"(yaml)": text}


def addon(ctx: Context, names: Names, found: Found, spec: AddonConfig) -> Change:
    role_name = names.addon_role(spec) if spec.service_account else None
    needs = (names.k_cluster, *after_version_change(ctx, names, found), *(names.k_nodegroup(z) for z in ctx.cfg.network.zones))
    if role_name:
        needs += (names.k_role(role_name),)
    if not ctx.target.is_live:
        return change(
            KIND, spec.name, SKIP,
            note="the sandbox (moto) cannot emulate EKS add-ons: not installed here; on --live it is installed and waited for",
        )
    current = found.addons.get(spec.name)
    if current is None:
        diffs = [Diff("version", None, spec.version or "AWS default for the cluster")]
        if spec.configuration:
            diffs.append(Diff("configuration", None, _configuration(spec)))
        if role_name:
            diffs.append(Diff("service account role", None, role_name))
        return change(KIND, spec.name, CREATE, diffs=diffs, needs=needs, run=lambda: _create_addon(ctx, names, spec, role_name))
    return _existing_addon(ctx, names, spec, role_name, current, needs)


def _request(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None) -> dict[str, Any]:
    """CreateAddon/UpdateAddon's arguments, built when the change runs (the role's ARN may be new)."""
    kwargs: dict[str, Any] = {"clusterName": names.cluster, "addonName": spec.name,
                              # The cluster runs a self-managed VPC CNI from birth: adopt it, with our settings.
                              "resolveConflicts": "OVERWRITE"}
    if spec.version:
        kwargs["addonVersion"] = spec.version
    if spec.configuration:
        kwargs["configurationValues"] = _configuration(spec)
    if role_name:
        kwargs["serviceAccountRoleArn"] = ctx.output(Out.role_arn(role_name))
    return kwargs


def _create_addon(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None) -> str:
    try:
        ctx.client("eks").create_addon(
            **_request(ctx, names, spec, role_name), tags=desired_tags(ctx.cfg, spec.name),
            clientRequestToken=kit.request_token("eks-addon", ctx.output(Out.CLUSTER_ARN), spec.name),
        )
    except ClientError as exc:  # created by a run whose answer was lost: wait for that one
        if error_code(exc) != "ResourceInUseException":
            raise
    return wait_active(ctx, names, spec.name)["addonArn"]


def _existing_addon(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None, current: dict, needs: tuple[str, ...]) -> Change:
    eks = ctx.client("eks")
    arn, status = current["addonArn"], current["status"]
    diffs = []
    if spec.version and current.get("addonVersion") != spec.version:
        diffs.append(Diff("version", current.get("addonVersion"), spec.version))
    if _current_configuration(current) != dict(spec.configuration):
        diffs.append(Diff("configuration", current.get("configurationValues") or None, _configuration(spec) or None))
    wanted_role = ctx.outputs.get(Out.role_arn(role_name)) if role_name else None
    if role_name and current.get("serviceAccountRoleArn") != wanted_role:
        diffs.append(Diff("service account role", current.get("serviceAccountRoleArn"), wanted_role or role_name))
    steps = []
    if diffs:
        token = kit.request_token("eks-addon-update", arn, repr([sorted(d.to_json().items()) for d in diffs]))

        def update() -> None:
            kwargs = _request(ctx, names, spec, role_name)
            if not spec.configuration:
                kwargs["configurationValues"] = ""  # back to the add-on's defaults
            resp = eks.update_addon(**kwargs, clientRequestToken=token)
            wait_update(ctx, f"add-on {spec.name}", resp.get("update"), _budget(ctx), addonName=spec.name)

        steps.append(update)
    tag_diffs, tag_steps = kit.tag_drift(current.get("tags") or {}, desired_tags(ctx.cfg, spec.name),
                                         lambda todo: eks.tag_resource(resourceArn=arn, tags=todo))
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    if status in ADDON_BUSY:
        return change(KIND, spec.name, WAIT, diffs=diffs, resource_id=arn, needs=needs,
                      run=kit.sequence(lambda: wait_active(ctx, names, spec.name), *steps, lambda: arn),
                      note=f"{status}: apply waits for it to be ACTIVE")
    why = issues(current.get("health"))
    note = f"AWS reports it {status}" + (f": {why}" if why else "") if status in ADDON_FAILED else ""
    return maybe_update(KIND, spec.name, arn, diffs, steps, needs, note=note)
