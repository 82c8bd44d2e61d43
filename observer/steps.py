"""Journey step actions: one small function each, in a registry keyed by action name."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import models as m
from .diagnose import is_timeout, waited, why_element

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page


class StepFailed(Exception):
    """The site did not do what the step expected: a `fail`."""

    def __init__(self, message: str, log: str | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass
class StepContext:
    """What a step can use: the page, its time limit, where to put files, the journey's state."""

    page: Page
    timeout_ms: float
    artifacts: Path
    index: int
    marks: list[str] = field(default_factory=list)
    secret_selectors: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    # Values captured so far (capture steps), and which of them are secret.
    captured: dict[str, str] = field(default_factory=dict)
    secret_names: set[str] = field(default_factory=set)
    # What the step under way captured, for its result.
    just_captured: dict[str, str] = field(default_factory=dict)
    # Checks the page with axe-core (the journey's: it reads the page's figures first, keeps
    # the violations and leaves the time out of the journey's).
    accessibility: Callable[[Any], Awaitable[list[Any]]] | None = None


def target(ctx: StepContext, selector: str, nth: int | None) -> Locator:
    """The element a step means: the selector's one match (Playwright's strict mode: more
    than one is an error), or the nth when the step picks one on purpose (-1: the last)."""
    loc = ctx.page.locator(selector)
    return loc if nth is None else loc.nth(nth)


Action = Callable[[StepContext, Any], Awaitable[None]]
REGISTRY: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a step action under its YAML key."""

    def deco(fn: Action) -> Action:
        REGISTRY[name] = fn
        return fn

    return deco


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Playwright-style URL glob: ** any characters, * any but /, ? one character."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        out.append("[^/]*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


@action("goto")
async def goto(ctx: StepContext, step: m.GotoStep) -> None:
    """Open a URL; a 4xx/5xx page (or one outside expect_status) fails the step."""
    args = step.goto
    response = await ctx.page.goto(args.url, wait_until=args.wait_until, timeout=ctx.timeout_ms)
    if response is None:
        return  # same-document navigation: nothing to judge
    status = response.status
    ok = status in args.expect_status if args.expect_status else status < 400
    if not ok:
        raise StepFailed(f"HTTP {status} from {response.url}")


@action("click")
async def click(ctx: StepContext, step: m.ClickStep) -> None:
    """Click an element, waiting for it to be actionable."""
    args = step.click
    await target(ctx, args.selector, args.nth).click(
        button=args.button, click_count=args.click_count, timeout=ctx.timeout_ms
    )


@action("fill")
async def fill(ctx: StepContext, step: m.FillStep) -> None:
    """Type a value into a field."""
    args = step.fill
    await target(ctx, args.selector, args.nth).fill(args.value, timeout=ctx.timeout_ms)


@action("press")
async def press(ctx: StepContext, step: m.PressStep) -> None:
    """Press a key, in an element or on the page."""
    args = step.press
    if args.selector:
        await target(ctx, args.selector, args.nth).press(args.key, timeout=ctx.timeout_ms)
    else:
        await ctx.page.keyboard.press(step.press.key)


@action("select")
async def select(ctx: StepContext, step: m.SelectStep) -> None:
    """Choose option(s) of a <select>."""
    loc = target(ctx, step.select.selector, step.select.nth)
    if step.select.label is not None:
        await loc.select_option(label=step.select.label, timeout=ctx.timeout_ms)
    else:
        await loc.select_option(value=step.select.value, timeout=ctx.timeout_ms)


@action("check")
async def check(ctx: StepContext, step: m.CheckStep) -> None:
    """Tick a checkbox or radio button."""
    await target(ctx, step.check.selector, step.check.nth).check(timeout=ctx.timeout_ms)


@action("uncheck")
async def uncheck(ctx: StepContext, step: m.UncheckStep) -> None:
    """Untick a checkbox."""
    await target(ctx, step.uncheck.selector, step.uncheck.nth).uncheck(timeout=ctx.timeout_ms)


@action("hover")
async def hover(ctx: StepContext, step: m.HoverStep) -> None:
    """Move the mouse over an element."""
    await target(ctx, step.hover.selector, step.hover.nth).hover(timeout=ctx.timeout_ms)


@action("wait_for")
async def wait_for(ctx: StepContext, step: m.WaitForStep) -> None:
    """Wait for an element state, a URL or a load state."""
    args = step.wait_for
    if args.selector is not None:
        await target(ctx, args.selector, args.nth).wait_for(
            state=args.state, timeout=ctx.timeout_ms
        )
    elif args.url is not None:
        await ctx.page.wait_for_url(glob_to_regex(args.url), timeout=ctx.timeout_ms)
    elif args.load_state is not None:
        await ctx.page.wait_for_load_state(args.load_state, timeout=ctx.timeout_ms)


@action("wait")
async def wait(ctx: StepContext, step: m.WaitStep) -> None:
    """Pause."""
    await asyncio.sleep(step.wait)


async def _poll(ctx: StepContext, check: Callable[[], Awaitable[bool]]) -> bool:
    """Retry check until it holds (True) or the step's time runs out (False), like
    Playwright's expect."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout_ms / 1000
    delay = 0.05
    while True:
        if await check():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.5)


