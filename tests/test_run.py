"""`observer run` (and its sibling commands) as a user at a terminal and a CI pipeline see them.

Every test drives the real `observer` command in a child process against a real demo shop on
loopback, with real Chromium and a real SQLite file. Runs are shared between assertions with
module-scoped fixtures, because each `observer run` starts a browser.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Done, observer, rows

from observer.browser import find_chromium
from observer.demo.shop import ShopServer
from observer.store import SCHEMA_VERSION, SQLiteStore

EXAMPLE = ROOT / "probes.example.yaml"
EXAMPLE_PROBES = ("health", "login", "checkout")
# Every run of the example, by probe: its phone journey runs once per entry of its matrix.
EXAMPLE_RUNS = (*EXAMPLE_PROBES, "accessible shop", "buy on a phone", "buy on a phone")

RESULT_KEYS = {
    "probe",
    "kind",
    "outcome",
    "duration_ms",
    "completed",
    "last_mark",
    "steps",
    "vitals",
    "errors",
    "artifacts",
}
STEP_KEYS = {"index", "name", "action", "outcome", "duration_ms", "error"}
VITAL_KEYS = {"ttfb_ms", "fcp_ms", "lcp_ms", "cls", "load_ms"}
ERROR_KEYS = {"kind", "message", "url"}
ARTIFACT_KEYS = {"kind", "path"}
HTTP_KEYS = {"status", "time_ms", "size_bytes", "expectations"}
PAGE_KEYS = (
    "url",
    "step_index",
    "ttfb_ms",
    "fcp_ms",
    "lcp_ms",
    "cls",
    "inp_ms",
    "dcl_ms",
    "load_ms",
)


@dataclass
class Run:
    """One finished `observer run` and where its files are."""

    done: Done
    file: Path
    db: Path

    @property
    def results(self) -> list[dict[str, Any]]:
        return list(self.done.json()["results"])

    def result(self, probe: str) -> dict[str, Any]:
        return next(r for r in self.results if r["probe"] == probe)


def probe_file(folder: Path, text: str, name: str = "probes.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def copy_example(folder: Path) -> Path:
    target = folder / "probes.example.yaml"
    shutil.copy(EXAMPLE, target)
    return target


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The body rows of the results table, keyed by their first cell (the probe name)."""
    out: dict[str, list[str]] = {}
    for line in stdout.splitlines():
        line = line.replace("│", "|").replace("┃", "|").strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] and cells[0] != "probe":
            out[cells[0]] = cells
    return out


def assert_recorded(db: Path, results: list[dict[str, Any]]) -> None:
    """The database holds exactly what the JSON reported, table by table."""
    runs = {r["id"]: r for r in rows(db, "select * from runs")}
    assert sorted(runs) == sorted(r["run_id"] for r in results)
    for res in results:
        run_id = res["run_id"]
        run = runs[run_id]
        for key in ("probe", "kind", "outcome", "started_at", "duration_ms", "last_mark"):
            assert run[key] == res[key], (res["probe"], key)
        for key in ("error", "failed_step", "attempt", "location", "device"):
            assert run[key] == res[key], (res["probe"], key)
        assert run["completed"] == int(res["completed"])
        assert run["error_count"] == len(res["errors"])

        steps = rows(db, "select * from steps where run_id = ? order by idx", run_id)
        assert [
            (s["idx"], s["name"], s["action"], s["outcome"], s["duration_ms"], s["error"])
            for s in steps
        ] == [
            (s["index"], s["name"], s["action"], s["outcome"], s["duration_ms"], s["error"])
            for s in res["steps"]
        ]

        pages = rows(db, "select * from page_vitals where run_id = ? order by seq", run_id)
        assert [{k: p[k] for k in PAGE_KEYS} for p in pages] == [
            {k: p[k] for k in PAGE_KEYS} for p in res["pages"]
        ]

        errors = rows(db, "select * from errors where run_id = ? order by rowid", run_id)
        assert [(e["kind"], e["message"], e["url"], e["step_index"]) for e in errors] == [
            (e["kind"], e["message"], e["url"], e["step_index"]) for e in res["errors"]
        ]

        artifacts = rows(db, "select * from artifacts where run_id = ? order by rowid", run_id)
        assert [(a["kind"], a["path"], a["step_index"]) for a in artifacts] == [
            (a["kind"], a["path"], a["step_index"]) for a in res["artifacts"]
        ]

        expectations = rows(
            db, "select * from expectations where run_id = ? order by rowid", run_id
        )
        http = res["http"]
        assert [(e["name"], e["outcome"], e["expected"], e["actual"]) for e in expectations] == [
            (e["name"], e["outcome"], e["expected"], e["actual"])
            for e in (http["expectations"] if http else [])
        ]
        if http:
            assert run["http_status"] == http["status"]
            assert run["size_bytes"] == http["size_bytes"]
        else:
            for key in VITAL_KEYS:
                assert run[key] == res["vitals"][key], (res["probe"], key)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def shop() -> Iterator[ShopServer]:
    """One demo shop for the whole module (each journey has its own browser context)."""
    with ShopServer() as server:
        yield server


