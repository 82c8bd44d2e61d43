"""`observer serve` as a real daemon: a child process with its own Chromium, scheduling probes
against the demo shop every second, taking beacons, answering /metrics and /api, reloading on
SIGHUP or a changed file, and stopping cleanly on SIGTERM.

Nothing is mocked: the daemon is `python -m observer serve` on a free loopback port, the shop a
real server in this process, the results a real SQLite file read with sqlite3. Conditions are
polled with bounded deadlines; no timing is asserted as an upper bound. The last tests are
library-level: retention and the scheduler's arithmetic.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ServeProcess, alive, observer, rows, set_faults
from prometheus_client.parser import text_string_to_metric_families

from observer.browser import TAG_FLAG
from observer.config import ConfigError, Probe, load_project
from observer.demo.shop import ShopServer
from observer.results import Outcome, ProbeResult, StepResult
from observer.retention import Pruned, prune
from observer.scheduler import Scheduler, Slot, jitter, next_cron
from observer.store import BeaconRow, SQLiteStore, Store

POLL = 0.05
START_TIMEOUT = 30.0  # a loaded machine may take a while to import and bind
RUN_TIMEOUT = 60.0  # for runs to show up: generous, these are liveness bounds only

# ----------------------------------------------------------------------------- helpers


def wv(name: str, value: float, metric_id: str) -> dict[str, Any]:
    """A web-vitals metric as JSON.stringify(metric) gives it."""
    return {
        "name": name,
        "value": value,
        "delta": value,
        "id": metric_id,
        "entries": [],
        "navigationType": "navigate",
    }


def descendants(pid: int) -> set[int]:
    """Every process below pid (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def browser_processes(pid: int) -> list[int]:
    """The tagged Chromium processes in a daemon's process tree."""
    needle = f"{TAG_FLAG}=".encode()
    out = []
    for child in descendants(pid):
        try:
            if needle in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            continue
    return out


class Serve(ServeProcess):
    """One `observer serve FILE --log-format json` child process on a free port."""

    def __init__(self, config: Path, db: Path, *extra: str) -> None:
        super().__init__(config, db, *extra, start_timeout=START_TIMEOUT)
        self.shop: ShopServer | None = None
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def runs(self, probe: str) -> list[dict[str, Any]]:
        """Recorded runs of a probe, oldest first."""
        return rows(self.db, "select * from runs where probe = ? order by started_at", probe)

    def probe_info(self, name: str) -> dict[str, Any]:
        r = self.client.get("/api/probes")
        r.raise_for_status()
        return next(p for p in r.json()["probes"] if p["name"] == name)

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = RUN_TIMEOUT) -> Any:
        """Poll check() until it is truthy; fail with the daemon's last log lines if it never is."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"daemon exited ({self.proc.returncode}) waiting for {what}")
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout:g}s for {what}; daemon log:\n{self.tail()}")
            time.sleep(POLL)

    def wait_for_exit(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        """Poll check() after the daemon has gone."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"waited {timeout:g}s for {what}")
            time.sleep(POLL)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, and SIGKILL if it will not go; returns the exit code."""
        code = super().stop(timeout)
        self.client.close()
        return code


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    """Start daemons for one test; all are stopped afterwards."""
    started: list[Serve] = []

    def _serve(config: Path, *extra: str) -> Serve:
        daemon = Serve(config, tmp_path / "serve.db", *extra)
        started.append(daemon)
        return daemon

    yield _serve
    for daemon in started:
        daemon.stop()


def http_config(url: str, names: list[str], extra: str = "") -> str:
    """Fast HTTP probes (no browser) every second."""
    probes = "".join(f"  - name: {n}\n    http: {url}/health\n" for n in names)
    return (
        "settings:\n  every: 1s\n  evaluate_every: 1s\n  shutdown_grace: 3s\n"
        f"{extra}probes:\n{probes}"
    )


def run_starts_after(daemon: Serve, probe: str, after: float, n: int = 1) -> Callable[[], bool]:
    return lambda: sum(r["started_at"] > after for r in daemon.runs(probe)) >= n


# ----------------------------------------------------------------------------- one daemon

MAIN = """
settings:
  every: 1s
  evaluate_every: 1s
  shutdown_grace: 3s
  concurrency: 8
  screenshots: "off"
  trace: "off"
  artifacts: artifacts
rum:
  rate_limit: off
