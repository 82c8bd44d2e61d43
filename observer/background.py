"""uvicorn in a thread, for serving observer's app and the demo shop inside another program.

The demo command, the tests and the benchmarks run both that way. Nothing of observer is
imported here, and uvicorn only once a server starts.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn

START_TIMEOUT = 10.0  # seconds start() waits for uvicorn to accept connections
FORCED_STOP = 2.0  # seconds stop() waits once in-flight requests are cut short


class BackgroundServer:
    """An ASGI app served by uvicorn in a thread, on loopback unless told otherwise.

    The port is bound at construction, so its URL is known before the app exists. One
    instance serves once: to serve again, make another (on the same port, if wanted).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "observer server",
        lifespan: bool = True,
        grace: int = 5,
        patience: float = 15.0,
    ) -> None:
        # Bound here rather than by uvicorn so port 0 resolves before the thread starts.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.host, self.port = host, int(self.sock.getsockname()[1])
        self.name = name
        self.lifespan = lifespan
        self.grace = grace  # seconds requests in flight get once a stop is asked for
        self.patience = patience  # seconds stop() waits, the app's own shutdown included
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:43210."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, app: Any) -> BackgroundServer:
        """Serve app and wait until it accepts requests (10 s at most)."""
        import uvicorn

        config = uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,  # leave the embedding program's logging configuration alone
            access_log=False,
            lifespan="on" if self.lifespan else "off",
            timeout_graceful_shutdown=self.grace,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name=f"{self.name.replace(' ', '-')}-{self.port}",
            daemon=True,
        )
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Graceful stop: requests in flight finish, then the app's own shutdown runs.

        Past `patience` seconds, uvicorn is told to cut short what is left, and gets 2 s more.
        """
        server, thread = self.server, self.thread
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=self.patience)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=FORCED_STOP)
        self.server = self.thread = None
        self.sock.close()
