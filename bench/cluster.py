"""observer past one machine, measured: ingest on SQLite and on PostgreSQL (one node and two),
journeys per minute with one runner and with two at one location, runner takeover and alerter
failover, with real `observer serve` processes and a throwaway PostgreSQL cluster.

    .venv/bin/python bench/cluster.py [--seconds 5] [--rounds 3] [--connections 32]
                                      [--journey-seconds 60] [--only journeys]

Ingest: beacons/s, CPU µs per beacon of the observer process(es) and of PostgreSQL's, and loss
(every acknowledged item is looked for), for one node on SQLite, one on PostgreSQL and two on
PostgreSQL, interleaved. Journeys: fourteen short browser journeys (real headless Chromium)
against the demo shop in its own process, each due every second, so there is always more work
than the runners can do; one `--role runner --location bench` process, then two, interleaved,
each round on a fresh database: runs started in the measured window per minute, CPU per
journey of the runners with all their descendants (Playwright's driver, Chromium), of the shop
and of PostgreSQL, how busy the machine's cores were, and that no slot ran twice. Takeover: two
runners at one location, one killed with -9: seconds until the survivor runs the next slot.
Failover: two alerters, the leader killed with -9: seconds until the other leads. Last line:
the headline.
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
from typing import Any

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
CORES = os.cpu_count() or 1

# Fourteen short journeys against the demo shop, each due every second (840 a minute): more
# work than the runners here can do, so what is measured is how many they finish (observer's
# defaults otherwise: concurrency 4 per runner, the last page settled, traces of failures only).
JOURNEYS = """
probes:
  - name: home
    every: 1s
    journey:
      - goto: {base}/
      - click: "text=Browse all products"
      - expect_text: 6 products
  - name: cart
    every: 1s
    journey:
      - goto: {base}/cart
      - expect_text: Your cart is empty
"""
PRODUCT = """
  - name: add-{i}
    every: 1s
    journey:
      - goto: {base}/products/{i}
      - click: "text=Add to cart"
      - expect_text: Added to cart
  - name: view-{i}
    every: 1s
    journey:
      - goto: {base}/products/{i}
      - click: "text=Back to all products"
      - expect_text: 6 products
"""
PRODUCTS = 6
PROBES = 2 + 2 * PRODUCTS


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


def tree_cpu_seconds(pids: list[int]) -> float:
    """User and system CPU so far of these processes and all their descendants, those that
    have exited too: each live process counts its own time and that of the children it has
    reaped (cutime, cstime), so a Chromium renderer that ends inside a window still counts."""
    total, todo = 0, list(pids)
    seen: set[int] = set()
    while todo and len(seen) < 10_000:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += map(int, (task / "children").read_text().split())
            except OSError:
                continue
    return total / TICK


def machine_busy() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far (all cores, /proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # guest time is already in user
    return (total - idle) / TICK, total / TICK


def postgres_pids(cluster: Cluster) -> list[int]:
    """The postmaster and its backends."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *map(int, children)]


