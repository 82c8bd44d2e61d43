"""Turning request bodies into rows, and writing them with group commit: 2xx means stored."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..store.rows import BeaconRow
from . import faro, snippet, webvitals
from .agent import browser_family, device_class
from .model import BeaconError, Context, Item, ItemError, check
from .pages import Pages

if TYPE_CHECKING:
    from ..store import Store

MAX_ITEMS = 1000  # per request: more is not a browser
MAX_DEPTH = 20


def decode_body(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo Content-Encoding gzip/deflate, refusing to inflate past the limit (413)."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        return raw
    if enc not in ("gzip", "deflate", "x-gzip"):
        raise BeaconError(f"unsupported Content-Encoding {enc[:20]!r}", 415)
    try:
        inflater = zlib.decompressobj(wbits=47 if enc != "deflate" else 15)
        out = inflater.decompress(raw, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise BeaconError(f"body over {limit} bytes once decompressed", 413)
        out += inflater.flush()
    except zlib.error:
        raise BeaconError(f"body is not valid {enc}") from None
    if len(out) > limit:
        raise BeaconError(f"body over {limit} bytes once decompressed", 413)
    return out


def _depth(data: Any, limit: int = MAX_DEPTH) -> int:
    stack = [(data, 1)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        if not isinstance(node, dict | list):
            continue  # a value is not a level of nesting: 20 nested containers are allowed
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(node, dict):
            stack.extend((v, d + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, d + 1) for v in node)
    return deepest


def parse_body(body: bytes, ctx: Context) -> tuple[list[Item], list[str]]:
    """(valid items, reasons for dropped ones); BeaconError if the body is unusable."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BeaconError("body is not UTF-8") from None
    if not text.strip():
        raise BeaconError("empty body")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise BeaconError("body is not JSON") from None
    # Nesting cannot be deeper than the brackets in the text (counted at C speed): only a body
    # with many of them is walked.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise BeaconError("JSON nested too deeply")
    if snippet.looks_like(data):
        parsed = snippet.parse(data, ctx)
    elif faro.looks_like(data):
        parsed = faro.parse(data, ctx)
    elif webvitals.looks_like(data):
        parsed = webvitals.parse(data, ctx)
    else:
        raise BeaconError("unknown payload: not web-vitals, Faro or observer snippet")
    if len(parsed) > MAX_ITEMS:
        raise BeaconError(f"more than {MAX_ITEMS} items in one request")  # 400, as documented
    items: list[Item] = []
    dropped: list[str] = []
    for entry in parsed:
        if isinstance(entry, Exception):
            dropped.append(str(entry))
            continue
        try:
            items.append(check(entry))
        except ItemError as exc:
            dropped.append(str(exc))
    return items, dropped


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python accepts them, JSON does not


@dataclass
class Counters:
    """What the ingest path did, for /metrics and the logs."""

    accepted: int = 0
    dropped: int = 0
    rejected: dict[int, int] = field(default_factory=dict)
    batches: int = 0

    def reject(self, status: int) -> None:
        """Count a refused request by status."""
        self.rejected[status] = self.rejected.get(status, 0) + 1


class RateLimiter:
    """A token bucket per client address, with a bounded number of addresses remembered."""

    def __init__(self, per_second: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = per_second
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> float:
        """0 when allowed; otherwise seconds until a token is there (for Retry-After)."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait


class Ingestor:
    """Group commit: requests share one transaction and wait for it before answering."""

    def __init__(
        self, store: Store, pages: Pages, *, default_app: str | None = None, max_wait: float = 0.0
    ) -> None:
        self.store = store
        self.pages = pages
        self.default_app = default_app
        self.max_wait = max_wait
        self.counters = Counters()
        self._pending: list[tuple[list[BeaconRow], asyncio.Future[int]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._writer())

    def rows(self, items: list[Item], ctx: Context) -> list[BeaconRow]:
        """Items as beacon rows: page named, UA reduced to family and class."""
        browser = browser_family(ctx.user_agent)
        device = device_class(ctx.user_agent)
        referer_page = self.pages.name(ctx.referer)
        return [
            BeaconRow(
                received_at=ctx.received_at,
                metric=it.metric,
                app=it.app or self.default_app,
                page=self.pages.name(it.page_url) if it.page_url else referer_page,
                value=it.value,
                rating=it.rating,
                nav_type=it.nav_type,
                device=it.device or device,
                browser=it.browser or browser,
                session=it.session,
                load_id=it.load_id,
                synthetic=it.synthetic,
                label=it.label,
                detail=it.detail,
                format=it.format,
                dedupe=it.dedupe,
            )
            for it in items
        ]

    async def submit(self, rows: list[BeaconRow]) -> int:
        """Queue rows and return once they are committed (raises if the write failed)."""
        if self._closing:
            raise BeaconError("shutting down", 503)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, fut))
        self._wake.set()
        return await fut

    async def _writer(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            # Requests that arrive while a commit runs wait for the next one, so batches grow
            # with the load by themselves; max_wait adds a deliberate pause for company.
            await asyncio.sleep(self.max_wait if not self._closing else 0)
            batch, self._pending = self._pending, []
            rows = [row for r, _ in batch for row in r]
            try:
                await asyncio.to_thread(self.store.insert_beacons, rows)
            except Exception as exc:  # the database is gone or locked past the timeout
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            self.counters.batches += 1
            for r, fut in batch:
                if not fut.done():
                    fut.set_result(len(r))

    async def close(self) -> None:
        """Write everything pending, then stop the writer."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
