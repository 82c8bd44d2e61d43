"""CPU throttling: a fixed CPU-bound loop timed inside the page, in journeys with
`cpu_slowdown: 4` against journeys without, interleaved.

    .venv/bin/python bench/throttle.py [--rounds 7] [--work 3000000] [--max-seconds 90]

A page on 127.0.0.1 (a free port) runs a fixed loop of integer arithmetic as it loads and
writes the loop's own elapsed time (performance.now(), wall time inside the page) into
`#elapsed`. Two probes run that page through observer's Runner (real Chromium, one process,
the same Runner for the whole bench): `goto` the page, `capture` `#elapsed`; one probe has
`cpu_slowdown: 4`, the other none. One warm-up run of each, then N rounds of one run each,
in alternating order (A B, B A, ...), stopped early past --max-seconds. The last line is the
headline: the ratio of the medians (expected: about 4×, what Chromium's
Emulation.setCPUThrottlingRate promises).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _interleave import interleaved  # noqa: E402

from observer.config import load_project  # noqa: E402
from observer.runner import Runner  # noqa: E402

# The loop's result is written out, so the engine cannot drop the work.
PAGE = """<!doctype html><html lang=en><head><meta charset=utf-8><title>cpu</title></head>
<body><main><h1>CPU-bound</h1><p id=elapsed></p><p id=sum></p></main>
<script>
const t0 = performance.now();
let x = 2463534242, acc = 0;
for (let i = 0; i < WORK; i++) {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  acc = (acc + (x % 1009)) % 1000003;
}
const ms = performance.now() - t0;
document.getElementById('sum').textContent = String(acc);
document.getElementById('elapsed').textContent = ms.toFixed(1);
document.title = 'elapsed ' + ms.toFixed(1);
</script></body></html>"""

PROBES = """
settings:
  database: bench.db
  artifacts: artifacts
  screenshots: 'off'
  trace: 'off'
probes:
  - name: plain
    journey:
      - goto: {url}
      - capture: {{name: elapsed, selector: "#elapsed"}}
  - name: slowed
    cpu_slowdown: 4
    journey:
      - goto: {url}
      - capture: {{name: elapsed, selector: "#elapsed"}}
"""


def serve(body: bytes) -> ThreadingHTTPServer:
    """The page, on a free port of 127.0.0.1, in a thread."""

    class Page(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def elapsed_of(result: Any) -> float:
    """The loop's time the page wrote, as the capture step kept it."""
    return float(result.steps[-1].captured["elapsed"])


async def bench(cfg: Path, rounds: int, max_seconds: float) -> dict[str, dict[str, list[float]]]:
    project = load_project(cfg)
    probes = {name: project.probe(name) for name in ("plain", "slowed")}
    figures: dict[str, dict[str, list[float]]] = {
        name: {"elapsed": [], "duration": []} for name in probes
    }

    def take(name: str, result: Any, wall: float) -> None:
        figures[name]["elapsed"].append(elapsed_of(result))
        figures[name]["duration"].append(result.duration_ms)

    def line(i: int) -> str:
        return (
            f"round {i + 1:2}: plain {figures['plain']['elapsed'][-1]:7.1f} ms   "
            f"cpu_slowdown 4 {figures['slowed']['elapsed'][-1]:7.1f} ms"
        )

    async with Runner(project, concurrency=1) as runner:
        await interleaved(runner, probes, rounds, max_seconds, take, line)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--work", type=int, default=3_000_000, help="iterations of the page's loop")
    ap.add_argument("--max-seconds", type=float, default=90.0)
    args = ap.parse_args()
    server = serve(PAGE.replace("WORK", str(args.work)).encode())
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Path(tmp) / "throttle.yaml"
            cfg.write_text(PROBES.format(url=url))
            figures = asyncio.run(bench(cfg, args.rounds, args.max_seconds))
    finally:
        server.shutdown()
    n = len(figures["plain"]["elapsed"])
    med = {
        name: {k: statistics.median(v) for k, v in series.items()}
        for name, series in figures.items()
    }
    print(f"\nmedians of {n} interleaved rounds")
    print(f"{'':<16} {'in-page loop':>13} {'range':>19} {'journey duration_ms':>20}")
    for name, label in (("plain", "no slowdown"), ("slowed", "cpu_slowdown: 4")):
        lo, hi = min(figures[name]["elapsed"]), max(figures[name]["elapsed"])
        span = f"{lo:.1f}–{hi:.1f} ms"
        print(
            f"{label:<16} {med[name]['elapsed']:>10.1f} ms {span:>19} "
            f"{med[name]['duration']:>17.1f} ms"
        )
    ratio = med["slowed"]["elapsed"] / med["plain"]["elapsed"]
    print(
        f"cpu_slowdown 4: the in-page loop takes {ratio:.2f}x as long "
        f"({med['slowed']['elapsed']:.1f} ms against {med['plain']['elapsed']:.1f} ms, "
        f"median of {n} interleaved rounds)"
    )


if __name__ == "__main__":
    main()
