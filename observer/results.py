"""What a probe run produced: plain dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal


class Outcome(StrEnum):
    """pass: the site did what was expected; fail: it did not; error: observer could not tell."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"  # a step after the one that stopped the journey


class ObserverError(Exception):
    """observer itself could not run a probe (no browser, browser crashed): an `error` outcome."""


@dataclass
class StepResult:
    """One journey step."""

    index: int
    name: str
    action: str
    outcome: Outcome
    start_ms: float  # since the journey started, for the waterfall
    duration_ms: float
    error: str | None = None  # why it failed: a summary line, then details (strict matches)
    url: str | None = None
    log: str | None = None  # Playwright's own message and call log, whole, when it failed
    captured: dict[str, str] | None = None  # what a capture step kept (secrets as ***)


@dataclass
class PageError:
    """Something that went wrong in the page: console error, uncaught error, failed request."""

    kind: Literal["console", "pageerror", "requestfailed", "http"]
    message: str
    url: str | None = None
    step_index: int | None = None


@dataclass
class Artifact:
    """A file kept with a run."""

    kind: Literal["screenshot", "trace"]
    path: str
    step_index: int | None = None


@dataclass
class PageVitals:
    """Load metrics of one page (document) a journey visited."""

    url: str
    step_index: int
    ttfb_ms: float | None = None
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    cls: float | None = None
    inp_ms: float | None = None
    dcl_ms: float | None = None
    load_ms: float | None = None
    # "event": the browser's event timing; "leave": a click or key that left the page before
    # the browser timed it, from its pointerdown (or keydown) to the page being hidden.
    inp_source: Literal["event", "leave"] | None = None
    left_before_load: bool = False  # the journey moved on before this page's load event
    partial: bool = False  # read before the page settled (settings.settle)


@dataclass
class Violation:
    """An accessibility rule one element breaks on one page (axe-core)."""

    rule: str  # axe-core's rule id, e.g. image-alt
    impact: str  # minor, moderate, serious or critical
    target: str  # axe's CSS selector of the element
    url: str  # the page
    step_index: int  # the step after which the page was checked (or that checked it)
    help: str = ""
    help_url: str = ""
    source: Literal["step", "audit"] = "audit"
    # The impact at or above which a new violation of this kind fails `check --baseline`: the
    # step's `impact`, or the probe's accessibility.impact for an audit. Not stored.
    gate: str = "serious"


@dataclass
class Expectation:
    """One expectation of an HTTP check and how it fared."""

    name: str
    outcome: Outcome
    expected: str
    actual: str


@dataclass
class HttpDetails:
    """What an HTTP check measured."""

    url: str
    method: str
    status: int | None = None
    ttfb_ms: float | None = None
    time_ms: float | None = None
    size_bytes: int | None = None
    expectations: list[Expectation] = field(default_factory=list)


@dataclass
class Replay:
    """A failed run replayed once with tracing, for its trace (settings.trace: on_failure).

    The run itself is measured untraced; the replay is not a run and never counts."""

    outcome: Outcome
    failed_step: int | None = None
    error: str | None = None


@dataclass
class ProbeResult:
    """One run of one probe."""

    probe: str
    kind: Literal["http", "journey"]
    outcome: Outcome
    started_at: float  # unix seconds
    duration_ms: float
    completed: bool = False
    last_mark: str | None = None
    error: str | None = None  # why it failed or errored, in one line
    failed_step: int | None = None
    steps: list[StepResult] = field(default_factory=list)
    vitals: dict[str, float | None] = field(default_factory=dict)
    pages: list[PageVitals] = field(default_factory=list)
    errors: list[PageError] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    http: HttpDetails | None = None
    attempt: int = 1
    location: str | None = None
    device: str | None = None
    # What it ran under: device, network and CPU slowdown (conditions.Conditions.to_dict).
    conditions: dict[str, Any] | None = None
    violations: list[Violation] = field(default_factory=list)  # accessibility (axe-core)
    a11y_pages: int | None = None  # pages checked with axe-core (None: accessibility not checked)
    # The pages checked (their paths), and those audit mode could not check and why (JSON
    # only: not stored).
    a11y_checked: list[str] = field(default_factory=list)
    a11y_unchecked: list[str] = field(default_factory=list)
    run_id: int | None = None
    final: bool = True  # False for an attempt that a retry replaced
    retried: list[ProbeResult] = field(default_factory=list)  # earlier attempts, oldest first
    replay: Replay | None = None
    # Values that became secret during the run (secret captures): the runner masks them along
    # with the file's secrets, then empties this. Never stored or shown.
    run_secrets: list[str] = field(default_factory=list, repr=False, compare=False)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A result spooled (pickled) by an older observer lacks the fields added since: they
        # take their defaults, so the spool still empties into the database after an upgrade.
        for f in fields(self):
            if f.name not in state:
                if f.default is not MISSING:
                    state[f.name] = f.default
                elif f.default_factory is not MISSING:
                    state[f.name] = f.default_factory()
        self.__dict__.update(state)

    @property
    def label(self) -> str:
        """`checkout · iPhone 13 · slow-4g`: the probe, and the conditions when it had any."""
        extra = describe(self.conditions)
        return f"{self.probe} · {extra}" if extra else self.probe

    @property
    def flaky(self) -> bool:
        """Passed, but only after an attempt that did not."""
        return self.outcome == Outcome.PASS and bool(self.retried)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of `observer run --json`."""
        data = asdict(self)
        del data["run_secrets"]
        data["outcome"] = str(self.outcome)
        data["flaky"] = self.flaky
        data["retried"] = [
            {
                "attempt": r.attempt,
                "outcome": str(r.outcome),
                "error": r.error,
                "duration_ms": r.duration_ms,
                "run_id": r.run_id,
            }
            for r in self.retried
        ]
        data["label"] = self.label
        for step in data["steps"]:
            step["outcome"] = str(step["outcome"])
        if data["replay"] is not None:
            data["replay"]["outcome"] = str(data["replay"]["outcome"])
        if data["http"] is not None:
            for exp in data["http"]["expectations"]:
                exp["outcome"] = str(exp["outcome"])
        return data


def describe(conditions: dict[str, Any] | None) -> str:
    """A run's recorded conditions as a label: `iPhone 13 · slow-4g · 4× CPU` (empty: none)."""
    if not conditions:
        return ""
    cpu = conditions.get("cpu_slowdown")
    parts = [str(conditions.get("device") or ""), str(conditions.get("network") or "")]
    if isinstance(cpu, int | float) and cpu > 1:
        parts.append(f"{cpu:g}× CPU")
    return " · ".join(p for p in parts if p)
