"""Least privilege on PostgreSQL: one account owns and migrates the tables, and each role's
process logs in as an account granted only what that role does (`observer db grant`). Real
processes under real accounts on a real PostgreSQL, a real site and a real webhook receiver."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from conftest import ServeProcess, observer
from pages import Page, PageServer
from pg import Cluster
from psycopg import sql
from test_cluster import START_TIMEOUT, Hook, beacon, query, wait_for

from observer.store import SCHEMA_VERSION, StoreError, open_store
from observer.store.rows import BeaconRow

DAY = 86400.0


def account(cluster: Cluster, url: str, name: str) -> str:
    """A new login account (no privileges of its own); the database's URL as that account."""
    password = f"pw-{name}"
    cluster.psql(
        sql.SQL("create role {} login password {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    parts = urlsplit(url)
    netloc = f"{name}:{password}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def unique(url: str, role: str) -> str:
    # Accounts belong to the whole cluster: name them after this test's database.
    return f"{role}_{urlsplit(url).path.lstrip('/')}"[:63]


def grant(role: str, name: str, owner_url: str) -> None:
    done = observer("db", "grant", role, name, "--db", owner_url)
    assert done.code == 0, done.stderr
    assert f"{name} may now do what observer's {role} role does" in done.stdout


def refused(url: str, statement: str) -> bool:
    """True when this account may not run the statement."""
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


def test_each_role_runs_under_an_account_with_only_its_privileges(
    tmp_path: Path, pg_url: str, pg_cluster: Cluster
) -> None:
    done = observer("db", "migrate", "--db", pg_url)
    assert done.code == 0, done.stderr
    assert f"schema {SCHEMA_VERSION} of {SCHEMA_VERSION}" in done.stdout
    assert "pw-" not in done.stdout and pg_cluster.password not in done.stdout
    urls = {}
    for role in ("runner", "ingest", "alerter", "web"):
        name = unique(pg_url, role)
        urls[role] = account(pg_cluster, pg_url, name)
        grant(role, name, pg_url)

    hook = Hook()
    state = {"up": True}
    with PageServer({"/": Page(lambda n: "hello" if state["up"] else "down")}) as site:
        path = tmp_path / "probes.yaml"
        path.write_text(
            f"""
settings:
  evaluate_every: 1s
rum:
  rate_limit: off
probes:
  - name: home
    http: {site.url}/
    every: 1s
    expect: {{body_contains: hello}}
alerts:
  channels:
    hook: {hook.url}
  rules:
    - name: home down
      probes: [home]
      after: 2
      resolve_after: 2
      notify: [hook]
""",
            encoding="utf-8",
        )
        procs = {
            role: ServeProcess(path, url, "--role", role, start_timeout=START_TIMEOUT)
            for role, url in urls.items()
        }
        try:
            # ingest: a beacon is acknowledged only once stored, in a day it made itself.
            answer = httpx.post(f"{procs['ingest'].url}/beacon", json=beacon(7), timeout=30)
            assert answer.status_code in (200, 202, 204), procs["ingest"].tail()
            assert query(pg_url, "select value from beacons where metric = 'lcp'") == [(1007.0,)]
            # runner: runs recorded; alerter: the outage fires once, then resolves.
            wait_for("two runs", lambda: query(pg_url, "select count(*) from runs")[0][0] >= 2)
            state["up"] = False
            wait_for("the firing message", lambda: any("FIRING" in t for t in hook.titles()))
            state["up"] = True
            wait_for("the resolved message", lambda: any("RESOLVED" in t for t in hook.titles()))
            # web: the dashboard and /api read everything, and every process is listed.
            web = procs["web"].url
            assert httpx.get(f"{web}/api/runs", timeout=30).json()
            assert httpx.get(f"{web}/api/incidents", timeout=30).json()
            assert httpx.get(f"{web}/", timeout=30).status_code == 200
            # The runner and the alerter heartbeat (ingest and web run no schedule).
            listed = httpx.get(f"{web}/api/runners", timeout=30).json()["runners"]
            assert sorted(r["roles"] for r in listed) == [["alerter"], ["runner"]], listed
        finally:
            for process in procs.values():
                process.stop()
            hook.close()
    for role, process in procs.items():
        assert "permission denied" not in process.tail(), f"{role}: {process.tail()}"
    assert [t.split("]")[0] for t in hook.titles()] == ["[FIRING", "[RESOLVED"]

    # Each account holds its role's privileges and no others.
    assert refused(urls["web"], "insert into silences (pattern, starts_at, ends_at) "
                   "values ('x', 0, 1)")  # fmt: skip
    assert refused(urls["web"], "delete from runs")
    assert refused(urls["ingest"], "delete from beacons")
    assert refused(urls["ingest"], "insert into incidents (rule, subject) values ('r', 's')")
    assert refused(urls["runner"], "insert into beacons (received_at) values (0)")
    assert refused(urls["runner"], "update runs set outcome = 'pass'")
    assert refused(urls["alerter"], "insert into runs (probe) values ('x')")
    assert refused(urls["web"], "update runners set location = 'x'")
    assert refused(urls["ingest"], "update runners set location = 'x'")
    for url in urls.values():
        assert refused(url, "create table mine (x int)")
        assert refused(url, "drop table beacon_keys")
        assert refused(url, "select observer_beacon_day(0)") == (url != urls["ingest"])


def test_the_alerter_account_prunes_whole_beacon_days(pg_url: str, pg_cluster: Cluster) -> None:
    name = unique(pg_url, "alerter")
    alerter = account(pg_cluster, pg_url, name)
    now = time.time()
    today = now - now % DAY
    with open_store(pg_url) as owner:  # the owner migrates, and ingest made these days
        owner.grant("alerter", name)
        rows = [
            BeaconRow(received_at=t, metric="lcp", value=1.0, page="/")
            for t in (today - 3 * DAY + 5, today - 3 * DAY + 6, today - 2 * DAY + 5, now)
        ]
        owner.insert_beacons(rows)
    with open_store(alerter) as store:
        assert store.prune_beacons(today - DAY) == 3
    days = query(
        pg_url,
        "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
        "where i.inhparent = 'beacons'::regclass",
    )
    assert len(days) == 1  # today's; the two past days were dropped, not emptied
    assert query(pg_url, "select count(*) from beacons")[0][0] == 1


def test_an_account_that_may_not_migrate_says_who_should(pg_url: str, pg_cluster: Cluster) -> None:
    name = unique(pg_url, "web")
    web = account(pg_cluster, pg_url, name)
    with pytest.raises(StoreError) as caught:
        open_store(web)  # an empty database: schema 0
    message = str(caught.value)
    assert f"has schema 0 and this observer needs {SCHEMA_VERSION}" in message
    assert f"but {name} may not change the tables" in message
    assert "run `observer db migrate` as the account that owns them" in message
    assert "pw-" not in message
    done = observer("doctor", "--db", web)
    assert done.code == 3 and "run `observer db migrate`" in done.stdout, done.stdout
    assert "pw-" not in done.stdout + done.stderr


def test_grant_says_what_it_cannot_do(tmp_path: Path, pg_url: str) -> None:
    # An account that does not exist.
    done = observer("db", "grant", "web", "nobody_here", "--db", pg_url)
    assert done.code == 3, done.stdout
    assert 'cannot grant web to nobody_here: role "nobody_here" does not exist' in done.stderr
    # --sql prints what it would run, and runs none of it.
    done = observer("db", "grant", "ingest", "nobody_here", "--db", pg_url, "--sql")
    assert done.code == 0, done.stderr
    lines = done.stdout.splitlines()
    assert 'grant insert, update on beacons, beacon_keys to "nobody_here";' in lines
    assert (
        'grant execute on function observer_beacon_day(double precision) to "nobody_here";' in lines
    )
    assert not any("delete" in line for line in lines)
    # An unknown role, and a file that has no accounts.
    done = observer("db", "grant", "boss", "someone", "--db", pg_url)
    assert done.code == 2 and "'boss' is not one of" in done.stderr
    done = observer("db", "grant", "web", "someone", "--db", str(tmp_path / "o.db"))
    assert done.code == 3
    assert "SQLite file, which has no accounts to grant to" in done.stderr


def test_statements_per_role_are_disjoint_where_they_should_be() -> None:
    from observer.store.grants import grant_statements

    every = grant_statements("all", "a", "d", "public")
    for role in ("runner", "ingest", "alerter", "web"):
        mine = grant_statements(role, "a", "d", "public")
        assert set(mine) <= set(every)
    web = " ".join(grant_statements("web", "a", "d", "public"))
    assert "delete" not in web and "execute" not in web
    assert "grant select on runs" in " ".join(grant_statements("web", 'we"ird', "d", "public"))
    assert all(s.endswith('to "we""ird"') for s in grant_statements("web", 'we"ird', "d", "p"))


def test_upgrading_to_accessibility_keeps_each_accounts_privileges(
    pg_url: str, pg_cluster: Cluster
) -> None:
    """Migration 10 adds a table: accounts granted before it may do on it what they did on
    a run's other details, with no second `observer db grant`."""
    open_store(pg_url).close()
    names = {role: unique(pg_url, f"up_{role}") for role in ("runner", "alerter", "web")}
    urls = {role: account(pg_cluster, pg_url, name) for role, name in names.items()}
    for role, name in names.items():
        grant(role, name, pg_url)
    # Back to schema 9, as an observer of before this change left it.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop table a11y_violations")
        conn.execute("alter table runs drop column conditions, drop column a11y_pages")
        conn.execute("delete from migrations where version = 10")
    store = open_store(pg_url)  # `observer db migrate`: the owner brings it to 10
    store.close()
    assert SCHEMA_VERSION == 10
    insert = (
        "insert into a11y_violations (run_id, url, page, rule, impact, target) "
        "select id, 'u', '/', 'r', 'minor', 't' from runs limit 1"
    )
    assert not refused(urls["runner"], insert)
    assert not refused(urls["alerter"], "delete from a11y_violations")
    assert not refused(urls["web"], "select count(*) from a11y_violations")
    assert refused(urls["web"], insert)
    assert refused(urls["runner"], "delete from a11y_violations")
