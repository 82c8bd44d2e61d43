"""observer past one machine, measured: ingest on SQLite and on PostgreSQL (one node and two),
runner takeover and alerter failover, with real `observer serve` processes and a throwaway
PostgreSQL cluster.

    .venv/bin/python bench/cluster.py [--seconds 5] [--rounds 3] [--connections 32]

Ingest: beacons/s, CPU µs per beacon of the observer process(es) and of PostgreSQL's, and loss
(every acknowledged item is looked for), for one node on SQLite, one on PostgreSQL and two on
PostgreSQL, interleaved. Takeover: two runners at one location, one killed with -9: seconds
until the survivor runs the next slot. Failover: two alerters, the leader killed with -9:
seconds until the other leads. Last line: the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from ingest import drive, free_port, wait_up  # noqa: E402
from pg import Cluster  # noqa: E402

CONFIG = """
settings:
  evaluate_every: 1s
rum:
  rate_limit: off
  pages: ["/products/*"]
probes:
  - name: tick
    http: http://127.0.0.1:{port}/healthz
    every: 1s
"""
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def postgres_pids(cluster: Cluster) -> list[int]:
    """The postmaster and its backends."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def serve(
    cfg: Path, target: str, *roles: str, log: Path, level: str = "warning"
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [sys.executable, "-m", "observer", "serve", str(cfg), "--db", target]
    args += ["--port", str(port), "--log-level", level, "--log-format", "json"]
    for role in roles:
        args += ["--role", role]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=out, cwd=cfg.parent)
    wait_up(port, proc)
    return proc, port


def stored(target: str) -> int:
    from observer.store import open_store

    with open_store(target) as store:
        return store.rum_count()


