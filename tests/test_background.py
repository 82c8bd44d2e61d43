"""The one uvicorn-in-a-thread helper, as observer's server and the demo shop use it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator

import httpx
from conftest import set_faults
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from observer.background import BackgroundServer
from observer.demo.shop import ShopServer


def test_the_url_is_known_before_the_app_and_stop_runs_its_shutdown() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")  # where observer's server commits its last beacons

    async def hello(request: Request) -> Response:
        return PlainTextResponse("hello")

    server = BackgroundServer()
    url = server.url  # the demo hands it to the shop before observer's app exists
    assert url == f"http://127.0.0.1:{server.port}" and server.port > 0
    server.start(Starlette(routes=[Route("/", hello)], lifespan=lifespan))
    try:
        assert httpx.get(url, timeout=5).text == "hello"
    finally:
        server.stop()
    assert events == ["startup", "shutdown"]


def test_a_stopping_shop_lets_a_hung_request_go_and_restarts_on_its_port() -> None:
    shop = ShopServer().start()
    port = shop.port
    set_faults(shop, hang=["health"])
    answered = threading.Event()

    def ask() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{shop.url}/health", timeout=30)
        answered.set()

    threading.Thread(target=ask, daemon=True).start()
    time.sleep(0.3)  # the request is in, and held
    began = time.monotonic()
    shop.stop()  # what Ctrl-C in `observer demo` comes down to
    # Released at once (about 0.2 s), not cancelled when uvicorn's 2 s of grace run out.
    assert time.monotonic() - began < 1.5
    assert answered.wait(5)

    with shop:
        assert shop.port == port
        set_faults(shop, hang=None)
        assert httpx.get(f"{shop.url}/health", timeout=5).status_code == 200
