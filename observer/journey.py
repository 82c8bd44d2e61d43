"""Run one journey in a fresh browser context: steps, timings, marks, vitals, artifacts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets as _random
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import browser as br
from .config import Probe, Project
from .config.models import FillStep
from .config.naming import describe
from .results import (
    Artifact,
    ObserverError,
    Outcome,
    PageError,
    PageVitals,
    ProbeResult,
    StepResult,
)
from .secrets import Redactor
from .steps import REGISTRY, StepContext, StepFailed

if TYPE_CHECKING:
    from playwright.async_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Frame,
        Page,
        Request,
        Response,
    )

_CLOSED = re.compile(
    r"(Target page, context or browser has been closed|Browser has been closed|"
    r"Target closed|browser has disconnected|Connection closed)",
    re.I,
)
# Chromium cancels in-flight requests when the page navigates away: not a site problem.
_BENIGN_FAILURES = ("net::ERR_ABORTED", "NS_BINDING_ABORTED")
_T = TypeVar("_T")
OPEN_TIMEOUT = 30.0  # opening a context and page; past this the browser is stuck
MAX_PAGE_ERRORS = 200
_RESOURCE_STATUS = "Failed to load resource: the server responded with a status of"


def run_dir(root: Path, probe: str, started: float) -> Path:
    """A fresh directory name for one run's files."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", probe).strip("-") or "probe"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    return root / safe / f"{stamp}-{_random.token_hex(3)}"


def first_line(exc: BaseException) -> str:
    """The useful first line of an exception, without Playwright's call log."""
    text = str(exc).strip() or type(exc).__name__
    text = text.split("\nCall log:")[0].strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = lines[0] if lines else type(exc).__name__
    for prefix in ("Page.", "Locator.", "Keyboard.", "Frame."):
        if head.startswith(prefix) and ": " in head:
            head = head.split(": ", 1)[1]
    return head[:1000]


class _Recorder:
    """Collects what the page reports while the journey runs."""

    def __init__(self, nonce: str = "") -> None:
        self.step_index: int | None = None
        self.errors: list[PageError] = []
        self.dropped = 0
        self.nonce = nonce
        # Each document's vitals, in the order the journey reached them: reported by the page
        # when it is left (see browser.lab_script) and read from the page the journey ends on.
        self.docs: dict[Any, PageVitals] = {}
        # (URL, step) of each main-frame navigation, for the step that opened each document.
        self.navigations: list[tuple[str, int]] = []
        self._claimed = 0
        self.closed = False  # the figures are summed: later reports are not taken

    def on_navigated(self, frame: Frame) -> None:
        if frame.parent_frame is None and self.step_index is not None:
            self.navigations.append((frame.url.split("#")[0], self.step_index))

    def take(self, snap: dict[str, Any] | None) -> None:
        """Keep a document's latest figures."""
        if self.closed or snap is None or snap["url"] in ("about:blank", ""):
            return
        url = snap["url"].split("#")[0]
        key = (snap["origin"], url)
        pv = self.docs.get(key)
        if pv is None:
            pv = self.docs[key] = PageVitals(url=snap["url"], step_index=self._opened_by(url))
        for field, name in (
            ("ttfb_ms", "ttfb"),
            ("fcp_ms", "fcp"),
            ("lcp_ms", "lcp"),
            ("cls", "cls"),
            ("inp_ms", "inp"),
            ("dcl_ms", "dcl"),
            ("load_ms", "load"),
        ):
            if snap[name] is not None:
                setattr(pv, field, round(snap[name], 4 if name == "cls" else 1))

    def _opened_by(self, url: str) -> int:
        for i in range(self._claimed, len(self.navigations)):
            if self.navigations[i][0] == url:
                self._claimed = i + 1
                return self.navigations[i][1]
        return self.step_index or 0

    def add(self, kind: Any, message: str, url: str | None) -> None:
        if len(self.errors) >= MAX_PAGE_ERRORS:
            self.dropped += 1
            return
        self.errors.append(PageError(kind, message[:2000], url, self.step_index))

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "debug" and self.nonce and msg.text.startswith(self.nonce):
            self.take(br.read_report(msg.text, self.nonce))
            return
        # Chromium also logs every 4xx/5xx resource as a console error; on_response already
        # recorded it with its URL, so counting it twice would double the errors metric.
        if msg.type == "error" and not msg.text.startswith(_RESOURCE_STATUS):
            loc = msg.location or {}
            self.add("console", msg.text, loc.get("url") or None)

    def on_pageerror(self, exc: Any) -> None:
        message = getattr(exc, "message", None) or str(exc)
        name = getattr(exc, "name", None)
        text = f"{name}: {message}" if name and not str(message).startswith(str(name)) else message
        self.add("pageerror", str(text), None)

    def on_requestfailed(self, request: Request) -> None:
        failure = request.failure or "failed"
        if any(b in failure for b in _BENIGN_FAILURES):
            return
        self.add("requestfailed", f"{request.method} {failure}", request.url)

    def on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.add("http", f"HTTP {response.status} {response.status_text}".strip(), response.url)


