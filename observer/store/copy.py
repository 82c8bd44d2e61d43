"""`observer db copy`: all history from one or more databases into another, SQLite or
PostgreSQL either way. Ids are new in the destination; the `copies` table remembers which
source row became which, so a copy that stopped resumes where it stopped, several sources
(one per location) merge without clashing, and the counts can be checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from .beacons import BEACON_COLUMNS, Beacons
from .incidents import NOTIFICATION_COLUMNS
from .rows import INCIDENT_COLUMNS, RUN_COLUMNS, BeaconRow, Silence
from .runs import DETAILS
from .sql import Engine, marks

RUNS_PER_BATCH = 200
BEACONS_PER_BATCH = 5000
_SILENCE_COLUMNS = tuple(f.name for f in fields(Silence) if f.name != "id")
TABLES = (
    "runs",
    *(t for t, _, _ in DETAILS),
    "beacons",
    "incidents",
    "notifications",
    "silences",
)


@dataclass
class Count:
    """One table of one source: its rows, and how many of them the destination holds."""

    table: str
    source: int
    copied: int = 0  # in this call
    held: int = 0  # in the destination, from this source, in all calls

    @property
    def complete(self) -> bool:
        """Every row of the source is in the destination."""
        return self.held == self.source


Progress = Callable[[str, int], None]  # table, rows copied so far in this call


class Copier:
    """Copies one source into a destination, in batches of one transaction each."""

    def __init__(
        self,
        src: Engine,
        dst: Beacons,
        label: str,
        *,
        location: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.src, self.dst, self.label = src, dst, label
        self.location = location
        self.progress = progress or (lambda table, n: None)
        self.counts = {t: Count(t, int(src.scalar(f"select count(*) from {t}"))) for t in TABLES}

    def run(self) -> list[Count]:
        """Copy what is not copied yet; the counts per table."""
        self._runs()
        self._beacons()
        self._incidents()
        self._mapped("silences", _SILENCE_COLUMNS)
        self._held()
        return [self.counts[t] for t in TABLES]

    # ----------------------------------------------------------------- bookkeeping

    def _last(self, table: str) -> int:
        """The highest source id of this table already copied (0: none)."""
        return int(
            self.dst.scalar(
                "select coalesce(max(old_id), 0) from copies where source = ? and tbl = ?",
                [self.label, table],
            )
        )

    def _map(self, table: str, old: int, new: int) -> None:
        self.dst.run(
            "insert into copies (source, tbl, old_id, new_id) values (?, ?, ?, ?)",
            [self.label, table, old, new],
        )

    def _new_id(self, table: str, old: int | None) -> int | None:
        if old is None:
            return None
        found = self.dst.scalar(
            "select new_id from copies where source = ? and tbl = ? and old_id = ?",
            [self.label, table, old],
        )
        return None if found is None else int(found)

    def _held(self) -> None:
        """How many rows of each table the destination holds from this source."""
        mine = "select new_id from copies where source = ? and tbl = ?"
        for table in ("runs", "incidents", "notifications", "silences"):
            self.counts[table].held = int(
                self.dst.scalar(
                    "select count(*) from copies where source = ? and tbl = ?",
                    [self.label, table],
                )
            )
        for table, _, _ in DETAILS:
            self.counts[table].held = int(
                self.dst.scalar(
                    f"select count(*) from {table} where run_id in ({mine})",
                    [self.label, "runs"],
                )
            )
        # Beacons carry no id map (millions of rows): a running total stands for them.
        self.counts["beacons"].held = self._new_id("beacons", -1) or 0

    # ----------------------------------------------------------------- tables

    def _runs(self) -> None:
        cols = ", ".join(RUN_COLUMNS)
        while True:
            batch = self.src.dicts(
                f"select {cols} from runs where id > ? order by id limit ?",
                [self._last("runs"), RUNS_PER_BATCH],
            )
            if not batch:
                return
            ids = [r["id"] for r in batch]
            details = {
                table: self.src.dicts(
                    f"select {', '.join(c)} from {table} "
                    f"where run_id in ({marks(len(ids))}) "
                    f"order by run_id, {order or self.src.rowid}",
                    ids,
                )
                for table, c, order in DETAILS
            }
            with self.dst.transaction():
                new = {}
                for run in batch:
                    old = run.pop("id")
                    if self.location and not run.get("location"):
                        run["location"] = self.location
                    new[old] = self.dst.insert_id("runs", run)
                    self._map("runs", old, new[old])
                for table, found in details.items():
                    for row in found:
                        row["run_id"] = new[row["run_id"]]
                    if found:
                        self.dst.insert(table, found)
                        self.counts[table].copied += len(found)
            self.counts["runs"].copied += len(batch)
            self.progress("runs", self.counts["runs"].copied)

    def _beacons(self) -> None:
        cols = ", ".join(BEACON_COLUMNS)
        while True:
            done = self._new_id("beacons", -1) or 0  # how many so far: the (-1) row's new_id
            batch = self.src.dicts(
                f"select id, {cols} from beacons where id > ? order by id limit ?",
                [self._last_beacon(), BEACONS_PER_BATCH],
            )
            if not batch:
                return
            rows = [BeaconRow(**{k: v for k, v in r.items() if k != "id"}) for r in batch]
            for row in rows:
                row.synthetic = bool(row.synthetic)
            with self.dst.transaction():
                self.dst.insert_beacons(rows)  # a savepoint inside this transaction
                self._watermark(batch[-1]["id"], done + len(batch))
            self.counts["beacons"].copied += len(batch)
            self.progress("beacons", self.counts["beacons"].copied)

    def _last_beacon(self) -> int:
        """The last source beacon copied: kept as the new_id of the (beacons, -2) row."""
        return self._new_id("beacons", -2) or 0

    def _watermark(self, last: int, total: int) -> None:
        for key, value in ((-2, last), (-1, total)):
            self.dst.run(
                "delete from copies where source = ? and tbl = 'beacons' and old_id = ?",
                [self.label, key],
            )
            self._map("beacons", key, value)

    def _incidents(self) -> None:
        cols = ", ".join(INCIDENT_COLUMNS)
        rows = self.src.dicts(
            f"select id, {cols} from incidents where id > ? order by id", [self._last("incidents")]
        )
        for row in rows:
            with self.dst.transaction():
                old = row.pop("id")
                row["run_id"] = self._new_id("runs", row["run_id"])
                self._map("incidents", old, self.dst.insert_id("incidents", row))
            self.counts["incidents"].copied += 1
        notes = self.src.dicts(
            f"select id, {', '.join(NOTIFICATION_COLUMNS)} from notifications where id > ? "
            "order by id",
            [self._last("notifications")],
        )
        for row in notes:
            with self.dst.transaction():
                old = row.pop("id")
                row["incident_id"] = self._new_id("incidents", row["incident_id"])
                self._map("notifications", old, self.dst.insert_id("notifications", row))
            self.counts["notifications"].copied += 1

    def _mapped(self, table: str, columns: tuple[str, ...]) -> None:
        rows = self.src.dicts(
            f"select id, {', '.join(columns)} from {table} where id > ? order by id",
            [self._last(table)],
        )
        for row in rows:
            with self.dst.transaction():
                old = row.pop("id")
                self._map(table, old, self.dst.insert_id(table, row))
            self.counts[table].copied += 1


def copy_history(
    src: Any,
    dst: Any,
    label: str,
    *,
    location: str | None = None,
    progress: Progress | None = None,
) -> list[Count]:
    """Copy all history of `src` into `dst` (both stores of either engine), resuming what a
    copy under the same `label` began; the counts per table."""
    if not isinstance(src, Engine) or not isinstance(dst, Beacons):
        raise TypeError("db copy works on observer's own stores")
    return Copier(src, dst, label, location=location, progress=progress).run()
