"""observer on PostgreSQL, as a user meets it: `--db postgresql://...`, OBSERVER_DATABASE and
settings.database choose the database in that order; every command works on it; the password
shows nowhere. Real commands, a real server, a throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from conftest import ServeProcess, observer
from pages import Page, PageServer

from observer.store import SCHEMA_VERSION, open_store

START_TIMEOUT = 30.0


def probe_file(folder: Path, site: str, database: str | None = None) -> Path:
    path = folder / "probes.yaml"
    settings = f"settings:\n  database: {database}\n" if database else ""
    path.write_text(
        settings
        + f"""
probes:
  - name: home
    http: {site}/
    expect: {{status: 200, body_contains: hello}}
budgets:
  - name: home answers
    probe: home
    metric: time
    threshold: p95 < 5s
""",
        encoding="utf-8",
    )
    return path


def runs_in(url: str) -> list[str]:
    with open_store(url) as store:
        return [r.probe for r in store.runs()]


def test_commands_run_on_postgresql_and_never_show_its_password(
    tmp_path: Path, pg_url: str
) -> None:
    password = urlsplit(pg_url).password or ""
    assert password
    with PageServer({"/": Page("hello")}) as site:
        path = probe_file(tmp_path, site.url)
        done = observer("run", str(path), "--db", pg_url, "--json")
        assert done.code == 0, done.stderr
        shown = done.json()["database"]
        assert shown.startswith("postgresql://") and ":***@" in shown
        assert password not in done.stdout + done.stderr
        assert runs_in(pg_url) == ["home"]
        assert not (tmp_path / "observer.db").exists()  # nothing went to an SQLite file

        check = observer("check", str(path), "--db", pg_url, "--runs", "2", "--json")
        assert check.code == 0, check.stderr
        (verdict,) = check.json()["budgets"]
        assert (verdict["outcome"], verdict["samples"]) == ("pass", 2)

    budgets = observer("budgets", str(path), "--db", pg_url, "--json")
    assert budgets.code == 0, budgets.stderr
    assert budgets.json()["budgets"][0]["samples"] == 3  # the run and the check's two
    doctor = observer("doctor", str(path), "--db", pg_url)
    line = next(ln for ln in doctor.stdout.splitlines() if "database" in ln)
    assert f"schema {SCHEMA_VERSION}/{SCHEMA_VERSION}, 3 runs, PostgreSQL" in line, doctor.stdout
    assert ":***@" in line, doctor.stdout
    assert password not in doctor.stdout + doctor.stderr
    prune = observer("prune", str(path), "--db", pg_url)
    assert prune.code == 0 and password not in prune.stdout + prune.stderr


def test_db_then_environment_then_settings_choose_the_database(
    tmp_path: Path, pg_cluster: Any
) -> None:
    urls = {name: pg_cluster.create_database(f"choice_{name}") for name in ("flag", "env", "file")}
    try:
        with PageServer({"/": Page("hello")}) as site:
            path = probe_file(tmp_path, site.url, database="${DB_URL}")
            env = {"DB_URL": urls["file"]}
            assert observer("run", str(path), env=env).code == 0
            env_too = {**env, "OBSERVER_DATABASE": urls["env"]}
            assert observer("run", str(path), env=env_too).code == 0
            assert observer("run", str(path), "--db", urls["flag"], env=env_too).code == 0
            # A file path still means SQLite, relative to where the command runs.
            local = observer("run", str(path), "--db", "here.db", env=env_too, cwd=tmp_path)
            assert local.code == 0 and (tmp_path / "here.db").exists()
        assert [len(runs_in(urls[n])) for n in ("flag", "env", "file")] == [1, 1, 1]
    finally:
        for name in urls:
            pg_cluster.drop_database(f"choice_{name}")


def test_a_database_that_cannot_be_used_is_said_in_one_sentence(
    pg_url: str, tmp_path: Path
) -> None:
    password = urlsplit(pg_url).password or ""
    path = probe_file(tmp_path, "http://127.0.0.1:9")
    wrong = pg_url.replace(f":{password}@", ":WrongPassword@")
    done = observer("run", str(path), "--db", wrong)
    assert done.code == 3
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("observer: postgresql://") and "password authentication failed" in line
    assert "WrongPassword" not in line and password not in line
    nowhere = "postgresql://observer:secret-pw@127.0.0.1:1/none"
    done = observer("budgets", str(path), "--db", nowhere)
    assert done.code == 3 and "cannot connect" in done.stderr and "secret-pw" not in done.stderr


def test_serve_on_postgresql_logs_and_answers_without_the_password(
    tmp_path: Path, pg_url: str
) -> None:
    password = urlsplit(pg_url).password or ""
    with PageServer({"/": Page("hello")}) as site:
        path = probe_file(tmp_path, site.url)
        path.write_text(
            path.read_text().replace("    http:", "    every: 1s\n    http:", 1), encoding="utf-8"
        )
        serve = ServeProcess(path, pg_url, start_timeout=START_TIMEOUT)
        try:
            listen = serve.events("listen")
            assert listen and ":***@" in listen[0]["msg"], serve.tail()
            runs: list[dict[str, Any]] = []
            deadline = time.monotonic() + 60
            while not runs and time.monotonic() < deadline:  # the probe runs every second
                assert serve.proc.poll() is None, serve.tail()
                runs = httpx.get(f"{serve.url}/api/runs", timeout=10).json()["runs"]
                if not runs:
                    time.sleep(ServeProcess.POLL)
            assert runs and runs[0]["probe"] == "home", serve.tail()
        finally:
            code = serve.stop()
        assert code == 0
        assert password not in serve.text()
    assert os.environ.get("OBSERVER_DATABASE") is None  # the tests never set it for others
