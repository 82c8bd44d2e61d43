"""The demo checkout journey as a plain Playwright script: the yardstick for observer's overhead.

Same Chromium, same launch flags, same steps, same waits as probes.example.yaml's checkout.
"""

from __future__ import annotations

import asyncio
import sys

from playwright.async_api import async_playwright

from observer.browser import find_chromium, launch_args


async def main(base: str, trace: bool) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=find_chromium().path, headless=True, args=launch_args(None)
        )
        context = await browser.new_context()
        if trace:  # what observer's trace: on_failure records for a journey that types a secret
            await context.tracing.start(screenshots=False, snapshots=True, sources=False)
        page = await context.new_page()
        await page.goto(f"{base}/login")
        await page.locator("#email").fill("demo@example.com")
        await page.locator("#password").fill("demo")
        await page.locator("button[type=submit]").click()
        await page.locator("body").get_by_text("Welcome").first.wait_for()
        await page.goto(f"{base}/products/1")
        await page.locator("text=Add to cart").click()
        await page.goto(f"{base}/cart")
        await page.locator("text=Checkout").click()
        await page.locator("#address").fill("1 Main St")
        await page.locator("text=Place order").click()
        await page.wait_for_url("**/orders/*")
        await page.locator("body").get_by_text("Thank you").first.wait_for()
        if trace:
            await context.tracing.stop()  # passed: nothing to keep
        await context.close()
        await browser.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], "--trace" in sys.argv[2:]))
