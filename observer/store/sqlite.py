"""The embedded engine: one SQLite file, in WAL mode, shared by every observer process."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import StoreError
from .beacons import BEACON_COLUMNS, Beacons
from .cluster import Cluster
from .incidents import Incidents
from .rows import BeaconRow
from .runs import Runs
from .schema import MIGRATIONS, SCHEMA_VERSION, connect
from .sql import Cursor, Engine, insert_sql, marks, stored

if TYPE_CHECKING:
    import sqlite_utils


class SQLiteEngine(Engine):
    """An SQLite file, migrated to the current schema when opened."""

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
    def name(self) -> str:
        """The file's path."""
        return str(self.path)

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

    @contextmanager
    def cursor(self) -> Iterator[Cursor]:
        """A cursor on the one connection (inside the transaction when one is open)."""
        cur = self.conn.cursor()
        try:
            yield cur
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction, taken up front so concurrent writers queue, not fail."""
        with self._lock:
            if self.conn.in_transaction:  # this thread's own, further out: a savepoint
                with self._savepoint():
                    yield
                return
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

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        self._depth = getattr(self, "_depth", 0) + 1
        name = f"observer_{self._depth}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def insert_id(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row; its rowid."""
        cols = list(row)
        sql = insert_sql(table, cols)
        return int(self.conn.execute(sql, stored([row[c] for c in cols])).lastrowid or 0)

    def glob(self, column: str) -> str:
        """SQLite's own GLOB."""
        return f"{column} glob ?"

    def count(self, table: str) -> int:
        """Rows in a table."""
        return int(self.db.table(table).count)

    def grant(self, role: str, account: str, *, apply: bool = True) -> list[str]:
        """A file has no accounts: whoever may write it may do anything."""
        raise StoreError(
            f"{self.name} is an SQLite file, which has no accounts to grant to: "
            "database accounts per role need PostgreSQL"
        )

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


class SQLiteStore(SQLiteEngine, Runs, Beacons, Incidents, Cluster):
    """observer's database in one SQLite file: open it, and it is migrated to the current schema."""

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
