"""The fidelity layer in moto's in-process mode (the tests', ``mock_aws``).

``mock_aws`` answers boto3 through moto's botocore stubber
(``BotocoreStubber.process_request``, a ``before-send`` handler). ``install``
wraps that method once: requests are served one at a time (moto's backends
are plain dicts without locks; the sandbox's server does the same, see
moto_server.py) and pass the installed layer (``use``), as they pass the
server's middleware. A dropped connection raises what botocore raises when
a server hangs up.

``helper_client`` is the layer's way to do what AWS does by itself (make the
EKS cluster security group, keep a canary): a boto3 client answered by moto
directly, in this process (the server's too), with the credentials and
region of the request being handled, so it reaches the same account.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ConnectionClosedError
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.request import normalize_request

from . import wire

if TYPE_CHECKING:
    from . import FidelityLayer

_LOCK = threading.RLock()  # re-entered by a rule's helper calls on the same thread
_installed: dict[str, Any] = {"layer": None, "original": None}


def install() -> None:
    """Wrap moto's in-process request handling (once per process)."""
    if _installed["original"] is not None:
        return
    original = BotocoreStubber.process_request
    _installed["original"] = original

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        layer = _installed["layer"]
        if layer is None:
            with _LOCK:
                return original(self, request)

        def downstream() -> wire.Response:
            answer = original(self, request)
            if answer is None:  # not a URL moto serves: the layer has nothing to say either
                raise _NotMoto()
            status, headers, body = answer
            return status, dict(headers or {}), wire.as_bytes(body)

        try:
            return wire.handle(layer, normalize_request(request), downstream, _LOCK)
        except _NotMoto:
            return None
        except wire.Dropped:
            raise ConnectionClosedError(endpoint_url=request.url) from None

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]


class _NotMoto(Exception):
    pass


def use(layer: "FidelityLayer | None") -> None:
    """The layer in-process moto answers through from now on (None: plain moto)."""
    install()
    _installed["layer"] = layer


def layer() -> "FidelityLayer | None":
    return _installed["layer"]


_helpers: dict[tuple[str, str, str], Any] = {}
_helpers_lock = threading.Lock()


def helper_client(service: str) -> Any:
    """A client to moto in this process, as the request being handled (its account, its region)."""
    current = wire.current()
    region = current.region if current else "us-east-1"
    access_key = current.access_key if current else "fidelity"
    key = (service, region, access_key)
    with _helpers_lock:
        if key not in _helpers:
            session = boto3.Session(aws_access_key_id=access_key, aws_secret_access_key="fidelity", region_name=region)
            client = session.client(service)
            client.meta.events.register_last("before-send", _to_moto)
            _helpers[key] = client
        return _helpers[key]


_own_stubber = BotocoreStubber()
_own_stubber.enabled = True


def _to_moto(request: Any, **_: Any) -> Any:
    """Send to moto: through its own stubber while ``mock_aws`` is on (it
    answers every client then; answering twice would run a create twice),
    else through one of ours (the server's process). Never to AWS."""
    from moto.core.models import botocore_stubber

    if botocore_stubber.enabled:
        return None
    answer = _own_stubber("before-send", request)
    if answer is None:
        raise RuntimeError(f"the fidelity layer's helper reached past moto: {request.url}")
    return answer
