"""Concurrency: 1, 2, 4, 8, 16 concurrent journeys in one `observer serve`: journeys per minute
and resident memory of the daemon with its browser.

    .venv/bin/python bench/concurrency.py [--seconds 40] [--levels 1,2,4,8,16] [--delay-ms 150]

For each level a fresh daemon runs that many copies of the demo checkout journey back to back
(settings.concurrency = level, every 1s, so each copy starts again as soon as it ends), against
a demo shop answering every request after --delay-ms (a server-side latency; on loopback
there is none, and a monitored site always has some). After a warm-up, runs completed in the
measured window are counted from the database, and the resident memory of the daemon and all
its children (Playwright's driver, Chromium's processes) is sampled every second.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from observer.demo.shop import ShopServer  # noqa: E402

JOURNEY = """
  - name: checkout-{i}
    every: 1s
    journey:
      - goto: ${{BASE_URL}}/products/1
      - click: "text=Add to cart"
      - goto: ${{BASE_URL}}/cart
      - click: "text=Checkout"
      - fill: {{selector: "#address", value: "1 Main St"}}
      - click: "text=Place order"
      - expect_url: "**/orders/*"
      - expect_text: Thank you
"""


def tree_rss(pid: int) -> int:
    """Memory of a process and all its descendants (Linux /proc), as PSS: each shared page is
    shared out between the processes mapping it, so Chromium's many processes are not counted
    many times over."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            ppid = int(stat[1])
            pss = next(
                int(line.split()[1]) * 1024
                for line in (entry / "smaps_rollup").read_text().splitlines()
                if line.startswith("Pss:")
            )
        except (OSError, IndexError, ValueError, StopIteration):
            continue
        p = int(entry.name)
        children.setdefault(ppid, []).append(p)
        rss[p] = pss
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def level(n: int, seconds: float, warmup: float, shop: ShopServer, tmp: Path) -> tuple[float, int]:
    cfg = tmp / f"c{n}.yaml"
    db = tmp / f"c{n}.db"
    cfg.write_text(
        f"settings:\n  concurrency: {n}\n  every: 1s\n  evaluate_every: 1h\n  trace: 'off'\n"
        f"  screenshots: 'off'\n  database: {db}\nprobes:\n"
        + "".join(JOURNEY.format(i=i) for i in range(n))
    )
    with socket_port() as port:
        pass
    env = {**os.environ, "BASE_URL": shop.url}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "observer"),
            "serve",
            str(cfg),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(warmup)
        t0 = time.time()
        samples = []
        while time.time() - t0 < seconds:
            samples.append(tree_rss(proc.pid))
            time.sleep(1)
        t1 = time.time()
        conn = sqlite3.connect(db)
        done = conn.execute(
            "select count(*) from runs where started_at >= ? and started_at + duration_ms / 1000"
            " <= ? and outcome = 'pass'",
            [t0, t1],
        ).fetchone()[0]
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    return done / (t1 - t0) * 60, int(statistics.median(samples))


class socket_port:
    """A free port (closed again: the daemon binds it)."""

    def __enter__(self) -> int:
        import socket

        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        return int(self.s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.s.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=40)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--levels", default="1,2,4,8,16")
    ap.add_argument("--delay-ms", type=int, default=150)
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rows = []
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        httpx.post(f"{shop.url}/__faults", json={"delay_ms": args.delay_ms}).raise_for_status()
        for n in levels:
            jpm, rss = level(n, args.seconds, args.warmup, shop, Path(tmp))
            rows.append((n, jpm, rss))
            print(
                f"concurrency {n:2}: {jpm:6.1f} journeys/min, memory (PSS) {rss / 2**20:6.0f} MiB"
            )
    base = rows[0]
    for n, jpm, rss in rows[1:]:
        extra = (rss - base[2]) / (n - base[0]) / 2**20
        print(
            f"  {n:2} vs {base[0]}: {jpm / base[1]:.2f}x throughput, "
            f"{extra:.0f} MiB per extra concurrent journey"
        )
    at8 = next((r for r in rows if r[0] == 8), rows[-1])
    per = (at8[2] - base[2]) / max(at8[0] - base[0], 1) / 2**20
    print(
        f"concurrency: {at8[1] / base[1]:.2f}x the throughput of 1 at {at8[0]} "
        f"({at8[1]:.0f} vs {base[1]:.0f} journeys/min), {per:.0f} MiB per extra journey"
    )


if __name__ == "__main__":
    main()
