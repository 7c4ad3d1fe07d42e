"""The fidelity layer: AWS behaviours moto lacks, reproduced where moto answers.

moto answers at once and always: a table is describable the moment it is
created, an IAM role is assumable at once, two writes on one REST API never
collide. AWS does none of that, so code can pass every test and fail its
first live run. This layer sits in moto's request handling: in the
sandbox's server (moto_server.py: every client pointed at the sandbox meets
it, the aws CLI included) and in the tests' in-process moto
(inprocess.py). Each behaviour is a small rule in ``rules.py`` with the AWS
documentation or issue that describes it; ``wire.py`` turns a request into
the rules' terms (service, operation, parameters) and their answers back into
the request's protocol.

How a rule acts:
- ``before`` may answer instead of moto: an AWS error (a 400 with its code
  and message, or a 5xx), a dropped connection, or a success AWS gives that
  moto would not;
- ``after`` sees moto's answer: it remembers what was created (the windows
  start there) and may add what AWS reports and moto omits.

Windows are counted in calls, not seconds (the first N matching calls after a
create fail): the code path is the same as with AWS's seconds or minutes, the
sandbox stays fast, and a test reproduces exactly. Random faults (5xx and
dropped connections, on by default at DEFAULT_5XX_RATE) are a hash of the
seed, the operation and its call count (rules._fault_draws): the same every
run, whatever the interleaving of concurrent calls.

Settings (``settings_from_env``): ``FABLINK_FIDELITY=off`` turns the layer
off (debugging); ``FABLINK_FIDELITY_SEED`` seeds the random faults;
``FABLINK_FIDELITY_5XX`` is the rate of random 5xx answers (default 0.01; 0:
off); ``FABLINK_FIDELITY_LATENCY=N`` adds AWS's creation times, divided by N
(``latency.py``, the model the benchmark and tests/test_speed.py use; off by
default: the sandbox stays fast). The tool sends its environment's settings
to the sandbox's server at the start of every command (sandbox.py), so they
hold for that command as they did when the layer lived in the tool.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from botocore.exceptions import ConnectionClosedError

from .latency import LatencyModel
from .rules import RULES, WINDOWS, Call, Rule

__all__ = ["FidelityLayer", "enabled", "settings_from_env", "Call", "Rule", "RULES", "WINDOWS"]

# The share of calls answered with a 5xx or a dropped connection (rules.py,
# "server-errors"): low, as AWS's are, but on, so every run meets a few and
# the retries are exercised everywhere (issue 14).
DEFAULT_5XX_RATE = 0.01
SETTINGS = ("FABLINK_FIDELITY", "FABLINK_FIDELITY_SEED", "FABLINK_FIDELITY_5XX", "FABLINK_FIDELITY_LATENCY")


def _on(value: str | None) -> bool:
    return (value or "on").strip().lower() not in ("off", "0", "false", "no")


def enabled() -> bool:
    return _on(os.environ.get("FABLINK_FIDELITY"))


def settings_from_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The layer's settings in this environment (what the tool sends the sandbox's server)."""
    env = os.environ if env is None else env
    return {k: env[k] for k in SETTINGS if k in env}


def latency_scale(env: Mapping[str, str] | None = None) -> float:
    """N of FABLINK_FIDELITY_LATENCY (0: no creation times)."""
    env = os.environ if env is None else env
    try:
        return max(float(env.get("FABLINK_FIDELITY_LATENCY", "0") or 0), 0.0)
    except ValueError:
        return 0.0


