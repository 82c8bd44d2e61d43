"""Run one journey in a fresh browser context: steps, timings, marks, vitals, artifacts."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import secrets as _random
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from . import browser as br
from . import catalog
from .conditions import Conditions
from .config import Probe, Project
from .config.models import Accessibility, CaptureStep, FillStep, Settle
from .config.naming import describe
from .diagnose import explain
from .results import (
    Artifact,
    ObserverError,
    Outcome,
    PageError,
    PageVitals,
    ProbeResult,
    StepResult,
)
from .secrets import MASK, Redactor
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

log = logging.getLogger("observer.journey")
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
_NAVIGATING = re.compile(r"(Execution context was destroyed|navigat|Cannot find context)", re.I)
# What all of one run's audits may take together; a page past it is left unchecked (and the
# daemon's hang guard allows for it).
AUDIT_BUDGET = 60.0
# How long the last page's read waits for the browser to report its first paint: with settle
# off this is the only wait; after settling (which waits for the paint) it rarely matters.
PAINT_WAIT_MS = 2000.0


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
        # The page that was left with an interaction the browser had not timed yet, and when
        # that interaction began (ms since the epoch, the browser's clock).
        self._pending: tuple[PageVitals, float] | None = None
        self.last_request_at = time.monotonic()
        self.running: StepResult | None = None  # the step under way
        self.last_settled: bool | None = None  # as the page last read judged itself

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
            self._pair_leave(snap)
        for metric in catalog.page_metrics():
            value = snap[metric.page or ""]
            if value is not None and metric.column:
                setattr(pv, metric.column, round(value, metric.decimals))
        inp = snap["inp"]
        if inp is not None and (pv.inp_ms is None or inp >= pv.inp_ms):
            pv.inp_ms, pv.inp_source = round(inp, 1), "event"
        if snap["left"]:
            # The page reports as it is left; it may report again while it lingers.
            pv.left_before_load = not snap["loaded"]
            pv.partial = snap["settled"] is False
            if pv.left_before_load:
                pv.load_ms = None
            if snap["pending"] is not None:
                self._pending = (pv, snap["pending"])
            elif self._pending is not None and self._pending[0] is pv:
                self._pending = None  # the browser timed that interaction after all

    def _pair_leave(self, snap: dict[str, Any]) -> None:
        """A new document says when the page before it was hidden: an interaction that left
        that page untimed lasted from its start until then."""
        if self._pending is None:
            return
        left, began = self._pending
        self._pending = None
        hidden = snap["prev_hidden"]
        if hidden is None or not 0 < hidden - began < 60_000:
            return
        duration = round(hidden - began, 1)
        if left.inp_ms is None or duration > left.inp_ms:
            left.inp_ms, left.inp_source = duration, "leave"

    def on_request(self, request: Request) -> None:
        self.last_request_at = time.monotonic()

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


@dataclass
class _Audit:
    """Accessibility checks of one run: what was checked and found, and how long audits took
    (left out of the journey's times and its time limit)."""

    settings: Accessibility | None  # audit mode's settings (None: only steps check)
    paused: float = 0.0  # seconds audits took, left out of step times and duration
    limit: Any = None  # the journey's asyncio.timeout, held still while an audit runs
    seen: set[tuple[str, float]] = dataclasses.field(default_factory=set)  # (url, timeOrigin)
    unchecked: list[str] = dataclasses.field(default_factory=list)  # why a page was not

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """While an audit runs: the journey's clock and its time limit stand still, and the
        audit has at most what is left of AUDIT_BUDGET."""
        loop = asyncio.get_running_loop()
        limit = self.limit
        left = None
        if limit is not None and limit.when() is not None and not limit.expired():
            left = limit.when() - loop.time()
            limit.reschedule(None)
        began = time.perf_counter()
        try:
            async with asyncio.timeout(max(AUDIT_BUDGET - self.paused, 0.0)):
                yield
        finally:
            self.paused += time.perf_counter() - began
            if left is not None and not limit.expired():
                limit.reschedule(loop.time() + left)


@dataclass(frozen=True)
class _Run:
    """What the parts of one journey run share; its result, lists and set fill as it goes."""

    browser: Browser
    steps: list[Any]  # the probe's steps, as written (templates, before captures fill them)
    result: ProbeResult
    rec: _Recorder
    folder: Path  # the run's files
    t0: float  # perf_counter() at its start: steps' start_ms count from here
    masked: list[str]  # selectors screenshots mask; a filled-in template may add its own
    secrets: set[str]  # values that became secret during the run (secret captures)
    audit: _Audit


async def _snapshot(page: Page, rec: _Recorder, paint_wait_ms: float) -> PageVitals | None:
    """Read the current document's vitals (the documents left before reported themselves)."""
    try:
        raw = await asyncio.wait_for(
            page.evaluate(br.snapshot_js(), paint_wait_ms), timeout=paint_wait_ms / 1000 + 2
        )
    except Exception:
        return None  # mid-navigation or the page is gone
    snap = br.parse_snapshot(raw)
    rec.take(snap)
    if snap is None or rec.closed:
        return None
    rec.last_settled = snap["settled"]
    return rec.docs.get((snap["origin"], snap["url"].split("#")[0]))


async def _settle(page: Page, rec: _Recorder, settle: Settle, limit: float) -> bool:
    """Wait until the page has loaded, painted, and been quiet for `settle.quiet`: no request
    started, no LCP candidate, no layout shift. False when `settle.max` (or `limit`) came
    first, or the page cannot be asked."""
    loop = asyncio.get_running_loop()
    end = loop.time() + min(settle.max, limit)
    quiet_ms = settle.quiet * 1000
    while True:
        left = end - loop.time()
        if left <= 0:
            return False
        try:
            raw = await asyncio.wait_for(page.evaluate(br.state_js()), timeout=min(left, 2.0))
        except Exception as exc:
            if page.is_closed() or not _NAVIGATING.search(str(exc)):
                return False
            await asyncio.sleep(min(0.05, left))  # a new document is on its way
            continue
        state = br.parse_snapshot(raw)
        if state is None:
            return False  # no lab script: not a page we measure (about:blank, a PDF)
        # The page judges its own quiet (it was given settle.quiet); requests it started and
        # that have not ended yet only show here.
        since_request = (time.monotonic() - rec.last_request_at) * 1000
        if state["settled"] and since_request >= quiet_ms:
            return True
        quiet_for = min(state["since"] or 0.0, since_request)
        wait = (quiet_ms - quiet_for) / 1000 if state["loaded"] and state["painted"] else 0.05
        await asyncio.sleep(min(max(wait, 0.02), left))


def summarize_vitals(pages: list[PageVitals]) -> dict[str, float | None]:
    """A journey's vitals are its worst page's, metric by metric. A page left before its load
    event says nothing of how long pages take to load: it is left out of load and dcl."""
    out: dict[str, float | None] = {}
    # In the order a page's figures are kept (the --json `vitals` have always read so).
    order = [f.name for f in dataclasses.fields(PageVitals)]
    for metric in sorted(catalog.run_vitals(), key=lambda m: order.index(m.column or "")):
        key = metric.column or ""
        values = [
            getattr(p, key)
            for p in pages
            if getattr(p, key) is not None and not (metric.needs_load and p.left_before_load)
        ]
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
    conditions: Conditions | None = None,
    devices: dict[str, Any] | None = None,
    artifacts_root: Path,
    after_failure: bool = False,
    replay: bool = False,
) -> ProbeResult:
    """Run a journey; the site's faults are `fail`, observer's own are `error`.

    `after_failure`: the probe's previous attempt failed, so `trace: on_retry` traces this one.
    `replay`: this run replays a failed one with tracing, for its trace (`trace: on_failure`).
    The result is not redacted (the runner does that, with `result.run_secrets`); its trace is.
    `conditions`: the device, network and CPU it runs under (the probe's own when None);
    a throttled one runs in a browser with a holder (observer.throttle).
    """
    from .throttle import Throttle, holder_of

    if conditions is None:
        conditions = Conditions(probe.device)
    settings = project.config.settings
    trace = settings.trace
    if replay:
        trace = "on_failure"  # traced, and the trace kept if the replay fails too
    elif trace == "on_failure":
        trace = "off"  # measured untraced: a failure is replayed with tracing (runner)
    elif trace == "on_retry":
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
    settle = probe.settle if probe.settle is not None else settings.settle
    result = ProbeResult(
        probe=probe.name,
        kind="journey",
        outcome=Outcome.PASS,
        started_at=started,
        duration_ms=0.0,
        location=settings.location,
        device=conditions.device,
        conditions=conditions.to_dict(),
    )
    accessibility = accessibility_of(probe, settings.accessibility)
    rec = _Recorder(nonce=_random.token_hex(8))
    run = _Run(
        browser=browser,
        steps=steps,
        result=result,
        rec=rec,
        folder=run_dir(artifacts_root, probe.name, started),
        t0=t0,
        masked=secret_selectors(steps),
        secrets=set(),
        audit=_Audit(accessibility if accessibility.mode == "audit" else None),
    )
    throttle: Throttle | None = None
    context: BrowserContext | None = None
    page: Page | None = None
    tracing = False
    ended: float | None = None
    try:
        try:
            # Inside the try: an unknown device is observer's error, reported as such.
            ctx_opts = _context_options(project, probe, devices, conditions)
            context = await _opening(browser, browser.new_context(**ctx_opts))
            quiet_ms = settle.quiet * 1000 if isinstance(settle, Settle) else None
            await _opening(browser, context.add_init_script(br.lab_script(rec.nonce, quiet_ms)))
            if trace != "off":
                # Screencast frames are pixels: a secret typed in a plain text field would show
                # and cannot be masked afterwards, so journeys with secrets trace DOM only.
                await _opening(
                    browser,
                    context.tracing.start(
                        screenshots=not _shows_secrets(steps), snapshots=True, sources=False
                    ),
                )
                tracing = True
            page = await _opening(browser, context.new_page())
            if conditions.throttled:
                throttle = Throttle(context, conditions, holder_of(browser))
                await _opening(browser, throttle.first(page))
        except ObserverError:
            raise
        except Exception as exc:
            raise ObserverError(f"could not open a browser page: {first_line(exc)}") from exc
        page.on("console", rec.on_console)
        page.on("pageerror", rec.on_pageerror)
        page.on("requestfailed", rec.on_requestfailed)
        page.on("response", rec.on_response)
        page.on("request", rec.on_request)
        page.on("framenavigated", rec.on_navigated)
        try:
            async with asyncio.timeout(total_timeout) as limit:
                run.audit.limit = limit
                await _run_steps(run, page, step_default)
                ended = time.perf_counter() - run.audit.paused  # checks left out
                # The last page has not been left, so it has not reported: read it, once it
                # has settled. The wait is not the journey's time, but it is within its limit.
                await _read_last_page(page, rec, result, settle, limit)
                if result.outcome == Outcome.PASS:
                    await _audit(run, page, last=True)
        except TimeoutError:
            _out_of_time(run, total_timeout)
    except ObserverError as exc:
        result.outcome = Outcome.ERROR
        result.error = str(exc)
    finally:
        _wrap_up(run, throttle, ended, fail_on_page_error)
        # Values captured as secret join the file's secrets, for this run only.
        result.run_secrets = sorted(run.secrets)
        redactor = Redactor([*project.secrets, *run.secrets])
        await _finish(
            run, context, page, "off" if replay else settings.screenshots, trace, tracing, redactor
        )
    return result


