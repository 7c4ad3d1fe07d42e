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
from typing import Callable, Iterator

from .errors import OpsError
from .fidelity import settings_from_env

CONTROL_PATH = "/fablink-fidelity/"  # moto_server.py's

START_BUDGET_SECONDS = 30.0
SAY_BUSY_AFTER_SECONDS = 3.0
BUSY_BUDGET_SECONDS = 300.0  # a busy server answers after its current request; five minutes is no longer busy


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
    if info and _ours(info.pid) and _responds(info.port):
        return info
    return None


def _ours(pid: int) -> bool:
    """The recorded pid is alive and still our server (not a pid reused by
    another process after a reboot). Where /proc is missing, alive is enough."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    return b"moto_server" in cmdline


def _wait_for_recorded(info: SandboxInfo, say: Callable[[str], None]) -> bool:
    """The recorded server lives: wait for it to answer (busy, not dead: moto
    answers one request at a time, and a cold EC2 request holds it over a
    second). True once it answers; False if it died meanwhile. Never gives up
    on a live server by starting another: that one would be empty, and the
    old one, holding everything, would run on unreachable."""
    started = time.monotonic()
    timeout = SAY_BUSY_AFTER_SECONDS  # the first look: a few seconds, then say why we wait
    while _ours(info.pid):
        if _responds(info.port, timeout=timeout):
            return True
        if timeout == SAY_BUSY_AFTER_SECONDS:
            say(f"sandbox: the server (pid {info.pid}) is busy; waiting for it to answer")
            timeout = 30.0  # it answers after its current request: stay in its queue
        if time.monotonic() - started > BUSY_BUDGET_SECONDS:
            raise OpsError(f"the sandbox server (pid {info.pid}) is running but has not answered for "
                           f"{BUSY_BUDGET_SECONDS:.0f}s: invoke sandbox.down, then run again (its state is lost)")
        time.sleep(0.2)
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_running(account_id: str, say: Callable[[str], None] | None = None) -> tuple[SandboxInfo, bool]:
    """Start the sandbox unless it runs. Returns (info, started_now)."""
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    with _locked():
        info = _read_state()
        if info and _wait_for_recorded(info, say):
            _send_fidelity_settings(info, say)
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
        # Recorded at once: a command interrupted while the server starts
        # leaves it recorded, and the next one waits for it, never starting another.
        info = SandboxInfo(pid=proc.pid, port=port, started_at=time.time(), account_id=account_id)
        _state_file().write_text(json.dumps(asdict(info)))
        deadline = time.monotonic() + START_BUDGET_SECONDS
        while not _responds(port, timeout=0.5):
            if proc.poll() is not None:
                raise OpsError(f"the sandbox (moto server) exited at start: see {state_dir() / 'moto-server.log'}")
            if time.monotonic() > deadline:
                proc.terminate()
                raise OpsError(f"the sandbox did not answer within {START_BUDGET_SECONDS:.0f}s: see {state_dir() / 'moto-server.log'}")
            time.sleep(0.1)
        _send_fidelity_settings(info, say)
        return info, True


def _send_fidelity_settings(info: SandboxInfo, say: Callable[[str], None]) -> None:
    """This command's FABLINK_FIDELITY* settings to the server's fidelity
    layer (moto_server.py): the server outlives commands, the settings are
    each command's, as they were when the layer lived in the tool."""
    body = json.dumps(settings_from_env()).encode()
    request = urllib.request.Request(f"{info.endpoint_url}{CONTROL_PATH}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            if resp.status == 200:
                return
    except OSError:
        pass
    say(f"sandbox: the server (pid {info.pid}) has no fidelity layer to configure (started by an older "
        "fablink-ops?): invoke sandbox.down and run again for AWS's answers (its state is lost)")


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
