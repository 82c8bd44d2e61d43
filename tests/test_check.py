"""`observer check` and `observer budgets` end to end: the deploy gate as a CI pipeline sees it.

Every test drives the real `observer` command in a child process against a real demo shop on
loopback (faults switched on over HTTP), with real Chromium and a real SQLite file. Checks
that several tests read are made once per module.

Budgets that must pass have thresholds far above what a healthy shop takes; budgets that must
break are broken by a delay fault several times their limit, so no assertion depends on how
fast this machine happens to be.
"""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import Done, observer, rows, set_faults

from observer.budgets import percentile
from observer.demo.shop import ShopServer
from observer.results import Outcome, ProbeResult
from observer.store import SQLiteStore

SHOP_FILE = """\
settings:
  database: observer.db
probes:
  - name: health
    http: ${BASE_URL}/health
    expect: {status: 200, body_contains: ok}
  - name: product
    journey:
      - {name: open, goto: "${BASE_URL}/products/1"}
      - expect_text: Add to cart
budgets:
  - name: health answers fast
    probe: health
    metric: time
    threshold: p95 < 1s
  - name: health is up
    probe: health
    metric: status
    threshold: max == 200
  - name: product page fast
    probe: product
    metric: duration
    threshold: p95 < 3s
  - name: product completes
    probe: product
    metric: completion
    threshold: rate >= 100%
  - name: product opens
    probe: product
    metric: step:open
    threshold: p95 < 30s
  - name: everything completes
    probes: ["*"]
    metric: completion
    threshold: rate >= 100%
"""
BUDGETS = [
    "health answers fast",
    "health is up",
    "product page fast",
    "product completes",
    "product opens",
    "everything completes",
]
COVERS_HEALTH = ["health answers fast", "health is up", "everything completes"]
# Several times the limits of the two time budgets above (1 s and 3 s).
DELAY_MS = 3500


@dataclass
class Check:
    """A finished `observer check` (or `observer budgets`) and the files it wrote."""

    done: Done
    folder: Path
    file: Path

    @property
    def db(self) -> Path:
        return self.folder / "observer.db"

    def json(self) -> dict[str, Any]:
        data = self.done.json()
        assert isinstance(data, dict)
        return data

    def budget(self, name: str) -> dict[str, Any]:
        return next(b for b in self.json()["budgets"] if b["name"] == name)

    @property
    def output(self) -> str:
        return self.done.stdout + self.done.stderr


def put(folder: Path, text: str, name: str = "probes.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def check(
    folder: Path, *args: str, base_url: str, env: dict[str, str] | None = None, **kw: Any
) -> Done:
    """`observer check probes.yaml ARGS` in folder against the shop at base_url."""
    return observer(
        "check", "probes.yaml", *args, env={"BASE_URL": base_url, **(env or {})}, cwd=folder, **kw
    )


