"""What the store hands out and takes in: typed rows, not dicts.

Each row's `to_dict()` is its JSON form (`/api`, `--json`): the stored columns under their
names, as they always were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from enum import IntEnum, StrEnum
from typing import Any

from ..results import Outcome, ProbeResult


def plain(value: Any) -> Any:
    """A field's value as stored: enums as their value, flags as 0 or 1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, StrEnum):
        return str(value)
    return value


def _columns(row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: plain(getattr(row, f.name)) for f in fields(row) if f.name not in skip}


@dataclass
class RunRow:
    """One stored run (an attempt or a final result), its columns in table order."""

    id: int
    probe: str
    kind: str
    outcome: Outcome
    started_at: float
    duration_ms: float | None = None
    completed: bool = False
    last_mark: str | None = None
    error: str | None = None
    failed_step: int | None = None
    attempt: int | None = None
    location: str | None = None
    device: str | None = None
    source: str | None = None
    batch: str | None = None
    final: bool = True
    ttfb_ms: float | None = None
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    cls: float | None = None
    inp_ms: float | None = None
    dcl_ms: float | None = None
    load_ms: float | None = None
    error_count: int | None = None
    http_status: int | None = None
    size_bytes: int | None = None
    replay: str | None = None
    conditions: str | None = None  # JSON: device, network, cpu_slowdown
    a11y_pages: int | None = None  # pages checked with axe-core (None: not checked)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> RunRow:
        """A row as the database gave it, its columns in RUN_COLUMNS order."""
        run = cls(*row)
        run.outcome = Outcome(run.outcome)
        run.completed = bool(run.completed)
        run.final = bool(run.final)
        return run

    @property
    def conditions_dict(self) -> dict[str, Any] | None:
        """The conditions it ran under, read back from their JSON."""
        if not self.conditions:
            return None
        try:
            found = json.loads(self.conditions)
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    @property
    def conditions_label(self) -> str:
        """`iPhone 13 · slow-4g · 4× CPU`; empty when nothing was emulated or throttled."""
        from ..results import describe

        return describe(self.conditions_dict)

    def value(self, column: str) -> float | None:
        """A metric's column, by name (the catalog says which)."""
        raw = getattr(self, column)
        return None if raw is None else float(raw)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every column."""
        return _columns(self, _RUN_EXTRAS)


@dataclass
class StepRow:
    """One step of a stored journey run."""

    run_id: int
    idx: int
    name: str
    action: str
    outcome: Outcome
    start_ms: float | None = None
    duration_ms: float | None = None
    error: str | None = None
    url: str | None = None
    log: str | None = None
    captured: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (captured values as the JSON text they are stored as)."""
        out = _columns(self)
        out["captured"] = json.dumps(self.captured) if self.captured else None
        return out


@dataclass
class PageRow:
    """One page a stored journey run visited, with its figures."""

    run_id: int
    seq: int
    step_index: int | None
    url: str
    ttfb_ms: float | None = None
    fcp_ms: float | None = None
    lcp_ms: float | None = None
    cls: float | None = None
    inp_ms: float | None = None
    dcl_ms: float | None = None
    load_ms: float | None = None
    inp_source: str | None = None
    left_before_load: bool = False
    partial: bool = False


@dataclass
class ViolationRow:
    """An accessibility rule one element broke on one page of a stored run."""

    run_id: int
    url: str
    page: str
    step_index: int | None
    rule: str
    impact: str
    target: str
    help: str | None = None
    help_url: str | None = None
    source: str | None = None


@dataclass
class ErrorRow:
    """Something that went wrong in a stored run's page."""

    run_id: int
    kind: str
    message: str
    url: str | None = None
    step_index: int | None = None


@dataclass
class ArtifactRow:
    """A file kept with a stored run."""

    run_id: int
    kind: str
    path: str
    step_index: int | None = None


@dataclass
class ExpectationRow:
    """One expectation of a stored HTTP check."""

    run_id: int
    name: str
    outcome: Outcome
    expected: str | None = None
    actual: str | None = None


