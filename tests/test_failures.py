"""Every way a probe can go wrong, and who is to blame: `fail` (the site) or `error` (observer).

The library tests run one batch of probes in one Chromium against demo shops with faults
switched on; the exit-code tests run the real `observer run FILE --json` in a child process.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import OBSERVER, ROOT, Done, alive, observer, rows, set_faults

from observer.config import load_project
from observer.demo.shop import ShopServer
from observer.journey import run_journey
from observer.results import Outcome, ProbeResult
from observer.runner import BrowserPool, run_all

# ----------------------------------------------------------------------------- helpers


def closed_port() -> int:
    """A loopback port nothing listens on: bound to learn a free one, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def explain(result: ProbeResult | dict[str, Any]) -> str:
    data = result.to_dict() if isinstance(result, ProbeResult) else result
    lines = [f"{data['probe']}: {data['outcome']} {data['error']}"]
    lines += [f"  {s['index']} {s['name']}: {s['outcome']} {s['error']}" for s in data["steps"]]
    lines += [f"  ! {e['kind']} {e['message']} {e['url']}" for e in data["errors"]]
    return "\n".join(lines)


def write_file(folder: Path, text: str, name: str = "probes.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> Done:
    """`observer ARGS` in a child process with exactly this environment."""
    proc = subprocess.run(
        [*OBSERVER, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=150,
        check=False,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


def by_probe(done: Done) -> dict[str, dict[str, Any]]:
    assert done.stdout, done.stderr
    return {r["probe"]: r for r in done.json()["results"]}


# ----------------------------------------------------------------------------- one batch


@pytest.fixture(scope="module")
def batch(
    tmp_path_factory: pytest.TempPathFactory, acceptance: tuple[Path, Any]
) -> Iterator[dict[str, ProbeResult]]:
    """Every library-level failure probe, run once in one Chromium: results by probe name.

    (It asks for `acceptance` only to start that child process first.)
    """
    folder = tmp_path_factory.mktemp("failures")
    shops = {name: ShopServer() for name in ("plain", "js", "broken", "hung", "slow")}
    for shop in shops.values():
        shop.start()
    try:
        set_faults(shops["js"], js_error=True)
        set_faults(shops["broken"], fail=["health", "products"])
        set_faults(shops["hung"], hang=["health", "products", "checkout"])
        set_faults(shops["slow"], delay_ms=300)
        plain, js, broken, hung, slow = (shops[n].url for n in shops)
        closed = f"http://127.0.0.1:{closed_port()}"
        probes: list[dict[str, Any]] = [
            {
                "name": "selector-missing",
                "journey": [
                    {"goto": f"{plain}/login"},
                    {"click": "#no-such-button", "timeout": "500ms"},
                    {"expect_text": "Welcome"},
                ],
            },
            {
                "name": "text-missing",
                "journey": [
                    {"goto": f"{plain}/login"},
                    {"expect_text": "Welcome back", "timeout": "500ms"},
                ],
            },
            {
                "name": "page-error",
                "journey": [{"goto": f"{js}/"}, {"expect_text": "Good coffee gear"}],
            },
            {
                "name": "page-error-strict",
                "fail_on_page_error": True,
                "journey": [{"goto": f"{js}/"}, {"expect_text": "Good coffee gear"}],
            },
            {"name": "http-500", "http": f"{broken}/health"},
            {
                "name": "http-500-expected-200",
                "http": f"{broken}/health",
                "expect": {"status": 200},
            },
            {
                "name": "goto-500",
                "journey": [{"goto": f"{broken}/products"}, {"expect_text": "Products"}],
            },
            {
                "name": "http-errors-recorded",
                "journey": [
                    {"goto": {"url": f"{plain}/products/999", "expect_status": [404]}},
                    {"expect_text": "Product not found"},
                ],
            },
            {
                "name": "hung-page",
                "journey": [
                    {"goto": f"{hung}/products", "timeout": "1s"},
                    {"expect_text": "Products"},
                ],
            },
            {
                # GET /checkout still shows the form while checkout hangs; placing the order
                # (POST /checkout) never gets an answer.
                "name": "hung-checkout",
                "journey": [
                    {"goto": f"{hung}/checkout"},
                    {"fill": {"selector": "#address", "value": "1 Main St"}},
                    {"click": "text=Place order", "timeout": "1s"},
                    {"expect_url": "**/orders/*", "timeout": "1s"},
                    {"mark": "ordered"},
                ],
            },
            {
                "name": "journey-timeout",
                "timeout": "2s",
                "journey": [{"mark": "started"}, {"wait": "10s"}, {"mark": "finished"}],
            },
            {"name": "http-hung", "http": f"{hung}/health", "timeout": "1s"},
            {"name": "http-refused", "http": f"{closed}/health"},
            {
                "name": "goto-refused",
                "journey": [{"goto": f"{closed}/"}, {"expect_text": "Demo Shop"}],
            },
            {
                "name": "slow-journey",
                "journey": [
                    {"goto": f"{slow}/"},
                    {"click": "text=Browse all products"},
                    {"expect_text": {"text": "6 products", "selector": "#result-count"}},
                ],
            },
            {"name": "slow-http", "http": f"{slow}/health"},
            {
                "name": "unknown-device",
                "device": "Nokia 3310",
                "journey": [{"goto": f"{plain}/"}],
            },
            {"name": "not-http", "http": f"ftp://127.0.0.1:{closed_port()}/health"},
        ]
        config = {
            "settings": {
                "database": "results.db",
                "artifacts": "artifacts",
                "trace": "off",
                "concurrency": 8,
            },
            "probes": probes,
        }
        path = folder / "probes.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        project = load_project(path)
        results = asyncio.run(run_all(project, project.probes))
        yield {r.probe: r for r in results}
    finally:
        for shop in shops.values():
            shop.stop()


# ----------------------------------------------------------------------------- site faults


def test_selector_not_found_is_a_fail(batch: dict[str, ProbeResult]) -> None:
    result = batch["selector-missing"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 1
    assert result.error is not None
    assert result.error == (
        "step 2 (click #no-such-button): click `#no-such-button`: no element matches "
        "(waited 0.5s, the step timeout)"
    )
    assert [s.outcome for s in result.steps] == [Outcome.PASS, Outcome.FAIL, Outcome.SKIPPED]


def test_false_expectation_is_a_fail(batch: dict[str, ProbeResult]) -> None:
    result = batch["text-missing"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 1
    assert result.error is not None
    assert result.error.startswith(
        "step 2 (expect_text Welcome back): expect_text: no visible text 'Welcome back' on http"
    )
    assert result.error.endswith("/login (waited 0.5s, the step timeout)")


def test_page_error_is_recorded_but_passes_by_default(batch: dict[str, ProbeResult]) -> None:
    result = batch["page-error"]
    assert result.outcome == Outcome.PASS, explain(result)
    assert result.completed
    kinds = {(e.kind, e.message) for e in result.errors}
    assert ("pageerror", "Error: demo-shop: simulated page error") in kinds, explain(result)
    assert ("console", "demo-shop: simulated console error") in kinds, explain(result)
    # Thrown on load: while the goto step ran (or, at the latest, the step after it).
    assert all(e.step_index in (0, 1) for e in result.errors), explain(result)


def test_page_error_fails_with_fail_on_page_error(batch: dict[str, ProbeResult]) -> None:
    result = batch["page-error-strict"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert not result.completed
    assert result.error == "uncaught page error: Error: demo-shop: simulated page error"
    # Every step did its job; the page itself broke.
    assert all(s.outcome == Outcome.PASS for s in result.steps)
    assert result.failed_step is None


def test_http_500_is_a_fail_with_the_status_expectation(batch: dict[str, ProbeResult]) -> None:
    for name, expected in (("http-500", "2xx or 3xx"), ("http-500-expected-200", "200")):
        result = batch[name]
        assert result.outcome == Outcome.FAIL, explain(result)
        assert result.http is not None and result.http.status == 500
        (status,) = [e for e in result.http.expectations if e.name == "status"]
        assert (status.outcome, status.expected, status.actual) == (Outcome.FAIL, expected, "500")
        assert result.error == f"status: expected {expected}, got 500"


def test_goto_500_fails_naming_the_goto_step(batch: dict[str, ProbeResult]) -> None:
    result = batch["goto-500"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 0
    assert result.steps[0].name == "goto /products"
    assert result.error is not None
    assert result.error.startswith("step 1 (goto /products): goto: HTTP 500 from http://127.0")
    assert result.steps[1].outcome == Outcome.SKIPPED
    http = [e for e in result.errors if e.kind == "http"]
    assert [(e.message, e.url and e.url.endswith("/products"), e.step_index) for e in http] == [
        ("HTTP 500 Internal Server Error", True, 0)
    ], explain(result)


def test_responses_over_400_are_recorded_even_when_expected(
    batch: dict[str, ProbeResult],
) -> None:
    result = batch["http-errors-recorded"]
    assert result.outcome == Outcome.PASS, explain(result)
    http = [e for e in result.errors if e.kind == "http"]
    assert len(http) == 1, explain(result)
    assert http[0].message == "HTTP 404 Not Found"
    assert http[0].url is not None and http[0].url.endswith("/products/999")


def test_step_timeout_on_a_hung_page_is_a_fail(batch: dict[str, ProbeResult]) -> None:
    result = batch["hung-page"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 0
    assert result.error is not None
    assert result.error.startswith("step 1 (goto /products): goto: http://127.0.0.1:")
    assert result.error.endswith("/products did not reach 'load' (waited 1s, the step timeout)")
    assert result.steps[0].duration_ms >= 1000


def test_hung_order_submission_is_a_fail(batch: dict[str, ProbeResult]) -> None:
    result = batch["hung-checkout"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.steps[0].outcome == Outcome.PASS  # the form itself is served
    # Playwright's click waits for the navigation it starts, so the click times out; were it
    # not to wait, the next step would fail on the URL instead.
    assert result.failed_step in (2, 3), explain(result)
    failed = result.steps[result.failed_step]
    assert failed.outcome == Outcome.FAIL
    assert failed.error is not None
    assert failed.error == (
        "click `text=Place order`: it clicked, but the page it opened did not arrive "
        "(waited 1s, the step timeout)"
    ) or failed.error.startswith("expect_url: URL is"), failed.error
    assert result.steps[-1].outcome == Outcome.SKIPPED
    assert result.last_mark is None


def test_whole_journey_timeout_cuts_a_long_journey(batch: dict[str, ProbeResult]) -> None:
    result = batch["journey-timeout"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 1
    wait = result.steps[1]
    assert wait.name == "wait 10s" and wait.outcome == Outcome.FAIL
    assert wait.error == "wait: the journey ran out of time (2s) in this step"
    assert result.error == "step 2 (wait 10s): wait: the journey ran out of time (2s) in this step"
    # The limit started before the first step, so the wait step ended 2 s in at the earliest.
    assert wait.start_ms + wait.duration_ms >= 2000 - 0.1
    assert result.duration_ms >= 2000
    assert result.steps[2].outcome == Outcome.SKIPPED
    assert result.last_mark == "started"


def test_http_probe_against_a_hung_endpoint(batch: dict[str, ProbeResult]) -> None:
    result = batch["http-hung"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.error is not None and result.error.startswith("no response in time")
    assert result.duration_ms >= 1000
    assert result.http is not None and result.http.status is None


def test_unreachable_host_is_a_fail(batch: dict[str, ProbeResult]) -> None:
    http = batch["http-refused"]
    assert http.outcome == Outcome.FAIL, explain(http)
    assert http.error is not None and http.error.startswith("could not connect")
    journey = batch["goto-refused"]
    assert journey.outcome == Outcome.FAIL, explain(journey)
    assert journey.failed_step == 0
    assert journey.error is not None
    assert journey.error.startswith("step 1 (goto /): ")
    assert "ERR_CONNECTION_REFUSED" in journey.error


def test_delay_makes_durations_at_least_the_delay(batch: dict[str, ProbeResult]) -> None:
    journey = batch["slow-journey"]
    assert journey.outcome == Outcome.PASS, explain(journey)
    assert journey.steps[0].duration_ms >= 300
    # Two documents, each delayed 300 ms by the server.
    assert journey.duration_ms >= 600
    assert len(journey.pages) == 2, journey.pages
    for page in journey.pages:
        assert page.ttfb_ms is not None and page.ttfb_ms >= 300, page
    http = batch["slow-http"]
    assert http.outcome == Outcome.PASS, explain(http)
    assert http.http is not None and http.http.time_ms is not None
    assert http.http.time_ms >= 300 and http.duration_ms >= 300


# ----------------------------------------------------------------------------- observer's own


def test_unknown_device_is_an_error(batch: dict[str, ProbeResult]) -> None:
    result = batch["unknown-device"]
    assert result.outcome == Outcome.ERROR, explain(result)
    assert result.error == "Playwright has no device named 'Nokia 3310'"
    assert result.steps == []


def test_url_observer_cannot_send_is_an_error(batch: dict[str, ProbeResult]) -> None:
    result = batch["not-http"]
    assert result.outcome == Outcome.ERROR, explain(result)
    assert result.error is not None and result.error.startswith("cannot send this request")
    assert "ftp" in result.error


def child_processes(pid: int) -> list[int]:
    """The ids of a process's children, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def process_name(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return ""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds Chromium through /proc")
def test_browser_crash_mid_step_is_an_error(tmp_path: Path) -> None:
    """Chromium dies while a step waits for a page: observer's problem, not the site's."""

    async def main() -> ProbeResult:
        asked = asyncio.Event()
        release = asyncio.Event()

        async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            asked.set()
            await release.wait()
            writer.close()

        server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        path = write_file(
            tmp_path,
            f"""
            settings: {{trace: "off"}}
            probes:
              - name: crash
                journey:
                  - goto: http://127.0.0.1:{port}/
                  - expect_text: never
            """,
        )
        project = load_project(path)
        pool = BrowserPool(project)
        before = set(child_processes(os.getpid()))
        try:
            browser = await pool.get()
            # Ours alone: the Playwright driver this pool started, and the Chromium it launched.
            (driver,) = set(child_processes(os.getpid())) - before
            (chromium,) = [
                pid for pid in child_processes(driver) if "chrom" in process_name(pid).lower()
            ]
            task = asyncio.create_task(
                run_journey(browser, project, project.probes[0], artifacts_root=tmp_path / "a")
            )
            await asked.wait()  # the page waits for our server: now Chromium dies
            os.kill(chromium, signal.SIGKILL)
            return await task
        finally:
            release.set()
            await pool.close()
            server.close()
            await server.wait_closed()

    result = asyncio.run(main())
    assert result.outcome == Outcome.ERROR, explain(result)
    assert result.failed_step == 0
    assert result.steps[0].outcome == Outcome.ERROR
    assert result.error is not None
    assert result.error.startswith("step 1 (goto /): the browser went away")
    assert result.steps[1].outcome == Outcome.SKIPPED


# ----------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def acceptance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """`observer run probes.example.yaml --json` against a shop whose checkout fails.

    Started in the background as soon as the module needs it (the batch asks for it first),
    so this child process and the batch share the machine's cores.
    """
    folder = tmp_path_factory.mktemp("acceptance")
    shutil.copy(ROOT / "probes.example.yaml", folder / "probes.example.yaml")
    with ShopServer() as shop:
        set_faults(shop, fail=["checkout"])
        env = {**os.environ, "BASE_URL": shop.url}
        with subprocess.Popen(
            [*OBSERVER, "run", "probes.example.yaml", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=folder,
        ) as proc:

            @functools.cache
            def finish() -> Done:
                out, err = proc.communicate(timeout=150)
                return Done(proc.returncode, out, err)

            yield folder, finish
            finish()  # drain its output even if no test read it


def test_acceptance_failing_checkout(acceptance: tuple[Path, Any]) -> None:
    """The issue's acceptance check: `fail: checkout`, then `observer run probes.example.yaml`."""
    tmp_path, finish = acceptance
    done = finish()
    assert done.code == 1, done.stderr
    results = by_probe(done)
    # The example's phone journey runs twice (a matrix): by probe, its last run is kept.
    assert list(results) == ["health", "login", "checkout", "accessible shop", "buy on a phone"]
    assert results["health"]["outcome"] == "pass", explain(results["health"])
    assert results["login"]["outcome"] == "pass", explain(results["login"])

    checkout = results["checkout"]
    assert checkout["outcome"] == "fail", explain(checkout)
    assert checkout["completed"] is False
    failing = [s for s in checkout["steps"] if s["outcome"] == "fail"]
    assert len(failing) == 1, explain(checkout)
    step = failing[0]
    # Placing the order gets the 500 page, which stays on /checkout.
    assert checkout["failed_step"] == step["index"] == 12
    assert step["name"] == "expect_url **/orders/*"
    assert step["error"].startswith("expect_url: URL is http://127.0.0.1:")
    assert step["error"].endswith("/checkout, expected it to match **/orders/*")
    assert checkout["error"] == f"step 13 (expect_url **/orders/*): {step['error']}"
    outcomes = [s["outcome"] for s in checkout["steps"]]
    assert outcomes == ["pass"] * 12 + ["fail"] + ["skipped"] * 4  # the order is not captured
    assert checkout["last_mark"] == "cart"
    http = [e for e in checkout["errors"] if e["kind"] == "http"]
    assert [(e["message"], e["url"].endswith("/checkout")) for e in http] == [
        ("HTTP 500 Internal Server Error", True)
    ], explain(checkout)

    artifacts = {a["kind"]: a for a in checkout["artifacts"]}
    assert set(artifacts) == {"screenshot", "trace"}
    shot = Path(artifacts["screenshot"]["path"])
    assert shot.name == "failure.png" and shot.is_file()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert artifacts["screenshot"]["step_index"] == 12
    trace = Path(artifacts["trace"]["path"])
    assert trace.name == "trace.zip" and trace.is_file() and zipfile.is_zipfile(trace)
    assert tmp_path in shot.parents and tmp_path in trace.parents
    # The run was measured untraced (tracing slows the page); its trace is that of a replay,
    # which failed again at the same step.
    assert checkout["replay"]["outcome"] == "fail"
    assert checkout["replay"]["failed_step"] == 12
    assert trace.parent != shot.parent
    with zipfile.ZipFile(trace) as archive:
        events = archive.read("trace.trace").decode()
    # The failing expect_url (its URL pattern) with Playwright's log of the wait.
    assert "orders" in events and "waiting for navigation" in events
    assert results["login"]["replay"] is None
    # Passing journeys keep no files (screenshots and traces default to on_failure).
    assert results["login"]["artifacts"] == []

    db = tmp_path / done.json()["database"]  # relative to where observer ran, if relative
    assert db.resolve() == (tmp_path / "observer.db").resolve()
    recorded = rows(db, "select probe, outcome, failed_step, replay from runs order by id")
    # The replay is not a run: one run each (the phone's matrix two), the checkout's with how
    # its replay ended.
    assert [(r["probe"], r["outcome"], r["failed_step"], r["replay"]) for r in recorded] == [
        ("health", "pass", None, None),
        ("login", "pass", None, None),
        ("checkout", "fail", 12, "fail"),
        ("accessible shop", "pass", None, None),
        ("buy on a phone", "pass", None, None),
        ("buy on a phone", "pass", None, None),
    ]
    kept = rows(db, "select kind, path from artifacts")
    assert {(r["kind"], r["path"]) for r in kept} == {
        ("screenshot", str(shot)),
        ("trace", str(trace)),
    }


def run_once_broken(folder: Path, *args: str) -> Done:
    """`observer run` of a journey whose page is broken the first time it is asked for only
    (a fresh page server for each call)."""
    from pages import Page, PageServer

    folder.mkdir(exist_ok=True)
    flaky = Page(lambda n: "<h1>broken</h1>" if n == 1 else "<h1>Welcome back</h1>")
    with PageServer({"/": flaky}) as site:
        write_file(
            folder,
            f"""
            settings: {{step_timeout: 1s}}
            probes:
              - name: welcome
                journey:
                  - goto: {site.url}/
                  - expect_text: Welcome back
            """,
        )
        return observer("run", "probes.yaml", *args, cwd=folder)


def test_a_failure_that_does_not_repeat_in_the_traced_replay_keeps_no_trace(
    tmp_path: Path,
) -> None:
    """The default `trace: on_failure` replays a failed run with tracing; when the replay
    passes, there is no failure to show: no trace, and the report says why."""
    done = run_once_broken(tmp_path / "json", "--json")
    assert done.code == 1, done.stderr
    result = by_probe(done)["welcome"]
    assert result["outcome"] == "fail"  # the run is the run: the replay never changes it
    assert result["replay"] == {"outcome": "pass", "failed_step": None, "error": None}
    assert [a["kind"] for a in result["artifacts"]] == ["screenshot"]
    assert not list((tmp_path / "json" / "artifacts").rglob("trace.zip"))

    human = run_once_broken(tmp_path / "human")
    assert human.code == 1, human.stdout
    assert (
        "a traced replay passed: the failure did not repeat, so no trace was kept" in human.stdout
    )


def test_only_the_first_failure_of_a_streak_is_replayed(tmp_path: Path) -> None:
    """A probe failing run after run is replayed once: the site is not asked twice as often."""
    from pages import Page, PageServer

    from observer.runner import Runner

    with PageServer({"/": Page("<h1>always broken</h1>")}) as site:
        write_file(
            tmp_path,
            f"""
            settings: {{step_timeout: 500ms, screenshots: "off"}}
            probes:
              - name: broken
                journey:
                  - goto: {site.url}/
                  - expect_text: Welcome
            """,
        )
        project = load_project(tmp_path / "probes.yaml")

        async def three_rounds() -> list[ProbeResult]:
            async with Runner(project) as runner:
                return [(await runner.run(project.probes))[0] for _ in range(3)]

        results = asyncio.run(three_rounds())
        visits = site.hits["/"]
    assert [r.outcome for r in results] == [Outcome.FAIL] * 3
    assert results[0].replay is not None and results[0].replay.outcome == Outcome.FAIL
    assert [r.replay for r in results[1:]] == [None, None]
    assert [[a.kind for a in r.artifacts] for r in results] == [["trace"], [], []]
    assert visits == 4  # three runs and one replay


def test_a_step_that_fails_after_the_page_navigated_away_says_so(tmp_path: Path) -> None:
    from pages import Page, PageServer

    # The button is never enabled here, and the page leaves for /b while the click waits.
    leaving = (
        "<button id=go disabled>Go</button>"
        "<script>setTimeout(() => location.href = '/b', 200)</script>"
    )
    pages = {"/a": Page(leaving), "/b": Page("<h1>Somewhere else</h1>")}
    with PageServer(pages) as site:
        write_file(
            tmp_path,
            f"""
            settings: {{trace: "off"}}
            probes:
              - name: moving
                journey:
                  - goto: {site.url}/a
                  - {{click: "#go", timeout: 2s}}
            """,
        )
        done = observer("run", "probes.yaml", "--json", cwd=tmp_path)
    assert done.code == 1, done.stderr
    step = by_probe(done)["moving"]["steps"][1]
    assert step["error"] == (
        "click `#go`: no element matches (waited 2s, the step timeout); the page navigated "
        f"during the step, from {site.url}/a to {site.url}/b"
    )


def test_exit_0_when_everything_passes(shop: ShopServer, tmp_path: Path) -> None:
    write_file(
        tmp_path,
        f"""
        probes:
          - name: health
            http: {shop.url}/health
            expect: {{status: 200, body_contains: ok}}
          - name: api
            http: {shop.url}/api/products
        """,
    )
    done = observer("run", "probes.yaml", "--json", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert {r["outcome"] for r in by_probe(done).values()} == {"pass"}


def test_trace_on_retry_traces_only_the_attempts_after_a_failure(
    shop: ShopServer, tmp_path: Path
) -> None:
    """`trace: on_retry`: a first failure has its screenshot but was not traced; its retry is
    traced and, failing too, keeps the trace; a passing probe is never traced."""
    write_file(
        tmp_path,
        f"""
        settings: {{trace: on_retry, retries: 1, database: results.db}}
        probes:
          - name: missing
            journey:
              - goto: {shop.url}/products
              - {{expect_text: "no such words anywhere", timeout: 1s}}
          - name: fine
            journey:
              - goto: {shop.url}/products
        """,
    )
    done = observer("run", "probes.yaml", "--json", cwd=tmp_path)
    assert done.code == 1, done.stderr
    results = by_probe(done)
    assert results["fine"]["outcome"] == "pass" and results["fine"]["artifacts"] == []
    missing = results["missing"]
    assert (missing["outcome"], missing["attempt"]) == ("fail", 2), explain(missing)
    assert sorted(a["kind"] for a in missing["artifacts"]) == ["screenshot", "trace"]
    assert [r["outcome"] for r in missing["retried"]] == ["fail"]
    kept = rows(
        tmp_path / "results.db",
        "select r.attempt, a.kind from runs r join artifacts a on a.run_id = r.id "
        "where r.probe = 'missing' order by r.attempt, a.kind",
    )
    assert [(r["attempt"], r["kind"]) for r in kept] == [
        (1, "screenshot"),
        (2, "screenshot"),
        (2, "trace"),
    ]
    traces = [p for p in (tmp_path / "artifacts").rglob("trace.zip")]
    assert len(traces) == 1 and zipfile.is_zipfile(traces[0]), traces


def _missing_browser_file(folder: Path, shop: ShopServer) -> Path:
    return write_file(
        folder,
        f"""
        probes:
          - name: health
            http: {shop.url}/health
          - name: refused
            http: http://127.0.0.1:{closed_port()}/
          - name: home
            journey:
              - goto: {shop.url}/
        """,
    )


def _check_missing_browser(done: Done) -> str:
    # error beats fail: 3, though one http check failed too.
    assert done.code == 3, done.stderr
    results = by_probe(done)
    assert results["health"]["outcome"] == "pass"
    assert results["refused"]["outcome"] == "fail"
    home = results["home"]
    assert home["outcome"] == "error", explain(home)
    assert home["steps"] == []
    assert "install" in home["error"]
    return str(home["error"])


def test_browser_missing_via_observer_chromium(shop: ShopServer, tmp_path: Path) -> None:
    _missing_browser_file(tmp_path, shop)
    done = observer(
        "run",
        "probes.yaml",
        "--json",
        env={"OBSERVER_CHROMIUM": "/nonexistent/chrome"},
        cwd=tmp_path,
    )
    message = _check_missing_browser(done)
    assert "OBSERVER_CHROMIUM" in message and "/nonexistent/chrome" in message


def test_browser_missing_nowhere_to_be_found(shop: ShopServer, tmp_path: Path) -> None:
    _missing_browser_file(tmp_path, shop)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OBSERVER_CHROMIUM", "PLAYWRIGHT_BROWSERS_PATH")
    }
    env.update(PATH=str(Path(sys.executable).parent), HOME=str(home))
    done = run_cli("run", "probes.yaml", "--json", env=env, cwd=tmp_path)
    message = _check_missing_browser(done)
    assert message.startswith("no Chromium or Chrome found; install one with: ")


def _wait_gone(pids: set[int], seconds: float = 20) -> set[int]:
    """The processes of `pids` still there after waiting up to `seconds` for them to end."""
    import time

    deadline = time.monotonic() + seconds
    left = pids
    while left and time.monotonic() < deadline:
        left = {p for p in left if alive(p)}
        if left:
            time.sleep(0.05)
    return left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")
def test_early_driver_runs_the_journeys_and_leaves_nothing_behind(
    shop: ShopServer, tmp_path: Path
) -> None:
    """`observer run` boots Playwright's driver while the file is read: the journeys run with
    that driver, and no driver outlives the command, used or not (a config error, say)."""
    from observer.early import early_driver
    from observer.runner import Runner

    path = write_file(
        tmp_path,
        f"""
        settings: {{trace: "off"}}
        probes:
          - name: home
            journey:
              - goto: {shop.url}/products
        """,
    )
    before = set(child_processes(os.getpid()))
    with early_driver(str(path)) as early:
        assert early is not None
        project = load_project(path)

        async def go() -> tuple[list[ProbeResult], bool, set[int]]:
            async with Runner(project) as runner:
                pair = await early.driver()
                assert pair is not None
                runner.pool.adopt(*pair)
                results = await runner.run(project.probes)
                running = set(child_processes(os.getpid())) - before
                return results, runner.pool.playwright is pair[1], running

        (result,), adopted, started = early.run(go())
    assert result.outcome == Outcome.PASS, explain(result)
    assert adopted and result.vitals["ttfb_ms"] is not None
    assert started, "the driver ran as a child of this process"
    assert not _wait_gone(started), "a driver outlived the run"

    # Not taken (the file was refused, say): closing stops the driver it booted.
    with early_driver(str(path)) as early:
        assert early is not None
        early.loop  # noqa: B018
        unused = set(child_processes(os.getpid())) - before
    assert unused and not _wait_gone(unused), "an unused driver outlived the command"

    # A file without journeys boots nothing.
    checks = write_file(tmp_path, f"probes: [{{name: h, http: {shop.url}/health}}]\n", "h.yaml")
    with early_driver(str(checks)) as early:
        assert early is None


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_headless_prefers_the_headless_shell_and_sees_through_its_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's /usr/bin/chromium-headless-shell runs the real binary without exec: observer
    must launch (and, when it hangs, kill) the real one, not the shell around it."""
    from observer.browser import find_chromium

    real = _executable(tmp_path / "lib" / "chromium-headless-shell", "#!/bin/sh\nexit 0\n")
    bin_dir = tmp_path / "bin"
    _executable(bin_dir / "chromium-headless-shell", f'#!/bin/sh -e\n{real} "$@"\n')
    full = _executable(bin_dir / "chromium", "#!/bin/sh\nexit 0\n")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OBSERVER_CHROMIUM", raising=False)
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH", raising=False)
    assert find_chromium().path == str(real)
    # Headed needs the full browser: the shell has no window.
    assert find_chromium(headless=False).path == str(full)


@pytest.fixture
def usage_file(tmp_path: Path) -> Path:
    return write_file(
        tmp_path,
        """
        probes:
          - name: health
            http: http://127.0.0.1:1/health
          - name: homepage
            http: http://127.0.0.1:1/
        """,
    )


def test_exit_2_for_an_unknown_probe_with_did_you_mean(usage_file: Path) -> None:
    done = observer("run", str(usage_file), "--probe", "helth", "--json")
    assert done.code == 2
    assert done.stdout == ""
    assert "no probe named 'helth' (did you mean 'health'?)" in done.stderr
    done = observer("run", str(usage_file), "--probe", "nosuch")
    assert done.code == 2
    assert "no probe named 'nosuch'; probes: health, homepage" in done.stderr


def test_exit_2_for_a_bad_config_file(tmp_path: Path) -> None:
    path = write_file(
        tmp_path,
        """
        probes:
          - name: health
            http: http://127.0.0.1:1/health
            expct: {status: 200}
        """,
    )
    done = observer("run", str(path), "--json")
    assert done.code == 2
    assert done.stdout == ""
    assert "probes.yaml:4:" in done.stderr
    assert "unknown key (did you mean 'expect'?)" in done.stderr
    assert "1 problem in" in done.stderr
    done = observer("run", str(tmp_path / "missing.yaml"))
    assert done.code == 2
    assert "no such file" in done.stderr
