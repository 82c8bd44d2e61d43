"""One SQLite file opened for observer: its connection, transactions and migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import StoreError
from .schema import MIGRATIONS, SCHEMA_VERSION, connect

if TYPE_CHECKING:
    import sqlite_utils


def dicts(cur: sqlite3.Cursor) -> list[dict[str, Any]]:
    """A cursor's rows as dicts by column name."""
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, row, strict=True)) for row in cur]


def marks(n: int) -> str:
    """`?, ?, ?` for n values."""
    return ",".join("?" * n)


def insert(conn: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> int:
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


class Connection:
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

    def count(self, table: str) -> int:
        """Rows in a table."""
        return int(self.db.table(table).count)

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