@dataclass
class RunDetails(RunRow):
    """A run with everything recorded with it."""

    steps: list[StepRow] = field(default_factory=list)
    page_vitals: list[PageRow] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    artifacts: list[ArtifactRow] = field(default_factory=list)
    expectations: list[ExpectationRow] = field(default_factory=list)
    a11y_violations: list[ViolationRow] = field(default_factory=list)

    def to_result(self) -> ProbeResult:
        """As the runner made it, as far as alerting needs it (alerting without the daemon)."""
        from ..results import Artifact, HttpDetails, StepResult

        result = ProbeResult(
            probe=self.probe,
            kind="http" if self.kind == "http" else "journey",
            outcome=self.outcome,
            started_at=self.started_at,
            duration_ms=self.duration_ms or 0.0,
            completed=self.completed,
            error=self.error,
            run_id=self.id,
            location=self.location,
            device=self.device,
            conditions=self.conditions_dict,
        )
        result.steps = [
            StepResult(
                index=s.idx,
                name=s.name,
                action=s.action,
                outcome=s.outcome,
                start_ms=s.start_ms or 0.0,
                duration_ms=s.duration_ms or 0.0,
                error=s.error,
                url=s.url,
            )
            for s in self.steps
        ]
        result.artifacts = [
            Artifact("trace" if a.kind == "trace" else "screenshot", a.path, a.step_index)
            for a in self.artifacts
        ]
        if self.kind == "http":
            result.http = HttpDetails(url="", method="", status=self.http_status)
        return result

    @property
    def failed(self) -> StepRow | None:
        """The first step that failed or could not run."""
        return next((s for s in self.steps if s.outcome in (Outcome.FAIL, Outcome.ERROR)), None)


_RUN_EXTRAS = ("steps", "page_vitals", "errors", "artifacts", "expectations", "a11y_violations")
# The runs table's columns, in the order RunRow takes them.
RUN_COLUMNS = tuple(f.name for f in fields(RunRow))


@dataclass(frozen=True)
class Picked:
    """Which of a budget's runs and violations count (None: any). `device` is a Playwright
    device name; `network` a profile's label, `cpu_slowdown` a factor, "" for not throttled."""

    device: str | None = None
    network: str | None = None
    cpu_slowdown: float | str | None = None
    impacts: tuple[str, ...] = ()  # a11y_violations: only these impacts
    page: str | None = None  # a11y_violations: only pages whose path matches this glob


@dataclass
class ProbeStats:
    """A probe's runs since a time, and its newest run."""

    runs: int = 0
    passed: int = 0
    failed: int = 0
    errored: int = 0
    last: RunRow | None = None


@dataclass
class StepTime:
    """How long one step of a run took, for the dashboard's step chart."""

    run_id: int
    name: str
    duration_ms: float
    outcome: Outcome


@dataclass
class BeaconRow:
    """One real-user measurement, error, page view or task milestone, by column."""

    received_at: float
    metric: str
    app: str | None = None
    page: str | None = None
    value: float | None = None
    rating: str | None = None
    nav_type: str | None = None
    device: str | None = None
    browser: str | None = None
    session: str | None = None
    load_id: str | None = None
    synthetic: bool = False
    label: str | None = None
    detail: str | None = None
    format: str | None = None
    dedupe: str | None = None

    def columns(self) -> dict[str, Any]:
        """The row by column name, as stored."""
        return _columns(self)


@dataclass
class RumValue:
    """One real user's vital on one page."""

    received_at: float
    page: str | None
    metric: str
    value: float
    rating: str | None
    device: str | None


@dataclass
class RumError:
    """An uncaught error real users met, counted."""

    label: str | None
    detail: str | None
    page: str | None
    n: int
    sessions: int
    last: float


@dataclass
class RumFact:
    """One thing a real user's session did or said, for joining what they felt to what they
    experienced: a vital's rating, an answer, a task milestone, a frustration signal."""

    session: str
    load_id: str | None
    received_at: float
    metric: str
    value: float | None
    rating: str | None
    label: str | None
    page: str | None


@dataclass
class RumComment:
    """A real user's answer that came with a comment (kept as JSON text in `detail`)."""

    received_at: float
    metric: str
    value: float | None
    task: str | None
    page: str | None
    detail: str | None


@dataclass
class RumImpact:
    """Real users on some pages in a window."""

    sessions: int = 0
    loads: int = 0
    errored: int = 0
    lcp: list[float] = field(default_factory=list)


@dataclass
class LabPage:
    """A page a journey visited, with its LCP and INP."""

    probe: str
    url: str
    lcp_ms: float | None
    inp_ms: float | None


