"""Experience budgets: threshold parsing, aggregates, evaluation and regression tests -> Verdict."""

from __future__ import annotations

import math
import operator
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from . import catalog
from .catalog import JOURNEY, Metric

if TYPE_CHECKING:
    from .confidence import Bounds
    from .store import Store

# ----------------------------------------------------------------------------- metrics

# The metrics themselves are listed once, in the catalog; the budget language reads them there.
METRICS = catalog.METRICS


def parse_metric(text: str) -> Metric:
    """'lcp' or 'step:submit' -> Metric; ValueError with the choices otherwise."""
    text = text.strip()
    if text.startswith("step:"):
        name = text[5:].strip()
        if not name:
            raise ValueError("step: needs a step name, e.g. step:submit")
        return Metric("step", "ms", JOURNEY, step=name)
    if text.startswith("completion:"):
        task = text[11:].strip()
        if not task:
            raise ValueError("completion: needs a task name, e.g. completion:checkout")
        # Sessions that completed the task over sessions that began it (observer.begin/complete).
        return Metric(
            "completion",
            "ratio",
            frozenset({"rum"}),
            lower_is_better=False,
            aggregation="share",
            task=task,
        )
    if text in METRICS:
        return METRICS[text]
    from .hints import did_you_mean

    raise ValueError(
        f"unknown metric '{text}'{did_you_mean(text, METRICS)}; metrics: {', '.join(METRICS)}, "
        "step:NAME, completion:TASK"
    )


# ----------------------------------------------------------------------------- thresholds

AGGREGATES = ("p50", "p75", "p90", "p95", "p99", "avg", "min", "max", "count", "rate", "score")
_ALIASES = {"median": "p50", "med": "p50", "mean": "avg", "average": "avg"}
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_THRESHOLD = re.compile(
    r"^\s*(?P<agg>[A-Za-z]+\d*|[pP]\(\d+\))\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|%)?\s*$"
)
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass(frozen=True)
class Threshold:
    """`p95 < 4s`: an aggregate, a comparison and a limit in the metric's unit."""

    aggregate: str
    op: str
    limit: float
    text: str

    def holds(self, value: float) -> bool:
        """Whether a measured value meets the threshold."""
        return OPS[self.op](value, self.limit)


def parse_threshold(text: str, metric: Metric) -> Threshold:
    """Parse and check units against the metric; ValueError says what is wrong."""
    if not isinstance(text, str):
        raise ValueError("a threshold is text such as 'p95 < 4s'")
    match = _THRESHOLD.match(text)
    if not match:
        raise ValueError(
            f"'{text}' is not a threshold; write AGGREGATE OP VALUE, e.g. 'p95 < 4s', "
            "'rate >= 99%', 'max == 0'"
        )
    agg = _aggregate_name(match["agg"])
    value = _in_metric_units(agg, float(match["num"]), match["unit"], metric)
    return Threshold(aggregate=agg, op=match["op"], limit=value, text=text.strip())


def _aggregate_name(written: str) -> str:
    """`P(95)`, `median`, `p95` -> the aggregate's one name; ValueError if it is none."""
    agg = written.lower()
    if agg.startswith("p(") and agg.endswith(")"):
        agg = "p" + agg[2:-1]
    agg = _ALIASES.get(agg, agg)
    if agg not in AGGREGATES:
        raise ValueError(f"unknown aggregate '{written}'; aggregates: {', '.join(AGGREGATES)}")
    return agg


# The scales customers answer on: a limit outside one could never be met, or never missed.
ANSWER_SCALES = {"csat": (1.0, 5.0), "ces": (1.0, 7.0)}


def _fits_feedback(agg: str, value: float, unit: str | None, metric: Metric) -> None:
    """NPS is judged by its score and only it has one; a rate needs a share (or CSAT's
    satisfied answers). ValueError says which."""
    if (agg == "score") != (metric.name == "nps"):
        raise ValueError(
            "score is NPS's aggregate (promoters minus detractors), e.g. 'score >= 30'"
            if agg == "score"
            else "nps is judged by its score, e.g. 'score >= 30'"
        )
    if agg == "score" and (unit or not -100 <= value <= 100):
        raise ValueError("an NPS score is a plain number from -100 to 100")
    if (
        agg == "rate"
        and metric.aggregation != "share"
        and metric.satisfied is None
        and (metric.name in ("ces", "nps"))
    ):
        raise ValueError(f"rate is a share; {metric.label} is judged by a value, e.g. mean")
    scale = ANSWER_SCALES.get(metric.name)
    if scale is not None and agg not in ("rate", "count") and not scale[0] <= value <= scale[1]:
        raise ValueError(f"{metric.label} answers lie from {scale[0]:g} to {scale[1]:g}")