probes:
  - name: health
    http: {url}/health
    budgets:
      - name: health answers
        metric: completion
        threshold: rate >= 50%
  - name: home
    journey:
      - goto: {url}/
      - expect_text: Good coffee gear
    budgets:
      - name: home loads
        metric: duration
        threshold: p95 < 60s
  - name: cart
    step_timeout: 20s
    journey:
      - goto: {url}/
      - goto: {url}/cart
      - expect_text: Your cart
  - name: hung
    timeout: 2s
    journey:
      - goto: {url}/products
      - expect_text: Products
"""
PROBES = ("health", "home", "cart", "hung")
CART_STEP_TIMEOUT = 20.0


@pytest.fixture(scope="class")
def main(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One daemon shared by the tests below: an HTTP check and three journeys against a shop
    whose product pages hang (for good), and whose cart hangs until the browser-kill test."""
    folder = tmp_path_factory.mktemp("serve")
    with ShopServer() as shop:  # conftest's `shop` lives for one test; this one for the class
        set_faults(shop, hang=["products", "cart"])
        path = folder / "probes.yaml"
        path.write_text(textwrap.dedent(MAIN).lstrip().format(url=shop.url), encoding="utf-8")
        daemon = Serve(path, folder / "serve.db")
        daemon.shop = shop
        try:
            yield daemon
        finally:
            chromium = browser_processes(daemon.proc.pid)
            code = daemon.stop()
        assert code == 0, daemon.tail()

        def gone() -> bool:
            return not any(alive(pid) for pid in chromium)

        daemon.wait_for_exit(gone, "the daemon's Chromium to go with it")