def accessibility_of(probe: Probe, settings: Accessibility) -> Accessibility:
    """The probe's accessibility keys over settings': what it leaves out, settings say."""
    own = probe.accessibility
    if own is None:
        return settings
    return settings.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})


def _wrap_up(run: _Run, throttle: Any, ended: float | None, fail_on_page_error: bool) -> None:
    """Sum the run up: its time (checks left out), pages, vitals, errors, completion."""
    result, rec = run.result, run.rec
    if throttle is not None:
        throttle.close()
        if throttle.failure and result.outcome == Outcome.PASS:
            result.outcome, result.error = Outcome.ERROR, throttle.failure
    end = ended if ended is not None else time.perf_counter() - run.audit.paused
    result.duration_ms = round((end - run.t0) * 1000, 1)
    if result.a11y_checked or run.audit.settings is not None:
        result.a11y_pages = len(result.a11y_checked)
    if run.audit.settings is not None:
        # Documents the journey visited that no audit reached: left before they had loaded,
        # or the journey stopped first.
        said = {line.split(": ", 1)[0] for line in run.audit.unchecked}
        for origin, url in rec.docs:
            if (url, origin) not in run.audit.seen and url not in said:
                run.audit.unchecked.append(f"{url}: left before it had loaded, or not reached")
    result.a11y_unchecked = run.audit.unchecked
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


