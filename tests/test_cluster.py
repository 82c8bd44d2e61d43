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
        # The dashboard lists them, and the probe's page shows each location side by side.
        overview = httpx.get(f"{eu.url}/", timeout=30).text
        assert 'id="runners"' in overview and "Drift" not in overview
        for r in runners["runners"]:
            assert r["id"] in overview
        probe = httpx.get(f"{eu.url}/probes/home", timeout=30).text
        assert 'id="locations"' in probe
        assert "<td>eu-west</td>" in probe and "<td>us-east</td>" in probe
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


def beacon(n: int) -> dict[str, Any]:
    """One real user's LCP, as observer's /rum.js sends it."""
    return {
        "observer": 1,
        "app": "shop",
        "sid": f"s{n}",
        "load": f"l{n}",
        "syn": False,
        "page": "https://shop.example/",
        "items": [{"k": "vital", "id": f"lcp-{n}", "n": "LCP", "v": 1000 + n}],
    }


def test_while_the_database_is_away_ingest_says_503_and_runners_spool(
    tmp_path: Path, pg_url: str, pg_cluster: Any, site: PageServer
) -> None:
    path = config(tmp_path, site)
    node = ServeProcess(
        path, pg_url, "--role", "runner", "--role", "ingest", "--location", "eu-west",
        start_timeout=START_TIMEOUT,
    )  # fmt: skip
    try:
        first = httpx.post(f"{node.url}/beacon", json=beacon(0), timeout=30)
        assert first.status_code == 202, first.text
        wait_for("a recorded run", lambda: query(pg_url, "select count(*) from runs")[0][0] > 0)

        pg_cluster.stop()
        away = httpx.post(f"{node.url}/beacon", json=beacon(1), timeout=60)
        assert away.status_code == 503, away.text  # never 2xx while nothing can be stored
        assert int(away.headers["retry-after"]) >= 1
        wait_for("three runs spooled", lambda: len(node.events("spooled")) >= 3)
        spooled = node.events("spooled")
        assert all(pg_url.split("@")[0] not in e["msg"] for e in spooled)  # no password

        pg_cluster.start()
        wait_for("the spool replayed", lambda: node.events("spool_replayed"), timeout=60)
        back = httpx.post(f"{node.url}/beacon", json=beacon(2), timeout=30)
        assert back.status_code == 202, back.text
    finally:
        assert node.stop() == 0
    # Nothing measured while the database was away was lost, and it arrived in order.
    recorded = query(pg_url, "select id, started_at from runs where probe = 'home' order by id")
    times = [t for _, t in recorded]
    assert times == sorted(times)
    replayed = sum(e["replayed"] for e in node.events("spool_replayed"))
    assert replayed >= 3
    lcps = {v for (v,) in query(pg_url, "select value from beacons where metric = 'lcp'")}
    assert lcps == {1000.0, 1002.0}  # the acknowledged ones; the refused one was never stored


class Hook:
    """A webhook receiver on a free loopback port: what apprise's json:// posts."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.messages: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.messages.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [m["title"] for m in self.messages]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_two_alerters_send_each_transition_once_and_fail_over(tmp_path: Path, pg_url: str) -> None:
    state = {"up": True}
    hook = Hook()
    with PageServer({"/": Page(lambda n: "hello" if state["up"] else "down")}) as shop:
        path = tmp_path / "probes.yaml"
        path.write_text(
            f"""
settings:
  evaluate_every: 1s
