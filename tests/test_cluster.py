"""Several `observer serve` processes on one PostgreSQL: runners in two locations, two runners
sharing one location's slots (none run twice, and one takes over when the other is killed),
and roles refused where they cannot work. Real processes, a real PostgreSQL, a real site."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, observer
from pages import Page, PageServer

from observer.store import open_store

START_TIMEOUT = 30.0


@pytest.fixture
def site() -> Iterator[PageServer]:
    with PageServer({"/": Page("hello")}) as server:
        yield server


def config(folder: Path, site: PageServer) -> Path:
    path = folder / "probes.yaml"
    path.write_text(
        f"""
settings:
  evaluate_every: 1s
probes:
  - name: home
    http: {site.url}/
    every: 1s
    expect: {{status: 200}}
""",
        encoding="utf-8",
    )
    return path


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll until check() is truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} did not happen within {timeout:g}s")


def query(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql, list(args)).fetchall()]


def test_runners_in_two_locations_both_record_and_show(
    tmp_path: Path, pg_url: str, site: PageServer
) -> None:
    path = config(tmp_path, site)
    eu = ServeProcess(
        path, pg_url, "--role", "runner", "--role", "web", "--location", "eu-west",
        start_timeout=START_TIMEOUT,
    )  # fmt: skip
    us = ServeProcess(
        path, pg_url, "--role", "runner", "--location", "us-east", start_timeout=START_TIMEOUT
    )
    try:

        def locations() -> set[str]:
            with open_store(pg_url) as store:
                return {r.location or "" for r in store.runs(probe="home")}

        wait_for("runs from both locations", lambda: locations() == {"eu-west", "us-east"})
        runners = httpx.get(f"{eu.url}/api/runners", timeout=10).json()
        assert runners["locations"] == ["eu-west", "us-east"]
        assert all(r["live"] for r in runners["runners"]) and len(runners["runners"]) == 2
        assert runners["drift"] == {"versions": [], "config_hashes": []}
        # The runner role serves no dashboard and takes no beacons.
        assert httpx.get(f"{us.url}/api/runs", timeout=10).status_code == 404
        assert httpx.post(f"{us.url}/beacon", json={}, timeout=10).status_code in (404, 405)
    finally:
        assert eu.stop() == 0 and us.stop() == 0


def test_two_runners_at_one_location_share_its_slots_and_take_over(
    tmp_path: Path, pg_url: str, site: PageServer
) -> None:
    path = config(tmp_path, site)
    a = ServeProcess(path, pg_url, "--role", "runner", "--location", "eu-west",
                     start_timeout=START_TIMEOUT)  # fmt: skip
    b = ServeProcess(path, pg_url, "--role", "runner", "--location", "eu-west",
                     start_timeout=START_TIMEOUT)  # fmt: skip
    try:

        def slots() -> int:
            return int(query(pg_url, "select count(*) from slots where probe = 'home'")[0][0])

        wait_for("eight slots claimed", lambda: slots() >= 8)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=30)
        killed = time.time()
        with open_store(pg_url) as store:
            now = store.db_time()
        offset = now - time.time()  # the database's clock against ours
        wait_for(
            "three slots run by the survivor after the kill",
            lambda: (
                len(
                    query(
                        pg_url,
                        "select slot from slots where probe = 'home' and claimed_at > %s",
                        killed + offset,
                    )
                )
                >= 3
            ),
            timeout=1 + 30 + 15,  # one interval and 30 s, and slack for a loaded machine
        )
    finally:
        assert b.stop() == 0
    # Every claimed slot ran exactly once: as many runs as claims, no slot twice.
    claims = query(pg_url, "select slot, count(*) from slots where probe = 'home' group by slot")
    assert all(n == 1 for _, n in claims)
    runs = query(pg_url, "select count(*) from runs where probe = 'home'")[0][0]
    # A run in flight when a runner is killed is the one claimed slot without a run.
    assert len(claims) - 1 <= runs <= len(claims), (runs, len(claims))
    first = query(
        pg_url,
        "select min(claimed_at) from slots where probe = 'home' and claimed_at > %s",
        killed + offset,
    )[0][0]
    assert first - (killed + offset) <= 1 + 30, "takeover took longer than an interval + 30 s"


def test_roles_need_postgresql(tmp_path: Path, site: PageServer) -> None:
    path = config(tmp_path, site)
    done = observer("serve", str(path), "--role", "ingest", "--db", str(tmp_path / "o.db"))
    assert done.code == 2
    assert "--role ingest needs PostgreSQL" in done.stderr
    assert not (tmp_path / "o.db").exists()