def _in_metric_units(agg: str, value: float, unit: str | None, metric: Metric) -> float:
    """A threshold's number in the unit the samples have (ms, a 0-1 share); ValueError if the
    written unit does not fit the aggregate or the metric."""
    if agg == "count":
        if unit:
            raise ValueError("count is a number of samples: write it without a unit")
        return value
    _fits_feedback(agg, value, unit, metric)
    if agg == "score":
        return value
    if agg == "rate":
        if unit and unit != "%":
            raise ValueError("rate is a share: write it as a percentage (99%) or a fraction (0.99)")
        value = value / 100 if unit == "%" else value
        if not 0 <= value <= 1:
            raise ValueError("a rate lies between 0% and 100%")
        return value
    if metric.unit == "ms":
        if unit == "%":
            raise ValueError(f"{metric.label} is a time: give ms, s or m, not %")
        return value * _UNIT_MS.get(unit or "ms", 1.0)
    if metric.aggregation == "share":  # one 1 or 0 per run, load or session: judged by rate
        if unit and unit != "%":
            raise ValueError(f"{metric.label} is a share: use rate, e.g. 'rate >= 99%'")
        value = value / 100 if unit == "%" else value
        if not 0 <= value <= 1:
            raise ValueError(f"{metric.label} is a share: between 0% and 100% (or 0 and 1)")
        return value
    if unit:
        raise ValueError(f"{metric.label} has no unit: write a plain number")
    return value


# ----------------------------------------------------------------------------- aggregates


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Excel's PERCENTILE.INC)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo))


def aggregate(name: str, values: Sequence[float]) -> float:
    """The named aggregate of the samples (values must not be empty)."""
    if name == "count":
        return float(len(values))
    if not values:
        raise ValueError("no values")
    if name.startswith("p"):
        return percentile(values, float(name[1:]))
    if name == "avg":
        return sum(values) / len(values)
    if name == "min":
        return float(min(values))
    if name == "max":
        return float(max(values))
    if name == "rate":
        return sum(1 for v in values if v) / len(values)
    if name == "score":  # NPS: promoters (9-10) minus detractors (0-6), in points
        return (sum(v >= 9 for v in values) - sum(v <= 6 for v in values)) / len(values) * 100
    raise ValueError(f"unknown aggregate {name}")


# ----------------------------------------------------------------------------- regression


def mann_whitney_greater(a: Sequence[float], b: Sequence[float]) -> float:
    """One-sided p-value that samples `a` tend to be larger than `b` (Mann-Whitney U).

    Exact permutation distribution when there are no ties and the samples are small; the
    normal approximation with tie and continuity corrections otherwise.
    """
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties: list[int] = []
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        if j > i:
            ties.append(j - i + 1)
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, pooled, strict=True) if g == 0)
    u1 = r1 - n1 * (n1 + 1) / 2  # how often an `a` beats a `b`
    if not ties and n1 * n2 <= 400:
        counts = _u_distribution(n1, n2)
        total = sum(counts)
        at_least = sum(c for u, c in enumerate(counts) if u >= round(u1))
        return at_least / total
    mean = n1 * n2 / 2
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12 * ((n + 1) - tie_term)
    if var <= 0:
        return 1.0
    z = (u1 - mean - 0.5) / math.sqrt(var)
    return 0.5 * math.erfc(z / math.sqrt(2))


def _u_distribution(n1: int, n2: int) -> list[int]:
    """Number of arrangements giving each U, for n1 and n2 with no ties."""
    # f[i][j][u]: ways with i from group a and j from group b giving statistic u.
    table: dict[tuple[int, int], list[int]] = {}

    def f(i: int, j: int) -> list[int]:
        if (i, j) in table:
            return table[(i, j)]
        if i == 0 or j == 0:
            res = [1]
        else:
            # The largest value is from a (adds j to U) or from b (adds nothing).
            with_a = [0] * j + f(i - 1, j)
            from_b = f(i, j - 1)
            size = max(len(with_a), len(from_b))
            res = [
                (with_a[k] if k < len(with_a) else 0) + (from_b[k] if k < len(from_b) else 0)
                for k in range(size)
            ]
        table[(i, j)] = res
        return res

    return f(n1, n2)


def smallest_p(n1: int, n2: int) -> float:
    """The smallest one-sided p-value these sample sizes can give (no ties)."""
    return 1 / math.comb(n1 + n2, n1)


ALPHA = 0.05
# A live regression needs this much history in its baseline window to say anything.
LIVE_BASELINE_MIN = 20
# At most this many baseline samples are compared (evenly spaced by rank: the same shape).
LIVE_BASELINE_MAX = 5000


