"""Experience budgets: threshold parsing, aggregates, evaluation and regression tests -> Verdict."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

# ----------------------------------------------------------------------------- metrics

Kind = Literal["http", "journey"]


@dataclass(frozen=True)
class Metric:
    """What a budget measures: its unit and which probes can produce it."""

    name: str
    unit: Literal["ms", "count", "ratio", "code", "score"]
    kinds: frozenset[Kind]
    lower_is_better: bool = True
    step: str | None = None  # for step:NAME
    task: str | None = None  # for completion:TASK (real users)
    field: bool = False  # real users can produce it
    lab: bool = True  # probes can produce it

    @property
    def label(self) -> str:
        """As written in the file."""
        if self.step:
            return f"step:{self.step}"
        return f"completion:{self.task}" if self.task else self.name


_BOTH: frozenset[Kind] = frozenset({"http", "journey"})
_JOURNEY: frozenset[Kind] = frozenset({"journey"})
_HTTP: frozenset[Kind] = frozenset({"http"})

METRICS: dict[str, Metric] = {
    "duration": Metric("duration", "ms", _BOTH),
    "ttfb": Metric("ttfb", "ms", _BOTH, field=True),
    "fcp": Metric("fcp", "ms", _JOURNEY, field=True),
    "lcp": Metric("lcp", "ms", _JOURNEY, field=True),
    "cls": Metric("cls", "score", _JOURNEY, field=True),
    "inp": Metric("inp", "ms", _JOURNEY, field=True),
    "load": Metric("load", "ms", _JOURNEY),
    "dcl": Metric("dcl", "ms", _JOURNEY),
    "errors": Metric("errors", "count", _JOURNEY),
    "completion": Metric("completion", "ratio", _BOTH, lower_is_better=False),
    "status": Metric("status", "code", _HTTP),
    "time": Metric("time", "ms", _HTTP),
    # Real users only: page loads with an uncaught error, as a share.
    "error_rate": Metric("error_rate", "ratio", frozenset(), field=True, lab=False),
}


def parse_metric(text: str) -> Metric:
    """'lcp' or 'step:submit' -> Metric; ValueError with the choices otherwise."""
    text = text.strip()
    if text.startswith("step:"):
        name = text[5:].strip()
        if not name:
            raise ValueError("step: needs a step name, e.g. step:submit")
        return Metric("step", "ms", _JOURNEY, step=name)
    if text.startswith("completion:"):
        task = text[11:].strip()
        if not task:
            raise ValueError("completion: needs a task name, e.g. completion:checkout")
        # Sessions that completed the task over sessions that began it (observer.begin/complete).
        return Metric(
            "completion",
            "ratio",
            frozenset(),
            lower_is_better=False,
            task=task,
            field=True,
            lab=False,
        )
    if text in METRICS:
        return METRICS[text]
    import difflib

    close = difflib.get_close_matches(text, list(METRICS), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ValueError(
        f"unknown metric '{text}'{hint}; metrics: {', '.join(METRICS)}, step:NAME, completion:TASK"
    )


# ----------------------------------------------------------------------------- thresholds

AGGREGATES = ("p50", "p75", "p90", "p95", "p99", "avg", "min", "max", "count", "rate")
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
    agg = match["agg"].lower()
    if agg.startswith("p(") and agg.endswith(")"):
        agg = "p" + agg[2:-1]
    agg = _ALIASES.get(agg, agg)
    if agg not in AGGREGATES:
        raise ValueError(f"unknown aggregate '{match['agg']}'; aggregates: {', '.join(AGGREGATES)}")
    value = float(match["num"])
    unit = match["unit"]
    if agg == "count":
        if unit:
            raise ValueError("count is a number of samples: write it without a unit")
    elif agg == "rate":
        if unit == "%":
            value /= 100
        elif unit:
            raise ValueError("rate is a share: write it as a percentage (99%) or a fraction (0.99)")
        if not 0 <= value <= 1:
            raise ValueError("a rate lies between 0% and 100%")
    elif metric.unit == "ms":
        if unit == "%":
            raise ValueError(f"{metric.label} is a time: give ms, s or m, not %")
        value *= _UNIT_MS.get(unit or "ms", 1.0)
    elif metric.unit == "ratio":
        if agg != "rate" and unit != "%" and unit:
            raise ValueError(f"{metric.label} is a share: use rate, e.g. 'rate >= 99%'")
        if unit == "%":
            value /= 100
        if not 0 <= value <= 1:
            raise ValueError(f"{metric.label} is a share: between 0% and 100% (or 0 and 1)")
    elif unit:
        raise ValueError(f"{metric.label} has no unit: write a plain number")
    return Threshold(aggregate=agg, op=match["op"], limit=value, text=text.strip())


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
    current: Sequence[float], baseline: Sequence[float], tolerance: float, metric: Metric
) -> Regression:
    """Fail when the median got worse by more than tolerance AND Mann-Whitney says it is real."""
    n1, n2 = len(current), len(baseline)
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
    if worse:
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


def judge(
    name: str,
    metric: Metric,
    threshold: Threshold,
    values: list[float],
    probes: list[str],
    *,
    warn: Threshold | None = None,
    min_samples: int = 1,
    source: str = "synthetic",
    baseline: list[float] | None = None,
    tolerance: float | None = None,
) -> Verdict:
    """Evaluate one budget over its samples."""
    verdict = Verdict(
        name=name,
        metric=metric.label,
        threshold=threshold.text,
        outcome=Status.PASS,
        value=None,
        limit=threshold.limit,
        aggregate=threshold.aggregate,
        samples=len(values),
        probes=probes,
        warn=warn.text if warn else None,
        source=source,
        values=values,
        unit=metric.unit,
    )
    unit = metric.unit
    if threshold.aggregate != "count" and len(values) < max(min_samples, 1):
        verdict.outcome = Status.INCONCLUSIVE
        verdict.message = f"{len(values)} samples, fewer than the {max(min_samples, 1)} needed"
        return verdict
    value = aggregate(threshold.aggregate, values)
    verdict.value = value
    shown = format_value(value, unit, threshold.aggregate)
    limit = format_value(threshold.limit, unit, threshold.aggregate)
    if not threshold.holds(value):
        verdict.outcome = Status.FAIL
        verdict.message = f"{threshold.aggregate} {shown}, breaks {threshold.op} {limit}"
    elif warn is not None and warn.aggregate != "count" and len(values) < max(min_samples, 1):
        # A count threshold is judged on any number of samples; its warning may need more.
        verdict.outcome = Status.INCONCLUSIVE
        verdict.message = (
            f"{threshold.aggregate} {shown} {threshold.op} {limit}; {len(values)} samples, "
            f"fewer than the {max(min_samples, 1)} the warning needs"
        )
    elif warn is not None and not warn.holds(aggregate(warn.aggregate, values)):
        wv = aggregate(warn.aggregate, values)
        verdict.outcome = Status.DEGRADED
        verdict.message = (
            f"{warn.aggregate} {format_value(wv, unit, warn.aggregate)} past the warning "
            f"{warn.op} {format_value(warn.limit, unit, warn.aggregate)}, within {limit}"
        )
    else:
        verdict.message = f"{threshold.aggregate} {shown} {threshold.op} {limit}"
    if tolerance is not None and baseline is not None:
        reg = compare(values, baseline, tolerance, metric)
        verdict.regression = reg
        if reg.outcome == "fail":
            verdict.outcome = Status.FAIL
            verdict.message += f"; regression: {reg.message}"
        elif reg.outcome == "inconclusive" and verdict.outcome == Status.PASS:
            verdict.outcome = Status.INCONCLUSIVE
            verdict.message += f"; regression: {reg.message}"
        else:
            verdict.message += f"; {reg.message}"
    return verdict


# ----------------------------------------------------------------------------- rules


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


def evaluate(
    rules: Sequence[Rule],
    store: Any,
    *,
    batch: str | None = None,
    window: float | None = None,
    default_window: float = 3600.0,
    now: float | None = None,
    baselines: dict[str, list[float]] | None = None,
) -> list[Verdict]:
    """Judge each rule over stored samples: one check's batch, or a time window up to now."""
    import time

    now = time.time() if now is None else now
    verdicts: list[Verdict] = []
    for rule in rules:
        seconds = window or rule.window or default_window
        if rule.source == "rum":
            verdicts.append(_judge_field(rule, store, now - seconds, now, seconds))
            continue
        if batch is not None:
            per_probe = store.samples(
                rule.metric.name, rule.probes, step=rule.metric.step, batch=batch
            )
            span: dict[str, Any] = {}
        else:
            per_probe = store.samples(
                rule.metric.name, rule.probes, step=rule.metric.step, since=now - seconds, until=now
            )
            span = {"window_s": seconds}
        values = [v for vs in per_probe.values() for v in vs]
        baseline = None
        if rule.tolerance is not None and baselines is not None:
            baseline = baselines.get(rule.name)
        verdict = judge(
            rule.name,
            rule.metric,
            rule.threshold,
            values,
            rule.probes,
            warn=rule.warn,
            min_samples=rule.min_samples,
            source=rule.source,
            baseline=baseline,
            tolerance=rule.tolerance if baseline is not None else None,
        )
        if rule.tolerance is not None and baselines is not None and baseline is None:
            # Asked to compare, but the baseline never measured this budget.
            if verdict.outcome == Status.PASS:
                verdict.outcome = Status.INCONCLUSIVE
            verdict.message += "; regression: this budget is not in the baseline"
        verdict.extra.update(span)
        verdict.extra["per_probe"] = {p: len(v) for p, v in per_probe.items()}
        if rule.source == "both":
            # Lab beside field: the worst conclusive side decides. A check judges its own runs;
            # the field side always looks back over the window.
            verdict = _side_by_side(verdict, _judge_field(rule, store, now - seconds, now, seconds))
        verdicts.append(verdict)
    return verdicts


