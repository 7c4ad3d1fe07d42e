"""The sandbox never loses track of its server, and an unreachable endpoint
is a guard refusal within seconds (issue 20 items 5 and 6)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from fablink_ops import sandbox
from fablink_ops.errors import GuardError
from fablink_ops.target import guard_live, live_target

ACCOUNT = "853963783084"

# A stand-in for the sandbox's server while it is busy: alive, and answering
# only after its current request (2.5 s), as moto does one request at a time.
SLOW_SERVER = """
import http.server, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(2.5)
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    do_POST = do_GET  # the fidelity layer's settings (sandbox.py) wait in the same queue
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Slow).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("stand-in server did not listen")


def test_a_busy_sandbox_server_is_waited_for_never_replaced(tmp_path, monkeypatch):
    port = _free_port()
    # "fablink_ops.moto_server" in its command line: it passes for our server
    busy = subprocess.Popen([sys.executable, "-c", SLOW_SERVER, "fablink_ops.moto_server", str(port)])
    try:
        _listening(port)
        (tmp_path / "sandbox").mkdir(exist_ok=True)
        record = {"pid": busy.pid, "port": port, "started_at": time.time(), "account_id": ACCOUNT}
        (tmp_path / "sandbox" / "sandbox.json").write_text(json.dumps(record))
        monkeypatch.setattr(sandbox, "SAY_BUSY_AFTER_SECONDS", 0.5)
        said: list[str] = []
        info, started = sandbox.ensure_running(ACCOUNT, say=said.append)
        assert not started and (info.pid, info.port) == (busy.pid, port)
        assert json.loads((tmp_path / "sandbox" / "sandbox.json").read_text())["pid"] == busy.pid  # record kept
        assert said == [f"sandbox: the server (pid {busy.pid}) is busy; waiting for it to answer"]
    finally:
        busy.kill()
        busy.wait()


def test_a_recorded_pid_that_is_not_our_server_is_not_waited_for(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "sandbox").mkdir(exist_ok=True)
        record = {"pid": other.pid, "port": _free_port(), "started_at": time.time(), "account_id": ACCOUNT}
        (tmp_path / "sandbox" / "sandbox.json").write_text(json.dumps(record))
        assert not sandbox._ours(other.pid)
    finally:
        other.kill()
        other.wait()


def test_an_unreachable_endpoint_is_a_refusal_within_seconds(monkeypatch):
    """A black hole: the endpoint accepts the connection and never answers."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{hole.getsockname()[1]}")
        monkeypatch.setenv("AWS_REGION", "ap-northeast-2")
        target = live_target("ap-northeast-2")
        started = time.monotonic()
        with pytest.raises(GuardError) as refused:
            guard_live(target, ACCOUNT, "ap-northeast-2")
        assert time.monotonic() - started < 15
        assert refused.value.exit_code == 2 and "cannot reach AWS STS" in refused.value.message
        assert "\n" not in refused.value.message
    finally:
        hole.close()