class TestOneDaemon:
    """Behaviours of one long-running daemon, stopped after the last of them."""

    def test_runs_accumulate_at_their_rate_without_overlap(self, main: Serve) -> None:
        main.wait_for(lambda: len(main.runs("health")) >= 6, ">= 6 runs of the http check")
        main.wait_for(lambda: len(main.runs("home")) >= 3, ">= 3 runs of the journey")
        main.wait_for(lambda: len(main.runs("hung")) >= 2, ">= 2 runs of the hung journey")
        every = 1.0
        for probe in PROBES:
            runs = main.runs(probe)
            for a, b in itertools.pairwise(runs):
                end = a["started_at"] + a["duration_ms"] / 1000
                assert end <= b["started_at"] + 0.005, f"{probe}: run {a['id']} overlaps {b['id']}"
            if len(runs) < 2:
                continue
            # Sanity of the counts, not a timing assertion: a probe never runs more often than
            # its schedule allows, and the fast http check is not starved.
            slots = (runs[-1]["started_at"] - runs[0]["started_at"]) / every + 1
            assert len(runs) <= 1.5 * slots, (probe, len(runs), slots)
            if probe == "health":
                assert len(runs) >= 0.5 * slots, (probe, len(runs), slots)
        assert all(r["source"] == "serve" for r in main.runs("health"))
        assert {r["outcome"] for r in main.runs("health")} == {"pass"}

    def test_hung_page_is_cut_off_at_its_timeout_and_scheduling_goes_on(self, main: Serve) -> None:
        first = main.wait_for(lambda: main.runs("hung"), "a run of the hung journey")[0]
        assert first["outcome"] == "fail", first["error"]
        assert "ran out of time (2s)" in first["error"], first["error"]
        assert first["duration_ms"] >= 2000
        steps = rows(main.db, "select * from steps where run_id = ? order by idx", first["id"])
        assert [s["outcome"] for s in steps] == ["fail", "skipped"]
        # The hang does not stall the daemon: the same probe and the others keep running.
        main.wait_for(run_starts_after(main, "hung", first["started_at"], 2), "later hung runs")
        main.wait_for(run_starts_after(main, "health", first["started_at"] + 2, 2), "later checks")

    def test_killed_browser_is_one_error_then_a_new_browser_passes(self, main: Serve) -> None:
        # The browser is up and working.
        main.wait_for(lambda: any(r["outcome"] == "pass" for r in main.runs("home")), "home")
        old = main.wait_for(lambda: browser_processes(main.proc.pid), "the daemon's Chromium")

        # While the cart page hangs, a run of `cart` in flight cannot end by itself before its
        # step timeout: take one that is well under way (in its browser, not starting) and has
        # most of that timeout still ahead, however slow this machine is.
        def stuck_run() -> float | None:
            p = main.probe_info("cart")
            if not p["running"]:
                return None
            started = float(p["next_run_at"] + p["lag_s"])  # when this run began
            return started if 1.0 < time.time() - started < CART_STEP_TIMEOUT / 2 else None

        started = main.wait_for(stuck_run, "a run of cart in flight", timeout=RUN_TIMEOUT)
        killed_at = time.time()
        pids = browser_processes(main.proc.pid)
        assert pids, "no Chromium found in the daemon's process tree"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert main.shop is not None
        set_faults(main.shop, hang=["products"])  # the cart answers again

        def after_kill() -> list[dict[str, Any]]:
            runs = [r for r in main.runs("cart") if r["started_at"] >= started - 0.001]
            return runs[:2] if len(runs) >= 2 else []

        victim, following = main.wait_for(after_kill, "the next run of cart after the kill")
        story = "\n".join(
            f"{r['id']} {r['outcome']} {r['started_at']:.3f} +{r['duration_ms']:.0f}ms {r['error']}"
            for r in main.runs("cart")
        )
        story += f"\nrun began {started:.3f}, killed {killed_at:.3f}\n{main.tail(80)}"
        assert victim["outcome"] == "error", story
        assert "browser" in victim["error"], story  # went away, or no page
        assert victim["started_at"] <= killed_at, story  # it was the run in flight
        assert victim["started_at"] + victim["duration_ms"] / 1000 >= killed_at - 0.005
        assert following["outcome"] == "pass", following
        until = following["started_at"]
        outcomes = [r["outcome"] for r in main.runs("cart") if r["started_at"] <= until]
        assert outcomes.count("error") == 1, outcomes  # exactly the run the kill hit
        new = browser_processes(main.proc.pid)
        assert new and not set(new) & set(old), "a new Chromium serves the next journeys"
        # The daemon logs the error as a run like any other.
        runs = [e for e in main.events("run") if e.get("run_id") == victim["id"]]
        assert runs and runs[0]["outcome"] == "error" and runs[0]["level"] == "warning"

    def test_metrics_parse_with_prometheus_client(self, main: Serve) -> None:
        ok = main.client.post("/beacon", json=wv("LCP", 1200, f"v6-metrics-{time.time_ns()}"))
        assert ok.status_code == 202 and ok.json()["accepted"] == 1
        bad = main.client.post(
            "/beacon", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400
        main.wait_for(lambda: any(r["outcome"] == "pass" for r in main.runs("home")), "home passes")
        main.wait_for(lambda: main.runs("hung"), "a hung run")

        def scrape() -> dict[str, Any] | None:
            r = main.client.get("/metrics")
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain")
            fams = {f.name: f for f in text_string_to_metric_families(r.text)}
            if not fams.get("observer_budget_status") or not fams["observer_budget_status"].samples:
                return None  # no evaluation cycle yet
            return fams

        fams = main.wait_for(scrape, "budgets in /metrics")

        def samples(family: str, suffix: str = "") -> list[Any]:
            assert family in fams, f"{family} missing from /metrics: {sorted(fams)}"
            return [s for s in fams[family].samples if s.name == family + suffix]

        runs = samples("observer_probe_runs", "_total")
        assert fams["observer_probe_runs"].type == "counter"
        by_label = {(s.labels["probe"], s.labels["outcome"]): s.value for s in runs}
        assert by_label[("health", "pass")] >= 1
        assert by_label[("hung", "fail")] >= 1
        assert {s.labels["outcome"] for s in runs} <= {"pass", "fail", "error"}

        assert fams["observer_probe_duration_seconds"].type == "histogram"
        buckets = samples("observer_probe_duration_seconds", "_bucket")
        assert {s.labels["probe"] for s in buckets} >= {"health", "home"}
        inf = [s for s in buckets if s.labels["probe"] == "health" and s.labels["le"] == "+Inf"]
        count = samples("observer_probe_duration_seconds", "_count")
        assert inf[0].value == next(s.value for s in count if s.labels["probe"] == "health")

        steps = samples("observer_step_duration_seconds")
        assert any(s.labels["probe"] == "home" and s.value > 0 for s in steps), steps
        vitals = samples("observer_web_vital_seconds")
        home_vitals = {s.labels["metric"] for s in vitals if s.labels["probe"] == "home"}
        assert home_vitals >= {"ttfb", "load"}, vitals

        budgets = {s.labels["budget"]: s for s in samples("observer_budget_status")}
        assert set(budgets) == {"health answers", "home loads"}
        assert budgets["health answers"].value == 0 and budgets["health answers"].labels["source"]
        assert all(s.value in (-1, 0, 1, 2) for s in budgets.values())

        accepted = samples("observer_beacons_accepted", "_total")
        assert accepted and accepted[0].value >= 1
        rejected = samples("observer_beacon_requests_rejected", "_total")
        assert any(s.labels["status"] == "400" and s.value >= 1 for s in rejected), rejected

        lag = {s.labels["probe"]: s.value for s in samples("observer_scheduler_lag_seconds")}
        assert set(lag) >= {"health", "home"} and all(v >= 0 for v in lag.values())

    def test_api_shapes(self, main: Serve) -> None:
        main.wait_for(lambda: len(main.runs("health")) >= 3, "runs of health")
        main.wait_for(lambda: main.runs("hung") and main.runs("home"), "journey runs")
        main.wait_for(lambda: main.client.get("/api/budgets").json()["budgets"], "a budget cycle")
        assert main.client.get("/healthz").status_code == 200
        assert main.client.get("/healthz").json()["status"] == "ok"

        probes = main.client.get("/api/probes").json()["probes"]
        assert [p["name"] for p in probes] == list(PROBES)
        keys = {
            "name",
            "kind",
            "enabled",
            "every_s",
            "cron",
            "next_run_at",
            "running",
            "lag_s",
            "runs_24h",
            "success_rate_24h",
            "last_run",
        }
        for p in probes:
            assert set(p) == keys, p
            assert p["every_s"] == 1.0 and p["cron"] is None and p["enabled"] is True
            assert isinstance(p["running"], bool) and p["next_run_at"] > 0 and p["lag_s"] >= 0
        by_name = {p["name"]: p for p in probes}
        assert by_name["health"]["kind"] == "http" and by_name["home"]["kind"] == "journey"
        assert by_name["health"]["runs_24h"] >= 3 and by_name["health"]["success_rate_24h"] == 1.0
        assert by_name["hung"]["success_rate_24h"] == 0.0
        last = by_name["health"]["last_run"]
        assert set(last) == {"id", "outcome", "started_at", "duration_ms", "error"}
        assert last["outcome"] == "pass" and last["error"] is None

        now = time.time()
        query = {"probe": "health", "since": "1h"}
        runs = main.client.get("/api/runs", params=query).json()["runs"]
        assert len(runs) >= 3 and {r["probe"] for r in runs} == {"health"}
        starts = [r["started_at"] for r in runs]
        assert starts == sorted(starts, reverse=True) and min(starts) >= now - 3600 - 60
        assert {"id", "outcome", "duration_ms", "http_status", "source"} <= set(runs[0])
        middle = starts[len(starts) // 2]
        since_unix = main.client.get("/api/runs", params={"probe": "health", "since": str(middle)})
        later = [r["started_at"] for r in since_unix.json()["runs"]]
        assert min(later) == middle and {s for s in starts if s >= middle} <= set(later)
        limited = main.client.get("/api/runs", params={"limit": "2"}).json()["runs"]
        assert len(limited) == 2
        for bad in ({"since": "yesterday"}, {"since": "5 parsecs"}, {"limit": "0"}, {"limit": "x"}):
            r = main.client.get("/api/runs", params=bad)
            assert r.status_code == 400, (bad, r.text)
            assert "error" in r.json()

        body = main.client.get("/api/budgets").json()
        assert set(body) == {"evaluated_at", "budgets"}
        assert abs(body["evaluated_at"] - time.time()) < 3600
        verdicts = {b["name"]: b for b in body["budgets"]}
        assert set(verdicts) == {"health answers", "home loads"}
        for v in verdicts.values():
            assert {"name", "metric", "source", "threshold", "outcome", "value"} <= set(v)
            assert isinstance(v["samples"], int)
            assert v["outcome"] in ("pass", "degraded", "fail", "inconclusive")
        assert verdicts["health answers"]["outcome"] == "pass"
        assert verdicts["health answers"]["probes"] == ["health"]

    def test_logs_are_json_lines(self, main: Serve) -> None:
        main.wait_for(lambda: main.events("budget"), "a budget log line")
        every = {"health", "home", "hung"}  # cart ends only when its hang does
        main.wait_for(lambda: {e.get("probe") for e in main.events("run")} >= every, "runs")
        stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        lines = main.lines()[:-1]  # the last one may be half written
        assert lines
        for line in lines:
            entry = json.loads(line)
            assert isinstance(entry, dict), line
            assert {"ts", "level", "logger", "msg"} <= set(entry), line
            assert stamp.match(entry["ts"]), entry["ts"]
            assert entry["level"] in ("debug", "info", "warning", "error", "critical"), line
        runs = main.events("run")
        for e in runs:
            assert e["probe"] in PROBES and e["outcome"] in ("pass", "fail", "error"), e
            assert e["logger"] == "observer.daemon" and isinstance(e["run_id"], int), e
        # A run's log line names the row it wrote.
        e = next(e for e in runs if e["probe"] == "hung")
        row = rows(main.db, "select probe, outcome from runs where id = ?", e["run_id"])
        assert row == [{"probe": "hung", "outcome": e["outcome"]}]
        assert {"listen", "start", "ready"} <= {e.get("event") for e in main.logs()}


# ----------------------------------------------------------------------------- reloads


def test_sighup_adds_a_probe(shop: ShopServer, write: Any, serve: Any) -> None:
    path = write(http_config(shop.url, ["alpha"]))
    daemon = serve(path)
    daemon.wait_for(lambda: daemon.runs("alpha"), "runs of alpha")
    write(http_config(shop.url, ["alpha", "beta"]))
    sent = time.time()
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.runs("beta"), "runs of the probe SIGHUP added")
    reload = daemon.wait_for(lambda: daemon.events("reload"), "a reload log line")
    assert len(reload) == 1 and "SIGHUP" in reload[0]["msg"] and "2 probes" in reload[0]["msg"]
    assert not daemon.events("reload_refused")
    names = [p["name"] for p in daemon.client.get("/api/probes").json()["probes"]]
    assert names == ["alpha", "beta"]
    # History is kept and the old probe goes on.
    daemon.wait_for(run_starts_after(daemon, "alpha", sent, 2), "alpha after the reload")
    assert daemon.runs("alpha")[0]["started_at"] < sent


def test_broken_config_on_reload_is_refused_and_the_old_one_runs_on(
    shop: ShopServer, write: Any, serve: Any
) -> None:
    path = write(http_config(shop.url, ["alpha"]))
    daemon = serve(path)
    daemon.wait_for(lambda: daemon.runs("alpha"), "runs of alpha")
    # FILE:LINE:COL, the file as named from the daemon's working directory.
    where = re.compile(re.escape(path.name) + r":(\d+):(\d+): ")
    broken = {
        # An unknown key (line 2) beside a new probe that must not start.
        "unknown key": (
            http_config(shop.url, ["alpha", "gamma"]).replace("every: 1s", "evry: 1s", 1),
            "2",
            "settings.evry: unknown key",
        ),
        "garbage": ("probes: [\n  - name: x\n  {{{\n", "2", "YAML syntax error"),
    }
    seen = 0
    for what, (text, line, message) in broken.items():
        write(text)
        daemon.proc.send_signal(signal.SIGHUP)
        expected = seen + 2  # a line per problem, then the summary
        daemon.wait_for(
            lambda n=expected: len(daemon.events("reload_refused")) >= n, f"refusal of {what}"
        )
        refused = daemon.events("reload_refused")[seen:]
        seen += len(refused)
        located = [m for e in refused if (m := where.search(e["msg"]))]
        assert located, (what, refused)
        assert located[0].group(1) == line, (what, refused)
        assert any(message in e["msg"] for e in refused), (what, refused)
        assert all(e["level"] == "error" for e in refused)
        assert any("still running the previous config" in e["msg"] for e in refused)
        at = time.time()
        daemon.wait_for(run_starts_after(daemon, "alpha", at, 2), f"alpha after {what}")
        assert daemon.client.get("/healthz").status_code == 200
        assert [p["name"] for p in daemon.client.get("/api/probes").json()["probes"]] == ["alpha"]
    assert not daemon.events("reload")
    assert not daemon.runs("gamma")


def test_sighup_without_the_scheduler_reloads_and_does_not_kill(
    shop: ShopServer, write: Any, serve: Any
) -> None:
    """--no-schedule: SIGHUP's default action would end the server; it reloads instead."""
    path = write(http_config(shop.url, ["alpha"]))
    daemon = serve(path, "--no-schedule")
    assert daemon.client.post("/beacon", json=wv("LCP", 900, "v6-open-1")).status_code == 202
    keyed = "rum:\n  api_key: beacon-key-for-tests\nprobes:\n"
    write(http_config(shop.url, ["alpha"]).replace("probes:\n", keyed, 1))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.events("reload"), "a reload log line")
    assert daemon.proc.poll() is None
    assert daemon.client.post("/beacon", json=wv("LCP", 900, "v6-open-2")).status_code == 401
    ok = daemon.client.post(
        "/beacon",
        json=wv("LCP", 900, "v6-open-3"),
        headers={"X-API-Key": "beacon-key-for-tests"},
    )
    assert ok.status_code == 202
    write("probes: [\n  {{{\n")
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for(lambda: daemon.events("reload_refused"), "the refusal of a broken file")
    assert daemon.client.get("/healthz").status_code == 200
    assert not daemon.runs("alpha")  # nothing is scheduled
    assert daemon.stop() == 0


