"""Budget evaluation at scale on PostgreSQL: the twenty budgets of bench/budgets.py over
100,000 runs and 1,000,000 beacons, in a throwaway PostgreSQL cluster (beacons partitioned by
day), against the same database in SQLite, interleaved.

    .venv/bin/python bench/budgets_pg.py [--runs 100000] [--beacons 1000000] [--repeat 5]

Seeds the SQLite database (cached in bench/out/, as bench/budgets.py does), copies it into
PostgreSQL with `observer db copy`'s copier (timed: a figure of its own), then judges every
budget over a 1-hour and a 30-day window on both engines, A B A B, and prints the medians and
the PostgreSQL plan of the real-user query (partition pruning). Last line: the headline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _seed import seed  # noqa: E402
from budgets import CONFIG  # noqa: E402
from pg import Cluster  # noqa: E402

from observer.budgets import evaluate  # noqa: E402
from observer.config import load_project  # noqa: E402
from observer.store import copy_history, open_store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--beacons", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    db = out / f"scale-{args.runs}-{args.beacons}.db"
    if not db.exists():
        seed(db, args.runs, args.beacons)
    cfg = out / "scale.yaml"
    cfg.write_text(CONFIG)
    project = load_project(cfg)
    cluster = Cluster()
    try:
        cluster.start()
        url = cluster.create_database("bench")
        with open_store(db) as lite, open_store(url) as pg:
            t0 = time.perf_counter()
            counts = copy_history(lite, pg, "bench")
            took = time.perf_counter() - t0
            rows = sum(c.source for c in counts)
            assert all(c.complete for c in counts), counts
            print(f"copied {rows} rows into PostgreSQL in {took:.1f}s ({rows / took:,.0f}/s)")
            cluster.psql("analyze", "bench")
            now = time.time()
            plan = pg.all(
                "explain select value from beacons where metric = ? and received_at >= ? and "
                "received_at < ? and synthetic = ? and value is not null",
                ["lcp", now - 3600, now, 0],
            )
            print("PostgreSQL plan, rum metric over 1 h:")
            for (line,) in plan:
                print(f"  {line}")
            medians: dict[tuple[str, str], float] = {}
            for label, window in (("1h", 3600.0), ("30d", 30 * 86400.0)):
                times: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
                for _ in range(args.repeat):
                    for engine, store in (("sqlite", lite), ("postgresql", pg)):
                        t0 = time.perf_counter()
                        evaluate(project.budgets, store, window=window)
                        times[engine].append(time.perf_counter() - t0)
                for engine, ts in times.items():
                    medians[(label, engine)] = statistics.median(ts)
                    print(
                        f"window {label:>3} {engine:<10}: {statistics.median(ts) * 1000:7.0f} ms "
                        f"(median of {args.repeat})"
                    )
    finally:
        cluster.close()
    print(
        f"budgets on PostgreSQL: {medians[('1h', 'postgresql')] * 1000:.0f} ms for a 1h window "
        f"(SQLite {medians[('1h', 'sqlite')] * 1000:.0f} ms), "
        f"{medians[('30d', 'postgresql')] * 1000:.0f} ms for 30 days "
        f"(SQLite {medians[('30d', 'sqlite')] * 1000:.0f} ms), "
        f"{args.runs} runs and {args.beacons} beacons"
    )


if __name__ == "__main__":
    main()
