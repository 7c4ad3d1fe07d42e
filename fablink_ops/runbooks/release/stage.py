"""What the release reads and writes on API Gateway: the stage's colour
variables and its canary settings. Which colour is live is read from the
stage (AWS), never from a local file.

The stage variables (resources/edge/common.py): ``liveColour`` (blue |
green), ``backendHost`` (the NLB's DNS name and the live colour's listener
port: the integrations' host), ``blueImage``/``greenImage`` (what each
colour runs, as the release deployed it). A canary overrides ``liveColour``
and ``backendHost`` for its share of the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...engine import Context
from ...report import Aborted
from ...resources.edge.colours import colour_images, with_repository  # noqa: F401 (the release package's API)
from ...resources.edge.common import COLOUR_VARIABLE, COLOURS, ENDPOINT_VARIABLE, IMAGE_VARIABLES, EdgeNames, one_by_name
from ...resources.edge.stage import backend_host

DEPLOYMENT_PREFIX = "fablink-ops release "


@dataclass
class StageView:
    api_id: str
    stage: str
    dns: str
    variables: dict[str, str]
    canary: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def live(self) -> str:
        colour = self.variables.get(COLOUR_VARIABLE)
        return colour if colour in COLOURS else "blue"

    @property
    def idle(self) -> str:
        return idle_of(self.live)

    @property
    def canary_colour(self) -> str | None:
        if not self.canary:
            return None
        return (self.canary.get("stageVariableOverrides") or {}).get(COLOUR_VARIABLE)

    @property
    def canary_percent(self) -> float:
        return float((self.canary or {}).get("percentTraffic") or 0.0)

    def image(self, colour: str) -> str | None:
        return self.variables.get(IMAGE_VARIABLES[colour])


def idle_of(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def read(ctx: Context) -> StageView:
    """The stage as AWS reports it; Aborted when the edge stage is not built."""
    names = EdgeNames(ctx.cfg)
    apigw, elb = ctx.client("apigateway"), ctx.client("elbv2")
    api = one_by_name(apigw.paginate("get_rest_apis", "items"), names.api, "REST API")
    if api is None:
        raise Aborted(f"no REST API named {names.api}: provision the edge stage first (invoke provision --stage edge)")
    stages = {s["stageName"]: s for s in apigw.get_stages(restApiId=api["id"]).get("item", [])}
    stage = stages.get(names.stage)
    if stage is None:
        raise Aborted(f"the API {names.api} has no stage {names.stage}: provision the edge stage first")
    lbs = elb.describe_load_balancers(Names=[names.nlb])["LoadBalancers"]
    return StageView(api["id"], names.stage, lbs[0]["DNSName"], dict(stage.get("variables") or {}), stage.get("canarySettings"), stage)


def routing(ctx: Context, view: StageView, colour: str) -> dict[str, str]:
    """The variables that send traffic to ``colour``."""
    return {COLOUR_VARIABLE: colour, ENDPOINT_VARIABLE: backend_host(view.dns, EdgeNames(ctx.cfg).port_of(colour))}


def _patch(ctx: Context, view: StageView, ops: list[dict]) -> dict:
    return ctx.client("apigateway").update_stage(restApiId=view.api_id, stageName=view.stage, patchOperations=ops)


def set_image(ctx: Context, view: StageView, colour: str, image: str) -> None:
    _patch(ctx, view, [{"op": "replace", "path": f"/variables/{IMAGE_VARIABLES[colour]}", "value": image}])


def start_canary(ctx: Context, view: StageView, colour: str, percent: float, image: str) -> str:
    """A canary deployment of the same API definition, its traffic sent to ``colour``.
    (A new deployment: the one documented way to attach a canary; harmless, a snapshot.)"""
    created = ctx.client("apigateway").create_deployment(
        restApiId=view.api_id, stageName=view.stage, description=f"{DEPLOYMENT_PREFIX}{image} to {colour}",
        canarySettings={"percentTraffic": float(percent), "stageVariableOverrides": routing(ctx, view, colour), "useStageCache": False},
    )
    return created["id"]


def shift(ctx: Context, view: StageView, percent: float) -> None:
    _patch(ctx, view, [{"op": "replace", "path": "/canarySettings/percentTraffic", "value": f"{float(percent):g}"}])


def promote(ctx: Context, view: StageView, colour: str) -> None:
    """100 % to ``colour``: the stage's own variables switch, the canary goes, in one update."""
    ops = [{"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in routing(ctx, view, colour).items()]
    _patch(ctx, view, ops + [{"op": "remove", "path": "/canarySettings"}])


def remove_canary(ctx: Context, view: StageView) -> None:
    _patch(ctx, view, [{"op": "remove", "path": "/canarySettings"}])


def switch_to(ctx: Context, view: StageView, colour: str) -> None:
    """Every request to ``colour`` (a rollback after the promotion); any canary goes too."""
    ops = [{"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in routing(ctx, view, colour).items()]
    if view.canary:
        ops.append({"op": "remove", "path": "/canarySettings"})
    _patch(ctx, view, ops)
