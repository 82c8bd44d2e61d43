"""Run many probes concurrently: one Chromium per invocation, one context per journey."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import Probe, Project
from .hints import did_you_mean
from .results import ObserverError, Outcome, ProbeResult, Replay
from .secrets import Redactor

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser, Playwright

    from .conditions import Conditions
    from .throttle import Holder

ResultHook = Callable[[ProbeResult], None]
StartHook = Callable[[Probe], None]


class BrowserPool:
    """Starts Chromium on first need and shares it; starts a new one when it died.

    A failure to launch is remembered: for the rest of a one-shot invocation, or for
    `retry_after` seconds in the daemon.
    """

    def __init__(
        self, project: Project, headed: bool = False, retry_after: float | None = None
    ) -> None:
        self.project = project
        self.headed = headed
        self.retry_after = retry_after
        self._pw_cm: Any = None
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None
        self.devices: dict[str, Any] = {}
        self.failure: str | None = None
        self.failed_at = 0.0
        self.tag = uuid.uuid4().hex[:12]
        self._lock = asyncio.Lock()
        # Throttled journeys run in a browser of their own, where new pages' documents wait
        # for their throttle (observer.throttle): the others never wait on that.
        self.throttled: Browser | None = None
        self.holder: Holder | None = None
        self.throttled_tag = uuid.uuid4().hex[:12]

    def adopt(self, manager: Any, playwright: Playwright) -> None:
        """Use a Playwright driver started elsewhere on this loop (see observer.early)."""
        if self.playwright is None:
            self._pw_cm, self.playwright = manager, playwright
            self.devices = dict(playwright.devices)

    async def get(self) -> Browser:
        """The shared browser, launched when needed; raises ObserverError if it cannot be."""
        return (await self._get(throttled=False))[0]

    async def get_throttled(self) -> tuple[Browser, Holder]:
        """The browser of throttled journeys, with its holder of new pages; launched when
        needed (and only it: a file of throttled journeys starts one browser)."""
        browser, holder = await self._get(throttled=True)
        assert holder is not None
        return browser, holder

    async def _get(self, throttled: bool) -> tuple[Browser, Holder | None]:
        async with self._lock:
            have = self.throttled if throttled else self.browser
            if have is not None and have.is_connected():
                return have, self.holder if throttled else None
            if have is not None:  # it crashed or was killed: let it go
                if throttled:
                    self.throttled = self.holder = None
                else:
                    self.browser = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(have.close(), timeout=5)
            if self.failure is not None:
                waited = time.monotonic() - self.failed_at
                if self.retry_after is None or waited < self.retry_after:
                    raise ObserverError(self.failure)
                self.failure = None
            try:
                return await self._launch(throttled)
            except ObserverError as exc:
                self.failure, self.failed_at = str(exc), time.monotonic()
                raise
            except Exception as exc:  # the driver itself could not start
                self.failure = f"could not start Playwright: {exc}"
                self.failed_at = time.monotonic()
                raise ObserverError(self.failure) from exc

    async def _launch(self, throttled: bool) -> tuple[Browser, Holder | None]:
        from . import browser as br

        br.lab_script()  # fail early and clearly if the bundle is missing
        if self.playwright is None:
            from playwright.async_api import async_playwright

            self._pw_cm = async_playwright()
            self.playwright = await self._pw_cm.start()
            self.devices = dict(self.playwright.devices)
        # A tag per launch: killing a stuck browser must not kill its replacement.
        tag = uuid.uuid4().hex[:12]
        settings = self.project.config.settings.browser
        browser = await br.launch(self.playwright, settings, self.headed, tag)
        if not throttled:
            self.tag, self.browser = tag, browser
            return browser, None
        from .throttle import Holder

        try:
            holder = await Holder.start(browser)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), timeout=5)
            raise ObserverError(f"could not watch the throttled browser's pages: {exc}") from exc
        self.throttled_tag, self.throttled, self.holder = tag, browser, holder
        return browser, holder

    def kill(self) -> int:
        """Kill this pool's Chromium processes (it stopped answering); the next get() relaunches."""
        import os
        import signal

        from .browser import tagged_processes

        pids = tagged_processes(self.tag) + tagged_processes(self.throttled_tag)
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    async def close(self) -> None:
        """Close the browsers and the Playwright driver."""
        for browser in (self.browser, self.throttled):
            if browser is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browser.close(), timeout=10)
        self.throttled = self.holder = None
        if self._pw_cm is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pw_cm.__aexit__(None, None, None), timeout=10)
        self.browser = None
        self.playwright = None