def junit_cases(path: Path) -> dict[str, list[ET.Element]]:
    """Testcases of a JUnit file by suite name (the file must parse)."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return {s.get("name", ""): s.findall("testcase") for s in root.findall("testsuite")}


# ----------------------------------------------------------------------------- shared runs


@pytest.fixture(scope="module")
def module_shop() -> Iterator[ShopServer]:
    with ShopServer() as server:
        yield server


@pytest.fixture(scope="module")
def healthy(module_shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Check:
    """A check of a healthy shop: 3 rounds, JSON on stdout, JUnit and Markdown files."""
    folder = tmp_path_factory.mktemp("healthy")
    file = put(folder, SHOP_FILE)
    done = check(
        folder,
        "--runs",
        "3",
        "--json",
        "--junit",
        "reports/observer.xml",
        "--markdown",
        "reports/observer.md",
        base_url=module_shop.url,
    )
    return Check(done, folder, file)


@pytest.fixture(scope="module")
def slow_shop() -> Iterator[ShopServer]:
    """A shop that answers every request DELAY_MS late."""
    with ShopServer() as server:
        set_faults(server, delay_ms=DELAY_MS)
        yield server


@pytest.fixture(scope="module")
def slow(slow_shop: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Check:
    """A human-readable check of the slow shop with every reporter a pipeline would ask for."""
    folder = tmp_path_factory.mktemp("slow")
    file = put(folder, SHOP_FILE)
    summary = folder / "step-summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    done = check(
        folder,
        "--runs",
        "2",
        "--github",
        "--junit",
        "observer.xml",
        "--markdown",
        "pr/observer.md",
        base_url=slow_shop.url,
        env={"GITHUB_STEP_SUMMARY": str(summary), "COLUMNS": "200"},
    )
    return Check(done, folder, file)


@pytest.fixture(scope="module")
def slow_json(slow: Check, slow_shop: ShopServer) -> Check:
    """The slow shop again, as JSON, into the same database (one round of the http check)."""
    done = check(slow.folder, "--runs", "1", "--probe", "health", "--json", base_url=slow_shop.url)
    return Check(done, slow.folder, slow.file)


# ----------------------------------------------------------------------------- healthy


def test_healthy_shop_passes_with_exit_0(healthy: Check) -> None:
    assert healthy.done.code == 0, healthy.output
    data = healthy.json()
    assert data["exit_code"] == 0
    assert [b["name"] for b in data["budgets"]] == BUDGETS
    assert all(b["outcome"] == "pass" for b in data["budgets"]), data["budgets"]
    assert data["summary"]["budgets"] == {
        "pass": 6,
        "degraded": 0,
        "fail": 0,
        "inconclusive": 0,
    }
    assert data["summary"]["runs"] == {"pass": 6, "fail": 0, "error": 0}
    assert data["summary"]["rounds"] == 3
    assert data["summary"]["flaky"] == []


def test_json_budgets_carry_value_limit_samples_probes_values(healthy: Check) -> None:
    data = healthy.json()
    for b in data["budgets"]:
        assert {"outcome", "value", "limit", "samples", "probes", "values"} <= set(b)
        assert b["samples"] == len(b["values"])
    fast = healthy.budget("health answers fast")
    assert fast["probes"] == ["health"]
    assert fast["samples"] == 3  # one per round
    assert fast["limit"] == 1000.0
    assert fast["value"] == pytest.approx(percentile(fast["values"], 95))
    times = [r["duration_ms"] for r in data["results"] if r["probe"] == "health"]
    assert sorted(fast["values"]) == sorted(times)
    assert healthy.budget("health is up")["values"] == [200.0, 200.0, 200.0]
    assert healthy.budget("product completes")["values"] == [1.0, 1.0, 1.0]
    assert healthy.budget("product completes")["value"] == 1.0
    assert healthy.budget("product opens")["samples"] == 3
    everything = healthy.budget("everything completes")
    assert everything["probes"] == ["health", "product"]
    assert everything["samples"] == 6


def test_json_results_are_every_run(healthy: Check) -> None:
    results = healthy.json()["results"]
    assert len(results) == 6
    assert sorted(r["probe"] for r in results) == ["health"] * 3 + ["product"] * 3
    assert all(r["outcome"] == "pass" and r["flaky"] is False for r in results)
    batch = healthy.json()["batch"]
    recorded = rows(healthy.db, "select probe, source, batch, final from runs")
    assert len(recorded) == 6
    assert {(r["source"], r["batch"], r["final"]) for r in recorded} == {("check", batch, 1)}


def test_junit_has_a_testcase_per_budget_and_per_run(healthy: Check) -> None:
    cases = junit_cases(healthy.folder / "reports" / "observer.xml")
    assert [c.get("name") for c in cases["budgets"]] == BUDGETS
    assert sorted(c.get("name", "") for c in cases["probes"]) == ["health"] * 3 + ["product"] * 3
    for case in cases["budgets"] + cases["probes"]:
        assert case.find("failure") is None and case.find("error") is None
        assert case.find("skipped") is None
    root = ET.parse(healthy.folder / "reports" / "observer.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("12", "0", "0")


def test_markdown_file_of_a_passing_check(healthy: Check) -> None:
    text = (healthy.folder / "reports" / "observer.md").read_text(encoding="utf-8")
    assert text.startswith("### ✅ observer check passed")
    for name in BUDGETS:
        assert re.search(rf"^\| ✅ pass \| {re.escape(name)} \|", text, re.M), text
    assert "What went wrong" not in text


def test_probe_option_restricts_runs_and_budgets(module_shop: ShopServer, tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    done = check(tmp_path, "--probe", "health", "--runs", "2", "--json", base_url=module_shop.url)
    assert done.code == 0, done.stderr
    data = done.json()
    assert [r["probe"] for r in data["results"]] == ["health", "health"]
    assert [b["name"] for b in data["budgets"]] == COVERS_HEALTH
    everything = next(b for b in data["budgets"] if b["name"] == "everything completes")
    assert everything["probes"] == ["health"]
    assert everything["samples"] == 2
    assert {r["probe"] for r in rows(tmp_path / "observer.db", "select probe from runs")} == {
        "health"
    }


def test_probe_option_with_an_unknown_probe_exits_2(tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    done = check(tmp_path, "--probe", "nope", base_url="http://127.0.0.1:9")
    assert done.code == 2, done.stdout + done.stderr
    assert "nope" in done.stderr


# ----------------------------------------------------------------------------- breached


def test_slow_shop_fails_and_names_the_broken_budgets(slow: Check) -> None:
    assert slow.done.code == 1, slow.output
    out = slow.done.stdout
    assert "health answers fast" in out, slow.output
    # The runs themselves pass: it is the budgets that fail the check.
    assert re.search(r"health\s.*http\s.*\b2\s.*\b2\s.*\b0\s.*\b0\s", out), out
    assert re.search(r"^health answers fast: fail — p95 [\d.]+ s, breaks < 1 s$", out, re.M), out
    assert re.search(r"^product page fast: fail — p95 [\d.]+ s, breaks < 3 s$", out, re.M), out
    assert "health is up: fail" not in out
    assert "product completes: fail" not in out
    assert "FAILED (2 budgets failed, 0 failed runs, 0 errors)" in out


def test_slow_shop_json_names_the_broken_budget(slow_json: Check) -> None:
    assert slow_json.done.code == 1, slow_json.output
    data = slow_json.json()
    assert data["exit_code"] == 1
    assert [b["name"] for b in data["budgets"]] == COVERS_HEALTH
    fast = slow_json.budget("health answers fast")
    assert fast["outcome"] == "fail"
    assert fast["value"] >= DELAY_MS
    assert fast["limit"] == 1000.0
    assert fast["message"].startswith("p95 ") and "breaks < 1 s" in fast["message"]
    assert slow_json.budget("health is up")["outcome"] == "pass"
    assert data["results"][0]["outcome"] == "pass"


def test_github_annotations_and_step_summary(slow: Check) -> None:
    lines = [line for line in slow.done.stdout.splitlines() if line.startswith("::")]
    assert len(lines) == 2, slow.done.stdout
    assert re.fullmatch(
        r"::error title=budget fail%3A health answers fast::p95 [\d.]+ s, breaks < 1 s", lines[0]
    ), lines
    assert re.fullmatch(
        r"::error title=budget fail%3A product page fast::p95 [\d.]+ s, breaks < 3 s", lines[1]
    ), lines
    summary = (slow.folder / "step-summary.md").read_text(encoding="utf-8")
    assert summary.startswith("earlier step\n### ❌ observer check failed")  # appended
    assert re.search(r"^\| ❌ fail \| health answers fast \|", summary, re.M), summary


def test_markdown_file_of_a_failing_check(slow: Check) -> None:
    text = (slow.folder / "pr" / "observer.md").read_text(encoding="utf-8")
    assert text.startswith("### ❌ observer check failed")
    assert re.search(r"^Budgets: (4 pass, 2 fail|2 fail, 4 pass)\.$", text, re.M), text
    for name in BUDGETS:
        assert re.search(rf"^\| \S+ \w+ \| {re.escape(name)} \|", text, re.M), name
    assert re.search(r"^- \*\*product page fast\*\* \(fail\): p95 ", text, re.M), text


def test_junit_of_a_failing_check(slow: Check) -> None:
    cases = junit_cases(slow.folder / "observer.xml")
    failed = [c.get("name") for c in cases["budgets"] if c.find("failure") is not None]
    assert failed == ["health answers fast", "product page fast"]
    assert len(cases["probes"]) == 4  # 2 probes x 2 rounds, all passed
    assert all(c.find("failure") is None for c in cases["probes"])


def test_a_failing_probe_fails_the_check_without_any_budget(
    shop: ShopServer, tmp_path: Path
) -> None:
    put(
        tmp_path,
        """\