def test_watch_reloads_a_changed_file_without_sighup(
    shop: ShopServer, write: Any, serve: Any
) -> None:
    path = write(http_config(shop.url, ["alpha"]))
    daemon = serve(path, "--watch")
    daemon.wait_for(lambda: daemon.runs("alpha"), "runs of alpha")
    write(http_config(shop.url, ["alpha", "beta"]))
    daemon.wait_for(lambda: daemon.runs("beta"), "runs of the probe the edit added")
    reload = daemon.wait_for(lambda: daemon.events("reload"), "a reload log line")
    assert "file changed" in reload[0]["msg"]
    # The next edit is picked up too, and removing a probe stops it.
    write(http_config(shop.url, ["beta"]))
    daemon.wait_for(lambda: len(daemon.events("reload")) >= 2, "the second reload")
    at = time.time()
    daemon.wait_for(run_starts_after(daemon, "beta", at, 2), "beta after the second edit")
    assert not [r for r in daemon.runs("alpha") if r["started_at"] > at + 1]
    assert [p["name"] for p in daemon.client.get("/api/probes").json()["probes"]] == ["beta"]


# ----------------------------------------------------------------------------- shutdown


def test_sigterm_exits_0_within_grace_and_loses_no_beacon(
    shop: ShopServer, write: Any, serve: Any
) -> None:
    grace = 2.0
    set_faults(shop, hang=["api"])
    path = write(
        http_config(shop.url, ["alpha"], extra=f"  shutdown_grace: {grace:g}s\n")
        .replace("  shutdown_grace: 3s\n", "", 1)
        .replace("probes:\n", "rum:\n  rate_limit: off\nprobes:\n", 1)
        # A check that never gets its answer: in flight when SIGTERM comes, cancelled.
        + f"  - name: stuck\n    http: {shop.url}/api/products\n    timeout: 60s\n"
    )
    daemon = serve(path)
    daemon.wait_for(lambda: daemon.probe_info("stuck")["running"], "the stuck check in flight")

    acked = 0
    sent = 0
    lock = threading.Lock()
    stop_sending = threading.Event()

    def client(k: int) -> None:
        nonlocal acked, sent
        with httpx.Client(base_url=daemon.url, timeout=30) as http:
            for i in range(200):
                if stop_sending.is_set():
                    return
                body = [wv("LCP", 1000 + i, f"v6-{k}-{i}"), wv("CLS", 0.01, f"v6-{k}-{i}-c")]
                try:
                    r = http.post("/beacon", json=body)
                except httpx.TransportError:
                    continue  # the server is going or gone: not acknowledged
                with lock:
                    sent += 1
                    if 200 <= r.status_code < 300:
                        acked += r.json()["accepted"]

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    try:
        daemon.wait_for(lambda: acked >= 200, "beacons accepted before the signal")
        daemon.proc.send_signal(signal.SIGTERM)
        code = daemon.proc.wait(timeout=2 * grace + 30)
    finally:
        stop_sending.set()
        for t in threads:
            t.join(timeout=60)
    assert code == 0, daemon.tail()
    stored = rows(daemon.db, "select count(*) as n from beacons")[0]["n"]
    assert stored == acked, (stored, acked, sent)
    flushed = daemon.events("flushed")
    assert flushed and flushed[-1]["accepted"] == acked
    stop = daemon.events("stop")
    assert stop and stop[-1]["cancelled"] == 1, stop  # the stuck check, after the grace


