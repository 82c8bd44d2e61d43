"""The budget language without a browser: aggregates, thresholds, verdicts, regressions,
budget config errors, reporters and baselines.

Expected numbers are worked out by hand (or by brute force over every arrangement, for the
exact Mann-Whitney distribution), never by calling the code under test a second time.
"""

from __future__ import annotations

import itertools
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import observer

from observer.budgets import (
    AGGREGATES,
    METRICS,
    Metric,
    Rule,
    Status,
    Verdict,
    aggregate,
    compare,
    judge,
    load_baseline,
    mann_whitney_greater,
    parse_metric,
    parse_threshold,
    percentile,
)
from observer.config import ConfigError, load_project
from observer.report import formats
from observer.report.check import Report
from observer.results import Outcome, ProbeResult

DURATION = METRICS["duration"]
COMPLETION = METRICS["completion"]
ONE_TO_TEN = [7.0, 3.0, 10.0, 1.0, 5.0, 9.0, 2.0, 8.0, 6.0, 4.0]  # 1..10, shuffled

# ----------------------------------------------------------------------------- aggregates


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # rank = (n - 1) * p / 100 over the sorted samples, interpolated linearly:
        ("p50", 5.5),  # rank 4.5: halfway between 5 and 6
        ("p75", 7.75),  # rank 6.75: 7 + 0.75
        ("p90", 9.1),  # rank 8.1: 9 + 0.1
        ("p95", 9.55),  # rank 8.55: 9 + 0.55 (the documented example)
        ("p99", 9.91),  # rank 8.91: 9 + 0.91
        ("avg", 5.5),  # 55 / 10
        ("min", 1.0),
        ("max", 10.0),
        ("count", 10.0),
        ("rate", 1.0),  # every sample is non-zero
    ],
)
def test_each_aggregate_of_one_to_ten(name: str, expected: float) -> None:
    assert aggregate(name, ONE_TO_TEN) == pytest.approx(expected)


def test_every_documented_aggregate_is_covered() -> None:
    assert set(AGGREGATES) == {
        "p50",
        "p75",
        "p90",
        "p95",
        "p99",
        "avg",
        "min",
        "max",
        "count",
        "rate",
        "score",
    }


def test_percentiles_of_uneven_samples() -> None:
    values = [100.0, 200.0, 400.0, 800.0]
    # rank 3 * 0.5 = 1.5 -> 200 + 0.5 * 200; rank 3 * 0.95 = 2.85 -> 400 + 0.85 * 400
    assert percentile(values, 50) == pytest.approx(300.0)
    assert percentile(values, 95) == pytest.approx(740.0)
    assert percentile(values, 0) == 100.0
    assert percentile(values, 100) == 800.0


@pytest.mark.parametrize("name", [*AGGREGATES])
def test_a_single_sample_is_every_aggregate(name: str) -> None:
    # One answer of 42 to "how likely would you recommend" is a promoter: an NPS of 100.
    expected = {"count": 1.0, "rate": 1.0, "score": 100.0}.get(name, 42.0)
    assert aggregate(name, [42.0]) == expected


def test_rate_is_the_share_of_true_or_non_zero_samples() -> None:
    assert aggregate("rate", [True, False, True, True]) == 0.75
    assert aggregate("rate", [1, 0, 0, 0, 0]) == 0.2
    assert aggregate("rate", [0, 0]) == 0.0
    assert aggregate("rate", [3, 0, 2, 0]) == 0.5  # errors: share of runs with any error


def test_aggregates_of_no_samples() -> None:
    assert aggregate("count", []) == 0.0
    for name in ("p95", "avg", "min", "max", "rate"):
        with pytest.raises(ValueError):
            aggregate(name, [])


@pytest.mark.parametrize(
    ("text", "aggregate_name"),
    [("median < 5", "p50"), ("mean < 5", "avg"), ("p(95) < 5", "p95"), ("P95 < 5", "p95")],
)
def test_aliases_name_the_same_aggregate(text: str, aggregate_name: str) -> None:
    threshold = parse_threshold(text, DURATION)
    assert threshold.aggregate == aggregate_name
    assert threshold.text == text


# ----------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("text", "metric", "limit"),
    [
        ("p95 < 4s", "duration", 4000.0),
        ("p95 < 250ms", "duration", 250.0),
        ("p95 < 250", "duration", 250.0),  # a bare number is milliseconds
        ("avg <= 1.2s", "duration", 1200.0),
        ("max < 2m", "duration", 120000.0),
        ("p75 < 2.5s", "lcp", 2500.0),
        ("p95 < 800ms", "step:submit", 800.0),
        ("rate >= 99%", "completion", 0.99),
        ("rate >= 0.99", "completion", 0.99),
        ("rate < 5%", "errors", 0.05),
        ("rate >= 100%", "completion", 1.0),
        ("rate >= 0%", "completion", 0.0),
        ("max == 0", "errors", 0.0),
        ("p75 <= 0.1", "cls", 0.1),
        ("p50 == 200", "status", 200.0),
        ("count >= 5", "duration", 5.0),
        ("  p95   <   4s  ", "duration", 4000.0),
        ("p95 < 4 s", "duration", 4000.0),
    ],
)
def test_thresholds_parse_into_the_metric_unit(text: str, metric: str, limit: float) -> None:
    threshold = parse_threshold(text, parse_metric(metric))
    assert threshold.limit == pytest.approx(limit)
    assert threshold.text == text.strip()