probes:
  - name: health
    http: ${BASE_URL}/health
  - name: product
    journey:
      - goto: ${BASE_URL}/products/1
  - name: api
    http: ${BASE_URL}/api/products
budgets:
  - {name: api up, probe: api, metric: status, threshold: max == 200}
""",
    )
    set_faults(shop, fail=["health", "product"])
    done = check(tmp_path, "--runs", "1", "--junit", "out.xml", "--github", base_url=shop.url)
    assert done.code == 1, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^health: fail — .*500", out, re.M), out
    assert re.search(r"^product: fail — ", out, re.M), out
    assert "FAILED (0 budgets failed, 2 failed runs, 0 errors)" in out
    assert re.search(r"^::error title=probe fail%3A health::", out, re.M), out
    assert re.search(r"^::error title=probe fail%3A product::", out, re.M), out
    cases = junit_cases(tmp_path / "out.xml")
    failed = sorted(c.get("name", "") for c in cases["probes"] if c.find("failure") is not None)
    assert failed == ["health", "product"]
    assert [c.find("failure") for c in cases["budgets"]] == [None]


def test_no_browser_exits_3(shop: ShopServer, tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    done = check(
        tmp_path,
        "--runs",
        "1",
        "--json",
        base_url=shop.url,
        env={"OBSERVER_CHROMIUM": "/nonexistent"},
    )
    assert done.code == 3, done.stdout + done.stderr
    data = done.json()
    product = next(r for r in data["results"] if r["probe"] == "product")
    assert product["outcome"] == "error"
    assert "/nonexistent" in product["error"]
    # An errored run says nothing about the site: the product budgets have no samples.
    assert next(b for b in data["budgets"] if b["name"] == "product page fast")["samples"] == 0


def test_bad_threshold_exits_2_with_file_line_col(tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE.replace("threshold: p95 < 3s", "threshold: p95 < 3 parsecs"))
    done = check(tmp_path, base_url="http://127.0.0.1:9")
    assert done.code == 2, done.stdout + done.stderr
    assert re.search(
        r"^probes\.yaml:23:16: budgets\[2\]\.threshold: 'p95 < 3 parsecs' is not a threshold",
        done.stderr,
        re.M,
    ), done.stderr
    assert not (tmp_path / "observer.db").exists()


def test_unwritable_database_exits_3(tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    (tmp_path / "garbage.db").write_bytes(b"this is not an sqlite database at all" * 100)
    done = check(tmp_path, "--db", "garbage.db", "--probe", "health", base_url="http://127.0.0.1:9")
    assert done.code == 3, done.stdout + done.stderr
    assert "garbage.db" in done.stderr


# ----------------------------------------------------------------------------- flaky


class FlakyServer:
    """A local HTTP server answering 500 to the first `failures` requests, then 200."""

    def __init__(self) -> None:
        self.failures = 0
        self.requests = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.requests += 1
                    fail = owner.failures > 0
                    owner.failures -= 1 if fail else 0
                body = b"down" if fail else b"ok"
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def fail_next(self, n: int) -> None:
        with self._lock:
            self.failures = n


@pytest.fixture
def flaky_server() -> Iterator[FlakyServer]:
    server = FlakyServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        server.thread.join()


FLAKY_FILE = """\
settings:
  database: observer.db
  retries: 2
