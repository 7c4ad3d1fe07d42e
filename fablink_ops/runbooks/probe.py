"""What clients feel during a failover: TCP connects to an endpoint, in a
background thread, and the longest span it could not be reached.

A connect is what a client's first step to the database is; Aurora moves
the cluster endpoint's DNS name to the new writer, so each probe resolves the
name again (socket.create_connection does, Python caches no DNS).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

Connect = Callable[[tuple[str, int], float], None]  # raises OSError when unreachable


def tcp_connect(address: tuple[str, int], timeout: float) -> None:
    socket.create_connection(address, timeout=timeout).close()


class Prober:
    """Connects to host:port every ``interval`` seconds until stopped.

    ``samples`` holds (monotonic time the connect started, reachable?).
    """

    def __init__(
        self,
        host: str,
        port: int,
        interval: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        connect: Connect = tcp_connect,
    ):
        self.host = host
        self.port = port
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.connect = connect
        self._samples: list[tuple[float, bool]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def probe_once(self) -> bool:
        at = self.clock()
        try:
            self.connect((self.host, self.port), self.timeout)
            ok = True
        except OSError:  # refused, timed out, name not resolvable: unreachable all the same
            ok = False
        with self._lock:
            self._samples.append((at, ok))
        return ok

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="tcp-probe", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.probe_once()
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + self.interval + 1)
            self._thread = None

    @property
    def samples(self) -> list[tuple[float, bool]]:
        with self._lock:
            return list(self._samples)

    def longest_outage(self, start: float, end: float) -> float:
        return longest_outage(self.samples, start, end)


def longest_outage(samples: list[tuple[float, bool]], start: float, end: float) -> float:
    """The longest time within [start, end] the endpoint was unreachable.

    An outage runs from the first failed connect to the next successful one
    (or to ``end`` when none succeeded again). Its length is what a client
    retrying at the probe interval would have seen, give or take one interval.
    """
    longest = 0.0
    down_since: float | None = None
    for at, ok in sorted(samples):
        if at < start or at > end:
            continue
        if not ok and down_since is None:
            down_since = at
        elif ok and down_since is not None:
            longest = max(longest, at - down_since)
            down_since = None
    if down_since is not None:
        longest = max(longest, end - down_since)
    return longest
