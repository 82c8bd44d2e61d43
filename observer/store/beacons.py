"""Real users' beacons: the window queries budgets and pages make (each engine writes them)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from .. import catalog
from .rows import BeaconRow, RumComment, RumError, RumFact, RumImpact, RumValue
from .sql import Engine, marks

BEACON_COLUMNS = tuple(f.name for f in fields(BeaconRow))


# A task's sessions are found by what they said of it up to this long before the window.
TASK_LOOKBACK = 86400.0
ANSWERS = ("csat", "ces", "nps")  # labelled with their task themselves


class Beacons(Engine):
    """Beacon rows: one per metric, error, page view or task milestone. Writing them
    (`insert_beacons`) differs by engine: see sqlite.py and postgres.py."""

    def insert_beacons(self, rows: list[BeaconRow]) -> int:
        """Store beacons in one transaction; each engine writes them its own way."""
        raise NotImplementedError

    def _where(
        self,
        metric: str,
        since: float,
        until: float,
        page: str | None,
        device: str | None,
        app: str | None,
        synthetic: bool,
        task: str | None = None,
    ) -> tuple[str, list[Any]]:
        where = ["metric = ?", "received_at >= ?", "received_at < ?", "synthetic = ?"]
        args: list[Any] = [metric, since, until, int(synthetic)]
        if page is not None:
            where.append(self.glob("page"))
            args.append(self.glob_arg(page))
        for clause, value in (("device = ?", device), ("app = ?", app)):
            if value is not None:
                where.append(clause)
                args.append(value)
        if task is not None and metric in ANSWERS:
            where.append("label = ?")  # the answers about that task
            args.append(task)
        elif task is not None:
            # The sessions of one task: those that began it, or answered feedback about it.
            where.append(
                "session in (select session from beacons where label = ? and metric in "
                "('task_begin', 'csat', 'ces', 'nps') and received_at >= ? and received_at < ?)"
            )
            args += [task, since - TASK_LOOKBACK, until]
        return " and ".join(where), args

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
        where, args = self._where(metric, since, until, page, device, app, synthetic, task)
        sql = f"select value from beacons where {where} and value is not null"
        return [float(v) for (v,) in self.all(sql, args)]

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
        where, args = self._where("pageview", since, until, page, device, app, synthetic, task)
        loads = self.scalar(f"select count(distinct load_id) from beacons where {where}", args)
        where_e, args_e = self._where(signal, since, until, page, device, app, synthetic, task)
        errored = self.scalar(
            f"select count(distinct load_id) from beacons where {where_e} and load_id in "
            f"(select load_id from beacons where {where})",
            [*args_e, *args],
        )
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
        where_b, args_b = self._where("task_begin", since, until, None, device, app, synthetic)
        where_c, args_c = self._where("task_complete", since, until, None, device, app, synthetic)
        began = self.scalar(
            f"select count(distinct session) from beacons where {where_b} and label = ?",
            [*args_b, task],
        )
        done = self.scalar(
            f"select count(distinct session) from beacons where {where_c} and label = ? "
            f"and session in (select session from beacons where {where_b} and label = ?)",
            [*args_c, task, *args_b, task],
        )
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
        sessions, loads = self.first(
            f"select count(distinct session), count(distinct load_id) from beacons where {base} "
            "and metric = 'pageview'",
            args,
        ) or (0, 0)
        errored = self.scalar(
            f"select count(distinct load_id) from beacons where {base} and metric = 'error'", args
        )
        lcp = self.all(f"select value from beacons where {base} and metric = 'lcp'", args)
        return RumImpact(int(sessions), int(loads), int(errored), [float(v) for (v,) in lcp])

    def rum_values(
        self,
        since: float,
        until: float,
        metrics: tuple[str, ...] | None = None,
    ) -> list[RumValue]:
        """Real users' vitals in a window (every web vital the catalog lists, or these)."""
        if metrics is None:
            metrics = tuple(m.name for m in catalog.vitals())
        rows = self.all(
            f"select received_at, page, metric, value, rating, device from beacons "
            f"where metric in ({marks(len(metrics))}) and received_at >= ? and received_at < ? "
            "and synthetic = 0 and value is not null",
            [*metrics, since, until],
        )
        return [RumValue(*row) for row in rows]

    def rum_errors(self, since: float, until: float, limit: int = 20) -> list[RumError]:
        """Real users' uncaught errors in a window, most frequent first."""
        rows = self.all(
            "select label, detail, page, count(*) as n, count(distinct session) as sessions, "
            "max(received_at) as last from beacons where metric = 'error' and received_at >= ? "
            "and received_at < ? and synthetic = 0 group by label, detail, page "
            "order by n desc limit ?",
            [since, until, limit],
        )
        return [RumError(*row) for row in rows]

    def rum_facts(
        self, since: float, until: float, metrics: tuple[str, ...], anchors: tuple[str, ...] = ()
    ) -> list[RumFact]:
        """Real users' beacons of these metrics in a window, with a session, oldest first;
        with `anchors`, only of the sessions that sent one of those metrics in the window."""
        marks = ", ".join("?" * len(metrics))
        sql = (
            "select session, load_id, received_at, metric, value, rating, label, page "
            f"from beacons where metric in ({marks}) and received_at >= ? and received_at < ? "
            "and synthetic = 0 and session is not null"
        )
        args: list[Any] = [*metrics, since, until]
        if anchors:
            sql += (
                " and session in (select session from beacons where metric in "
                f"({', '.join('?' * len(anchors))}) and received_at >= ? and received_at < ? "
                "and synthetic = 0)"
            )
            args += [*anchors, since, until]
        return [RumFact(*row) for row in self.all(sql + " order by received_at, id", args)]

    def rum_comments(self, since: float, until: float, limit: int = 10) -> list[RumComment]:
        """Real users' latest answers that came with a comment, newest first."""
        rows = self.all(
            "select received_at, metric, value, label, page, detail from beacons "
            "where metric in ('csat', 'ces', 'nps') and detail is not null "
            "and received_at >= ? and received_at < ? and synthetic = 0 "
            "order by received_at desc, id desc limit ?",
            [since, until, limit],
        )
        return [RumComment(*row) for row in rows]

    def rum_count(self, *, synthetic: bool = False) -> int:
        """Beacon rows from real users (or from observer's own journeys)."""
        return int(
            self.scalar("select count(*) from beacons where synthetic = ?", [int(synthetic)])
        )

    def prune_beacons(self, before: float) -> int:
        """Delete beacons received before a time; returns how many."""
        with self.transaction():
            return self.run("delete from beacons where received_at < ?", [before])