probes:
  - name: flappy
    http: ${BASE_URL}
budgets:
  - {name: flappy completes, probe: flappy, metric: completion, threshold: rate >= 100%}
"""


def test_flaky_probe_passes_with_a_warning(flaky_server: FlakyServer, tmp_path: Path) -> None:
    put(tmp_path, FLAKY_FILE)
    flaky_server.fail_next(1)
    done = check(tmp_path, "--runs", "1", "--json", base_url=flaky_server.url)
    assert done.code == 0, done.stdout + done.stderr
    assert flaky_server.requests == 2
    data = done.json()
    (result,) = data["results"]
    assert result["outcome"] == "pass"
    assert result["flaky"] is True
    assert result["attempt"] == 2
    assert [(r["attempt"], r["outcome"]) for r in result["retried"]] == [(1, "fail")]
    assert data["summary"]["flaky"] == ["flappy"]
    budget = data["budgets"][0]
    assert (budget["outcome"], budget["samples"], budget["values"]) == ("pass", 1, [1.0])
    recorded = rows(
        tmp_path / "observer.db", "select attempt, outcome, final from runs order by attempt"
    )
    assert recorded == [
        {"attempt": 1, "outcome": "fail", "final": 0},
        {"attempt": 2, "outcome": "pass", "final": 1},
    ]


def test_flaky_probe_is_a_warning_in_every_reporter(
    flaky_server: FlakyServer, tmp_path: Path
) -> None:
    put(tmp_path, FLAKY_FILE)
    flaky_server.fail_next(2)
    done = check(
        tmp_path, "--runs", "1", "--github", "--junit", "out.xml", base_url=flaky_server.url
    )
    assert done.code == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(
        r"^warning: probe 'flappy' is flaky: attempt 1 fail \(.*500.*\), passed on attempt 3$",
        out,
        re.M,
    ), out
    assert re.search(r"^::warning title=probe flaky%3A flappy::passed on attempt 3; ", out, re.M)
    assert "ok (0 budgets failed, 0 failed runs, 0 errors, 1 warnings)" in out
    (case,) = junit_cases(tmp_path / "out.xml")["probes"]
    assert case.find("failure") is None
    assert "flaky: passed on attempt 3" in (case.findtext("system-out") or "")
    finals = rows(tmp_path / "observer.db", "select final from runs order by attempt")
    assert [r["final"] for r in finals] == [0, 0, 1]


def test_flaky_probe_fails_a_strict_check(flaky_server: FlakyServer, tmp_path: Path) -> None:
    put(tmp_path, FLAKY_FILE)
    flaky_server.fail_next(1)
    done = check(tmp_path, "--runs", "1", "--strict", base_url=flaky_server.url)
    assert done.code == 1, done.stdout + done.stderr
    assert "flaky" in done.stdout
    flaky_server.fail_next(0)
    assert check(tmp_path, "--runs", "1", "--strict", base_url=flaky_server.url).code == 0


def test_retries_exhausted_is_a_failure(flaky_server: FlakyServer, tmp_path: Path) -> None:
    put(tmp_path, FLAKY_FILE)
    flaky_server.fail_next(3)
    done = check(tmp_path, "--runs", "1", "--json", base_url=flaky_server.url)
    assert done.code == 1, done.stdout + done.stderr
    (result,) = done.json()["results"]
    assert (result["outcome"], result["attempt"], result["flaky"]) == ("fail", 3, False)
    assert done.json()["budgets"][0]["outcome"] == "fail"  # completion 0 of 1


# ----------------------------------------------------------------------------- regression

REGRESSION_FILE = """\
settings:
  database: observer.db
