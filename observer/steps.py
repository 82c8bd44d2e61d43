"""Journey step actions: one small function each, in a registry keyed by action name."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import models as m

if TYPE_CHECKING:
    from playwright.async_api import Page


class StepFailed(Exception):
    """The site did not do what the step expected: a `fail`."""


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
    await ctx.page.locator(step.click.selector).click(
        button=step.click.button, click_count=step.click.click_count, timeout=ctx.timeout_ms
    )


@action("fill")
async def fill(ctx: StepContext, step: m.FillStep) -> None:
    """Type a value into a field."""
    await ctx.page.locator(step.fill.selector).fill(step.fill.value, timeout=ctx.timeout_ms)


@action("press")
async def press(ctx: StepContext, step: m.PressStep) -> None:
    """Press a key, in an element or on the page."""
    if step.press.selector:
        await ctx.page.locator(step.press.selector).press(step.press.key, timeout=ctx.timeout_ms)
    else:
        await ctx.page.keyboard.press(step.press.key)


@action("select")
async def select(ctx: StepContext, step: m.SelectStep) -> None:
    """Choose option(s) of a <select>."""
    loc = ctx.page.locator(step.select.selector)
    if step.select.label is not None:
        await loc.select_option(label=step.select.label, timeout=ctx.timeout_ms)
    else:
        await loc.select_option(value=step.select.value, timeout=ctx.timeout_ms)


@action("check")
async def check(ctx: StepContext, step: m.CheckStep) -> None:
    """Tick a checkbox or radio button."""
    await ctx.page.locator(step.check.selector).check(timeout=ctx.timeout_ms)


@action("uncheck")
async def uncheck(ctx: StepContext, step: m.UncheckStep) -> None:
    """Untick a checkbox."""
    await ctx.page.locator(step.uncheck.selector).uncheck(timeout=ctx.timeout_ms)


@action("hover")
async def hover(ctx: StepContext, step: m.HoverStep) -> None:
    """Move the mouse over an element."""
    await ctx.page.locator(step.hover.selector).hover(timeout=ctx.timeout_ms)


@action("wait_for")
async def wait_for(ctx: StepContext, step: m.WaitForStep) -> None:
    """Wait for an element state, a URL or a load state."""
    args = step.wait_for
    if args.selector is not None:
        await ctx.page.locator(args.selector).first.wait_for(
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


async def _poll(
    ctx: StepContext, check: Callable[[], Awaitable[bool]], what: Callable[[], str]
) -> None:
    """Retry check until it holds or the step's time runs out, like Playwright's expect."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.timeout_ms / 1000
    delay = 0.05
    while True:
        if await check():
            return
        if loop.time() >= deadline:
            raise StepFailed(what())
        await asyncio.sleep(min(delay, max(0.0, deadline - loop.time())))
        delay = min(delay * 2, 0.5)


@action("expect_text")
async def expect_text(ctx: StepContext, step: m.ExpectTextStep) -> None:
    """Visible text must appear on the page (or inside selector)."""
    args = step.expect_text
    scope = ctx.page.locator(args.selector or "body").first

    async def check() -> bool:
        try:
            text = await scope.inner_text(timeout=min(ctx.timeout_ms, 1000))
        except Exception as exc:
            if _is_timeout(exc):
                return False
            raise
        return args.text in text

    where = f" in {args.selector}" if args.selector else ""
    await _poll(ctx, check, lambda: f"text '{args.text}' not found{where} on {ctx.page.url}")


@action("expect_visible")
async def expect_visible(ctx: StepContext, step: m.ExpectVisibleStep) -> None:
    """An element must be visible."""
    loc = ctx.page.locator(step.expect_visible.selector).first
    try:
        await loc.wait_for(state="visible", timeout=ctx.timeout_ms)
    except Exception as exc:
        if _is_timeout(exc):
            raise StepFailed(
                f"'{step.expect_visible.selector}' is not visible on {ctx.page.url}"
            ) from None
        raise


@action("expect_url")
async def expect_url(ctx: StepContext, step: m.ExpectUrlStep) -> None:
    """The page URL must match a glob."""
    pattern = glob_to_regex(step.expect_url.url)
    try:
        await ctx.page.wait_for_url(pattern, wait_until="commit", timeout=ctx.timeout_ms)
    except Exception as exc:
        if _is_timeout(exc):
            raise StepFailed(
                f"URL is {ctx.page.url}, expected it to match {step.expect_url.url}"
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

    how = "equal" if args.exact else "contain"
    await _poll(ctx, check, lambda: f"title is '{last}', expected it to {how} '{args.title}'")


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


@action("mark")
async def mark(ctx: StepContext, step: m.MarkStep) -> None:
    """Record a milestone of the task."""
    ctx.marks.append(step.mark)


def _is_timeout(exc: BaseException) -> bool:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    return isinstance(exc, PlaywrightTimeout)
