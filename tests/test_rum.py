"""Real-user monitoring end to end: beacons over real HTTP into a real SQLite file.

The many format and rejection tests talk to the server in-process (`BackgroundServer`, a real
uvicorn on a free loopback port); the daemon itself (`observer serve`) is started as a child
process where the process matters: SIGTERM, and the CLI around it. Browsers are real Chromium:
the demo shop with observer's snippet, observer's own journeys, and a page that uses Google's
web-vitals library unmodified. Expected values are worked out by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OBSERVER, dump_database, free_port, observer, rows
from starlette.applications import Starlette
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route

from observer.background import BackgroundServer
from observer.browser import launch
from observer.budgets import evaluate
from observer.config import load_project
from observer.demo.shop import ShopServer
from observer.runner import run_all
from observer.server import create_app
from observer.store import BeaconRow, SQLiteStore

# Google's file as npm ships it: the vendored copy is byte for byte web-vitals' own
# dist/web-vitals.iife.js (`python -m observer.web.build --check` in .ci/test holds it so).
WEB_VITALS_IIFE = (
    Path(__file__).resolve().parent.parent / "observer/web/static/vendor/web-vitals.iife.js"
)

# Distinctive user agents: the family and class are kept, the string itself never.
UA_DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.182 Safari/537.36"
)
UA_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
UA_PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36"
)
UA_FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

TEXT = "text/plain;charset=UTF-8"  # what navigator.sendBeacon sends with a string body
JSON_TYPE = "application/json"
FIELDS = "page, metric, value, rating, nav_type, device, browser, session, synthetic"


# --------------------------------------------------------------------------- helpers


@dataclass
class Rum:
    """A running beacon server and the database it writes."""

    url: str
    db: Path
    file: Path

    @property
    def beacon(self) -> str:
        return f"{self.url}/beacon"

    def post(
        self,
        body: Any,
        *,
        ctype: str | None = TEXT,
        headers: dict[str, str] | None = None,
        ua: str = UA_DESKTOP,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST one body: bytes as they are, anything else as JSON text."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"User-Agent": ua, **(headers or {})}
        if ctype is not None:
            sent["Content-Type"] = ctype
        return httpx.post(self.beacon, content=content, headers=sent, params=params, timeout=10)

    def rows(self, where: str = "1", *args: Any, fields: str = FIELDS) -> list[dict[str, Any]]:
        return rows(self.db, f"select {fields} from beacons where {where} order by id", *args)

    def count(self) -> int:
        return int(rows(self.db, "select count(*) as n from beacons")[0]["n"])


def write_config(folder: Path, config: dict[str, Any], name: str = "observer.yaml") -> Path:
    """A probe file (JSON is YAML) in folder."""
    path = folder / name
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


@contextlib.contextmanager
def serving(folder: Path, config: dict[str, Any]) -> Iterator[Rum]:
    """observer's server in-process on a free loopback port, over a fresh database."""
    file = write_config(folder, config)
    project = load_project(file)
    db = folder / "rum.db"
    store = SQLiteStore(db)
    server = BackgroundServer()
    try:
        server.start(create_app(project, store))
        yield Rum(server.url, db, file)
    finally:
        server.stop()
        store.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Rum]]:
    """start(**rum_settings) -> a running server with those `rum:` settings."""
    with contextlib.ExitStack() as stack:
        made = 0

        def _start(**rum: Any) -> Rum:
            nonlocal made
            made += 1
            folder = tmp_path / f"server{made}"
            folder.mkdir()
            return stack.enter_context(serving(folder, {"rum": rum}))

        yield _start


def wv(name: str, value: float, metric_id: str, **extra: Any) -> dict[str, Any]:
    """A web-vitals metric object as JSON.stringify(metric) gives it."""
    return {
        "name": name,
        "value": value,
        "delta": value,
        "id": metric_id,
        "entries": [],
        "navigationType": "navigate",
        **extra,
    }


