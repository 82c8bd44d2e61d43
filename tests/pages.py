"""A small web server for tests that need pages of their own: each path a body, optionally
answered late, and a place where pages write down what they saw (`/__note?key=value`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Page:
    """What one path answers."""

    body: str | Callable[[int], str]  # or a function of how many times it was asked for
    delay: float = 0.0  # seconds before the answer starts
    content_type: str = "text/html; charset=utf-8"
    status: int = 200


@dataclass
class PageServer:
    """Serves `pages` on a free loopback port, in threads; use as a context manager."""

    pages: dict[str, Page]
    notes: dict[str, list[str]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/__note":
                    with server.lock:
                        for key, value in parse_qsl(parts.query):
                            server.notes.setdefault(key, []).append(value)
                    self.send_response(204)
                    self.end_headers()
                    return
                page = server.pages.get(parts.path)
                with server.lock:
                    count = server.hits[parts.path] = server.hits.get(parts.path, 0) + 1
                if page is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if page.delay:
                    time.sleep(page.delay)
                text = page.body(count) if callable(page.body) else page.body
                body = text.encode()
                try:
                    self.send_response(page.status)
                    self.send_header("Content-Type", page.content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the browser left before the answer: nothing to do

            do_GET = _answer
            do_POST = _answer

        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def note(self, key: str) -> list[float]:
        """What pages noted under key, as numbers."""
        with self.lock:
            return [float(v) for v in self.notes.get(key, [])]
