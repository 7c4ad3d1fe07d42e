"""fablink_ops/kube at the HTTP level: the EKS token, the requests server-side
apply makes, the API server's answers, and the dry-run diff (no cluster here:
a fake API server on loopback records what it is sent)."""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest

from fablink_ops.errors import OpsError
from fablink_ops.kube import FIELD_MANAGER, KubeClient, KubeError, apply_diff, eks_token, object_path

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "fablink-backend-blue", "namespace": "fablink-prod", "labels": {"app": "fablink-backend"}},
    "spec": {"template": {"spec": {"containers": [{"name": "backend", "image": "repo/backend:1",
                                                     "resources": {"limits": {"cpu": "1000m"}}}]}}},
}


def test_eks_token_is_a_presigned_get_caller_identity_naming_the_cluster():
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="ap-northeast-2")
    token = eks_token(session, "ap-northeast-2", "fablink-cluster-prod")
    assert token.startswith("k8s-aws-v1.") and "=" not in token
    body = token[len("k8s-aws-v1."):]
    url = urllib.parse.urlsplit(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode())
    query = urllib.parse.parse_qs(url.query)
    assert (url.scheme, url.netloc, url.path) == ("https", "sts.ap-northeast-2.amazonaws.com", "/")
    assert query["Action"] == ["GetCallerIdentity"] and query["Version"] == ["2011-06-15"]
    assert query["X-Amz-Expires"] == ["60"]
    # The cluster's name is signed in: a token for one cluster is refused by another.
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")


class FakeApiServer(BaseHTTPRequestHandler):
    """Answers from ``answers`` (method, path) -> (status, body); records every request."""

    answers: dict = {}
    seen: list = []

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        url = urllib.parse.urlsplit(self.path)
        self.seen.append({"method": self.command, "path": url.path, "query": dict(urllib.parse.parse_qsl(url.query)),
                          "headers": dict(self.headers), "body": json.loads(self.rfile.read(length) or b"null")})
        sent = self.seen[-1]["body"]
        # Unless told otherwise: an apply answers what it was sent, a read finds nothing.
        default = (200, sent) if self.command == "PATCH" else (404, {"kind": "Status", "reason": "NotFound"})
        status, body = self.answers.get((self.command, url.path), default)
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_PATCH = _handle

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    FakeApiServer.answers, FakeApiServer.seen = {}, []
    server = HTTPServer(("127.0.0.1", 0), FakeApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    tokens = []
    client = KubeClient(f"http://127.0.0.1:{server.server_port}", token=lambda: tokens.append(1) or f"k8s-aws-v1.t{len(tokens)}")
    yield client, FakeApiServer
    server.shutdown()
    server.server_close()


def test_server_side_apply_request_shape_and_dry_run(api):
    client, fake = api
    path = "/apis/apps/v1/namespaces/fablink-prod/deployments/fablink-backend-blue"
    assert object_path(DEPLOYMENT) == path
    fake.answers[("PATCH", path)] = (200, DEPLOYMENT)
    client.apply(DEPLOYMENT, dry_run=True)
    client.apply(DEPLOYMENT)
    dry, real = fake.seen
    assert dry["method"] == "PATCH" and dry["path"] == path
    assert dry["query"] == {"fieldManager": FIELD_MANAGER, "dryRun": "All"}  # never force
    assert real["query"] == {"fieldManager": FIELD_MANAGER}
    assert dry["headers"]["Content-Type"] == "application/apply-patch+yaml"
    assert dry["headers"]["Authorization"] == "Bearer k8s-aws-v1.t1" == real["headers"]["Authorization"]  # token reused
    assert dry["body"] == DEPLOYMENT


def test_api_server_refusals_are_one_line_errors(api):
    client, fake = api
    path = object_path(DEPLOYMENT)
    fake.answers[("PATCH", path)] = (409, {"kind": "Status", "message": 'Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas'})
    with pytest.raises(KubeError) as err:
        client.apply(DEPLOYMENT)
    assert err.value.status == 409 and "kubectl" in str(err.value) and "does not force" in str(err.value)
    assert client.get(path) is None  # 404: not there
    assert client.list("/apis/elbv2.k8s.aws/v1beta1/namespaces/x/targetgroupbindings") == []


def test_unreachable_api_is_one_line_exit_1():
    client = KubeClient("https://127.0.0.1:9", token=lambda: "t", timeout=2)
    with pytest.raises(OpsError) as err:
        client.get("/api/v1/namespaces")
    assert err.value.exit_code == 1 and "cannot reach the Kubernetes API at https://127.0.0.1:9" in str(err.value)


def test_apply_diff_reads_the_dry_run_answer():
    # The server normalised 1000m to 1 and added defaults: no difference when live says the same.
    served = json.loads(json.dumps(DEPLOYMENT))
    served["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1"
    served["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    assert apply_diff(DEPLOYMENT, served, served) == []
    new = json.loads(json.dumps(served))
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "repo/backend:2"
    assert apply_diff(DEPLOYMENT, served, new) == [("spec.template.spec.containers[0].image", "repo/backend:1", "repo/backend:2")]
    created = apply_diff(DEPLOYMENT, None, served)
    assert ("metadata.name", None, "fablink-backend-blue") in created
