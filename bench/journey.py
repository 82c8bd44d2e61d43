"""Journey overhead: `observer run` of the demo checkout against the same steps as a plain
Playwright script, same Chromium, interleaved (A B A B ...), whole processes timed.

    .venv/bin/python bench/journey.py [--runs 10]

Five series, interleaved: the plain script without and with a Playwright trace (recorded as
observer records it for this journey when it traces, DOM snapshots without screencast since it
types a password), `observer run` with `trace: off` and with `trace: always`, both with
`settle: off` (the plain script reads the last page at once too), and `observer run` with its
defaults (a run is measured untraced; the last page settles, up to 500 ms of quiet). Like is
compared with like. The last line is the headline: the ratios of the medians (target: at most
1.10).
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
    args = ap.parse_args()
    observer_bin = str(Path(sys.executable).parent / "observer")
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BASE_URL": shop.url, "PYTHONPATH": str(ROOT)}
        plain = [sys.executable, str(ROOT / "bench" / "_plain_checkout.py"), shop.url]
        series: dict[str, list[str]] = {
            "plain Playwright": plain,
            "plain Playwright, traced": [*plain, "--trace"],
        }
        for name, extra in (
            ("observer run, trace: off", "\n  trace: 'off'\n  settle: 'off'"),
            ("observer run, trace: always", "\n  trace: always\n  settle: 'off'"),
            ("observer run, defaults", ""),
        ):
            cfg = Path(tmp) / f"checkout-{len(series)}.yaml"
            cfg.write_text(PROBE.replace("database: bench.db", f"database: bench.db{extra}"))
            series[name] = [observer_bin, "run", str(cfg), "--json"]
        for cmd in series.values():
            timed(cmd, env)  # warm the caches of each
        times: dict[str, list[float]] = {name: [] for name in series}
        for i in range(args.runs):
            for name, cmd in series.items():  # interleaved: A B C D A B C D ...
                times[name].append(timed(cmd, env))
            print(f"run {i + 1:2}: " + "  ".join(f"{t[-1]:.3f}s" for t in times.values()))
        shutil.rmtree(Path(tmp) / "artifacts", ignore_errors=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, m in med.items():
        print(f"median {name:<32} {m:.3f}s")
    untraced = med["observer run, trace: off"] / med["plain Playwright"]
    traced = med["observer run, trace: always"] / med["plain Playwright, traced"]
    default = med["observer run, defaults"] / med["plain Playwright"]
    print(
        f"the trace itself: {med['plain Playwright, traced'] - med['plain Playwright']:+.3f}s "
        f"in plain Playwright, "
        f"{med['observer run, trace: always'] - med['observer run, trace: off']:+.3f}s "
        f"in observer; observer's defaults (settling the last page) against plain: {default:.2f}x"
    )
    print(
        f"journey overhead: {untraced:.2f}x plain Playwright untraced, {traced:.2f}x traced "
        f"(median of {args.runs} each)"
    )


if __name__ == "__main__":
    main()