@pytest.mark.parametrize(
    ("op", "below", "equal", "above"),
    [
        ("<", True, False, False),
        ("<=", True, True, False),
        (">", False, False, True),
        (">=", False, True, True),
        ("==", False, True, False),
        ("!=", True, False, True),
    ],
)
def test_each_operator(op: str, below: bool, equal: bool, above: bool) -> None:
    threshold = parse_threshold(f"p95 {op} 1s", DURATION)
    assert threshold.op == op
    assert threshold.limit == 1000.0
    assert threshold.holds(999.0) is below
    assert threshold.holds(1000.0) is equal
    assert threshold.holds(1001.0) is above


@pytest.mark.parametrize(
    ("text", "metric", "message"),
    [
        ("p95 << 4s", "duration", "is not a threshold; write AGGREGATE OP VALUE"),
        ("fast", "duration", "'fast' is not a threshold"),
        ("p95 4s", "duration", "is not a threshold"),
        ("p95 < 4 seconds", "duration", "is not a threshold"),
        ("p95 < 4h", "duration", "is not a threshold"),
        ("p95 < ", "duration", "is not a threshold"),
        ("", "duration", "is not a threshold"),
        ("< 4s", "duration", "is not a threshold"),
        ("p42 < 4s", "duration", "unknown aggregate 'p42'"),
        ("stddev < 4s", "duration", "unknown aggregate 'stddev'"),
        ("p95 < 50%", "duration", "duration is a time: give ms, s or m, not %"),
        ("p95 < 50%", "step:submit", "step:submit is a time"),
        ("max < 0.1s", "cls", "cls has no unit: write a plain number"),
        ("max == 0ms", "errors", "errors has no unit"),
        ("p50 == 200ms", "status", "status has no unit"),
        ("p50 == 2%", "status", "status has no unit"),
        ("count >= 5s", "duration", "count is a number of samples: write it without a unit"),
        ("count >= 5%", "completion", "without a unit"),
        ("rate >= 101%", "completion", "a rate lies between 0% and 100%"),
        ("rate >= 1.5", "completion", "a rate lies between 0% and 100%"),
        ("rate >= -1%", "completion", "a rate lies between 0% and 100%"),
        ("rate >= 99s", "completion", "rate is a share"),
        ("p50 >= 2s", "completion", "completion is a share: use rate"),
    ],
)
def test_bad_thresholds_say_what_is_wrong(text: str, metric: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold(text, parse_metric(metric))
    assert message in str(info.value)


def test_a_threshold_must_be_text() -> None:
    with pytest.raises(ValueError, match="a threshold is text"):
        parse_threshold(4000, DURATION)  # type: ignore[arg-type]


def test_unknown_aggregate_lists_the_aggregates() -> None:
    with pytest.raises(ValueError) as info:
        parse_threshold("p42 < 1s", DURATION)
    assert "p50, p75, p90, p95, p99, avg, min, max, count, rate" in str(info.value)


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("text", "unit", "kinds"),
    [
        ("duration", "ms", {"http", "journey"}),
        ("ttfb", "ms", {"http", "journey"}),
        ("fcp", "ms", {"journey"}),
        ("lcp", "ms", {"journey"}),
        ("cls", "score", {"journey"}),
        ("inp", "ms", {"journey"}),
        ("load", "ms", {"journey"}),
        ("dcl", "ms", {"journey"}),
        ("errors", "count", {"journey"}),
        ("completion", "ratio", {"http", "journey"}),
        ("status", "code", {"http"}),
        ("time", "ms", {"http"}),
    ],
)
def test_documented_metrics(text: str, unit: str, kinds: set[str]) -> None:
    metric = parse_metric(text)
    assert (metric.name, metric.unit, set(metric.kinds)) == (text, unit, kinds)
    assert metric.label == text
    assert metric.lower_is_better is (text != "completion")


def test_step_metric() -> None:
    metric = parse_metric("step:submit")
    assert metric.step == "submit"
    assert metric.label == "step:submit"
    assert metric.unit == "ms"
    assert set(metric.kinds) == {"journey"}
    assert parse_metric("step:click text=Place order").step == "click text=Place order"
    assert parse_metric("  duration ").name == "duration"


def test_step_metric_needs_a_name() -> None:
    with pytest.raises(ValueError, match="step: needs a step name"):
        parse_metric("step:")