def error_result(
    probe: Probe,
    message: str,
    location: str | None = None,
    conditions: Conditions | None = None,
) -> ProbeResult:
    """A result for a probe observer could not run."""
    return ProbeResult(
        probe=probe.name,
        kind=probe.kind,
        outcome=Outcome.ERROR,
        started_at=time.time(),
        duration_ms=0.0,
        error=message,
        location=location,
        device=conditions.device if conditions else probe.device,
        conditions=conditions.to_dict() if conditions and probe.kind == "journey" else None,
    )


async def run_probe(
    project: Project,
    probe: Probe,
    pool: BrowserPool,
    client: Callable[[], httpx.AsyncClient],
    after_failure: bool = False,
    replay: bool = False,
    conditions: Conditions | None = None,
) -> ProbeResult:
    """Run one probe once, its result not yet redacted; never raises for the probe's own trouble.

    `client` gives the shared HTTP client; it is only asked for by HTTP checks, so a file of
    journeys never imports httpx. `conditions`: one entry of the probe's conditions (its only
    one when None).
    """
    from .conditions import conditions_of
    from .http_check import run_http
    from .journey import run_journey

    location = project.config.settings.location
    if probe.kind == "http":
        return await run_http(client(), project, probe)
    if conditions is None:
        conditions = conditions_of(probe, project.config.settings)[0]
    try:
        if conditions.throttled:
            browser, _ = await pool.get_throttled()
        else:
            browser = await pool.get()
    except ObserverError as exc:
        return error_result(probe, str(exc), location, conditions)
    return await run_journey(
        browser,
        project,
        probe,
        conditions=conditions,
        devices=pool.devices,
        # Absolute: the paths are stored, and read later from other working directories.
        artifacts_root=project.resolve(project.config.settings.artifacts).absolute(),
        after_failure=after_failure,
        replay=replay,
    )


def http_client(project: Project) -> httpx.AsyncClient:
    """One client for all HTTP probes of an invocation."""
    import httpx

    return httpx.AsyncClient(
        verify=project.config.settings.verify_tls,
        follow_redirects=True,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )


class Runner:
    """Runs probes with one browser and one HTTP client for its whole life (use `async with`)."""

    def __init__(
        self,
        project: Project,
        *,
        concurrency: int | None = None,
        headed: bool = False,
        retry_launch_after: float | None = None,
    ) -> None:
        self.project = project
        self.limit = asyncio.Semaphore(concurrency or project.config.settings.concurrency)
        self.redactor = Redactor(project.secrets)
        self.pool = BrowserPool(project, headed=headed, retry_after=retry_launch_after)
        self._client: httpx.AsyncClient | None = None
        self._entered = False
        # Probes whose last attempt did not pass: their next attempt is traced (on_retry).
        self._failing: set[str] = set()

    def use(self, project: Project) -> None:
        """Run a reloaded project from now on; the browser and HTTP client stay."""
        self.project = project
        self.pool.project = project
        self.redactor = Redactor(project.secrets)

    async def __aenter__(self) -> Runner:
        self._entered = True
        return self

    def client(self) -> httpx.AsyncClient:
        """The HTTP client of this runner, made on first use (httpx costs ~0.15 s to import)."""
        if self._client is None:
            self._client = http_client(self.project)
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.pool.close()
        finally:
            self._entered = False
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def attempt(
        self, probe: Probe, *, replay: bool = False, conditions: Conditions | None = None
    ) -> ProbeResult:
        """One attempt at a probe, redacted; never raises for the probe's own trouble.

        Every result leaves the runner through here: it is the one place secrets are masked.
        `replay`: a traced rerun of a failure (see `replay`), which leaves the streak as it is.
        """
        assert self._entered, "use Runner in `async with`"
        # The project as it was when the attempt began: a reload meanwhile (daemon) must not
        # change the secrets this result is masked with.
        project, redactor = self.project, self.redactor
        streak = _streak(probe, conditions)
        try:
            result = await run_probe(
                project,
                probe,
                self.pool,
                self.client,
                after_failure=not replay and streak in self._failing,
                replay=replay,
                conditions=conditions,
            )
        except Exception as exc:  # a bug of ours must not hide other results
            result = error_result(probe, f"internal error: {exc!r}", conditions=conditions)
        if result.run_secrets:
            redactor = Redactor([*project.secrets, *result.run_secrets])
            result.run_secrets = []
        result = redactor.data(result)
        if replay:
            return result  # not an attempt of its own: the streak is the replayed run's
        if result.outcome == Outcome.PASS:
            self._failing.discard(streak)
        else:
            self._failing.add(streak)
        return result

    def variants(self, probe: Probe) -> list[Conditions]:
        """The conditions a probe runs under: one set, or its matrix's entries."""
        from .conditions import conditions_of

        return conditions_of(probe, self.project.config.settings)

    async def run_one(self, probe: Probe, conditions: Conditions | None = None) -> ProbeResult:
        """A probe with its retries: the final attempt, carrying the ones it replaced."""
        settings = self.project.config.settings
        retries = probe.retries if probe.retries is not None else settings.retries
        earlier: list[ProbeResult] = []
        # A failure that follows a failure is the same streak: its first run has the trace.
        streak = _streak(probe, conditions) in self._failing
        for number in range(1, retries + 2):
            result = await self.attempt(probe, conditions=conditions)
            result.attempt = number
            if result.outcome == Outcome.PASS or number > retries:
                result.retried = earlier
                if not streak:
                    await self.replay(probe, result, conditions)
                return result
            result.final = False
            earlier.append(result)
        raise AssertionError("unreachable")

    async def replay(
        self, probe: Probe, result: ProbeResult, conditions: Conditions | None = None
    ) -> None:
        """`trace: on_failure`: a journey that failed untraced runs once more with tracing, and
        keeps that trace when the failure repeats. Runs are never measured with the tracer on
        (it slows the page); the replay is not a run, and only its trace is kept. Only the
        first failure of a streak is replayed, so a broken site is not asked twice as often."""
        if (
            result.outcome != Outcome.FAIL
            or probe.kind != "journey"
            or self.project.config.settings.trace != "on_failure"
        ):
            return
        # attempt() never raises for the probe: the run's own result stands whatever happens.
        again = await self.attempt(probe, replay=True, conditions=conditions)
        result.replay = Replay(again.outcome, again.failed_step, again.error)
        for artifact in again.artifacts:
            if artifact.kind == "trace" and again.outcome != Outcome.PASS:
                result.artifacts.append(artifact)
            else:  # a screenshot step's file: the run has its own
                with contextlib.suppress(OSError):
                    os.unlink(artifact.path)

    async def run(
        self,
        probes: list[Probe],
        *,
        on_start: StartHook | None = None,
        on_result: ResultHook | None = None,
    ) -> list[ProbeResult]:
        """Run each probe once (with retries), once per entry of its conditions, at most
        `concurrency` at a time, in probe order."""
        jobs = [(p, c) for p in probes for c in self.variants(p)]
        results: list[ProbeResult | None] = [None] * len(jobs)

        async def one(i: int, probe: Probe, conditions: Conditions) -> None:
            async with self.limit:
                if on_start:
                    on_start(probe)
                results[i] = res = await self.run_one(probe, conditions)
                if on_result:
                    on_result(res)

        await asyncio.gather(*(one(i, p, c) for i, (p, c) in enumerate(jobs)))
        return [r for r in results if r is not None]


def _streak(probe: Probe, conditions: Conditions | None) -> str:
    """What a failure streak is kept by: the probe, under its conditions."""
    return f"{probe.name}\n{conditions.label}" if conditions else probe.name


async def run_all(
    project: Project,
    probes: list[Probe],
    *,
    concurrency: int | None = None,
    headed: bool = False,
    on_start: StartHook | None = None,
    on_result: ResultHook | None = None,
) -> list[ProbeResult]:
    """Run each probe once with a browser of its own; results in probe order."""
    async with Runner(project, concurrency=concurrency, headed=headed) as runner:
        return await runner.run(probes, on_start=on_start, on_result=on_result)


def select_probes(project: Project, names: list[str] | tuple[str, ...]) -> list[Probe]:
    """The probes named (all enabled ones when none); unknown names raise KeyError with hints."""
    if not names:
        return [p for p in project.probes if p.enabled]
    chosen: list[Probe] = []
    for name in names:
        try:
            chosen.append(project.probe(name))
        except KeyError:
            all_names = [p.name for p in project.probes]
            raise KeyError(
                f"no probe named '{name}'{did_you_mean(name, all_names)}; "
                f"probes: {', '.join(all_names)}"
            ) from None
    return chosen