probes:
  - name: health
    http: ${BASE_URL}/health
budgets:
  - name: health no slower
    probe: health
    metric: time
    threshold: p95 < 30s
    regression: 10%
  - name: health completes
    probe: health
    metric: completion
    threshold: rate >= 100%
    regression: 10%
"""
# The shop is this far away in every check, so the samples are dominated by a known latency
# and a busy machine cannot pass for a 10% regression.
LATENCY_MS = 400


@pytest.fixture
def baseline(shop: ShopServer, tmp_path: Path) -> Path:
    """A 6-round check's --json, saved as a baseline would be on main."""
    put(tmp_path, REGRESSION_FILE)
    set_faults(shop, delay_ms=LATENCY_MS)
    done = check(tmp_path, "--runs", "6", "--json", base_url=shop.url)
    assert done.code == 0, done.stderr
    path = tmp_path / "base.json"
    path.write_text(done.stdout, encoding="utf-8")
    return path


def test_regression_against_an_equal_baseline_passes(
    shop: ShopServer, tmp_path: Path, baseline: Path
) -> None:
    # The baseline never measured the completion budget: that one cannot be compared.
    data = json.loads(baseline.read_text(encoding="utf-8"))
    data["budgets"] = [b for b in data["budgets"] if b["name"] == "health no slower"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(data), encoding="utf-8")
    done = check(tmp_path, "--runs", "6", "--json", "--baseline", "partial.json", base_url=shop.url)
    assert done.code == 0, done.stdout + done.stderr
    slower, completes = done.json()["budgets"]
    assert slower["outcome"] == "pass", slower
    assert slower["regression"]["outcome"] == "pass"
    assert slower["regression"]["baseline_samples"] == 6
    assert slower["regression"]["current_samples"] == 6
    assert slower["regression"]["test"] == "mann-whitney-u"
    assert completes["outcome"] == "inconclusive"
    assert "this budget is not in the baseline" in completes["message"]