async def _read_last_page(
    page: Page, rec: _Recorder, result: ProbeResult, settle: Settle | str, limit: Any
) -> None:
    """Read the page the journey ended on: after it settled, unless the journey failed."""
    if result.outcome != Outcome.PASS:
        last = await _snapshot(page, rec, paint_wait_ms=250)
        if last is not None and isinstance(settle, Settle):
            # Not waited for; whether it had settled anyway, the page itself can tell.
            last.partial = rec.last_settled is False
        return
    settled = True
    if isinstance(settle, Settle):
        # Leave a moment of the journey's own time limit for the read itself.
        deadline = limit.when()
        room = deadline - asyncio.get_running_loop().time() - 0.5 if deadline else settle.max
        settled = await _settle(page, rec, settle, max(room, 0.0))
    last = await _snapshot(page, rec, paint_wait_ms=PAINT_WAIT_MS)
    if last is not None and not settled:
        last.partial = True


def _out_of_time(run: _Run, total: float) -> None:
    """The journey's time limit struck in a step (a fail), or while the last page settled."""
    current = run.rec.running
    if current is None:
        return  # the steps were done: the figures read so far stand
    elapsed = time.perf_counter() - run.t0 - run.audit.paused
    current.duration_ms = round(elapsed * 1000 - current.start_ms, 1)
    current.outcome = Outcome.FAIL
    what = _what(run.steps[current.index])
    current.error = f"{what}: the journey ran out of time ({total:g}s) in this step"
    _stop(run.result, run.steps, current)


