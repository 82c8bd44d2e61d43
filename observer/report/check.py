"""What `observer check` and `observer budgets` produce, and the exit code it maps to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..budgets import Status, Verdict
from ..exitcodes import exit_code
from ..results import Outcome, ProbeResult

if TYPE_CHECKING:
    from ..accessibility import Comparison, Found


@dataclass
class Report:
    """Budget verdicts, plus the runs they were judged on when probes ran."""

    verdicts: list[Verdict]
    results: list[ProbeResult] = field(default_factory=list)
    runs: int = 0
    batch: str | None = None
    database: str | None = None
    strict: bool = False
    # Accessibility violations found by the runs, and how they compare with a baseline's
    # (None: no baseline was given, or it had no accessibility section).
    violations: list[Found] = field(default_factory=list)
    accessibility: Comparison | None = None
    a11y_note: str | None = None  # why violations were not compared

    @property
    def failed_budgets(self) -> list[Verdict]:
        """Budgets that broke their threshold or regressed."""
        return [v for v in self.verdicts if v.outcome == Status.FAIL]

    @property
    def new_violations(self) -> list[Found]:
        """New accessibility violations at or above their probe's impact: they fail."""
        return self.accessibility.failing if self.accessibility else []

    @property
    def failed_runs(self) -> list[ProbeResult]:
        """Runs whose final attempt failed."""
        return [r for r in self.results if r.outcome == Outcome.FAIL]

    @property
    def errored_runs(self) -> list[ProbeResult]:
        """Runs observer could not carry out."""
        return [r for r in self.results if r.outcome == Outcome.ERROR]

    @property
    def flaky_runs(self) -> list[ProbeResult]:
        """Runs that passed only on a retry."""
        return [r for r in self.results if r.flaky]

    @property
    def warnings(self) -> list[str]:
        """Degraded and inconclusive budgets and flaky probes, as sentences."""
        out = [
            f"budget '{v.name}' {v.outcome}: {v.message}"
            for v in self.verdicts
            if v.outcome in (Status.DEGRADED, Status.INCONCLUSIVE)
        ]
        for r in self.flaky_runs:
            first = r.retried[0]
            out.append(
                f"probe '{r.probe}' is flaky: attempt 1 {first.outcome} ({first.error}), "
                f"passed on attempt {r.attempt}"
            )
        if self.accessibility is not None:
            below = [f for f in self.accessibility.new if f not in self.new_violations]
            out += [f"new accessibility violation below its impact: {f.line()}" for f in below]
        if self.a11y_note:
            out.append(self.a11y_note)
        return out

    @property
    def exit_code(self) -> int:
        """3 observer could not run probes; 1 a budget or a run failed (or, strict, a warning);
        else 0."""
        failed = bool(
            self.failed_budgets
            or self.failed_runs
            or self.new_violations
            or (self.strict and self.warnings)
        )
        return int(exit_code(errored=bool(self.errored_runs), failed=failed))

    def to_dict(self) -> dict[str, Any]:
        """The --json form; its `budgets[].values` make it a --baseline for a later check."""
        counts = {s.value: 0 for s in Status}
        for v in self.verdicts:
            counts[str(v.outcome)] += 1
        return {
            "exit_code": self.exit_code,
            "summary": {
                "budgets": counts,
                "runs": {
                    o: sum(1 for r in self.results if str(r.outcome) == o)
                    for o in ("pass", "fail", "error")
                },
                "flaky": [r.probe for r in self.flaky_runs],
                "rounds": self.runs,
            },
            "budgets": [v.to_dict() for v in self.verdicts],
            # What a later --baseline compares with: every violation these runs found.
            "accessibility": {
                "violations": [f.to_dict() for f in self.violations],
                **(self.accessibility.to_dict() if self.accessibility else {}),
            },
            "results": [r.to_dict() for r in self.results],
            "batch": self.batch,
            "database": self.database,
        }
