"""Alerts on-call staff can trust, measured as a user meets them: a real `observer serve` with
four HTTP checks every second against a real, healthy but noisy site (0-150 ms, 2% 1.5 s
longer, 0.5% 500s), budgets `p95 < 1s` over 30 s judged every 2 s, alert rules `after: 3`,
and a real webhook receiver.

    .venv/bin/python bench/signal.py [--healthy-runs 1000] [--before-seconds 130]

(bench/signal.py runs this file; the code lives here so that the other scripts of bench/,
which import the standard library's `signal`, are not handed this one.)

Phases, in one run:
1. healthy: --healthy-runs runs; every message is a false alert (the target is 0);
2. a 30% slowdown of every answer: seconds until the regression budget pages;
3. +1.2 s on every answer: seconds until a `p95 < 1s` budget pages.
Then, for comparison, the same healthy site judged as before issue 16 (`confidence: off`,
`for: 0s`) for --before-seconds. Last line: the headline.
"""

from __future__ import annotations

import sys

# Run through bench/signal.py, named as the standard library's `signal`: the folder leaves
# the path before anything is imported, so that `import signal` finds the real one.
sys.path[:] = [p for p in sys.path if not p or not p.rstrip("/").endswith("bench")]

import argparse
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from jitter import JitterServer

NAMES = ("health", "home", "search", "cart")


class Hook:
    """A webhook receiver: each message with the time it arrived."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.got.append((time.time(), json.loads(body or b"{}").get("title", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def since(self, t: float) -> list[str]:
        return [title for at, title in self.got if at >= t]


def config(site: str, hook: str, before: bool) -> str:
    probes = "".join(
        f"  - name: {n}\n    http: {site}/{n}\n    every: 1s\n    timeout: 5s\n" for n in NAMES
    )
    budgets = "".join(
        f"  - name: {n} fast\n    probe: {n}\n    metric: time\n    threshold: p95 < 1s\n"
        "    window: 30s\n"
        for n in NAMES
    )
    if not before:
        budgets += (
            "  - name: site as usual\n    probes: ['*']\n    metric: time\n"
            "    threshold: p95 < 10s\n    window: 1m\n    regression: 20%\n    baseline: 10m\n"
        )
    old = "      for: 0s\n" if before else ""
    return f"""
settings:
  evaluate_every: 2s
  confidence: {"off" if before else 0.95}
probes:
{probes}
budgets:
{budgets}
alerts:
  channels:
    hook: {hook}
  rules:
    - name: slow
      budgets: ["*"]
      after: 3
{old}      notify: [hook]
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, folder: Path, text: str) -> None:
        cfg = folder / "probes.yaml"
        cfg.write_text(text, encoding="utf-8")
        self.port = free_port()
        self.db = folder / "observer.db"
        args = [sys.executable, "-m", "observer", "serve", str(cfg), "--db", str(self.db)]
        args += ["--port", str(self.port), "--log-level", "warning"]
        self.log = (folder / "serve.log").open("wb")
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, cwd=folder, env=os.environ
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                import httpx

                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).is_success:
                    return
            except Exception:
                time.sleep(0.1)
        raise SystemExit("observer serve did not start")

    def runs(self) -> int:
        import sqlite3

        try:
            with sqlite3.connect(self.db) as conn:
                return int(conn.execute("select count(*) from runs").fetchone()[0])
        except sqlite3.Error:
            return 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def until(check: object, limit: float) -> float | None:
    """Seconds until check() is true, or None after `limit`."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if check():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.25)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--healthy-runs", type=int, default=1000)
    ap.add_argument("--before-seconds", type=float, default=130.0)
    args = ap.parse_args()
    hook = Hook()
    with tempfile.TemporaryDirectory() as tmp, JitterServer(seed=16) as site:
        folder = Path(tmp) / "now"
        folder.mkdir()
        node = Serve(folder, config(site.url, hook.url, before=False))
        try:
            start = time.time()
            limit = args.healthy_runs / len(NAMES) * 3 + 60
            until(lambda: node.runs() >= args.healthy_runs, limit)
            healthy_runs, healthy_s = node.runs(), time.time() - start
            false = hook.since(start)
            print(f"healthy: {healthy_runs} runs in {healthy_s:.0f} s, {len(false)} alerts")
            for title in false:
                print(f"  false alert: {title}")

            slow_at = time.time()
            site.slow_down(factor=1.3)
            regression = until(lambda: any("site as usual" in t for t in hook.since(slow_at)), 600)
            print(f"30% slower: paged after {regression:.1f} s: {hook.since(slow_at)[:1]}")

            site.slow_down(extra_ms=1200)
            outage_at = time.time()
            outage = until(
                lambda: any(" fast: " in t and "FIRING" in t for t in hook.since(outage_at)), 120
            )
            print(f"+1.2 s: paged after {outage:.1f} s: {hook.since(outage_at)[:1]}")
        finally:
            node.stop()
            site.slow_down()

        folder = Path(tmp) / "before"
        folder.mkdir()
        node = Serve(folder, config(site.url, hook.url, before=True))
        try:
            start = time.time()
            time.sleep(args.before_seconds)
            before_runs, before_alerts = node.runs(), hook.since(start)
        finally:
            node.stop()
        print(
            f"before issue 16 (point estimate, for: 0s): {before_runs} runs in "
            f"{args.before_seconds:.0f} s, {len(before_alerts)} alerts"
        )
        for title in before_alerts[:6]:
            print(f"  {title}")

    def shown(x: float | None) -> str:
        return "not paged" if x is None else f"{x:.0f} s"

    print(
        f"signal: {len(false)} false alerts in {healthy_runs} healthy runs "
        f"(before: {len(before_alerts)} in {before_runs}); 30% slowdown paged in "
        f"{shown(regression)}, +1.2 s in {shown(outage)}"
    )


if __name__ == "__main__":
    main()