def _context_options(
    project: Project, probe: Probe, devices: dict[str, Any] | None, conditions: Conditions
) -> dict[str, Any]:
    settings = project.config.settings
    opts: dict[str, Any] = {"ignore_https_errors": not settings.verify_tls}
    device = conditions.device
    if device:
        if devices is None or device not in devices:
            raise ObserverError(f"Playwright has no device named '{device}'")
        opts.update({k: v for k, v in devices[device].items() if k != "default_browser_type"})
    if conditions.network is not None and conditions.network.offline:
        opts["offline"] = True  # Playwright keeps every page of the context offline
    if probe.viewport:
        opts["viewport"] = {"width": probe.viewport.width, "height": probe.viewport.height}
    if probe.locale:
        opts["locale"] = probe.locale
    if probe.timezone:
        opts["timezone_id"] = probe.timezone
    if settings.user_agent:
        opts["user_agent"] = settings.user_agent
    return opts


async def _run_steps(run: _Run, page: Page, step_default: float) -> None:
    """Run the steps in order until one does not pass (run.rec.running: the step under way).

    Filled-in templates add to `run.masked`; secret captures gather in `run.secrets`, to be
    masked in what the run leaves.
    """
    result, rec = run.result, run.rec
    ctx = StepContext(
        page=page,
        timeout_ms=step_default * 1000,
        artifacts=run.folder,
        index=0,
        secret_selectors=run.masked,
    )

    async def check(args: Any) -> list[Any]:
        return await _check(run, ctx.page, args, "step", ctx.index)

    ctx.accessibility = check
    for index, template in enumerate(run.steps):
        rec.step_index = index
        ctx.index = index
        ctx.timeout_ms = (template.timeout or step_default) * 1000
        ctx.just_captured = {}
        start = time.perf_counter()
        current = StepResult(
            index=index,
            name=describe(template),  # of the template: a captured secret never shows in it
            action=template.action,
            outcome=Outcome.PASS,
            start_ms=round((start - run.t0 - run.audit.paused) * 1000, 1),
            duration_ms=0.0,
        )
        result.steps.append(current)
        rec.running = current
        url_before = page.url
        step = template
        try:
            if template.captures:
                step = _fill_in(template, ctx.captured, run.secrets, ctx.secret_selectors)
            await REGISTRY[step.action](ctx, step)
        except StepFailed as exc:
            current.outcome, current.error = Outcome.FAIL, str(exc)[:2000]
            current.log = exc.log
        except ObserverError as exc:
            current.outcome, current.error = Outcome.ERROR, str(exc)
        except (asyncio.CancelledError, TimeoutError):
            raise
        except Exception as exc:
            if _is_closed(exc, run.browser):
                current.outcome = Outcome.ERROR
                current.error = f"the browser went away: {first_line(exc)}"
            else:
                why = await explain(
                    exc, page, step.action, getattr(step, step.action), ctx.timeout_ms, url_before
                )
                current.outcome, current.error, current.log = Outcome.FAIL, why.message, why.log
        rec.running = None  # judged: running out of time now changes nothing
        current.duration_ms = round((time.perf_counter() - start) * 1000, 1)
        if current.error is not None and current.outcome == Outcome.FAIL:
            current.error = f"{_what(step)}: {current.error}"
            now = page.url if not page.is_closed() else url_before
            if step.action != "goto" and now != url_before and "navigated" not in current.error:
                # The element waited for may have been on the page the journey was taken from.
                first, *details = current.error.splitlines()
                first += f"; the page navigated during the step, from {url_before} to {now}"
                current.error = "\n".join([first, *details])
        _keep(run, ctx, page, current)
        if current.outcome != Outcome.PASS:
            _stop(result, run.steps, current)
            return
        if index < len(run.steps) - 1:  # the last page is checked once it has been read
            await _audit(run, page, last=False)


