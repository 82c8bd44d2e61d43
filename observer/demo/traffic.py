"""Pretend customers for the demo: real browsers without observer's synthetic tag, so the
demo shop's /rum.js reports them as real users."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

# Each visitor: a device and the pages they go through (the last ones buy).
VISITS: list[tuple[str | None, list[str]]] = [
    (None, ["/", "/products", "/products/1"]),
    ("iPhone 13", ["/", "/products/2", "/products/3"]),
    (None, ["/products?q=mug", "/products/6", "buy"]),
    ("Pixel 7", ["/", "/products", "/products/4", "buy"]),
    (None, ["/products/5", "/products/2", "/products/1", "buy"]),
    ("iPhone 13", ["/products", "/products/6", "buy"]),
]


# Visitors who try the product page's price alert, a button that does nothing: they click it
# three times in a row (a rage click), and nothing happens (a dead click).
IMPATIENT = (1, 4)
# How a buyer rates the checkout (1-5), by how long it took them.
SATISFIED_UNDER_S, ANNOYED_OVER_S = 1.5, 4.0


def _rating(seconds: float, who: int) -> int:
    """A pretend customer's satisfaction: fast is 4 or 5, slow 1 or 2, between 3."""
    if seconds < SATISFIED_UNDER_S:
        return 5 if who % 2 else 4
    return 3 if seconds < ANNOYED_OVER_S else (2 if who % 2 else 1)


async def _visit(
    browser: Any, devices: dict[str, Any], shop: str, device: str | None, path: list[str], who: int
) -> None:
    import time

    opts = {k: v for k, v in devices.get(device or "", {}).items() if k != "default_browser_type"}
    context = await browser.new_context(**opts)
    try:
        page = await context.new_page()
        started = time.monotonic()
        for step in path:
            if step == "buy":
                await page.click("text=Add to cart", timeout=20_000)
                await page.goto(f"{shop}/checkout")
                await page.fill("#address", "42 Demo Road", timeout=20_000)
                await page.click("text=Place order", timeout=20_000)
                await page.wait_for_url("**/orders/*", timeout=20_000)
                took = time.monotonic() - started
                await page.evaluate(
                    "r => window.observer && observer.feedback({task: 'checkout', csat: r})",
                    _rating(took, who),
                )
            else:
                await page.goto(f"{shop}{step}")
                with contextlib.suppress(Exception):
                    await page.click("h1", timeout=2_000)  # an interaction, so INP is measured
                if who in IMPATIENT and step.startswith("/products/"):
                    with contextlib.suppress(Exception):
                        await page.click("#notify", click_count=3, timeout=2_000)
                        await page.wait_for_timeout(1_200)  # nothing happened: a dead click
        # Leaving the page hides it: the snippet sends what it has with sendBeacon.
        await page.goto("about:blank")
    finally:
        await context.close()


# The last round goes through a slowed shop (its `delay_ms` fault): satisfaction falls with
# the customers' vitals, which the dashboard's split then shows.
SLOW_MS = 1500


async def customers(shop: str, rounds: int = 1, slow_round: bool = True) -> int:
    """Send `rounds` of pretend customers through the shop, and one more through a slowed shop
    (`slow_round`); returns how many visits were made."""
    import httpx
    from playwright.async_api import async_playwright

    from ..browser import launch

    async with async_playwright() as pw:
        browser = await launch(pw, None)
        try:
            done = 0
            for n in range(rounds + (1 if slow_round else 0)):
                slowed = n == rounds
                if slowed:
                    httpx.post(f"{shop}/__faults", json={"delay_ms": SLOW_MS}, timeout=10)
                try:
                    results = await asyncio.gather(
                        *(
                            _visit(browser, pw.devices, shop, d, p, i)
                            for i, (d, p) in enumerate(VISITS)
                        ),
                        return_exceptions=True,
                    )
                finally:
                    if slowed:
                        httpx.delete(f"{shop}/__faults", timeout=10)
                done += sum(1 for r in results if not isinstance(r, BaseException))
            return done
        finally:
            await browser.close()
