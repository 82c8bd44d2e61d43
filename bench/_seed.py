"""Seed a database with many runs and beacons, fast (raw executemany into observer's schema)."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from observer.store import BeaconRow, SQLiteStore

PROBES = {
    "health": ("http", []),
    "home page": ("http", []),
    "login": (
        "journey",
        ["goto /login", "fill #email", "fill #password", "submit", "expect_text Welcome"],
    ),
    "search": (
        "journey",
        [
            "goto /products",
            "fill #search",
            "select Price in #sort",
            "search",
            "expect_text Travel Mug",
        ],
    ),
    "checkout": (
        "journey",
        [
            "goto /login",
            "fill #email",
            "fill #password",
            "submit",
            "expect_text Welcome",
            "goto /products/1",
            "click text=Add to cart",
            "goto /cart",
            "click text=Checkout",
            "fill #address",
            "place order",
            "expect_url **/orders/*",
            "expect_text Thank you",
        ],
    ),
}
PAGES = [
    "/",
    "/products",
    "/products/*",
    "/cart",
    "/checkout",
    "/login",
    "/account",
    "/orders/*",
] + [f"/blog/post-{i}" for i in range(40)]
RUN_COLS = (
    "probe",
    "kind",
    "outcome",
    "started_at",
    "duration_ms",
    "completed",
    "last_mark",
    "error",
    "failed_step",
    "attempt",
    "location",
    "device",
    "source",
    "batch",
    "final",
    "ttfb_ms",
    "fcp_ms",
    "lcp_ms",
    "cls",
    "inp_ms",
    "dcl_ms",
    "load_ms",
    "error_count",
    "http_status",
    "size_bytes",
)


def seed(db: Path, runs: int, beacons: int, span_days: float = 30.0) -> None:
    """`runs` runs spread over span_days up to now (with steps and pages), and `beacons`."""
    rnd = random.Random(7)
    now = time.time()
    start = now - span_days * 86400
    store = SQLiteStore(db)
    conn = store.conn
    names = list(PROBES)
    run_id = int(conn.execute("select coalesce(max(id), 0) from runs").fetchone()[0])
    batch_runs, batch_steps, batch_pages = [], [], []

    def flush() -> None:
        with store.transaction():
            conn.executemany(
                f"insert into runs (id, {', '.join(RUN_COLS)}) values "
                f"(?, {', '.join('?' * len(RUN_COLS))})",
                batch_runs,
            )
            conn.executemany(
                "insert into steps (run_id, idx, name, action, outcome, start_ms, duration_ms, "
                "error, url) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch_steps,
            )
            conn.executemany(
                "insert into page_vitals (run_id, seq, step_index, url, ttfb_ms, fcp_ms, lcp_ms, "
                "cls, inp_ms, dcl_ms, load_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch_pages,
            )
        batch_runs.clear()
        batch_steps.clear()
        batch_pages.clear()

    for i in range(runs):
        run_id += 1
        probe = names[i % len(names)]
        kind, steps = PROBES[probe]
        t = start + (now - start) * i / runs
        ok = rnd.random() > 0.02
        dur = rnd.lognormvariate(7.2 if kind == "journey" else 3.5, 0.3)
        vit = [
            rnd.lognormvariate(4, 0.4),
            rnd.lognormvariate(5.5, 0.3),
            rnd.lognormvariate(5.7, 0.3),
            0.0,
            rnd.lognormvariate(4, 0.5),
            300.0,
            400.0,
        ]
        if kind == "http":
            vit = [dur * 0.8, None, None, None, None, None, None]
        batch_runs.append(
            (
                run_id,
                probe,
                kind,
                "pass" if ok else "fail",
                t,
                dur,
                int(ok),
                None,
                None if ok else "step 3: timeout",
                None,
                1,
                None,
                None,
                "serve",
                None,
                1,
                *vit,
                0 if ok else 2,
                200 if kind == "http" else None,
                1024,
            )
        )
        offset = 0.0
        for idx, step in enumerate(steps):
            sd = dur / len(steps)
            batch_steps.append(
                (
                    run_id,
                    idx,
                    step,
                    step.split()[0],
                    "pass",
                    offset,
                    sd,
                    None,
                    f"http://shop{PAGES[idx % 8]}",
                )
            )
            offset += sd
        if kind == "journey":
            for seq in range(2):
                batch_pages.append((run_id, seq, seq, f"http://shop{PAGES[seq]}", *vit))
        if len(batch_runs) >= 5000:
            flush()
    flush()
    metrics = ["lcp", "fcp", "ttfb", "cls", "inp", "pageview"]
    rows = []
    for i in range(beacons):
        metric = metrics[i % len(metrics)]
        value = (
            None
            if metric == "pageview"
            else (rnd.random() * 0.3 if metric == "cls" else rnd.lognormvariate(7, 0.5))
        )
        page = PAGES[rnd.randrange(len(PAGES))]
        rows.append(
            BeaconRow(
                received_at=start + (now - start) * i / beacons,
                metric=metric,
                app="shop",
                page=page,
                value=value,
                rating=None if value is None else "good",
                nav_type="navigate",
                device="mobile" if i % 3 else "desktop",
                browser="Chrome",
                session=f"s{i // 12}",
                load_id=f"l{i // 6}",
                synthetic=i % 50 == 0,
                format="snippet",
            )
        )
        if len(rows) >= 50_000:
            store.insert_beacons(rows)
            rows.clear()
    if rows:
        store.insert_beacons(rows)
    store.close()