def _keep(run: _Run, ctx: StepContext, page: Page, current: StepResult) -> None:
    """What a step left: captured values (secrets masked), its URL, marks, screenshots."""
    if ctx.just_captured:
        run.secrets.update(v for k, v in ctx.just_captured.items() if k in ctx.secret_names)
        current.captured = {
            k: MASK if k in ctx.secret_names else v for k, v in ctx.just_captured.items()
        }
    with contextlib.suppress(Exception):
        current.url = page.url
    if ctx.marks:
        run.result.last_mark = ctx.marks[-1]
    for shot in ctx.screenshots:
        run.result.artifacts.append(Artifact("screenshot", str(shot), current.index))
    ctx.screenshots.clear()


async def _check(
    run: _Run, page: Page, args: Any, source: Literal["step", "audit"], index: int
) -> list[Any]:
    """Check the page with axe-core once its figures so far are read (two frames: an
    interaction's paint is in); the violations join the run's. ObserverError if axe cannot
    run. The document counts as checked, so an audit does not check it again."""
    from . import accessibility as a11y

    key = await _document(page)
    await _snapshot(page, run.rec, paint_wait_ms=250)
    timeout = a11y.CHECK_TIMEOUT
    if source == "step" and run.steps[index].timeout is not None:
        timeout = run.steps[index].timeout
    broken = await a11y.check_page(page, args, timeout)
    if key is not None:
        run.audit.seen.add(key)
    url = page.url
    run.result.a11y_checked.append(a11y.page_of(url))
    run.result.violations += a11y.violations(broken, url, index, source, args.impact)
    return broken


