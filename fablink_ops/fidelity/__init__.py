"""The fidelity layer: AWS behaviours moto lacks, reproduced on sandbox clients.

moto answers at once and always: a table is describable the moment it is
created, an IAM role is assumable at once, two writes on one REST API never
collide. AWS does none of that, so code can pass every test and fail its
first live run. This layer sits on every sandbox client the tool builds
(the sandbox server's and the tests' in-process moto alike) as botocore event
hooks, and makes moto answer as AWS does: each behaviour is a small rule in
``rules.py`` with the AWS documentation or issue that describes it.

How a rule acts:
- ``before-parameter-build`` keeps the request's own parameters (what a rule
  matches on: a table name, a role ARN) in the request context;
- ``before-call`` may answer instead of moto: an AWS error (a 400 with its
  code and message, or a 5xx), so botocore raises exactly what AWS would;
- ``after-call`` sees moto's answer: it remembers what was created (the
  windows start there) and may add what AWS reports and moto omits.

Windows are counted in calls, not seconds (the first N matching calls after a
create fail): the code path is the same as with AWS's seconds or minutes, the
sandbox stays fast, and a test reproduces exactly. Random faults (5xx and
dropped connections, on by default at DEFAULT_5XX_RATE) are a hash of the
seed, the operation and its call count (rules._fault_draws): the same every
run, whatever the interleaving of concurrent calls.

Environment: ``FABLINK_FIDELITY=off`` turns the layer off (debugging);
``FABLINK_FIDELITY_SEED`` seeds the random faults;
``FABLINK_FIDELITY_5XX`` is the rate of random 5xx answers (default 0.01; 0: off);
``FABLINK_FIDELITY_LATENCY=N`` adds AWS's creation times, divided by N
(``latency.py``, the model the benchmark and tests/test_speed.py use; off by
default: the sandbox stays fast).

The layer is client-side, so it applies to the tool's own calls, not to
another program (the aws CLI) pointed at the sandbox server.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any, Callable

from .latency import LatencyModel
from .rules import RULES, WINDOWS, Call, Rule

__all__ = ["FidelityLayer", "enabled", "Call", "Rule", "RULES", "WINDOWS"]

_CONTEXT_KEY = "fablink_fidelity_params"
# The share of calls answered with a 5xx or a dropped connection (rules.py,
# "server-errors"): low, as AWS's are, but on, so every run meets a few and
# the retries are exercised everywhere (issue 14).
DEFAULT_5XX_RATE = 0.01


def enabled() -> bool:
    return os.environ.get("FABLINK_FIDELITY", "on").strip().lower() not in ("off", "0", "false", "no")


class _Http:
    """The http response botocore expects from a before-call answer."""

    def __init__(self, status: int):
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""
        self.raw = None


class FidelityLayer:
    """One per Target: the rules' memory (what was created, how many times a
    window has answered) is per run, as each run builds its own Target."""

    def __init__(self, rules: list[Rule] | None = None, seed: int | None = None, error_rate: float | None = None,
                 helper_client: Callable[[str], Any] | None = None, windows: dict[str, int] | None = None):
        """``windows``: rule name -> calls its window answers, over ``rules.WINDOWS``."""
        self.rules = list(RULES if rules is None else rules)
        self.windows = {**WINDOWS, **(windows or {})}
        self.seed = int(os.environ.get("FABLINK_FIDELITY_SEED", "14")) if seed is None else seed
        self.error_rate = float(os.environ.get("FABLINK_FIDELITY_5XX", str(DEFAULT_5XX_RATE))) if error_rate is None else error_rate
        # An uncounted client for what AWS makes on its own (the EKS cluster
        # security group): not one of the tool's calls, so never metered.
        self.helper_client = helper_client
        self.lock = threading.RLock()
        self.memory: dict[str, Any] = {}  # rules' state, by rule-chosen keys
        self.fired: Counter[str] = Counter()  # rule name -> answers it gave
        scale = float(os.environ.get("FABLINK_FIDELITY_LATENCY", "0") or 0)
        self.latency = LatencyModel(scale=scale) if scale > 0 else None

    @property
    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        hooks = [
            ("before-parameter-build", self._keep_params),
            ("before-call", self._before_call),
            ("after-call", self._after_call),
        ]
        return hooks + (self.latency.hooks if self.latency else [])

    # -- memory shared by the rules ------------------------------------------

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

    # -- the hooks -----------------------------------------------------------

    @staticmethod
    def _keep_params(params: dict, context: dict, **_: Any) -> None:
        context[_CONTEXT_KEY] = params

    def _before_call(self, model: Any, context: dict, **_: Any) -> Any:
        call = Call(model.service_model.service_name, model.name, context.get(_CONTEXT_KEY) or {}, None)
        for rule in self.rules:
            if rule.before is None or not rule.matches(call):
                continue
            answer = rule.before(self, call)
            if answer is not None:
                with self.lock:
                    self.fired[rule.name] += 1
                if isinstance(answer, dict):  # a success AWS gives that moto would not (an earlier answer)
                    return _Http(200), answer
                return _error_response(*answer)
        return None

    def _after_call(self, model: Any, parsed: dict, context: dict, **_: Any) -> None:
        if parsed.get("Error"):
            return
        call = Call(model.service_model.service_name, model.name, context.get(_CONTEXT_KEY) or {}, parsed)
        for rule in self.rules:
            if rule.after is not None and rule.matches(call):
                rule.after(self, call)


def _error_response(status: int, code: str, message: str) -> tuple[_Http, dict]:
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return _Http(status), parsed
