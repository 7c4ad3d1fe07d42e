"""[release]: the blue-green release runbook (``invoke release``,
fablink_ops/runbooks/release/). Design doc: Deployment strategy ("Blue-green
deployment", "traffic shifting 10% -> 50% -> 100%", "automatic rollback",
"health checks, integration tests, performance benchmarks, manual approval").
Values not in the document are ours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import _between, _fail, _pattern, _positive, check
from .runbooks import ALARM_NAME

if TYPE_CHECKING:
    from .loader import Config

HTTP_PATH = _pattern(r"/[\w\-./~%?=&]*", 1024, "HTTP path (starts with /)")


@dataclass(frozen=True)
class HttpCheck:
    """One integration check against the idle colour, before it gets traffic."""

    path: str = check(HTTP_PATH)
    status: int = check(_between(100, 599), default=200)
    body: str = ""  # a substring the answer must contain ("" : any)


@dataclass(frozen=True)
class ReleaseConfig:
    # Percent of the traffic on the new colour at each step; the last is 100
    # (the promotion, after the manual approval).
    steps: tuple[int, ...] = (10, 50, 100)
    bake_seconds: float = check(_positive, default=300.0)  # each canary step's bake; --bake overrides
    watch_seconds: float = check(_positive, default=300.0)  # after the promotion; --bake overrides too
    poll_seconds: float = check(_positive, default=10.0)  # stop alarms are read this often during a bake
    health_wait_minutes: float = check(_positive, default=10.0)  # the idle colour's rollout and targets
    timeout_minutes: float = check(_positive, default=120.0)  # the whole run; then roll back
    min_healthy_targets: int = check(_positive, default=3)  # design doc: at least 3 replicas
    stop_alarms: tuple[str, ...] = ()
    checks: tuple[HttpCheck, ...] = ()
    check_timeout_seconds: float = check(_positive, default=5.0)


def _validate_release(cfg: Config) -> None:
    file, release = cfg.path, cfg.release
    steps = release.steps
    if len(steps) < 2 or steps[-1] != 100:
        raise _fail(file, "release.steps", f"{list(steps)}: at least one canary step, then 100 (the promotion)")
    for i, step in enumerate(steps):
        if not 0 < step <= 100 or (i and step <= steps[i - 1]):
            raise _fail(file, f"release.steps[{i}]", f"{step}: steps are percentages, rising, each in 1..100")
    for i, name in enumerate(release.stop_alarms):
        problem = ALARM_NAME(name)
        if problem:
            raise _fail(file, f"release.stop_alarms[{i}]", problem)
    if release.poll_seconds > release.bake_seconds:
        raise _fail(file, "release.poll_seconds", f"{release.poll_seconds:g} s is longer than release.bake_seconds ({release.bake_seconds:g} s)")
