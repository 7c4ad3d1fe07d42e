"""The sandbox's moto server handles one request at a time (moto's backends
are not thread-safe), while the tool's calls stay concurrent."""

from __future__ import annotations

import threading
import time

from fablink_ops.moto_server import OneAtATime


def test_requests_are_served_one_at_a_time_whole_and_closed():
    inside, most, closed = [0], [0], []
    lock = threading.Lock()

    class Body:
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            # moto may build a body lazily: the lock must cover it too
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            yield f"answer {self.n}".encode()
            with lock:
                inside[0] -= 1

        def close(self):
            closed.append(self.n)

    app = OneAtATime(lambda environ, start_response: Body(environ["n"]))
    answers = {}

    def call(n):
        answers[n] = app({"n": n}, lambda *a: None)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert answers == {n: [f"answer {n}".encode()] for n in range(6)}
    assert sorted(closed) == list(range(6))
