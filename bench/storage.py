"""Storage: bytes on disk per stored beacon and per journey run.

    .venv/bin/python bench/storage.py [--runs 30] [--beacons 100000]

Runs the demo checkout journey for real --runs times (with its steps, page vitals, errors)
and ingests --beacons snippet beacons through the real HTTP endpoint, each into its own empty
database, then VACUUMs and divides the file size (and, where SQLite has dbstat, says how much
of it is indexes). Last line: the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from observer.background import BackgroundServer  # noqa: E402
from observer.config import load_project  # noqa: E402
from observer.demo.shop import ShopServer  # noqa: E402
from observer.server import create_app  # noqa: E402
from observer.store import SQLiteStore  # noqa: E402

PROBES = """
settings: {{database: {db}, trace: "off"}}
probes:
  - name: checkout
    journey:
      - goto: ${{BASE_URL}}/login
      - fill: {{selector: "#email", value: demo@example.com}}
      - fill: {{selector: "#password", value: demo}}
      - {{name: submit, click: "button[type=submit]"}}
      - expect_text: Welcome
      - goto: ${{BASE_URL}}/products/1
      - click: "text=Add to cart"
      - goto: ${{BASE_URL}}/cart
      - click: "text=Checkout"
      - fill: {{selector: "#address", value: "1 Main St"}}
      - click: "text=Place order"
      - expect_url: "**/orders/*"
      - expect_text: Thank you
rum:
  rate_limit: "off"
  pages: ["/products/*"]
"""


def size(db: Path) -> tuple[int, int]:
    """(bytes after VACUUM, bytes in indexes if dbstat knows)."""
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.execute("vacuum")
    index_bytes = 0
    try:
        rows = conn.execute(
            "select sum(pgsize) from dbstat where name in "
            "(select name from sqlite_master where type = 'index')"
        ).fetchone()
        index_bytes = int(rows[0] or 0)
    except sqlite3.OperationalError:
        index_bytes = -1
    conn.close()
    return db.stat().st_size, index_bytes


def empty_size(tmp: Path) -> int:
    db = tmp / "empty.db"
    SQLiteStore(db).close()
    return size(db)[0]


async def send(url: str, n: int) -> int:
    names = ["LCP", "FCP", "TTFB", "CLS", "INP"]
    accepted = 0
    async with httpx.AsyncClient(timeout=30) as client:
        for start in range(0, n, 5):
            items = [
                {
                    "k": "vital",
                    "n": names[i % 5],
                    "v": 0.05 if names[i % 5] == "CLS" else 500.0 + i % 1500,
                    "id": f"{start}-{i}",
                    "u": f"https://shop.example/products/{start % 40}",
                }
                for i in range(min(5, n - start))
            ]
            body = {
                "observer": 1,
                "app": "shop",
                "sid": f"s{start // 30}",
                "load": f"l{start}",
                "page": "https://shop.example/",
                "items": items,
                "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile Safari",
            }
            r = await client.post(
                url, content=json.dumps(body), headers={"Content-Type": "text/plain"}
            )
            accepted += r.json()["accepted"]
    return accepted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--beacons", type=int, default=100_000)
    args = ap.parse_args()
    observer = str(Path(sys.executable).parent / "observer")
    with tempfile.TemporaryDirectory() as t, ShopServer() as shop:
        tmp = Path(t)
        base = empty_size(tmp)
        runs_db = tmp / "runs.db"
        cfg = tmp / "p.yaml"
        cfg.write_text(PROBES.format(db=runs_db))
        for _ in range(args.runs):
            subprocess.run(
                [observer, "run", str(cfg)],
                env={**__import__("os").environ, "BASE_URL": shop.url},
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        runs_size, runs_idx = size(runs_db)
        beacon_db = tmp / "beacons.db"
        project = load_project(cfg, env={"BASE_URL": shop.url})
        store = SQLiteStore(beacon_db)
        server = BackgroundServer().start(create_app(project, store))
        try:
            accepted = asyncio.run(send(f"{server.url}/beacon", args.beacons))
        finally:
            server.stop()
            store.close()
        beacon_size, beacon_idx = size(beacon_db)
    per_run = (runs_size - base) / args.runs
    per_beacon = (beacon_size - base) / accepted
    print(
        f"{args.runs} checkout runs (13 steps, 5 pages each): {runs_size - base} bytes, "
        f"{per_run:.0f} bytes per run"
        + (f", {runs_idx / (runs_size - base):.0%} indexes" if runs_idx > 0 else "")
    )
    print(
        f"{accepted} beacons: {beacon_size - base} bytes, {per_beacon:.0f} bytes per beacon"
        + (
            f", {beacon_idx / (beacon_size - base):.0%} indexes"
            if beacon_idx > 0 and beacon_size > base
            else ""
        )
    )
    print(f"storage: {per_beacon:.0f} bytes per beacon, {per_run:.0f} bytes per journey run")


if __name__ == "__main__":
    main()
