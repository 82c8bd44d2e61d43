"""Running probes for a command: rounds, each recorded as it ends, and the deploy gate's check
(rounds, then the budgets judged over that batch alone)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .accessibility import Found
    from .budgets import Rule
    from .config import Probe, Project
    from .early import EarlyDriver
    from .report.check import Report
    from .results import ProbeResult
    from .store import Store


class Watcher(Protocol):
    """Told as each probe starts and ends (a progress display)."""

    def start(self, probe: Probe) -> None:
        """A probe began."""

    def finish(self, result: ProbeResult) -> None:
        """A probe ended, with its final result."""


@dataclass(frozen=True)
class Rounds:
    """How to run the probes: how many times, at once, and how the runs are recorded."""

    count: int = 1
    concurrency: int | None = None
    headed: bool = False
    source: str = "run"  # run, check, serve: who recorded a run
    batch: str | None = None  # one check's runs, judged together


def run_and_record(
    project: Project,
    probes: list[Probe],
    store: Store,
    rounds: Rounds = Rounds(),
    *,
    early: EarlyDriver | None = None,
    watcher: Watcher | None = None,
) -> list[ProbeResult]:
    """Run the probes `rounds.count` times, recording each round as it ends, so an interrupted
    check keeps what it measured. With `early`, they run on its loop with the Playwright
    driver it has been booting. StoreError if a round cannot be recorded."""
    import asyncio

    from .runner import Runner

    async def go() -> list[ProbeResult]:
        everything: list[ProbeResult] = []
        async with Runner(project, concurrency=rounds.concurrency, headed=rounds.headed) as runner:
            driver = await early.driver() if early else None
            if driver is not None:
                runner.pool.adopt(*driver)
            for _ in range(rounds.count):
                results = await runner.run(
                    probes,
                    on_start=watcher.start if watcher else None,
                    on_result=watcher.finish if watcher else None,
                )
                store.record_many(results, source=rounds.source, batch=rounds.batch)
                everything += results
        return everything

    return early.run(go()) if early else asyncio.run(go())


@dataclass(frozen=True)
class Baseline:
    """An earlier check's --json: its budgets' samples (for `regression:`), and its
    accessibility violations (None: it had no such section)."""

    values: dict[str, list[float]] | None = None
    accessibility: list[Found] | None = None

    @classmethod
    def read(cls, path: str) -> Baseline:
        """The file, read once; ValueError says what is wrong with it."""
        from .accessibility import baseline_violations
        from .budgets import baseline_values, read_check

        data = read_check(path)
        return cls(baseline_values(data, path), baseline_violations(data, path))


def check(
    project: Project,
    probes: list[Probe],
    rules: list[Rule],
    store: Store,
    rounds: Rounds,
    *,
    baseline: Baseline | None = None,
    early: EarlyDriver | None = None,
    watcher: Watcher | None = None,
) -> Report:
    """`observer check`: run the probes in rounds as one batch, then judge the budgets over
    that batch alone (and against a baseline for `regression:` budgets, and its
    accessibility violations, to find the new ones and the fixed)."""
    from dataclasses import replace

    from . import accessibility
    from .budgets import evaluate
    from .report.check import Report

    batch = uuid.uuid4().hex
    rounds = replace(rounds, source="check", batch=batch)
    results = run_and_record(project, probes, store, rounds, early=early, watcher=watcher)
    baseline = baseline or Baseline()
    verdicts = evaluate(rules, store, batch=batch, baselines=baseline.values)
    report = Report(verdicts, results, runs=rounds.count, batch=batch, database=store.name)
    report.violations = accessibility.found(results)
    if baseline.accessibility is not None:
        checked = {page for r in results for page in r.a11y_checked}
        report.accessibility = accessibility.compare(
            report.violations, baseline.accessibility, checked
        )
    return report
