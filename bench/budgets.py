"""Budget evaluation at scale: twenty budgets over 100,000 runs and 1,000,000 beacons.

    .venv/bin/python bench/budgets.py [--runs 100000] [--beacons 1000000] [--repeat 5]

Seeds a database (once, cached in bench/out/), evaluates every budget over a 1-hour and a
30-day window, prints the total time (median of --repeat) and EXPLAIN QUERY PLAN of each
query kind, failing loudly if a plan scans a whole table. Last line: the headline.
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

from _seed import seed  # noqa: E402

from observer.budgets import evaluate  # noqa: E402
from observer.config import load_project  # noqa: E402
from observer.store import SQLiteStore, Store  # noqa: E402

CONFIG = """
probes:
  - {name: health, http: "http://shop/health"}
  - {name: home page, http: "http://shop/"}
  - name: login
    journey: [{goto: "http://shop/login"}, {fill: {selector: "#email", value: x}},
              {fill: {selector: "#password", value: y}}, {name: submit, click: button},
              {expect_text: Welcome}]
  - name: search
    journey: [{goto: "http://shop/products"}, {name: search, click: button}]
  - name: checkout
    journey: [{goto: "http://shop/login"}, {name: place order, click: button}]
budgets:
  - {name: b1, probe: checkout, metric: completion, threshold: rate >= 99%}
  - {name: b2, probe: checkout, metric: duration, threshold: p95 < 4s, warn: p95 < 3s}
  - {name: b3, probe: login, metric: "step:submit", threshold: p75 < 800ms}
  - {name: b4, probes: ["*"], metric: lcp, threshold: p75 < 2.5s}
  - {name: b5, probes: ["*"], metric: errors, threshold: max == 0}
  - {name: b6, probe: health, metric: time, threshold: p95 < 1s}
  - {name: b7, probe: health, metric: status, threshold: max < 500}
  - {name: b8, probes: ["*"], metric: fcp, threshold: p75 < 1.8s}
  - {name: b9, probes: ["*"], metric: ttfb, threshold: p75 < 800ms}
  - {name: b10, probes: ["*"], metric: cls, threshold: p75 < 0.1}
  - {name: b11, probe: search, metric: duration, threshold: p99 < 5s}
  - {name: b12, probe: checkout, metric: "step:place order", threshold: p90 < 2s}
  - {name: b13, source: rum, metric: lcp, threshold: p75 < 2.5s}
  - {name: b14, source: rum, metric: lcp, page: /checkout*, threshold: p75 < 2.5s}
  - {name: b15, source: rum, metric: inp, device: mobile, threshold: p75 < 200ms}
  - {name: b16, source: rum, metric: cls, threshold: p75 < 0.1}
  - {name: b17, source: rum, metric: error_rate, threshold: rate < 1%}
  - {name: b18, source: rum, metric: ttfb, page: /products/*, threshold: p75 < 800ms}
  - {name: b19, source: both, probe: checkout, page: /checkout*, metric: lcp, threshold: p75 < 2.5s}
  - {name: b20, source: rum, metric: fcp, device: desktop, threshold: p75 < 1.8s}
"""


def plans(store: Store) -> list[tuple[str, str]]:
    """EXPLAIN QUERY PLAN of each kind of query evaluate() makes."""
    now = time.time()
    queries = {
        "run metric": (
            "select r.probe, r.lcp_ms from runs r where r.probe in (?, ?) and "
            "r.final = 1 and r.outcome != 'error' and r.started_at >= ? and "
            "r.started_at < ? and r.lcp_ms is not null",
            ["login", "checkout", now - 3600, now],
        ),
        "step metric": (
            "select r.probe, s.duration_ms from runs r join steps s on s.run_id = r.id"
            " where r.probe in (?) and r.final = 1 and r.outcome != 'error' and "
            "r.started_at >= ? and r.started_at < ? and s.name = ? and "
            "s.outcome = 'pass'",
            ["login", now - 3600, now, "submit"],
        ),
        "rum metric": (
            "select value from beacons where metric = ? and received_at >= ? and "
            "received_at < ? and synthetic = ? and page glob ? and value is not null",
            ["lcp", now - 3600, now, 0, "/checkout*"],
        ),
        "rum loads": (
            "select count(distinct load_id) from beacons where metric = ? and "
            "received_at >= ? and received_at < ? and synthetic = ?",
            ["pageview", now - 3600, now, 0],
        ),
    }
    out = []
    for name, (sql, args) in queries.items():
        plan = " | ".join(row[3] for row in store.conn.execute("explain query plan " + sql, args))
        out.append((name, plan))
    return out


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
        t0 = time.perf_counter()
        seed(db, args.runs, args.beacons)
        print(f"seeded {db.name} in {time.perf_counter() - t0:.1f}s")
    cfg = out / "scale.yaml"
    cfg.write_text(CONFIG)
    project = load_project(cfg)
    store = SQLiteStore(db)
    scans = []
    for name, plan in plans(store):
        print(f"plan {name:12}: {plan}")
        if "SCAN" in plan and "USING" not in plan:
            scans.append(name)
    results = {}
    live: dict[str, float] = {}
    for label, window in (("1h", 3600.0), ("30d", 30 * 86400.0)):
        # Judged as a check judges (the value) and as serve does (the confidence interval),
        # interleaved.
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeat):
            for by_interval in (False, True):
                t0 = time.perf_counter()
                verdicts = evaluate(project.budgets, store, window=window, live=by_interval)
                times[by_interval].append(time.perf_counter() - t0)
        samples = sum(v.samples for v in verdicts)
        results[label] = statistics.median(times[False])
        live[label] = statistics.median(times[True])
        print(
            f"window {label:>3}: {len(verdicts)} budgets over {samples} samples in "
            f"{results[label] * 1000:.0f} ms (median of {args.repeat}); as serve judges, "
            f"with intervals: {live[label] * 1000:.0f} ms ({live[label] / results[label]:.2f}x)"
        )
    store.close()
    verdict = "no full table scan" if not scans else f"FULL SCAN in {', '.join(scans)}"
    print(
        f"budgets: 20 budgets over {args.runs} runs and {args.beacons} beacons: "
        f"{results['1h'] * 1000:.0f} ms for a 1h window, {results['30d'] * 1000:.0f} ms for "
        f"30 days; {verdict}; with intervals {live['1h'] * 1000:.0f} ms and "
        f"{live['30d'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
