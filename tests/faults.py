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

from fablink_ops.target import is_write


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
    def __init__(self, every: int = 3, code: str = "Throttling"):
        self.every = every
        self.code = code
        self.calls = 0
        self.throttled = 0
        self._lock = threading.Lock()

    @property
    def hooks(self):
        return [("before-call", self._handler)]

    def _handler(self, model, **_):
        with self._lock:
            self.calls += 1
            hit = self.calls % self.every == 0
            if hit:
                self.throttled += 1
        if not hit:
            return None
        http = AWSResponse("https://throttled.invalid", 400, {}, None)
        parsed = {
            "Error": {"Code": self.code, "Message": "Rate exceeded"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return http, parsed