# ----------------------------------------------------------------------------- retention


DAY = 86400.0
RETENTION = """
settings:
  database: results.db
  artifacts: artifacts
  retention:
    runs: 30d
    artifacts: 7d
rum:
  retention: 10d
probes:
  - name: home
    http: http://127.0.0.1:9/
"""


class Aged:
    """Runs, beacons and run folders of given ages (in days), for retention to remove."""

    def __init__(self, folder: Path, now: float) -> None:
        self.folder, self.now = folder, now
        self.db = folder / "results.db"
        self.dirs: dict[float, Path] = {}

    def runs(self, store: Store, *ages: float) -> list[int]:
        """One journey run (with a step) per age."""
        return [
            store.record(
                ProbeResult(
                    probe="home",
                    kind="journey",
                    outcome=Outcome.PASS,
                    started_at=self.now - age * DAY,
                    duration_ms=10.0,
                    steps=[StepResult(0, "goto /", "goto", Outcome.PASS, 0.0, 10.0)],
                ),
                source="serve",
            )
            for age in ages
        ]

    def beacons(self, store: Store, *ages: float) -> None:
        """A real user's LCP per age."""
        store.insert_beacons(
            [
                BeaconRow(
                    received_at=self.now - age * DAY,
                    metric="lcp",
                    app="shop",
                    page="/",
                    value=1000.0,
                    rating="good",
                    session="s",
                    load_id="l",
                    format="web-vitals",
                )
                for age in ages
            ]
        )

    def folders(self, *ages: float) -> None:
        """A run folder with a trace per age, last changed that long ago."""
        for age in ages:
            d = self.folder / "artifacts" / "home" / f"run-{age:g}d"
            d.mkdir(parents=True)
            (d / "trace.zip").write_bytes(b"PK")
            os.utime(d, (self.now - age * DAY, self.now - age * DAY))
            self.dirs[age] = d


