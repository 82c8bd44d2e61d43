"""Throttling a journey's network and CPU through the Chrome DevTools Protocol, on every page
it opens, popups included.

Network.emulateNetworkConditions and Emulation.setCPUThrottlingRate act on one page (one CDP
target). The journey's first page is throttled before its first step. A page opened later (a
popup, `target=_blank`) is a new target: Playwright reports it only once its first request is
on the way, and a throttle set then comes too late for that document and whatever it fetches
at once. So throttled journeys run in a browser of their own, where a browser-wide Fetch
interception holds each new page's document request until that page has been throttled.
Only document requests are held; every other request, and every journey that is not
throttled, never waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from typing import TYPE_CHECKING, Any

from .results import ObserverError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, CDPSession, Page

    from .conditions import Conditions


# Each throttled browser's holder, found by the browser (runner.BrowserPool launches both).
_HOLDERS: weakref.WeakKeyDictionary[Browser, Holder] = weakref.WeakKeyDictionary()


def holder_of(browser: Browser) -> Holder | None:
    """The holder of a browser started for throttled journeys (None: any other browser)."""
    return _HOLDERS.get(browser)


class Holder:
    """One throttled browser's interception of new pages' documents (see the module's doc).

    Playwright reports a new page only once its document has been answered, so the holder
    throttles a held page itself, over a session of its own to that page: attached unflattened
    (its messages go through Target.sendMessageToTarget, as Playwright's client cannot address
    a flat session), and kept attached, since a page's emulation lasts as long as the session
    that set it.
    """

    def __init__(self, session: CDPSession) -> None:
        self.session = session
        self.contexts: dict[str, Conditions] = {}  # browser context -> its journey's conditions
        self.done: set[str] = set()  # targets throttled
        self.opened: dict[str, set[str]] = {}  # browser context -> the pages the holder did
        self._tasks: set[asyncio.Task[None]] = set()
        self._next = 0
        self.failures: dict[str, str] = {}  # browser context -> why a page could not be throttled

    @classmethod
    async def start(cls, browser: Browser) -> Holder:
        """Intercept document requests across `browser` (one browser-level CDP session)."""
        session = await browser.new_browser_cdp_session()
        holder = cls(session)
        session.on("Fetch.requestPaused", holder._paused)
        await session.send(
            "Fetch.enable",
            {
                "patterns": [
                    {"urlPattern": "*", "resourceType": "Document", "requestStage": "Request"}
                ]
            },
        )
        _HOLDERS[browser] = holder
        return holder

    def forget(self, context: str, targets: list[str]) -> None:
        """A journey ended: its context and pages need no holding any more."""
        self.contexts.pop(context, None)
        self.failures.pop(context, None)
        self.done.difference_update(targets)
        self.done.difference_update(self.opened.pop(context, set()))

    def _paused(self, event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._decide(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decide(self, event: dict[str, Any]) -> None:
        request_id, frame = event.get("requestId"), str(event.get("frameId") or "")
        try:
            if frame not in self.done:
                await self._throttle_new(frame)
        finally:
            with contextlib.suppress(Exception):
                await self.session.send("Fetch.continueRequest", {"requestId": request_id})

    async def _throttle_new(self, frame: str) -> None:
        """Throttle `frame` when it is the main frame of a new page of a throttled journey (a
        page's main frame has its target's id); anything else goes on as it is."""
        try:
            info = (await self.session.send("Target.getTargetInfo", {"targetId": frame}))[
                "targetInfo"
            ]
        except Exception:
            return  # not a target: a frame inside a page, throttled with it
        context = info.get("browserContextId")
        conditions = self.contexts.get(context or "")
        if info.get("type") != "page" or conditions is None:
            return
        try:
            attached = await self.session.send(
                "Target.attachToTarget", {"targetId": frame, "flatten": False}
            )
            session = attached["sessionId"]
            # The browser applies a network throttle as it hands the command on: once the
            # command is handed on, the held request may go. The page's own answer to it
            # comes only once the held document has arrived, so it is not waited for.
            for method, params in commands(conditions):
                self._next += 1
                message = json.dumps({"id": self._next, "method": method, "params": params})
                await self.session.send(
                    "Target.sendMessageToTarget", {"sessionId": session, "message": message}
                )
            self.done.add(frame)
            self.opened.setdefault(context or "", set()).add(frame)
        except Exception as exc:
            # The page goes on unthrottled: the journey's run says so and errs (not measured
            # as it was asked to be).
            self.failures[context or ""] = (
                f"could not throttle a page the journey opened ({conditions.label}): {_first(exc)}"
            )


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def commands(conditions: Conditions) -> list[tuple[str, dict[str, Any]]]:
    """The CDP commands that throttle one page."""
    out: list[tuple[str, dict[str, Any]]] = []
    if conditions.network is not None:
        out.append(("Network.enable", {}))
        out.append(("Network.emulateNetworkConditions", conditions.network.cdp()))
    if conditions.cpu is not None:
        out.append(("Emulation.setCPUThrottlingRate", {"rate": conditions.cpu}))
    return out


async def throttle_page(
    context: BrowserContext, page: Page, conditions: Conditions
) -> tuple[str, str]:
    """Throttle one page's network and CPU as `conditions` say; returns its CDP target id and
    its browser context's. ObserverError when the browser refuses."""
    try:
        session = await context.new_cdp_session(page)
        for method, params in commands(conditions):
            await session.send(method, params)
        info = await session.send("Target.getTargetInfo")
    except Exception as exc:
        raise ObserverError(
            f"could not throttle the page ({conditions.label}): {_first(exc)}"
        ) from exc
    target = info["targetInfo"]
    return str(target["targetId"]), str(target.get("browserContextId") or "")


class Throttle:
    """A journey's throttle: its first page here, each page it opens by the holder."""

    def __init__(self, context: BrowserContext, conditions: Conditions, holder: Holder | None):
        self.context = context
        self.conditions = conditions
        self.holder = holder
        self.context_id = ""
        self.targets: list[str] = []

    async def first(self, page: Page) -> None:
        """Throttle the journey's first page, before any step; later pages are the holder's."""
        target, self.context_id = await throttle_page(self.context, page, self.conditions)
        self.targets.append(target)
        if self.holder is not None:
            self.holder.contexts[self.context_id] = self.conditions
            self.holder.done.add(target)

    @property
    def failure(self) -> str | None:
        """Why a page the journey opened could not be throttled (None: every page was)."""
        return self.holder.failures.get(self.context_id) if self.holder else None

    def close(self) -> None:
        """The journey is over."""
        if self.holder is not None:
            self.holder.forget(self.context_id, self.targets)
