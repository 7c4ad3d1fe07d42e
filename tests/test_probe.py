"""The live endpoint probe: outage arithmetic, and a real TCP listener going away and back."""

from __future__ import annotations

import socket
import time

import pytest

from fablink_ops.runbooks.probe import Prober, longest_outage


@pytest.mark.parametrize(
    "samples, window, expected",
    [
        ([(0, True), (1, True), (2, True)], (0, 10), 0.0),
        ([(0, True), (1, False), (2, False), (4, True), (5, False), (6, True)], (0, 10), 3.0),
        # still down at the end of the window: up to its end
        ([(0, True), (8, False), (9, False)], (0, 10), 2.0),
        # samples outside the window do not count
        ([(-5, False), (0, True), (3, False), (4, True), (20, False)], (0, 10), 1.0),
        ([], (0, 10), 0.0),
        # unordered input
        ([(4, True), (1, False), (0, True)], (0, 10), 3.0),
    ],
)
def test_longest_outage(samples, window, expected):
    assert longest_outage(samples, *window) == expected


def _listen(port: int = 0) -> socket.socket:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)  # connects are never accepted: room for all of them
    return server


def _until(condition, what: str, budget: float = 20.0) -> None:
    """Wait for a condition the prober thread brings about (bounded; no assertion on time)."""
    deadline = time.monotonic() + budget
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.005)


def test_prober_sees_a_listener_go_away_and_come_back():
    server = _listen()
    port = server.getsockname()[1]
    prober = Prober("127.0.0.1", port, interval=0.01, timeout=0.5)
    start = time.monotonic()
    assert prober.probe_once()
    prober.start()
    try:
        _until(lambda: sum(ok for _, ok in prober.samples) >= 3, "reachable samples")
        server.close()
        _until(lambda: prober.samples[-1][1] is False, "an unreachable sample")
        down_at = prober.samples[-1][0]
        server = _listen(port)
        _until(lambda: prober.samples[-1][1] is True, "reachable again")
    finally:
        prober.stop()
        server.close()
    states = [ok for _, ok in prober.samples]
    assert states[0] and not all(states) and states[-1]
    end = time.monotonic()
    outage = prober.longest_outage(start, end)
    first_refused = min(t for t, ok in prober.samples if not ok)
    back = min(t for t, ok in prober.samples if ok and t > first_refused)
    assert first_refused <= down_at
    assert outage == back - first_refused > 0
    assert prober._thread is None  # stopped
