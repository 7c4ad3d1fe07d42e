"""The sandbox's moto server handles one request at a time (moto's backends
are not thread-safe), while the tool's calls stay concurrent."""

from __future__ import annotations

import threading
import time

from werkzeug.test import create_environ

from fablink_ops.fidelity import FidelityLayer
from fablink_ops.moto_server import Fidelity


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

    def moto(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body(int(environ["wsgi.input"].read()))

    app = Fidelity(moto, FidelityLayer())
    answers = {}

    def call(n):
        answers[n] = app(create_environ("/", method="POST", data=str(n).encode()), lambda *a: None)

    threads = [threading.Thread(target=call, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert answers == {n: [f"answer {n}".encode()] for n in range(6)}
    assert sorted(closed) == list(range(6))
