"""The only module that speaks SQL: schema, migrations, writes and window queries."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .results import ProbeResult

if TYPE_CHECKING:
    import sqlite_utils

BUSY_TIMEOUT_MS = 10_000


def _dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows as dicts by column name."""
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur]


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> int:
    """Insert rows that share the first row's keys; the last rowid.

    Plain INSERTs on the write path: sqlite-utils (used for the schema) would look up the
    table's columns on every insert and costs ~0.15 s to import in a one-shot `observer run`.
    """
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    if len(rows) == 1:
        return int(conn.execute(sql, [rows[0][c] for c in cols]).lastrowid or 0)
    conn.executemany(sql, [[row[c] for c in cols] for row in rows])
    return 0


class StoreError(Exception):
    """The database cannot be used: unreadable, from a newer observer, locked for too long."""


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


# Budget metric -> runs column. Errored runs never count: they say nothing about the site.
METRIC_COLUMNS = {
    "duration": "duration_ms",
    "time": "duration_ms",
    "ttfb": "ttfb_ms",
    "fcp": "fcp_ms",
    "lcp": "lcp_ms",
    "cls": "cls",
    "inp": "inp_ms",
    "load": "load_ms",
    "dcl": "dcl_ms",
    "errors": "error_count",
    "completion": "completed",
    "status": "http_status",
}


# A failed run stops early (or at its timeout): its length is not the task's. Failures count
# in completion; these time only runs that did the whole task.
TIMED_WHOLE_RUNS = frozenset({"duration", "time"})


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


