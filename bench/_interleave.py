"""Interleaved rounds of journeys in one Runner: what the throttling and accessibility
benchmarks share. A warm-up run of each, then rounds of one run each, the order alternating
(A B, B A, ...), bounded in time; a run that does not pass ends the benchmark."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


def passed(result: Any) -> Any:
    """The run, once it passed; exits the benchmark with its error otherwise."""
    if str(result.outcome) != "pass":
        sys.exit(f"{result.probe}: {result.outcome}: {result.error}")
    return result


async def interleaved(
    runner: Any,
    probes: dict[str, Any],
    rounds: int,
    max_seconds: float,
    take: Callable[[str, Any, float], None],
    line: Callable[[int], str],
) -> None:
    """Run each probe once to warm up, then `rounds` interleaved rounds: each passed run goes
    to `take(name, result, wall_ms)`, and `line(i)` is printed after round i."""
    for probe in probes.values():  # warm-up: the browsers, the caches
        passed(await runner.attempt(probe))
    began = time.perf_counter()
    for i in range(rounds):
        order = list(probes) if i % 2 == 0 else list(reversed(probes))
        for name in order:
            t0 = time.perf_counter()
            result = passed(await runner.attempt(probes[name]))
            take(name, result, (time.perf_counter() - t0) * 1000)
        print(line(i), flush=True)
        if time.perf_counter() - began > max_seconds and i + 1 < rounds:
            print(f"stopped after {i + 1} rounds: past {max_seconds:g}s")
            break