@pytest.mark.parametrize(
    ("typo", "meant"), [("lpc", "lcp"), ("duraton", "duration"), ("tfb", "ttfb")]
)
def test_unknown_metric_suggests_the_closest(typo: str, meant: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_metric(typo)
    text = str(info.value)
    assert f"unknown metric '{typo}' (did you mean '{meant}'?)" in text
    assert "step:NAME" in text


def test_unknown_metric_far_from_any_has_no_suggestion() -> None:
    with pytest.raises(ValueError) as info:
        parse_metric("banana")
    assert "did you mean" not in str(info.value)


# ----------------------------------------------------------------------------- judge


def verdict(threshold: str, values: list[float], metric: Metric = DURATION, **kw: Any) -> Verdict:
    warn = kw.pop("warn", None)
    baseline = kw.pop("baseline", None)
    rule = Rule(
        "b",
        metric,
        parse_threshold(threshold, metric),
        ["p"],
        warn=parse_threshold(warn, metric) if warn else None,
        **kw,
    )
    return judge(rule, values, baseline=baseline)


def test_judge_pass() -> None:
    v = verdict("p95 < 10s", ONE_TO_TEN)
    assert v.outcome == Status.PASS
    assert v.value == pytest.approx(9.55)
    assert v.limit == 10000.0
    assert v.samples == 10
    assert v.aggregate == "p95"
    assert v.probes == ["p"]
    assert v.values == ONE_TO_TEN
    assert v.message == "p95 10 ms < 10 s"


def test_judge_fail_names_value_and_limit() -> None:
    v = verdict("p95 < 1.5s", [1000.0, 2000.0, 3000.0])
    # rank 2 * 0.95 = 1.9 -> 2000 + 0.9 * 1000 = 2900
    assert v.outcome == Status.FAIL
    assert v.value == pytest.approx(2900.0)
    assert v.message == "p95 2.9 s, breaks < 1.5 s"


def test_judge_degraded_when_only_warn_breaks() -> None:
    v = verdict("p95 < 4s", [3500.0], warn="p95 < 3s")
    assert v.outcome == Status.DEGRADED
    assert v.value == 3500.0
    assert v.warn == "p95 < 3s"
    assert "3.5 s" in v.message
    assert "past the warning < 3 s" in v.message
    assert "within 4 s" in v.message


def test_judge_fail_beats_degraded() -> None:
    v = verdict("p95 < 4s", [5000.0], warn="p95 < 3s")
    assert v.outcome == Status.FAIL


def test_judge_warn_holding_is_a_pass() -> None:
    assert verdict("p95 < 4s", [2000.0], warn="p95 < 3s").outcome == Status.PASS


def test_judge_inconclusive_below_min_samples() -> None:
    v = verdict("p95 < 4s", [100.0, 200.0], min_samples=3)
    assert v.outcome == Status.INCONCLUSIVE
    assert v.value is None
    assert v.message == "2 samples, fewer than the 3 needed"


def test_judge_no_samples_is_inconclusive() -> None:
    v = verdict("p95 < 4s", [])
    assert v.outcome == Status.INCONCLUSIVE
    assert "0 samples" in v.message


def test_judge_count_is_judged_even_without_samples() -> None:
    v = verdict("count >= 3", [], min_samples=5)
    assert v.outcome == Status.FAIL
    assert v.value == 0.0


def test_judge_count_with_a_warning_that_needs_samples() -> None:
    # The count threshold holds on no samples; the p95 warning cannot be judged on none.
    v = verdict("count < 100", [], warn="p95 < 1s")
    assert v.outcome == Status.INCONCLUSIVE
    assert "0 samples, fewer than the 1 the warning needs" in v.message
    assert verdict("count < 100", [5000.0], warn="p95 < 1s").outcome == Status.DEGRADED
    assert verdict("count < 100", [500.0], warn="p95 < 1s").outcome == Status.PASS


def test_judge_rate_of_completion() -> None:
    v = verdict("rate >= 99%", [1, 1, 1, 0], metric=COMPLETION)
    assert v.outcome == Status.FAIL
    assert v.value == 0.75
    assert v.message == "rate 75%, breaks >= 99%"
    assert verdict("rate >= 75%", [1, 1, 1, 0], metric=COMPLETION).outcome == Status.PASS


def test_judge_errors_max_zero() -> None:
    v = verdict("max == 0", [0, 0, 2], metric=METRICS["errors"])
    assert v.outcome == Status.FAIL
    assert v.value == 2.0


def test_verdict_json_form() -> None:
    data = verdict("p95 < 4s", [100.0, 300.0]).to_dict()
    assert data["outcome"] == "pass"
    assert data["values"] == [100.0, 300.0]
    assert data["samples"] == 2
    assert data["limit"] == 4000.0
    assert data["value"] == pytest.approx(290.0)
    assert json.loads(json.dumps(data)) == data


# ----------------------------------------------------------------------------- Mann-Whitney


def brute_force_p(a: list[float], b: list[float]) -> float:
    """P(U >= observed U) over every way of splitting the pooled samples (no ties)."""
    pooled = a + b

    def u(group: tuple[float, ...]) -> int:
        rest = list(pooled)
        for x in group:
            rest.remove(x)
        return sum(1 for x in group for y in rest if x > y)

    observed = u(tuple(a))
    splits = list(itertools.combinations(pooled, len(a)))
    return sum(1 for s in splits if u(s) >= observed) / len(splits)


def test_mann_whitney_complete_separation_is_one_in_252() -> None:
    a = [6.0, 7.0, 8.0, 9.0, 10.0]
    b = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert mann_whitney_greater(a, b) == pytest.approx(1 / 252)  # 1 / C(10, 5)
    assert mann_whitney_greater(b, a) == 1.0  # b is never larger


def test_mann_whitney_interleaved_is_not_significant() -> None:
    a = [1.0, 3.0, 5.0, 7.0, 9.0]
    b = [2.0, 4.0, 6.0, 8.0, 10.0]
    p = mann_whitney_greater(a, b)
    assert p == pytest.approx(brute_force_p(a, b))
    assert p > 0.5
    # b is a little larger: p below a half but nowhere near significant.
    assert 0.05 < mann_whitney_greater(b, a) < 0.5


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0]),
        ([1.5, 4.0, 9.0, 11.0, 12.0], [1.0, 2.0, 3.0, 5.0, 10.0, 13.0]),
        ([3.0, 10.0, 12.0], [1.0, 2.0, 4.0, 5.0]),
        ([20.0, 30.0], [10.0, 11.0, 12.0, 40.0, 50.0]),
    ],
)
def test_mann_whitney_exact_matches_brute_force(a: list[float], b: list[float]) -> None:
    assert mann_whitney_greater(a, b) == pytest.approx(brute_force_p(a, b))


