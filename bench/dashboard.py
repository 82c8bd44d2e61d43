"""Dashboard pages at scale: server time per page with 100,000 runs and 1,000,000 beacons.

    .venv/bin/python bench/dashboard.py [--repeat 15]

Seeds (or reuses) the database of bench/budgets.py, serves the app in-process and times each
page's handling over loopback HTTP, the pages taken in turn (A B C ... A B C ...). The last
line is the headline: the slowest page's median (target: under 300 ms).
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

import httpx  # noqa: E402
from _seed import seed  # noqa: E402
from budgets import CONFIG  # noqa: E402

from observer.background import BackgroundServer  # noqa: E402
from observer.config import load_project  # noqa: E402
from observer.server import create_app  # noqa: E402
from observer.store import SQLiteStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--beacons", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    db = out / f"scale-{args.runs}-{args.beacons}.db"
    if not db.exists():
        seed(db, args.runs, args.beacons)
    cfg = out / "scale.yaml"
    cfg.write_text(CONFIG)
    project = load_project(cfg)
    store = SQLiteStore(db)
    last = store.conn.execute("select max(id) from runs where probe = 'checkout'").fetchone()[0]
    pages = [
        "/",
        "/probes/checkout",
        "/probes/health",
        f"/runs/{last}",
        "/rum",
        "/incidents",
        "/api/probes",
        "/api/budgets",
        "/api/runs?probe=checkout&since=1h",
    ]
    server = BackgroundServer().start(create_app(project, store))
    times: dict[str, list[float]] = {p: [] for p in pages}
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for p in pages:
                client.get(p).raise_for_status()  # warm
            for _ in range(args.repeat):
                for p in pages:
                    t0 = time.perf_counter()
                    r = client.get(p)
                    times[p].append(time.perf_counter() - t0)
                    r.raise_for_status()
    finally:
        server.stop()
        store.close()
    med = {p: statistics.median(v) * 1000 for p, v in times.items()}
    for p, v in med.items():
        print(f"{p:40} median {v:7.1f} ms  max {max(times[p]) * 1000:7.1f} ms")
    worst = max(med, key=lambda p: med[p])
    print(
        f"dashboard: slowest page {worst} {med[worst]:.0f} ms (median of {args.repeat}) with "
        f"{args.runs} runs and {args.beacons} beacons"
    )


if __name__ == "__main__":
    main()
