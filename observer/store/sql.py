"""What the shared queries need of an engine: a cursor that takes `?` marks, transactions, and
the few fragments SQLite and PostgreSQL write differently."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from .rows import plain


class Cursor(Protocol):
    """The part of a DB-API cursor the queries use."""

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""

    @property
    def description(self) -> Any:
        """Column names of the last result, first item of each."""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """Run one statement with `?` marks."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        """Run one statement per row."""

    def fetchall(self) -> list[Any]:
        """Every row left."""

    def fetchone(self) -> Any:
        """The next row, or None."""


def stored(values: Sequence[Any]) -> list[Any]:
    """Values as the schema keeps them (rows.plain): flags as 0 or 1 (PostgreSQL will not
    take a bool for an integer column), enums as their values."""
    return [plain(v) for v in values]


def marks(n: int) -> str:
    """`?,?,?` for n values."""
    return ",".join("?" * n)


def insert_sql(table: str, columns: Sequence[str]) -> str:
    """`insert into TABLE (COLUMNS) values (?, ...)`."""
    return f"insert into {table} ({', '.join(columns)}) values ({marks(len(columns))})"


class Engine:
    """The primitives every query is written in. An engine supplies `cursor`, `transaction`,
    `insert_id`, `glob` and `rowid`; the queries (runs.py, beacons.py, incidents.py) stay the
    same on both."""

    rowid = "rowid"  # the column that keeps insertion order

    def cursor(self) -> AbstractContextManager[Cursor]:
        """A cursor: inside the current transaction if there is one, else on its own."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction."""
        raise NotImplementedError

    def insert_id(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row and return its generated id."""
        raise NotImplementedError

    def glob(self, column: str) -> str:
        """A condition: the column matches a shell-style pattern given as the next `?`."""
        raise NotImplementedError

    def glob_arg(self, pattern: str) -> str:
        """The pattern as the condition of `glob` takes it."""
        return pattern

    def json_text(self, column: str, key: str) -> str:
        """A key of the JSON object in a text column, as text (key: a name of ours, never a
        user's text)."""
        return f"json_extract({column}, '$.{key}')"

    def json_number(self, column: str, key: str) -> str:
        """A key of the JSON object in a text column, as a number."""
        return f"json_extract({column}, '$.{key}')"

    # ----------------------------------------------------------------- shared on top

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        with self.cursor() as cur:
            cur.execute(sql, args)
            return [tuple(r) for r in cur.fetchall()]

    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts by column name."""
        with self.cursor() as cur:
            cur.execute(sql, args)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def first(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        with self.cursor() as cur:
            cur.execute(sql, args)
            row = cur.fetchone()
            return None if row is None else tuple(row)

    def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the first row."""
        row = self.first(sql, args)
        return None if row is None else row[0]

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """A statement; how many rows it changed."""
        with self.cursor() as cur:
            cur.execute(sql, args)
            return max(int(cur.rowcount), 0)

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert rows that share the first row's keys, in one statement per row."""
        cols = list(rows[0])
        sql = insert_sql(table, cols)
        with self.cursor() as cur:
            cur.executemany(sql, [stored([row[c] for c in cols]) for row in rows])
