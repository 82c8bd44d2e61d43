"""A healthy but noisy site, as on-call staff meet one: each answer takes a uniform 0-150 ms,
2% take 1.5 s longer, and 0.5% answer 500. `sample()` draws the same distribution for
simulated streams; `JitterServer` serves it for real on a free loopback port, and can be slowed
down (by a factor, or by a fixed extra delay) while it runs.
"""

from __future__ import annotations

import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JITTER_MS = 150.0
SPIKE_SHARE, SPIKE_MS = 0.02, 1500.0
ERROR_SHARE = 0.005


def sample(rng: random.Random, factor: float = 1.0, extra_ms: float = 0.0) -> tuple[float, bool]:
    """One response: (milliseconds, answered 500), slowed by `factor` and `extra_ms`."""
    ms = rng.uniform(0.0, JITTER_MS)
    if rng.random() < SPIKE_SHARE:
        ms += SPIKE_MS
    return ms * factor + extra_ms, rng.random() < ERROR_SHARE


class JitterServer:
    """The noisy site on 127.0.0.1: GET any path."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.factor = 1.0
        self.extra_ms = 0.0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with site.lock:
                    ms, failed = sample(site.rng, site.factor, site.extra_ms)
                time.sleep(ms / 1000)
                body = b"oops" if failed else b"ok"
                self.send_response(500 if failed else 200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def slow_down(self, factor: float = 1.0, extra_ms: float = 0.0) -> None:
        """From now on, every answer takes `factor` times as long plus `extra_ms`."""
        with self.lock:
            self.factor, self.extra_ms = factor, extra_ms

    def __enter__(self) -> JitterServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
