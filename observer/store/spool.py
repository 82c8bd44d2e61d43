"""A runner's local spool: results it could not record while the shared database was away,
kept in a small SQLite file beside it and replayed in order once the database answers."""

from __future__ import annotations

import pickle
import sqlite3
import threading
from pathlib import Path

from ..results import ProbeResult
from .base import StoreError
from .schema import connect


class Spool:
    """Results waiting for the database, oldest first. Only this observer reads what it
    wrote, so a result is kept as it is (pickled), with nothing lost in between."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.conn: sqlite3.Connection = connect(self.path)
            self.conn.execute(
                "create table if not exists spool (id integer primary key autoincrement, "
                "source text not null, batch text, result blob not null)"
            )
        except (sqlite3.Error, StoreError) as exc:
            raise StoreError(f"{self.path}: cannot keep a spool: {exc}") from None

    def add(self, result: ProbeResult, source: str, batch: str | None = None) -> None:
        """Keep one result until the database takes it."""
        blob = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self.conn.execute(
                "insert into spool (source, batch, result) values (?, ?, ?)", [source, batch, blob]
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self.conn.execute("select count(*) from spool").fetchone()[0])

    def oldest(self) -> tuple[int, ProbeResult, str, str | None] | None:
        """The result that waited longest: (id, result, source, batch), or None."""
        with self._lock:
            row = self.conn.execute(
                "select id, result, source, batch from spool order by id limit 1"
            ).fetchone()
        if row is None:
            return None
        spooled: ProbeResult = pickle.loads(row[1])  # written by this observer, above
        return int(row[0]), spooled, str(row[2]), row[3]

    def done(self, spool_id: int) -> None:
        """The database has it."""
        with self._lock:
            self.conn.execute("delete from spool where id = ?", [spool_id])

    def close(self) -> None:
        """Close the file."""
        self.conn.close()
