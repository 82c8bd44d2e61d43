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

# Above this many samples the binomial is replaced by its normal approximation (with the
# continuity correction), which is then accurate to well under one rank.
EXACT_UP_TO = 2000


@dataclass(frozen=True)
class Bounds:
    """One-sided bounds at a confidence: None where the data cannot give one."""

    low: float | None
    high: float | None
    confidence: float


def _log_pmf(n: int, q: float) -> list[float]:
    lq, lr = math.log(q), math.log1p(-q)
    lg = math.lgamma
    return [lg(n + 1) - lg(k + 1) - lg(n - k + 1) + k * lq + (n - k) * lr for k in range(n + 1)]


@lru_cache(maxsize=4096)
def order_ranks(n: int, q: float, confidence: float) -> tuple[int | None, int | None]:
    """1-based ranks (k, j) of the order statistics that bound the q-quantile of n samples
    from below and above at this confidence; None where no rank is sure enough."""
    if n <= 0:
        return None, None
    if q <= 0 or q >= 1:
        return (1, 1) if q <= 0 else (n, n)
    if n > EXACT_UP_TO:
        z = NormalDist().inv_cdf(confidence)
        sd = math.sqrt(n * q * (1 - q))
        k = math.floor(n * q - z * sd + 0.5)  # P(Bin >= k) >= c
        j = math.ceil(n * q + z * sd + 0.5)  # P(Bin <= j - 1) >= c
        return (k if k >= 1 else None), (j if j <= n else None)
    pmf = [math.exp(x) for x in _log_pmf(n, q)]
    low = None
    tail = 0.0  # P(Bin >= k), from the top
    for k in range(n, 0, -1):
        tail += pmf[k]
        if tail >= confidence:
            low = k
            break
    high = None
    head = 0.0  # P(Bin <= j - 1), from the bottom
    for j in range(1, n + 1):
        head += pmf[j - 1]
        if head >= confidence:
            high = j
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
    return math.ceil(math.log(1 - confidence) / math.log(q))


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


__all__ = ["Bounds", "order_ranks", "quantile_bounds", "samples_for", "wilson_bounds"]