@dataclass
class Regression:
    """How this check compares with the baseline on a budget's metric."""

    tolerance: float
    baseline_median: float | None
    current_median: float | None
    change: float | None  # relative, + is worse
    p_value: float | None
    baseline_samples: int
    current_samples: int
    outcome: str
    message: str


def compare(
    current: Sequence[float],
    baseline: Sequence[float],
    tolerance: float,
    metric: Metric,
    *,
    over: str | None = None,
) -> Regression:
    """Fail when the median got worse by more than tolerance AND Mann-Whitney says it is real.

    `over` names a live baseline (`the previous 7d`): the message then gives both medians."""
    n1, n2 = len(current), len(baseline)
    if over is not None and n2 < LIVE_BASELINE_MIN:
        return Regression(
            tolerance, None, None, None, None, n2, n1, "inconclusive",
            f"too little history to compare with ({n2} samples over {over}, "
            f"{LIVE_BASELINE_MIN} needed)",
        )  # fmt: skip
    if n1 < 2 or n2 < 2 or smallest_p(n1, n2) >= ALPHA:
        return Regression(
            tolerance,
            None,
            None,
            None,
            None,
            n2,
            n1,
            "inconclusive",
            f"too few samples to tell ({n1} now, {n2} in the baseline: even the clearest "
            f"difference could not reach p < {ALPHA:g}; run at least 5 on each side)",
        )
    cur = percentile(current, 50)
    base = percentile(baseline, 50)
    if metric.lower_is_better:
        change = (cur - base) / base if base else (math.inf if cur > 0 else 0.0)
        p = mann_whitney_greater(current, baseline)
    else:
        change = (base - cur) / base if base else 0.0
        p = mann_whitney_greater(baseline, current)
    worse = change > tolerance and p < ALPHA
    pct = "∞" if math.isinf(change) else f"{change * 100:+.1f}%"
    outcome = "fail" if worse else "pass"
    if over is not None:
        medians = (
            f"median {format_value(cur, metric.unit)} against {format_value(base, metric.unit)} "
            f"over {over} ({pct}, p={p:.3g})"
        )
        if worse:
            msg = f"{medians}, over the {tolerance * 100:g}% allowed"
        elif change > tolerance:
            msg = f"{medians}, not significant"
        else:
            msg = f"{medians}, within {tolerance * 100:g}%"
    elif worse:
        msg = (
            f"median {pct} against the baseline (p={p:.3f}), over the {tolerance * 100:g}% allowed"
        )
    elif change > tolerance:
        msg = f"median {pct} against the baseline, but not significant (p={p:.3f})"
    else:
        msg = f"median {pct} against the baseline, within {tolerance * 100:g}%"
    return Regression(tolerance, base, cur, change, p, n2, n1, outcome, msg)


# ----------------------------------------------------------------------------- verdicts


class Status(StrEnum):
    """A budget's outcome."""

    PASS = "pass"
    DEGRADED = "degraded"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass
class Verdict:
    """What one budget came to."""

    name: str
    metric: str
    threshold: str
    outcome: Status
    value: float | None
    limit: float
    aggregate: str
    samples: int
    probes: list[str]
    warn: str | None = None
    source: str = "synthetic"
    message: str = ""
    values: list[float] = field(default_factory=list)
    regression: Regression | None = None
    unit: str = "ms"
    extra: dict[str, Any] = field(default_factory=dict)
    interval: tuple[float, float] | None = None  # shown: the bounds, or the samples' extremes
    confidence: float | None = None  # of the interval
    judged_by: str = "point"  # point (the estimate decided) or interval

    def interval_text(self) -> str:
        """`95% interval 150 ms–1.5 s`, or empty without one."""
        if self.interval is None or self.confidence is None:
            return ""
        lo, hi = (format_value(x, self.unit, self.aggregate) for x in self.interval)
        unit = next((u for u in (" ms", " s", "%") if lo.endswith(u) and hi.endswith(u)), "")
        lo = lo.removesuffix(unit) if unit else lo  # one unit for both ends: 0.15–1.5 s
        return f"{self.confidence * 100:g}% interval {lo}–{hi}"

    def to_dict(self, with_values: bool = True) -> dict[str, Any]:
        """The JSON form (also what --baseline reads back)."""
        data: dict[str, Any] = {
            "name": self.name,
            "metric": self.metric,
            "source": self.source,
            "threshold": self.threshold,
            "warn": self.warn,
            "outcome": str(self.outcome),
            "value": self.value,
            "limit": self.limit,
            "aggregate": self.aggregate,
            "unit": self.unit,
            "samples": self.samples,
            "probes": self.probes,
            "message": self.message,
        }
        if self.regression is not None:
            r = self.regression
            data["regression"] = {
                "tolerance": r.tolerance,
                "baseline_median": r.baseline_median,
                "current_median": r.current_median,
                "change": r.change,
                "p_value": r.p_value,
                "baseline_samples": r.baseline_samples,
                "current_samples": r.current_samples,
                "outcome": r.outcome,
                "message": r.message,
                "test": "mann-whitney-u",
            }
        data["judged_by"] = self.judged_by
        data["interval"] = (
            {"low": self.interval[0], "high": self.interval[1], "confidence": self.confidence}
            if self.interval is not None
            else None
        )
        data.update(self.extra)
        if with_values:
            data["values"] = self.values
        return data