async def _snapshot(page: Page, rec: _Recorder) -> None:
    """Read the current document's vitals (the documents left before reported themselves)."""
    try:
        raw = await asyncio.wait_for(page.evaluate(br.snapshot_js()), timeout=2)
    except Exception:
        return  # mid-navigation or the page is gone
    rec.take(br.parse_snapshot(raw))


def summarize_vitals(pages: list[PageVitals]) -> dict[str, float | None]:
    """A journey's vitals are its worst page's, metric by metric."""
    out: dict[str, float | None] = {}
    for key in ("ttfb_ms", "fcp_ms", "lcp_ms", "cls", "inp_ms", "dcl_ms", "load_ms"):
        values = [getattr(p, key) for p in pages if getattr(p, key) is not None]
        out[key] = max(values) if values else None
    return out


def _is_closed(exc: BaseException, browser: Browser) -> bool:
    return not browser.is_connected() or bool(_CLOSED.search(str(exc)))


async def _opening(browser: Browser, call: Awaitable[_T], limit: float = OPEN_TIMEOUT) -> _T:
    """A call that sets up the context or page (Chromium's work, outside the journey's own
    timeout). When the browser dies meanwhile, Playwright may never answer it (new_page hangs
    for good), so stop waiting once the browser is gone or after `limit` seconds."""
    task = asyncio.ensure_future(call)
    deadline = time.monotonic() + limit
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=0.25)
            if done:
                return task.result()
            if not browser.is_connected():
                raise ObserverError("could not open a browser page: the browser went away")
            if time.monotonic() > deadline:
                raise ObserverError(f"could not open a browser page in {limit:g}s")
    finally:
        task.cancel()


