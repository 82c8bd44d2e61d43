"""Every metric observer knows, listed once: name, unit, sources, store column, aggregation.

The journey, the store, the budgets, the dashboard, `/metrics` and the docs' metrics table all
read this list, so a new metric is one entry here (plus a column, if it needs a new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["journey", "http", "rum"]
Unit = Literal["ms", "count", "ratio", "code", "score"]
# How one run (or beacon) turns into samples: `value` is the measured value; `share` is 1 or 0
# per run or page load, judged by `rate`.
Aggregation = Literal["value", "share"]

JOURNEY: frozenset[Source] = frozenset({"journey"})
HTTP: frozenset[Source] = frozenset({"http"})
LAB: frozenset[Source] = frozenset({"journey", "http"})
_UNIT_WORDS = {"ms": "time", "count": "count", "ratio": "share", "code": "code", "score": "score"}
_SOURCE_WORDS = {"journey": "journeys", "http": "http", "rum": "real users"}


@dataclass(frozen=True)
class Metric:
    """What a budget measures: its unit, who can produce it and where its samples are kept."""

    name: str
    unit: Unit
    sources: frozenset[Source]
    column: str | None = None  # the runs (and page_vitals) column holding it
    what: str = ""  # one sample, in words (the docs' table)
    title: str = ""  # as the dashboard heads it; the name in capitals when empty
    lower_is_better: bool = True
    aggregation: Aggregation = "value"
    # A failed run stops early (or at its timeout): its length is not the task's. Failures count
    # in completion; metrics marked so time only the runs that did the whole task.
    whole_runs: bool = False
    page: str | None = None  # the in-page figure a journey reads per page (`lab_script`)
    # A page left before its load event says nothing of how long pages take to load.
    needs_load: bool = False
    good_poor: tuple[float, float] | None = None  # web.dev's good / poor limits
    listed: bool = False  # a column of the dashboard's recent runs
    core: int = 0  # a Core Web Vital: its place among them (LCP, INP, CLS); 0: not one
    step: str | None = None  # for step:NAME
    task: str | None = None  # for completion:TASK (real users)
    satisfied: float | None = None  # `rate` counts the answers at or above this (CSAT: 4)
    table: str | None = None  # counted from this table of its own, not a runs column

    @property
    def label(self) -> str:
        """As written in the file."""
        if self.step:
            return f"step:{self.step}"
        return f"completion:{self.task}" if self.task else self.name

    @property
    def heading(self) -> str:
        """As a table or chart heads it."""
        return self.title or self.name.upper()

    @property
    def decimals(self) -> int:
        """How finely a measured value is kept: a layout-shift score to 4 places, times to 1."""
        return 4 if self.unit == "score" else 1

    @property
    def kinds(self) -> frozenset[Source]:
        """The probe kinds that produce it."""
        return self.sources & LAB

    @property
    def field(self) -> bool:
        """Real users produce it."""
        return "rum" in self.sources

    @property
    def lab(self) -> bool:
        """Probes produce it."""
        return bool(self.kinds)


_LAB_AND_FIELD: frozenset[Source] = frozenset({"journey", "http", "rum"})
_JOURNEY_AND_FIELD: frozenset[Source] = frozenset({"journey", "rum"})

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "duration",
            "ms",
            LAB,
            "duration_ms",
            "Total time of a run that completed (failed runs count in `completion`, not here: "
            "a run that stopped early, or hit its timeout, did not do the task).",
            title="Duration",
            whole_runs=True,
            listed=True,
        ),
        Metric(
            "ttfb",
            "ms",
            _LAB_AND_FIELD,
            "ttfb_ms",
            "Time to first byte (worst page of a journey).",
            page="ttfb",
            good_poor=(800, 1800),
            listed=True,
        ),
        Metric(
            "fcp",
            "ms",
            _JOURNEY_AND_FIELD,
            "fcp_ms",
            "First Contentful Paint, worst page of the run.",
            page="fcp",
            good_poor=(1800, 3000),
        ),
        Metric(
            "lcp",
            "ms",
            _JOURNEY_AND_FIELD,
            "lcp_ms",
            "Largest Contentful Paint, worst page of the run.",
            page="lcp",
            good_poor=(2500, 4000),
            listed=True,
            core=1,
        ),
        Metric(
            "cls",
            "score",
            _JOURNEY_AND_FIELD,
            "cls",
            "Cumulative Layout Shift, worst page.",
            page="cls",
            good_poor=(0.1, 0.25),
            core=3,
        ),
        Metric(
            "inp",
            "ms",
            _JOURNEY_AND_FIELD,
            "inp_ms",
            "Interaction to Next Paint, where the journey interacted.",
            good_poor=(200, 500),
            core=2,
        ),
        Metric(
            "load",
            "ms",
            JOURNEY,
            "load_ms",
            "The load event (pages left before it leave it out).",
            title="Load",
            page="load",
            needs_load=True,
        ),
        Metric(
            "dcl",
            "ms",
            JOURNEY,
            "dcl_ms",
            "The DOMContentLoaded event (pages left before load leave it out).",
            page="dcl",
            needs_load=True,
        ),
        Metric(
            "errors",
            "count",
            JOURNEY,
            "error_count",
            "Console errors, uncaught page errors, failed requests and 4xx/5xx responses in "
            "the run.",
            title="Errors",
        ),
        Metric(
            "completion",
            "ratio",
            LAB,
            "completed",
            "1 when the run completed the task (every step and expectation passed), else 0.",
            title="Completed",
            lower_is_better=False,
            aggregation="share",
        ),
        Metric(
            "a11y_violations",
            "count",
            JOURNEY,
            None,
            "Accessibility violations (distinct rule and element) in a run checked with "
            "axe-core (`expect_accessible` or `accessibility: audit`); `impact:` counts those "
            "at or above an impact, `page:` those on matching pages.",
            title="A11y",
            table="a11y_violations",
        ),
        Metric("status", "code", HTTP, "http_status", "The HTTP status code.", title="Status"),
        Metric(
            "time",
            "ms",
            HTTP,
            "duration_ms",
            "Response time of a check that passed.",
            title="Time",
            whole_runs=True,
        ),
        Metric(
            "error_rate",
            "ratio",
            frozenset({"rum"}),
            None,
            "1 for a page load with an uncaught error, else 0 (real users only).",
            title="Error rate",
            aggregation="share",
        ),
        Metric(
            "csat",
            "score",
            frozenset({"rum"}),
            None,
            "A customer's satisfaction, 1 to 5 (`observer.feedback({csat: 4})`, or the survey); "
            "`rate` is the share of answers at 4 or 5, `mean` their average.",
            title="CSAT",
            lower_is_better=False,
            satisfied=4.0,
        ),
        Metric(
            "ces",
            "score",
            frozenset({"rum"}),
            None,
            'A customer\'s effort, 1 to 7: agreement with "it was easy", so higher is easier '
            "(CES 2.0); judged by `mean`.",
            title="CES",
            lower_is_better=False,
        ),
        Metric(
            "nps",
            "score",
            frozenset({"rum"}),
            None,
            "How likely a customer is to recommend, 0 to 10; `score` is promoters (9-10) minus "
            "detractors (0-6), from -100 to 100.",
            title="NPS",
            lower_is_better=False,
        ),
        Metric(
            "rage_click_rate",
            "ratio",
            frozenset({"rum"}),
            None,
            "1 for a page view with a rage click (3 or more clicks within 1 s, within 30 px), "
            "else 0.",
            title="Rage clicks",
            aggregation="share",
        ),
        Metric(
            "dead_click_rate",
            "ratio",
            frozenset({"rum"}),
            None,
            "1 for a page view with a dead click (a link or button followed within 1 s by no "
            "change, navigation or request), else 0.",
            title="Dead clicks",
            aggregation="share",
        ),
        Metric(
            "error_click_rate",
            "ratio",
            frozenset({"rum"}),
            None,
            "1 for a page view with an uncaught error within 1 s of a click, else 0.",
            title="Error clicks",
            aggregation="share",
        ),
    )
}
# Real-user metrics that count page views with a signal, by the beacons that signal it.
SIGNALS = {
    "error_rate": "error",
    "rage_click_rate": "rage_click",
    "dead_click_rate": "dead_click",
    "error_click_rate": "error_click",
}

# Budget metrics that name something of their own: a step, or a real users' task.
PATTERNS: tuple[tuple[str, str, str, str], ...] = (
    (
        "step:NAME",
        "time",
        "journeys",
        "Duration of the passed step named NAME (its `name:`, or its default name such as "
        "`click text=Place order`).",
    ),
    (
        "completion:TASK",
        "share",
        "real users",
        "1 for a session that completed TASK after beginning it (`observer.begin` / "
        "`observer.complete`), else 0.",
    ),
)


# axe-core's impacts of an accessibility violation, from the least to the worst.
IMPACTS = ("minor", "moderate", "serious", "critical")


def impacts_from(threshold: str) -> list[str]:
    """The impacts at or above a threshold: `serious` -> serious, critical."""
    return list(IMPACTS[IMPACTS.index(threshold) :]) if threshold in IMPACTS else list(IMPACTS)


def get(name: str) -> Metric | None:
    """The metric of this name, if observer knows it."""
    return METRICS.get(name)


def run_columns() -> dict[str, str]:
    """Metric -> the runs column that holds it, for every metric a probe produces."""
    return {m.name: m.column for m in METRICS.values() if m.column and m.lab}


def page_metrics() -> list[Metric]:
    """The figures a journey reads on each page it visits."""
    return [m for m in METRICS.values() if m.page]


def run_vitals() -> list[Metric]:
    """What a journey's run reports of its pages (the worst page's): web vitals, load events."""
    return [m for m in METRICS.values() if m.page or (m.good_poor and "journey" in m.sources)]


def vitals() -> list[Metric]:
    """The web vitals (they have web.dev's good / poor limits), as real users report them:
    the Core Web Vitals first, in their order, then the others."""
    found = [m for m in METRICS.values() if m.good_poor and m.field]
    return sorted(found, key=lambda m: m.core or len(found) + 1)


def core_vitals() -> list[Metric]:
    """Google's Core Web Vitals: LCP, INP, CLS."""
    return [m for m in vitals() if m.core]


def listed_columns() -> list[Metric]:
    """The columns of the dashboard's recent runs, beside when, outcome and error."""
    return [m for m in METRICS.values() if m.listed and m.column]


def rating(metric: str, value: float) -> str | None:
    """web.dev's good / needs-improvement / poor for a vital's value; None for other metrics."""
    m = METRICS.get(metric)
    if m is None or m.good_poor is None:
        return None
    good, poor = m.good_poor
    return "good" if value <= good else "needs-improvement" if value <= poor else "poor"


def markdown_table() -> str:
    """The metrics table of docs/budgets.md."""
    rows = ["| metric | unit | from | what one sample is |", "|---|---|---|---|"]
    for m in METRICS.values():
        sources = ", ".join(_SOURCE_WORDS[s] for s in ("journey", "http", "rum") if s in m.sources)
        rows.append(f"| `{m.name}` | {_UNIT_WORDS[m.unit]} | {sources} | {m.what} |")
    for name, unit, sources, what in PATTERNS:
        rows.append(f"| `{name}` | {unit} | {sources} | {what} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
