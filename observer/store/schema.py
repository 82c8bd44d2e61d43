"""The SQLite schema: its migrations, in order, and how a connection is opened."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import StoreError

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


Migration = Callable[["sqlite_utils.Database"], None]


def _m1_runs(db: sqlite_utils.Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "probe": str,
            "kind": str,
            "outcome": str,
            "started_at": float,
            "duration_ms": float,
            "completed": int,
            "last_mark": str,
            "error": str,
            "failed_step": int,
            "attempt": int,
            "location": str,
            "device": str,
            "source": str,
            "batch": str,
            "final": int,
            "ttfb_ms": float,
            "fcp_ms": float,
            "lcp_ms": float,
            "cls": float,
            "inp_ms": float,
            "dcl_ms": float,
            "load_ms": float,
            "error_count": int,
            "http_status": int,
            "size_bytes": int,
        },
        pk="id",
        not_null={"probe", "kind", "outcome", "started_at"},
        defaults={"final": 1},
    )
    db.table("runs").create_index(["probe", "started_at"], index_name="runs_probe_time")
    db.table("runs").create_index(["started_at"], index_name="runs_time")
    db.table("runs").create_index(["batch"], index_name="runs_batch")
    db.table("steps").create(
        {
            "run_id": int,
            "idx": int,
            "name": str,
            "action": str,
            "outcome": str,
            "start_ms": float,
            "duration_ms": float,
            "error": str,
            "url": str,
        },
        pk=("run_id", "idx"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("page_vitals").create(
        {
            "run_id": int,
            "seq": int,
            "step_index": int,
            "url": str,
            "ttfb_ms": float,
            "fcp_ms": float,
            "lcp_ms": float,
            "cls": float,
            "inp_ms": float,
            "dcl_ms": float,
            "load_ms": float,
        },
        pk=("run_id", "seq"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("errors").create(
        {"run_id": int, "kind": str, "message": str, "url": str, "step_index": int},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("errors").create_index(["run_id"], index_name="errors_run")
    db.table("artifacts").create(
        {"run_id": int, "kind": str, "path": str, "step_index": int},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("artifacts").create_index(["run_id"], index_name="artifacts_run")
    db.table("expectations").create(
        {"run_id": int, "name": str, "outcome": str, "expected": str, "actual": str},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("expectations").create_index(["run_id"], index_name="expectations_run")


# Append only: a released observer's database must open in every later version.
def _m2_beacons(db: sqlite_utils.Database) -> None:
    # Real-user beacons: one row per metric, error, page view or task milestone. Never the raw
    # IP or user agent: browser family and device class only.
    db.execute(
        """create table beacons (
            id integer primary key,
            received_at real not null,
            app text,
            page text,
            metric text not null,
            value real,
            rating text,
            nav_type text,
            device text,
            browser text,
            session text,
            load_id text,
            synthetic integer not null default 0,
            label text,
            detail text,
            format text,
            dedupe text
        )"""
    )
    db.execute("create index beacons_metric_time on beacons (metric, received_at)")
    db.execute("create index beacons_time on beacons (received_at)")
    db.execute("create unique index beacons_dedupe on beacons (dedupe) where dedupe is not null")


def _m3_alerts(db: sqlite_utils.Database) -> None:
    # One row per incident: opened on the first breach, closed when resolved (or when the
    # breach passes before it fired). Open rows survive restarts: nothing is sent twice.
    db.execute(
        """create table incidents (
            id integer primary key,
            rule text not null,
            subject text not null,
            kind text not null,
            state text not null,
            breaches integer not null default 0,
            healthy integer not null default 0,
            opened_at real not null,
            fired_at real,
            resolved_at real,
            last_notified_at real,
            notified integer not null default 0,
            severity text,
            title text,
            body text,
            value real,
            run_id integer
        )"""
    )
    db.execute("create index incidents_open on incidents (rule, subject, state)")
    db.execute("create index incidents_time on incidents (opened_at)")
    db.execute(
        """create table notifications (
            id integer primary key,
            incident_id integer,
            rule text,
            channel text,
            kind text not null,
            status text not null,
            attempt integer not null default 1,
            error text,
            title text,
            at real not null
        )"""
    )
    db.execute("create index notifications_incident on notifications (incident_id)")
    db.execute("create index notifications_time on notifications (at)")
    db.execute("create table kv (key text primary key, value text)")
    db.execute(
        """create table silences (
            id integer primary key,
            pattern text not null,
            starts_at real not null,
            ends_at real not null,
            reason text,
            created_by text
        )"""
    )


def _m4_failures_and_pages(db: sqlite_utils.Database) -> None:
    # Why a step failed, in Playwright's words (its call log), and what a step captured.
    db.execute("alter table steps add column log text")
    db.execute("alter table steps add column captured text")  # JSON, secrets as ***
    # How a page's INP was measured, and pages the journey left early or read unsettled.
    db.execute("alter table page_vitals add column inp_source text")
    db.execute("alter table page_vitals add column left_before_load integer not null default 0")
    db.execute("alter table page_vitals add column partial integer not null default 0")
    # A failed run replayed with tracing, for its trace: how the replay ended.
    db.execute("alter table runs add column replay text")


def _m5_copies(db: sqlite_utils.Database) -> None:
    # `observer db copy`: which row of which source became which row here, so that a copy
    # that stopped resumes where it stopped and several sources merge without clashing ids.
    db.execute(
        """create table copies (
            source text not null,
            tbl text not null,
            old_id integer not null,
            new_id integer not null,
            primary key (source, tbl, old_id)
        )"""
    )


def _m6_cluster(db: sqlite_utils.Database) -> None:
    # Runners sharing one database: each heartbeats here, and claims each slot of a probe
    # (probe, location, slot number) once, so no slot runs twice at one location.
    db.execute(
        """create table runners (
            id text primary key,
            location text,
            version text,
            config_hash text,
            roles text,
            started_at real not null,
            last_seen real not null,
            in_flight integer not null default 0
        )"""
    )
    db.execute(
        """create table slots (
            probe text not null,
            location text not null,
            slot integer not null,
            runner text not null,
            claimed_at real not null,
            primary key (probe, location, slot)
        )"""
    )
    db.execute("create index slots_time on slots (claimed_at)")


def _m7_outbox(db: sqlite_utils.Database) -> None:
    # Notifications decided but not yet delivered: written before sending, removed once the
    # channel answered (or every retry failed), so a new leading alerter sends what is left.
    db.execute(
        """create table outbox (
            id integer primary key,
            incident_id integer,
            rule text not null,
            channel text not null,
            kind text not null,
            title text not null,
            attach text,
            queued_at real not null
        )"""
    )


def _m8_spooled(db: sqlite_utils.Database) -> None:
    # A runner says how many results wait in its spool: the database is not taking them.
    db.execute("alter table runners add column spooled integer not null default 0")


def _m9_nothing(db: sqlite_utils.Database) -> None:
    # PostgreSQL's ninth migration gives beacon days to accounts that do not own the tables;
    # a file has no accounts, but keeps the numbering shared.
    pass


def _m10_conditions_and_accessibility(db: sqlite_utils.Database) -> None:
    # What each run ran under (device, network, CPU: JSON), how many pages it checked with
    # axe-core, and each accessibility rule an element broke on a page.
    db.execute("alter table runs add column conditions text")
    db.execute("alter table runs add column a11y_pages integer")
    db.execute(
        """create table a11y_violations (
            run_id integer not null references runs(id),
            url text not null,
            page text not null,
            step_index integer,
            rule text not null,
            impact text not null,
            target text not null,
            help text,
            help_url text,
            source text
        )"""
    )
    db.execute("create index a11y_violations_run on a11y_violations (run_id)")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("runs, steps, page vitals, errors, artifacts, expectations", _m1_runs),
    ("real-user beacons", _m2_beacons),
    ("incidents, notifications, silences", _m3_alerts),
    ("step logs and captures, page flags, trace replays", _m4_failures_and_pages),
    ("what db copy has copied", _m5_copies),
    ("runners and the slots they claim", _m6_cluster),
    ("notifications waiting to be sent", _m7_outbox),
    ("how much waits in each runner's spool", _m8_spooled),
    ("beacon days made and dropped for accounts that do not own them", _m9_nothing),
    ("conditions of runs, and accessibility violations", _m10_conditions_and_accessibility),
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection tuned for one writer and many readers across processes."""
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _set_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(f"{path}: cannot open as an SQLite database: {exc}") from None
    return conn


def _set_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs an exclusive lock and SQLite does not wait for it
    # (busy_timeout does not apply), so processes opening a new file together would fail.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)