def test_mann_whitney_with_ties_uses_the_normal_approximation() -> None:
    a = [2.0, 2.0, 3.0, 3.0]
    b = [1.0, 1.0, 2.0, 2.0]
    # Pooled and ranked: 1,1 -> 1.5; 2,2,2,2 -> 4.5; 3,3 -> 7.5.
    # R1 = 4.5 + 4.5 + 7.5 + 7.5 = 24; U1 = 24 - 4 * 5 / 2 = 14; E[U] = 4 * 4 / 2 = 8.
    # Ties 2, 4, 2: sum(t^3 - t) = 6 + 60 + 6 = 72; n = 8, n(n - 1) = 56.
    # Var = 4 * 4 / 12 * ((8 + 1) - 72 / 56) = 72 / 7.
    # z = (14 - 8 - 0.5) / sqrt(72 / 7) (continuity correction), p = 1 - Phi(z).
    z = 5.5 / math.sqrt(72 / 7)
    expected = 0.5 * math.erfc(z / math.sqrt(2))
    assert expected == pytest.approx(0.04318, abs=5e-5)
    assert mann_whitney_greater(a, b) == pytest.approx(expected)


def test_mann_whitney_all_equal_is_no_evidence() -> None:
    assert mann_whitney_greater([5.0] * 6, [5.0] * 6) == 1.0
    assert mann_whitney_greater([], [1.0]) == 1.0


# ----------------------------------------------------------------------------- compare


def test_compare_too_few_samples_is_inconclusive() -> None:
    # 3 against 3 can at best give p = 1 / C(6, 3) = 0.05: never below 0.05.
    reg = compare([900.0, 950.0, 1000.0], [100.0, 110.0, 120.0], 0.1, DURATION)
    assert reg.outcome == "inconclusive"
    assert reg.p_value is None
    assert "too few samples" in reg.message
    assert compare([1000.0], [100.0] * 10, 0.1, DURATION).outcome == "inconclusive"


def test_compare_clear_30_percent_slowdown_fails() -> None:
    baseline = [1000.0 + 10 * i for i in range(10)]  # 1000..1090, median 1045
    current = [1300.0 + 10 * i for i in range(10)]  # 1300..1390, median 1345
    reg = compare(current, baseline, 0.1, DURATION)
    assert reg.outcome == "fail"
    assert reg.baseline_median == pytest.approx(1045.0)
    assert reg.current_median == pytest.approx(1345.0)
    assert reg.change == pytest.approx(300 / 1045)
    assert reg.p_value == pytest.approx(1 / math.comb(20, 10))
    assert "+28.7%" in reg.message
    assert "over the 10% allowed" in reg.message


def test_compare_equal_distributions_pass() -> None:
    baseline = [1000.0 + 20 * i for i in range(10)]
    current = [1010.0 + 20 * i for i in range(10)]  # interleaved with the baseline
    reg = compare(current, baseline, 0.1, DURATION)
    assert reg.outcome == "pass"
    assert "within 10%" in reg.message


def test_compare_large_but_noisy_difference_passes() -> None:
    baseline = [100.0, 5000.0, 120.0, 4000.0, 110.0]
    current = [4500.0, 130.0, 3000.0, 140.0, 4800.0]  # median 3000 against 120
    reg = compare(current, baseline, 0.1, DURATION)
    assert reg.change is not None and reg.change > 0.1
    assert reg.p_value is not None and reg.p_value >= 0.05
    assert reg.outcome == "pass"
    assert "not significant" in reg.message


def test_compare_tiny_but_consistent_difference_passes() -> None:
    baseline = [1000.0 + i for i in range(10)]
    current = [1050.0 + i for i in range(10)]  # always slower, by 5%
    reg = compare(current, baseline, 0.1, DURATION)
    assert reg.p_value is not None and reg.p_value < 0.05
    assert reg.outcome == "pass"


def test_compare_faster_is_never_a_regression() -> None:
    baseline = [1300.0 + 10 * i for i in range(10)]
    current = [1000.0 + 10 * i for i in range(10)]
    assert compare(current, baseline, 0.1, DURATION).outcome == "pass"


