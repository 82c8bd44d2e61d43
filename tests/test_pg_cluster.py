"""The PostgreSQL fixture itself (tests/pg.py, `pg_cluster` and `pg_url` in conftest.py): a real
server that observer reaches over TCP with the `observer` role's password, a database per test,
a server that can go away and come back with its data, and never a server running as root."""

from __future__ import annotations

import os
import pwd
import time
from pathlib import Path

import pg
import psycopg
import pytest
from conftest import postgres_cluster, postgres_missing
from pg import ROLE, Cluster


def test_a_database_is_reachable_over_tcp_with_the_password(pg_url: str) -> None:
    assert pg_url.startswith(f"postgresql://{ROLE}:")
    with psycopg.connect(pg_url, connect_timeout=10) as conn:
        user, addr, owner = conn.execute(
            "select current_user, inet_server_addr()::text, pg_get_userbyid(datdba)"
            " from pg_database where datname = current_database()"
        ).fetchone()
        assert (user, owner, addr) == (ROLE, ROLE, "127.0.0.1/32")
        # observer's role owns it: it may make its tables there.
        conn.execute("create table t (x int)")
        conn.execute("insert into t values (1)")
        assert conn.execute("select count(*) from t").fetchone() == (1,)


def test_tcp_needs_the_right_password(pg_cluster: Cluster, pg_url: str) -> None:
    wrong = pg_url.replace(pg_cluster.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)
    rows = pg_cluster.psql(
        "select auth_method from pg_hba_file_rules where type = 'host' and 'all' = any(database)"
    )
    assert rows and {m for (m,) in rows} == {"scram-sha-256"}
    ((stored,),) = pg_cluster.psql(
        "select rolpassword from pg_authid where rolname = %s", "postgres", ROLE
    )
    assert stored.startswith("SCRAM-SHA-256$")


def test_two_databases_are_independent(pg_cluster: Cluster, pg_url: str) -> None:
    second = f"{pg_url.rsplit('/', 1)[1]}_other"
    other = pg_cluster.create_database(second)
    assert other != pg_url
    try:
        _each_sees_only_its_own(pg_url, other)
    finally:
        pg_cluster.drop_database(second)


def _each_sees_only_its_own(pg_url: str, other: str) -> None:
    with psycopg.connect(pg_url) as a, psycopg.connect(other) as b:
        a.execute("create table t (x text)")
        a.execute("insert into t values ('only in a')")
        a.commit()
        assert b.execute("select to_regclass('t')").fetchone() == (None,)
        b.execute("create table t (x text)")
        b.execute("insert into t values ('only in b')")
        b.commit()
        assert a.execute("select x from t").fetchall() == [("only in a",)]
        assert b.execute("select x from t").fetchall() == [("only in b",)]


def test_each_test_gets_its_own_empty_database(pg_url: str) -> None:
    # No table another test made in its own database is here: this one is new.
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "select count(*) from pg_tables where schemaname = 'public'"
        ).fetchone() == (0,)


def test_stop_then_start_keeps_the_data_and_the_url() -> None:
    # A cluster of its own: the session's server stays up for the other tests.
    started = time.monotonic()
    with postgres_cluster() as cluster:
        print(f"\ninitdb and start: {time.monotonic() - started:.2f}s")
        url = cluster.create_database("kept")
        with psycopg.connect(url) as conn:
            conn.execute("create table t (x text)")
            conn.execute("insert into t values ('survives a restart')")
        cluster.stop()
        assert not cluster.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5)
        started = time.monotonic()
        cluster.start()
        print(f"start again: {time.monotonic() - started:.2f}s")
        assert cluster.url("kept") == url
        with psycopg.connect(url) as conn:
            assert conn.execute("select x from t").fetchall() == [("survives a restart",)]
        directory = cluster.dir
    assert not directory.exists()


def test_a_connection_open_across_a_restart_fails_and_a_new_one_works(
    pg_cluster: Cluster, pg_url: str
) -> None:
    # What observer will see when its database goes away and comes back.
    conn = psycopg.connect(pg_url, autocommit=True)
    try:
        conn.execute("create table t (x int)")
        pg_cluster.stop()
        with pytest.raises(psycopg.OperationalError):
            conn.execute("select 1")
        pg_cluster.start()
    finally:
        conn.close()
    with psycopg.connect(pg_url) as again:
        assert again.execute("select count(*) from t").fetchone() == (0,)


def test_the_server_never_runs_as_root(pg_cluster: Cluster, pg_url: str) -> None:
    ((data_directory,),) = pg_cluster.psql("select current_setting('data_directory')")
    data = Path(data_directory)
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    with psycopg.connect(pg_url) as conn:  # its backend lives while the connection does
        ((backend,),) = conn.execute("select pg_backend_pid()").fetchall()
        uids = {
            "data directory": data.stat().st_uid,
            "postmaster": _uid(postmaster),
            "backend": _uid(backend),
        }
    if os.geteuid() == 0:
        assert pg_cluster.user is not None
        assert uids == dict.fromkeys(uids, pwd.getpwnam(pg_cluster.user).pw_uid)
        assert 0 not in uids.values()
    else:
        assert uids == dict.fromkeys(uids, os.geteuid())


def _uid(pid: int) -> int:
    """The real uid of a running process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def test_the_newest_complete_installation_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Debian's layout: /usr/lib/postgresql/<version>/bin, off PATH. 9.6 sorts after 15 as text.
    for version, programs in {
        "9.6": ("initdb", "pg_ctl", "postgres"),
        "15": ("initdb", "pg_ctl", "postgres"),
        "16": ("pg_ctl",),  # a client-only install: no server
    }.items():
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        for name in programs:
            program = bin_dir / name
            program.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}.3'\n")
            program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(pg, "SEARCH", str(tmp_path / "*" / "bin"))
    assert pg.find_binaries() == pg.Binaries(tmp_path / "15" / "bin", "15.3")


def test_no_postgres_is_a_skip_or_with_require_a_failure_saying_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg, "SEARCH", str(tmp_path / "*" / "bin"))
    with pytest.raises(pg.PostgresUnavailable) as missing:
        pg.find_binaries()
    sentence = (
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) are not installed: none on "
        f"PATH or in {tmp_path}/*/bin (on Debian: apt-get install postgresql)"
    )
    assert str(missing.value) == sentence
    monkeypatch.delenv("OBSERVER_REQUIRE_POSTGRES", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        postgres_missing(missing.value)
    assert str(skipped.value) == f"no PostgreSQL: {sentence}"
    monkeypatch.setenv("OBSERVER_REQUIRE_POSTGRES", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        postgres_missing(missing.value)
    assert str(failed.value) == f"OBSERVER_REQUIRE_POSTGRES=1, but {sentence}"
