"""The sandbox: a moto server on 127.0.0.1 that the tool starts itself.

It is started on first use, reused by every later command (its state lives in
memory for as long as the process runs), and stopped by ``invoke sandbox.down``.
Where it runs is recorded in a small JSON file (``FABLINK_SANDBOX_DIR``, by
default ``~/.cache/fablink-ops/sandbox``); a file lock keeps two commands from
starting two servers.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from .errors import OpsError

START_BUDGET_SECONDS = 30.0


@dataclass(frozen=True)
class SandboxInfo:
    pid: int
    port: int
    started_at: float
    account_id: str

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def state_dir() -> Path:
    configured = os.environ.get("FABLINK_SANDBOX_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "fablink-ops" / "sandbox"


def _state_file() -> Path:
    return state_dir() / "sandbox.json"


@contextmanager
def _locked() -> Iterator[None]:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "sandbox.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_state() -> SandboxInfo | None:
    try:
        return SandboxInfo(**json.loads(_state_file().read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _responds(port: int, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running() -> SandboxInfo | None:
    """The running sandbox, or None. Never starts one."""
    info = _read_state()
    if info and _alive(info.pid) and _responds(info.port):
        return info
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_running(account_id: str) -> tuple[SandboxInfo, bool]:
    """Start the sandbox unless it runs. Returns (info, started_now)."""
    with _locked():
        info = running()
        if info:
            return info, False
        port = _free_port()
        log = open(state_dir() / "moto-server.log", "ab")
        env = dict(os.environ)
        # The sandbox's ARNs carry the configured account, like the real thing.
        env["MOTO_ACCOUNT_ID"] = account_id
        # AWS managed IAM policies exist in every account, and the stages attach
        # them by ARN (AmazonEKSClusterPolicy, AmazonRDSEnhancedMonitoringRole,
        # ...); moto only knows them when asked to.
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
        # The server must not pick up anything pointing at real AWS either.
        for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(var, None)
        proc = subprocess.Popen(
            # moto's server with its requests handled one at a time: see moto_server.py
            [sys.executable, "-m", "fablink_ops.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # outlives this command; stopped by sandbox.down
        )
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not _responds(port, timeout=0.5):
            if proc.poll() is not None:
                raise OpsError(f"the sandbox (moto server) exited at start: see {state_dir() / 'moto-server.log'}")
            if time.monotonic() > deadline:
                proc.terminate()
                raise OpsError(f"the sandbox did not answer within {START_BUDGET_SECONDS:.0f}s: see {state_dir() / 'moto-server.log'}")
            time.sleep(0.1)
        info = SandboxInfo(pid=proc.pid, port=port, started_at=time.time(), account_id=account_id)
        _state_file().write_text(json.dumps(asdict(info)))
        return info, True


def stop() -> SandboxInfo | None:
    """Stop the sandbox; its whole state is gone. Returns what was stopped."""
    with _locked():
        info = _read_state()
        if info and _alive(info.pid):
            try:
                os.killpg(info.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + 10
            while _alive(info.pid) and time.monotonic() < deadline:
                _reap(info.pid)
                time.sleep(0.05)
            if _alive(info.pid):
                os.killpg(info.pid, signal.SIGKILL)
        _state_file().unlink(missing_ok=True)
        return info


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
