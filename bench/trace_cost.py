"""Measuring without disturbing: a page's FCP and LCP with observer's default settings against
the same journey with `trace: off` (and, for scale, `trace: always`), in interleaved runs.

    .venv/bin/python bench/trace_cost.py [--pairs 30]

Each round runs the three settings once each, as whole `observer run` processes, in rotating
order. The differences to `trace: off` are paired by round; their mean comes with a 95%
bootstrap confidence interval. The last line is the headline (target: the default within
10 ms of `trace: off`, for FCP and LCP).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _observer_run import run_json  # noqa: E402

from observer.demo.shop import ShopServer  # noqa: E402

JOURNEY = """
settings:
  database: bench.db
{extra}
probes:
  - name: product
    journey:
      - goto: {base}/products/1
      - expect_text: Add to cart
"""
ARMS = {"default": "", "trace: off": "  trace: 'off'", "trace: always": "  trace: always"}


def measure(cfg: Path, cwd: str) -> tuple[float, float]:
    (result,), _ = run_json(cfg, cwd, timeout=120)
    fcp, lcp = result["vitals"]["fcp_ms"], result["vitals"]["lcp_ms"]
    if fcp is None or lcp is None:
        sys.exit(f"a run lost a vital: {result['vitals']}")
    return float(fcp), float(lcp)


def bootstrap(diffs: list[float], rounds: int = 10_000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean."""
    rng = random.Random(7)
    n = len(diffs)
    means = sorted(statistics.fmean(rng.choices(diffs, k=n)) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=30)
    args = ap.parse_args()
    names = list(ARMS)
    got: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    with ShopServer() as shop, tempfile.TemporaryDirectory() as tmp:
        files = {}
        for i, (name, extra) in enumerate(ARMS.items()):
            files[name] = Path(tmp) / f"arm{i}.yaml"
            files[name].write_text(JOURNEY.format(extra=extra, base=shop.url), encoding="utf-8")
        for name in names:
            measure(files[name], tmp)  # warm each
        for r in range(args.pairs):
            order = names[r % 3 :] + names[: r % 3]  # rotate who goes first
            for name in order:
                got[name].append(measure(files[name], tmp))
            print(
                f"round {r + 1:2}: "
                + "  ".join(f"{n}: FCP {got[n][-1][0]:.0f} LCP {got[n][-1][1]:.0f}" for n in names),
                flush=True,
            )
    for name in names:
        fcp = statistics.median(v[0] for v in got[name])
        lcp = statistics.median(v[1] for v in got[name])
        print(f"median {name:<14} FCP {fcp:6.1f} ms  LCP {lcp:6.1f} ms")
    lines = []
    for name in ("default", "trace: always"):
        parts = []
        for i, metric in enumerate(("FCP", "LCP")):
            diffs = [a[i] - b[i] for a, b in zip(got[name], got["trace: off"], strict=True)]
            low, high = bootstrap(diffs)
            mean = statistics.fmean(diffs)
            parts.append(f"{metric} {mean:+.1f} ms (95% CI {low:+.1f}..{high:+.1f})")
        lines.append(f"{name} - trace: off: " + ", ".join(parts))
    print(lines[1])
    print(lines[0] + f" over {args.pairs} interleaved rounds")


if __name__ == "__main__":
    main()
