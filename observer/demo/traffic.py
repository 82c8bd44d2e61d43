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


async def _visit(
    browser: Any, devices: dict[str, Any], shop: str, device: str | None, path: list[str]
) -> None:
    opts = {k: v for k, v in devices.get(device or "", {}).items() if k != "default_browser_type"}
    context = await browser.new_context(**opts)
    try:
        page = await context.new_page()
        for step in path:
            if step == "buy":
                await page.click("text=Add to cart", timeout=10_000)
                await page.goto(f"{shop}/checkout")
                await page.fill("#address", "42 Demo Road", timeout=10_000)
                await page.click("text=Place order", timeout=10_000)
                await page.wait_for_url("**/orders/*", timeout=10_000)
            else:
                await page.goto(f"{shop}{step}")
                with contextlib.suppress(Exception):
                    await page.click("h1", timeout=2_000)  # an interaction, so INP is measured
        # Leaving the page hides it: the snippet sends what it has with sendBeacon.
        await page.goto("about:blank")
    finally:
        await context.close()


async def customers(shop: str, rounds: int = 1) -> int:
    """Send `rounds` of pretend customers through the shop; returns how many visits were made."""
    from playwright.async_api import async_playwright

    from ..browser import launch

    async with async_playwright() as pw:
        browser = await launch(pw, None)
        try:
            done = 0
            for _ in range(rounds):
                results = await asyncio.gather(
                    *(_visit(browser, pw.devices, shop, d, p) for d, p in VISITS),
                    return_exceptions=True,
                )
                done += sum(1 for r in results if not isinstance(r, BaseException))
            return done
        finally:
            await browser.close()
