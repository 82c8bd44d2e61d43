"""Lost vitals: single-`goto` journeys against the demo shop's pages, with busy CPU loops
beside them, and how many runs came back without TTFB, FCP, LCP or CLS.

    .venv/bin/python bench/vitals_lost.py [--runs 50] [--busy 0,1,2] [--settle default|off]
                                          [--observer PATH]

Each load (0, 1 and 2 busy loops) gets its own run: the old cause of lost vitals struck most
on an idle machine. `--observer PATH` runs another checkout of observer (a `git worktree` of an
older commit, with its static/vendor copied in) on the same pages, to compare before and after.
`--settle off` reads each page as soon as its first paint is reported, without waiting for it
to settle (not for observers before `settle` existed). The last line is the headline: runs
that lost a vital under the worst of the loads (target: 0).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _observer_run import run_json  # noqa: E402

from observer.demo.shop import ShopServer  # noqa: E402

PAGES = ["/", "/products", "/products/1", "/products/4", "/login", "/cart", "/checkout"]
VITALS = ("ttfb_ms", "fcp_ms", "lcp_ms", "cls")
BUSY = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def probe_file(base: str, runs: int, settle: str) -> str:
    lines = ["settings:", "  database: bench.db", "  screenshots: 'off'"]
    if settle == "off":
        lines.append("  settle: 'off'")
    lines.append("probes:")
    for i in range(runs):
        lines += [f"  - name: page-{i:03d}", "    journey:", f"      - goto: {base}{PAGES[i % 7]}"]
    return "\n".join(lines) + "\n"


def run_once(tree: Path, base: str, runs: int, settle: str, busy: int) -> tuple[int, str]:
    """One `observer run` of the journeys beside `busy` CPU loops: (runs that lost a vital,
    a line that says which)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "pages.yaml"
        cfg.write_text(probe_file(base, runs, settle), encoding="utf-8")
        # Loops bounded in time; the journeys share the two cores with them.
        loops = [
            subprocess.Popen([sys.executable, "-c", BUSY.format(seconds=600)]) for _ in range(busy)
        ]
        try:
            results, elapsed = run_json(cfg, tmp, tree=tree, timeout=900, ok=(0, 1))
        finally:
            for proc in loops:
                proc.kill()
                proc.wait()
    lost = {k: 0 for k in VITALS}
    runs_lost = 0
    for r in results:
        missing = [k for k in VITALS if r["vitals"].get(k) is None]
        for k in missing:
            lost[k] += 1
        runs_lost += bool(missing)
    failed = sum(1 for r in results if r["outcome"] != "pass")
    line = (
        f"{busy} busy loops: {runs_lost:2} of {len(results)} runs lost a vital "
        f"({', '.join(f'{k} {n}' for k, n in lost.items())}; {failed} not passed; "
        f"{elapsed:.1f}s)"
    )
    return runs_lost, line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--settle", choices=("default", "off"), default="default")
    ap.add_argument("--observer", type=Path, default=ROOT, help="checkout of observer to run")
    ap.add_argument(
        "--busy", default="0,1,2", help="busy CPU loops beside the journeys, one run for each"
    )
    args = ap.parse_args()
    tree = args.observer.resolve()
    print(f"observer from {tree}, settle: {args.settle}, {args.runs} single-goto journeys")
    worst = 0
    with ShopServer() as shop:
        for busy in (int(b) for b in args.busy.split(",")):
            lost, line = run_once(tree, shop.url, args.runs, args.settle, busy)
            print(line, flush=True)
            worst = max(worst, lost)
    print(f"runs that lost a vital, worst of the loads: {worst} of {args.runs}")


if __name__ == "__main__":
    main()