class FidelityLayer:
    """One per moto: per sandbox server, per test in-process (the rules' memory
    of what was created, and how many times a window has answered)."""

    def __init__(self, rules: list[Rule] | None = None, seed: int | None = None, error_rate: float | None = None,
                 helper_client: Callable[[str], Any] | None = None, windows: dict[str, int] | None = None):
        """``windows``: rule name -> calls its window answers, over ``rules.WINDOWS``."""
        self.rules = list(RULES if rules is None else rules)
        self.windows = {**WINDOWS, **(windows or {})}
        self.on = True
        self.seed = 14
        self.error_rate = DEFAULT_5XX_RATE
        self.latency: LatencyModel | None = None
        self.configure(settings_from_env())
        if seed is not None:
            self.seed = seed
        if error_rate is not None:
            self.error_rate = error_rate
        # A client for what AWS does on its own (the EKS cluster security
        # group, a canary's deployment): straight to moto, past the layer and
        # the tool's meter (inprocess.helper_client by default).
        if helper_client is None:
            from .inprocess import helper_client as helper_client
        self.helper_client = helper_client
        self.lock = threading.RLock()
        self.memory: dict[str, Any] = {}  # rules' state, by rule-chosen keys
        self.fired: Counter[str] = Counter()  # rule name -> answers it gave
        self._by_operation: dict[tuple[str, str], tuple[list[Rule], list[Rule]]] = {}
        self._flights: dict[str, set[int]] = {}  # key -> tickets of the writes in flight on it
        self._tickets = itertools.count(1)
        self._mine = threading.local()  # this thread's (key, raced), while its request is in flight

    def configure(self, settings: Mapping[str, str]) -> None:
        """Apply FABLINK_FIDELITY* settings (absent ones: their defaults)."""
        self.on = _on(settings.get("FABLINK_FIDELITY"))
        self.seed = int(settings.get("FABLINK_FIDELITY_SEED") or 14)
        try:
            self.error_rate = float(settings.get("FABLINK_FIDELITY_5XX") or DEFAULT_5XX_RATE)
        except ValueError:
            self.error_rate = DEFAULT_5XX_RATE
        if settings.get("FABLINK_FIDELITY_5XX", "").strip() in ("0", "0.0", "off"):
            self.error_rate = 0.0
        scale = latency_scale(settings)
        if not scale:
            self.latency = None
        elif self.latency is None or self.latency.scale != scale:
            self.latency = LatencyModel(scale=scale)

    def status(self) -> dict[str, Any]:
        with self.lock:
            return {"on": self.on, "seed": self.seed, "error_rate": self.error_rate,
                    "latency_scale": self.latency.scale if self.latency else 0,
                    "latency_created": len(self.latency.created) if self.latency else 0, "windows": dict(self.windows),
                    "fired": dict(sorted(self.fired.items()))}

    # -- memory shared by the rules ------------------------------------------

    def forget(self) -> None:
        """Forget what was created and answered (a moto reset: nothing it remembers exists any more)."""
        with self.lock:
            self.memory.clear()
            self.fired.clear()

    def remember(self, key: str, value: Any = True) -> None:
        with self.lock:
            self.memory[key] = value

    def recall(self, key: str) -> Any:
        with self.lock:
            return self.memory.get(key)

    def take(self, key: str) -> bool:
        """Count one answer of a window: True while the window named ``key`` still has answers left."""
        with self.lock:
            left = self.memory.get(key, 0)
            if left <= 0:
                return False
            self.memory[key] = left - 1
            return True

    # -- writes in flight (for races: rules._apigw_raced) -----------------------

    @contextmanager
    def flying(self, key: str | None) -> Iterator[None]:
        """The request is in flight on ``key`` (None: on nothing that races)
        from before it queues for moto until it is answered. One that arrives
        while another is in flight on the same key raced it: on AWS both
        would be in progress at once (``raced``)."""
        if key is None:
            yield
            return
        with self.lock:
            ticket = next(self._tickets)
            flights = self._flights.setdefault(key, set())
            raced = bool(flights)
            flights.add(ticket)
        self._mine.flight = (key, raced)
        try:
            yield
        finally:
            self._mine.flight = None
            with self.lock:
                self._flights[key].discard(ticket)

    def in_flight(self, key: str) -> int:
        with self.lock:
            return len(self._flights.get(key, ()))

    def raced(self, key: str) -> bool:
        """This thread's request on ``key`` arrived while another was in flight on it."""
        return getattr(self._mine, "flight", None) == (key, True)

    # -- acting on a call (wire.py brings the calls) ---------------------------

    def rules_for(self, service: str, operation: str) -> tuple[list[Rule], list[Rule]]:
        """(rules acting before moto, rules reading its answer) for one operation."""
        key = (service, operation)
        if key not in self._by_operation:
            probe = Call(service, operation, {}, None)
            matching = [r for r in self.rules if r.matches(probe)]
            self._by_operation[key] = ([r for r in matching if r.before], [r for r in matching if r.after])
        return self._by_operation[key]

    def before(self, call: Call, rules: list[Rule]) -> Any:
        """The first answer a rule gives instead of moto: (status, code, message), a dict, or None."""
        for rule in rules:
            try:
                answer = rule.before(self, call)  # type: ignore[misc]
            except ConnectionClosedError:  # the rule hangs up: an answer too
                with self.lock:
                    self.fired[rule.name] += 1
                raise
            if answer is not None:
                with self.lock:
                    self.fired[rule.name] += 1
                return answer
        return None

    def after(self, call: Call, rules: list[Rule]) -> None:
        for rule in rules:
            rule.after(self, call)  # type: ignore[misc]