def serve(
    cfg: Path,
    target: str,
    *roles: str,
    log: Path,
    level: str = "warning",
    location: str | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    args = [sys.executable, "-m", "observer", "serve", str(cfg), "--db", target]
    args += ["--port", str(port), "--log-level", level, "--log-format", "json"]
    for role in roles:
        args += ["--role", role]
    if location:
        args += ["--location", location]
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


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (in-flight runs finish and are recorded), then wait; SIGKILL past a minute."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=30)


def warm(
    url: str, procs: list[subprocess.Popen[bytes]], logs: list[Path], probes: int, settle: float
) -> None:
    """Until every runner has finished journeys of its own (more claims than its 4 in flight,
    so its Chromium is up) and the database holds two runs per probe; then `settle` seconds
    more. At most two minutes."""
    import psycopg

    deadline = time.monotonic() + 120
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                tails = "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
                raise SystemExit(f"a runner exited during the warm-up:\n{tails}")
            runs = conn.execute("select count(*) from runs").fetchone()[0]
            busy = conn.execute(
                "select count(*) from (select runner from slots group by runner "
                "having count(*) > 5) as r"
            ).fetchone()[0]
            if runs >= 2 * probes and busy == len(procs):
                break
            time.sleep(0.2)
        else:
            raise SystemExit("the runners did not warm up within 120 s")
    time.sleep(settle)


def journey_round(
    args: argparse.Namespace, tmp: Path, cluster: Cluster, cfg: Path, shop: int, n: int, db: str
) -> dict[str, Any]:
    """One measured window of `n` runners at one location on a fresh database."""
    import psycopg

    url = cluster.create_database(db)
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp / f"{db}-{i}.log" for i in range(n)]
    try:
        for log in logs:
            procs.append(serve(cfg, url, "runner", log=log, location="bench")[0])
        warm(url, procs, logs, PROBES, settle=5.0)
        pids, pg = [p.pid for p in procs], postgres_pids(cluster)[:1]
        run0, shop0, pg0, (busy0, all0) = (
            tree_cpu_seconds(pids), tree_cpu_seconds([shop]), tree_cpu_seconds(pg), machine_busy()
        )  # fmt: skip
        t0 = time.time()
        time.sleep(args.journey_seconds)
        t1 = time.time()
        run1, shop1, pg1, (busy1, all1) = (
            tree_cpu_seconds(pids), tree_cpu_seconds([shop]), tree_cpu_seconds(pg), machine_busy()
        )  # fmt: skip
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"a runner exited during the measured window ({db})")
    finally:
        stop(procs)  # runs in flight finish and are recorded before the counting
    with psycopg.connect(url) as conn:
        done, failed, p50 = conn.execute(
            "select count(*), count(*) filter (where outcome <> 'pass'), "
            "percentile_cont(0.5) within group (order by duration_ms) "
            "from runs where started_at >= %s and started_at < %s",
            [t0, t1],
        ).fetchone()
        twice = conn.execute(
            "select count(*) from (select probe, location, slot from slots "
            "group by 1, 2, 3 having count(*) > 1) as d"
        ).fetchone()[0]
        # Each run is one claimed slot: per probe and location, never more runs than claims.
        per = conn.execute(
            "select coalesce(s.n, 0), coalesce(r.n, 0) from "
            "(select probe, location, count(*) as n from slots group by 1, 2) as s full join "
            "(select probe, coalesce(location, '') as location, count(*) as n from runs "
            "group by 1, 2) as r on r.probe = s.probe and r.location = s.location"
        ).fetchall()
        share = conn.execute(
            "select count(*) from slots where claimed_at >= %s and claimed_at < %s "
            "group by runner order by 1 desc",
            [t0, t1],
        ).fetchall()
    seconds = t1 - t0
    journeys = max(int(done), 1)
    return {
        "runners": float(n),
        "jpm": done / seconds * 60,
        "journeys": float(done),
        "failed": float(failed),
        "p50_ms": float(p50 or 0.0),
        "cpu_ms": (run1 - run0) / journeys * 1000,
        "shop_ms": (shop1 - shop0) / journeys * 1000,
        "pg_ms": (pg1 - pg0) / journeys * 1000,
        "runner_cores": (run1 - run0) / seconds,
        "busy_cores": (busy1 - busy0) / (all1 - all0) * CORES,
        "twice": float(twice),
        "unclaimed": float(sum(max(0, r - s) for s, r in per)),
        "unrecorded": float(sum(max(0, s - r) for s, r in per)),
        "shares": "/".join(str(int(row[0])) for row in share),
    }


def journeys(
    args: argparse.Namespace, tmp: Path, cluster: Cluster
) -> dict[str, list[dict[str, Any]]]:
    """Journeys per minute, one runner and two at one location, interleaved rounds."""
    port = free_port()
    with (tmp / "shop.log").open("ab") as out:
        shop = subprocess.Popen(
            [sys.executable, "-m", "observer", "demo-shop", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=out, cwd=tmp,
        )  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"1 runner": [], "2 runners": []}
    try:
        wait_up(port, shop)
        cfg = tmp / "journeys.yaml"
        base = f"http://127.0.0.1:{port}"
        cfg.write_text(
            JOURNEYS.format(base=base)
            + "".join(PRODUCT.format(base=base, i=i) for i in range(1, PRODUCTS + 1))
        )
        for r in range(args.rounds):
            for name, n in (("1 runner", 1), ("2 runners", 2)):
                res = journey_round(args, tmp, cluster, cfg, shop.pid, n, f"journeys_{r + 1}_{n}")
                results[name].append(res)
                print(
                    f"round {r + 1} {name:<9} {res['jpm']:6.1f} journeys/min "
                    f"({res['journeys']:.0f} in {args.journey_seconds:g} s, "
                    f"{res['failed']:.0f} not passed, p50 {res['p50_ms']:.0f} ms)  "
                    f"CPU per journey: runners+Chromium {res['cpu_ms']:5.0f} ms, "
                    f"shop {res['shop_ms']:3.0f} ms, PostgreSQL {res['pg_ms']:3.0f} ms  "
                    f"cores busy {res['busy_cores']:.2f} of {CORES} "
                    f"(runners {res['runner_cores']:.2f})  slots by runner {res['shares']}, "
                    f"{res['twice']:.0f} twice, {res['unclaimed']:.0f} runs without a claim, "
                    f"{res['unrecorded']:.0f} claims without a run"
                )
    finally:
        stop([shop])
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


