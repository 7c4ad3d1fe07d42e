"""The sandbox's moto server: moto's own, with its requests handled one at a
time and answered through the fidelity layer.

    python -m fablink_ops.moto_server -p PORT

moto's server answers each request on a thread of its own, but its service
backends are plain dicts with no locking: a DescribeDBInstances iterating the
instances while a CreateDBInstance adds one fails with "dictionary changed
size during iteration", answered as an HTTP 500. The tool runs independent
changes concurrently, as it should against AWS, so the sandbox must not fail
where AWS would not. One lock around the application (``Fidelity.lock``) keeps
moto's threads (no client waits behind another's idle keep-alive connection)
while no two requests touch a backend at once; a request takes milliseconds.

Every request then passes the fidelity layer (fidelity/wire.py): AWS's
answers moto lacks, for every client of the sandbox, the aws CLI included.
``/fablink-fidelity/`` is its control: GET shows its settings and what it
answered; POST (JSON, FABLINK_FIDELITY* names) sets them, which every
command of the tool does with its own environment's (sandbox.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.core.request import Request
from werkzeug.serving import run_simple

from .fidelity import FidelityLayer, wire
from .sandbox import CONTROL_PATH

RESET_PATH = "/moto-api/reset"  # moto's own: every backend emptied


class Fidelity:
    """WSGI middleware: requests answered one at a time, through the fidelity layer."""

    def __init__(self, app: Callable[..., Iterable[bytes]], layer: FidelityLayer):
        self.app = app
        self.layer = layer
        self.lock = threading.Lock()  # one request at a time (see the module doc), taken in wire.handle

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        request = Request(environ)
        body_in = request.get_data()  # read once, kept: the layer and moto both read the body
        environ["wsgi.input"] = io.BytesIO(body_in)

        def downstream() -> wire.Response:
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
                captured["status"], captured["headers"] = int(status.split()[0]), headers

            result = self.app(environ, capture)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            return captured["status"], dict(captured["headers"]), body

        try:
            status, headers, body = wire.handle(self.layer, request, downstream, self.lock)
        except wire.Dropped:
            return _hang_up(environ)
        if environ.get("PATH_INFO") == RESET_PATH and status == 200:
            self.layer.forget()  # moto's state is gone: so is what the layer remembered of it
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        start_response(f"{status} {_reason(status)}", list(headers.items()) + [("Content-Length", str(len(body)))])
        return [body]

    def _control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            settings = json.loads(environ["wsgi.input"].read(size) or b"{}")
            with self.layer.lock:
                self.layer.configure({str(k): str(v) for k, v in settings.items()})
        body = json.dumps(self.layer.status()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _hang_up(environ: dict[str, Any]) -> list[bytes]:
    """A dropped connection: the socket closed with no answer (what a client
    sees when AWS's front end drops it), not an error status."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    raise ConnectionAbortedError("fidelity layer: connection dropped")


def per_cluster_oidc_issuer() -> None:
    """Give every EKS cluster an OIDC issuer of its own, as AWS does.

    moto draws one random issuer id per process (moto.eks.models
    ISSUER_TEMPLATE), so two clusters in one sandbox (prod and staging side by
    side) share an issuer URL, hence one IAM OIDC provider, and the second
    environment finds the first's provider. AWS gives each cluster its own
    (https://docs.aws.amazon.com/eks/latest/userguide/enable-iam-roles-for-service-accounts.html).
    The id here derives from the cluster's ARN: stable for a cluster, distinct
    between clusters.
    """
    import hashlib

    import moto.eks.models as eks_models

    original = eks_models.Cluster.__init__
    if getattr(original, "per_cluster_issuer", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        issuer = self.identity["oidc"]["issuer"]
        cluster_id = hashlib.sha256(self.arn.encode()).hexdigest()[:32].upper()
        self.identity = {"oidc": {"issuer": issuer.rsplit("/", 1)[0] + "/" + cluster_id}}

    init.per_cluster_issuer = True  # type: ignore[attr-defined]
    eks_models.Cluster.__init__ = init  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server does: some answers carry URLs
    per_cluster_oidc_issuer()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto.server: a failing request answers with its traceback
    layer = FidelityLayer()  # settings from the environment it starts in; each command sends its own
    # Fidelity serializes the requests itself, inside the layer: a write is in
    # flight from before it queues, so writes racing on one API see each other.
    run_simple(args.host, args.port, Fidelity(app, layer), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