def format_value(value: float | None, unit: str, aggregate: str = "") -> str:
    """A value as people read it: 4.8 s, 840 ms, 97.5%, 0.12, 3."""
    if value is None:
        return "–"
    if aggregate == "rate" or unit == "ratio":
        return f"{value * 100:.1f}%".replace(".0%", "%")
    if aggregate == "count":
        return f"{value:g}"
    if unit == "ms":
        if abs(value) >= 1000:
            return f"{value / 1000:.2f}".rstrip("0").rstrip(".") + " s"
        return f"{value:.0f} ms"
    if unit == "score":
        return f"{value:.3f}".rstrip("0").rstrip(".") if value else "0"
    return f"{value:g}"


@dataclass
class Rule:
    """A budget from the config, parsed and resolved to the probes it covers."""

    name: str
    metric: Metric
    threshold: Threshold
    probes: list[str]
    warn: Threshold | None = None
    min_samples: int = 1
    tolerance: float | None = None
    window: float | None = None
    source: str = "synthetic"  # synthetic, rum or both
    description: str | None = None
    page: str | None = None  # real users: a page glob
    device: str | None = None  # real users: mobile, tablet or desktop
    location: str | None = None  # probes: only runs from there (None: every location)
    confidence: float | None = None  # how sure a windowed verdict must be (None: point estimate)
    baseline: float | None = None  # serve: seconds of history a live regression compares with
    by_interval: bool | None = None  # decide by the interval (None: as the caller judges)
    task: str | None = None  # real users: only the sessions of this task
    # probes: only runs under these conditions: device, network (a profile's label, "" for
    # none), cpu_slowdown (a factor, "" for none); a key left out is not looked at
    condition: dict[str, Any] | None = None
    impact: str | None = None  # a11y_violations: only violations at or above this impact

    @property
    def picked(self) -> Any:
        """Which runs and violations count, as the store picks them (None: all)."""
        if (
            self.condition is None
            and self.impact is None
            and not (self.page and self.metric.name == "a11y_violations")
        ):
            return None
        from .store import Picked

        wanted = self.condition or {}
        return Picked(
            device=wanted.get("device"),
            network=wanted.get("network"),
            cpu_slowdown=wanted.get("cpu_slowdown"),
            impacts=tuple(catalog.impacts_from(self.impact)) if self.impact else (),
            page=self.page if self.metric.name == "a11y_violations" else None,
        )


def judge(
    rule: Rule,
    values: list[float],
    *,
    baseline: list[float] | None = None,
    by_interval: bool = False,
) -> Verdict:
    """Evaluate one budget over its samples (and, given a baseline, its regression test).

    With `by_interval` (serve, budgets, the dashboard) and a confidence, a percentile or a rate
    breaches only when its bound on the good side lies past the threshold, passes only when
    its bound on the bad side lies within it, and is inconclusive between; otherwise the point
    estimate decides and the interval is shown beside it."""
    threshold, warn, unit = rule.threshold, rule.warn, rule.metric.unit
    verdict = Verdict(
        name=rule.name,
        metric=rule.metric.label,
        threshold=threshold.text,
        outcome=Status.PASS,
        value=None,
        limit=threshold.limit,
        aggregate=threshold.aggregate,
        samples=len(values),
        probes=rule.probes,
        warn=warn.text if warn else None,
        source=rule.source,
        values=values,
        unit=unit,
    )
    needed = max(rule.min_samples, 1)
    if threshold.aggregate != "count" and len(values) < needed:
        verdict.outcome = Status.INCONCLUSIVE
        verdict.message = f"{len(values)} samples, fewer than the {needed} needed"
        return verdict
    value = aggregate(threshold.aggregate, values)
    verdict.value = value
    bounds = _bounds(threshold.aggregate, values, rule.confidence)
    if bounds is not None:
        verdict.confidence = bounds.confidence
        verdict.interval = _shown(bounds, threshold.aggregate, values)
    if rule.by_interval is not None:
        by_interval = rule.by_interval
    side = _side(threshold, bounds) if by_interval and bounds is not None else None
    if side is None:
        verdict.outcome, verdict.message = _against(threshold, warn, value, values, needed, unit)
    else:
        verdict.judged_by = "interval"
        verdict.outcome, verdict.message = _against_interval(verdict, rule, side)
    if rule.tolerance is not None and baseline is not None:
        _regression(verdict, compare(values, baseline, rule.tolerance, rule.metric))
    return verdict