def snippet(sid: str, load: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A batch as observer's /rum.js sends it."""
    return {
        "observer": 1,
        "app": "shop",
        "sid": sid,
        "load": load,
        "syn": False,
        "page": "https://shop.example/checkout?card=4242424242424242",
        "items": items,
        **extra,
    }


def raw_request(url: str, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send only a request head (no body) on a raw socket and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before an answer: {data!r}"
            data += chunk
        top, _, body = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return int(lines[0].split()[1]), headers, body[:want]


def poll(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """Wait (bounded) until condition() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


async def apoll(condition: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


def with_browser(body: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run body(browser) with a real Chromium started the way observer starts it."""
    from playwright.async_api import async_playwright

    async def main() -> Any:
        async with async_playwright() as pw:
            browser = await launch(pw, None)
            try:
                return await body(browser)
            finally:
                await browser.close()

    return asyncio.run(main())


def assert_short_reason(r: httpx.Response, status: int, reason: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"}
    assert reason in body["error"]
    assert len(body["error"]) <= 120


# --------------------------------------------------------------------------- web-vitals

LCP_WITH_ATTRIBUTION = wv(
    "LCP",
    2912.3,
    "v6-1732200000000-1234567890123",
    rating="needs-improvement",
    navigationId=1,
    navigationURL="https://shop.example/products/17?email=ann%40example.com&token=s3cr3t",
    entries=[
        {
            "name": "",
            "entryType": "largest-contentful-paint",
            "startTime": 2912.3,
            "size": 120000,
            "url": "https://cdn.example/ENTRY-ONLY-hero.jpg",
            "id": "hero",
        }
    ],
    attribution={
        "target": "main>img.hero",
        "url": "https://cdn.example/hero.jpg",
        "timeToFirstByte": 310.25,
        "resourceLoadDelay": 120.5,
        "resourceLoadDuration": 1800.123456,
        "elementRenderDelay": 681.4,
        "navigationEntry": {"name": "https://shop.example/NAV-ENTRY-ONLY", "duration": 3000},
        "lcpEntry": {"startTime": 2912.3, "url": "https://cdn.example/LCP-ENTRY-ONLY.jpg"},
        "lcpResourceEntry": {"name": "https://cdn.example/RESOURCE-ENTRY-ONLY.jpg"},
    },
)


def test_web_vitals_single_object_sent_as_text_plain(start: Callable[..., Rum]) -> None:
    rum = start(pages=["/products/*"])
    r = rum.post(LCP_WITH_ATTRIBUTION)
    assert r.status_code == 202
    assert r.json() == {"accepted": 1, "dropped": 0}
    assert rum.rows() == [
        {
            "page": "/products/*",
            "metric": "lcp",
            "value": 2912.3,
            "rating": "needs-improvement",
            "nav_type": "navigate",
            "device": "desktop",
            "browser": "Chrome",
            "session": None,
            "synthetic": 0,
        }
    ]
    (row,) = rum.rows(fields="app, load_id, label, format, detail, dedupe")
    assert row["format"] == "web-vitals"
    assert row["load_id"] == "1"
    assert row["label"] is None
    assert row["dedupe"] == "wv:v6-1732200000000-1234567890123"
    # The attribution kept compact: target, URL and the timing sub-parts, nothing else.
    assert json.loads(row["detail"]) == {
        "target": "main>img.hero",
        "url": "https://cdn.example/hero.jpg",
        "timeToFirstByte": 310.25,
        "resourceLoadDelay": 120.5,
        "resourceLoadDuration": 1800.123,
        "elementRenderDelay": 681.4,
    }
    dump = dump_database(rum.db)
    for gone in ("ENTRY-ONLY", "s3cr3t", "ann%40example.com", "email=", UA_DESKTOP, "127.0.0.1"):
        assert gone not in dump


def test_web_vitals_array_as_json_with_ratings_computed(start: Callable[..., Rum]) -> None:
    rum = start()
    url = "https://shop.example/about?utm_source=mail"
    metrics = [
        wv("FCP", 2000, "v6-a-1", navigationURL=url),  # no rating: 1800 < 2000 <= 3000
        wv("TTFB", 900, "v6-a-2", rating="needs-improvement", navigationURL=url),
        wv("CLS", 0.31, "v6-a-3", navigationURL=url, navigationType="reload"),  # poor > 0.25
        wv("INP", 180, "v6-a-4", navigationURL=url, navigationType="teleport"),  # unknown type
        wv("LCP", 2500, "v6-a-5", navigationURL=url, rating="excellent"),  # bogus rating
    ]
    r = rum.post(metrics, ctype=JSON_TYPE, ua=UA_IPHONE)
    assert r.status_code == 202
    assert r.json() == {"accepted": 5, "dropped": 0}
    common = {"page": "/about", "device": "mobile", "browser": "Safari", "session": None}
    assert rum.rows() == [
        {**common, "metric": "fcp", "value": 2000.0, "rating": "needs-improvement",
         "nav_type": "navigate", "synthetic": 0},
        {**common, "metric": "ttfb", "value": 900.0, "rating": "needs-improvement",
         "nav_type": "navigate", "synthetic": 0},
        {**common, "metric": "cls", "value": 0.31, "rating": "poor", "nav_type": "reload",
         "synthetic": 0},
        {**common, "metric": "inp", "value": 180.0, "rating": "good", "nav_type": None,
         "synthetic": 0},
        {**common, "metric": "lcp", "value": 2500.0, "rating": "good", "nav_type": "navigate",
         "synthetic": 0},
    ]  # fmt: skip


def test_page_from_referer_when_the_metric_has_no_navigation_url(
    start: Callable[..., Rum],
) -> None:
    rum = start(pages=["/products/*"])
    v4 = wv("LCP", 1200, "v4-1-1")  # web-vitals before v6: no navigationURL
    r = rum.post(v4, headers={"Referer": "https://shop.example/cart?coupon=SAVE10"})
    assert r.status_code == 202
    r = rum.post(
        wv("LCP", 1300, "v4-1-2"), headers={"Referer": "https://shop.example/products/9?x=1"}
    )
    assert r.status_code == 202
    r = rum.post(wv("LCP", 1400, "v4-1-3"))  # no Referer either: page unknown, still stored
    assert r.status_code == 202
    # navigationURL, when there is one, wins over the Referer.
    v6 = wv("LCP", 1500, "v6-1-4", navigationURL="https://shop.example/account")
    assert rum.post(v6, headers={"Referer": "https://shop.example/cart"}).status_code == 202
    assert [row["page"] for row in rum.rows()] == ["/cart", "/products/*", None, "/account"]
    assert "SAVE10" not in dump_database(rum.db)


def test_keep_query_keeps_the_query_string(start: Callable[..., Rum]) -> None:
    rum = start(keep_query=True)
    metric = wv("LCP", 1200, "v6-q-1", navigationURL="https://shop.example/search?q=mugs")
    assert rum.post(metric).status_code == 202
    assert rum.rows()[0]["page"] == "/search?q=mugs"


# --------------------------------------------------------------------------- Faro

FARO = {
    "meta": {
        "sdk": {"name": "@grafana/faro-web-sdk", "version": "1.9.0"},
        "app": {"name": "shop", "version": "2.4.1", "environment": "production"},
        "session": {"id": "faro-session-1", "attributes": {}},
        "page": {"id": "page-load-1", "url": "https://shop.example/checkout?step=2&email=x"},
        "browser": {"name": "Firefox", "version": "128.0", "os": "Linux", "mobile": False},
        "view": {"name": "default"},
    },
    "measurements": [
        {
            "type": "web-vitals",
            "values": {"lcp": 1234.5, "delta": 1234.5},
            "context": {"rating": "good", "navigation_type": "navigate", "element": "main>img"},
            "timestamp": "2026-01-01T10:00:00.000Z",
        },
        {
            "type": "web-vitals",
            "values": {"cls": 0.02, "delta": 0.02},
            "context": {"rating": "good", "navigation_type": "navigate"},
            "timestamp": "2026-01-01T10:00:01.000Z",
        },
        {"type": "custom", "values": {"cart_size": 3}, "timestamp": "2026-01-01T10:00:02.000Z"},
    ],
    "exceptions": [
        {
            "type": "TypeError",
            "value": "cart is undefined",
            "stacktrace": {
                "frames": [
                    {"filename": "https://shop.example/app.js", "function": "pay", "lineno": 10},
                    {"filename": "https://shop.example/app.js", "function": "onClick"},
                ]
            },
            "timestamp": "2026-01-01T10:00:03.000Z",
        }
    ],
    "events": [
        {"name": "faro.page_view", "domain": "browser", "attributes": {}},
        {"name": "task_begin", "attributes": {"task": "checkout"}},
        {"name": "click", "attributes": {"target": "#pay"}},
    ],
    "logs": [{"message": "LOG-LINE-NOT-STORED", "level": "info", "context": {}}],
    "traces": {"resourceSpans": []},
}


def faro_rows(rum: Rum) -> list[dict[str, Any]]:
    return rum.rows(fields=f"{FIELDS}, app, load_id, label, detail, format")


def test_faro_payload(start: Callable[..., Rum]) -> None:
    rum = start()
    r = rum.post(FARO, ctype=JSON_TYPE, ua=UA_PIXEL)
    assert r.status_code == 202
    assert r.json() == {"accepted": 5, "dropped": 0}
    # Faro's meta says desktop Firefox: it wins over the User-Agent (a Pixel phone here).
    common = {
        "page": "/checkout",
        "device": "desktop",
        "browser": "Firefox",
        "session": "faro-session-1",
        "synthetic": 0,
        "app": "shop",
        "load_id": "page-load-1",
        "format": "faro",
    }
    none = {"value": None, "rating": None, "nav_type": None, "detail": None, "label": None}
    assert faro_rows(rum) == [
        {**common, "metric": "lcp", "value": 1234.5, "rating": "good", "nav_type": "navigate",
         "label": None, "detail": '{"element":"main>img"}'},
        {**common, "metric": "cls", "value": 0.02, "rating": "good", "nav_type": "navigate",
         "label": None, "detail": None},
        {**common, **none, "metric": "error", "label": "TypeError",
         "detail": json.dumps({"message": "cart is undefined",
                               "frames": "pay@https://shop.example/app.js:10 | "
                                         "onClick@https://shop.example/app.js:?"},
                              separators=(",", ":"))},
        {**common, **none, "metric": "pageview"},
        {**common, **none, "metric": "task_begin", "label": "checkout"},
    ]  # fmt: skip
    assert "LOG-LINE-NOT-STORED" not in dump_database(rum.db)


def test_faro_gzip_with_idempotency_key_counts_a_retry_once(start: Callable[..., Rum]) -> None:
    rum = start()
    body = gzip.compress(json.dumps(FARO).encode())
    headers = {"Content-Encoding": "gzip", "Idempotency-Key": "batch-7f1c"}
    first = rum.post(body, ctype=JSON_TYPE, headers=headers)
    assert first.status_code == 202
    assert first.json() == {"accepted": 5, "dropped": 0}
    stored = faro_rows(rum)
    retry = rum.post(body, ctype=JSON_TYPE, headers=headers)  # Faro resending the batch
    assert retry.status_code == 202
    assert rum.count() == 5
    assert faro_rows(rum) == stored
    # Another batch (another key) is another five rows.
    other = rum.post(body, ctype=JSON_TYPE, headers={**headers, "Idempotency-Key": "batch-2"})
    assert other.status_code == 202
    assert rum.count() == 10


def test_faro_session_from_header_and_deflate(start: Callable[..., Rum]) -> None:
    import zlib

    rum = start()
    payload = {
        "meta": {"page": {"url": "https://shop.example/"}, "session": {}},
        "events": [{"name": "faro.page_view"}],
    }
    r = rum.post(
        zlib.compress(json.dumps(payload).encode()),
        ctype=JSON_TYPE,
        headers={"Content-Encoding": "deflate", "X-Faro-Session-Id": "hdr-session"},
        ua=UA_FIREFOX,
    )
    assert r.status_code == 202, r.text
    assert rum.rows() == [
        {"page": "/", "metric": "pageview", "value": None, "rating": None, "nav_type": None,
         "device": "desktop", "browser": "Firefox", "session": "hdr-session", "synthetic": 0}
    ]  # fmt: skip


# --------------------------------------------------------------------------- snippet

SNIPPET_ITEMS = [
    {"k": "pageview", "id": "L1.1", "nav": "navigate"},
    {
        "k": "vital",
        "id": "v6-1-INP",
        "n": "INP",
        "v": 264,
        "r": "needs-improvement",
        "nav": "navigate",
        "u": "https://shop.example/checkout?card=4242424242424242",
        "a": {
            "interactionTarget": "#pay",
            "interactionType": "pointer",
            "inputDelay": 12.5,
            "processingDuration": 200,
            "presentationDelay": 51.5,
            "longAnimationFrameEntries": [{"duration": 264}],
        },
    },
    {"k": "error", "id": "L1.3", "type": "TypeError", "msg": "cart is null", "src": "app.js"},
    {"k": "task", "id": "L1.4", "phase": "begin", "task": "checkout"},
    {"k": "task", "id": "L1.5", "phase": "complete", "task": "checkout",
     "u": "https://shop.example/orders/7?paid=1"},
]  # fmt: skip


def test_snippet_payload(start: Callable[..., Rum]) -> None:
    rum = start(pages=["/orders/*"])
    r = rum.post(snippet("sess-A", "L1", SNIPPET_ITEMS), ua=UA_IPHONE)
    assert r.status_code == 202
    assert r.json() == {"accepted": 5, "dropped": 0}
    common = {
        "device": "mobile",
        "browser": "Safari",
        "session": "sess-A",
        "synthetic": 0,
        "app": "shop",
        "load_id": "L1",
        "format": "snippet",
    }
    none = {"value": None, "rating": None, "detail": None, "label": None}
    assert rum.rows(fields=f"{FIELDS}, app, load_id, label, detail, format") == [
        {**common, **none, "page": "/checkout", "metric": "pageview", "nav_type": "navigate"},
        {**common, "page": "/checkout", "metric": "inp", "value": 264.0,
         "rating": "needs-improvement", "nav_type": "navigate", "label": None,
         "detail": '{"interactionTarget":"#pay","interactionType":"pointer","inputDelay":12.5,'
                   '"processingDuration":200.0,"presentationDelay":51.5}'},
        {**common, **none, "page": "/checkout", "metric": "error", "nav_type": None,
         "label": "TypeError", "detail": '{"message":"cart is null","source":"app.js"}'},
        {**common, **none, "page": "/checkout", "metric": "task_begin", "nav_type": None,
         "label": "checkout"},
        {**common, **none, "page": "/orders/*", "metric": "task_complete", "nav_type": None,
         "label": "checkout"},
    ]  # fmt: skip
    dump = dump_database(rum.db)
    assert "4242424242424242" not in dump
    assert UA_IPHONE not in dump
    assert "iPhone OS" not in dump


def test_snippet_synthetic_flag_is_kept(start: Callable[..., Rum]) -> None:
    rum = start()
    body = snippet("sess-S", "S1", [{"k": "pageview", "id": "S1.1"}], syn=True)
    assert rum.post(body).status_code == 202
    assert rum.rows(fields="synthetic") == [{"synthetic": 1}]


def test_snippet_served_with_the_server_settings(start: Callable[..., Rum]) -> None:
    rum = start(app="shop-web", sample_rate=0.25, path="/rum/collect")
    r = httpx.get(f"{rum.url}/rum.js", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    first = r.text.splitlines()[0]
    assert first.startswith("window.__observerRumConfig=")
    assert json.loads(first.removeprefix("window.__observerRumConfig=").rstrip(";")) == {
        "path": "/rum/collect",
        "sampleRate": 0.25,
        "app": "shop-web",
    }
    assert "webVitals" in r.text and "sendBeacon" in r.text
    # The configured path is where beacons go; /beacon is no longer there.
    pv = snippet("s", "l", [{"k": "pageview", "id": "l.1"}])
    ok = httpx.post(f"{rum.url}/rum/collect", content=json.dumps(pv), timeout=10)
    assert ok.status_code == 202
    assert rum.post(pv).status_code == 404
    # The snippet's own app wins; beacons that carry none get rum.app.
    assert rum.rows(fields="app") == [{"app": "shop"}]
    assert httpx.post(f"{rum.url}/rum/collect", json=wv("LCP", 1, "x"), timeout=10).is_success
    assert rum.rows(fields="app")[-1] == {"app": "shop-web"}


def test_no_ip_address_or_user_agent_stored_anywhere(tmp_path: Path) -> None:
    config = {"rum": {"trust_forwarded": True}}
    with serving(tmp_path, config) as rum:
        headers = {"X-Forwarded-For": "203.0.113.77, 10.0.0.1", "Origin": "https://shop.example"}
        for k, ua in enumerate((UA_DESKTOP, UA_IPHONE, UA_PIXEL, UA_FIREFOX)):
            metric = {**LCP_WITH_ATTRIBUTION, "id": f"v6-ua-{k}"}
            assert rum.post(metric, ua=ua, headers=headers).status_code == 202
            assert rum.post(FARO, ua=ua, headers=headers).status_code == 202
            batch = snippet(f"s{k}", "l", SNIPPET_ITEMS)
            assert rum.post(batch, ua=ua, headers=headers).status_code == 202
        dump = dump_database(rum.db)
    assert rum.count() > 0
    for ua in (UA_DESKTOP, UA_IPHONE, UA_PIXEL, UA_FIREFOX):
        assert ua not in dump
    for fragment in ("Mozilla", "AppleWebKit", "127.0.0.1", "203.0.113.77", "10.0.0.1"):
        assert fragment not in dump
    assert {r["browser"] for r in rows(rum.db, "select distinct browser from beacons")} == {
        "Chrome",
        "Safari",
        "Firefox",
    }


# --------------------------------------------------------------------------- rejections


def test_origin_not_allowed_is_403_and_cors_on_every_answer_to_allowed_ones(
    start: Callable[..., Rum],
) -> None:
    shop = "https://shop.example"
    rum = start(allowed_origins=[shop, "https://www.shop.example"])
    metric = wv("LCP", 1000, "v6-o-1", navigationURL=f"{shop}/")
    evil = rum.post(metric, headers={"Origin": "https://evil.example"})
    assert_short_reason(evil, 403, "origin not allowed")
    assert "access-control-allow-origin" not in evil.headers
    pre = httpx.options(
        rum.beacon,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert pre.status_code == 403
    assert rum.count() == 0

    ok = rum.post(metric, headers={"Origin": shop})
    assert ok.status_code == 202
    assert ok.headers["access-control-allow-origin"] == shop
    assert ok.headers["vary"] == "Origin"
    wrong_type = rum.post(metric, ctype="application/xml", headers={"Origin": shop})
    assert_short_reason(wrong_type, 415, "unsupported Content-Type 'application/xml'")
    assert wrong_type.headers["access-control-allow-origin"] == shop
    not_json = rum.post(b"{oops", headers={"Origin": "https://www.shop.example"})
    assert_short_reason(not_json, 400, "body is not JSON")
    assert not_json.headers["access-control-allow-origin"] == "https://www.shop.example"
    # No Origin at all (a server-side sender): allowed, no CORS headers needed.
    assert rum.post(wv("LCP", 1000, "v6-o-2")).status_code == 202
    assert rum.count() == 2


def test_preflight_answered(start: Callable[..., Rum]) -> None:
    rum = start()
    r = httpx.options(
        rum.beacon,
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, content-encoding",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} >= {
        "POST",
        "OPTIONS",
    }
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert allowed >= {
        "content-type",
        "content-encoding",
        "idempotency-key",
        "x-faro-session-id",
        "x-api-key",
        "authorization",
    }
    assert r.content == b""


def test_api_key_required_and_checked_before_the_body_is_read(start: Callable[..., Rum]) -> None:
    key = "k3y-9f8e7d6c5b4a"
    rum = start(api_key=key, max_body="2KiB")
    metric = wv("LCP", 1000, "v6-k-1")
    missing = rum.post(metric, headers={"Origin": "https://shop.example"})
    assert_short_reason(missing, 401, "missing or wrong API key")
    assert missing.headers["access-control-allow-origin"] == "*"
    assert_short_reason(rum.post(metric, headers={"X-API-Key": "nope"}), 401, "API key")
    assert_short_reason(rum.post(metric, headers={"Authorization": "Bearer nope"}), 401, "key")
    assert_short_reason(rum.post(metric, params={"api_key": key[:-1]}), 401, "API key")
    assert rum.count() == 0
    assert rum.post(wv("LCP", 1, "a"), headers={"X-API-Key": key}).status_code == 202
    assert rum.post(wv("LCP", 2, "b"), headers={"Authorization": f"Bearer {key}"}).is_success
    assert rum.post(wv("LCP", 3, "c"), params={"api_key": key}).status_code == 202
    assert rum.count() == 3

    # A huge body without the key: 401, not 413, and answered without waiting for the body
    # (only the head is ever sent, so a server reading the body first would never answer).
    head = (
        b"POST /beacon HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    status, headers, body = raw_request(rum.url, head)
    assert headers["content-type"] == "application/json"
    assert status == 401
    assert json.loads(body) == {"error": "missing or wrong API key"}
    # With the key the same head is refused by its Content-Length instead.
    keyed = head.replace(b"\r\n\r\n", f"\r\nX-API-Key: {key}\r\n\r\n".encode())
    status, _, body = raw_request(rum.url, keyed)
    assert status == 413
    assert json.loads(body) == {"error": "body over 2048 bytes"}
    assert key not in dump_database(rum.db)


def test_rate_limit_429_with_retry_after_and_cors(start: Callable[..., Rum]) -> None:
    shop = "https://shop.example"
    rum = start(allowed_origins=[shop], rate_limit={"per_second": 0.05, "burst": 2})
    answers = []
    for i in range(4):  # the burst is 2, and a token takes 20 s to come back
        answers.append(rum.post(wv("LCP", 1000, f"v6-r-{i}"), headers={"Origin": shop}))
        if answers[-1].status_code == 429:
            break
    assert [a.status_code for a in answers[:2]] == [202, 202]
    limited = answers[-1]
    assert_short_reason(limited, 429, "too many requests")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["access-control-allow-origin"] == shop
    assert rum.count() == len(answers) - 1
    # The limit is checked before the body: a refused request stores nothing.
    assert rum.post(wv("LCP", 1, "late"), headers={"Origin": shop}).status_code == 429


def test_rate_limit_per_forwarded_address_behind_a_proxy(start: Callable[..., Rum]) -> None:
    rum = start(trust_forwarded=True, rate_limit={"per_second": 0.01, "burst": 1})

    def send(addr: str, n: int) -> int:
        metric = wv("LCP", 1000, f"v6-{addr}-{n}")
        return rum.post(metric, headers={"X-Forwarded-For": f"{addr}, 10.0.0.1"}).status_code

    assert send("198.51.100.1", 1) == 202
    assert send("198.51.100.1", 2) == 429
    assert send("198.51.100.2", 1) == 202  # another customer has a bucket of their own
    assert rum.count() == 2


def test_rate_limit_off(start: Callable[..., Rum]) -> None:
    rum = start(rate_limit="off")

    async def go() -> list[int]:
        async with httpx.AsyncClient(timeout=20) as client:
            sends = [
                client.post(rum.beacon, content=json.dumps(wv("LCP", 1, f"off-{i}")))
                for i in range(150)  # more than the default burst of 100, all at once
            ]
            return [r.status_code for r in await asyncio.gather(*sends)]

    assert asyncio.run(go()) == [202] * 150
    assert rum.count() == 150


def test_wrong_content_type_and_encoding_are_415(start: Callable[..., Rum]) -> None:
    rum = start()
    metric = wv("LCP", 1000, "v6-t-1")
    assert_short_reason(rum.post(metric, ctype="application/xml"), 415, "Content-Type")
    assert_short_reason(rum.post(metric, ctype="multipart/form-data; boundary=x"), 415, "Type")
    r = rum.post(metric, ctype=JSON_TYPE, headers={"Content-Encoding": "br"})
    assert_short_reason(r, 415, "unsupported Content-Encoding 'br'")
    assert rum.count() == 0
    # Both types a browser sends are fine, with or without a charset.
    assert rum.post(metric, ctype="application/json; charset=utf-8").status_code == 202
    assert rum.post(wv("LCP", 1000, "v6-t-2"), ctype="text/plain").status_code == 202


def test_body_too_large_by_content_length(start: Callable[..., Rum]) -> None:
    rum = start(max_body="2KiB")
    big = [wv("LCP", 1000 + i, f"v6-big-{i}") for i in range(40)]
    body = json.dumps(big).encode()
    assert len(body) > 2048
    r = rum.post(body, ctype=JSON_TYPE, headers={"Origin": "https://shop.example"})
    assert_short_reason(r, 413, "body over 2048 bytes")
    assert r.headers["access-control-allow-origin"] == "*"
    assert rum.count() == 0
    small = json.dumps(big[:5]).encode()
    assert len(small) <= 2048
    assert rum.post(small, ctype=JSON_TYPE).json() == {"accepted": 5, "dropped": 0}


def test_body_too_large_while_streaming_without_content_length(start: Callable[..., Rum]) -> None:
    rum = start(max_body="2KiB")

    def chunks() -> Iterator[bytes]:
        body = json.dumps([wv("LCP", 1000 + i, f"v6-chunk-{i}") for i in range(40)]).encode()
        for i in range(0, len(body), 512):
            yield body[i : i + 512]

    r = httpx.post(rum.beacon, content=chunks(), headers={"Content-Type": JSON_TYPE}, timeout=10)
    assert_short_reason(r, 413, "body over 2048 bytes")
    assert r.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in r.request.headers
    assert rum.count() == 0

    def small() -> Iterator[bytes]:
        yield json.dumps([wv("LCP", 1000, "v6-chunk-ok")]).encode()

    ok = httpx.post(rum.beacon, content=small(), headers={"Content-Type": JSON_TYPE}, timeout=10)
    assert ok.status_code == 202
    assert rum.count() == 1


def test_gzip_bomb_is_413_and_gzip_within_the_limit_is_fine(start: Callable[..., Rum]) -> None:
    rum = start(max_body="2KiB")
    bomb = gzip.compress(b"[" + b" " * 1_500_000 + b"]")
    assert len(bomb) < 2048  # small on the wire, 1.5 MB inflated
    r = rum.post(bomb, ctype=JSON_TYPE, headers={"Content-Encoding": "gzip"})
    assert_short_reason(r, 413, "once decompressed")
    # Just over the limit once inflated is over; a real batch that inflates under it is fine.
    over = gzip.compress(json.dumps([wv("LCP", 1, "x")]).encode().ljust(2049))
    r = rum.post(over, ctype=JSON_TYPE, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413
    fits = json.dumps([wv("LCP", 1000 + i, f"v6-gz-{i}") for i in range(10)]).encode()
    assert len(fits) <= 2048
    r = rum.post(gzip.compress(fits), ctype=JSON_TYPE, headers={"Content-Encoding": "gzip"})
    assert r.json() == {"accepted": 10, "dropped": 0}
    not_gzip = rum.post(b"plain text", ctype=JSON_TYPE, headers={"Content-Encoding": "gzip"})
    assert_short_reason(not_gzip, 400, "not valid gzip")
    assert rum.count() == 10


def nested(levels: int) -> Any:
    """JSON with `levels` nested containers: a metric whose attribution goes deep."""
    inner: Any = {"x": 1}
    for _ in range(levels - 2):
        inner = {"x": inner}
    return wv("LCP", 1000, f"deep-{levels}", attribution=inner)  # metric, attribution, ...


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{this is not json", "body is not JSON"),
        (b"\xff\xfe{\x00}\x00", "body is not UTF-8"),
        (b'{"name": "LCP", "value": NaN, "id": "n"}', "body is not JSON"),
        (b'[{"name": "CLS", "value": Infinity, "id": "i"}]', "body is not JSON"),
        (b'{"name": "LCP", "value": -Infinity}', "body is not JSON"),
        (b"", "empty body"),
        (b"   ", "empty body"),
        (b'{"hello": "world"}', "unknown payload"),
        (b"[]", "unknown payload"),
        (b"42", "unknown payload"),
        (b'{"observer": 2, "items": []}', "unknown payload"),
        (b'{"name": "FID", "value": 12}', "unknown payload"),
        (json.dumps(nested(21)).encode(), "nested too deeply"),
        (b"[" * 5000 + b"]" * 5000, "body is not JSON"),
        (json.dumps([wv("LCP", 1, f"m{i}") for i in range(1001)]).encode(), "more than 1000"),
        (
            json.dumps([wv("LCP", -5, "a"), wv("CLS", 1000, "b"), wv("LCP", 1e9, "c")]).encode(),
            "no valid items (3 dropped: lcp value -5 is outside 0..600000)",
        ),
        (
            json.dumps(snippet("s", "l", [{"k": "task", "phase": "begin"}, {"k": "nope"}])),
            "no valid items (2 dropped",
        ),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "nan",
        "infinity",
        "minus-infinity",
        "empty",
        "blank",
        "unknown-object",
        "empty-array",
        "bare-number",
        "snippet-version-2",
        "unknown-metric",
        "nested-21",
        "nested-5000",
        "1001-items",
        "all-implausible",
        "all-snippet-items-invalid",
    ],
)
def test_bad_bodies_are_400_with_a_short_reason(
    start: Callable[..., Rum], body: bytes | str, reason: str
) -> None:
    rum = start(max_body="1MiB")
    raw = body if isinstance(body, bytes) else body.encode()
    assert_short_reason(rum.post(raw), 400, reason)
    assert rum.count() == 0


def test_nesting_of_twenty_is_accepted(start: Callable[..., Rum]) -> None:
    rum = start()
    body = json.dumps(nested(20))
    assert body.count("{") == 20
    assert rum.post(body.encode()).json() == {"accepted": 1, "dropped": 0}


def test_partial_batch_stores_the_valid_items_and_counts_the_rest(
    start: Callable[..., Rum],
) -> None:
    rum = start()
    url = "https://shop.example/"
    batch = [
        wv("LCP", 1800, "p-1", navigationURL=url),
        wv("LCP", -1, "p-2", navigationURL=url),  # negative
        wv("CLS", 1000, "p-3", navigationURL=url),  # past 100
        wv("LCP", 1e9, "p-4", navigationURL=url),  # past ten minutes
        wv("FCP", "fast", "p-5", navigationURL=url),  # not a number
        wv("TTFB", 600_000, "p-6", navigationURL=url),  # ten minutes exactly: the edge is in
        wv("CLS", 0, "p-7", navigationURL=url),
        {"name": "FID", "value": 12},  # not a web-vitals metric of ours
        "LCP",
    ]
    r = rum.post(batch, ctype=JSON_TYPE)
    assert r.status_code == 202
    assert r.json() == {"accepted": 3, "dropped": 6}
    assert rum.rows(fields="metric, value, rating") == [
        {"metric": "lcp", "value": 1800.0, "rating": "good"},
        {"metric": "ttfb", "value": 600000.0, "rating": "poor"},
        {"metric": "cls", "value": 0.0, "rating": "good"},
    ]
    items = [
        {"k": "pageview", "id": "q.1"},
        {"k": "task", "id": "q.2", "phase": "begin"},  # no task name
        {"k": "task", "id": "q.3", "phase": "halfway", "task": "checkout"},
        {"k": "vital", "id": "q.4", "n": "FID", "v": 3},
        {"k": "vital", "id": "q.5", "n": "LCP", "v": -3},
        {"k": "mystery", "id": "q.6"},
        7,
    ]
    r = rum.post(snippet("sess-q", "q", items))
    assert r.json() == {"accepted": 1, "dropped": 6}
    assert rum.count() == 4


# --------------------------------------------------------------------------- duplicates


def test_same_web_vitals_id_twice_is_one_row_and_a_later_value_updates_it(
    start: Callable[..., Rum],
) -> None:
    rum = start()
    url = "https://shop.example/products/1"
    first = wv("CLS", 0.05, "v6-1732-dup", rating="good", navigationURL=url)
    assert rum.post(first).status_code == 202
    assert rum.post(first).status_code == 202  # a resend
    assert rum.rows(fields="metric, value, rating") == [
        {"metric": "cls", "value": 0.05, "rating": "good"}
    ]
    grown = wv("CLS", 0.3, "v6-1732-dup", navigationURL=url)  # reportAllChanges, no rating
    assert rum.post(grown).status_code == 202
    assert rum.rows(fields="metric, value, rating") == [
        {"metric": "cls", "value": 0.3, "rating": "poor"}
    ]
    assert rum.post(wv("CLS", 0.01, "v6-1732-other", navigationURL=url)).status_code == 202
    assert rum.count() == 2


def test_same_snippet_item_ids_twice_are_one_row_each(start: Callable[..., Rum]) -> None:
    rum = start()
    body = snippet("sess-D", "D1", SNIPPET_ITEMS)
    assert rum.post(body).json() == {"accepted": 5, "dropped": 0}
    stored = rum.rows()
    assert rum.post(body).status_code == 202
    assert rum.rows() == stored
    # The same item ids in another session are other items.
    assert rum.post(snippet("sess-E", "D1", SNIPPET_ITEMS)).status_code == 202
    assert rum.count() == 10


# --------------------------------------------------------------------------- acknowledged


def test_acknowledged_count_equals_stored_rows_under_concurrency(
    start: Callable[..., Rum],
) -> None:
    rum = start(rate_limit="off")
    total = 300

    def request(i: int) -> tuple[str, bytes, dict[str, str], int]:
        n = i % 5 + 1
        if i % 3 == 0:
            body = [wv("LCP", 100 + j, f"c-{i}-{j}") for j in range(n)]
            return JSON_TYPE, json.dumps(body).encode(), {}, n
        if i % 3 == 1:
            items = [{"k": "vital", "id": f"c{i}.{j}", "n": "FCP", "v": 50 + j} for j in range(n)]
            return TEXT, json.dumps(snippet(f"c-{i}", f"c{i}", items)).encode(), {}, n
        faro = {
            "meta": {"session": {"id": f"c-{i}"}, "page": {"url": "https://shop.example/"}},
            "events": [{"name": "faro.page_view"}] * n,
            "logs": [{"message": "ignored"}],
        }
        body = gzip.compress(json.dumps(faro).encode())
        headers = {"Content-Encoding": "gzip", "Idempotency-Key": f"c-{i}"}
        return JSON_TYPE, body, headers, n

    planned = [request(i) for i in range(total)]

    async def go() -> list[httpx.Response]:
        limit = asyncio.Semaphore(48)
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=48)) as client:

            async def one(ctype: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
                async with limit:
                    return await client.post(
                        rum.beacon, content=body, headers={"Content-Type": ctype, **headers}
                    )

            return await asyncio.gather(*(one(c, b, h) for c, b, h, _ in planned))

    answers = asyncio.run(go())
    assert [a.status_code for a in answers] == [202] * total
    for answer, (*_, n) in zip(answers, planned, strict=True):
        assert answer.json() == {"accepted": n, "dropped": 0}
    acknowledged = sum(a.json()["accepted"] for a in answers if a.is_success)
    assert acknowledged == sum(n for *_, n in planned) == rum.count()


# --------------------------------------------------------------------------- budgets (CLI)

DESKTOP_CHECKOUT_LCP = [2100, 1200, 5000, 1800, 2700, 1500, 3000, 2400]
MOBILE_PRODUCT_LCP = [4400, 6000, 4000]


def test_field_budgets_over_known_beacons(tmp_path: Path) -> None:
    config = {
        "rum": {"rate_limit": "off"},
        "budgets": [
            {"name": "field lcp", "source": "rum", "metric": "lcp", "threshold": "p75 < 2.5s"},
            {"name": "checkout lcp", "source": "rum", "metric": "lcp", "page": "/checkout*",
             "threshold": "p75 < 2.5s"},
            {"name": "mobile lcp", "source": "rum", "metric": "lcp", "device": "mobile",
             "threshold": "p75 < 6s"},
            {"name": "field errors", "source": "rum", "metric": "error_rate",
             "threshold": "rate < 30%"},
            {"name": "nobody here", "source": "rum", "metric": "lcp", "page": "/account",
             "threshold": "p75 < 2.5s"},
        ],
    }  # fmt: skip
    with serving(tmp_path, config) as rum:
        for i, value in enumerate(DESKTOP_CHECKOUT_LCP):
            url = f"https://shop.example/checkout?step={i}"
            metric = wv("LCP", value, f"d-{i}", navigationURL=url)
            assert rum.post(metric, ua=UA_DESKTOP).status_code == 202
        for i, value in enumerate(MOBILE_PRODUCT_LCP):
            metric = wv("LCP", value, f"m-{i}", navigationURL="https://shop.example/products/3")
            assert rum.post(metric, ua=UA_PIXEL).status_code == 202
        # Eight real page loads; two of them (L2 with two errors, L5) had an uncaught error.
        for n in range(1, 9):
            items = [{"k": "pageview", "id": f"L{n}.1"}]
            if n == 2:
                items += [{"k": "error", "id": "L2.2", "msg": "a"}, {"k": "error", "id": "L2.3"}]
            if n == 5:
                items.append({"k": "error", "id": "L5.2", "msg": "b"})
            assert rum.post(snippet(f"s{n}", f"L{n}", items)).status_code == 202
        # An error from a load whose page view never arrived is not a page load.
        orphan = snippet("s9", "L9", [{"k": "error", "id": "L9.1", "msg": "c"}])
        assert rum.post(orphan).status_code == 202
        # observer's own journeys: terrible numbers and errors, all synthetic, all ignored.
        synthetic = [
            {"k": "pageview", "id": "Y.1"},
            {"k": "error", "id": "Y.2", "msg": "lab"},
            {"k": "vital", "id": "Y.3", "n": "LCP", "v": 60000,
             "u": "https://shop.example/checkout"},
        ]  # fmt: skip
        assert rum.post(snippet("syn", "Y", synthetic, syn=True)).status_code == 202
        mobile = [{"k": "vital", "id": "Z.1", "n": "LCP", "v": 100,
                   "u": "https://shop.example/products/3"}]  # fmt: skip
        assert rum.post(snippet("syn", "Z", mobile, syn=True), ua=UA_PIXEL).status_code == 202
    assert rows(rum.db, "select count(*) as n from beacons where synthetic = 1") == [{"n": 4}]

    # The values by hand, judged by their point estimates (the interval is tested below).
    done = observer("budgets", str(rum.file), "--db", str(rum.db), "--json", "--confidence", "off")
    assert done.code == 1, done.stderr  # the LCP budgets fail
    verdicts = {v["name"]: v for v in done.json()["budgets"]}
    # p75 by linear interpolation, rank = (n - 1) * 0.75 over the sorted values:
    # all 11 real LCPs: 1200 1500 1800 2100 2400 2700 3000 4000 4400 5000 6000
    #   rank 7.5 -> 4000 + 0.5 * (4400 - 4000) = 4200
    # the 8 on /checkout: 1200 1500 1800 2100 2400 2700 3000 5000
    #   rank 5.25 -> 2700 + 0.25 * (3000 - 2700) = 2775
    # the 3 on mobile: 4000 4400 6000
    #   rank 1.5 -> 4400 + 0.5 * (6000 - 4400) = 5200
    expected = {
        "field lcp": (4200.0, 11, "fail"),
        "checkout lcp": (2775.0, 8, "fail"),
        "mobile lcp": (5200.0, 3, "pass"),
        "field errors": (0.25, 8, "pass"),  # 2 errored loads / 8 loads
        "nobody here": (None, 0, "inconclusive"),
    }
    for name, (value, samples, outcome) in expected.items():
        v = verdicts[name]
        assert v["source"] == "rum"
        assert (v["value"], v["samples"], v["outcome"]) == (value, samples, outcome), name
    assert verdicts["mobile lcp"]["device"] == "mobile"
    assert verdicts["checkout lcp"]["page"] == "/checkout*"
    # By default real-user budgets are judged by their interval, as serve judges them: the 11
    # LCPs show a breach (the p75's lower bound, the 6th of 11, 2.7 s, is past 2.5 s), while
    # 8 on /checkout cannot tell (the bound, 2.1 s, is within it).
    done = observer("budgets", str(rum.file), "--db", str(rum.db), "--json")
    judged = {v["name"]: v for v in done.json()["budgets"]}
    assert judged["field lcp"]["outcome"] == "fail", judged["field lcp"]
    assert judged["checkout lcp"]["outcome"] == "inconclusive", judged["checkout lcp"]
    assert judged["checkout lcp"]["interval"]["low"] < 2500 < judged["checkout lcp"]["value"]


# --------------------------------------------------------------------------- the daemon


@contextlib.contextmanager
def daemon(folder: Path, config: dict[str, Any]) -> Iterator[tuple[subprocess.Popen[str], Rum]]:
    """A real `observer serve FILE --port P --db DB` child process."""
    file = write_config(folder, config)
    db = folder / "served.db"
    port = free_port()
    proc = subprocess.Popen(
        [*OBSERVER, "serve", str(file), "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rum = Rum(f"http://127.0.0.1:{port}", db, file)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, proc.communicate()
            with contextlib.suppress(httpx.HTTPError):
                return httpx.get(f"{rum.url}/healthz", timeout=2).status_code == 200
            return False

        poll(healthy, "observer serve to answer /healthz")
        yield proc, rum
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sigterm_while_requests_are_in_flight(tmp_path: Path) -> None:
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (proc, rum):
        health = httpx.get(f"{rum.url}/healthz", timeout=5).json()
        assert health["status"] == "ok"
        total = 400

        async def go() -> list[httpx.Response | BaseException]:
            answered = asyncio.Event()
            count = 0
            limit = asyncio.Semaphore(40)
            async with httpx.AsyncClient(
                timeout=20, limits=httpx.Limits(max_connections=40)
            ) as client:

                async def one(i: int) -> httpx.Response:
                    nonlocal count
                    items = [{"k": "pageview", "id": f"t{i}.1"}, {"k": "task", "id": f"t{i}.2",
                             "phase": "begin", "task": "checkout"}]  # fmt: skip
                    async with limit:
                        r = await client.post(
                            rum.beacon, content=json.dumps(snippet(f"term-{i}", f"t{i}", items))
                        )
                    count += 1
                    if count == 40:
                        answered.set()
                    return r

                async def terminate() -> None:
                    await answered.wait()
                    proc.send_signal(signal.SIGTERM)

                killer = asyncio.ensure_future(terminate())
                results = await asyncio.gather(
                    *(one(i) for i in range(total)), return_exceptions=True
                )
                await killer
                return results

        results = asyncio.run(go())
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert "beacons flushed" in err
    acknowledged = [
        i for i, r in enumerate(results) if isinstance(r, httpx.Response) and r.is_success
    ]
    assert len(acknowledged) >= 40
    for r in results:
        assert not isinstance(r, httpx.Response) or r.status_code in (202, 503), r
    stored = {
        r["session"]: r["n"]
        for r in rows(rum.db, "select session, count(*) as n from beacons group by session")
    }
    missing = [i for i in acknowledged if stored.get(f"term-{i}") != 2]
    assert not missing, f"acknowledged but not stored: {missing}"


def test_prune_deletes_beacons_past_retention(tmp_path: Path) -> None:
    file = write_config(tmp_path, {"rum": {"retention": "7d"}})
    db = tmp_path / "prune.db"
    now = time.time()
    day = 86400.0

    def row(age_days: float, n: int) -> BeaconRow:
        return BeaconRow(
            received_at=now - age_days * day,
            metric="lcp",
            app="shop",
            page="/",
            value=1000.0 + n,
            rating="good",
            nav_type="navigate",
            device="desktop",
            browser="Chrome",
            session=f"s{n}",
            load_id=f"l{n}",
            format="web-vitals",
            dedupe=f"wv:{n}",
        )

    with SQLiteStore(db) as store:
        written = store.insert_beacons(
            [row(30, 1), row(8, 2), row(7.01, 3), row(6.9, 4), row(1, 5), row(0, 6)]
        )
        assert written == 6
    done = observer("prune", str(file), "--db", str(db))
    assert done.code == 0, done.stderr
    assert "3 beacons older than 7 days deleted" in done.stdout
    assert [r["session"] for r in rows(db, "select session from beacons order by id")] == [
        "s4",
        "s5",
        "s6",
    ]


# --------------------------------------------------------------------------- real Chromium


@contextlib.contextmanager
def shop_with_snippet(
    folder: Path, config: dict[str, Any] | None = None, probes: Callable[[str], Any] | None = None
) -> Iterator[tuple[ShopServer, Rum, Any]]:
    """observer's server and the demo shop whose pages load its /rum.js."""
    server = BackgroundServer()
    with ShopServer(rum_script=f"{server.url}/rum.js") as shop:
        cfg = dict(config or {})
        if probes is not None:
            cfg["probes"] = probes(shop.url)
        file = write_config(folder, cfg)
        project = load_project(file)
        store = SQLiteStore(folder / "rum.db")
        try:
            server.start(create_app(project, store))
            yield shop, Rum(server.url, store.path, file), project
        finally:
            server.stop()
            store.close()


def test_real_chromium_on_the_demo_shop_sends_vitals_and_a_pageview(tmp_path: Path) -> None:
    with shop_with_snippet(tmp_path) as (shop, rum, _):

        async def visit(browser: Any) -> str:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{shop.url}/products/1?ref=newsletter")
            ua = await page.evaluate("navigator.userAgent")
            await page.click("h1")  # an interaction
            await page.goto("about:blank")  # leaving hides the page: the snippet sends
            want = {"lcp", "fcp", "ttfb", "cls", "pageview"}
            await apoll(
                lambda: want <= {r["metric"] for r in rum.rows("page = '/products/1'")},
                "the snippet's beacons",
            )
            await context.close()
            return str(ua)

        ua = with_browser(visit)
        got = rum.rows("page = '/products/1'", fields=f"{FIELDS}, format, load_id")
        dump = dump_database(rum.db)
    by_metric = {r["metric"]: r for r in got}
    assert len(got) == len(by_metric), "each metric once"
    sessions = {r["session"] for r in got}
    assert len(sessions) == 1 and None not in sessions
    assert len({r["load_id"] for r in got}) == 1
    for r in got:
        assert r["synthetic"] == 0
        assert r["device"] == "desktop"
        assert r["browser"] in ("Chrome", "HeadlessChrome")
        assert r["format"] == "snippet"
    for metric in ("lcp", "fcp", "ttfb"):
        assert by_metric[metric]["value"] > 0
        assert by_metric[metric]["rating"] in ("good", "needs-improvement", "poor")
    assert by_metric["cls"]["value"] >= 0
    assert by_metric["lcp"]["value"] >= by_metric["fcp"]["value"]
    assert by_metric["pageview"]["nav_type"] == "navigate"
    assert by_metric["pageview"]["value"] is None
    assert ua not in dump
    assert "newsletter" not in dump


def test_real_checkout_flow_completes_the_task(tmp_path: Path) -> None:
    config = {
        "budgets": [
            {"name": "checkout completes", "source": "rum", "metric": "completion:checkout",
             "threshold": "rate >= 90%"},
        ]
    }  # fmt: skip
    with shop_with_snippet(tmp_path, config) as (shop, rum, project):

        async def buy(browser: Any) -> None:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{shop.url}/products/2")
            await page.click("text=Add to cart")
            await page.goto(f"{shop.url}/checkout")
            await page.fill("#address", "42 Demo Road")
            await page.click("text=Place order")
            await page.wait_for_url("**/orders/*")
            await page.goto("about:blank")
            await apoll(lambda: len(rum.rows("metric like 'task_%'")) == 2, "both task milestones")
            await context.close()

        with_browser(buy)
        tasks = rum.rows("metric like 'task_%'", fields="metric, page, label, session, synthetic")
        tasks.sort(key=lambda t: t["metric"])
        with SQLiteStore(rum.db) as store:
            (verdict,) = evaluate(project.budgets, store)
    assert [(t["metric"], t["page"], t["label"]) for t in tasks] == [
        ("task_begin", "/checkout", "checkout"),
        ("task_complete", "/orders/1", "checkout"),
    ]
    assert len({t["session"] for t in tasks}) == 1
    assert all(t["synthetic"] == 0 for t in tasks)
    assert verdict.source == "rum"
    assert (verdict.value, verdict.samples, str(verdict.outcome)) == (1.0, 1, "pass")


def test_observer_journey_beacons_are_synthetic_and_real_user_budgets_ignore_them(
    tmp_path: Path,
) -> None:
    config = {
        "budgets": [
            {"name": "field lcp", "source": "rum", "metric": "lcp", "threshold": "p75 < 2.5s"},
            {"name": "field lcp on product 1", "source": "rum", "metric": "lcp",
             "page": "/products/1", "threshold": "p75 < 2.5s"},
        ]
    }  # fmt: skip

    def probes(base: str) -> list[dict[str, Any]]:
        return [
            {
                "name": "product",
                "journey": [{"goto": f"{base}/products/1"}, {"click": "h1"}],
            }
        ]

    with shop_with_snippet(tmp_path, config, probes) as (_shop, rum, project):
        # One real user elsewhere, with a known LCP.
        real = wv("LCP", 1000, "real-1", navigationURL="https://shop.example/")
        assert rum.post(real).status_code == 202
        (result,) = asyncio.run(run_all(project, project.probes))
        assert str(result.outcome) == "pass", result.error
        poll(
            lambda: (
                {"lcp", "pageview"}
                <= {r["metric"] for r in rum.rows("page = '/products/1' and synthetic = 1")}
            ),
            "the journey's beacons",
        )
        with SQLiteStore(rum.db) as store:
            verdicts = {v.name: v for v in evaluate(project.budgets, store)}
    journey = rum.rows("page = '/products/1'")
    assert journey and all(r["synthetic"] == 1 for r in journey)
    assert all(r["session"] for r in journey)
    assert rum.rows("synthetic = 0", fields="metric, value") == [{"metric": "lcp", "value": 1000.0}]
    field = verdicts["field lcp"]
    assert (field.value, field.samples, str(field.outcome)) == (1000.0, 1, "pass")
    product = verdicts["field lcp on product 1"]
    assert (product.value, product.samples, str(product.outcome)) == (None, 0, "inconclusive")


PLAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plain web-vitals</title>
<script src="/web-vitals.iife.js"></script>
<script>
function sendToAnalytics(metric) {
  const body = JSON.stringify(metric);
  (navigator.sendBeacon && navigator.sendBeacon('BEACON', body)) ||
    fetch('BEACON', {body, method: 'POST', keepalive: true});
}
webVitals.onCLS(sendToAnalytics);
webVitals.onINP(sendToAnalytics);
webVitals.onLCP(sendToAnalytics);
webVitals.onFCP(sendToAnalytics);
webVitals.onTTFB(sendToAnalytics);
</script></head>
<body><h1>A page measured with web-vitals as its README says</h1>
<p>Nothing else on it but this paragraph and a button.</p>
<button id="slow" onclick="const t = performance.now(); while (performance.now() - t < 120) {}">
Slow button</button>
</body></html>
"""


# Resolves once web-vitals has taken in the slow click: its observer (registered first) has
# been called with the entry and queued its processing in an idle callback (at most 1 s), so an
# idle callback queued after it with the same timeout runs after it. Leaving before that loses
# INP: web-vitals reports on hidden before it runs the entries it queued.
INTERACTION_TIMED = """() => new Promise(resolve => {
  new PerformanceObserver((list, observer) => {
    const slow = e => e.interactionId && e.name === 'click' && e.duration >= 100;
    if (list.getEntries().some(slow)) {
      observer.disconnect();
      requestIdleCallback(() => resolve(true), {timeout: 1000});
    }
  }).observe({type: 'event', buffered: true, durationThreshold: 16});
})"""


def test_unmodified_web_vitals_library_with_its_readme_pattern(tmp_path: Path) -> None:
    with serving(tmp_path, {"rum": {}}) as rum:
        html = PLAIN_PAGE.replace("BEACON", rum.beacon)

        async def page_route(request: Any) -> HTMLResponse:
            return HTMLResponse(html)

        async def library(request: Any) -> FileResponse:
            return FileResponse(WEB_VITALS_IIFE, media_type="application/javascript")

        site = BackgroundServer()
        site.start(
            Starlette(
                routes=[
                    Route("/plain.html", page_route),
                    Route("/web-vitals.iife.js", library),
                ]
            )
        )
        try:

            async def visit(browser: Any) -> None:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(f"{site.url}/plain.html?email=someone%40example.com")
                await page.click("#slow")
                # INP needs the interaction's event timing entry (it comes after the next
                # paint) taken in by web-vitals: wait for that, then leave.
                await asyncio.wait_for(page.evaluate(INTERACTION_TIMED), 10)
                await page.goto("about:blank")
                want = {"lcp", "fcp", "ttfb", "cls", "inp"}
                await apoll(lambda: want <= {r["metric"] for r in rum.rows()}, "web-vitals beacons")
                await context.close()

            with_browser(visit)
        finally:
            site.stop()
        got = rum.rows(fields=f"{FIELDS}, format, dedupe, load_id")
    assert {r["metric"] for r in got} == {"lcp", "fcp", "ttfb", "cls", "inp"}
    for r in got:
        assert r["format"] == "web-vitals"
        assert r["page"] == "/plain.html"
        assert r["synthetic"] == 0
        assert r["device"] == "desktop"
        assert r["browser"] in ("Chrome", "HeadlessChrome")
        assert r["session"] is None
        assert r["dedupe"].startswith("wv:v6-")
        assert r["rating"] in ("good", "needs-improvement", "poor")
    inp = next(r for r in got if r["metric"] == "inp")
    assert inp["value"] >= 120  # the handler blocked the main thread that long
    assert "someone" not in dump_database(rum.db)


def test_sqlite_file_is_readable_while_the_server_writes(start: Callable[..., Rum]) -> None:
    rum = start()
    assert rum.post(wv("LCP", 1, "w-1")).status_code == 202
    conn = sqlite3.connect(rum.db)
    try:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert conn.execute("select count(*) from beacons").fetchone()[0] == 1
    finally:
        conn.close()
