"""The cost of checking a page with axe-core: the demo shop's product page journeyed without a
check, with an `expect_accessible` step, and in `accessibility: audit` mode, interleaved.

    .venv/bin/python bench/accessibility.py [--rounds 15] [--max-seconds 90]

The demo shop runs in a thread on a free port of 127.0.0.1. Five probes run through observer's
Runner (real Chromium, one process, the same Runner for the whole bench): `goto /products/1`,
`expect_text: Add to cart`; one with an `expect_accessible` step between the two, one with
`accessibility: audit` (which checks the page once, after the step that brought it); the
first two again with `settle: off`, since waiting for the last page to settle can overlap the
check's wall time. One warm-up run of each, then N rounds of one run each, in alternating
order, stopped early past --max-seconds. Reported, as medians: each run's journey
duration_ms, its wall time (Runner.attempt, timed), its steps' own duration_ms, and the
expect_accessible step's duration_ms. The last line is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _interleave import interleaved  # noqa: E402

from observer.config import load_project  # noqa: E402
from observer.demo.shop import ShopServer  # noqa: E402
from observer.runner import Runner  # noqa: E402

SETTINGS = """
settings:
  database: bench.db
  artifacts: artifacts
  screenshots: 'off'
  trace: 'off'
probes:
"""
PROBE = """
  - name: {name}{extra}
    journey:
      - goto: {base}/products/1{check}
      - expect_text: Add to cart
"""
CHECK = "\n      - expect_accessible: {}"
SETTLE_OFF = "\n    settle: 'off'"
AUDIT = "\n    accessibility: audit"
# (probe, its keys, whether it has the step)
RUNS = (
    ("without", "", False),
    ("expect_accessible", "", True),
    ("audit", AUDIT, False),
    ("without - settle off", SETTLE_OFF, False),
    ("expect_accessible - settle off", SETTLE_OFF, True),
)
SERIES = ("duration", "wall", "goto", "expect_text", "check", "pages", "violations")


def probe_file(base: str) -> str:
    return SETTINGS + "".join(
        PROBE.format(name=name, base=base, extra=extra, check=CHECK if check else "")
        for name, extra, check in RUNS
    )


async def bench(cfg: Path, rounds: int, max_seconds: float) -> dict[str, dict[str, list[float]]]:
    project = load_project(cfg)
    probes = {name: project.probe(name) for name, _, _ in RUNS}
    figures: dict[str, dict[str, list[float]]] = {name: {k: [] for k in SERIES} for name in probes}

    def take(name: str, result: Any, wall: float) -> None:
        series = figures[name]
        series["duration"].append(result.duration_ms)
        series["wall"].append(wall)
        for step in result.steps:
            key = "check" if step.action == "expect_accessible" else step.action
            series[key].append(step.duration_ms)
        if result.a11y_pages is not None:
            series["pages"].append(result.a11y_pages)
            series["violations"].append(len(result.violations))

    def line(i: int) -> str:
        return (
            f"round {i + 1:2}: "
            + "  ".join(
                f"{f['duration'][-1]:.0f}/{f['wall'][-1]:.0f}"
                + (f" ({f['check'][-1]:.0f})" if f["check"] else "")
                for f in figures.values()
            )
            + "  [duration_ms/wall ms (expect_accessible ms), in the order of the table]"
        )

    async with Runner(project, concurrency=1) as runner:
        await interleaved(runner, probes, rounds, max_seconds, take, line)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--max-seconds", type=float, default=90.0)
    args = ap.parse_args()
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "a11y.yaml"
        cfg.write_text(probe_file(shop.url))
        figures = asyncio.run(bench(cfg, args.rounds, args.max_seconds))
    n = len(figures["without"]["duration"])
    med = {
        name: {k: statistics.median(v) for k, v in series.items() if v}
        for name, series in figures.items()
    }
    print(f"\nmedians of {n} interleaved rounds, ms")
    head = ("duration_ms", "wall", "goto", "expect_text", "exp._access.", "pages, viol.")
    print(f"{'':<31}" + "".join(f"{h:>13}" for h in head))
    for name, m in med.items():
        cells = [m["duration"], m["wall"], m["goto"], m["expect_text"], m.get("check")]
        row = "".join(f"{c:>13.1f}" if c is not None else f"{'':>13}" for c in cells)
        if "pages" in m:
            row += f"{int(m['pages']):>10}, {int(m['violations'])}"
        print(f"{name:<31}{row}")
    base, step, audit = med["without"], med["expect_accessible"], med["audit"]
    off, step_off = med["without - settle off"], med["expect_accessible - settle off"]
    print(
        f"settle off: +{step_off['wall'] - off['wall']:.1f} ms of wall time per run with the "
        f"step; defaults: {step['wall'] - base['wall']:+.1f} ms (the last page's settle wait "
        f"overlaps the check); audit: {audit['wall'] - base['wall']:+.1f} ms of wall time, "
        f"{audit['duration'] - base['duration']:+.1f} ms of duration"
    )
    print(
        f"expect_accessible on the product page: {step['check']:.1f} ms (its duration_ms); "
        f"journey duration {step['duration']:.1f} ms with it against {base['duration']:.1f} ms "
        f"without ({step['duration'] - base['duration']:+.1f} ms, "
        f"{step['duration'] / base['duration']:.2f}x; audit {audit['duration']:.1f} ms), "
        f"median of {n} each"
    )


if __name__ == "__main__":
    main()
