"""RUM ingest benchmark: beacons/s, p99 accept latency and loss, beside a bare endpoint.

    .venv/bin/python bench/ingest.py [--seconds 5] [--rounds 3] [--connections 64] [--batch 5]

Starts `observer serve`'s app (rate limit off) in its own process and drives it over loopback
from this process with keep-alive connections, alternating the real endpoint and a bare one of
the same server stack that does nothing (A B A B ...). Every 2xx is checked against the rows
stored. The last line is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CONFIG = """
rum:
  rate_limit: off
  pages: ["/products/*"]
probes: []
"""
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def payload(n: int, batch: int) -> bytes:
    """One page load's worth of snippet items, with ids unique to this request."""
    names = ["LCP", "FCP", "TTFB", "CLS", "INP"]
    items = []
    for i in range(batch):
        name = names[i % len(names)]
        value = 0.05 if name == "CLS" else 400.0 + (n * 7 + i * 13) % 2000
        items.append(
            {
                "k": "vital",
                "n": name,
                "v": value,
                "id": f"{n}-{i}",
                "u": f"https://shop.example/products/{n % 50}",
            }
        )
    body = {
        "observer": 1,
        "app": "bench",
        "sid": f"s{n % 5000}",
        "load": f"l{n}",
        "page": "https://shop.example/",
        "items": items,
    }
    return json.dumps(body).encode()


async def client(
    host: str,
    port: int,
    path: str,
    deadline: float,
    batch: int,
    counter: list[int],
    lat: list[float],
    status: dict[int, int],
    accepted: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            counter[0] += 1
            body = payload(counter[0], batch)
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n"
                f"User-Agent: {UA}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            t0 = time.perf_counter()
            writer.write(head + body)
            line = await reader.readline()
            code = int(line.split()[1])
            length = 0
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    length = int(h.split(b":")[1])
            data = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            status[code] = status.get(code, 0) + 1
            if 200 <= code < 300:
                accepted[0] += int(json.loads(data).get("accepted", 0))
    finally:
        writer.close()


async def drive(
    port: int, path: str, seconds: float, connections: int, batch: int, start_at: int
) -> dict[str, float]:
    counter = [start_at]
    lat: list[float] = []
    status: dict[int, int] = {}
    accepted = [0]
    t0 = time.perf_counter()
    deadline = t0 + seconds
    await asyncio.gather(
        *(
            client("127.0.0.1", port, path, deadline, batch, counter, lat, status, accepted)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - t0
    lat.sort()
    ok = sum(v for k, v in status.items() if 200 <= k < 300)
    return {
        "requests_s": len(lat) / elapsed,
        "beacons_s": (accepted[0] if path != "/__bare" else ok * batch) / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000 if lat else 0.0,
        "p99_ms": lat[int(len(lat) * 0.99) - 1] * 1000 if lat else 0.0,
        "accepted": float(accepted[0]),
        "non_2xx": float(len(lat) - ok),
        "requests": float(counter[0] - start_at),
    }


def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each measured run")
    ap.add_argument("--rounds", type=int, default=3, help="A/B pairs")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--batch", type=int, default=5, help="items per request (a page load: 5)")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "bench.yaml"
        cfg.write_text(CONFIG)
        db = Path(tmp) / "bench.db"
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_server.py"), str(cfg), str(db), str(port)], env=env
        )
        try:
            wait_up(port, proc)
            asyncio.run(drive(port, "/beacon", 1.0, 8, args.batch, 10_000_000))  # warm up
            real: list[dict[str, float]] = []
            bare: list[dict[str, float]] = []
            n = 0
            for r in range(args.rounds):
                for path, sink in (("/beacon", real), ("/__bare", bare)):
                    res = asyncio.run(
                        drive(port, path, args.seconds, args.connections, args.batch, n)
                    )
                    n += int(res["requests"]) + 1
                    sink.append(res)
                    print(
                        f"round {r + 1} {path:8} {res['beacons_s']:9.0f} beacons/s "
                        f"{res['requests_s']:8.0f} req/s  p50 {res['p50_ms']:6.1f} ms  "
                        f"p99 {res['p99_ms']:6.1f} ms  non-2xx {res['non_2xx']:.0f}"
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        import sqlite3

        conn = sqlite3.connect(db)
        stored = conn.execute("select count(*) from beacons where app = 'bench'").fetchone()[0]
        conn.close()
        acked = sum(int(r["accepted"]) for r in real)
        warm = stored - acked  # the warm-up's rows
        size = db.stat().st_size + (
            Path(str(db) + "-wal").stat().st_size if Path(str(db) + "-wal").exists() else 0
        )
    med = statistics.median
    real_rate = med(r["beacons_s"] for r in real)
    bare_rate = med(b["beacons_s"] for b in bare)
    p99 = med(r["p99_ms"] for r in real)
    print(
        f"acknowledged {acked} beacons, stored {stored - warm} (+{warm} from warm-up); "
        f"lost {acked - (stored - warm)}; database {size / max(stored, 1):.0f} bytes/beacon"
    )
    print(
        f"bare endpoint: {bare_rate:.0f} beacons/s at {args.batch} per request; "
        f"ratio real/bare {real_rate / bare_rate:.2f}"
    )
    print(
        f"ingest: {real_rate:.0f} beacons/s (median of {args.rounds}), p99 {p99:.1f} ms, "
        f"loss {acked - (stored - warm)}, {real_rate / bare_rate:.2f}x bare"
    )


if __name__ == "__main__":
    main()
