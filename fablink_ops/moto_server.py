"""The sandbox's moto server: moto's own, with its requests handled one at a time.

    python -m fablink_ops.moto_server -p PORT

moto's server answers each request on a thread of its own, but its service
backends are plain dicts with no locking: a DescribeDBInstances iterating the
instances while a CreateDBInstance adds one fails with "dictionary changed
size during iteration", answered as an HTTP 500. The tool runs independent
changes concurrently, as it should against AWS, so the sandbox must not fail
where AWS would not. One lock around the application keeps moto's threads
(no client waits behind another's idle keep-alive connection) while no two
requests touch a backend at once; a request takes milliseconds.
"""

from __future__ import annotations

import argparse
import os
import threading
from typing import Any, Callable, Iterable

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class OneAtATime:
    """WSGI middleware: the wrapped application serves one request at a time."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            # The whole body is produced under the lock: moto may build it lazily.
            result = self.app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)  # the WSGI contract
                if close is not None:
                    close()


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
    run_simple(args.host, args.port, OneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
