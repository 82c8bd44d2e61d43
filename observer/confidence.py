"""How sure a budget's verdict is: confidence bounds that assume nothing about the distribution.

- A percentile's bounds come from order statistics and the binomial: the k-th smallest of n
  samples lies at or below the population's q-quantile with probability P(Bin(n, q) >= k). The
  lower bound at confidence c is the largest such sample with that probability >= c; the upper
  bound is the smallest sample above the quantile with probability >= c. With too few samples a
  bound does not exist (a p95's upper bound needs 59 samples at 95%): the data cannot show it.
- A rate's bounds are Wilson's score interval, one-sided at c.

Both are one-sided: a breach is shown when the bound on the good side lies past the threshold,
a pass when the bound on the bad side lies within it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

# The binomial is summed only this many standard deviations either side of its mean: the mass
# beyond is under 1e-30, and a window of a million samples costs a few thousand terms.
SPREAD = 12.0
# Float sums of probabilities: a tail that is the confidence, up to rounding, is enough.
EPSILON = 1e-12


@dataclass(frozen=True)
class Bounds:
    """One-sided bounds at a confidence: None where the data cannot give one."""

    low: float | None
    high: float | None
    confidence: float


@lru_cache(maxsize=4096)
def order_ranks(n: int, q: float, confidence: float) -> tuple[int | None, int | None]:
    """1-based ranks (k, j) of the order statistics that bound the q-quantile of n samples
    from below and above at this confidence; None where no rank is sure enough. Exact: the
    binomial is summed (in logs) over the ranks where it has any mass."""
    if n <= 0:
        return None, None
    if q <= 0 or q >= 1:
        return (1, 1) if q <= 0 else (n, n)
    sd = math.sqrt(n * q * (1 - q))
    lo = max(0, math.floor(n * q - SPREAD * sd) - 1)
    hi = min(n, math.ceil(n * q + SPREAD * sd) + 1)
    lq, lr, lg = math.log(q), math.log1p(-q), math.lgamma
    pmf = {
        i: math.exp(lg(n + 1) - lg(i + 1) - lg(n - i + 1) + i * lq + (n - i) * lr)
        for i in range(lo, hi + 1)
    }
    low = None
    tail = 0.0  # P(Bin >= k), from the top
    for k in range(hi, max(lo, 1) - 1, -1):
        tail += pmf[k]
        if tail >= confidence - EPSILON:
            low = k
            break
    high = None
    head = 0.0  # P(Bin <= j - 1), from the bottom
    for j in range(max(lo, 0) + 1, hi + 2):
        head += pmf.get(j - 1, 0.0)
        if head >= confidence - EPSILON:
            high = j if j <= n else None
            break
    return low, high


def quantile_bounds(values: Sequence[float], q: float, confidence: float) -> Bounds:
    """Distribution-free one-sided bounds of the q-quantile (0 < q < 1)."""
    ordered = sorted(values)
    k, j = order_ranks(len(ordered), q, confidence)
    return Bounds(
        float(ordered[k - 1]) if k is not None else None,
        float(ordered[j - 1]) if j is not None else None,
        confidence,
    )


def samples_for(q: float, confidence: float) -> int:
    """The fewest samples whose q-quantile can be bounded from above: below it, no run of good
    samples can show that a percentile holds (59 for p95 at 95%, 299 for p99)."""
    # The upper bound is the largest sample once P(all n below the quantile) = q**n <= 1 - c.
    return math.ceil(math.log(1 - confidence) / math.log(q) - EPSILON)


def samples_for_rate(limit: float, confidence: float) -> int:
    """The fewest samples whose Wilson lower bound can reach `limit` (all of them good): a
    rate >= 99% needs 268 at 95%."""
    z = NormalDist().inv_cdf(confidence)
    return math.ceil(z * z * limit / (1 - limit) - EPSILON)


def wilson_bounds(successes: int, n: int, confidence: float) -> Bounds:
    """Wilson's score bounds of a proportion, each one-sided at this confidence."""
    if n <= 0:
        return Bounds(None, None, confidence)
    z = NormalDist().inv_cdf(confidence)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    # All or none: the bound on that side is exactly 1 (or 0), not a rounding below it.
    low = 0.0 if successes == 0 else max(0.0, (centre - spread) / scale)
    high = 1.0 if successes == n else min(1.0, (centre + spread) / scale)
    return Bounds(low, high, confidence)


__all__ = [
    "Bounds",
    "order_ranks",
    "quantile_bounds",
    "samples_for",
    "samples_for_rate",
    "wilson_bounds",
]
