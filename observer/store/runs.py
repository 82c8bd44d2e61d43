"""Probe runs in SQLite: recording a result, and reading runs back for budgets and pages."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import catalog
from ..results import Outcome, ProbeResult
from .rows import (
    RUN_COLUMNS,
    ArtifactRow,
    ErrorRow,
    ExpectationRow,
    LabPage,
    PageRow,
    Picked,
    ProbeStats,
    RunDetails,
    RunRow,
    StepRow,
    StepTime,
    ViolationRow,
)
from .sql import Engine, marks

if TYPE_CHECKING:
    from ..catalog import Metric

_RUNS = ", ".join(RUN_COLUMNS)
# Runs of `observer check` gate a deploy; production windows, trends and alerts leave them out.
_PRODUCTION = "coalesce(source, '') != 'check'"
_STEPS = ", ".join(f.name for f in fields(StepRow))
_ARTIFACTS = ", ".join(f.name for f in fields(ArtifactRow))
# The tables a run's details are in: their columns, and what orders one run's rows there
# ("": the order they were written in, the engine's rowid).
DETAILS: tuple[tuple[str, tuple[str, ...], str], ...] = tuple(
    (table, tuple(f.name for f in fields(row)), order)
    for table, row, order in (
        ("steps", StepRow, "idx"),
        ("page_vitals", PageRow, "seq"),
        ("errors", ErrorRow, ""),
        ("artifacts", ArtifactRow, ""),
        ("expectations", ExpectationRow, ""),
        # No id column (PostgreSQL's rowid): in the order a run found them.
        ("a11y_violations", ViolationRow, "step_index, url, rule, target"),
    )
)


def _step(row: dict[str, Any]) -> StepRow:
    row = dict(row)
    row["outcome"] = Outcome(row["outcome"])
    row["captured"] = json.loads(row["captured"]) if row.get("captured") else {}
    return StepRow(**row)


def _page(row: dict[str, Any]) -> PageRow:
    row = dict(row)
    row["left_before_load"] = bool(row.get("left_before_load"))
    row["partial"] = bool(row.get("partial"))
    return PageRow(**row)


def _expectation(row: dict[str, Any]) -> ExpectationRow:
    return ExpectationRow(**{**row, "outcome": Outcome(row["outcome"])})


class Runs(Engine):
    """Runs with their steps, pages, errors, artifacts and expectations."""

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
            "conditions": json.dumps(r.conditions, sort_keys=True) if r.conditions else None,
            "a11y_pages": r.a11y_pages,
        }
        row.update(r.vitals)
        if http is not None:
            row["ttfb_ms"] = http.ttfb_ms
        run_id = self.insert_id("runs", row)
        r.run_id = run_id
        self._insert_details(run_id, r)
        return run_id

    def _insert_details(self, run_id: int, r: ProbeResult) -> None:
        steps = [
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
        ]
        pages = [{"run_id": run_id, "seq": i, **asdict(p)} for i, p in enumerate(r.pages)]
        errors = [{"run_id": run_id, **asdict(e)} for e in r.errors]
        artifacts = [{"run_id": run_id, **asdict(a)} for a in r.artifacts]
        expectations = [
            {
                "run_id": run_id,
                "name": e.name,
                "outcome": str(e.outcome),
                "expected": e.expected,
                "actual": e.actual,
            }
            for e in (r.http.expectations if r.http else [])
        ]
        # The page by its path: budgets' `page:` globs match it.
        violations = [
            {"run_id": run_id, "page": urlsplit(v.url).path or "/", **asdict(v)}
            for v in r.violations
        ]
        for row in violations:
            del row["gate"]
        for table, rows in (
            ("a11y_violations", violations),
            ("steps", steps),
            ("page_vitals", pages),
            ("errors", errors),
            ("artifacts", artifacts),
            ("expectations", expectations),
        ):
            if rows:
                self.insert(table, rows)

    # ------------------------------------------------------------------ reads

    def _run_rows(self, sql: str, args: list[Any]) -> list[RunRow]:
        """Runs selected as `select {RUNS} from runs ...`: by position, the fields' order
        (a page of charts reads a day of runs, and dicts by name cost twice as long)."""
        return [RunRow.from_row(row) for row in self.all(sql.format(RUNS=_RUNS), args)]

    def runs(
        self, probe: str | None = None, since: float | None = None, limit: int = 1000
    ) -> list[RunRow]:
        """Runs, newest first, optionally for one probe and since a time."""
        where: list[str] = []
        args: list[Any] = []
        if probe is not None:
            where.append("probe = ?")
            args.append(probe)
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        sql = "select {RUNS} from runs"
        if where:
            sql += " where " + " and ".join(where)
        sql += " order by started_at desc limit ?"
        args.append(limit)
        return self._run_rows(sql, args)

    def runs_after(self, run_id: int) -> list[RunRow]:
        """Final runs recorded after a run id, oldest first."""
        return self._run_rows(
            f"select {{RUNS}} from runs where id > ? and final = 1 and {_PRODUCTION} order by id",
            [run_id],
        )

    def run_details(self, run_id: int) -> RunDetails | None:
        """One run with its steps, pages, errors, artifacts and expectations."""
        rows = self._run_rows("select {RUNS} from runs where id = ?", [run_id])
        if not rows:
            return None
        run = RunDetails(**vars(rows[0]))
        found = {
            table: self.dicts(
                f"select {', '.join(cols)} from {table} where run_id = ? "
                f"order by {order or self.rowid}",
                [run_id],
            )
            for table, cols, order in DETAILS
        }
        run.steps = [_step(r) for r in found["steps"]]
        run.page_vitals = [_page(r) for r in found["page_vitals"]]
        run.errors = [ErrorRow(**r) for r in found["errors"]]
        run.artifacts = [ArtifactRow(**r) for r in found["artifacts"]]
        run.expectations = [_expectation(r) for r in found["expectations"]]
        run.a11y_violations = [ViolationRow(**r) for r in found["a11y_violations"]]
        return run

    def last_runs(self, probe: str, limit: int = 5) -> list[RunDetails]:
        """A probe's latest final runs with their artifacts and failed step, newest first."""
        out = []
        for row in self._run_rows(
            "select {RUNS} from runs where probe = ? and final = 1 "
            "order by started_at desc limit ?",
            [probe, limit],
        ):
            run = RunDetails(**vars(row))
            run.artifacts = [
                ArtifactRow(**r)
                for r in self.dicts(
                    f"select {_ARTIFACTS} from artifacts where run_id = ? order by {self.rowid}",
                    [run.id],
                )
            ]
            run.steps = [
                _step(r)
                for r in self.dicts(
                    f"select {_STEPS} from steps where run_id = ? "
                    "and outcome in ('fail', 'error') order by idx limit 1",
                    [run.id],
                )
            ]
            out.append(run)
        return out

    def recent_runs(self, probe: str, limit: int = 30) -> list[RunRow]:
        """A probe's last final runs, newest first."""
        return self._run_rows(
            "select {RUNS} from runs where probe = ? and final = 1 "
            "order by started_at desc limit ?",
            [probe, limit],
        )

    def runs_window(self, probe: str, since: float, limit: int = 2000) -> list[RunRow]:
        """A probe's final runs since a time, oldest first (for time series)."""
        return self._run_rows(
            "select * from (select {RUNS} from runs where probe = ? and final = 1 "
            f"and started_at >= ? and {_PRODUCTION} order by started_at desc limit ?) as w "
            "order by started_at",
            [probe, since, limit],
        )

    def step_window(self, run_ids: list[int]) -> list[StepTime]:
        """The passed and failed steps of these runs."""
        if not run_ids:
            return []
        rows = self.all(
            f"select run_id, name, duration_ms, outcome from steps "
            f"where run_id in ({marks(len(run_ids))}) "
            "and outcome in ('pass', 'fail') order by run_id, idx",
            run_ids,
        )
        return [StepTime(int(a), str(b), float(c or 0), Outcome(d)) for a, b, c, d in rows]

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
        where = [f"r.probe in ({marks(len(probes))})", "r.final = 1", "r.outcome != 'error'"]
        args: list[Any] = list(probes)
        if production:
            where.append(_PRODUCTION)
        picked = picked or Picked()
        self._pick_conditions(picked, where, args)
        for clause, value in (
            ("r.batch = ?", batch),
            ("r.started_at >= ?", since),
            ("r.started_at < ?", until),
            ("r.location = ?", location),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        if metric.table == "a11y_violations":
            sql, args = self._violation_counts(where, args, picked)
        elif metric.step is not None:
            sql = (
                "select r.probe, s.duration_ms from runs r join steps s on s.run_id = r.id "
                f"where {' and '.join(where)} and s.name = ? and s.outcome = 'pass' "
                "order by r.started_at"
            )
            args.append(metric.step)
        else:
            column = catalog.run_columns()[metric.name]  # a known column, never user text
            if metric.whole_runs:
                where.append("r.outcome = 'pass'")
            sql = (
                f"select r.probe, r.{column} from runs r where {' and '.join(where)} "
                f"and r.{column} is not null order by r.started_at"
            )
        out: dict[str, list[float]] = {p: [] for p in probes}
        for probe, value in self.all(sql, args):
            out[probe].append(float(value))
        return out

    def _pick_conditions(self, picked: Picked, where: list[str], args: list[Any]) -> None:
        """Runs under the conditions a budget's `condition:` names (its keys, not all)."""
        for key, value in (
            ("device", picked.device),
            ("network", picked.network),
            ("cpu_slowdown", picked.cpu_slowdown),
        ):
            if value is None:
                continue
            if key == "device":
                column = "r.device"
            elif key == "network":
                column = self.json_text("r.conditions", key)
            else:
                column = self.json_number("r.conditions", key)
            if value == "":  # not throttled: the key is null
                where.append(f"{column} is null")
            else:
                where.append(f"{column} = ?")
                args.append(value)

    def _violation_counts(
        self, where: list[str], args: list[Any], picked: Picked
    ) -> tuple[str, list[Any]]:
        """Per run checked for accessibility: its distinct (rule, target) pairs, of the impacts
        and pages picked."""
        inner = ["v.run_id = r.id"]
        inner_args: list[Any] = []
        if picked.impacts:
            inner.append(f"v.impact in ({marks(len(picked.impacts))})")
            inner_args += picked.impacts
        if picked.page:
            inner.append(self.glob("v.page"))
            inner_args.append(self.glob_arg(picked.page))
        sql = (
            "select r.probe, (select count(*) from (select distinct v.rule, v.target "
            f"from a11y_violations v where {' and '.join(inner)}) as d) from runs r "
            f"where {' and '.join(where)} and r.a11y_pages > 0 order by r.started_at"
        )
        # The subquery's marks come first in the text: its arguments go first.
        return sql, [*inner_args, *args]

    def probe_stats(self, since: float, probes: list[str]) -> dict[str, ProbeStats]:
        """Per probe: runs, passes, fails, errors since a time, and the last run."""
        out: dict[str, ProbeStats] = {}
        rows = self.all(
            "select probe, count(*), count(*) filter (where outcome = 'pass'), "
            "count(*) filter (where outcome = 'fail'), count(*) filter (where outcome = 'error') "
            f"from runs where started_at >= ? and final = 1 and {_PRODUCTION} group by probe",
            [since],
        )
        for probe, n, passed, failed, errored in rows:
            out[probe] = ProbeStats(n, passed or 0, failed or 0, errored or 0)
        # The newest run of each probe, one index probe each (a GROUP BY would scan every run).
        for probe in probes:
            last = self._run_rows(
                "select {RUNS} from runs where probe = ? and final = 1 "
                "order by started_at desc limit 1",
                [probe],
            )
            if last:
                out.setdefault(probe, ProbeStats()).last = last[0]
        return out

    def latest_by_location(self, probe: str, since: float) -> dict[str, RunRow]:
        """Each location's newest final production run of a probe since a time. A probe with
        a matrix of conditions has a newest run per entry: a location's is a failing one if
        any entry's newest failed (the phone failing while the desktop passes is failing)."""
        newest: dict[tuple[str, str], RunRow] = {}
        for run in self._run_rows(
            "select {RUNS} from runs where probe = ? and final = 1 and started_at >= ? and "
            + _PRODUCTION
            + " order by started_at",
            [probe, since],
        ):
            newest[(run.location or "", run.conditions or "")] = run
        out: dict[str, RunRow] = {}
        for (location, _), run in newest.items():
            have = out.get(location)
            if have is None or (have.outcome == Outcome.PASS and run.outcome != Outcome.PASS):
                out[location] = run
        return out

    def probe_paths(self, probes: list[str], since: float) -> list[str]:
        """The URLs a probe's recent runs visited (for customer impact)."""
        rows = self.all(
            f"select distinct v.url from page_vitals v join runs r on r.id = v.run_id "
            f"where r.probe in ({marks(len(probes))}) and r.started_at >= ?",
            [*probes, since],
        )
        return [row[0] for row in rows]

    def lab_pages(self, since: float) -> list[LabPage]:
        """The pages journeys visited since a time, with their LCP and INP."""
        rows = self.all(
            "select r.probe, v.url, v.lcp_ms, v.inp_ms from page_vitals v "
            "join runs r on r.id = v.run_id where r.started_at >= ?",
            [since],
        )
        return [LabPage(*row) for row in rows]

    def prune_runs(self, before: float) -> int:
        """Delete runs that started before a time, with their steps, pages and errors."""
        with self.transaction():
            old = "select id from runs where started_at < ?"
            for table, _, _ in DETAILS:
                self.run(f"delete from {table} where run_id in ({old})", [before])
            return self.run("delete from runs where started_at < ?", [before])

    def violation_counts(
        self, probe: str, since: float, limit: int = 2000
    ) -> list[tuple[float, int]]:
        """A probe's final production runs since a time that were checked for accessibility,
        oldest first: (started_at, distinct (rule, target) violations), as the budgets count."""
        rows = self.all(
            "select * from (select r.started_at, (select count(*) from (select distinct "
            "v.rule, v.target from a11y_violations v where v.run_id = r.id) as d) as n "
            "from runs r where r.probe = ? and r.final = 1 and r.started_at >= ? "
            f"and r.a11y_pages > 0 and {_PRODUCTION} order by r.started_at desc limit ?) as w "
            "order by started_at",
            [probe, since, limit],
        )
        return [(float(at), int(n or 0)) for at, n in rows]
