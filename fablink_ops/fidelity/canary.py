"""API Gateway canary releases, which moto 5.2 lacks, emulated on the sandbox.

moto's Stage has no ``canarySettings``: ``CreateDeployment`` ignores them
(and with a stageName repoints the stage to the new deployment, which would
make the canary the whole stage), ``UpdateStage`` silently drops
``/canarySettings/...`` paths, except ``/canarySettings/deploymentId``,
which it reads as the stage's own ``/deploymentId``. Checked against
moto/apigateway/models.py (Stage.apply_operations, 5.2.5).

What AWS does (https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
and its pages create-, update-, promote- and delete-canary-deployment):
- ``CreateDeployment`` with ``canarySettings`` and an existing ``stageName``
  makes a deployment and attaches it to the stage as its canary
  (``percentTraffic``, ``stageVariableOverrides``, ``useStageCache``); the
  stage keeps its own deployment. A missing stage is an error.
- ``UpdateStage`` patches ``/canarySettings/percentTraffic``,
  ``/canarySettings/deploymentId``, ``/canarySettings/useStageCache`` and
  ``/canarySettings/stageVariableOverrides/NAME``; on a stage without a
  canary this adds one, its deployment initially the stage's. ``remove
  /canarySettings`` turns it off; promotion copies
  ``/canarySettings/deploymentId`` to ``/deploymentId`` and
  ``/canarySettings/stageVariableOverrides`` to ``/variables``.
- While a canary is on, the stage cannot be pointed at another deployment
  (remove the canary first).
- ``GetStage``/``GetStages`` report ``canarySettings``.

The canary must outlive the run that made it (a release, then
``release.status`` in another process), so it is kept in moto itself: as a
stage variable, ``fablinkFidelityCanary`` (JSON), written by the layer's
uncounted helper client and hidden from every answer the tool's clients get.
The aws CLI pointed at the sandbox server sees that variable and no
``canarySettings`` (the layer is client-side). The refusals' wording is the
layer's (AWS's exact messages are not documented); their codes are AWS's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import FidelityLayer
    from .rules import Answer, Call

HIDDEN = "fablinkFidelityCanary"
PREFIX = "/canarySettings"
LINK = "https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html"


def _bad(message: str) -> "Answer":
    return 400, "BadRequestException", message


def _stored(stage: dict) -> dict | None:
    raw = (stage.get("variables") or {}).get(HIDDEN)
    return json.loads(raw) if raw else None


def _store(layer: "FidelityLayer", api_id: str, stage: str, canary: dict | None, more: list[dict]) -> dict:
    op = ({"op": "replace", "path": f"/variables/{HIDDEN}", "value": json.dumps(canary, sort_keys=True)} if canary
          else {"op": "remove", "path": f"/variables/{HIDDEN}"})
    answer = layer.helper_client("apigateway").update_stage(restApiId=api_id, stageName=stage, patchOperations=more + [op])
    present(answer)
    return answer


def present(stage: dict) -> None:
    """An answer as AWS gives it: canarySettings reported, the hidden variable gone."""
    canary = _stored(stage)
    (stage.get("variables") or {}).pop(HIDDEN, None)
    if canary:
        stage["canarySettings"] = canary


def create_deployment(layer: "FidelityLayer", call: "Call") -> "Answer | dict | None":
    settings = call.params.get("canarySettings")
    if settings is None or layer.helper_client is None:
        return None
    api_id, stage_name = call.params.get("restApiId", ""), call.params.get("stageName")
    if not stage_name:
        return _bad("a canary deployment needs the stage it is the canary of (stageName)")
    helper = layer.helper_client("apigateway")
    with layer.lock:
        stages = {s["stageName"]: s for s in helper.get_stages(restApiId=api_id).get("item", [])}
        if stage_name not in stages:
            return _bad(f"Invalid stage identifier specified: {stage_name} does not exist; a canary needs an existing stage")
        percent = float(settings.get("percentTraffic", 0.0))
        if not 0.0 <= percent <= 100.0:
            return _bad(f"percentTraffic {percent} is not between 0.0 and 100.0")
        kwargs = {k: call.params[k] for k in ("description",) if k in call.params}
        deployment = helper.create_deployment(restApiId=api_id, **kwargs)  # no stageName: the stage keeps its deployment
        canary = {"deploymentId": deployment["id"], "percentTraffic": percent,
                  "stageVariableOverrides": dict(settings.get("stageVariableOverrides") or {}),
                  "useStageCache": bool(settings.get("useStageCache", False))}
        _store(layer, api_id, stage_name, canary, [])
    return deployment


def update_stage(layer: "FidelityLayer", call: "Call") -> "Answer | dict | None":
    ops = call.params.get("patchOperations") or []
    if layer.helper_client is None:
        return None
    api_id, stage_name = call.params.get("restApiId", ""), call.params.get("stageName", "")
    canary_ops = [op for op in ops if op.get("path", "").startswith(PREFIX) or op.get("from", "").startswith(PREFIX)]
    with layer.lock:
        stage = layer.helper_client("apigateway").get_stage(restApiId=api_id, stageName=stage_name)
        canary = _stored(stage)
        if canary and any(op.get("path") == "/deploymentId" and op.get("op") == "replace" for op in ops):
            return _bad("the stage has a canary: remove /canarySettings (or promote it) before pointing it at another deployment")
        if not canary_ops:
            return None  # moto's own update; the answer is presented after the call
        try:
            canary, rest = _apply(canary, stage, ops)
        except ValueError as exc:
            return _bad(str(exc))
        return _store(layer, api_id, stage_name, canary, rest)


def _apply(canary: dict | None, stage: dict, ops: list[dict]) -> tuple[dict | None, list[dict]]:
    """The canary after ``ops``, and the operations left for moto (promotion's copies made explicit)."""
    rest: list[dict] = []
    for op in ops:
        path, kind = op.get("path", ""), op.get("op")
        if kind == "copy" and op.get("from", "").startswith(PREFIX):
            rest += _promotion(canary, op.get("from", ""), path)
        elif not path.startswith(PREFIX):
            rest.append(op)
        elif path == PREFIX and kind == "remove":
            canary = None
        else:
            canary = _canary_op(canary or _fresh(stage), path[len(PREFIX):], kind, op.get("value"))
    return canary, rest


def _fresh(stage: dict) -> dict:
    # "initially identical to the ID of the base version deployment set on the stage"
    return {"deploymentId": stage.get("deploymentId"), "percentTraffic": 0.0, "stageVariableOverrides": {}, "useStageCache": False}


def _canary_op(canary: dict, sub: str, kind: Any, value: Any) -> dict:
    canary = dict(canary, stageVariableOverrides=dict(canary.get("stageVariableOverrides") or {}))
    if sub.startswith("/stageVariableOverrides/"):
        name = sub[len("/stageVariableOverrides/"):]
        if kind == "remove":
            canary["stageVariableOverrides"].pop(name, None)
        else:
            canary["stageVariableOverrides"][name] = value
    elif sub == "/percentTraffic" and kind == "replace":
        percent = float(value)
        if not 0.0 <= percent <= 100.0:
            raise ValueError(f"percentTraffic {value} is not between 0.0 and 100.0")
        canary["percentTraffic"] = percent
    elif sub == "/deploymentId" and kind == "replace":
        canary["deploymentId"] = value
    elif sub == "/useStageCache" and kind == "replace":
        canary["useStageCache"] = str(value).lower() == "true"
    else:
        raise ValueError(f"Invalid patch path {PREFIX}{sub} for op {kind}")
    return canary


def _promotion(canary: dict | None, source: str, path: str) -> list[dict]:
    if canary is None:
        raise ValueError("the stage has no canary to copy from")
    if source == f"{PREFIX}/deploymentId" and path == "/deploymentId":
        return [{"op": "replace", "path": "/deploymentId", "value": canary["deploymentId"]}]
    if source == f"{PREFIX}/stageVariableOverrides" and path == "/variables":
        return [{"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in sorted(canary["stageVariableOverrides"].items())]
    raise ValueError(f"Invalid copy from {source} to {path}")


def present_stage(layer: "FidelityLayer", call: "Call") -> None:
    parsed = call.parsed or {}
    for stage in parsed.get("item", []) if call.operation == "GetStages" else [parsed]:
        present(stage)