def summarize_journeys(results: dict[str, list[dict[str, Any]]], seconds: float) -> str:
    """Print the medians of the journey rounds; the headline's part."""
    med = statistics.median
    jpm = {k: med(r["jpm"] for r in v) for k, v in results.items()}
    cpu = {k: med(r["cpu_ms"] for r in v) for k, v in results.items()}
    busy = {k: med(r["busy_cores"] for r in v) for k, v in results.items()}
    ratio = jpm["2 runners"] / jpm["1 runner"]
    pairs = zip(results["1 runner"], results["2 runners"], strict=True)
    per_round = ", ".join(f"{b['jpm'] / a['jpm']:.2f}x" for a, b in pairs)
    rows = [r for v in results.values() for r in v]
    twice = sum(int(r["twice"]) for r in rows)
    unclaimed = sum(int(r["unclaimed"]) for r in rows)
    unrecorded = sum(int(r["unrecorded"]) for r in rows)
    failed = sum(int(r["failed"]) for r in rows)
    for k in results:
        print(
            f"{k:<9} median of {len(results[k])} ({seconds:g} s each): {jpm[k]:.1f} journeys/min, "
            f"{cpu[k]:.0f} ms CPU per journey (runners+Chromium), "
            f"{busy[k]:.2f} of {CORES} cores busy"
        )
    print(
        f"journeys: two runners / one: {ratio:.2f}x (rounds: {per_round}), "
        f"{PROBES * 60} a minute due; {failed} not passed; "
        f"slots claimed twice {twice}, runs without a claim {unclaimed}, "
        f"claims without a run {unrecorded}"
    )
    return (
        f"journeys {jpm['1 runner']:.0f}/min with one runner, {jpm['2 runners']:.0f} with two "
        f"({ratio:.2f}x; {cpu['1 runner']:.0f} and {cpu['2 runners']:.0f} ms CPU each), "
        f"{twice} slots twice"
    )


def summarize_ingest(results: dict[str, list[dict[str, float]]]) -> str:
    med = statistics.median
    rate = {k: med(r["beacons_s"] for r in v) for k, v in results.items()}
    node = {k: med(r["node_us"] for r in v) for k, v in results.items()}
    db = {k: med(r["db_us"] for r in v) for k, v in results.items()}
    ratio = node["postgresql, 1 node"] / node["sqlite, 1 node"]
    lost = sum(int(v[0]["lost"]) for v in results.values())
    return (
        f"ingest {rate['sqlite, 1 node']:.0f} beacons/s on SQLite "
        f"({node['sqlite, 1 node']:.0f} µs CPU each), {rate['postgresql, 1 node']:.0f} on "
        f"PostgreSQL ({node['postgresql, 1 node']:.0f} µs in the node, "
        f"{db['postgresql, 1 node']:.0f} µs in PostgreSQL; {ratio:.2f}x SQLite's node CPU), "
        f"{rate['postgresql, 2 nodes']:.0f} with two nodes; lost {lost}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="each ingest measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (ingest, journeys)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--journey-seconds", type=float, default=60.0, help="each journeys window")
    ap.add_argument("--only", choices=["ingest", "journeys", "takeover", "failover"])
    args = ap.parse_args()
    want = {args.only} if args.only else {"ingest", "journeys", "takeover", "failover"}
    parts: list[str] = []
    cluster = Cluster()
    try:
        cluster.start()
        with tempfile.TemporaryDirectory() as tmp:
            if "ingest" in want:
                results = ingest(args, Path(tmp), cluster)
            if "journeys" in want:
                trips = journeys(args, Path(tmp), cluster)
            if "takeover" in want:
                took = takeover(Path(tmp), cluster)
                print(
                    f"runner takeover: the survivor ran the next slot {took:.2f} s after the kill"
                )
            if "failover" in want:
                lead = failover(Path(tmp), cluster)
                print(f"alerter failover: the other alerter led {lead:.2f} s after the kill")
    finally:
        cluster.close()
    if "ingest" in want:
        parts.append(summarize_ingest(results))
    if "journeys" in want:
        parts.append(summarize_journeys(trips, args.journey_seconds))
    if "takeover" in want:
        parts.append(f"takeover {took:.1f} s")
    if "failover" in want:
        parts.append(f"failover {lead:.1f} s")
    print("cluster: " + "; ".join(parts))


if __name__ == "__main__":
    main()