def _against(
    threshold: Threshold,
    warn: Threshold | None,
    value: float,
    values: list[float],
    needed: int,
    unit: str,
) -> tuple[Status, str]:
    """The outcome of a value against its threshold and warning, and why."""
    shown = format_value(value, unit, threshold.aggregate)
    limit = format_value(threshold.limit, unit, threshold.aggregate)
    if not threshold.holds(value):
        return Status.FAIL, f"{threshold.aggregate} {shown}, breaks {threshold.op} {limit}"
    if warn is not None and warn.aggregate != "count" and len(values) < needed:
        # A count threshold is judged on any number of samples; its warning may need more.
        return Status.INCONCLUSIVE, (
            f"{threshold.aggregate} {shown} {threshold.op} {limit}; {len(values)} samples, "
            f"fewer than the {needed} the warning needs"
        )
    if warn is not None and not warn.holds(aggregate(warn.aggregate, values)):
        wv = aggregate(warn.aggregate, values)
        return Status.DEGRADED, (
            f"{warn.aggregate} {format_value(wv, unit, warn.aggregate)} past the warning "
            f"{warn.op} {format_value(warn.limit, unit, warn.aggregate)}, within {limit}"
        )
    return Status.PASS, f"{threshold.aggregate} {shown} {threshold.op} {limit}"


def _bounds(agg: str, values: list[float], confidence: float | None) -> Bounds | None:
    """A percentile's order-statistic bounds or a rate's Wilson bounds (None: no interval for
    this aggregate, or confidence off)."""
    from .confidence import quantile_bounds, wilson_bounds

    if confidence is None or not values:
        return None
    q = _quantile(agg)
    if q is not None:
        return quantile_bounds(values, q, confidence)
    if agg == "rate":
        return wilson_bounds(sum(1 for v in values if v), len(values), confidence)
    return None


def _quantile(agg: str) -> float | None:
    """The quantile a percentile aggregate names (`p95`: 0.95); None for the others."""
    return float(agg[1:]) / 100 if agg.startswith("p") else None


def _shown(bounds: Bounds, agg: str, values: list[float]) -> tuple[float, float]:
    """The interval as shown: a bound the data cannot give is the samples' extreme."""
    lo = bounds.low if bounds.low is not None else (0.0 if agg == "rate" else min(values))
    hi = bounds.high if bounds.high is not None else (1.0 if agg == "rate" else max(values))
    return lo, hi


def _side(threshold: Threshold, bounds: Bounds) -> str | None:
    """breach, hold or unsure by the bounds; None for a comparison they cannot decide (==)."""
    if threshold.aggregate == "rate" and not 0 < threshold.limit < 1:
        return None  # `rate >= 100%`: one failure breaks it, and no interval shows it holds
    if threshold.op in ("<", "<="):  # lower is better: the low bound shows a breach
        good, bad = bounds.low, bounds.high
    elif threshold.op in (">", ">="):
        good, bad = bounds.high, bounds.low
    else:
        return None
    if good is not None and not threshold.holds(good):
        return "breach"
    if bad is not None and threshold.holds(bad):
        return "hold"
    return "unsure"


def _against_interval(v: Verdict, rule: Rule, side: str) -> tuple[Status, str]:
    """The outcome by the interval, and why: `p95 1.26 s (95% interval 0.15–1.5 s, 26
    samples): inconclusive against < 1 s`."""
    threshold, warn = rule.threshold, rule.warn
    shown = format_value(v.value, v.unit, threshold.aggregate)
    limit = format_value(threshold.limit, v.unit, threshold.aggregate)
    said = f"{threshold.aggregate} {shown} ({v.interval_text()}, {v.samples} samples)"
    if side == "breach":
        return Status.FAIL, f"{said}, breaks {threshold.op} {limit}"
    if side == "unsure":
        return Status.INCONCLUSIVE, f"{said}: inconclusive against {threshold.op} {limit}" + (
            _more_needed(threshold, v.samples, v.confidence or 0.95)
        )
    if warn is not None:
        bounds = _bounds(warn.aggregate, v.values, rule.confidence)
        warn_side = _side(warn, bounds) if bounds is not None else None
        # A warning the interval cannot decide (`rate >= 100%`, `==`) is judged by its value.
        warned = (
            warn_side == "breach"
            if warn_side is not None
            else not warn.holds(aggregate(warn.aggregate, v.values))
        )
        if warned:
            wv = format_value(aggregate(warn.aggregate, v.values), v.unit, warn.aggregate)
            wl = format_value(warn.limit, v.unit, warn.aggregate)
            return Status.DEGRADED, (
                f"{warn.aggregate} {wv} past the warning {warn.op} {wl}, within {limit} "
                f"({v.interval_text()}, {v.samples} samples)"
            )
    return Status.PASS, f"{said} {threshold.op} {limit}"