MIGRATIONS: list[tuple[str, Migration]] = [
    ("runs, steps, page vitals, errors, artifacts, expectations", _m1_runs),
    ("real-user beacons", _m2_beacons),
    ("incidents, notifications, silences", _m3_alerts),
    ("step logs and captures, page flags, trace replays", _m4_failures_and_pages),
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


class Store:
    """observer's database: open it, and it is migrated to the current schema."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self._db: sqlite_utils.Database | None = None
        self._lock = threading.RLock()
        try:
            self.migrate()
        except BaseException:
            self.conn.close()  # refused (newer schema, locked): do not leak the connection
            raise

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils over the connection, for schema work (imported only when needed)."""
        if self._db is None:
            import sqlite_utils

            self._db = sqlite_utils.Database(self.conn)
        return self._db

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taken up front so concurrent writers queue, not fail."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: {exc}") from None
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")

    def schema_version(self) -> int:
        """The migrations applied to this file."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not had yet."""
        try:
            current = self.schema_version()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not an SQLite database ({exc})") from None
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {current}, newer than this observer knows "
                f"({SCHEMA_VERSION}); upgrade observer"
            )
        if current == SCHEMA_VERSION:
            return
        with self.transaction():
            current = self.schema_version()  # another process may have migrated meanwhile
            if not self.db.table("migrations").exists():
                self.db.table("migrations").create(
                    {"version": int, "name": str, "applied_at": float}, pk="version"
                )
            for version, (name, fn) in enumerate(MIGRATIONS, start=1):
                if version <= current:
                    continue
                fn(self.db)
                self.db.table("migrations").insert(
                    {"version": version, "name": name, "applied_at": time.time()}
                )
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------------ writes

    def record(self, result: ProbeResult, *, source: str = "run", batch: str | None = None) -> int:
        """Store one run with its steps, pages, errors, artifacts; returns the run id."""
        return self.record_many([result], source=source, batch=batch)[0]

    def record_many(
        self, results: list[ProbeResult], *, source: str = "run", batch: str | None = None
    ) -> list[int]:
        """Store several runs (and the attempts retries replaced) in one transaction."""
        ids: list[int] = []
        with self.transaction():
            for result in results:
                for attempt in result.retried:
                    self._insert_run(attempt, source, batch)
                ids.append(self._insert_run(result, source, batch))
        return ids

    def _insert_run(self, r: ProbeResult, source: str, batch: str | None) -> int:
        http = r.http
        row: dict[str, Any] = {
            "probe": r.probe,
            "kind": r.kind,
            "outcome": str(r.outcome),
            "started_at": r.started_at,
            "duration_ms": r.duration_ms,
            "completed": int(r.completed),
            "last_mark": r.last_mark,
            "error": r.error,
            "failed_step": r.failed_step,
            "attempt": r.attempt,
            "location": r.location,
            "device": r.device,
            "source": source,
            "batch": batch,
            "final": int(r.final),
            "replay": str(r.replay.outcome) if r.replay else None,
            "error_count": len(r.errors),
            "http_status": http.status if http else None,
            "size_bytes": http.size_bytes if http else None,
        }
        row.update(r.vitals)
        if http is not None:
            row["ttfb_ms"] = http.ttfb_ms
        run_id = _insert(self.conn, "runs", [row])
        r.run_id = run_id
        if r.steps:
            _insert(
                self.conn,
                "steps",
                [
                    {
                        "run_id": run_id,
                        "idx": s.index,
                        "name": s.name,
                        "action": s.action,
                        "outcome": str(s.outcome),
                        "start_ms": s.start_ms,
                        "duration_ms": s.duration_ms,
                        "error": s.error,
                        "url": s.url,
                        "log": s.log,
                        "captured": json.dumps(s.captured) if s.captured else None,
                    }
                    for s in r.steps
                ],
            )
        if r.pages:
            _insert(
                self.conn,
                "page_vitals",
                [{"run_id": run_id, "seq": i, **asdict(p)} for i, p in enumerate(r.pages)],
            )
        if r.errors:
            _insert(self.conn, "errors", [{"run_id": run_id, **asdict(e)} for e in r.errors])
        if r.artifacts:
            _insert(self.conn, "artifacts", [{"run_id": run_id, **asdict(a)} for a in r.artifacts])
        if http is not None and http.expectations:
            _insert(
                self.conn,
                "expectations",
                [
                    {
                        "run_id": run_id,
                        "name": e.name,
                        "outcome": str(e.outcome),
                        "expected": e.expected,
                        "actual": e.actual,
                    }
                    for e in http.expectations
                ],
            )
        return run_id

    # ------------------------------------------------------------------ reads

    def runs(
        self, probe: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Runs, newest first, optionally for one probe and since a time."""
        where: list[str] = []
        args: list[Any] = []
        if probe is not None:
            where.append("probe = ?")
            args.append(probe)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        sql = "select * from runs"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by started_at desc limit ?"
        args.append(limit)
        return _dicts(self.conn.execute(sql, args))

    def run_details(self, run_id: int) -> dict[str, Any] | None:
        """One run with its steps, pages, errors, artifacts and expectations."""
        rows = _dicts(self.conn.execute("select * from runs where id = ?", [run_id]))
        if not rows:
            return None
        run = rows[0]
        for table, order in (
            ("steps", "idx"),
            ("page_vitals", "seq"),
            ("errors", "rowid"),
            ("artifacts", "rowid"),
            ("expectations", "rowid"),
        ):
            run[table] = _dicts(
                self.conn.execute(
                    f"select * from {table} where run_id = ? order by {order}", [run_id]
                )
            )
        return run

    def samples(
        self,
        metric: str,
        probes: list[str],
        *,
        step: str | None = None,
        batch: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> dict[str, list[float]]:
        """A budget's samples per probe: final attempts, errored runs left out, NULLs skipped."""
        marks = ",".join("?" * len(probes))
        where = [f"r.probe in ({marks})", "r.final = 1", "r.outcome != 'error'"]
        args: list[Any] = list(probes)
        if batch is not None:
            where.append("r.batch = ?")
            args.append(batch)
        if since is not None:
            where.append("r.started_at >= ?")
            args.append(since)
        if until is not None:
            where.append("r.started_at < ?")
            args.append(until)
        if step is not None:
            sql = (
                "select r.probe, s.duration_ms from runs r join steps s on s.run_id = r.id "
                f"where {' and '.join(where)} and s.name = ? and s.outcome = 'pass' "
                "order by r.started_at"
            )
            args.append(step)
        else:
            column = METRIC_COLUMNS[metric]
            if metric in TIMED_WHOLE_RUNS:
                where.append("r.outcome = 'pass'")
            sql = (
                f"select r.probe, r.{column} from runs r where {' and '.join(where)} "
                f"and r.{column} is not null order by r.started_at"
            )
        out: dict[str, list[float]] = {p: [] for p in probes}
        for probe, value in self.conn.execute(sql, args):
            out[probe].append(float(value))
        return out

    # ------------------------------------------------------------------ beacons

    BEACON_COLUMNS = (
        "received_at",
        "app",
        "page",
        "metric",
        "value",
        "rating",
        "nav_type",
        "device",
        "browser",
        "session",
        "load_id",
        "synthetic",
        "label",
        "detail",
        "format",
        "dedupe",
    )

    def insert_beacons(self, rows: list[tuple[Any, ...]]) -> int:
        """Store beacon rows (in BEACON_COLUMNS order) in one transaction; returns rows written.

        A row whose dedupe key is already stored replaces the value: web-vitals reports a
        metric again under the same id as it grows (CLS, INP), and a retried request
        carries the same keys, so it is never counted twice.
        """
        cols = ", ".join(self.BEACON_COLUMNS)
        marks = ", ".join("?" * len(self.BEACON_COLUMNS))
        sql = (
            f"insert into beacons ({cols}) values ({marks}) on conflict (dedupe) "
            "where dedupe is not null do update set value = excluded.value, "
            "rating = excluded.rating, detail = excluded.detail"
        )
        with self.transaction():
            before = self.conn.total_changes
            self.conn.executemany(sql, rows)
            return self.conn.total_changes - before

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
    ) -> list[float]:
        """Values of one real-user metric in a window; page is a glob (`/checkout*`)."""
        where, args = self._rum_where(metric, since, until, page, device, app, synthetic)
        sql = f"select value from beacons where {where} and value is not null"
        return [float(v) for (v,) in self.conn.execute(sql, args)]

    def rum_error_rate(
        self,
        *,
        since: float,
        until: float,
        page: str | None = None,
        device: str | None = None,
        app: str | None = None,
        synthetic: bool = False,
    ) -> tuple[int, int]:
        """(page loads with an uncaught error, page loads) in a window."""
        where, args = self._rum_where("pageview", since, until, page, device, app, synthetic)
        loads = self.conn.execute(
            f"select count(distinct load_id) from beacons where {where}", args
        ).fetchone()[0]
        where_e, args_e = self._rum_where("error", since, until, page, device, app, synthetic)
        errored = self.conn.execute(
            f"select count(distinct load_id) from beacons where {where_e} and load_id in "
            f"(select load_id from beacons where {where})",
            [*args_e, *args],
        ).fetchone()[0]
        return int(errored), int(loads)

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
        where_b, args_b = self._rum_where("task_begin", since, until, None, device, app, synthetic)
        where_c, args_c = self._rum_where(
            "task_complete", since, until, None, device, app, synthetic
        )
        began = self.conn.execute(
            f"select count(distinct session) from beacons where {where_b} and label = ?",
            [*args_b, task],
        ).fetchone()[0]
        done = self.conn.execute(
            f"select count(distinct session) from beacons where {where_c} and label = ? "
            f"and session in (select session from beacons where {where_b} and label = ?)",
            [*args_c, task, *args_b, task],
        ).fetchone()[0]
        return int(done), int(began)

    @staticmethod
    def _rum_where(
        metric: str,
        since: float,
        until: float,
        page: str | None,
        device: str | None,
        app: str | None,
        synthetic: bool,
    ) -> tuple[str, list[Any]]:
        where = ["metric = ?", "received_at >= ?", "received_at < ?", "synthetic = ?"]
        args: list[Any] = [metric, since, until, int(synthetic)]
        if page is not None:
            where.append("page glob ?")
            args.append(page)
        if device is not None:
            where.append("device = ?")
            args.append(device)
        if app is not None:
            where.append("app = ?")
            args.append(app)
        return " and ".join(where), args

    def prune_runs(self, before: float) -> int:
        """Delete runs that started before a time, with their steps, pages, errors, files."""
        with self.transaction():
            old = "select id from runs where started_at < ?"
            for table in ("steps", "page_vitals", "errors", "artifacts", "expectations"):
                self.conn.execute(f"delete from {table} where run_id in ({old})", [before])
            cur = self.conn.execute("delete from runs where started_at < ?", [before])
            return int(cur.rowcount)

    def probe_stats(self, since: float, probes: list[str]) -> dict[str, dict[str, Any]]:
        """Per probe: runs, passes, fails, errors since a time, and the last run."""
        out: dict[str, dict[str, Any]] = {}
        rows = self.conn.execute(
            "select probe, count(*), sum(outcome = 'pass'), sum(outcome = 'fail'), "
            "sum(outcome = 'error') from runs where started_at >= ? and final = 1 "
            "group by probe",
            [since],
        )
        for probe, n, passed, failed, errored in rows:
            out[probe] = {"runs": n, "pass": passed, "fail": failed, "error": errored}
        # The newest run of each probe, one index probe each (a GROUP BY would scan every run).
        for probe in probes:
            cur = self.conn.execute(
                "select * from runs where probe = ? and final = 1 order by started_at desc limit 1",
                [probe],
            )
            cols = [d[0] for d in cur.description]
            row = cur.fetchone()
            if row is None:
                continue
            rec = dict(zip(cols, row, strict=True))
            out.setdefault(probe, {"runs": 0, "pass": 0, "fail": 0, "error": 0})
            out[probe]["last"] = rec
        return out

    # ------------------------------------------------------------------ incidents

    INCIDENT_FIELDS = (
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

    def open_incidents(self) -> list[dict[str, Any]]:
        """Incidents pending or firing, oldest first."""
        cur = self.conn.execute(
            "select * from incidents where state in ('pending', 'firing') order by opened_at"
        )
        return _dicts(cur)

    def save_incident(self, incident: dict[str, Any]) -> int:
        """Insert or update an incident (by id); returns its id."""
        values = [incident.get(k) for k in self.INCIDENT_FIELDS]
        with self.transaction():
            if incident.get("id"):
                sets = ", ".join(f"{k} = ?" for k in self.INCIDENT_FIELDS)
                self.conn.execute(
                    f"update incidents set {sets} where id = ?", [*values, incident["id"]]
                )
                return int(incident["id"])
            cols = ", ".join(self.INCIDENT_FIELDS)
            marks = ", ".join("?" * len(self.INCIDENT_FIELDS))
            cur = self.conn.execute(f"insert into incidents ({cols}) values ({marks})", values)
            return int(cur.lastrowid or 0)

    def incidents(self, since: float | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Incidents newest first, each with its notifications."""
        where, args = ("where opened_at >= ?", [since]) if since is not None else ("", [])
        cur = self.conn.execute(
            f"select * from incidents {where} order by opened_at desc limit ?", [*args, limit]
        )
        out = _dicts(cur)
        for inc in out:
            n = self.conn.execute(
                "select channel, kind, status, attempt, error, at from notifications "
                "where incident_id = ? order by at, id",
                [inc["id"]],
            )
            ncols = [d[0] for d in n.description]
            inc["notifications"] = [dict(zip(ncols, row, strict=True)) for row in n]
        return out

    def add_notification(self, row: dict[str, Any]) -> None:
        """Record one delivery attempt (or a held or silenced notice)."""
        cols = (
            "incident_id",
            "rule",
            "channel",
            "kind",
            "status",
            "attempt",
            "error",
            "title",
            "at",
        )
        with self.transaction():
            self.conn.execute(
                f"insert into notifications ({', '.join(cols)}) values "
                f"({', '.join('?' * len(cols))})",
                [row.get(c) for c in cols],
            )

    def notifications(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every notification row, oldest first (optionally of one kind)."""
        sql = "select * from notifications" + (" where kind = ?" if kind else "") + " order by id"
        cur = self.conn.execute(sql, [kind] if kind else [])
        return _dicts(cur)

    def add_silence(
        self, pattern: str, starts: float, ends: float, reason: str | None, who: str | None
    ) -> int:
        """Silence incidents whose rule or subject matches a glob until `ends`."""
        with self.transaction():
            cur = self.conn.execute(
                "insert into silences (pattern, starts_at, ends_at, reason, created_by) "
                "values (?, ?, ?, ?, ?)",
                [pattern, starts, ends, reason, who],
            )
            return int(cur.lastrowid or 0)

    def silences(self, now: float, active_only: bool = True) -> list[dict[str, Any]]:
        """Silences in force now (or all of them)."""
        sql = (
            "select * from silences"
            + (" where starts_at <= ? and ends_at > ?" if active_only else "")
            + " order by ends_at"
        )
        cur = self.conn.execute(sql, [now, now] if active_only else [])
        return _dicts(cur)

    def last_runs(self, probe: str, limit: int = 5) -> list[dict[str, Any]]:
        """A probe's latest final runs with their artifacts, newest first."""
        cur = self.conn.execute(
            "select * from runs where probe = ? and final = 1 order by started_at desc limit ?",
            [probe, limit],
        )
        out = _dicts(cur)
        for run in out:
            run["artifacts"] = [
                {"kind": k, "path": p}
                for k, p in self.conn.execute(
                    "select kind, path from artifacts where run_id = ?", [run["id"]]
                )
            ]
            failed = self.conn.execute(
                "select name, error from steps where run_id = ? and outcome in ('fail', 'error') "
                "order by idx limit 1",
                [run["id"]],
            ).fetchone()
            run["failed_step_name"], run["failed_step_error"] = failed or (None, None)
        return out

    def probe_paths(self, probes: list[str], since: float) -> list[str]:
        """The URLs a probe's recent runs visited (for customer impact)."""
        marks = ",".join("?" * len(probes))
        cur = self.conn.execute(
            f"select distinct v.url from page_vitals v join runs r on r.id = v.run_id "
            f"where r.probe in ({marks}) and r.started_at >= ?",
            [*probes, since],
        )
        return [row[0] for row in cur]

    def rum_impact(self, pages: list[str], since: float, until: float) -> dict[str, Any]:
        """Real users on these pages in a window: sessions, page loads, errors, p75 LCP."""
        if not pages:
            return {"sessions": 0, "loads": 0, "errored": 0, "lcp": []}
        marks = ",".join("?" * len(pages))
        base = f"received_at >= ? and received_at < ? and synthetic = 0 and page in ({marks})"
        args = [since, until, *pages]
        sessions, loads = self.conn.execute(
            f"select count(distinct session), count(distinct load_id) from beacons where {base} "
            "and metric = 'pageview'",
            args,
        ).fetchone()
        errored = self.conn.execute(
            f"select count(distinct load_id) from beacons where {base} and metric = 'error'", args
        ).fetchone()[0]
        lcp = [
            v
            for (v,) in self.conn.execute(
                f"select value from beacons where {base} and metric = 'lcp'", args
            )
        ]
        return {
            "sessions": int(sessions),
            "loads": int(loads),
            "errored": int(errored),
            "lcp": [float(v) for v in lcp],
        }

    def get_kv(self, key: str) -> str | None:
        """A small piece of state (such as how far `budgets --alert` has read)."""
        row = self.conn.execute("select value from kv where key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_kv(self, key: str, value: str) -> None:
        """Remember a small piece of state."""
        with self.transaction():
            self.conn.execute(
                "insert into kv (key, value) values (?, ?) on conflict (key) "
                "do update set value = excluded.value",
                [key, value],
            )

    def runs_after(self, run_id: int) -> list[dict[str, Any]]:
        """Final runs recorded after a run id, oldest first."""
        cur = self.conn.execute(
            "select * from runs where id > ? and final = 1 order by id", [run_id]
        )
        return _dicts(cur)

    # ------------------------------------------------------------------ dashboard

    def recent_runs(self, probe: str, limit: int = 30) -> list[dict[str, Any]]:
        """A probe's last final runs, newest first (id, time, outcome, duration, vitals)."""
        cur = self.conn.execute(
            "select id, started_at, outcome, duration_ms, error, ttfb_ms, fcp_ms, lcp_ms, cls, "
            "inp_ms, load_ms, http_status, attempt, location from runs "
            "where probe = ? and final = 1 order by started_at desc limit ?",
            [probe, limit],
        )
        return _dicts(cur)

    def runs_window(self, probe: str, since: float, limit: int = 2000) -> list[dict[str, Any]]:
        """A probe's final runs since a time, oldest first (for time series)."""
        cur = self.conn.execute(
            "select * from (select id, started_at, outcome, duration_ms, ttfb_ms, fcp_ms, lcp_ms,"
            " cls, inp_ms, load_ms from runs where probe = ? and final = 1 and started_at >= ? "
            "order by started_at desc limit ?) order by started_at",
            [probe, since, limit],
        )
        return _dicts(cur)

    def step_window(self, run_ids: list[int]) -> list[tuple[int, str, float, str]]:
        """(run id, step name, duration, outcome) of these runs' steps."""
        if not run_ids:
            return []
        marks = ",".join("?" * len(run_ids))
        cur = self.conn.execute(
            f"select run_id, name, duration_ms, outcome from steps where run_id in ({marks}) "
            "and outcome in ('pass', 'fail') order by run_id, idx",
            run_ids,
        )
        return [(int(a), str(b), float(c or 0), str(d)) for a, b, c, d in cur]

    def open_incident_rows(self) -> list[dict[str, Any]]:
        """Open incidents for the overview."""
        return self.open_incidents()

    def rum_values(
        self,
        since: float,
        until: float,
        metrics: tuple[str, ...] = ("lcp", "inp", "cls", "fcp", "ttfb"),
    ) -> list[tuple[float, str, str, float, str | None, str | None]]:
        """(time, page, metric, value, rating, device) of real users' vitals in a window."""
        marks = ",".join("?" * len(metrics))
        cur = self.conn.execute(
            f"select received_at, page, metric, value, rating, device from beacons "
            f"where metric in ({marks}) and received_at >= ? and received_at < ? "
            "and synthetic = 0 and value is not null",
            [*metrics, since, until],
        )
        return list(cur)

    def rum_errors(self, since: float, until: float, limit: int = 20) -> list[dict[str, Any]]:
        """Real users' uncaught errors in a window, most frequent first."""
        cur = self.conn.execute(
            "select label, detail, page, count(*) as n, count(distinct session) as sessions, "
            "max(received_at) as last from beacons where metric = 'error' and received_at >= ? "
            "and received_at < ? and synthetic = 0 group by label, detail, page "
            "order by n desc limit ?",
            [since, until, limit],
        )
        return _dicts(cur)

    def lab_pages(self, since: float) -> list[tuple[str, str, float | None, float | None]]:
        """(probe, page URL, LCP, INP) of the pages journeys visited since a time."""
        cur = self.conn.execute(
            "select r.probe, v.url, v.lcp_ms, v.inp_ms from page_vitals v "
            "join runs r on r.id = v.run_id where r.started_at >= ?",
            [since],
        )
        return list(cur)

    def rum_count(self, *, synthetic: bool = False) -> int:
        """Beacon rows from real users (or from observer's own journeys)."""
        row = self.conn.execute(
            "select count(*) from beacons where synthetic = ?", [int(synthetic)]
        ).fetchone()
        return int(row[0])

    def prune_beacons(self, before: float) -> int:
        """Delete beacons received before a time; returns how many."""
        with self.transaction():
            cur = self.conn.execute("delete from beacons where received_at < ?", [before])
            return int(cur.rowcount)

    def count(self, table: str) -> int:
        """Rows in a table."""
        return int(self.db.table(table).count)