probes:
  - name: home
    http: {shop.url}/
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
        runner = ServeProcess(path, pg_url, "--role", "runner", start_timeout=START_TIMEOUT)
        a = ServeProcess(path, pg_url, "--role", "alerter", start_timeout=START_TIMEOUT)
        b = ServeProcess(path, pg_url, "--role", "alerter", start_timeout=START_TIMEOUT)
        try:
            leader, other = (a, b) if a.events("lead") else (b, a)
            assert leader.events("lead") and not other.events("lead"), "one leads"
            state["up"] = False
            wait_for("the firing message", lambda: any("FIRING" in t for t in hook.titles()))
            # Between transitions, the leader dies; the other takes over within 15 s. The send
            # is over once the leader has recorded it and taken it off the outbox: a leader
            # killed before that may send it once more (the same incident and transition, for
            # receivers to recognise), which is not what this test is about.
            sent = (
                "select (select count(*) from outbox) = 0 and (select count(*) from "
                "notifications where kind = 'firing' and status = 'sent') = 1"
            )
            wait_for("the firing send recorded", lambda: query(pg_url, sent)[0][0])
            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait(timeout=30)
            killed = time.monotonic()
            wait_for("a new leader", lambda: other.events("lead"), timeout=15 + 5)
            took = time.monotonic() - killed
            state["up"] = True
            wait_for("the resolved message", lambda: any("RESOLVED" in t for t in hook.titles()))
            # A few more runs judged: nothing more may arrive.
            seen = query(pg_url, "select count(*) from runs")[0][0]
            wait_for("three more runs", lambda: query(pg_url, "select count(*) from runs")[0][0]
                     >= seen + 3)  # fmt: skip
        finally:
            for process in (runner, other):
                process.stop()
            hook.close()
    firing = [t for t in hook.titles() if t.startswith("[FIRING]")]
    resolved = [t for t in hook.titles() if t.startswith("[RESOLVED]")]
    assert (len(firing), len(resolved)) == (1, 1), hook.titles()
    assert took < 15, f"failover took {took:.1f} s"
    incident_ids = {m["message"].splitlines()[-1] for m in hook.messages}
    assert len(incident_ids) == 2  # "Incident: N (firing)" and "Incident: N (resolved)"


def test_min_locations_fires_only_when_enough_locations_fail(tmp_path: Path, pg_url: str) -> None:
    import os

    up = {"eu-west": True, "us-east": True}
    hook = Hook()
    with (
        PageServer({"/": Page(lambda n: "hello" if up["eu-west"] else "down")}) as eu_site,
        PageServer({"/": Page(lambda n: "hello" if up["us-east"] else "down")}) as us_site,
    ):
        path = tmp_path / "probes.yaml"
        path.write_text(
            f"""
settings:
  evaluate_every: 1s
probes:
  - name: home
    http: ${{SITE}}/
    every: 1s
    expect: {{body_contains: hello}}
alerts:
  channels:
    hook: {hook.url}
  rules:
    - name: home down in two places
      probes: [home]
      min_locations: 2
      after: 1
      resolve_after: 1
      notify: [hook]
""",
            encoding="utf-8",
        )

        def runner(location: str, site: PageServer) -> ServeProcess:
            env = {**os.environ, "SITE": site.url}
            return ServeProcess(path, pg_url, "--role", "runner", "--location", location,
                                start_timeout=START_TIMEOUT, env=env)  # fmt: skip

        def failing_runs(location: str) -> int:
            return int(
                query(
                    pg_url,
                    "select count(*) from runs where location = %s and outcome = 'fail'",
                    location,
                )[0][0]
            )

        eu, us = runner("eu-west", eu_site), runner("us-east", us_site)
        alerter = ServeProcess(
            path, pg_url, "--role", "alerter", start_timeout=START_TIMEOUT,
            env={**os.environ, "SITE": eu_site.url},
        )  # fmt: skip
        try:
            up["eu-west"] = False
            wait_for("four failed runs in eu-west", lambda: failing_runs("eu-west") >= 4)
            assert hook.titles() == [], "one location failing is not enough"
            up["us-east"] = False
            wait_for("the firing message", lambda: hook.titles())
            (fired,) = hook.messages
            assert "failing in 2 of 2 locations: eu-west, us-east" in fired["title"], fired
            assert "Failing in: eu-west, us-east" in fired["message"]
            up["eu-west"] = True
            wait_for("the resolved message", lambda: len(hook.messages) >= 2)
            resolved = hook.messages[1]
            assert resolved["title"].startswith("[RESOLVED]"), resolved
            assert "Failing in: us-east" in resolved["message"]
            assert "Passing in: eu-west" in resolved["message"]
        finally:
            for process in (eu, us, alerter):
                process.stop()
            hook.close()