def samples_needed(threshold: Threshold, confidence: float) -> int | None:
    """The fewest samples with which this threshold can be shown to hold (None: any number
    can): a p95 below a limit needs 59 at 95%, a rate of at least 99% 268."""
    from .confidence import samples_for, samples_for_rate

    agg, op = threshold.aggregate, threshold.op
    q = _quantile(agg)
    if q is not None and op in ("<", "<="):
        return samples_for(q, confidence)
    if agg == "rate" and op in (">", ">=") and 0 < threshold.limit < 1:
        return samples_for_rate(threshold.limit, confidence)
    return None


def _more_needed(threshold: Threshold, n: int, confidence: float) -> str:
    """Why a value that looks fine cannot pass yet: too few samples to bound it."""
    need = samples_needed(threshold, confidence)
    if need is None or n >= need:
        return ""
    return f"; a pass needs at least {need} samples in the window"


def _regression(verdict: Verdict, reg: Regression) -> None:
    """Fold a regression test into a verdict: a regression fails it, too few samples make a
    pass inconclusive."""
    verdict.regression = reg
    if reg.outcome == "fail":
        verdict.outcome = Status.FAIL
        verdict.message += f"; regression: {reg.message}"
    elif reg.outcome == "inconclusive" and verdict.outcome == Status.PASS:
        verdict.outcome = Status.INCONCLUSIVE
        verdict.message += f"; regression: {reg.message}"
    else:
        verdict.message += f"; {reg.message}"


# ----------------------------------------------------------------------------- rules


def with_confidence(rules: Sequence[Rule], confidence: float | None) -> list[Rule]:
    """The rules judged at a confidence given on the command line: decided by that interval,
    or by the point estimate when None (`--confidence off`)."""
    return [replace(r, confidence=confidence, by_interval=confidence is not None) for r in rules]


def lab_rules(rules: Sequence[Rule], probes: Sequence[str] = ()) -> list[Rule]:
    """The budgets a check judges: those with lab data, narrowed to the selected probes.

    Real-user budgets judge production traffic, not the build a check is gating.
    """
    lab = [rule for rule in rules if rule.source != "rum"]
    if not probes:
        return lab
    chosen = set(probes)
    narrowed = []
    for rule in lab:
        covered = [p for p in rule.probes if p in chosen]
        if covered:
            narrowed.append(replace(rule, probes=covered))
    return narrowed


def evaluate(
    rules: Sequence[Rule],
    store: Store,
    *,
    batch: str | None = None,
    window: float | None = None,
    now: float | None = None,
    baselines: dict[str, list[float]] | None = None,
    live: bool = False,
    production: bool | None = None,
) -> list[Verdict]:
    """Judge each rule over stored samples: one check's batch, or a time window up to now
    (with `live`, as serve, the dashboard and `observer budgets` judge: a percentile or a rate
    decided by its confidence interval, and a budget with a `baseline:` compared with its own
    history; with `production`, by default as `live`, CI checks' runs left out)."""
    import time

    now = time.time() if now is None else now
    verdicts: list[Verdict] = []
    for rule in rules:
        seconds = window or rule.window or 3600.0
        span = _Window(batch, now, seconds, live, live if production is None else production)
        if rule.source == "rum":
            verdicts.append(_judge_field(rule, store, span))
            continue
        verdict = _judge_lab(rule, store, span, baselines)
        if rule.source == "both":
            # Lab beside field: the worst conclusive side decides. A check judges its own runs;
            # the field side always looks back over the window.
            verdict = _side_by_side(verdict, _judge_field(rule, store, span))
        verdicts.append(verdict)
    return verdicts


@dataclass(frozen=True)
class _Window:
    """Which runs a lab budget reads: one check's batch, or the seconds up to now."""

    batch: str | None
    now: float
    seconds: float
    live: bool  # as serve judges: intervals decide, history compared
    production: bool  # CI checks' runs left out


