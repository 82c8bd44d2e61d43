"""The shared engine: PostgreSQL through psycopg 3 and its connection pool, for observer
processes on several machines. The queries are the SQLite ones (runs.py, beacons.py,
incidents.py); what differs lives here: connecting, migrations, beacons by day, `~` for globs."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .base import StoreError
from .beacons import BEACON_COLUMNS, Beacons
from .cluster import Cluster
from .grants import READ_TABLES, grant_statements, inserts
from .incidents import Incidents
from .pgschema import PG_MIGRATIONS
from .rows import BeaconRow
from .runs import Runs
from .schema import SCHEMA_VERSION
from .sql import Cursor, Engine, insert_sql, stored

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

SCHEMES = ("postgresql://", "postgres://")
DAY = 86400.0
# Tables a count may name (the protocol's count takes a table name): every table a role
# reads (grants.py lists them, each once), and what `observer db copy` keeps.
TABLES = frozenset({*READ_TABLES, "copies"})
# While the database is away, each call fails at once for this long before one tries again;
# a borrow waits at most BORROW_TIMEOUT for a connection.
RETRY_AFTER = 1.0
BORROW_TIMEOUT = 3.0
# Session-level advisory locks that make one process the leader of a role.
LEAD_LOCKS = {"alerter": 0x0B5E_0002}
# SQLSTATE of "permission denied".
INSUFFICIENT_PRIVILEGE = "42501"
UNDEFINED_OBJECT = "42704"  # e.g. an account that does not exist
# Held while migrating, so that processes starting together migrate once.
MIGRATION_LOCK = 0x0B5E_0001
# libpq keeps idle connections alive through NAT and load balancers, and notices a dead
# server within about a minute instead of at the next query's TCP timeout.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def is_url(target: str) -> bool:
    """A PostgreSQL URL (anything else is an SQLite file)."""
    return target.startswith(SCHEMES)


def masked(url: str) -> str:
    """The URL fit to show: the password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://***"
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def database_secrets(target: str) -> set[str]:
    """The secrets a database target holds: a PostgreSQL URL and its password (an SQLite path
    holds none). A one- or two-letter password would mask letters everywhere, hiding nothing."""
    if not is_url(target):
        return set()
    password = _password(target)
    return {target, password} if password and len(password) >= 3 else {target}