async def run_journey(
    browser: Browser,
    project: Project,
    probe: Probe,
    *,
    devices: dict[str, Any] | None = None,
    artifacts_root: Path,
    redactor: Redactor | None = None,
    after_failure: bool = False,
) -> ProbeResult:
    """Run a journey; the site's faults are `fail`, observer's own are `error`.

    `after_failure`: the probe's previous attempt failed, so `trace: on_retry` traces this one.
    """
    settings = project.config.settings
    trace = settings.trace
    if trace == "on_retry":
        trace = "on_failure" if after_failure else "off"
    started = time.time()
    t0 = time.perf_counter()
    steps = project.steps[probe.name]
    total_timeout = probe.timeout or settings.timeout
    step_default = probe.step_timeout or settings.step_timeout
    fail_on_page_error = (
        probe.fail_on_page_error
        if probe.fail_on_page_error is not None
        else settings.fail_on_page_error
    )
    folder = run_dir(artifacts_root, probe.name, started)
    result = ProbeResult(
        probe=probe.name,
        kind="journey",
        outcome=Outcome.PASS,
        started_at=started,
        duration_ms=0.0,
        location=settings.location,
        device=probe.device,
    )
    rec = _Recorder(nonce=_random.token_hex(8))
    secret_selectors = [s.fill.selector for s in steps if isinstance(s, FillStep) and s.fill.secret]
    context: BrowserContext | None = None
    page: Page | None = None
    tracing = False
    try:
        try:
            # Inside the try: an unknown device is observer's error, reported as such.
            ctx_opts = _context_options(project, probe, devices)
            context = await _opening(browser, browser.new_context(**ctx_opts))
            await _opening(browser, context.add_init_script(br.lab_script(rec.nonce)))
            if trace != "off":
                # Screencast frames are pixels: a secret typed in a plain text field would show
                # and cannot be masked afterwards, so journeys with secrets trace DOM only.
                await _opening(
                    browser,
                    context.tracing.start(
                        screenshots=not secret_selectors, snapshots=True, sources=False
                    ),
                )
                tracing = True
            page = await _opening(browser, context.new_page())
        except ObserverError:
            raise
        except Exception as exc:
            raise ObserverError(f"could not open a browser page: {first_line(exc)}") from exc
        page.on("console", rec.on_console)
        page.on("pageerror", rec.on_pageerror)
        page.on("requestfailed", rec.on_requestfailed)
        page.on("response", rec.on_response)
        page.on("framenavigated", rec.on_navigated)
        await _run_steps(
            browser,
            page,
            steps,
            result,
            rec,
            folder,
            step_default,
            total_timeout,
            t0,
            secret_selectors,
        )
    except ObserverError as exc:
        result.outcome = Outcome.ERROR
        result.error = str(exc)
    finally:
        result.duration_ms = round((time.perf_counter() - t0) * 1000, 1)
        # Leaving the last page (in _finish) makes it report again, after the journey: too late
        # for figures already summed into result.vitals.
        rec.closed = True
        result.pages = list(rec.docs.values())
        result.vitals = summarize_vitals(result.pages)
        result.errors = rec.errors
        if rec.dropped:
            result.errors.append(PageError("console", f"{rec.dropped} more errors not kept", None))
        if result.outcome == Outcome.PASS and fail_on_page_error:
            uncaught = [e for e in rec.errors if e.kind == "pageerror"]
            if uncaught:
                result.outcome = Outcome.FAIL
                result.error = f"uncaught page error: {uncaught[0].message}"
        result.completed = result.outcome == Outcome.PASS and all(
            s.outcome == Outcome.PASS for s in result.steps
        )
        await _finish(
            context,
            page,
            result,
            settings.screenshots,
            trace,
            tracing,
            folder,
            redactor,
            secret_selectors,
        )
    if redactor:
        result = redactor.data(result)
    return result


def _context_options(
    project: Project, probe: Probe, devices: dict[str, Any] | None
) -> dict[str, Any]:
    settings = project.config.settings
    opts: dict[str, Any] = {"ignore_https_errors": not settings.verify_tls}
    if probe.device:
        if devices is None or probe.device not in devices:
            raise ObserverError(f"Playwright has no device named '{probe.device}'")
        opts.update({k: v for k, v in devices[probe.device].items() if k != "default_browser_type"})
    if probe.viewport:
        opts["viewport"] = {"width": probe.viewport.width, "height": probe.viewport.height}
    if probe.locale:
        opts["locale"] = probe.locale
    if probe.timezone:
        opts["timezone_id"] = probe.timezone
    if settings.user_agent:
        opts["user_agent"] = settings.user_agent
    return opts


