"""The fidelity layer where moto answers: between an HTTP request and moto.

The rules (rules.py) speak botocore's language: a service, an operation, its
parameters, the parsed answer. moto 5.2 carries what it takes to go between
that and the wire: its router (``moto.core.routing``: which operation a
request is, for every protocol), its request parsers (``moto.core.parse``:
the parameters) and its response serializers (``moto.core.serialize``: an
answer or an error in the request's protocol). botocore's response parsers
read moto's answer back when a rule wants to see or change it.

So the same layer serves the sandbox's server (moto_server.py, a WSGI
middleware: the aws CLI pointed at the sandbox meets it too) and the tests'
in-process moto (inprocess.py, around moto's botocore stubber).

Cost: a request no rule is about is only routed (the operation's name, for
the random 5xx draw); parameters are parsed only when a rule of that
operation needs them, an answer only when a rule reads it, and it is
serialized again only when a rule changed it.
"""

from __future__ import annotations

import copy
import threading
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from botocore import parsers as botocore_parsers
from botocore.exceptions import ConnectionClosedError
from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import Request, determine_request_protocol
from moto.core.routing import get_service_router
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model

from .rules import Call, race_key, races

if TYPE_CHECKING:
    from . import FidelityLayer

Response = tuple[int, dict[str, str], bytes]  # (status, headers, body): what moto answers


class _AwsError(ServiceException):
    """An error a rule answers with (this module is not moto's, so the
    serializer looks its code up in the request's service model only)."""


class Dropped(Exception):
    """The layer hangs up without an answer (a dropped connection)."""


# SigV4 signing names that are not the botocore service name.
_SIGNING_TO_SERVICE = {
    "monitoring": "cloudwatch",
    "tagging": "resourcegroupstaggingapi",
    "access-analyzer": "accessanalyzer",
    "email": "ses",
    "states": "stepfunctions",
    "eventbridge": "events",
}


@dataclass
class Wire:
    """One request as the rules need it: where it came from, and what it is."""

    request: Request
    service: str
    region: str
    access_key: str
    operation: Any  # moto's OperationModel
    uri_params: dict[str, Any]
    protocol: str
    _params: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.operation.name)

    def params(self) -> dict[str, Any]:
        if self._params is None:
            self._params = self._parse_params()
        return self._params

    def _parse_params(self) -> dict[str, Any]:
        parser = PROTOCOL_PARSERS[self.protocol](self.operation)
        return parser.parse({
            "method": self.request.method, "values": self.request.values, "headers": self.request.headers,
            "body": self.request.get_data(), "url_path": self.request.path, "url_params": self.uri_params,
        })

    def error(self, status: int, code: str, message: str) -> Response:
        with warnings.catch_warnings():  # moto warns of codes its models lack (the 5xx ones); AWS sends them
            warnings.simplefilter("ignore")
            answer = self._serializer().serialize(_AwsError(code, message))
        headers = dict(answer["headers"])
        if not any(k.lower() == "x-amzn-errortype" for k in headers):
            headers["x-amzn-ErrorType"] = code  # rest-json clients read the code from here first
        return status, headers, as_bytes(answer["body"])

    def result(self, parsed: dict[str, Any]) -> Response:
        answer = self._serializer().serialize({k: v for k, v in parsed.items() if k != "ResponseMetadata"})
        return int(answer["status_code"]), dict(answer["headers"]), as_bytes(answer["body"])

    def parse_answer(self, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        parser = botocore_parsers.create_parser(self.operation.metadata["protocol"])
        return parser.parse({"status_code": status, "headers": headers, "body": body}, self.operation.output_shape)

    def _serializer(self) -> Any:
        protocol = self.protocol
        if protocol == "query" and "json" in (self.request.headers.get("Accept") or ""):
            protocol = "query-json"
        return get_serializer_class(self.service, protocol)(operation_model=self.operation)


def as_bytes(body: Any) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")


def identify(request: Request) -> Wire | None:
    """The service and operation of a SigV4-signed request; None for what the
    layer does not know (unsigned, or an operation moto cannot route)."""
    auth = request.headers.get("Authorization") or ""
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0]
        access_key, _, region, signing, _ = scope.split("/")
    except (IndexError, ValueError):
        return None
    service = _SIGNING_TO_SERVICE.get(signing, signing)
    if service == "elasticloadbalancing":
        service = "elbv2" if request.values.get("Version") == "2015-12-01" else "elb"
    elif service == "apigateway" and request.path.startswith("/v2/"):
        service = "apigatewayv2"
    elif service == "dynamodb" and (request.headers.get("X-Amz-Target") or "").startswith("DynamoDBStreams"):
        service = "dynamodbstreams"
    try:
        model = get_service_model(service)
        protocol = determine_request_protocol(model, request.content_type)
        operation, uri_params = get_service_router(service).match(request)
    except Exception:  # an unknown service or a request moto's router cannot place: not the layer's
        return None
    return Wire(request, service, region, access_key, operation, dict(uri_params or {}), protocol)


def flight_key(wire: Wire) -> str | None:
    """What a write modifies, when writes racing on it conflict on AWS (rules.race_key)."""
    if not races(wire.service, wire.name):
        return None
    return race_key(Call(wire.service, wire.name, wire.params(), None))


class _Inside(threading.local):
    wire: Wire | None = None


_inside = _Inside()


def current() -> Wire | None:
    """The request a rule is acting on, on this thread (its helper calls pass the layer by)."""
    return _inside.wire


def handle(layer: "FidelityLayer", request: Request, downstream: Callable[[], Response],
           lock: "threading.Lock | threading.RLock") -> Response:
    """Answer ``request`` through the layer: a rule's answer, or moto's
    (``downstream``) as the rules see it. ``lock`` serializes moto (its
    backends are plain dicts); the request is known to be in flight before it
    queues there, so writes racing on one resource see each other
    (``FidelityLayer.flying``), as they would on AWS."""
    if _inside.wire is not None:
        return downstream()  # a rule's own helper call (what AWS does by itself): already under the lock
    wire = identify(request) if layer.on else None
    with layer.flying(flight_key(wire) if wire is not None else None):
        with lock:
            if wire is None:
                return downstream()
            _inside.wire = wire
            try:
                return _through_rules(layer, wire, downstream)
            finally:
                _inside.wire = None


def _through_rules(layer: "FidelityLayer", wire: Wire, downstream: Callable[[], Response]) -> Response:
    befores, afters = layer.rules_for(wire.service, wire.name)
    watched = layer.latency is not None and layer.latency.watches(f"{wire.service}.{wire.name}")
    needs_params = wire._params is not None or any(r.service != "*" for r in befores + afters)  # only the 5xx rule reads none
    call = Call(wire.service, wire.name, wire.params() if needs_params else {}, None)
    try:
        answer = layer.before(call, befores)
    except ConnectionClosedError:
        raise Dropped() from None
    if isinstance(answer, tuple):
        return wire.error(*answer)
    if isinstance(answer, dict):
        return wire.result(answer)
    status, headers, body = downstream()
    if status >= 300 or not (afters or watched):
        return status, headers, body
    parsed = wire.parse_answer(status, headers, body)
    before = copy.deepcopy(parsed)
    layer.after(Call(wire.service, wire.name, call.params, parsed), afters)
    if layer.latency is not None:
        layer.latency.observe(f"{wire.service}.{wire.name}", parsed)
    if parsed == before:
        return status, headers, body
    return wire.result(parsed)
