"""Journey overhead: `observer run` of the demo checkout against the same steps as a plain
Playwright script, same Chromium, interleaved (A B A B ...), whole processes timed.

    .venv/bin/python bench/journey.py [--runs 10]

The last line is the headline: the ratio of the medians (target: at most 1.10).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from observer.demo.shop import ShopServer  # noqa: E402

PROBE = """
settings:
  database: bench.db
probes:
  - name: checkout
    journey:
      - goto: ${BASE_URL}/login
      - fill: {selector: "#email", value: demo@example.com}
      - fill: {selector: "#password", value: demo, secret: true}
      - {name: submit, click: "button[type=submit]"}
      - expect_text: Welcome
      - goto: ${BASE_URL}/products/1
      - click: "text=Add to cart"
      - mark: cart
      - goto: ${BASE_URL}/cart
      - click: "text=Checkout"
      - fill: {selector: "#address", value: "1 Main St"}
      - click: "text=Place order"
      - expect_url: "**/orders/*"
      - expect_text: Thank you
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--trace", default="on_failure", help="settings.trace for observer's runs")
    args = ap.parse_args()
    observer_bin = str(Path(sys.executable).parent / "observer")
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "checkout.yaml"
        cfg.write_text(
            PROBE.replace("database: bench.db", f"database: bench.db\n  trace: {args.trace}")
        )
        env = {**os.environ, "BASE_URL": shop.url, "PYTHONPATH": str(ROOT)}
        plain = [sys.executable, str(ROOT / "bench" / "_plain_checkout.py"), shop.url]
        ours = [observer_bin, "run", str(cfg), "--json"]
        timed(plain, env)
        timed(ours, env)  # warm caches of both
        a: list[float] = []
        b: list[float] = []
        for i in range(args.runs):
            a.append(timed(plain, env))
            b.append(timed(ours, env))
            print(f"run {i + 1:2}: plain {a[-1]:.3f}s  observer {b[-1]:.3f}s")
        shutil.rmtree(Path(tmp) / "artifacts", ignore_errors=True)
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"median plain Playwright {ma:.3f}s, observer run {mb:.3f}s (trace: {args.trace})")
    print(f"journey overhead: {mb / ma:.2f}x plain Playwright (median of {args.runs} each)")


if __name__ == "__main__":
    main()