# store -> (budget, baseline, window) -> (when read, samples): a baseline of days moves
# slowly, so it is read again once a minute (by the time the evaluation is for).
_HISTORY: weakref.WeakKeyDictionary[Any, dict[tuple[str, float, float], tuple[float, list[float]]]]
_HISTORY = weakref.WeakKeyDictionary()
HISTORY_TTL = 60.0
# A live baseline reaches back at most this many of its lengths to find normal time.
HISTORY_REACH = 4


def _live_baseline(rule: Rule, store: Store, span: _Window) -> list[float]:
    """The budget's samples over `baseline` seconds before its window, leaving out the times
    its own incidents covered (from the window that first breached to the resolution): what
    normal looked like."""
    assert rule.baseline is not None
    key = (rule.name, rule.baseline, span.seconds)
    cache = _HISTORY.setdefault(store, {})
    held = cache.get(key)
    if held is not None and 0 <= span.now - held[0] < HISTORY_TTL:
        return held[1]
    end = span.now - span.seconds
    oldest = end - HISTORY_REACH * rule.baseline
    cut = [
        (opened - span.seconds, resolved or span.now)
        for opened, resolved in store.fired_spans(f"budget:{rule.name}", oldest - span.seconds)
    ]
    values: list[float] = []
    for lo, hi in _normal_times(end, rule.baseline, oldest, cut):
        values += _lab_values(rule, store, lo, hi, span.production)
    if len(values) > LIVE_BASELINE_MAX:
        ordered = sorted(values)
        step = len(ordered) / LIVE_BASELINE_MAX
        values = [ordered[int(i * step)] for i in range(LIVE_BASELINE_MAX)]
    cache[key] = (span.now, values)
    return values


