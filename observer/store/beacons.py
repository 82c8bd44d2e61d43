"""Real users' beacons in SQLite: group-committed writes and window queries."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .connection import Connection, marks
from .rows import BeaconRow, RumError, RumImpact, RumValue

BEACON_COLUMNS = tuple(f.name for f in fields(BeaconRow))


def _where(
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
    for clause, value in (("page glob ?", page), ("device = ?", device), ("app = ?", app)):
        if value is not None:
            where.append(clause)
            args.append(value)
    return " and ".join(where), args


class Beacons(Connection):
    """Beacon rows: one per metric, error, page view or task milestone."""

    def insert_beacons(self, rows: list[BeaconRow]) -> int:
        """Store beacons in one transaction; returns rows written.

        A row whose dedupe key is already stored replaces the value: web-vitals reports a
        metric again under the same id as it grows (CLS, INP), and a retried request
        carries the same keys, so it is never counted twice.
        """
        sql = (
            f"insert into beacons ({', '.join(BEACON_COLUMNS)}) "
            f"values ({marks(len(BEACON_COLUMNS))}) on conflict (dedupe) "
            "where dedupe is not null do update set value = excluded.value, "
            "rating = excluded.rating, detail = excluded.detail"
        )
        values = [[c[name] for name in BEACON_COLUMNS] for c in (r.columns() for r in rows)]
        with self.transaction():
            before = self.conn.total_changes
            self.conn.executemany(sql, values)
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
        where, args = _where(metric, since, until, page, device, app, synthetic)
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
        where, args = _where("pageview", since, until, page, device, app, synthetic)
        loads = self.conn.execute(
            f"select count(distinct load_id) from beacons where {where}", args
        ).fetchone()[0]
        where_e, args_e = _where("error", since, until, page, device, app, synthetic)
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
        where_b, args_b = _where("task_begin", since, until, None, device, app, synthetic)
        where_c, args_c = _where("task_complete", since, until, None, device, app, synthetic)
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

    def rum_impact(self, pages: list[str], since: float, until: float) -> RumImpact:
        """Real users on these pages in a window: sessions, page loads, errors, LCP values."""
        if not pages:
            return RumImpact()
        base = (
            "received_at >= ? and received_at < ? and synthetic = 0 "
            f"and page in ({marks(len(pages))})"
        )
        args = [since, until, *pages]
        sessions, loads = self.conn.execute(
            f"select count(distinct session), count(distinct load_id) from beacons where {base} "
            "and metric = 'pageview'",
            args,
        ).fetchone()
        errored = self.conn.execute(
            f"select count(distinct load_id) from beacons where {base} and metric = 'error'", args
        ).fetchone()[0]
        lcp = self.conn.execute(f"select value from beacons where {base} and metric = 'lcp'", args)
        return RumImpact(int(sessions), int(loads), int(errored), [float(v) for (v,) in lcp])

    def rum_values(
        self,
        since: float,
        until: float,
        metrics: tuple[str, ...] = ("lcp", "inp", "cls", "fcp", "ttfb"),
    ) -> list[RumValue]:
        """Real users' vitals in a window."""
        cur = self.conn.execute(
            f"select received_at, page, metric, value, rating, device from beacons "
            f"where metric in ({marks(len(metrics))}) and received_at >= ? and received_at < ? "
            "and synthetic = 0 and value is not null",
            [*metrics, since, until],
        )
        return [RumValue(*row) for row in cur]

    def rum_errors(self, since: float, until: float, limit: int = 20) -> list[RumError]:
        """Real users' uncaught errors in a window, most frequent first."""
        cur = self.conn.execute(
            "select label, detail, page, count(*) as n, count(distinct session) as sessions, "
            "max(received_at) as last from beacons where metric = 'error' and received_at >= ? "
            "and received_at < ? and synthetic = 0 group by label, detail, page "
            "order by n desc limit ?",
            [since, until, limit],
        )
        return [RumError(*row) for row in cur]

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