def test_regression_against_a_faster_baseline_fails(
    shop: ShopServer, tmp_path: Path, baseline: Path
) -> None:
    base = next(
        b
        for b in json.loads(baseline.read_text(encoding="utf-8"))["budgets"]
        if b["name"] == "health no slower"
    )
    median = percentile(base["values"], 50)
    # At least twice as slow as the baseline's median: far over the 10% allowed.
    set_faults(shop, delay_ms=int(max(2 * median, 300)))
    done = check(tmp_path, "--runs", "5", "--baseline", "base.json", base_url=shop.url)
    assert done.code == 1, done.stdout + done.stderr
    assert re.search(
        r"^health no slower: fail — p95 [\d.]+ m?s < 30 s; regression: median \+\d+\.\d% against "
        r"the baseline \(p=0\.00\d\), over the 10% allowed$",
        done.stdout,
        re.M,
    ), done.stdout
    assert "health completes: fail" not in done.stdout
    assert "FAILED (1 budget failed, 0 failed runs, 0 errors)" in done.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "base.json:1:2: not JSON"),
        ('{"results": []}', "no 'budgets' list"),
    ],
)
def test_bad_baseline_exits_2_before_running(
    tmp_path: Path, content: str | None, message: str
) -> None:
    put(tmp_path, REGRESSION_FILE)
    if content is not None:
        (tmp_path / "base.json").write_text(content, encoding="utf-8")
    done = check(tmp_path, "--baseline", "base.json", base_url="http://127.0.0.1:9")
    assert done.code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("observer: --baseline: ")
    assert message in done.stderr
    assert not (tmp_path / "observer.db").exists()


# ----------------------------------------------------------------------------- observer budgets


def budgets(folder: Path, *args: str) -> Done:
    return observer(
        "budgets", "probes.yaml", *args, env={"BASE_URL": "http://127.0.0.1:9"}, cwd=folder
    )


def test_budgets_over_recorded_runs_match_the_check(healthy: Check) -> None:
    # --confidence off: the point estimate decides, as the check's gate does.
    done = budgets(
        healthy.folder, "--db", "observer.db", "--window", "1h", "--json", "--junit", "b.xml",
        "--confidence", "off",
    )  # fmt: skip
    assert done.code == 0, done.stdout + done.stderr
    data = done.json()
    assert data["results"] == []
    judged = {b["name"]: b for b in data["budgets"]}
    assert list(judged) == BUDGETS
    for b in healthy.json()["budgets"]:
        again = judged[b["name"]]
        for key in ("outcome", "value", "limit", "samples", "probes"):
            assert again[key] == b[key], (b["name"], key)
        assert sorted(again["values"]) == sorted(b["values"])
        assert again["window_s"] == 3600.0
    cases = junit_cases(healthy.folder / "b.xml")
    assert [c.get("name") for c in cases["budgets"]] == BUDGETS
    assert cases["probes"] == []


def test_budgets_human_output(healthy: Check) -> None:
    done = budgets(healthy.folder, "--window", "30m", "--confidence", "off")
    assert done.code == 0, done.stdout + done.stderr
    for name in BUDGETS:
        assert re.search(rf"│ {re.escape(name)}\s+│ pass\s+│", done.stdout), done.stdout
    assert "ok (0 budgets failed)" in done.stdout


def test_budgets_say_when_three_runs_cannot_show_a_percentile_holds(healthy: Check) -> None:
    # By default a percentile passes only when its upper bound is under the threshold: three
    # runs cannot show that of a p95 (59 can), so it is inconclusive, with the interval shown.
    done = budgets(healthy.folder, "--window", "30m")
    assert done.code == 0, done.stdout + done.stderr
    assert re.search(r"│ health answers fast\s+│ inconclusive\s+│ time\s+│\s+[\d.]+ ms\s+│\s+"
                     r"[\d.]+–[\d.]+ ms \(95%\)", done.stdout), done.stdout  # fmt: skip
    assert re.search(
        r"warning: budget 'health answers fast' inconclusive: p95 [\d.]+ ms \(95% interval "
        r"[\d.]+–[\d.]+ ms, 3 samples\): inconclusive against < 1 s; a pass needs at least 59 "
        r"samples in the window",
        done.stdout,
    ), done.stdout
    # rate >= 100% is judged as it stands: every run completed.
    assert re.search(r"│ everything completes\s+│ pass\s+│", done.stdout), done.stdout
    data = budgets(healthy.folder, "--window", "30m", "--json").json()
    fast = next(b for b in data["budgets"] if b["name"] == "health answers fast")
    assert fast["judged_by"] == "interval" and fast["interval"]["confidence"] == 0.95
    assert fast["interval"]["low"] <= fast["value"] <= fast["interval"]["high"]
    # A bad --confidence is a usage error.
    bad = budgets(healthy.folder, "--confidence", "1.5")
    assert bad.code == 2 and "--confidence: a confidence lies from 0.5" in bad.stderr