def test_compare_completion_lower_is_worse() -> None:
    baseline = [1.0] * 10
    worse = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]  # median 0
    reg = compare(worse, baseline, 0.1, COMPLETION)
    assert reg.outcome == "fail"
    assert reg.change == pytest.approx(1.0)
    # Higher completion than the baseline is better, not a regression.
    assert compare(baseline, worse, 0.1, COMPLETION).outcome == "pass"


def test_judge_with_regression() -> None:
    baseline = [1000.0 + 10 * i for i in range(10)]
    current = [1300.0 + 10 * i for i in range(10)]
    v = verdict("p95 < 8s", current, baseline=baseline, tolerance=0.1)
    assert v.outcome == Status.FAIL
    assert "regression: median +28.7%" in v.message
    assert v.regression is not None
    assert v.to_dict()["regression"]["test"] == "mann-whitney-u"
    same = verdict("p95 < 8s", baseline, baseline=baseline, tolerance=0.1)
    assert same.outcome == Status.PASS
    few = verdict("p95 < 8s", current[:1], baseline=baseline, tolerance=0.1)
    assert few.outcome == Status.INCONCLUSIVE


# ----------------------------------------------------------------------------- config errors


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Problems name files relative to the working directory: probes.yaml:3:5.
    monkeypatch.chdir(tmp_path)
    return tmp_path


PROBES = """\
probes:
  - name: health
    http: http://127.0.0.1:9/health
  - name: login
    journey:
      - goto: http://127.0.0.1:9/login
      - {name: submit, click: "button"}
budgets:
"""