async def _run_steps(
    browser: Browser,
    page: Page,
    steps: list[Any],
    result: ProbeResult,
    rec: _Recorder,
    folder: Path,
    step_default: float,
    total_timeout: float,
    t0: float,
    secret_selectors: list[str],
) -> None:
    ctx = StepContext(
        page=page,
        timeout_ms=step_default * 1000,
        artifacts=folder,
        index=0,
        secret_selectors=secret_selectors,
    )
    current: StepResult | None = None
    try:
        async with asyncio.timeout(total_timeout):
            for index, step in enumerate(steps):
                rec.step_index = index
                ctx.index = index
                ctx.timeout_ms = (step.timeout or step_default) * 1000
                start = time.perf_counter()
                current = StepResult(
                    index=index,
                    name=describe(step),
                    action=step.action,
                    outcome=Outcome.PASS,
                    start_ms=round((start - t0) * 1000, 1),
                    duration_ms=0.0,
                )
                result.steps.append(current)
                try:
                    await REGISTRY[step.action](ctx, step)
                except StepFailed as exc:
                    current.outcome, current.error = Outcome.FAIL, str(exc)[:1000]
                except ObserverError as exc:
                    current.outcome, current.error = Outcome.ERROR, str(exc)
                except (asyncio.CancelledError, TimeoutError):
                    raise
                except Exception as exc:
                    if _is_closed(exc, browser):
                        current.outcome = Outcome.ERROR
                        current.error = f"the browser went away: {first_line(exc)}"
                    else:
                        current.outcome, current.error = Outcome.FAIL, _explain(exc, ctx)
                current.duration_ms = round((time.perf_counter() - start) * 1000, 1)
                with contextlib.suppress(Exception):
                    current.url = page.url
                if ctx.marks:
                    result.last_mark = ctx.marks[-1]
                for shot in ctx.screenshots:
                    result.artifacts.append(Artifact("screenshot", str(shot), index))
                ctx.screenshots.clear()
                if current.outcome != Outcome.PASS:
                    _stop(result, steps, current)
                    current = None  # judged: running out of time now changes nothing
                    break
                current = None
            # The page the journey ends on has not been left, so it has not reported: read it.
            await _snapshot(page, rec)
    except TimeoutError:
        if current is None:
            return
        current.duration_ms = round((time.perf_counter() - t0) * 1000 - current.start_ms, 1)
        current.outcome = Outcome.FAIL
        current.error = f"the journey ran out of time ({total_timeout:g}s) in this step"
        _stop(result, steps, current)


def _stop(result: ProbeResult, steps: list[Any], failed: StepResult) -> None:
    result.outcome = failed.outcome
    result.failed_step = failed.index
    result.error = f"step {failed.index + 1} ({failed.name}): {failed.error}"
    for index in range(failed.index + 1, len(steps)):
        step = steps[index]
        result.steps.append(
            StepResult(
                index=index,
                name=describe(step),
                action=step.action,
                outcome=Outcome.SKIPPED,
                start_ms=0.0,
                duration_ms=0.0,
            )
        )


def _explain(exc: BaseException, ctx: StepContext) -> str:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    line = first_line(exc)
    if isinstance(exc, PlaywrightTimeout):
        return f"{line} (step timeout {ctx.timeout_ms / 1000:g}s)"
    return line


async def _finish(
    context: BrowserContext | None,
    page: Page | None,
    result: ProbeResult,
    screenshots: str,
    trace: str,
    tracing: bool,
    folder: Path,
    redactor: Redactor | None,
    secret_selectors: list[str],
) -> None:
    failed = result.outcome != Outcome.PASS
    if page is not None and (screenshots == "always" or (screenshots == "on_failure" and failed)):
        path = folder / ("failure.png" if failed else "final.png")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            mask = [page.locator(sel) for sel in secret_selectors]
            await asyncio.wait_for(
                page.screenshot(path=str(path), timeout=5000, mask=mask), timeout=6
            )
            result.artifacts.append(Artifact("screenshot", str(path), result.failed_step))
        except Exception:
            pass  # the page may be gone (browser crash); the run is still recorded
    if context is not None and tracing:
        keep = trace == "always" or (trace == "on_failure" and failed)
        path = folder / "trace.zip"
        try:
            if keep:
                folder.mkdir(parents=True, exist_ok=True)
                await asyncio.wait_for(context.tracing.stop(path=str(path)), timeout=15)
                if redactor:
                    redactor.zip_file(path)
                result.artifacts.append(Artifact("trace", str(path), result.failed_step))
            else:
                await asyncio.wait_for(context.tracing.stop(), timeout=15)
        except Exception:
            pass
    if page is not None:
        # Leave the last page as a user would, so its own scripts see it hidden (a real-user
        # snippet sends its beacon then): the headless shell closes a context without that.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(page.goto("about:blank", wait_until="commit"), timeout=3)
    if context is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(context.close(), timeout=10)