def test_budgets_over_a_slow_shop_fail(slow: Check, slow_json: Check) -> None:
    done = budgets(slow.folder, "--window", "1h", "--json")
    assert done.code == 1, done.stdout + done.stderr
    judged = {b["name"]: b for b in done.json()["budgets"]}
    assert judged["health answers fast"]["outcome"] == "fail"
    assert judged["health answers fast"]["samples"] == 3  # two rounds, then one more
    assert judged["product page fast"]["outcome"] == "fail"
    assert judged["product page fast"]["samples"] == 2
    assert judged["health is up"]["outcome"] == "pass"
    assert done.json()["exit_code"] == 1


@pytest.mark.parametrize("window", ["1x", "0s", "soon"])
def test_budgets_bad_window_exits_2(tmp_path: Path, window: str) -> None:
    put(tmp_path, SHOP_FILE)
    done = budgets(tmp_path, "--window", window)
    assert done.code == 2, done.stdout + done.stderr
    assert done.stderr.startswith("observer: --window: ")
    assert not (tmp_path / "observer.db").exists()


def test_budgets_over_an_empty_window_are_inconclusive(tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    done = budgets(tmp_path, "--db", "empty.db", "--github")
    assert done.code == 0, done.stdout + done.stderr
    assert "warning: budget 'health answers fast' inconclusive: 0 samples" in done.stdout
    assert re.search(
        r"^::warning title=budget inconclusive%3A health is up::0 samples", done.stdout, re.M
    )
    assert "ok (0 budgets failed, 6 warnings)" in done.stdout
    assert budgets(tmp_path, "--db", "empty.db", "--strict").code == 1


def test_budgets_window_leaves_older_runs_out(tmp_path: Path) -> None:
    put(tmp_path, SHOP_FILE)
    two_hours_ago = time.time() - 2 * 3600
    with SQLiteStore(tmp_path / "observer.db") as store:
        store.record(
            ProbeResult(
                probe="health",
                kind="http",
                outcome=Outcome.PASS,
                started_at=two_hours_ago,
                duration_ms=5000.0,
                completed=True,
            )
        )
    recent = budgets(tmp_path, "--window", "1h", "--json")
    assert recent.code == 0, recent.stdout + recent.stderr
    assert {b["outcome"] for b in recent.json()["budgets"]} == {"inconclusive"}
    wider = budgets(tmp_path, "--window", "3h", "--json")
    assert wider.code == 1, wider.stdout + wider.stderr
    judged = {b["name"]: b for b in wider.json()["budgets"]}
    assert judged["health answers fast"]["outcome"] == "fail"
    assert judged["health answers fast"]["values"] == [5000.0]


def test_budgets_window_option_then_budget_window_then_settings(tmp_path: Path) -> None:
    put(
        tmp_path,
        """\
settings:
  database: observer.db
  window: 30m
  confidence: off  # one sample: only the windows are judged here
probes:
  - name: health
    http: ${BASE_URL}/health
budgets:
  - {name: settings window, probe: health, metric: time, threshold: p95 < 1s}
  - {name: own window, probe: health, metric: time, threshold: p95 < 1s, window: 1h}
""",
    )
    with SQLiteStore(tmp_path / "observer.db") as store:
        store.record(
            ProbeResult(
                probe="health",
                kind="http",
                outcome=Outcome.PASS,
                started_at=time.time() - 45 * 60,
                duration_ms=200.0,
                completed=True,
            )
        )
    done = budgets(tmp_path, "--json")
    assert done.code == 0, done.stdout + done.stderr
    judged = {b["name"]: b for b in done.json()["budgets"]}
    assert (judged["settings window"]["outcome"], judged["settings window"]["window_s"]) == (
        "inconclusive",
        1800.0,
    )
    assert (judged["own window"]["outcome"], judged["own window"]["window_s"]) == ("pass", 3600.0)
    narrow = budgets(tmp_path, "--window", "10m", "--json")
    assert {b["outcome"] for b in narrow.json()["budgets"]} == {"inconclusive"}
    wide = budgets(tmp_path, "--window", "2h", "--json")
    assert {b["outcome"] for b in wide.json()["budgets"]} == {"pass"}