async def _document(page: Page) -> tuple[str, float] | None:
    """Which document the page shows: its URL (no fragment) and time origin; None mid-way."""
    try:
        where = await asyncio.wait_for(
            page.evaluate(
                "() => [location.href.split('#')[0], performance.timeOrigin, document.readyState]"
            ),
            5,
        )
    except Exception:
        return None
    if not str(where[0]).startswith(("http:", "https:", "file:")):
        return None
    return (str(where[0]), float(where[1])) if where[2] == "complete" else None


async def _audit(run: _Run, page: Page, last: bool) -> None:
    """Audit mode: check the document the journey is on, once per document (a single-page
    app's route is a document of its own here). After a step, only a document that has
    loaded by itself is checked: waiting for it would hand the page time the journey does not
    count. One still loading is checked after a later step, or, once left, said unchecked.
    The audit's own time is left out of the journey's and of its limit."""
    audit = run.audit
    if audit.settings is None or page.is_closed():
        return
    try:
        async with audit.held():
            key = await _document(page)
            if key is None:
                if last:
                    audit.unchecked.append(f"{page.url}: still loading when the journey ended")
                return
            if key in audit.seen:
                return
            await _check(run, page, audit.settings, "audit", run.rec.step_index or 0)
    except TimeoutError:
        audit.unchecked.append(f"{page.url}: the run's audits had taken their {AUDIT_BUDGET:g}s")
    except ObserverError as exc:
        audit.unchecked.append(f"{page.url}: {exc}")


def _fill_in(template: Any, captured: dict[str, str], secrets: set[str], masked: list[str]) -> Any:
    """The step with the values captured earlier filled in (a fail if that makes it invalid,
    say an empty text); a secret it types joins the run's secrets, its field the masks."""
    from .config.expand import ExpandError, expand_step

    try:
        step = expand_step(template, captured)
    except ExpandError as exc:
        raise StepFailed(str(exc)) from None
    if isinstance(step, FillStep) and step.fill.secret and step.fill.value:
        secrets.add(step.fill.value)
    selector = _secret_selector(step)
    if selector and selector not in masked:
        masked.append(selector)
    return step


def secret_selectors(steps: list[Any]) -> list[str]:
    """Fields and elements that show a secret, masked in screenshots. A step that uses a
    captured value is a template: its selector joins once it is filled in (_fill_in)."""
    return [s for step in steps if not step.captures and (s := _secret_selector(step))]


def _secret_selector(step: Any) -> str | None:
    if isinstance(step, FillStep) and step.fill.secret:
        return step.fill.selector
    if isinstance(step, CaptureStep) and step.capture.secret:
        return step.capture.selector
    return None


def _shows_secrets(steps: list[Any]) -> bool:
    """Whether the journey types or captures a secret: its traces then keep no screencast."""
    return any(_secret_selector(step) for step in steps)


def _what(step: Any) -> str:
    """The step's action and the selector it acts on, as a failure names them."""
    from .diagnose import shown

    args = getattr(step, step.action, None)
    selector = getattr(args, "selector", None)
    if isinstance(selector, str):
        return f"{step.action} {shown(selector, getattr(args, 'nth', None))}"
    return str(step.action)


def _stop(result: ProbeResult, steps: list[Any], failed: StepResult) -> None:
    result.outcome = failed.outcome
    result.failed_step = failed.index
    # One line: the step's error may go on with details (the matches of a strict violation).
    summary = (failed.error or "").splitlines()[0] if failed.error else failed.error
    result.error = f"step {failed.index + 1} ({failed.name}): {summary}"
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


async def _finish(
    run: _Run,
    context: BrowserContext | None,
    page: Page | None,
    screenshots: str,
    trace: str,
    tracing: bool,
    redactor: Redactor,
) -> None:
    """Keep the run's screenshot and trace as settings ask (the trace masked), then close."""
    result, folder = run.result, run.folder
    failed = result.outcome != Outcome.PASS
    if page is not None and (screenshots == "always" or (screenshots == "on_failure" and failed)):
        path = folder / ("failure.png" if failed else "final.png")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            mask = [page.locator(sel) for sel in run.masked]
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