def test_observer_prune_removes_old_runs_artifacts_and_beacons(write: Any, tmp_path: Path) -> None:
    """`observer prune` reaches as far as the daemon: runs with their steps, run folders on
    disk and beacons, each past its own retention setting."""
    path = write(RETENTION)
    aged = Aged(tmp_path, time.time())
    with SQLiteStore(aged.db) as store:
        aged.runs(store, 40, 31, 2)
        aged.beacons(store, 12, 1)
    aged.folders(9, 1)

    done = observer("prune", str(path))
    assert done.code == 0, done.stderr
    assert (
        "2 runs older than 30d, 1 artifact folders older than 7d and 1 beacons older than "
        "10 days deleted from" in done.stdout
    ), done.stdout
    ages = [round((aged.now - r["started_at"]) / DAY) for r in rows(aged.db, "select * from runs")]
    assert ages == [2]
    assert rows(aged.db, "select count(*) as n from steps")[0]["n"] == 1
    assert rows(aged.db, "select count(*) as n from beacons")[0]["n"] == 1
    assert not aged.dirs[9].exists() and (aged.dirs[1] / "trace.zip").exists()
    # Nothing is left to go.
    again = observer("prune", str(path))
    assert "0 runs older than 30d, 0 artifact folders" in again.stdout, again.stdout