def budget_problems(folder: Path, budgets: str, probes: str = PROBES) -> list[str]:
    """Problems of a file with the two probes above and these budgets (lines 9 on)."""
    (folder / "probes.yaml").write_text(probes + budgets, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project("probes.yaml", env={})
    return [str(p) for p in info.value.problems]


def test_budgets_that_are_fine_load(in_tmp: Path) -> None:
    (in_tmp / "probes.yaml").write_text(
        PROBES
        + """\
  - name: login fast
    probe: login
    metric: step:submit
    threshold: p75 < 800ms
    warn: p75 < 500ms
    min_samples: 3
    regression: 10%
    window: 30m
  - name: lcp everywhere
    probes: ["*"]
    metric: lcp
    threshold: p75 < 2.5s
""",
        encoding="utf-8",
    )
    project = load_project("probes.yaml", env={})
    first, second = project.budgets
    assert first.probes == ["login"]
    assert first.metric.step == "submit"
    assert first.threshold.limit == 800.0
    assert first.warn is not None and first.warn.limit == 500.0
    assert (first.min_samples, first.tolerance, first.window) == (3, 0.1, 1800.0)
    assert second.probes == ["login"]  # the glob skips the http check


@pytest.mark.parametrize(
    ("budget", "expected"),
    [
        (
            "  - {name: b, probe: health, metric: time, threshold: p95 << 4s}\n",
            "probes.yaml:9:55: budgets[0].threshold: 'p95 << 4s' is not a threshold",
        ),
        (
            "  - name: b\n    probe: health\n    metric: time\n    threshold: p95 < 4s\n"
            "    warn: fast\n",
            "probes.yaml:13:11: budgets[0].warn: 'fast' is not a threshold",
        ),
        (
            "  - name: b\n    probe: login\n    metric: lpc\n    threshold: p95 < 4s\n",
            "probes.yaml:11:13: budgets[0].metric: unknown metric 'lpc' (did you mean 'lcp'?)",
        ),
        (
            "  - name: b\n    probe: health\n    metric: lcp\n    threshold: p95 < 4s\n",
            "probes.yaml:11:13: budgets[0].metric: http probe 'health' cannot measure lcp: "
            "it needs a journey",
        ),
        (
            "  - name: b\n    probe: login\n    metric: status\n    threshold: p50 == 200\n",
            "probes.yaml:11:13: budgets[0].metric: journey probe 'login' cannot measure status: "
            "it needs an http check",
        ),
        (
            "  - name: b\n    probe: login\n    metric: step:sumbit\n    threshold: p95 < 4s\n",
            "probes.yaml:11:13: budgets[0].metric: journey 'login' has no step named 'sumbit' "
            "(did you mean 'submit'?)",
        ),
        (
            "  - name: b\n    probe: login\n    probes: [login]\n    metric: duration\n"
            "    threshold: p95 < 4s\n",
            "probes.yaml:9:5: budgets[0]: give exactly one of probe: NAME or probes:",
        ),
        (
            "  - name: b\n    metric: duration\n    threshold: p95 < 4s\n",
            "probes.yaml:9:5: budgets[0]: give exactly one of probe: NAME or probes:",
        ),
        (
            "  - name: b\n    probe: logn\n    metric: duration\n    threshold: p95 < 4s\n",
            "probes.yaml:10:12: budgets[0].probe: no probe named 'logn' (did you mean 'login'?)",
        ),
        (
            "  - name: b\n    probes: [health, logn]\n    metric: duration\n"
            "    threshold: p95 < 4s\n",
            "probes.yaml:10:13: budgets[0].probes: no probe named 'logn' (did you mean 'login'?)",
        ),
        (
            "  - name: b\n    probe: login\n    metric: duration\n    threshold: p95 < 4s\n"
            "    regression: 10\n",
            "probes.yaml:13:17: budgets[0].regression: a percentage is text such as 10%",
        ),
        (
            "  - name: b\n    probe: login\n    metric: duration\n    threshold: p95 < 4s\n"
            "    regression: ten%\n",
            "probes.yaml:13:17: budgets[0].regression: 'ten%' is not a percentage",
        ),
        (
            "  - name: b\n    probes: ['heal*']\n    metric: lcp\n    threshold: p95 < 4s\n",
            "probes.yaml:11:13: budgets[0].metric: no probe matching 'heal*' can produce lcp",
        ),
        (
            "  - name: b\n    probes: ['zzz*']\n    metric: duration\n    threshold: p95 < 4s\n",
            "probes.yaml:10:13: budgets[0].probes: no probe matches 'zzz*'",
        ),
        (
            "  - name: b\n    probe: login\n    metric: duration\n    threshold: p95 < 4%\n",
            "probes.yaml:12:16: budgets[0].threshold: duration is a time: give ms, s or m, not %",
        ),
        (
            "  - name: b\n    probe: login\n    metric: cls\n    threshold: p75 < 0.1s\n",
            "probes.yaml:12:16: budgets[0].threshold: cls has no unit: write a plain number",
        ),
        (
            "  - name: b\n    probe: login\n    metric: completion\n    threshold: rate >= 101%\n",
            "probes.yaml:12:16: budgets[0].threshold: a rate lies between 0% and 100%",
        ),
        (
            "  - name: b\n    probe: login\n    metric: duration\n    threshold: p95 < 4s\n"
            "    min_samples: 0\n",
            "probes.yaml:13:18: budgets[0].min_samples:",
        ),
    ],
    ids=[
        "threshold",
        "warn",
        "unknown-metric",
        "lcp-on-http",
        "status-on-journey",
        "unknown-step",
        "probe-and-probes",
        "neither",
        "unknown-probe",
        "unknown-probe-in-list",
        "regression-without-percent",
        "regression-not-a-number",
        "glob-without-capable-probe",
        "glob-matching-nothing",
        "percent-on-time",
        "unit-on-cls",
        "rate-over-100",
        "min-samples-zero",
    ],
)
def test_budget_config_errors_say_where(in_tmp: Path, budget: str, expected: str) -> None:
    found = budget_problems(in_tmp, budget)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found[0]


def test_duplicate_budget_names(in_tmp: Path) -> None:
    found = budget_problems(
        in_tmp,
        "  - name: fast\n    probe: login\n    metric: duration\n    threshold: p95 < 4s\n"
        "  - name: fast\n    probe: health\n    metric: time\n    threshold: p95 < 1s\n",
    )
    assert found == [
        "probes.yaml:13:11: budgets[1].name: budget 'fast' is already defined at probes.yaml:9:11"
    ]


def test_budget_inside_a_probe_must_not_name_a_probe(in_tmp: Path) -> None:
    probes = """\
probes:
  - name: login
    journey:
      - goto: http://127.0.0.1:9/login
    budgets:
      - name: inner
        probe: login
        metric: duration
        threshold: p95 < 4s
"""
    found = budget_problems(in_tmp, "", probes=probes)
    assert found == [
        "probes.yaml:7:16: probes[0].budgets[0].probe: inside probe 'login' the budget "
        "covers it; leave probe(s) out"
    ]


def test_budget_inside_a_probe_covers_it(in_tmp: Path) -> None:
    (in_tmp / "probes.yaml").write_text(
        """\
probes:
  - name: login
    journey:
      - goto: http://127.0.0.1:9/login
    budgets:
      - {name: inner, metric: duration, threshold: p95 < 4s}
""",
        encoding="utf-8",
    )
    (rule,) = load_project("probes.yaml", env={}).budgets
    assert (rule.name, rule.probes) == ("inner", ["login"])


def test_every_budget_problem_is_reported_at_once(in_tmp: Path) -> None:
    found = budget_problems(
        in_tmp,
        "  - {name: a, probe: health, metric: lcp, threshold: p95 < 4s}\n"
        "  - {name: b, probe: login, metric: status, threshold: p50 == 200}\n"
        "  - {name: c, probe: login, metric: duration, threshold: fast}\n",
    )
    assert [line.split(":")[1] for line in found] == ["9", "10", "11"]


def test_validate_cli_exits_2_with_file_line_col(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(
        PROBES + "  - name: b\n    probe: health\n    metric: time\n    threshold: p95 <= 4 sec\n",
        encoding="utf-8",
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith(
        "probes.yaml:12:16: budgets[0].threshold: 'p95 <= 4 sec' is not a threshold"
    ), done.stderr
    assert lines[-1] == "1 problem in probes.yaml"


# ----------------------------------------------------------------------------- reporters


def run_result(
    probe: str,
    outcome: Outcome,
    *,
    kind: str = "http",
    error: str | None = None,
    attempt: int = 1,
    retried: list[ProbeResult] | None = None,
) -> ProbeResult:
    return ProbeResult(
        probe=probe,
        kind=kind,  # type: ignore[arg-type]
        outcome=outcome,
        started_at=1_700_000_000.0,
        duration_ms=1234.0,
        completed=outcome == Outcome.PASS,
        error=error,
        attempt=attempt,
        retried=retried or [],
    )


def flaky_result(probe: str = "api") -> ProbeResult:
    first = run_result(probe, Outcome.FAIL, error="status 500, expected 2xx")
    first.final = False
    return run_result(probe, Outcome.PASS, attempt=2, retried=[first])


def budget(name: str, threshold: str, values: list[float], **kw: Any) -> Verdict:
    metric = kw.pop("metric", DURATION)
    warn = kw.pop("warn", None)
    rule = Rule(
        name,
        metric,
        parse_threshold(threshold, metric),
        kw.pop("probes", ["checkout"]),
        warn=parse_threshold(warn, metric) if warn else None,
        **kw,
    )
    return judge(rule, values)


@pytest.fixture
def mixed() -> Report:
    """Every outcome of budgets and runs in one report."""
    verdicts = [
        budget("fast", "p95 < 4s", [1000.0, 2000.0]),
        budget("slow: checkout, 100%", "p95 < 1s", [3000.0, 5000.0]),
        budget("warned", "p95 < 4s", [3500.0], warn="p95 < 3s"),
        budget("thin", "p95 < 4s", [1000.0], min_samples=3),
    ]
    results = [
        run_result("health", Outcome.PASS),
        run_result("checkout", Outcome.FAIL, kind="journey", error="step 3 (click): timeout"),
        run_result("login", Outcome.ERROR, kind="journey", error="no browser"),
        flaky_result(),
    ]
    return Report(verdicts, results, runs=1, batch="x")


def test_junit_parses_back_with_the_right_counts(mixed: Report, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "observer.xml"
    formats.junit(mixed, out)
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "8",
        "failures": "2",
        "errors": "1",
        "skipped": "1",
    }
    budgets, probes = root.findall("testsuite")
    assert budgets.get("name") == "budgets"
    assert {k: budgets.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "0",
        "skipped": "1",
    }
    cases = {c.get("name"): c for c in budgets.findall("testcase")}
    assert list(cases) == ["fast", "slow: checkout, 100%", "warned", "thin"]
    failure = cases["slow: checkout, 100%"].find("failure")
    assert failure is not None
    assert failure.get("message") == "p95 4.9 s, breaks < 1 s"
    assert "over 2 samples from checkout" in (failure.text or "")
    assert cases["fast"].find("failure") is None
    assert cases["warned"].find("failure") is None  # degraded is not a failure
    assert "degraded" in (cases["warned"].findtext("system-out") or "")
    skipped = cases["thin"].find("skipped")
    assert skipped is not None and "inconclusive" in (skipped.get("message") or "")

    assert {k: probes.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4",
        "failures": "1",
        "errors": "1",
        "skipped": "0",
    }
    runs = {c.get("name"): c for c in probes.findall("testcase")}
    assert runs["checkout"].get("classname") == "probes.journey"
    assert runs["checkout"].get("time") == "1.234"
    fail = runs["checkout"].find("failure")
    assert fail is not None and fail.get("message") == "step 3 (click): timeout"
    err = runs["login"].find("error")
    assert err is not None and err.get("message") == "no browser"
    assert runs["health"].find("failure") is None and runs["health"].find("error") is None
    flaky = runs["api"]
    assert flaky.find("failure") is None
    assert "flaky: passed on attempt 2" in (flaky.findtext("system-out") or "")


def test_github_annotations_exact_format(mixed: Report) -> None:
    lines = formats.github_annotations(mixed)
    assert lines == [
        "::error title=budget fail%3A slow%3A checkout%2C 100%25::p95 4.9 s, breaks < 1 s",
        "::warning title=budget degraded%3A warned::p95 3.5 s past the warning < 3 s, within 4 s",
        "::warning title=budget inconclusive%3A thin::1 samples, fewer than the 3 needed",
        "::error title=probe fail%3A checkout::step 3 (click): timeout",
        "::error title=probe error%3A login::no browser",
        "::warning title=probe flaky%3A api::passed on attempt 2; earlier: status 500, "
        "expected 2xx",
    ]


def test_github_annotation_messages_escape_newlines_and_percent() -> None:
    report = Report(
        [],
        [run_result("p", Outcome.FAIL, error="50% of\nthe page, a: b\r")],
    )
    assert formats.github_annotations(report) == [
        "::error title=probe fail%3A p::50%25 of%0Athe page, a: b%0D"
    ]


def test_markdown_has_a_row_per_budget(mixed: Report) -> None:
    text = formats.markdown(mixed, "observer check")
    lines = text.splitlines()
    assert lines[0] == "### ❌ observer check could not run"
    assert "Budgets: 1 pass, 1 fail, 1 degraded, 1 inconclusive." in lines
    assert "Runs: 2 passed, 1 failed, 1 errors over 1 rounds; flaky: api." in lines
    rows = [line for line in lines if line.startswith("| ") and "budget |" not in line]
    assert len(rows) == 4
    assert rows[0] == "| ✅ pass | fast | duration | 1.95 s | p95 < 4s | 2 | checkout |"
    assert rows[1].startswith("| ❌ fail | slow: checkout, 100% | duration | 4.9 s | p95 < 1s |")
    assert "(warn p95 < 3s)" in rows[2]
    assert rows[3].startswith("| ❔ inconclusive | thin |")
    assert "- **slow: checkout, 100%** (fail): p95 4.9 s, breaks < 1 s" in lines
    assert "- probe **checkout** fail: step 3 (click): timeout" in lines


def test_markdown_escapes_pipes_in_cells() -> None:
    report = Report([budget("a|b", "p95 < 4s", [1.0])])
    assert "| a\\|b |" in formats.markdown(report)
    assert formats.markdown(report).startswith("### ✅ observer check passed")


def test_exit_code_precedence() -> None:
    ok = budget("ok", "p95 < 4s", [1.0])
    bad = budget("bad", "p95 < 1s", [5000.0])
    warned = budget("warned", "p95 < 4s", [3500.0], warn="p95 < 3s")
    thin = budget("thin", "p95 < 4s", [], min_samples=2)
    passed = run_result("a", Outcome.PASS)
    failed = run_result("b", Outcome.FAIL, error="x")
    errored = run_result("c", Outcome.ERROR, error="y")

    assert Report([ok], [passed]).exit_code == 0
    assert Report([bad], [passed]).exit_code == 1
    assert Report([ok], [passed, failed]).exit_code == 1
    assert Report([bad], [failed, errored]).exit_code == 3
    assert Report([ok], [errored]).exit_code == 3
    # Warnings alone exit 0, and 1 with --strict.
    for warning in (Report([warned]), Report([thin]), Report([ok], [flaky_result()])):
        assert warning.warnings
        assert warning.exit_code == 0
        warning.strict = True
        assert warning.exit_code == 1
    assert Report([ok], [passed], strict=True).exit_code == 0
    assert Report([bad], [errored], strict=True).exit_code == 3


def test_flaky_runs_are_warnings(mixed: Report) -> None:
    report = Report([], [run_result("health", Outcome.PASS), flaky_result("api")])
    assert [r.probe for r in report.flaky_runs] == ["api"]
    assert report.warnings == [
        "probe 'api' is flaky: attempt 1 fail (status 500, expected 2xx), passed on attempt 2"
    ]
    data = report.to_dict()
    assert data["summary"]["flaky"] == ["api"]
    assert data["exit_code"] == 0
    assert [r["flaky"] for r in data["results"]] == [False, True]
    assert data["results"][1]["retried"][0]["outcome"] == "fail"


def test_report_json_counts(mixed: Report) -> None:
    data = mixed.to_dict()
    assert data["exit_code"] == 3
    assert data["summary"]["budgets"] == {
        "pass": 1,
        "degraded": 1,
        "fail": 1,
        "inconclusive": 1,
    }
    assert data["summary"]["runs"] == {"pass": 2, "fail": 1, "error": 1}
    assert [b["name"] for b in data["budgets"]] == [
        "fast",
        "slow: checkout, 100%",
        "warned",
        "thin",
    ]
    json.dumps(data)


# ----------------------------------------------------------------------------- baselines


def test_baseline_round_trip(tmp_path: Path) -> None:
    report = Report([budget("fast", "p95 < 4s", [100.0, 200.0]), budget("none", "p95 < 4s", [])])
    path = tmp_path / "base.json"
    path.write_text(json.dumps(report.to_dict()), encoding="utf-8")
    assert load_baseline(str(path)) == {"fast": [100.0, 200.0], "none": []}


def test_baseline_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ValueError) as info:
        load_baseline(str(path))
    assert str(info.value) == f"{path}: cannot read: No such file or directory"


def test_baseline_not_json_says_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    path.write_text('{\n  "budgets": [\n    oops\n  ]\n}\n', encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_baseline(str(path))
    assert str(info.value).startswith(f"{path}:3:5: not JSON: ")


@pytest.mark.parametrize("data", [{"results": []}, [1, 2], {"budgets": {"a": [1]}}, "text"])
def test_baseline_without_a_budgets_list(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "base.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ValueError, match="no 'budgets' list; give the --json output"):
        load_baseline(str(path))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"name": "a", "values": [1, "2"]}, r"budgets\[0\] \(a\) has no list of numeric values"),
        ({"name": "a", "values": [True]}, r"budgets\[0\] \(a\) has no list of numeric values"),
        ({"name": "a", "values": None}, r"budgets\[0\] \(a\) has no list of numeric values"),
        ({"name": "a"}, r"budgets\[0\] \(a\) has no list of numeric values"),
        ({"values": [1]}, r"budgets\[0\] has no name"),
        ("a", r"budgets\[0\] has no name"),
    ],
)
def test_baseline_with_bad_values(tmp_path: Path, item: Any, message: str) -> None:
    path = tmp_path / "base.json"
    path.write_text(json.dumps({"budgets": [item]}), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_baseline(str(path))


def test_baseline_with_nan(tmp_path: Path) -> None:
    path = tmp_path / "base.json"
    path.write_text('{"budgets": [{"name": "a", "values": [1, NaN]}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="numeric values"):
        load_baseline(str(path))