class IncidentState(StrEnum):
    """Where an incident stands."""

    PENDING = "pending"  # breached, not yet for long enough to fire
    FIRING = "firing"
    OK = "ok"  # a blip that passed before it fired: closed quietly
    RESOLVED = "resolved"

    @property
    def open(self) -> bool:
        """Still being watched."""
        return self in (IncidentState.PENDING, IncidentState.FIRING)


class Notified(IntEnum):
    """Whom an incident's firing has reached (stored as 0 to 3)."""

    NOBODY = 0
    CHANNELS = 1
    SILENCED = 2  # it fired under a silence: the channels never heard of it
    FLAPPING = 3  # it fired while flapping: the channels heard it flaps, not of this fire


@dataclass
class Notification:
    """One delivery attempt, or a held or silenced notice."""

    kind: str  # firing, reminder, resolved, test
    status: str  # sent, failed, held, silenced
    at: float
    incident_id: int | None = None
    rule: str | None = None
    channel: str | None = None
    attempt: int = 1
    error: str | None = None
    title: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form under an incident."""
        return {
            "channel": self.channel,
            "kind": self.kind,
            "status": self.status,
            "attempt": self.attempt,
            "error": self.error,
            "at": self.at,
        }


@dataclass
class Incident:
    """One alert rule's trouble with one subject (a budget or a probe), from breach to end."""

    rule: str
    subject: str
    kind: str  # budget or probe
    state: IncidentState
    opened_at: float
    breaches: int = 0
    healthy: int = 0
    fired_at: float | None = None
    resolved_at: float | None = None
    last_notified_at: float | None = None
    notified: Notified = Notified.NOBODY
    severity: str | None = None
    title: str | None = None
    body: str | None = None
    value: float | None = None
    run_id: int | None = None
    id: int | None = None
    notifications: list[Notification] = field(default_factory=list)

    @classmethod
    def from_columns(cls, row: dict[str, Any]) -> Incident:
        """A row as the database gave it, by column name."""
        data = dict(row)
        data["state"] = IncidentState(data["state"])
        data["notified"] = Notified(data.get("notified") or 0)
        return cls(**data)

    def columns(self) -> dict[str, Any]:
        """The stored columns (no id, no notifications)."""
        return _columns(self, ("id", "notifications"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: the columns in table order, then the notifications."""
        out: dict[str, Any] = {"id": self.id}
        for name in INCIDENT_COLUMNS:
            out[name] = plain(getattr(self, name))
        out["notifications"] = [n.to_dict() for n in self.notifications]
        return out


INCIDENT_COLUMNS = (
    "rule",
    "subject",
    "kind",
    "state",
    "breaches",
    "healthy",
    "opened_at",
    "fired_at",
    "resolved_at",
    "last_notified_at",
    "notified",
    "severity",
    "title",
    "body",
    "value",
    "run_id",
)


@dataclass
class Silence:
    """Incidents whose rule or subject matches `pattern` are not sent until `ends_at`."""

    id: int
    pattern: str
    starts_at: float
    ends_at: float
    reason: str | None = None
    created_by: str | None = None


@dataclass
class RunnerRow:
    """One observer process sharing the database: where it runs and what it is."""

    id: str
    location: str | None
    version: str
    config_hash: str
    roles: str  # comma-separated
    started_at: float
    last_seen: float = 0.0
    in_flight: int = 0
    spooled: int = 0  # results waiting for the database in its spool

    def live(self, now: float) -> bool:
        """Seen in the last 30 s (it heartbeats every 10 s): alive."""
        return now - self.last_seen <= 30.0

    def to_dict(self, now: float) -> dict[str, Any]:
        """The /api/runners form."""
        return {
            "id": self.id,
            "location": self.location,
            "version": self.version,
            "config_hash": self.config_hash,
            "roles": self.roles.split(",") if self.roles else [],
            "started_at": self.started_at,
            "last_seen": self.last_seen,
            "in_flight": self.in_flight,
            "spooled": self.spooled,
            "live": self.live(now),
        }


@dataclass
class Queued:
    """A notification decided on and written down, not yet delivered."""

    incident_id: int | None
    rule: str
    channel: str
    kind: str
    title: str
    attach: str | None
    queued_at: float
    id: int | None = None
