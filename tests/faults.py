"""Fault injection through botocore event hooks (installed on a Target).

- CrashAtWrite(k): the k-th write call raises SimulatedCrash, either before
  the request is sent (the process died before the call) or after AWS has
  answered (the process died with the resource created but unrecorded).
- Throttle(every=3): every n-th call is answered with a throttling error
  without reaching AWS, as API rate limits do.
"""

from __future__ import annotations

import threading

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

from fablink_ops.target import is_write


def at_every_write(writes: int, ids: str = "{when}-{k}"):
    """Parametrize ``k, after`` over a crash after each of ``writes`` writes
    (the answer lost: the harder case) plus one before the very first. A crash
    before write k leaves AWS as a crash after write k-1 does (only the
    unfinished change differs)."""
    import pytest

    points = [(1, False)] + [(k, True) for k in range(1, writes + 1)]
    return pytest.mark.parametrize("k,after", points, ids=[ids.format(k=k, when="after" if a else "before") for k, a in points])


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the code under test may swallow it."""


class CrashAtWrite:
    def __init__(self, k: int, after: bool = False):
        self.k = k
        self.after = after
        self.writes = 0
        self.crashed_on = ""
        self._lock = threading.Lock()

    @property
    def hooks(self):
        event = "after-call" if self.after else "before-call"
        return [(event, self._handler)]

    def _handler(self, model, **_):
        if not is_write(model.name):
            return None
        with self._lock:
            self.writes += 1
            hit = self.writes == self.k
            if hit:
                self.crashed_on = model.name
        if hit:
            raise SimulatedCrash(f"crash at write {self.k} ({model.name}, {'after' if self.after else 'before'} the call)")
        return None


class WriteCounter:
    def __init__(self):
        self.names: list[str] = []
        self._lock = threading.Lock()

    @property
    def hooks(self):
        return [("after-call", self._handler)]

    def _handler(self, model, **_):
        if is_write(model.name):
            with self._lock:
                self.names.append(model.name)


class Throttle:
    """Every n-th call (across threads) is throttled, but (n > 1) never more
    than MAX_STREAK calls in a row of one thread: with the counter shared by
    concurrent changes, one call's retries could otherwise all land on
    multiples of n and run out (it happened, rarely), which is not what
    throttling with backoff does. ``every=1`` throttles everything."""

    MAX_STREAK = 2

    def __init__(self, every: int = 3, code: str = "Throttling"):
        self.every = every
        self.code = code
        self.calls = 0
        self.throttled = 0
        self._lock = threading.Lock()
        self._streak = threading.local()  # this thread's throttled calls in a row

    @property
    def hooks(self):
        return [("before-call", self._handler)]

    def _handler(self, model, **_):
        with self._lock:
            self.calls += 1
            streak = getattr(self._streak, "n", 0)
            hit = self.calls % self.every == 0 and (self.every == 1 or streak < self.MAX_STREAK)
            if hit:
                self.throttled += 1
        self._streak.n = streak + 1 if hit else 0
        if not hit:
            return None
        http = AWSResponse("https://throttled.invalid", 400, {}, None)
        parsed = {
            "Error": {"Code": self.code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return http, parsed


class _FirstCalls:
    """Base of the faults that hit the first call(s) of named operations:
    ``_hit(name)`` says whether this call is one of them (thread-safe)."""

    event = "before-call"

    def __init__(self, left: dict[str, int]):
        self.left = left
        self._lock = threading.Lock()
        self.hit_on: list[str] = []

    @property
    def hooks(self):
        return [(self.event, self._handler)]

    def _hit(self, name: str) -> bool:
        with self._lock:
            hit = self.left.get(name, 0) > 0
            if hit:
                self.left[name] -= 1
                self.hit_on.append(name)
        return hit


class LostAnswer(_FirstCalls):
    """The first call of each named operation is carried out by AWS, but its
    answer is lost: a read timeout, or an HTTP 500 (AWS did the work and then
    failed). What the fault-injection proxy of issue 20 did."""

    event = "after-call"

    def __init__(self, operations: tuple[str, ...], how: str = "timeout"):
        super().__init__({name: 1 for name in operations})
        self.how = how
        self.lost = self.hit_on

    def _handler(self, model, **_):
        if not self._hit(model.name):
            return
        if self.how == "timeout":
            raise ReadTimeoutError(endpoint_url="https://lost.invalid")
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": "lost"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                          model.name)


class ServerErrors(_FirstCalls):
    """The first ``times`` calls of each named operation are answered with a
    server error, not carried out (the request never reached the backend)."""

    def __init__(self, errors: dict[str, tuple[str, int]], times: int = 2):
        super().__init__({name: times for name in errors})
        self.errors = errors
        self.answered = self.hit_on

    def _handler(self, model, **_):
        if not self._hit(model.name):
            return None
        code, status = self.errors[model.name]
        http = AWSResponse("https://failing.invalid", status, {}, None)
        return http, {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}