def _quote(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@action("expect_text")
async def expect_text(ctx: StepContext, step: m.ExpectTextStep) -> None:
    """Visible text must appear on the page, or inside the one (visible) element selected."""
    args = step.expect_text
    if args.selector is None:
        await _expect_page_text(ctx, args.text)
        return
    loc = target(ctx, args.selector, args.nth)
    held: list[str] = []

    async def check() -> bool:
        held.clear()
        # is_visible is strict: two matches raise at once, and diagnose lists them.
        if not await loc.is_visible():
            return False
        try:
            text = await loc.inner_text(timeout=min(ctx.timeout_ms, 1000))
        except Exception as exc:
            if is_timeout(exc):
                return False  # it went away meanwhile: look again
            raise
        held.append(text)
        return args.text in text

    if await _poll(ctx, check):
        return
    late = waited(ctx.timeout_ms)
    if held:
        raise StepFailed(f"holds '{_quote(held[0])}', not '{args.text}'{late}")
    reason = await why_element(ctx.page, "expect_text", args.selector, args.nth, None)
    raise StepFailed(f"{reason}, looking for '{args.text}' on {ctx.page.url}{late}")


async def _expect_page_text(ctx: StepContext, text: str) -> None:
    """The text is visible somewhere on the page (no selector: no strict mode either)."""
    body = ctx.page.locator("body")

    async def check() -> bool:
        try:
            found = await body.inner_text(timeout=min(ctx.timeout_ms, 1000))
        except Exception as exc:
            if is_timeout(exc):
                return False
            raise
        return text in found

    if await _poll(ctx, check):
        return
    hidden = False
    with contextlib.suppress(Exception):
        hidden = bool(
            await ctx.page.evaluate(
                "t => !!document.body && document.body.textContent.includes(t)", text
            )
        )
    late = waited(ctx.timeout_ms)
    if hidden:
        raise StepFailed(f"'{text}' is in the page, but not visible, on {ctx.page.url}{late}")
    raise StepFailed(f"no visible text '{text}' on {ctx.page.url}{late}")


@action("expect_visible")
async def expect_visible(ctx: StepContext, step: m.ExpectVisibleStep) -> None:
    """The one element selected (or the nth) must be visible."""
    args = step.expect_visible
    await target(ctx, args.selector, args.nth).wait_for(state="visible", timeout=ctx.timeout_ms)


@action("expect_url")
async def expect_url(ctx: StepContext, step: m.ExpectUrlStep) -> None:
    """The page URL must match a glob."""
    pattern = glob_to_regex(step.expect_url.url)
    try:
        await ctx.page.wait_for_url(pattern, wait_until="commit", timeout=ctx.timeout_ms)
    except Exception as exc:
        if is_timeout(exc):
            raise StepFailed(
                f"URL is {ctx.page.url}, expected it to match {step.expect_url.url}",
                log=str(exc),
            ) from None
        raise


@action("expect_title")
async def expect_title(ctx: StepContext, step: m.ExpectTitleStep) -> None:
    """The title must contain (or equal) a text."""
    args = step.expect_title
    last = ""

    async def check() -> bool:
        nonlocal last
        last = await ctx.page.title()
        return last == args.title if args.exact else args.title in last

    if not await _poll(ctx, check):
        how = "equal" if args.exact else "contain"
        raise StepFailed(f"title is '{last}', expected it to {how} '{args.title}'")


@action("screenshot")
async def screenshot(ctx: StepContext, step: m.ScreenshotStep) -> None:
    """Save a screenshot as an artifact of the run."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", step.screenshot.name).strip("-") or "screenshot"
    path = ctx.artifacts / f"{ctx.index:02d}-{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await ctx.page.screenshot(
        path=str(path),
        full_page=step.screenshot.full_page,
        timeout=ctx.timeout_ms,
        mask=[ctx.page.locator(sel) for sel in ctx.secret_selectors],  # secrets stay unseen
    )
    ctx.screenshots.append(path)


@action("capture")
async def capture(ctx: StepContext, step: m.CaptureStep) -> None:
    """Keep a value of the page for later steps: a form control's value, else its visible
    text (or an attribute, or the URL), narrowed by a regex."""
    args = step.capture
    if args.url_regex is not None:
        url = ctx.page.url
        found = re.search(args.url_regex, url)
        if found is None:
            raise StepFailed(f"the URL {url} does not match /{args.url_regex}/")
        value = _group(found)
    else:
        assert args.selector is not None  # the model asks for selector or url_regex
        loc = target(ctx, args.selector, args.nth)
        await loc.wait_for(state="attached", timeout=ctx.timeout_ms)
        if args.attribute is not None:
            got = await loc.get_attribute(args.attribute, timeout=ctx.timeout_ms)
            if got is None:
                raise StepFailed(f"the element has no attribute '{args.attribute}'")
            text = got
        elif await loc.evaluate(_IS_CONTROL):
            text = await loc.input_value(timeout=ctx.timeout_ms)
        else:
            await loc.wait_for(state="visible", timeout=ctx.timeout_ms)
            text = await loc.inner_text(timeout=ctx.timeout_ms)
        if args.regex is None:
            value = text.strip()
        else:
            found = re.search(args.regex, text)
            if found is None:
                kind = f"its {args.attribute}" if args.attribute else "its text"
                raise StepFailed(f"{kind} '{_quote(text)}' does not match /{args.regex}/")
            value = _group(found)
    ctx.captured[args.name] = value
    ctx.just_captured[args.name] = value
    if args.secret:
        ctx.secret_names.add(args.name)


# Form controls have a value of their own, which their text does not show.
_IS_CONTROL = "el => ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName)"


def _group(found: re.Match[str]) -> str:
    """Group 1 when the pattern has one, else the whole match."""
    return found.group(1) if found.re.groups else found.group(0)


@action("expect_accessible")
async def expect_accessible(ctx: StepContext, step: m.ExpectAccessibleStep) -> None:
    """Fail when the page breaks accessibility rules at or above the step's impact."""
    from .accessibility import check_page, failure

    args = step.expect_accessible
    if ctx.accessibility is not None:
        broken = await ctx.accessibility(args)
    else:
        broken = await check_page(ctx.page, args)
    problem = failure(broken, args.impact)
    if problem is not None:
        raise StepFailed(problem)


@action("mark")
async def mark(ctx: StepContext, step: m.MarkStep) -> None:
    """Record a milestone of the task."""
    ctx.marks.append(step.mark)