@pytest.fixture(scope="module")
def example_json(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """probes.example.yaml, healthy shop, `--json`, run from another directory."""
    folder = tmp_path_factory.mktemp("example-json")
    elsewhere = tmp_path_factory.mktemp("cwd")
    file = copy_example(folder)
    done = observer("run", str(file), "--json", env={"BASE_URL": shop.url}, cwd=elsewhere)
    assert not list(elsewhere.iterdir()), "observer wrote into the working directory"
    return Run(done, file, folder / "observer.db")


@pytest.fixture(scope="module")
def example_human(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """probes.example.yaml without --json, one probe at a time, into a --db in a new folder."""
    folder = tmp_path_factory.mktemp("example-human")
    file = copy_example(folder)
    db = folder / "elsewhere" / "results.db"
    done = observer(
        "run",
        str(file),
        "--concurrency",
        "1",
        "--db",
        str(db),
        env={"BASE_URL": shop.url},
        cwd=folder,
    )
    return Run(done, file, db)


FAILING = """
settings:
  database: results.db
vars:
  base_url: ${BASE_URL}
probes:
  - name: bad-login
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: demo@example.com}
      - fill: {selector: "#password", value: not-the-password}
      - {name: submit, click: "button[type=submit]"}
      - mark: submitted
      - {name: see welcome, expect_text: Welcome, timeout: 1s}
      - goto: ${base_url}/account
  - name: health-body
    http: ${base_url}/health
    expect: {status: 200, body_contains: all systems go}
"""


@pytest.fixture(scope="module")
def failing_json(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("failing-json")
    file = probe_file(folder, FAILING)
    done = observer("run", str(file), "--json", env={"BASE_URL": shop.url}, cwd=folder)
    return Run(done, file, folder / "results.db")


@pytest.fixture(scope="module")
def failing_human(shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("failing-human")
    file = probe_file(folder, FAILING)
    done = observer("run", str(file), env={"BASE_URL": shop.url}, cwd=folder)
    return Run(done, file, folder / "results.db")


# --------------------------------------------------------------------------- --json


def test_healthy_example_passes_with_exit_0(example_json: Run) -> None:
    done = example_json.done
    assert done.code == 0, done.stderr
    results = example_json.results
    assert [r["probe"] for r in results] == list(EXAMPLE_RUNS)
    for r in results:
        assert r["outcome"] == "pass", r
        assert r["completed"] is True, r
        assert r["error"] is None
    assert example_json.result("checkout")["last_mark"] == "cart"
    assert example_json.result("login")["last_mark"] is None


def test_json_stdout_is_pure_json_and_progress_goes_to_stderr(example_json: Run) -> None:
    payload = json.loads(example_json.done.stdout)  # nothing but the JSON document on stdout
    assert set(payload) >= {"results", "database"}
    assert isinstance(payload["results"], list)
    for probe in EXAMPLE_PROBES:
        assert re.search(rf"pass\s+{probe}\b", example_json.done.stderr), example_json.done.stderr


def test_json_contract_of_journeys(example_json: Run) -> None:
    for name in ("login", "checkout"):
        r = example_json.result(name)
        assert set(r) >= RESULT_KEYS, RESULT_KEYS - set(r)
        assert r["kind"] == "journey"
        assert isinstance(r["duration_ms"], float) and r["duration_ms"] > 0
        assert r["http"] is None
        assert r["errors"] == [] and r["artifacts"] == []  # healthy: nothing to keep
        assert [s["index"] for s in r["steps"]] == list(range(len(r["steps"])))
        for s in r["steps"]:
            assert set(s) >= STEP_KEYS, STEP_KEYS - set(s)
            assert s["outcome"] == "pass" and s["error"] is None
            assert isinstance(s["duration_ms"], float) and s["duration_ms"] >= 0
        navigations = [s for s in r["steps"] if s["action"] == "goto"]
        assert navigations and all(s["duration_ms"] > 0 for s in navigations)
        assert set(r["vitals"]) >= VITAL_KEYS
        for key in VITAL_KEYS:
            value = r["vitals"][key]
            assert isinstance(value, int | float) and value >= 0, (name, key, value)

    login = example_json.result("login")
    assert [s["action"] for s in login["steps"]] == ["goto", "fill", "fill", "click", "expect_text"]
    assert login["steps"][3]["name"] == "submit"
    checkout = example_json.result("checkout")
    # `use: login` is expanded in place: the login steps come first.
    assert [s["name"] for s in checkout["steps"][:5]] == [s["name"] for s in login["steps"]]
    assert "mark cart" in [s["name"] for s in checkout["steps"]]


def test_json_contract_of_http_checks(example_json: Run) -> None:
    r = example_json.result("health")
    assert set(r) >= RESULT_KEYS
    assert r["kind"] == "http"
    assert r["steps"] == []
    http = r["http"]
    assert set(http) >= HTTP_KEYS, HTTP_KEYS - set(http)
    assert http["status"] == 200
    assert http["size_bytes"] == len(b"ok")
    assert isinstance(http["time_ms"], float) and http["time_ms"] > 0
    assert {e["name"]: e["outcome"] for e in http["expectations"]} == {
        "status": "pass",
        "body_contains": "pass",
        "max_time": "pass",
    }
    for e in http["expectations"]:
        assert {"name", "outcome", "expected", "actual"} <= set(e)


def test_database_path_is_relative_to_the_probe_file(example_json: Run) -> None:
    reported = Path(example_json.done.json()["database"])
    assert reported.resolve() == example_json.db.resolve()
    assert example_json.db.is_file()


def test_database_matches_the_json(example_json: Run) -> None:
    assert_recorded(example_json.db, example_json.results)
    runs = rows(example_json.db, "select probe, source from runs order by id")
    assert sorted(r["probe"] for r in runs) == sorted(EXAMPLE_RUNS)
    assert {r["source"] for r in runs} == {"run"}
    # Journeys record one row per page they visited, with that page's vitals.
    checkout = example_json.result("checkout")
    pages = rows(
        example_json.db,
        "select * from page_vitals where run_id = ? order by seq",
        checkout["run_id"],
    )
    assert [p["url"] for p in pages] == [p["url"] for p in checkout["pages"]]
    assert any("/orders/" in p["url"] for p in pages)
    assert all(p["ttfb_ms"] is not None and p["ttfb_ms"] >= 0 for p in pages)


# --------------------------------------------------------------------------- human output


def test_human_output_is_a_table_and_a_summary(example_human: Run) -> None:
    done = example_human.done
    assert done.code == 0, done.stderr
    table = table_rows(done.stdout)
    for probe in EXAMPLE_PROBES:
        assert probe in table, f"{probe} missing from the table:\n{done.stdout}"
        assert "pass" in table[probe], table[probe]
    assert table["health"][1] == "http"
    assert table["checkout"][1] == "journey"
    assert "6 passed · 0 failed · 0 errors" in done.stdout
    assert str(example_human.db) in done.stdout  # says where the results went
    for probe in EXAMPLE_PROBES:
        assert re.search(rf"pass\s+{probe}\b", done.stderr), done.stderr


def test_db_option_writes_to_the_given_file_only(example_human: Run) -> None:
    assert example_human.db.is_file()  # its folder did not exist before
    assert not (example_human.file.parent / "observer.db").exists()
    runs = rows(example_human.db, "select probe, outcome from runs")
    assert sorted((r["probe"], r["outcome"]) for r in runs) == sorted(
        (p, "pass") for p in EXAMPLE_RUNS
    )
    for probe, count in (("login", 5), ("checkout", 17)):
        steps = rows(
            example_human.db,
            "select s.* from steps s join runs r on r.id = s.run_id where r.probe = ?",
            probe,
        )
        assert len(steps) == count
        assert all(s["duration_ms"] is not None for s in steps)


def test_concurrency_1_runs_probes_one_after_another(example_human: Run) -> None:
    runs = rows(example_human.db, "select started_at, duration_ms from runs order by started_at")
    spans = [(r["started_at"], r["started_at"] + r["duration_ms"] / 1000) for r in runs]
    assert len(spans) == len(EXAMPLE_RUNS)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.001, spans  # 1 ms: durations are rounded to 0.1 ms


def test_failing_journey_details_in_human_output(failing_human: Run) -> None:
    done = failing_human.done
    assert done.code == 1, done.stderr
    out = done.stdout
    table = table_rows(out)
    assert "fail" in table["bad-login"] and "fail" in table["health-body"]
    assert "0 passed · 2 failed · 0 errors" in out
    # What went wrong, in which step, and where the evidence is.
    assert "bad-login: fail" in out
    assert re.search(r"step 6 see welcome \(expect_text\) after .*no visible text 'Welcome'", out)
    # The table says where a failed journey stopped and how far it got.
    assert "stopped at step 6 (see welcome); reached mark 'submitted'" in " ".join(
        table["bad-login"]
    ), table["bad-login"]
    assert "  reached mark 'submitted'" in out
    shots = re.findall(r"^\s+screenshot: (\S+)$", out, re.M)
    traces = re.findall(r"^\s+trace: (\S+)$", out, re.M)
    assert len(shots) == 1 and len(traces) == 1, out
    assert shots[0].endswith("failure.png") and Path(shots[0]).is_file()
    assert traces[0].endswith("trace.zip") and Path(traces[0]).is_file()
    assert "health-body: fail" in out
    assert "all systems go" in out


# --------------------------------------------------------------------------- failures in JSON/DB


def test_failing_run_json_and_exit_1(failing_json: Run) -> None:
    done = failing_json.done
    assert done.code == 1, done.stderr
    login = failing_json.result("bad-login")
    assert login["outcome"] == "fail"
    assert login["completed"] is False
    assert login["failed_step"] == 5
    assert login["last_mark"] == "submitted"
    assert [s["outcome"] for s in login["steps"]] == ["pass"] * 5 + ["fail", "skipped"]
    failed = login["steps"][5]
    assert failed["name"] == "see welcome"
    assert "expect_text: no visible text 'Welcome' on http" in failed["error"]
    assert login["error"].startswith("step 6 (see welcome): ")

    assert login["errors"], "the 401 from the login form should be recorded"
    for e in login["errors"]:
        assert set(e) >= ERROR_KEYS
    http_errors = [e for e in login["errors"] if e["kind"] == "http"]
    assert any("401" in e["message"] and e["url"].endswith("/login") for e in http_errors)

    kinds = sorted(a["kind"] for a in login["artifacts"])
    assert kinds == ["screenshot", "trace"]
    for a in login["artifacts"]:
        assert set(a) >= ARTIFACT_KEYS
        assert Path(a["path"]).is_file()
        assert Path(a["path"]).resolve().is_relative_to(failing_json.file.parent.resolve())

    health = failing_json.result("health-body")
    assert health["outcome"] == "fail"
    outcomes = {e["name"]: e["outcome"] for e in health["http"]["expectations"]}
    assert outcomes == {"status": "pass", "body_contains": "fail"}


def test_failing_run_is_recorded_like_the_json(failing_json: Run) -> None:
    assert_recorded(failing_json.db, failing_json.results)
    login = failing_json.result("bad-login")
    errors = rows(failing_json.db, "select * from errors where run_id = ?", login["run_id"])
    assert errors and any(e["kind"] == "http" for e in errors)
    artifacts = rows(failing_json.db, "select * from artifacts where run_id = ?", login["run_id"])
    assert sorted(a["kind"] for a in artifacts) == ["screenshot", "trace"]
    health = failing_json.result("health-body")
    expectations = rows(
        failing_json.db, "select * from expectations where run_id = ?", health["run_id"]
    )
    assert {e["name"]: e["outcome"] for e in expectations} == {
        "status": "pass",
        "body_contains": "fail",
    }


# --------------------------------------------------------------------------- --probe


def test_probe_option_runs_only_the_named_probes(shop: ShopServer, tmp_path: Path) -> None:
    file = copy_example(tmp_path)
    db = tmp_path / "chosen.db"
    done = observer(
        "run",
        str(file),
        "--probe",
        "login",
        "--probe",
        "health",
        "--json",
        "--db",
        str(db),
        env={"BASE_URL": shop.url},
        cwd=tmp_path,
    )
    assert done.code == 0, done.stderr
    results = done.json()["results"]
    assert sorted(r["probe"] for r in results) == ["health", "login"]
    assert all(r["outcome"] == "pass" for r in results)
    assert sorted(r["probe"] for r in rows(db, "select probe from runs")) == ["health", "login"]
    assert not (tmp_path / "observer.db").exists()


def test_unknown_probe_is_a_usage_error(tmp_path: Path) -> None:
    file = copy_example(tmp_path)
    done = observer("run", str(file), "--probe", "chekout", env={"BASE_URL": "http://127.0.0.1:9"})
    assert done.code == 2
    assert "no probe named 'chekout'" in done.stderr
    assert "checkout" in done.stderr  # the hint
    assert done.stdout == ""


# --------------------------------------------------------------------------- concurrency

EIGHT = """
settings:
  database: eight.db
vars:
  base_url: ${BASE_URL}
probes:
  - name: login-demo
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: demo@example.com}
      - fill: {selector: "#password", value: demo}
      - click: "button[type=submit]"
      - expect_text: "Welcome, demo@example.com"
  - name: login-alice
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: alice@example.com}
      - fill: {selector: "#password", value: wonderland}
      - click: "button[type=submit]"
      - expect_text: "Welcome, alice@example.com"
  - name: login-bob
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: bob@example.com}
      - fill: {selector: "#password", value: builder}
      - click: "button[type=submit]"
      - expect_text: "Welcome, bob@example.com"
  - name: login-refused
    journey:
      - goto: ${base_url}/login
      - fill: {selector: "#email", value: demo@example.com}
      - fill: {selector: "#password", value: wrong}
      - click: "button[type=submit]"
      - expect_text: Invalid email or password
"""
for _i, _name in enumerate(
    ("Espresso Cup Set", "Pour-Over Kettle", "Ceramic Dripper", "Burr Coffee Grinder"), 1
):
    EIGHT += f"""
  - name: browse-{_i}
    journey:
      - goto: ${{base_url}}/products
      - click: "text={_name}"
      - expect_url: "**/products/{_i}"
      - expect_text: {{text: "{_name}", selector: h1}}
"""


def test_eight_journeys_at_once_all_finish_and_are_recorded(
    shop: ShopServer, tmp_path: Path
) -> None:
    file = probe_file(tmp_path, EIGHT)
    done = observer(
        "run", str(file), "--concurrency", "8", "--json", env={"BASE_URL": shop.url}, cwd=tmp_path
    )
    assert done.code == 0, done.stdout + done.stderr
    results = done.json()["results"]
    names = [r["probe"] for r in results]
    assert len(names) == 8 and len(set(names)) == 8
    for r in results:
        assert r["outcome"] == "pass" and r["completed"], r
    db = tmp_path / "eight.db"
    runs = rows(db, "select * from runs")
    assert sorted(r["probe"] for r in runs) == sorted(names)
    for r in results:
        steps = rows(db, "select * from steps where run_id = ? order by idx", r["run_id"])
        assert len(steps) == len(r["steps"]) > 0
        assert all(s["outcome"] == "pass" for s in steps)
    assert_recorded(db, results)
    # They really ran side by side: at least two runs' time spans overlap.
    spans = sorted((r["started_at"], r["started_at"] + r["duration_ms"] / 1000) for r in runs)
    assert any(
        spans[i][0] < spans[j][1] and spans[j][0] < spans[i][1]
        for i in range(len(spans))
        for j in range(i + 1, len(spans))
    ), spans


# --------------------------------------------------------------------------- doctor


def test_doctor_reports_browser_playwright_and_schema(tmp_path: Path) -> None:
    db = tmp_path / "doctor.db"
    SQLiteStore(db).close()  # doctor looks at a database; it does not create one
    done = observer("doctor", "--db", str(db), cwd=tmp_path)
    assert done.code == 0, done.stdout + done.stderr
    out = done.stdout
    assert find_chromium().path in out
    assert version("playwright") in out
    assert f"schema {SCHEMA_VERSION}/{SCHEMA_VERSION}" in out
    assert re.search(r"^ok\s+database\s+" + re.escape(str(db)), out, re.M), out
    assert "FAIL" not in out


def test_doctor_without_a_browser_exits_3_and_says_why(tmp_path: Path) -> None:
    done = observer(
        "doctor",
        "--db",
        str(tmp_path / "doctor.db"),
        env={"OBSERVER_CHROMIUM": "/nonexistent"},
        cwd=tmp_path,
    )
    assert done.code == 3, done.stdout + done.stderr
    out = done.stdout + done.stderr
    assert re.search(r"FAIL\s+browser\s+.*'/nonexistent'.*not an executable", out), out
    assert "To install a browser" in out


# --------------------------------------------------------------------------- demo


def test_demo_starts_its_own_shop_and_passes(tmp_path: Path) -> None:
    file = copy_example(tmp_path)
    done = observer("demo", str(file), "--rounds", "1", cwd=tmp_path)
    assert done.code == 0, done.stdout + done.stderr
    assert re.search(r"demo shop at http://127\.0\.0\.1:\d+, observer at http://127", done.stderr)
    table = table_rows(done.stdout)
    for probe in EXAMPLE_PROBES:
        assert "pass" in table.get(probe, []), done.stdout
    assert "6 passed · 0 failed · 0 errors" in done.stdout
    runs = rows(tmp_path / "observer.db", "select probe, outcome from runs")
    assert sorted((r["probe"], r["outcome"]) for r in runs) == sorted(
        (p, "pass") for p in EXAMPLE_RUNS
    )
    # The shop carries the snippet: the pretend customers' beacons land as real users, the
    # journeys' own as synthetic, and the field budgets are judged.
    beacons = rows(
        tmp_path / "observer.db", "select synthetic, count(*) as n from beacons group by synthetic"
    )
    counts = {b["synthetic"]: b["n"] for b in beacons}
    assert counts.get(0, 0) > 0 and counts.get(1, 0) > 0, counts
    assert "real-user beacons" in done.stdout
    assert "field LCP on product pages" in done.stdout


# --------------------------------------------------------------------------- help

COMMANDS = {
    "run",
    "validate",
    "schema",
    "doctor",
    "demo-shop",
    "demo",
    "check",
    "budgets",
    "serve",
    "prune",
    "alerts",
    "silence",
}


def listed_commands(help_text: str) -> set[str]:
    section = help_text.split("Commands:", 1)[1]
    return {m.group(1) for m in re.finditer(r"^\s{2}(\S+)", section, re.M)}


def test_help_lists_every_command_and_each_has_help() -> None:
    done = observer("--help")
    assert done.code == 0, done.stderr
    listed = listed_commands(done.stdout)
    assert listed >= COMMANDS, COMMANDS - listed
    for command in sorted(listed):
        sub = observer(command, "--help")
        assert sub.code == 0, (command, sub.stderr)
        assert f"Usage: observer {command}" in sub.stdout.replace("python -m observer", "observer")
