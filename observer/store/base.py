"""The seam every caller uses: what a store does, whatever engine keeps the data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..catalog import Metric
    from ..results import ProbeResult
    from .rows import (
        BeaconRow,
        Incident,
        LabPage,
        Notification,
        Picked,
        ProbeStats,
        Queued,
        RumComment,
        RumError,
        RumFact,
        RumImpact,
        RumValue,
        RunDetails,
        RunnerRow,
        RunRow,
        Silence,
        StepTime,
    )


class StoreError(Exception):
    """The database cannot be used: unreadable, from a newer observer, locked for too long."""


class Store(Protocol):
    """observer's database. Budgets, alerts, the dashboard, the daemon and the CLI use only this;
    the engine behind it (SQLite today) is chosen by `open_store`."""

    @property
    def name(self) -> str:
        """Where the data is, fit to show: a file path, never a password."""
        ...

    def close(self) -> None:
        """Let go of the database."""
        ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...

    def schema_version(self) -> int:
        """The migrations applied to this database."""
        ...

    def count(self, table: str) -> int:
        """Rows in a table."""
        ...

    def grant(self, role: str, account: str, *, apply: bool = True) -> list[str]:
        """Give a database account what one observer role needs (the statements, run unless
        `apply` is false); only a database with accounts has this."""
        ...

    # runs

    def record(self, result: ProbeResult, *, source: str = "run", batch: str | None = None) -> int:
        """Store one run with its steps, pages, errors, artifacts; returns the run id."""
        ...

    def record_many(
        self, results: list[ProbeResult], *, source: str = "run", batch: str | None = None
    ) -> list[int]:
        """Store several runs (and the attempts retries replaced) in one transaction."""
        ...

    def runs(
        self, probe: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[RunRow]:
        """Runs, newest first, optionally for one probe and since a time."""
        ...

    def runs_after(self, run_id: int) -> list[RunRow]:
        """Final runs recorded after a run id, oldest first."""
        ...

    def run_details(self, run_id: int) -> RunDetails | None:
        """One run with its steps, pages, errors, artifacts and expectations."""
        ...

    def last_runs(self, probe: str, limit: int = 5) -> list[RunDetails]:
        """A probe's latest final runs with their artifacts and failed step, newest first."""
        ...

    def recent_runs(self, probe: str, limit: int = 30) -> list[RunRow]:
        """A probe's last final runs, newest first."""
        ...

    def runs_window(self, probe: str, since: float, limit: int = 2000) -> list[RunRow]:
        """A probe's final runs since a time, oldest first (for time series)."""
        ...

    def step_window(self, run_ids: list[int]) -> list[StepTime]:
        """The passed and failed steps of these runs."""
        ...

    def samples(
        self,
        metric: Metric,
        probes: list[str],
        *,
        batch: str | None = None,
        since: float | None = None,
        until: float | None = None,
        location: str | None = None,
        production: bool = False,
        picked: Picked | None = None,
    ) -> dict[str, list[float]]:
        """A budget's samples per probe: final attempts, errored runs left out, NULLs skipped;
        one check's batch, or a window (of production runs only: CI checks' left out);
        `picked`: only runs under some conditions, violations of some impact and pages."""
        ...

    def probe_stats(self, since: float, probes: list[str]) -> dict[str, ProbeStats]:
        """Per probe: runs, passes, fails, errors since a time, and the last run."""
        ...

    def latest_by_location(self, probe: str, since: float) -> dict[str, RunRow]:
        """Each location's newest final production run of a probe since a time (of a matrix,
        a failing entry's if any entry's newest failed)."""
        ...

    def probe_paths(self, probes: list[str], since: float) -> list[str]:
        """The URLs a probe's recent runs visited (for customer impact)."""
        ...

    def lab_pages(self, since: float) -> list[LabPage]:
        """The pages journeys visited since a time, with their LCP and INP."""
        ...

    def prune_runs(self, before: float) -> int:
        """Delete runs that started before a time, with their steps, pages and errors."""
        ...

    def violation_counts(
        self, probe: str, since: float, limit: int = 2000
    ) -> list[tuple[float, int]]:
        """A probe's final production runs since a time that were checked for accessibility,
        oldest first: (started_at, distinct (rule, target) violations), as the budgets count."""
        ...

    # real users

    def insert_beacons(self, rows: list[BeaconRow]) -> int:
        """Store beacons in one transaction; a repeated dedupe key replaces the value."""
        ...

    def rum_samples(
        self,
        metric: str,
        *,
        since: float,
        until: float,
        page: str | None = None,
        device: str | None = None,
        app: str | None = None,
        synthetic: bool = False,
        task: str | None = None,
    ) -> list[float]:
        """Values of one real-user metric in a window; page is a glob (`/checkout*`), task
        keeps the sessions of one task."""
        ...

    def rum_error_rate(
        self,
        *,
        since: float,
        until: float,
        page: str | None = None,
        device: str | None = None,
        app: str | None = None,
        synthetic: bool = False,
        signal: str = "error",
        task: str | None = None,
    ) -> tuple[int, int]:
        """(page views with an uncaught error, page views) in a window; `signal` counts
        another kind instead (`rage_click`, `dead_click`, `error_click`); `task` keeps the
        sessions of one task."""
        ...

    def rum_task_sessions(
        self,
        task: str,
        *,
        since: float,
        until: float,
        device: str | None = None,
        app: str | None = None,
        synthetic: bool = False,
    ) -> tuple[int, int]:
        """(sessions that completed task, sessions that began it) in a window."""
        ...

    def rum_impact(self, pages: list[str], since: float, until: float) -> RumImpact:
        """Real users on these pages in a window: sessions, page loads, errors, LCP values."""
        ...

    def rum_values(
        self,
        since: float,
        until: float,
        metrics: tuple[str, ...] | None = None,
    ) -> list[RumValue]:
        """Real users' vitals in a window (every web vital the catalog lists, or these)."""
        ...

    def rum_facts(
        self, since: float, until: float, metrics: tuple[str, ...], anchors: tuple[str, ...] = ()
    ) -> list[RumFact]:
        """Real users' beacons of these metrics in a window, with a session, oldest first;
        with `anchors`, only of the sessions that sent one of those metrics in the window."""
        ...

    def rum_comments(self, since: float, until: float, limit: int = 10) -> list[RumComment]:
        """Real users' latest answers that came with a comment, newest first."""
        ...

    def rum_errors(self, since: float, until: float, limit: int = 20) -> list[RumError]:
        """Real users' uncaught errors in a window, most frequent first."""
        ...

    def rum_count(self, *, synthetic: bool = False) -> int:
        """Beacon rows from real users (or from observer's own journeys)."""
        ...

    def prune_beacons(self, before: float) -> int:
        """Delete beacons received before a time; returns how many."""
        ...

    # alerts

    def open_incidents(self) -> list[Incident]:
        """Incidents pending or firing, oldest first."""
        ...

    def save_incident(self, incident: Incident) -> int:
        """Insert or update an incident (by id); returns its id."""
        ...

    def fired_spans(
        self, subject: str, since: float, rule: str | None = None
    ) -> list[tuple[float, float | None]]:
        """(opened_at, resolved_at) of a subject's incidents (of one rule, if given) that
        fired, open at or after a time (resolved_at None: still open)."""
        ...

    def incident(self, incident_id: int) -> Incident | None:
        """One incident by id (without its notifications), or None."""
        ...

    def incidents(self, since: float | None = None, limit: int = 100) -> list[Incident]:
        """Incidents newest first, each with its notifications."""
        ...

    def add_notification(self, notification: Notification) -> None:
        """Record one delivery attempt (or a held or silenced notice)."""
        ...

    def notifications(self, kind: str | None = None) -> list[Notification]:
        """Every notification, oldest first (optionally of one kind)."""
        ...

    def add_silence(
        self, pattern: str, starts: float, ends: float, reason: str | None, who: str | None
    ) -> int:
        """Silence incidents whose rule or subject matches a glob until `ends`."""
        ...

    def silences(self, now: float, active_only: bool = True) -> list[Silence]:
        """Silences in force now (or all of them)."""
        ...

    def queue(self, item: Queued) -> int:
        """Write a notification down before it is sent; its id."""
        ...

    def dequeue(self, queued_id: int) -> None:
        """A written-down notification is done with."""
        ...

    def queued(self) -> list[Queued]:
        """Notifications written down and not delivered, oldest first."""
        ...

    def lead(self, role: str) -> bool:
        """Hold (or keep holding) the lead of a role among the processes sharing this
        database; False while another holds it. Always True on SQLite (one process)."""
        ...

    # several processes

    @property
    def shared(self) -> bool:
        """Observers on other machines may use this database (PostgreSQL)."""
        ...

    def db_time(self) -> float:
        """Now, by the database's clock."""
        ...

    def claim_slot(self, probe: str, location: str, slot: int, runner: str) -> bool:
        """Take one slot of a probe at a location; False if another runner has it."""
        ...

    def heartbeat(self, runner: RunnerRow) -> None:
        """Say this process is alive."""
        ...

    def runners(self, seen_since: float = 0.0) -> list[RunnerRow]:
        """Processes seen since a time."""
        ...

    def prune_slots(self, before: float) -> int:
        """Forget slot claims (and runners) older than a time."""
        ...

    def get_kv(self, key: str) -> str | None:
        """A small piece of state (such as how far `budgets --alert` has read)."""
        ...

    def set_kv(self, key: str, value: str) -> None:
        """Remember a small piece of state."""
        ...
