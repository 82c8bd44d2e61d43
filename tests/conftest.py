"""Shared fixtures: a real demo shop on a free loopback port, probe files in temp dirs, the CLI,
and a real PostgreSQL (tests/pg.py) with a fresh database per test."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import pytest

from observer.demo.shop import ShopServer

if TYPE_CHECKING:
    from pg import Cluster, PostgresUnavailable

ROOT = Path(__file__).resolve().parent.parent
OBSERVER = [sys.executable, "-m", "observer"]


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    """A fresh demo shop (its own carts, orders and faults) for one test."""
    with ShopServer() as server:
        yield server


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Cluster]:
    """A started PostgreSQL server (tests/pg.py), closed and removed afterwards. Where
    PostgreSQL cannot run, the test is skipped, or fails when OBSERVER_REQUIRE_POSTGRES=1 says
    it must be there (CI)."""
    from pg import Cluster, PostgresUnavailable  # psycopg: only for the tests that need it

    cluster: Cluster | None = None
    problem: PostgresUnavailable | None = None
    try:
        try:
            cluster = Cluster()
            cluster.start()
        except PostgresUnavailable as exc:
            problem = exc
        if problem is not None:  # outside the except: the report shows one sentence, not two
            postgres_missing(problem)
        assert cluster is not None
        yield cluster
    finally:
        if cluster is not None:
            cluster.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server for the session (for each pytest-xdist worker), started when a
    test first asks for it and stopped at the end, whatever happened."""
    with postgres_cluster() as cluster:
        yield cluster


def postgres_missing(exc: PostgresUnavailable) -> NoReturn:
    """Skip, with the reason in the summary; or fail where PostgreSQL is required."""
    reason = str(exc)
    if os.environ.get("OBSERVER_REQUIRE_POSTGRES") == "1":
        details = f"\n{exc.details}" if exc.details else ""
        pytest.fail(f"OBSERVER_REQUIRE_POSTGRES=1, but {reason}{details}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason}")


_databases = itertools.count(1)


@pytest.fixture
def pg_url(pg_cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test, owned by `observer`: its URL (with the
    password). Dropped afterwards; a test that stopped the server has it started again."""
    name = re.sub(r"[^a-z0-9]+", "_", request.node.nodeid.lower()).strip("_")
    name = f"{name[-50:].lstrip('_')}_{next(_databases)}"  # identifiers: at most 63 bytes
    url = pg_cluster.create_database(name)
    yield url
    pg_cluster.start()
    pg_cluster.drop_database(name)


def set_faults(shop: ShopServer, **faults: Any) -> None:
    """Switch faults on in a running demo shop."""
    r = httpx.post(f"{shop.url}/__faults", json=faults, timeout=5)
    r.raise_for_status()


@dataclass
class Done:
    """What a finished observer process left behind."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def observer(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 150
) -> Done:
    """Run the real `observer` command in a child process."""
    # The tables are as wide as COLUMNS says when it is set (pytest-xdist workers set 80):
    # the tests read observer's output as a CI log would, with no terminal width.
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update(env or {})
    proc = subprocess.run(
        [*OBSERVER, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """Write a probe file (dedented) into the test's temp dir and return its path."""

    def _write(text: str, name: str = "probes.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


def rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Query a results database the way a user with sqlite3 would."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def dump_database(db: Path) -> str:
    """Every value in every table, as text: what a secret must not appear in."""
    conn = sqlite3.connect(db)
    try:
        out = []
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in conn.execute(f"select * from {table}"):
                out.append(" | ".join(str(v) for v in row))
        return "\n".join(out)
    finally:
        conn.close()


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (it may be taken before use: callers retry)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """`observer serve FILE --port P --db DB --log-format json ...` as a child process on a
    free port, its log in a file beside FILE; ready (its /healthz answers) once made."""

    POLL = 0.05

    def __init__(
        self,
        config: Path,
        db: Path | str,
        *extra: str,
        start_timeout: float,
        command: Sequence[str] = OBSERVER,
        env: dict[str, str] | None = None,
    ) -> None:
        """`command` and `env` run another installation of observer (tests/test_install.py)."""
        self.config, self.db = config, db
        for _attempt in range(3):  # a free port may be taken between probe and bind
            self.port = free_port()
            self.log_path = config.parent / f"serve-{self.port}.log"
            with self.log_path.open("wb") as log:
                self.proc = subprocess.Popen(
                    [
                        *command,
                        "serve",
                        str(config),
                        "--port",
                        str(self.port),
                        "--db",
                        str(db),
                        "--log-format",
                        "json",
                        *extra,
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    cwd=config.parent,
                    env=env,
                )
            if self._ready(start_timeout):
                return
        pytest.fail(f"observer serve did not start:\n{self.tail()}")

    def _ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.url}/healthz", timeout=10).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(self.POLL)
        self.proc.kill()
        self.proc.wait()
        return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def text(self) -> str:
        """The log so far."""
        return self.log_path.read_text(errors="replace")

    def lines(self) -> list[str]:
        return [ln for ln in self.text().splitlines() if ln.strip()]

    def logs(self) -> list[dict[str, Any]]:
        """The JSON log lines so far (a line being written may be cut: skipped)."""
        out = []
        for line in self.lines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs() if e.get("event") == name]

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines()[-n:])

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, and SIGKILL if it will not go; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)
