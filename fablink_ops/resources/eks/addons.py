"""EKS add-ons: the VPC CNI with network policy enforcement, and CloudWatch
observability (Container Insights).

Design doc: EKS Security, "Network Policies: Enabled"; Monitoring Stack,
"CloudWatch Container Insights" (the monitoring stage's alarms read its
metrics). moto 5.2 has no add-on API: in the sandbox each add-on is a SKIP that
says so; the live path is tested with botocore's Stubber.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from ...config import AddonConfig
from ...engine import CREATE, SKIP, WAIT, Change, Context, Diff
from ...target import error_code
from .. import kit
from .common import Names, Out, change, desired_tags, issues, maybe_update, wait_update, waiter
from .cluster import after_version_change, version_after_run
from .discover import Found

# The Kubernetes version an unpinned add-on was last brought in line with.
# A control-plane upgrade leaves add-ons at their old version (AWS never
# upgrades them by itself); when this tag differs from the cluster's version,
# the add-on is moved to AWS's default version for the new one. The tag
# comes with DescribeAddon, so a no-op plan reads nothing more.
ALIGNED_TAG = "fablink-ops/kubernetes-version"

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


def _version_key(version: str) -> tuple[int, ...]:
    """'v1.19.0-eksbuild.2' -> (1, 19, 0, 2): add-on versions in order."""
    return tuple(int(n) for n in re.findall(r"\d+", version or ""))


def default_version(ctx: Context, addon_name: str, kubernetes_version: str) -> str | None:
    """AWS's default version of an add-on for a Kubernetes version (DescribeAddonVersions)."""
    listed = ctx.client("eks").paginate(
        "describe_addon_versions", "addons", addonName=addon_name, kubernetesVersion=kubernetes_version)
    for item in listed:
        for version in item.get("addonVersions", []):
            if any(c.get("defaultVersion") and c.get("clusterVersion") == kubernetes_version for c in version.get("compatibilities", [])):
                return version["addonVersion"]
    return None


def wanted_version(ctx: Context, found: Found, spec: AddonConfig, current: dict | None, kubernetes_version: str) -> str:
    """The pinned version, or, after a control-plane upgrade, AWS's default for the new version (never a downgrade)."""
    if spec.version or current is None:
        return spec.version
    if (current.get("tags") or {}).get(ALIGNED_TAG) == kubernetes_version:
        return ""
    default = default_version(ctx, spec.name, kubernetes_version)
    if default and _version_key(default) > _version_key(current.get("addonVersion", "")):
        return default
    return ""


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
    kubernetes_version = version_after_run(ctx, found) or ctx.cfg.eks.version
    current = found.addons.get(spec.name)
    version = wanted_version(ctx, found, spec, current, kubernetes_version)
    if current is None:
        diffs = [Diff("version", None, spec.version or "AWS default for the cluster")]
        if spec.configuration:
            diffs.append(Diff("configuration", None, _configuration(spec)))
        if role_name:
            diffs.append(Diff("service account role", None, role_name))
        return change(KIND, spec.name, CREATE, diffs=diffs, needs=needs,
                      run=lambda: _create_addon(ctx, names, spec, role_name, kubernetes_version))
    return _existing_addon(ctx, names, spec, role_name, current, needs, version, kubernetes_version)


def _tags(ctx: Context, spec: AddonConfig, kubernetes_version: str) -> dict[str, str]:
    return {**desired_tags(ctx.cfg, spec.name), ALIGNED_TAG: kubernetes_version}


def _request(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None, version: str = "") -> dict[str, Any]:
    """CreateAddon/UpdateAddon's arguments, built when the change runs (the role's ARN may be new)."""
    kwargs: dict[str, Any] = {"clusterName": names.cluster, "addonName": spec.name,
                              # The cluster runs a self-managed VPC CNI from birth: adopt it, with our settings.
                              "resolveConflicts": "OVERWRITE"}
    if version or spec.version:
        kwargs["addonVersion"] = version or spec.version
    if spec.configuration:
        kwargs["configurationValues"] = _configuration(spec)
    if role_name:
        kwargs["serviceAccountRoleArn"] = ctx.output(Out.role_arn(role_name))
    return kwargs


def _create_addon(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None, kubernetes_version: str) -> str:
    try:
        ctx.client("eks").create_addon(
            **_request(ctx, names, spec, role_name), tags=_tags(ctx, spec, kubernetes_version),
            clientRequestToken=kit.request_token("eks-addon", ctx.output(Out.CLUSTER_ARN), spec.name),
        )
    except ClientError as exc:  # created by a run whose answer was lost: wait for that one
        if error_code(exc) != "ResourceInUseException":
            raise
    return wait_active(ctx, names, spec.name)["addonArn"]


def _existing_addon(ctx: Context, names: Names, spec: AddonConfig, role_name: str | None, current: dict,  # noqa: PLR0913
                    needs: tuple[str, ...], version: str, kubernetes_version: str) -> Change:
    eks = ctx.client("eks")
    arn, status = current["addonArn"], current["status"]
    diffs = []
    if version and current.get("addonVersion") != version:
        diffs.append(Diff("version", current.get("addonVersion"), version + ("" if spec.version else f" (AWS's default for {kubernetes_version})")))
    if _current_configuration(current) != dict(spec.configuration):
        diffs.append(Diff("configuration", current.get("configurationValues") or None, _configuration(spec) or None))
    wanted_role = ctx.outputs.get(Out.role_arn(role_name)) if role_name else None
    if role_name and current.get("serviceAccountRoleArn") != wanted_role:
        diffs.append(Diff("service account role", current.get("serviceAccountRoleArn"), wanted_role or role_name))
    steps = []
    if diffs:
        token = kit.update_token(ctx, "eks-addon-update", arn, repr([sorted(d.to_json().items()) for d in diffs]))

        def update() -> None:
            kwargs = _request(ctx, names, spec, role_name, version)
            if not spec.configuration:
                kwargs["configurationValues"] = ""  # back to the add-on's defaults
            resp = eks.update_addon(**kwargs, clientRequestToken=token)
            wait_update(ctx, f"add-on {spec.name}", resp.get("update"), _budget(ctx), addonName=spec.name)

        steps.append(update)
    tag_diffs, tag_steps = kit.tag_drift(current.get("tags") or {}, _tags(ctx, spec, kubernetes_version),
                                         lambda todo: eks.tag_resource(resourceArn=arn, tags=todo))
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    if status in ADDON_BUSY:
        return change(KIND, spec.name, WAIT, diffs=diffs, resource_id=arn, needs=needs,
                      run=kit.sequence(lambda: wait_active(ctx, names, spec.name), *steps, lambda: arn),
                      note=f"{status}: apply waits for it to be ACTIVE")
    why = issues(current.get("health"))
    note = f"AWS reports it {status}" + (f": {why}" if why else "") if status in ADDON_FAILED else ""
    return maybe_update(KIND, spec.name, arn, diffs, steps, needs, note=note)
