"""When probes run: every N or by cron, with start jitter, never overlapping themselves,
under one concurrency limit, skipping (not queueing) runs missed during a stall."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .config import Probe

log = logging.getLogger("observer.scheduler")

RunProbe = Callable[
    [Probe, float], Coroutine[Any, Any, None]
]  # probe, scheduled time (unix seconds)


def next_cron(expr: str, after: float) -> float:
    """The first time strictly after `after` that a cron expression names (UTC)."""
    from croniter import croniter

    start = datetime.fromtimestamp(after, tz=UTC)
    return float(croniter(expr, start).get_next(float))


def jitter(name: str, interval: float, cap: float = 30.0) -> float:
    """A stable offset in [0, min(interval, cap)) per probe, so probes do not fire together."""
    digest = hashlib.sha256(name.encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return fraction * min(interval, cap)


def aligned_next(now: float, every: float, offset: float) -> float:
    """The first k * every + offset after now."""
    return (math.floor((now - offset) / every) + 1) * every + offset


def slot_number(probe: Probe, scheduled: float, every: float | None) -> int:
    """Which slot a scheduled run is: the same number for every runner that meets it, even a
    few seconds apart (a cron run: its second; else its place on the epoch-aligned grid)."""
    if every is None:
        return round(scheduled)
    return round((scheduled - jitter(probe.name, every)) / every)


class Gate:
    """At most `limit` holders at once; unlike a semaphore the limit can change while held
    (a reload): a higher one lets waiters in at once, a lower one lets none in until enough
    holders have left."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.held < self.limit)
            self.held += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._changed:
            self.held -= 1
            self._changed.notify_all()

    async def resize(self, limit: int) -> None:
        """A new limit, for whoever enters next."""
        async with self._changed:
            self.limit = limit
            self._changed.notify_all()


@dataclass
class Slot:
    """One probe's schedule and what it did last."""

    probe: Probe
    every: float | None
    cron: str | None
    next_at: float = 0.0
    running: bool = False
    runs: int = 0
    skipped: int = 0
    last_lag: float = 0.0
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def following(self, now: float) -> float:
        """The next slot after now; slots that passed during a stall are skipped."""
        if self.cron:
            return next_cron(self.cron, now)
        assert self.every is not None
        if self.next_at <= 0:
            return now + self.every
        missed = max(0, int((now - self.next_at) // self.every) + 1)
        self.skipped += max(0, missed - 1)
        return self.next_at + missed * self.every


class Scheduler:
    """Runs each probe on its schedule through `run`, at most `concurrency` at once."""

    def __init__(
        self,
        run: RunProbe,
        concurrency: int,
        clock: Callable[[], float] = time.time,
        *,
        aligned: bool = False,
    ) -> None:
        self.run = run
        self.limit = Gate(concurrency)
        self.clock = clock
        # On a grid from the epoch (k * every + jitter): every runner sharing a database then
        # meets the same slots at the same moments, whenever it started.
        self.aligned = aligned
        self.slots: dict[str, Slot] = {}
        self.stopping = False
        self.in_flight: set[asyncio.Task[None]] = set()

    def set_probes(self, probes: list[Probe], default_every: float) -> None:
        """Start, keep or stop loops so exactly these probes are scheduled."""
        wanted = {p.name: p for p in probes if p.enabled}
        for name in list(self.slots):
            if name not in wanted:
                slot = self.slots.pop(name)
                if slot.task is not None:
                    slot.task.cancel()  # its in-flight run, if any, is left to finish
                log.info("unscheduled %s", name)
        for name, probe in wanted.items():
            every = None if probe.cron else (probe.every or default_every)
            old = self.slots.get(name)
            if old is not None and old.every == every and old.cron == probe.cron:
                old.probe = probe  # same schedule: the new definition runs next time
                continue
            if old is not None and old.task is not None:
                old.task.cancel()
            slot = Slot(probe, every, probe.cron)
            now = self.clock()
            if probe.cron:
                slot.next_at = next_cron(probe.cron, now)
            else:
                assert every is not None
                slot.next_at = (
                    aligned_next(now, every, jitter(name, every))
                    if self.aligned
                    else now + jitter(name, every)
                )
            self.slots[name] = slot
            slot.task = asyncio.get_running_loop().create_task(
                self._loop(slot), name=f"probe:{name}"
            )
            log.info(
                "scheduled %s %s", name, f"cron {probe.cron}" if probe.cron else f"every {every:g}s"
            )

    async def _loop(self, slot: Slot) -> None:
        while not self.stopping:
            delay = slot.next_at - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stopping:
                return
            scheduled = slot.next_at
            async with self.limit:
                if self.stopping:
                    return
                start = self.clock()
                slot.last_lag = max(0.0, start - scheduled)
                slot.running = True
                # The run itself is a task of its own: cancelling the schedule (a reload)
                # must not cut a run short; a shutdown decides about it separately.
                task = asyncio.get_running_loop().create_task(self.run(slot.probe, scheduled))
                self.in_flight.add(task)
                try:
                    await asyncio.shield(task)
                except asyncio.CancelledError:
                    if not task.done():
                        task.add_done_callback(self.in_flight.discard)
                        raise
                except Exception:
                    log.exception("run of %s failed", slot.probe.name)
                finally:
                    if task.done():
                        self.in_flight.discard(task)
                    slot.running = False
                    slot.runs += 1
            slot.next_at = slot.following(self.clock())

    async def stop(self, grace: float) -> int:
        """Stop scheduling; let in-flight runs finish for `grace` seconds, then cancel them.

        Returns how many runs were cancelled.
        """
        self.stopping = True
        for slot in self.slots.values():
            if slot.task is not None:
                slot.task.cancel()
        pending = [t for t in self.in_flight if not t.done()]
        if not pending:
            return 0
        _done, still = await asyncio.wait(pending, timeout=grace)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=5)
        return len(still)
