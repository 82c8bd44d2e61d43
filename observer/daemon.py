"""`observer serve`'s engine: scheduled probes, budgets judged every cycle, reloads, retention."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import __version__
from .budgets import Verdict, evaluate
from .config import ConfigError, Probe, Project, load_for_serve
from .results import Outcome, ProbeResult
from .retention import keep_pruning
from .runner import Runner, error_result
from .scheduler import Scheduler, slot_number
from .store import StoreError
from .store.rows import RunnerRow
from .store.spool import Spool

if TYPE_CHECKING:
    from .conditions import Conditions
    from .metrics import Metrics
    from .store import Store

log = logging.getLogger("observer.daemon")
# How often an alerter that does not lead asks again (and the leader checks it still does):
# a killed leader is replaced within this and PostgreSQL noticing its session ended.
LEAD_EVERY = 5.0
# Past a probe's own timeout (and its retries), this much longer means observer itself hangs.
HANG_MARGIN = 20.0


@dataclass
class Cycle:
    """What one evaluation round hands to alerting: verdicts and the runs since the last round."""

    at: float
    verdicts: list[Verdict]
    results: list[ProbeResult]
    project: Project


CycleHook = Callable[[Cycle], Any]  # may return an awaitable


@dataclass
class Daemon:
    """Runs the probes on their schedules and judges the budgets, until stopped."""

    project: Project
    store: Store
    metrics: Metrics | None = None
    watch: bool = False
    hooks: list[CycleHook] = field(default_factory=list)
    on_reload: list[Callable[[Project], None]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    last_cycle: float | None = None
    _recent: list[ProbeResult] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _runner: Runner | None = None
    _scheduler: Scheduler | None = None
    _mtimes: dict[str, float] = field(default_factory=dict)
    roles: frozenset[str] = frozenset({"runner", "alerter"})  # what this process does
    location: str | None = None  # --location, over settings.location
    _offset: float = 0.0  # the database's clock minus ours
    _identity: RunnerRow | None = None
    _spool: Spool | None = None
    leading: bool = False  # this process judges and alerts for every alerter sharing the db
    on_lead: list[Callable[[], Any]] = field(default_factory=list)  # may return an awaitable
    _spool_lock: int | None = None

    @property
    def runs_probes(self) -> bool:
        """The runner role: probes run here on their schedules."""
        return "runner" in self.roles

    @property
    def judges(self) -> bool:
        """The alerter role: budgets are judged every cycle (and retention kept)."""
        return "alerter" in self.roles

    async def start(self) -> None:
        """Launch nothing yet (the browser starts with the first journey); begin scheduling."""
        self.project = self._located(self.project)
        settings = self.project.config.settings
        loop = asyncio.get_running_loop()
        if self.store.shared:
            await self._heartbeat()  # also reads the database's clock
            self._tasks.append(loop.create_task(self._heartbeat_loop(), name="heartbeat"))
        if self.runs_probes and self.store.shared:
            self._spool = self._open_spool()
            self._tasks.append(loop.create_task(self._replay_loop(), name="spool"))
        if self.runs_probes:
            self._runner = Runner(self.project, retry_launch_after=10.0)
            await self._runner.__aenter__()
            self._scheduler = Scheduler(
                self._run, settings.concurrency, clock=self._now, aligned=self.store.shared
            )
            self._scheduler.set_probes(self._mine(self.project), settings.every)
        if self.judges:
            await self._take_lead()
            self._tasks += [
                loop.create_task(self._evaluate_loop(), name="evaluate"),
                loop.create_task(self._lead_loop(), name="lead"),
                # First let start-up finish.
                loop.create_task(
                    keep_pruning(
                        lambda: self.project, self.store, first=5, when=lambda: self.leading
                    ),
                    name="retention",
                ),
            ]
        if self.watch:
            self._mtimes = self._stat()
            self._tasks.append(loop.create_task(self._watch_loop(), name="watch"))
        scheduled = len(self._scheduler.slots) if self._scheduler else 0
        log.info("scheduling %d probes", scheduled, extra={"event": "start"})

    def _now(self) -> float:
        """Now by the database's clock (our own on SQLite)."""
        return time.time() + self._offset

    def _located(self, project: Project) -> Project:
        """The project, with --location over settings.location."""
        if self.location is None or project.config.settings.location == self.location:
            return project
        settings = project.config.settings.model_copy(update={"location": self.location})
        project.config = project.config.model_copy(update={"settings": settings})
        return project

    def _mine(self, project: Project) -> list[Probe]:
        """The probes this location runs: those without `locations`, and those naming it."""
        here = project.config.settings.location
        return [p for p in project.probes if not p.locations or here in p.locations]

    async def _heartbeat(self) -> None:
        """Tell the database this process is alive; read its clock."""
        if self._identity is None:
            self._identity = RunnerRow(
                id=f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}",
                location=self.project.config.settings.location,
                version=__version__,
                config_hash=config_hash(self.project),
                roles=",".join(sorted(self.roles)),
                started_at=time.time(),
            )
        me = self._identity
        me.in_flight = len(self._scheduler.in_flight) if self._scheduler else 0
        me.spooled = len(self._spool) if self._spool is not None else 0
        before = time.time()
        await asyncio.to_thread(self.store.heartbeat, me)
        self._offset = me.last_seen - (before + time.time()) / 2

    async def _heartbeat_loop(self, every: float = 10.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self._heartbeat()
            except Exception as exc:
                log.warning("heartbeat: %s", exc, extra={"event": "heartbeat_error"})

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler (after start)."""
        assert self._scheduler is not None
        return self._scheduler

    @property
    def runner(self) -> Runner:
        """The runner (after start)."""
        assert self._runner is not None
        return self._runner

    async def _claimed(self, probe: Probe, scheduled: float) -> bool:
        """On a shared database: whether this runner took the slot (another may have)."""
        if not self.store.shared:
            return True
        every = None if probe.cron else (probe.every or self.project.config.settings.every)
        slot = slot_number(probe, scheduled, every)
        here = self.project.config.settings.location or ""
        me = self._identity.id if self._identity else ""
        try:
            return await asyncio.to_thread(self.store.claim_slot, probe.name, here, slot, me)
        except Exception as exc:
            # Without the database no runner can claim: keep measuring (its result is
            # spooled), though another runner here may measure the same slot.
            log.warning(
                "slot %d of %s run unclaimed, the database is away: %s",
                slot,
                probe.name,
                exc,
                extra={"event": "claim_error", "probe": probe.name},
            )
            return True

    async def _run(self, probe: Probe, scheduled: float) -> None:
        if not await self._claimed(probe, scheduled):
            log.debug(
                "slot of %s taken by another runner",
                probe.name,
                extra={"event": "slot_taken", "probe": probe.name},
            )
            return
        lag = max(0.0, self._now() - scheduled)
        # A matrix runs each of its entries in the slot, one after another.
        for conditions in self.runner.variants(probe):
            await self._run_under(probe, conditions, lag)

    async def _run_under(self, probe: Probe, conditions: Conditions, lag: float) -> None:
        settings = self.project.config.settings
        retries = probe.retries if probe.retries is not None else settings.retries
        limit = (probe.timeout or settings.timeout) * (retries + 1) + HANG_MARGIN
        if probe.kind == "journey":
            from .journey import AUDIT_BUDGET, accessibility_of

            if accessibility_of(probe, settings.accessibility).mode == "audit":
                limit += AUDIT_BUDGET * (retries + 1)  # audits stand the journey's clock still
        started = time.time()
        try:
            result = await asyncio.wait_for(self.runner.run_one(probe, conditions), timeout=limit)
        except TimeoutError:
            # The journey's own timeout did not end it: the browser stopped answering.
            killed = self.runner.pool.kill()
            result = error_result(
                probe,
                f"observer gave up after {limit:g}s: the browser stopped answering "
                f"({killed} processes killed; a new one starts with the next journey)",
                settings.location,
                conditions,
            )
            # The run began when it was started, not when observer gave up on it.
            result.started_at = started
            result.duration_ms = round((time.time() - started) * 1000, 1)
        await self._record(result)
        if self.metrics is not None:
            self.metrics.observe(result, lag)
        self._recent.append(result)
        log.log(
            logging.INFO if result.outcome == Outcome.PASS else logging.WARNING,
            "run %s %s %.0fms%s",
            result.label,
            result.outcome,
            result.duration_ms,
            f": {result.error}" if result.error else "",
            extra={
                "event": "run",
                "probe": probe.name,
                "outcome": str(result.outcome),
                "duration_ms": result.duration_ms,
                "lag_s": round(lag, 3),
                "run_id": result.run_id,
            },
        )

    async def _record(self, result: ProbeResult) -> None:
        """Record a run; on a shared database that is away, spool it locally instead (after
        any spooled before it, so they reach the database in order)."""
        spool = self._spool
        try:
            if spool is not None and len(spool):
                raise StoreError("results are waiting in the spool")
            await asyncio.to_thread(self.store.record, result, source="serve")
            return
        except Exception as exc:
            if spool is None:
                log.error(
                    "run of %s not recorded: %s",
                    result.probe,
                    exc,
                    extra={"event": "store_error", "probe": result.probe},
                )
                return
            await asyncio.to_thread(spool.add, result, "serve")
            log.warning(
                "run of %s spooled (%d waiting): %s",
                result.probe,
                len(spool),
                exc,
                extra={"event": "spooled", "probe": result.probe, "waiting": len(spool)},
            )

    async def _replay_loop(self, every: float = 2.0) -> None:
        """Hand spooled results to the database, oldest first, once it answers again."""
        spool = self._spool
        assert spool is not None
        while True:
            await asyncio.sleep(every)
            sent = 0
            while (first := await asyncio.to_thread(spool.oldest)) is not None:
                spool_id, result, source, batch = first
                try:
                    await asyncio.to_thread(self.store.record, result, source=source, batch=batch)
                except Exception:
                    break  # still away: try again later
                await asyncio.to_thread(spool.done, spool_id)
                sent += 1
            if sent:
                log.info(
                    "%d spooled runs recorded",
                    sent,
                    extra={"event": "spool_replayed", "replayed": sent},
                )

    def _open_spool(self) -> Spool:
        """This runner's spool: a file beside the probe file, per location (another process at
        the same location and folder gets one of its own)."""
        here = (self.project.config.settings.location or "default").replace("/", "_")
        base = self.project.path.parent / f".observer-spool-{here}"
        for name in (f"{base}.db", f"{base}-{os.getpid()}.db"):
            # Held for the process's life: the lock goes when the process does.
            lock = os.open(f"{name}.lock", os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(lock)
                continue
            self._spool_lock = lock
            return Spool(name)
        raise StoreError(f"{base}.db: held by another observer")

    async def evaluate_now(self) -> Cycle:
        """Judge every budget over its window and hand the cycle to the hooks."""
        project = self.project
        verdicts = await asyncio.to_thread(
            evaluate,
            project.budgets,
            self.store,
            live=True,
        )
        before = {v.name: v.outcome for v in self.verdicts}
        for v in verdicts:
            if before.get(v.name) != v.outcome:
                log.info(
                    "budget %s %s: %s",
                    v.name,
                    v.outcome,
                    v.message,
                    extra={"event": "budget", "budget": v.name, "outcome": str(v.outcome)},
                )
        self.verdicts = verdicts
        if self.metrics is not None:
            self.metrics.judged(verdicts)
        results, self._recent = self._recent, []
        if self.store.shared:
            # Runs come from every runner sharing the database, not only this process's.
            results = await asyncio.to_thread(self._recorded_since_last_cycle)
        cycle = Cycle(time.time(), verdicts, results, project)
        self.last_cycle = cycle.at
        for hook in self.hooks:
            try:
                outcome = hook(cycle)
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:
                log.exception("a cycle hook failed", extra={"event": "hook_error"})
        return cycle

    async def _take_lead(self) -> None:
        """Lead the alerters if none does (always, on SQLite); on taking it, the hooks run."""
        try:
            now = await asyncio.to_thread(self.store.lead, "alerter")
        except Exception as exc:
            log.warning("lead: %s", exc, extra={"event": "lead_error"})
            now = False
        if now == self.leading:
            return
        self.leading = now
        log.info(
            "%s the alerters",
            "leading" if now else "no longer leading",
            extra={"event": "lead" if now else "lead_lost"},
        )
        if not now:
            return
        for hook in self.on_lead:
            try:
                outcome = hook()
                if asyncio.iscoroutine(outcome):
                    await outcome
            except Exception:
                log.exception("a lead hook failed", extra={"event": "hook_error"})

    async def _lead_loop(self, every: float = LEAD_EVERY) -> None:
        while True:
            await asyncio.sleep(every)
            await self._take_lead()

    def _recorded_since_last_cycle(self) -> list[ProbeResult]:
        """Final runs recorded since the leading alerter's last cycle (a cursor in the
        database, so a new leader goes on where the old one stopped)."""
        key = "alerter.last_run_id"
        cursor = self.store.get_kv(key)
        if cursor is None:  # the first cycle ever: from now on, not the history
            newest = self.store.runs(limit=1)
            self.store.set_kv(key, str(newest[0].id if newest else 0))
            return []
        rows = self.store.runs_after(int(cursor))
        results = [d.to_result() for r in rows if (d := self.store.run_details(r.id)) is not None]
        if rows:
            self.store.set_kv(key, str(rows[-1].id))
        return results

    async def _evaluate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.project.config.settings.evaluate_every)
            if not self.leading:
                continue  # another alerter judges and sends
            try:
                await self.evaluate_now()
            except Exception:
                log.exception("budget evaluation failed", extra={"event": "evaluate_error"})

    # ---------------------------------------------------------------- reloads

    def _files(self) -> list[str]:
        return [str(self.project.path), *(str(p) for p in self.project.included)]

    def _stat(self) -> dict[str, float]:
        out = {}
        for f in self._files():
            try:
                out[f] = os.stat(f).st_mtime
            except OSError:
                out[f] = -1.0
        return out

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self._stat()
            if now != self._mtimes:
                self._mtimes = now
                await self.reload("file changed")

    async def reload(self, why: str = "SIGHUP") -> bool:
        """Load the config again; a broken one is refused and the running one stays."""
        try:
            project = await asyncio.to_thread(load_for_serve, self.project.path)
        except ConfigError as exc:
            for problem in exc.problems:
                say = log.warning if problem.warning else log.error
                say("reload refused: %s", problem, extra={"event": "reload_refused"})
            # The warnings (variables not set that serve does not need) are not why.
            errors = sum(1 for p in exc.problems if not p.warning)
            log.error(
                "reload (%s) refused: %d problem%s; still running the previous config",
                why,
                errors,
                "" if errors == 1 else "s",
                extra={"event": "reload_refused"},
            )
            return False
        self.project = project = self._located(project)
        if self._identity is not None:  # the next heartbeat says which config runs now
            self._identity.config_hash = config_hash(project)
        if self.runs_probes:
            self.runner.use(project)
            await self.scheduler.limit.resize(project.config.settings.concurrency)
            self.scheduler.set_probes(self._mine(project), project.config.settings.every)
        for callback in self.on_reload:
            callback(project)
        if self.watch:
            self._mtimes = self._stat()
        log.info(
            "reloaded (%s): %d probes, %d budgets",
            why,
            len(project.probes),
            len(project.budgets),
            extra={"event": "reload"},
        )
        return True

    async def stop(self, grace: float | None = None) -> None:
        """Stop scheduling, give in-flight runs `grace` seconds, then close the browser."""
        grace = self.project.config.settings.shutdown_grace if grace is None else grace
        for task in self._tasks:
            task.cancel()
        cancelled = 0
        if self._scheduler is not None:
            cancelled = await self._scheduler.stop(grace)
        if self._runner is not None:
            await self._runner.__aexit__(None, None, None)
        log.info(
            "stopped (%d in-flight runs cancelled after %gs)",
            cancelled,
            grace,
            extra={"event": "stop", "cancelled": cancelled},
        )


def config_hash(project: Project) -> str:
    """A short hash of the probe file and its includes, as they are on disk: runners with
    different ones run different configs."""
    digest = hashlib.sha256()
    for path in [project.path, *project.included]:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"(unreadable)")
    return digest.hexdigest()[:12]
