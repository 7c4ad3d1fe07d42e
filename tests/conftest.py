from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fablink_ops import lock
from fablink_ops.config import load_config
from fablink_ops.engine import Context
from fablink_ops.fidelity import FidelityLayer, inprocess
from fablink_ops.moto_server import per_cluster_oidc_issuer
from fablink_ops.target import RetryPolicy, Target

from . import speedups

speedups.install()  # what no test is about, made once a process (see there)

# In-process moto (mock_aws) answers through the fidelity layer, as the
# sandbox's server does (fablink_ops/fidelity/inprocess.py): one request at a
# time (moto's backends are plain dicts without locks), and AWS's answers
# moto lacks. Each test gets a fresh layer (the ``fidelity`` fixture).
inprocess.install()

# Each EKS cluster its own OIDC issuer, as in AWS and in the sandbox server.
per_cluster_oidc_issuer()

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "prod.toml"
FAST_RETRY = RetryPolicy(max_attempts=8, base_seconds=0.001, max_seconds=0.01)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch, tmp_path):
    """Tests never see real credentials, and never share the user's sandbox."""
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "853963783084")
    # moto loads ~30,000 default AMIs into every fresh EC2 backend (~1 s a
    # test); nothing here launches instances from them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.setenv("FABLINK_SANDBOX_DIR", str(tmp_path / "sandbox"))
    # Evidence under the test's current directory (the runbook tests chdir to
    # tmp_path), never the checkout's reports/; and no operator's default config.
    monkeypatch.setenv("FABLINK_REPORTS_DIR", "reports")
    # pytest-xdist's workers export COLUMNS=80, and the tool's width follows
    # COLUMNS (issue 18): the commands a test runs get the width of a log, as
    # in CI, not of xdist's pretend terminal.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.delenv("FABLINK_CONFIG", raising=False)
    # The run lock's table, created on a test's first lock, is not found by
    # the first DescribeTable (the fidelity layer's window, counted in calls):
    # its poll still happens, without the second of wall time per test.
    monkeypatch.setattr(lock, "TABLE_POLL_SECONDS", 0.0)


@contextmanager
def own_moto(prepare=None):
    """A moto of its own, with the credentials and account the autouse fixture
    gives each test, for a module-scoped fixture (set up before any test's
    own). ``prepare(monkeypatch)`` adjusts the environment before moto starts."""
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("AWS_")]:
            mp.delenv(var)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "ap-northeast-2")
        mp.setenv("MOTO_ACCOUNT_ID", "853963783084")
        if prepare:
            prepare(mp)
        with mock_aws():
            yield


@pytest.fixture(autouse=True)
def fidelity():
    """The fidelity layer in-process moto answers through, fresh for each test
    (its windows and seeded faults reproduce test by test); a test reads what
    it answered (``fidelity.fired``) or widens a window (``fidelity.windows``)."""
    layer = FidelityLayer()
    inprocess.use(layer)
    yield layer
    inprocess.use(FidelityLayer())  # module fixtures set up between tests answer through one too


@pytest.fixture
def no_random_faults(monkeypatch, fidelity):
    """The fidelity layer's 5xx / dropped-connection rule off (it is on by
    default, at 1%): for the few tests that count exact calls, where an
    attempt the rule failed is one call more. Everything else runs with it.
    The variable is for a sandbox server a test starts."""
    monkeypatch.setenv("FABLINK_FIDELITY_5XX", "0")
    fidelity.error_rate = 0.0


@pytest.fixture
def cfg():
    return load_config(CONFIG)


@pytest.fixture
def aws():
    with mock_aws():
        yield


_SESSIONS: dict[str, boto3.Session] = {}


def boto_session(region: str) -> boto3.Session:
    """One boto3 session per region for the whole test process: a session
    caches the parsed service models (the EC2 one alone takes ~0.2 s to load)."""
    if region not in _SESSIONS:  # (setdefault would build a session on every call, ~50 ms)
        _SESSIONS[region] = boto3.Session(region_name=region)
    return _SESSIONS[region]


def make_target(cfg, hooks=(), retry: RetryPolicy = FAST_RETRY, wait_scale: float = 1.0) -> Target:
    """``wait_scale``: below 1 for a command run in-process with real sleeps
    (the waits still poll, sooner); 1 where a fake clock checks the intervals."""
    session = boto_session(cfg.project.region)
    return Target("sandbox", cfg.project.region, session, retry=retry, hooks=list(hooks), wait_scale=wait_scale)


def make_ctx(cfg, hooks=(), **kwargs) -> Context:
    kwargs.setdefault("sleep", lambda s: None)
    return Context(cfg, make_target(cfg, hooks), **kwargs)