def _normal_times(
    end: float, length: float, oldest: float, cut: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """Spans before `end` that together last `length` seconds and overlap none of `cut`,
    reaching back past the cut ones (no further than `oldest`): the history a live regression
    compares with, so that an incident never becomes the new normal, however long it lasts."""
    spans: list[tuple[float, float]] = []
    left, at = length, end
    for lo, hi in [*sorted(cut, key=lambda c: c[1], reverse=True), (oldest, oldest)]:
        if left <= 0 or at <= oldest:
            break
        if hi < at:  # normal time between this cut and the one after it
            start = max(hi, at - left, oldest)
            spans.append((start, at))
            left -= at - start
        at = min(at, lo)
    return spans


def _lab_values(
    rule: Rule, store: Store, since: float, until: float, production: bool
) -> list[float]:
    per_probe = store.samples(
        rule.metric, rule.probes, since=since, until=until, location=rule.location,
        production=production, picked=rule.picked,
    )  # fmt: skip
    return [v for vs in per_probe.values() for v in vs]


def _over(seconds: float) -> str:
    """`the previous 7d`."""
    from .durations import format_duration

    return f"the previous {format_duration(seconds)}"


def _judge_lab(
    rule: Rule, store: Store, span: _Window, baselines: dict[str, list[float]] | None
) -> Verdict:
    """A budget over probes' runs: one check's batch, or the window up to now."""
    batch, now, seconds = span.batch, span.now, span.seconds
    if batch is not None:
        per_probe = store.samples(
            rule.metric, rule.probes, batch=batch, location=rule.location, picked=rule.picked
        )
    else:
        per_probe = store.samples(
            rule.metric,
            rule.probes,
            since=now - seconds,
            until=now,
            location=rule.location,
            production=span.production,
            picked=rule.picked,
        )
    values = [v for vs in per_probe.values() for v in vs]
    compared = rule.tolerance is not None and baselines is not None
    baseline = baselines.get(rule.name) if compared and baselines is not None else None
    if span.live and batch is None and rule.tolerance is not None and rule.baseline:
        assert rule.tolerance is not None and rule.baseline is not None
        verdict = judge(rule, values, by_interval=span.live)
        history = _live_baseline(rule, store, span)
        _regression(
            verdict,
            compare(values, history, rule.tolerance, rule.metric, over=_over(rule.baseline)),
        )
    else:
        verdict = judge(rule, values, baseline=baseline, by_interval=span.live)
    if compared and baseline is None:
        # Asked to compare, but the baseline never measured this budget.
        if verdict.outcome == Status.PASS:
            verdict.outcome = Status.INCONCLUSIVE
        verdict.message += "; regression: this budget is not in the baseline"
    if batch is None:
        verdict.extra["window_s"] = seconds
    verdict.extra["per_probe"] = {p: len(v) for p, v in per_probe.items()}
    return verdict


def field_samples(rule: Rule, store: Store, since: float, until: float) -> list[float]:
    """A real-user budget's samples: metric values, or one 1/0 per page load or session."""
    signal = catalog.SIGNALS.get(rule.metric.name)
    if signal is not None:
        errored, loads = store.rum_error_rate(
            page=rule.page,
            since=since,
            until=until,
            device=rule.device,
            signal=signal,
            task=rule.task,
        )
        return [1.0] * errored + [0.0] * (loads - errored)
    if rule.metric.task is not None:
        done, began = store.rum_task_sessions(
            rule.metric.task, since=since, until=until, device=rule.device
        )
        return [1.0] * done + [0.0] * max(0, began - done)
    values = store.rum_samples(
        rule.metric.name,
        page=rule.page,
        since=since,
        until=until,
        device=rule.device,
        task=rule.task,
    )
    satisfied = rule.metric.satisfied
    if satisfied is not None and rule.threshold.aggregate == "rate":
        return [1.0 if v >= satisfied else 0.0 for v in values]  # CSAT: the share at 4-5
    return values


def _judge_field(rule: Rule, store: Store, span: _Window) -> Verdict:
    seconds = span.seconds
    values = field_samples(rule, store, span.now - seconds, span.now)
    field_rule = replace(rule, probes=[], source="rum", tolerance=None)
    verdict = judge(field_rule, values, by_interval=span.live)
    verdict.extra.update({"window_s": seconds, "page": rule.page, "device": rule.device})
    return verdict


_SEVERITY = {Status.FAIL: 3, Status.DEGRADED: 2, Status.PASS: 1, Status.INCONCLUSIVE: 0}


def _side_by_side(lab: Verdict, field: Verdict) -> Verdict:
    both = Verdict(
        name=lab.name,
        metric=lab.metric,
        threshold=lab.threshold,
        outcome=max(lab.outcome, field.outcome, key=lambda o: _SEVERITY[o]),
        value=lab.value,
        limit=lab.limit,
        aggregate=lab.aggregate,
        samples=lab.samples,
        probes=lab.probes,
        warn=lab.warn,
        source="both",
        message=f"lab: {lab.message}; field: {field.message}",
        values=lab.values,
        regression=lab.regression,
        unit=lab.unit,
        extra=dict(lab.extra),
    )
    both.extra["lab"] = lab.to_dict(with_values=False)
    both.extra["field"] = field.to_dict(with_values=False)
    both.extra["field_value"] = field.value
    both.extra["field_samples"] = field.samples
    return both


def load_baseline(path: str) -> dict[str, list[float]]:
    """Budget samples from an earlier `observer check --json`; ValueError says what is wrong."""
    return baseline_values(read_check(path), path)


def read_check(path: str) -> Any:
    """An earlier `observer check --json`, parsed; ValueError says why it cannot be read."""
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None


def baseline_values(data: Any, path: str) -> dict[str, list[float]]:
    """The budgets' samples of a check's parsed --json (read from `path`)."""
    budgets = data.get("budgets") if isinstance(data, dict) else None
    if not isinstance(budgets, list):
        raise ValueError(f"{path}: no 'budgets' list; give the --json output of observer check")
    out: dict[str, list[float]] = {}
    for i, item in enumerate(budgets):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError(f"{path}: budgets[{i}] has no name")
        values = item.get("values")
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in values
        ):
            raise ValueError(f"{path}: budgets[{i}] ({item['name']}) has no list of numeric values")
        out[item["name"]] = [float(v) for v in values]
    return out


def covers(v: Verdict) -> str:
    """What a verdict judged, in words: probes, real users on which pages, or both."""
    field = ""
    if v.source in ("rum", "both"):
        page = v.extra.get("page") or (v.extra.get("field") or {}).get("page")
        device = v.extra.get("device") or (v.extra.get("field") or {}).get("device")
        field = "real users" + (f" on {page}" if page else "") + (f" ({device})" if device else "")
    lab = ", ".join(v.probes)
    return " + ".join(x for x in (lab, field) if x)


def interval(v: Verdict) -> str:
    """The interval as a table shows it: `150 ms–1.5 s (95%)`, or `–` without one."""
    text = v.interval_text()
    if not text:
        return "–"
    head, _, bounds = text.partition(" interval ")
    return f"{bounds} ({head})"


def measured(v: Verdict) -> str:
    """The value as people read it; lab and field side by side for source: both."""
    shown = format_value(v.value, v.unit, v.aggregate)
    if v.source == "both":
        field = format_value(v.extra.get("field_value"), v.unit, v.aggregate)
        return f"lab {shown} · field {field}"
    return shown