def glob_to_regex(pattern: str) -> str:
    """A shell-style glob (`*`, `?`, `[...]`) as an anchored POSIX regex, as SQLite's GLOB
    reads it: case-sensitive, `*` matching `/` too."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith(("!", "^")) else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return "".join(out)


class _Marks:
    """A psycopg cursor that takes the `?` marks the shared queries are written with."""

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    @staticmethod
    def sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    @property
    def rowcount(self) -> int:
        return int(self.cur.rowcount)

    @property
    def description(self) -> Any:
        return self.cur.description

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self.cur.execute(self.sql(sql), list(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        return self.cur.executemany(self.sql(sql), [list(r) for r in rows])

    def fetchall(self) -> list[Any]:
        return list(self.cur.fetchall())

    def fetchone(self) -> Any:
        return self.cur.fetchone()


class PostgresEngine(Engine):
    """A pool of connections to one PostgreSQL database, migrated when opened."""

    rowid = "id"
    shared = True  # observers on other machines may use it too

    def __init__(self, url: str, *, pool_size: int = 8, timeout: float = 10.0) -> None:
        self.url = url
        self._secrets = sorted(database_secrets(url), key=len, reverse=True)
        self._local = threading.local()
        self._days: set[str] = set()  # beacon partitions known to exist
        self._leads: dict[str, Any] = {}  # role -> the connection that holds its lock
        self._lead_guard = threading.Lock()
        self._retry_at = 0.0  # while the database is away: when to try it again
        self._why = ""
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:  # a dependency, unless someone removed it
            raise StoreError(
                "PostgreSQL needs psycopg: pip install 'psycopg[binary]' psycopg-pool"
            ) from None
        options: dict[str, Any] = {**KEEPALIVES, "application_name": "observer"}
        if "connect_timeout" not in url:
            options["connect_timeout"] = max(1, int(timeout))
        self._first_connection(options)
        self.pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            url,
            kwargs=options,
            # A connection the server dropped (a restart, a failover) is replaced, not lent.
            check=ConnectionPool.check_connection,
            min_size=1,
            max_size=pool_size,
            timeout=timeout,
            open=False,
        )
        try:
            self.pool.open(wait=True, timeout=timeout)
            self.migrate()
        except StoreError:
            self.pool.close()
            raise
        except Exception as exc:
            self.pool.close()
            why = self.hide(str(exc).strip() or type(exc).__name__)
            raise StoreError(f"{self.name}: cannot use the database: {why}") from None

    def _first_connection(self, options: dict[str, Any]) -> None:
        """Connect once before the pool does, so that a wrong password or a server that is
        not there is said at once, in libpq's words (the pool would retry until its timeout)."""
        import psycopg

        try:
            psycopg.connect(self.url, **options).close()
        except psycopg.Error as exc:
            why = self.hide(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
            raise StoreError(f"{self.name}: cannot connect: {why}") from None

    @property
    def name(self) -> str:
        """The URL without its password."""
        return masked(self.url)

    def hide(self, text: str) -> str:
        """A message from the driver with the password, should it hold it, as ***."""
        for secret in self._secrets:  # the URL before its password
            text = text.replace(secret, "***")
        return text

    @contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        """The transaction's connection, or one borrowed from the pool (committed after)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        if time.monotonic() < self._retry_at:
            # Known to be away: say so at once, not after a wait for the pool per caller
            # (a runner keeps measuring, ingest answers 503 while it lasts).
            raise StoreError(f"{self.name}: the database is away ({self._why}); retrying")
        try:
            with self.pool.connection(timeout=BORROW_TIMEOUT) as conn:
                yield conn
        except Exception as exc:
            if not _unreachable(exc):
                raise
            self._why = self.hide(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            self._retry_at = time.monotonic() + RETRY_AFTER
            raise StoreError(f"{self.name}: {self._why}") from None
        self._retry_at = 0.0

    @contextmanager
    def cursor(self) -> Iterator[Cursor]:
        """A cursor that takes `?` marks, inside the current transaction if there is one."""
        with self._connection() as conn, conn.cursor() as cur:
            yield _Marks(cur)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction on one pooled connection; queries of this thread use it until it
        ends (a nested one is a savepoint)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            with held.transaction():
                yield
            return
        with self._connection() as conn, conn.transaction():
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def insert_id(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row; its generated id."""
        cols = list(row)
        sql = insert_sql(table, cols) + " returning id"
        with self.cursor() as cur:
            cur.execute(sql, stored([row[c] for c in cols]))
            return int(cur.fetchone()[0])

    def json_text(self, column: str, key: str) -> str:
        """A key of the JSON object in a text column, as text."""
        return f"({column}::jsonb ->> '{key}')"

    def json_number(self, column: str, key: str) -> str:
        """A key of the JSON object in a text column, as a number."""
        return f"({column}::jsonb ->> '{key}')::double precision"

    def glob(self, column: str) -> str:
        """SQLite's GLOB as a POSIX regex match."""
        return f"{column} ~ ?"

    def glob_arg(self, pattern: str) -> str:
        """The glob as the regex `glob` matches."""
        return glob_to_regex(pattern)

    def lead(self, role: str) -> bool:
        """Hold the lead of a role: a session-level advisory lock on a connection of its own,
        which PostgreSQL releases when that session ends (a killed process, a lost network).
        Asked again, it checks the session is still there, within seconds (tcp_user_timeout),
        so a leader cut off from the database stops leading before it could act twice."""
        import psycopg

        key = LEAD_LOCKS[role]
        with self._lead_guard:
            conn = self._leads.get(role)
            try:
                if conn is not None:
                    conn.execute("select 1")
                    return True  # the session, and so its lock, is still there
                options: dict[str, Any] = {
                    **KEEPALIVES,
                    "tcp_user_timeout": 5000,
                    "connect_timeout": 5,
                }
                conn = psycopg.connect(self.url, autocommit=True, **options)
                got = conn.execute("select pg_try_advisory_lock(%s)", [key]).fetchone()
                if got is not None and got[0]:
                    self._leads[role] = conn
                    return True
                conn.close()
                return False
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                self._leads.pop(role, None)
                return False

    def close(self) -> None:
        """Close every connection: the pool's, and a lead's (which gives the lead up)."""
        for conn in self._leads.values():
            conn.close()
        self._leads.clear()
        self.pool.close()

    def db_time(self) -> float:
        """The database server's clock: every runner numbers slots by the same time."""
        return float(self.scalar("select extract(epoch from clock_timestamp())"))

    def count(self, table: str) -> int:
        """Rows in one of observer's tables."""
        if table not in TABLES:
            raise ValueError(f"no table {table}")
        return int(self.scalar(f"select count(*) from {table}"))

    def schema_version(self) -> int:
        """The migrations applied to this database (0 for an empty one)."""
        if self.scalar("select to_regclass('migrations')") is None:
            return 0
        return int(self.scalar("select coalesce(max(version), 0) from migrations"))

    def migrate(self) -> None:
        """Apply the migrations this database has not had yet, once across processes."""
        with self.transaction():
            self.run("select pg_advisory_xact_lock(?)", [MIGRATION_LOCK])
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.name} has schema {current}, newer than this observer knows "
                    f"({SCHEMA_VERSION}); upgrade observer"
                )
            if current == SCHEMA_VERSION:
                return
            who = self.user  # asked first: a refused statement ends the transaction
            try:
                self._apply(current)
            except Exception as exc:
                if getattr(exc, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                    raise
                raise StoreError(
                    f"{self.name} has schema {current} and this observer needs "
                    f"{SCHEMA_VERSION}, but {who} may not change the tables: run "
                    "`observer db migrate` as the account that owns them"
                ) from None

    def _apply(self, current: int) -> None:
        self.run(
            "create table if not exists migrations "
            "(version integer primary key, name text, applied_at double precision)"
        )
        with self.cursor() as cur:
            for version, (name, fn) in enumerate(PG_MIGRATIONS, start=1):
                if version <= current:
                    continue
                fn(getattr(cur, "cur", cur))
                cur.execute(
                    "insert into migrations (version, name, applied_at) values (?, ?, ?)",
                    [version, name, time.time()],
                )

    def grant(self, role: str, account: str, *, apply: bool = True) -> list[str]:
        """Give `account` what observer role `role` needs, and nothing more (grants.py)."""
        try:
            tables = inserts(role)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        sequences = [
            str(seq)
            for (seq,) in self.all(
                "select pg_get_serial_sequence(c.relname, 'id') from pg_class c "
                "join pg_attribute a on a.attrelid = c.oid and a.attname = 'id' "
                "where c.oid = any(?::text[]::regclass[]) order by c.relname",
                [sorted(set(tables))],
            )
            if seq
        ]
        statements = grant_statements(
            role,
            account,
            str(self.scalar("select current_database()")),
            str(self.scalar("select current_schema()")),
            sequences,
        )
        if apply:
            try:
                with self.transaction():
                    for statement in statements:
                        self.run(statement)
            except Exception as exc:
                sqlstate = getattr(exc, "sqlstate", None)
                if sqlstate not in (INSUFFICIENT_PRIVILEGE, UNDEFINED_OBJECT):
                    raise
                why = str(exc).strip().splitlines()[0]
                raise StoreError(f"{self.name}: cannot grant {role} to {account}: {why}") from None
        return statements

    @property
    def user(self) -> str:
        """The account this engine logs in as."""
        return str(self.scalar("select current_user"))

    # ------------------------------------------------------------------ beacons by day

    def _ensure_days(self, times: Sequence[float]) -> None:
        """Make the day partitions these times fall in (inside the caller's transaction)."""
        for start in sorted({t - t % DAY for t in times}):
            day = datetime.fromtimestamp(start, UTC).strftime("%Y%m%d")
            if day in self._days:
                continue
            # The owner's function makes it (ingest accounts may not create tables), holding
            # one lock per day so that two nodes making the same day do not race.
            self.run("select observer_beacon_day(?)", [start])
            self._days.add(day)

    def partitions(self) -> list[tuple[str, float]]:
        """The beacon partitions, oldest first: (table, first second of its day)."""
        rows = self.all(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'beacons'::regclass order by c.relname"
        )
        out = []
        for (name,) in rows:
            day = datetime.strptime(name.removeprefix("beacons_"), "%Y%m%d").replace(tzinfo=UTC)
            out.append((str(name), day.timestamp()))
        return out


def _unreachable(exc: BaseException) -> bool:
    """The database cannot be reached or went away (not a fault of the query itself)."""
    import psycopg
    from psycopg_pool import PoolTimeout

    return isinstance(exc, psycopg.OperationalError | PoolTimeout)


class PostgresStore(PostgresEngine, Runs, Beacons, Incidents, Cluster):
    """observer's database in PostgreSQL, shared by processes on any number of machines."""

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def insert_beacons(self, rows: list[BeaconRow]) -> int:
        """Store beacons in one transaction; returns rows written (inserted or replaced).

        As on SQLite, a repeated dedupe key replaces the stored value: the keys live in
        beacon_keys (a partitioned table cannot hold a unique index without its partition
        key), whose primary key also orders two nodes writing the same key at once.
        """
        if not rows:
            return 0
        # Every row is written: a new one inserted, a repeated key's value replaced.
        latest: dict[str, BeaconRow] = {}
        plain: list[BeaconRow] = []
        for r in rows:
            if r.dedupe is None:
                plain.append(r)
            elif r.dedupe in latest:
                # A later report of the same key replaces the value, as SQLite's upsert does.
                latest[r.dedupe] = replace(
                    latest[r.dedupe], value=r.value, rating=r.rating, detail=r.detail
                )
            else:
                latest[r.dedupe] = r
        with self.transaction():
            self._ensure_days([r.received_at for r in rows])
            fresh = plain + self._claim_keys(list(latest.values()))
            if fresh:
                self._copy_beacons(fresh)
            claimed = {r.dedupe for r in fresh}
            again = [r for k, r in latest.items() if k not in claimed]
            for r in again:
                self.run(
                    "update beacons set value = ?, rating = ?, detail = ? where dedupe = ? "
                    "and received_at = (select received_at from beacon_keys where dedupe = ?)",
                    [r.value, r.rating, r.detail, r.dedupe, r.dedupe],
                )
        return len(rows)

    def _copy_beacons(self, rows: list[BeaconRow]) -> None:
        """New beacons through COPY, the cheapest way in for a batch (PostgreSQL routes each
        row to its day's partition)."""
        sql = f"copy beacons ({', '.join(BEACON_COLUMNS)}) from stdin"
        with self._connection() as conn, conn.cursor() as cur, cur.copy(sql) as copy:
            for row in rows:
                columns = row.columns()
                copy.write_row([columns[name] for name in BEACON_COLUMNS])

    def _claim_keys(self, keyed: list[BeaconRow]) -> list[BeaconRow]:
        """The rows whose dedupe keys were new (now recorded); the others are repeats."""
        if not keyed:
            return []
        new = {
            key
            for (key,) in self.all(
                "insert into beacon_keys (dedupe, received_at) select * from "
                "unnest(?::text[], ?::double precision[]) on conflict do nothing "
                "returning dedupe",
                [[r.dedupe for r in keyed], [r.received_at for r in keyed]],
            )
        }
        return [r for r in keyed if r.dedupe in new]

    def prune_beacons(self, before: float) -> int:
        """Drop the days wholly past `before`, and trim the one it falls in."""
        gone = 0
        with self.transaction():
            for table, start in self.partitions():
                if start + DAY <= before:
                    # Through the owner's function: the alerter's account may not drop tables.
                    gone += int(self.scalar("select observer_drop_beacon_day(?)", [table]))
                    self._days.discard(table.removeprefix("beacons_"))
            gone += self.run("delete from beacons where received_at < ?", [before])
            self.run("delete from beacon_keys where received_at < ?", [before])
        return gone


__all__ = ["BEACON_COLUMNS", "PostgresStore", "database_secrets", "is_url", "masked"]