async def load(ports: list[int], seconds: float, connections: int, start: int) -> dict[str, float]:
    """Drive the nodes at once, connections split between them."""
    share = max(1, connections // len(ports))
    parts = await asyncio.gather(
        *(
            drive(p, "/beacon", seconds, share, 5, start + i * 10_000_000)
            for i, p in enumerate(ports)
        )
    )
    return {
        "beacons_s": sum(p["beacons_s"] for p in parts),
        "accepted": sum(p["accepted"] for p in parts),
        "p99_ms": max(p["p99_ms"] for p in parts),
        "requests": sum(p["requests"] for p in parts),
    }


def ingest(
    args: argparse.Namespace, tmp: Path, cluster: Cluster
) -> dict[str, list[dict[str, float]]]:
    cfg = tmp / "probes.yaml"
    cfg.write_text(CONFIG.format(port=9))
    setups = {
        "sqlite, 1 node": (str(tmp / "bench.db"), 1),
        "postgresql, 1 node": (cluster.create_database("ingest1"), 1),
        "postgresql, 2 nodes": (cluster.create_database("ingest2"), 2),
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in setups}
    acked = {k: 0.0 for k in setups}
    start = 0
    for r in range(args.rounds):
        for name, (target, n) in setups.items():
            roles = ("ingest",) if target.startswith("postgresql") else ()
            extra = roles or ("all",)
            nodes = [serve(cfg, target, *extra, log=tmp / "serve.log") for _ in range(n)]
            pids = [p.pid for p, _ in nodes]
            try:
                warm = asyncio.run(load([port for _, port in nodes], 0.5, 8, 90_000_000 + start))
                acked[name] += warm["accepted"]  # stored too: every acknowledged item counts
                db_pids = postgres_pids(cluster) if target.startswith("postgresql") else []
                node0, db0 = cpu_seconds(pids), cpu_seconds(db_pids)
                res = asyncio.run(
                    load([port for _, port in nodes], args.seconds, args.connections, start)
                )
                node1, db1 = cpu_seconds(pids), cpu_seconds(db_pids)
            finally:
                for proc, _ in nodes:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
            start += int(res["requests"]) + 1
            beacons = max(res["accepted"], 1.0)
            res["node_us"] = (node1 - node0) / beacons * 1e6
            res["db_us"] = (db1 - db0) / beacons * 1e6
            acked[name] += res["accepted"]
            results[name].append(res)
            print(
                f"round {r + 1} {name:<20} {res['beacons_s']:8.0f} beacons/s  "
                f"node CPU {res['node_us']:6.1f} µs/beacon  PostgreSQL {res['db_us']:6.1f} µs  "
                f"p99 {res['p99_ms']:6.1f} ms"
            )
    for name, (target, _) in setups.items():
        have = stored(target)
        lost = max(0, int(acked[name]) - have)
        print(f"{name:<20} acknowledged {int(acked[name])}, stored {have}: lost {lost}")
        for res in results[name]:
            res["lost"] = float(lost)
    return results


def wait_event(log: Path, event: str, after: float, timeout: float = 120.0) -> float:
    """When a process's JSON log first says `event` after a time (wall clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == event:
                at = time.mktime(time.strptime(e["ts"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                at += int(e["ts"][20:23]) / 1000
                if at >= after:
                    return at
        time.sleep(0.1)
    raise SystemExit(f"no {event} in {log}")


def takeover(tmp: Path, cluster: Cluster) -> float:
    """Two runners at one location; kill one: seconds until the survivor claims a slot."""
    import psycopg

    url = cluster.create_database("takeover")
    cfg = tmp / "runners.yaml"
    cfg.write_text(CONFIG.format(port=9))
    a, _ = serve(cfg, url, "runner", log=tmp / "a.log")
    b, _ = serve(cfg, url, "runner", log=tmp / "b.log")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            while conn.execute("select count(*) from slots").fetchone()[0] < 5:
                time.sleep(0.1)  # a few slots shared first
            a.send_signal(signal.SIGKILL)
            a.wait(timeout=30)
            killed = time.time()
            while True:
                row = conn.execute(
                    "select min(claimed_at) from slots where claimed_at > %s", [killed]
                ).fetchone()
                if row and row[0]:
                    return float(row[0]) - killed
                time.sleep(0.05)
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)


def leads(log: Path) -> bool:
    return log.exists() and '"event": "lead"' in log.read_text(errors="replace")


def failover(tmp: Path, cluster: Cluster) -> float:
    """Two alerters; kill the leader: seconds until the other leads."""
    url = cluster.create_database("failover")
    cfg = tmp / "alerters.yaml"
    cfg.write_text(CONFIG.format(port=9))
    logs = [tmp / "x.log", tmp / "y.log"]
    procs = [serve(cfg, url, "alerter", log=log, level="info")[0] for log in logs]
    try:
        deadline = time.monotonic() + 30
        while not any(leads(log) for log in logs) and time.monotonic() < deadline:
            time.sleep(0.1)
        leader = 0 if leads(logs[0]) else 1
        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(timeout=30)
        killed = time.time()
        return wait_event(logs[1 - leader], "lead", killed) - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    cluster = Cluster()
    try:
        cluster.start()
        with tempfile.TemporaryDirectory() as tmp:
            results = ingest(args, Path(tmp), cluster)
            took = takeover(Path(tmp), cluster)
            print(f"runner takeover: the survivor ran the next slot {took:.2f} s after the kill")
            lead = failover(Path(tmp), cluster)
            print(f"alerter failover: the other alerter led {lead:.2f} s after the kill")
    finally:
        cluster.close()
    med = statistics.median
    rate = {k: med(r["beacons_s"] for r in v) for k, v in results.items()}
    node = {k: med(r["node_us"] for r in v) for k, v in results.items()}
    db = {k: med(r["db_us"] for r in v) for k, v in results.items()}
    ratio = node["postgresql, 1 node"] / node["sqlite, 1 node"]
    lost = sum(int(v[0]["lost"]) for v in results.values())
    print(
        f"cluster: ingest {rate['sqlite, 1 node']:.0f} beacons/s on SQLite "
        f"({node['sqlite, 1 node']:.0f} µs CPU each), {rate['postgresql, 1 node']:.0f} on "
        f"PostgreSQL ({node['postgresql, 1 node']:.0f} µs in the node, "
        f"{db['postgresql, 1 node']:.0f} µs in PostgreSQL; {ratio:.2f}x SQLite's node CPU), "
        f"{rate['postgresql, 2 nodes']:.0f} with two nodes; lost {lost}; "
        f"takeover {took:.1f} s, failover {lead:.1f} s"
    )


if __name__ == "__main__":
    main()