def test_observer_alerts_on_its_own_health(tmp_path: Path, pg_url: str, site: PageServer) -> None:
    """probes: ["observer:*"]: a location without a live runner, a probe with no fresh run,
    and both back again."""
    hook = Hook()
    path = tmp_path / "probes.yaml"
    path.write_text(
        f"""
settings:
  evaluate_every: 1s
probes:
  - name: home
    http: {site.url}/
    every: 1s
    locations: [eu-west]
alerts:
  channels:
    hook: {hook.url}
  rules:
    - name: observer itself
      probes: ["observer:*"]
      after: 1
      resolve_after: 1
      notify: [hook]
""",
        encoding="utf-8",
    )
    runner = ServeProcess(path, pg_url, "--role", "runner", "--location", "eu-west",
                          start_timeout=START_TIMEOUT)  # fmt: skip
    alerter = ServeProcess(path, pg_url, "--role", "alerter", start_timeout=START_TIMEOUT)
    revived = None
    try:
        wait_for("a run", lambda: query(pg_url, "select count(*) from runs")[0][0] > 0)
        runner.proc.send_signal(signal.SIGKILL)
        runner.proc.wait(timeout=30)

        def fired(text: str) -> bool:
            return any(t.startswith("[FIRING]") and text in t for t in hook.titles())

        wait_for("the stale probe's alert", lambda: fired("probe home has not run for"))
        # A runner is dead once unseen for 30 s (it heartbeats every 10 s).
        wait_for("the missing runner's alert", lambda: fired("no live runner at eu-west"),
                 timeout=30 + 30)  # fmt: skip
        revived = ServeProcess(path, pg_url, "--role", "runner", "--location", "eu-west",
                               start_timeout=START_TIMEOUT)  # fmt: skip
        wait_for(
            "both resolved",
            lambda: sum(t.startswith("[RESOLVED]") for t in hook.titles()) >= 2,
        )
    finally:
        for process in (alerter, revived):
            if process is not None:
                process.stop()
        hook.close()
    firing = [t for t in hook.titles() if t.startswith("[FIRING]")]
    assert len(firing) == 2, hook.titles()  # each part once, however many cycles it lasted


def test_two_ingest_nodes_killed_under_load_lose_no_acknowledged_beacon(
    tmp_path: Path, pg_url: str, site: PageServer
) -> None:
    import threading

    path = config(tmp_path, site)
    # One test client is one address: the per-client rate limit is not what is tested here.
    path.write_text(path.read_text() + "rum:\n  rate_limit: off\n", encoding="utf-8")
    nodes = [
        ServeProcess(path, pg_url, "--role", "ingest", start_timeout=START_TIMEOUT)
        for _ in range(2)
    ]
    acknowledged: list[int] = []
    lock = threading.Lock()
    killed = threading.Event()
    per_thread, threads = 150, 3

    def send(t: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(per_thread):  # bounded: 450 requests in all
                n = t * per_thread + i
                # Alternately, as a proxy would; once one is dead, the proxy uses the other.
                node = nodes[1] if killed.is_set() else nodes[n % 2]
                batch = {**beacon(n), "items": [
                    {"k": "vital", "id": f"lcp-{n}-{j}", "n": "LCP", "v": 10_000 + n * 10 + j}
                    for j in range(5)
                ]}  # fmt: skip
                try:
                    answer = client.post(f"{node.url}/beacon", json=batch)
                except httpx.TransportError:
                    continue  # not acknowledged: the sender keeps it and retries elsewhere
                if answer.status_code == 202:
                    with lock:
                        acknowledged.extend(10_000 + n * 10 + j for j in range(5))

    workers = [threading.Thread(target=send, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    wait_for("a third of the load acknowledged",
             lambda: len(acknowledged) >= per_thread * threads * 5 // 3)  # fmt: skip
    nodes[0].proc.send_signal(signal.SIGKILL)
    killed.set()
    nodes[0].proc.wait(timeout=30)
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    assert nodes[1].stop() == 0
    stored = {int(v) for (v,) in query(pg_url, "select value from beacons where metric = 'lcp'")}
    missing = sorted(set(acknowledged) - stored)
    assert not missing, f"{len(missing)} acknowledged beacons lost, e.g. {missing[:5]}"
    # All but the requests in flight at the dead node when it died were acknowledged.
    assert len(acknowledged) >= (per_thread - 2) * threads * 5, len(acknowledged)