def field_samples(rule: Rule, store: Any, since: float, until: float) -> list[float]:
    """A real-user budget's samples: metric values, or one 1/0 per page load or session."""
    scope = {"since": since, "until": until, "device": rule.device}
    if rule.metric.name == "error_rate":
        errored, loads = store.rum_error_rate(page=rule.page, **scope)
        return [1.0] * errored + [0.0] * (loads - errored)
    if rule.metric.task is not None:
        done, began = store.rum_task_sessions(rule.metric.task, **scope)
        return [1.0] * done + [0.0] * max(0, began - done)
    return list(store.rum_samples(rule.metric.name, page=rule.page, **scope))


def _judge_field(rule: Rule, store: Any, since: float, until: float, seconds: float) -> Verdict:
    values = field_samples(rule, store, since, until)
    verdict = judge(
        rule.name,
        rule.metric,
        rule.threshold,
        values,
        [],
        warn=rule.warn,
        min_samples=rule.min_samples,
        source="rum",
    )
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
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
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


def measured(v: Verdict) -> str:
    """The value as people read it; lab and field side by side for source: both."""
    shown = format_value(v.value, v.unit, v.aggregate)
    if v.source == "both":
        field = format_value(v.extra.get("field_value"), v.unit, v.aggregate)
        return f"lab {shown} · field {field}"
    return shown