def test_prune_removes_old_runs_artifacts_and_beacons(write: Any, tmp_path: Path) -> None:
    project = load_project(write(RETENTION))
    aged = Aged(tmp_path, time.time())
    with SQLiteStore(aged.db) as store:
        old = aged.runs(store, 90, 30.01)
        new = aged.runs(store, 29.99, 0)
        aged.beacons(store, 11, 9)
        aged.folders(8, 6)

        gone = prune(project, store, aged.now)
        assert gone == Pruned(runs=2, beacons=1, artifact_dirs=1)
        assert [r.id for r in store.runs("home")] == sorted(new, reverse=True)
        step_runs = {r["run_id"] for r in rows(store.path, "select run_id from steps")}
        assert step_runs == set(new) and not step_runs & set(old)
        assert not aged.dirs[8].exists() and (aged.dirs[6] / "trace.zip").exists()
        assert store.count("beacons") == 1
        # Nothing left to remove, and the store's own cut is strict (< before).
        assert prune(project, store, aged.now) == Pruned()
        newest = store.runs("home")[0].started_at
        assert store.prune_runs(newest) == 1 and store.prune_runs(newest) == 0
        assert [r.id for r in store.runs("home")] == [max(new)]


# ----------------------------------------------------------------------------- scheduler


def test_jitter_is_stable_and_within_the_interval() -> None:
    names = [f"probe-{i}" for i in range(50)]
    for name in names:
        for interval in (1.0, 10.0, 60.0):
            j = jitter(name, interval)
            assert j == jitter(name, interval)
            assert 0 <= j < interval
        assert jitter(name, 3600.0) < 30.0  # capped: a long interval still starts soon
    assert len({round(jitter(n, 60.0), 6) for n in names}) > 40  # spread, not bunched


def test_following_skips_slots_missed_in_a_stall() -> None:
    probe = Probe.model_validate({"name": "p", "http": "http://127.0.0.1:9/"})
    slot = Slot(probe, every=10.0, cron=None)
    assert slot.following(1000.0) == 1010.0  # before a first slot: one interval on
    slot.next_at = 100.0
    assert slot.following(100.5) == 110.0 and slot.skipped == 0  # ran on time
    slot.next_at = 110.0
    # The run of 110 took until 145: 120, 130 and 140 passed and are skipped, not queued.
    assert slot.following(145.0) == 150.0 and slot.skipped == 3
    slot.next_at = 150.0
    assert slot.following(159.9) == 160.0 and slot.skipped == 3

    cron = Slot(probe, every=None, cron="*/5 * * * *")
    at = datetime(2026, 3, 1, 12, 3, 20, tzinfo=UTC).timestamp()
    assert cron.following(at) == next_cron("*/5 * * * *", at)


