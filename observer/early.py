"""Start Playwright's driver while the probe file is still being read.

Playwright's driver is a Node.js process that takes about 0.4 s to boot, during which Python
only waits; reading and validating a probe file costs about as much Python time. A one-shot
`observer run` or `observer check` therefore boots the driver on an event loop in a thread of
its own first, reads the file meanwhile, and then runs the probes on that same loop (Playwright's
objects belong to the loop that made them). The browser itself is still launched from the
file's settings, after they are read.

This module imports nothing heavy: the thread imports asyncio and Playwright itself.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

    from playwright.async_api import Playwright

T = TypeVar("T")

# How long closing may take before the process goes on without it.
CLOSE_TIMEOUT = 10.0
# How long the caller waits for the driver's process to be spawned before going on anyway.
SPAWN_TIMEOUT = 2.0


def wants_browser(file: str) -> bool:
    """Whether a probe file probably has journeys (a wrong guess only costs or saves time)."""
    try:
        text = Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False  # the loader reports it
    return "journey" in text or "include" in text


class EarlyDriver:
    """An event loop in a thread, with Playwright's driver booting on it from the start."""

    def __init__(self) -> None:
        self._loop_ready: Future[asyncio.AbstractEventLoop] = Future()
        self._driver: Future[tuple[Any, Playwright]] = Future()
        self._adopted = False
        self._spawning = threading.Event()
        self._boot_task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="observer-loop", daemon=True)
        self._thread.start()
        # Let the thread import Playwright and spawn the driver before the caller goes on to
        # read the file: both are Python work, and sharing the GIL would delay the spawn by
        # as long as the reading takes.
        self._spawning.wait(SPAWN_TIMEOUT)

    def _main(self) -> None:
        import asyncio

        try:
            loop = asyncio.new_event_loop()
        except BaseException as exc:  # no loop, no driver: the caller runs without them
            self._loop_ready.set_exception(exc)
            self._spawning.set()
            raise
        asyncio.set_event_loop(loop)
        spawn = loop.subprocess_exec

        async def spawned(*args: Any, **kwargs: Any) -> Any:
            try:
                return await spawn(*args, **kwargs)
            finally:
                self._spawning.set()  # the driver's process exists: the caller may go on

        loop.subprocess_exec = spawned  # type: ignore[method-assign]
        self._boot_task = loop.create_task(self._boot())
        self._loop_ready.set_result(loop)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _boot(self) -> None:
        try:
            from playwright.async_api import async_playwright

            manager = async_playwright()
            playwright = await manager.start()
        except BaseException as exc:  # reported by the browser pool when it starts its own
            self._driver.set_exception(exc)
        else:
            self._driver.set_result((manager, playwright))
        finally:
            self._spawning.set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the probes must run on."""
        return self._loop_ready.result()

    async def driver(self) -> tuple[Any, Playwright] | None:
        """Hand the booted driver over (once); None if it could not start."""
        import asyncio

        if self._adopted:
            return None
        try:
            pair = await asyncio.wrap_future(self._driver)
        except Exception:
            return None
        self._adopted = True
        return pair

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for it; Ctrl-C cancels it and waits for its
        clean-up (closing the browser) before re-raising."""
        import asyncio

        done = threading.Event()

        async def wrapped() -> T:
            try:
                return await coro
            finally:
                done.set()

        future = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            done.wait(CLOSE_TIMEOUT)
            raise

    def close(self) -> None:
        """Stop the driver if nobody took it, then the loop and its thread."""
        import asyncio

        loop = self.loop
        if not self._adopted:

            async def stop_driver() -> None:
                pair = await self.driver()
                if pair is not None:
                    await pair[0].__aexit__(None, None, None)

            future = asyncio.run_coroutine_threadsafe(
                asyncio.wait_for(stop_driver(), CLOSE_TIMEOUT), loop
            )
            # On failure the driver still exits with this process: its stdin closes.
            with contextlib.suppress(Exception):
                future.result(CLOSE_TIMEOUT + 1)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(CLOSE_TIMEOUT)

    def __enter__(self) -> EarlyDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def early_driver(file: str) -> Iterator[EarlyDriver | None]:
    """An EarlyDriver when the file probably has journeys (else None), closed afterwards."""
    if not wants_browser(file):
        yield None
        return
    early = EarlyDriver()
    try:
        early.loop  # noqa: B018 (raises if the thread could not make its loop)
    except Exception:
        yield None
        return
    try:
        yield early
    finally:
        early.close()