def test_next_cron() -> None:
    def at(h: int, m: int, s: int = 0) -> float:
        return datetime(2026, 3, 1, h, m, s, tzinfo=UTC).timestamp()

    assert next_cron("*/5 * * * *", at(12, 3, 20)) == at(12, 5)
    assert next_cron("*/5 * * * *", at(12, 5)) == at(12, 10)  # strictly after
    assert next_cron("*/5 * * * *", at(12, 59, 59)) == at(13, 0)
    assert next_cron("0 3 * * *", at(12, 0)) == datetime(2026, 3, 2, 3, 0, tzinfo=UTC).timestamp()


def test_cron_probe_is_scheduled_at_its_next_time(write: Any) -> None:
    path = write(
        """
        probes:
          - name: nightly
            http: http://127.0.0.1:9/
            cron: "*/5 * * * *"
          - name: often
            http: http://127.0.0.1:9/
            every: 10s
        """
    )
    project = load_project(path)
    assert project.probe("nightly").cron == "*/5 * * * *"
    now = datetime(2026, 3, 1, 12, 3, 20, tzinfo=UTC).timestamp()

    async def schedule() -> dict[str, Slot]:
        async def run(probe: Probe, scheduled: float) -> None:
            raise AssertionError("nothing is due yet")

        scheduler = Scheduler(run, 4, clock=lambda: now)
        scheduler.set_probes(project.probes, 60.0)
        slots = dict(scheduler.slots)
        assert await scheduler.stop(1.0) == 0
        return slots

    slots = asyncio.run(schedule())
    assert slots["nightly"].cron == "*/5 * * * *" and slots["nightly"].every is None
    assert slots["nightly"].next_at == next_cron("*/5 * * * *", now)
    assert slots["often"].every == 10.0
    assert now <= slots["often"].next_at < now + 10.0


def test_bad_cron_and_every_with_cron_are_config_errors(write: Any) -> None:
    path = write(
        """
        probes:
          - name: short
            http: http://127.0.0.1:9/
            cron: "*/5 * * *"
          - name: both
            http: http://127.0.0.1:9/
            every: 1m
            cron: "*/5 * * * *"
          - name: nonsense
            http: http://127.0.0.1:9/
            cron: "61 * * * *"
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    problems = {p.path: p for p in caught.value.problems}
    assert set(problems) == {"probes[0].cron", "probes[1]", "probes[2].cron"}
    assert problems["probes[0].cron"].mark.line == 4
    assert "5 fields" in problems["probes[0].cron"].message
    assert problems["probes[1]"].mark.line == 5
    assert "not both" in problems["probes[1]"].message
    assert problems["probes[2].cron"].mark.line == 11
    assert "not a valid cron expression" in problems["probes[2].cron"].message
    assert str(problems["probes[0].cron"]).startswith(f"{path}:4:")


def test_a_reloaded_concurrency_limit_applies_to_the_next_runs() -> None:
    """settings.concurrency changed by a reload: raised, waiting runs start at once; lowered,
    no new run starts until the runs in flight are under the new limit."""
    probes = [
        Probe.model_validate({"name": f"p{i}", "http": "http://127.0.0.1:9/", "every": "1m"})
        for i in range(4)
    ]
    clock = [1_000_000.0]

    async def main() -> list[int]:
        running: list[str] = []
        peaks: list[int] = []
        started: asyncio.Queue[str] = asyncio.Queue()
        release = {p.name: asyncio.Event() for p in probes}

        async def run(probe: Probe, scheduled: float) -> None:
            running.append(probe.name)
            peaks.append(len(running))
            await started.put(probe.name)
            await release[probe.name].wait()
            running.remove(probe.name)

        scheduler = Scheduler(run, 1, clock=lambda: clock[0])
        scheduler.set_probes(probes, 60.0)
        clock[0] += 30  # every first slot (jitter < 30 s) is now due
        first = await started.get()
        for _ in range(20):  # let the other loops reach the gate
            await asyncio.sleep(0)
        assert started.empty() and scheduler.limit.held == 1

        await scheduler.limit.resize(3)  # raised: two waiting runs go in
        second, third = await started.get(), await started.get()
        for _ in range(20):
            await asyncio.sleep(0)
        assert started.empty() and scheduler.limit.held == 3

        await scheduler.limit.resize(1)  # lowered: the fourth waits for two to finish
        release[first].set()
        release[second].set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert started.empty() and scheduler.limit.held == 1, running
        release[third].set()
        fourth = await started.get()
        assert {first, second, third, fourth} == {p.name for p in probes}
        release[fourth].set()
        assert await scheduler.stop(5.0) == 0
        return peaks

    peaks = asyncio.run(main())
    assert max(peaks) == 3 and peaks[-1] == 1, peaks
