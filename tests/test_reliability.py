"""Faults, crashes and contention: observer keeps working, loses nothing it acknowledged, and
keeps secrets secret.

Everything is real: `observer serve`, `observer run`, `observer budgets` and `observer check`
as child processes; the demo shop, an HTTPS server with a self-signed certificate and tiny
HTTP endpoints on loopback; Chromium; SQLite files read with sqlite3; another process holding
SQLite's write lock. Waits are polls with bounded deadlines; no timing is asserted. The counts
are printed (`pytest -s`) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OBSERVER, ServeProcess, dump_database, rows
from test_secrets import forms

from observer.background import BackgroundServer
from observer.config import load_project
from observer.demo.shop import ShopServer
from observer.results import Outcome, ProbeResult
from observer.runner import run_all
from observer.server import BODY_TIMEOUT, create_app
from observer.store import BUSY_TIMEOUT_MS, SQLiteStore, Store

DEADLINE = 60.0  # liveness bound for anything we wait for
POLL = 0.05

# ----------------------------------------------------------------------------- helpers


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll check() until it is truthy (bounded); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g}s for {what}")
        time.sleep(POLL)


def write(folder: Path, text: str, name: str = "probes.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def count(db: Path, sql: str, *args: Any) -> int:
    return int(rows(db, sql, *args)[0]["n"])


class Served(ServeProcess):
    """`observer serve FILE --port P --db DB --log-format json` as a child process."""

    def __init__(self, file: Path, db: Path, *extra: str) -> None:
        super().__init__(file, db, *extra, start_timeout=DEADLINE)

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextlib.contextmanager
def serving(folder: Path, config: dict[str, Any]) -> Iterator[tuple[str, Path, Store]]:
    """observer's server in-process (`create_app` under uvicorn) on a free loopback port."""
    file = folder / "observer.yaml"
    file.write_text(json.dumps(config), encoding="utf-8")
    db = folder / "inproc.db"
    store = SQLiteStore(db)
    server = BackgroundServer()
    try:
        server.start(create_app(load_project(file), store))
        yield server.url, db, store
    finally:
        server.stop()
        store.close()


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test says so (or its stdin closes)
conn.execute("COMMIT")
print("released", flush=True)
"""


class Locker:
    """Another process holding SQLite's write lock on a database until release()."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "locked"
        self.at = time.time()

    def release(self) -> float:
        """Commit and exit; returns when the lock was let go."""
        if self.proc.poll() is None:
            out, _ = self.proc.communicate("go\n", timeout=30)
            assert "released" in out
        return time.time()

    def __enter__(self) -> Locker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Endpoint:
    """A tiny HTTP server on loopback: 200 "ok" to every GET; counts what it answered."""

    def __init__(self) -> None:
        self.hits = 0
        self.hit = threading.Event()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                endpoint.hits += 1
                endpoint.hit.set()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.close()


def snippet(sid: str, ids: list[str]) -> bytes:
    """A batch as observer's /rum.js sends it: one page view per id."""
    items = [{"k": "pageview", "id": i} for i in ids]
    return json.dumps({"observer": 1, "sid": sid, "load": sid, "items": items}).encode()


# ----------------------------------------------------------------------------- crash


def test_kill_9_under_beacon_load_loses_no_acknowledged_beacon(tmp_path: Path) -> None:
    """SIGKILL mid-load, restart on the same file: every item of every 2xx is there."""
    file = write(tmp_path, "rum:\n  rate_limit: off\n")
    db = tmp_path / "crash.db"
    daemon = Served(file, db, "--no-schedule")
    clients, per_client = 8, 250  # 2000 requests at most
    lock = threading.Lock()
    acked: set[str] = set()  # dedupe keys of items in a 2xx answer
    in_flight: list[set[str]] = []  # requests sent whose answer never came
    refused = 0  # requests the dead server never took
    answered = 0
    other: list[int] = []

    def client(k: int) -> None:
        nonlocal refused, answered
        sid = f"crash-{k}"
        with httpx.Client(base_url=daemon.url, timeout=30) as http:
            for i in range(per_client):
                ids = [f"{i}.{j}" for j in range(1 + i % 3)]
                keys = {f"s:{sid}:{x}" for x in ids}
                try:
                    r = http.post("/beacon", content=snippet(sid, ids))
                except httpx.ConnectError:
                    with lock:
                        refused += 1
                    return
                except httpx.TransportError:
                    with lock:
                        in_flight.append(keys)
                    return
                with lock:
                    answered += 1
                    if r.status_code == 202:
                        assert r.json() == {"accepted": len(ids), "dropped": 0}
                        acked.update(keys)
                    else:
                        other.append(r.status_code)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: answered >= 300, "300 answered beacon requests")
        os.kill(daemon.proc.pid, signal.SIGKILL)
        daemon.proc.wait(timeout=30)
    finally:
        for t in threads:
            t.join(timeout=DEADLINE)
        if daemon.alive():
            daemon.proc.kill()
    assert daemon.proc.returncode == -signal.SIGKILL
    assert other == [], other
    interrupted = refused + len(in_flight)
    assert interrupted > 0, "the load was over before the kill: nothing was cut short"

    again = Served(file, db, "--no-schedule")  # the same database, after the crash
    try:
        stored = {
            r["dedupe"] for r in rows(db, "select dedupe from beacons where session like 'crash-%'")
        }
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged items lost: {sorted(missing)[:10]}"
        sent = acked.union(*in_flight) if in_flight else set(acked)
        assert stored <= sent, "stored items nobody sent"
        later = httpx.post(f"{again.url}/beacon", content=snippet("after-crash", ["1"]))
        assert later.json() == {"accepted": 1, "dropped": 0}
        assert rows(db, "pragma integrity_check")[0]["integrity_check"] == "ok"
    finally:
        assert again.stop() == 0, again.text()[-2000:]
    lost_answers = set().union(*in_flight) & stored if in_flight else set()
    print(
        f"\ncrash: {answered} requests answered ({len(acked)} items acknowledged), "
        f"{len(in_flight)} in flight at the kill, {refused} refused after it; "
        f"stored {len(stored)} items = {len(acked)} acknowledged + "
        f"{len(lost_answers)} whose answer the kill cut off; 0 lost"
    )


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTPS page on loopback with a self-signed certificate (made by openssl)."""
    import shutil

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<html><body><h1>Secure shop</h1></body></html>")

    app = Starlette(routes=[Route("/", page)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_keyfile=str(key),
        ssl_certfile=str(cert),
        log_level="critical",
        log_config=None,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the HTTPS server")
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def tls_probes(folder: Path, url: str, verify: bool) -> dict[str, ProbeResult]:
    file = write(
        folder,
        f"""
        settings:
          verify_tls: {str(verify).lower()}
          trace: "off"
          screenshots: "off"
          step_timeout: 10s
        probes:
          - name: tls-http
            http: {url}/
            expect: {{status: 200, body_contains: Secure shop}}
          - name: tls-journey
            journey:
              - goto: {url}/
              - expect_text: Secure shop
        """,
        f"tls-{verify}.yaml",
    )
    project = load_project(file)
    return {r.probe: r for r in asyncio.run(run_all(project, project.probes))}


def test_self_signed_certificate_is_the_sites_fail_unless_verify_tls_is_off(
    tls_site: str, tmp_path: Path
) -> None:
    strict = tls_probes(tmp_path, tls_site, verify=True)
    http, journey = strict["tls-http"], strict["tls-journey"]
    assert http.outcome == Outcome.FAIL, http.error
    assert http.error is not None and http.error.startswith("TLS certificate not trusted"), http
    assert "self-signed" in http.error or "self signed" in http.error, http.error
    assert journey.outcome == Outcome.FAIL, journey.error
    assert journey.failed_step == 0
    assert journey.error is not None and "ERR_CERT_AUTHORITY_INVALID" in journey.error
    assert journey.error.startswith("step 1 (goto /): "), journey.error

    relaxed = tls_probes(tmp_path, tls_site, verify=False)
    assert relaxed["tls-http"].outcome == Outcome.PASS, relaxed["tls-http"].error
    assert relaxed["tls-journey"].outcome == Outcome.PASS, relaxed["tls-journey"].error
    print(f"\ntls: http -> {http.error!r}; journey -> {journey.error!r}")


def test_unresolvable_and_unroutable_hosts_are_the_sites_fail(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        """
        settings: {trace: "off", screenshots: "off", timeout: 10s}
        probes:
          - {name: dns-http, http: "http://observer-test.invalid/", timeout: 3s}
          - name: dns-journey
            journey:
              - {goto: "http://observer-test.invalid/", timeout: 3s}
          # TEST-NET-1 (RFC 5737) is never routed: refused at once here, or a timeout.
          - {name: unroutable-http, http: "http://192.0.2.1:81/", timeout: 2s}
          - name: unroutable-journey
            journey:
              - {goto: "http://192.0.2.1:81/", timeout: 2s}
        """,
    )
    project = load_project(file)
    results = {r.probe: r for r in asyncio.run(run_all(project, project.probes))}
    for name, r in results.items():
        assert r.outcome == Outcome.FAIL, (name, r.outcome, r.error)
        assert r.error
        if name.endswith("-http"):
            assert r.error.startswith(("could not connect", "connection timed out")), r.error
        else:
            assert r.failed_step == 0 and r.error.startswith("step 1 (goto /): "), r.error
    assert "ERR_NAME_NOT_RESOLVED" in (results["dns-journey"].error or "")
    print("\nunreachable: " + "; ".join(f"{n} -> {r.error!r}" for n, r in results.items()))


# ----------------------------------------------------------------------------- a locked database

PING = """
settings:
  every: 1s
  evaluate_every: 1s
  shutdown_grace: 3s
probes:
  - name: ping
    http: {url}/
"""


def test_a_short_lock_by_another_process_is_waited_out(endpoint: Endpoint, tmp_path: Path) -> None:
    file = write(tmp_path, PING.format(url=endpoint.url))
    db = tmp_path / "short.db"
    SQLiteStore(db).close()  # created and migrated, as after an earlier run
    with Locker(db) as locker:
        run = subprocess.Popen(
            [*OBSERVER, "run", str(file), "--db", str(db), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # The probe has been answered, so observer is about to write (or waiting to):
            # hold the lock a while longer, well inside the busy timeout, then let go.
            assert endpoint.hit.wait(DEADLINE), "observer run never probed"
            time.sleep(1.5)
            assert run.poll() is None, "observer run finished while the lock was held"
            released = locker.release()
            out, err = run.communicate(timeout=DEADLINE)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 0, err
    assert "locked" not in out + err
    recorded = rows(db, "select probe, outcome, started_at from runs")
    assert [(r["probe"], r["outcome"]) for r in recorded] == [("ping", "pass")]
    assert recorded[0]["started_at"] < released
    print(f"\nshort lock: held {released - locker.at:.1f}s; observer run waited, exit 0, 1 run")


def test_a_lock_past_the_busy_timeout_fails_run_with_3_and_serve_carries_on(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    file = write(tmp_path, PING.format(url=endpoint.url))
    db = tmp_path / "long.db"
    daemon = Served(file, db)
    try:
        wait_for(lambda: count(db, "select count(*) as n from runs") >= 2, "runs before the lock")
        with Locker(db) as locker:
            hits_before = endpoint.hits
            run = subprocess.run(
                [*OBSERVER, "run", str(file), "--db", str(db)],
                capture_output=True,
                text=True,
                timeout=DEADLINE + BUSY_TIMEOUT_MS / 1000,
                check=False,
            )
            # The daemon meanwhile: its runs cannot be recorded; it says so and goes on probing.
            wait_for(lambda: daemon.events("store_error"), "serve to log an unrecorded run")
            wait_for(lambda: endpoint.hits - hits_before >= 3, "serve to probe on (run included)")
            assert daemon.alive()
            during = endpoint.hits - hits_before - 1  # observer run's own probe was one
            released = locker.release()
        wait_for(
            lambda: count(db, "select count(*) as n from runs where started_at > ?", released) >= 2,
            "runs recorded again after the lock",
        )
        assert daemon.alive()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()[-3000:]
    assert run.returncode == 3, run.stderr
    assert "results not recorded" in run.stderr and "database is locked" in run.stderr
    errors = daemon.events("store_error")
    assert errors and all(e["probe"] == "ping" for e in errors)
    assert errors[0]["msg"].startswith("run of ping not recorded: ")
    assert "database is locked" in errors[0]["msg"]
    # The runs observer run could not record are not there; the daemon's before and after are.
    assert count(db, "select count(*) as n from runs where source = 'run'") == 0
    print(
        f"\nlong lock: held {released - locker.at:.1f}s (busy timeout "
        f"{BUSY_TIMEOUT_MS / 1000:g}s); observer run exit {run.returncode}: "
        f"{run.stderr.strip().splitlines()[-1]!r}; serve probed {during} times meanwhile, "
        f"logged {len(errors)} unrecorded runs, recorded again after"
    )


def test_a_write_waiting_for_the_lock_stalls_nothing_else_and_past_it_is_503(
    tmp_path: Path,
) -> None:
    with serving(tmp_path, {"rum": {"rate_limit": "off"}}) as (url, db, store):
        answers: dict[str, httpx.Response] = {}

        def request(name: str, method: str, path: str, **kw: Any) -> threading.Thread:
            def go() -> None:
                answers[name] = httpx.request(method, f"{url}{path}", timeout=60, **kw)

            thread = threading.Thread(target=go)
            thread.start()
            return thread

        # A beacon's write waits for another process's lock (up to the 10 s busy timeout);
        # a health check reads on the same connection meanwhile. The snippet, which needs no
        # database, is served before the lock is let go.
        with Locker(db) as locker:
            waiting = [request("waits", "POST", "/beacon", content=snippet("waits", ["1"]))]
            time.sleep(0.5)  # the beacon's write is now waiting for the lock
            waiting.append(request("healthz", "GET", "/healthz"))
            snippet_js = request("rum.js", "GET", "/rum.js")
            snippet_js.join(timeout=BUSY_TIMEOUT_MS / 1000 - 2)
            served_while_locked = not snippet_js.is_alive()
            locker.release()
            for t in [*waiting, snippet_js]:
                t.join(timeout=DEADLINE)
        assert served_while_locked, "a request that needs no database waited for the lock"
        assert answers["rum.js"].status_code == 200 and answers["healthz"].status_code == 200
        assert answers["waits"].json() == {"accepted": 1, "dropped": 0}  # waited it out

        # Past the busy timeout (here 0.3 s on the server's own connection, instead of 10 s:
        # the same code path, sooner) a beacon is refused, never acknowledged.
        store.conn.execute("PRAGMA busy_timeout = 300")
        body = snippet("locked-out", ["1", "2"])
        with Locker(db) as locker:
            refused = httpx.post(f"{url}/beacon", content=body, timeout=30)
            locker.release()
        assert refused.status_code == 503
        assert refused.json() == {"error": "could not store beacons; retry"}
        assert refused.headers["retry-after"] == "5"
        assert count(db, "select count(*) as n from beacons where session = 'locked-out'") == 0
        retried = httpx.post(f"{url}/beacon", content=body, timeout=30)
        assert retried.json() == {"accepted": 2, "dropped": 0}
        assert count(db, "select count(*) as n from beacons where session = 'locked-out'") == 2


# ----------------------------------------------------------------------------- slow clients


def trickle(url: str, every: float, limit: int, out: dict[str, Any]) -> None:
    """POST a head promising 100 bytes, then send one byte every `every` seconds (none when
    every is 0), until the server answers; out gets the status and body."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        b"POST /beacon HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        sock.settimeout(every or 1.0)
        data, sent = b"", 0
        for _ in range(limit):  # bounded: at most `limit` rounds
            if every and sent < 100:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")
                    sent += 1
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            data += chunk
            top, _, body = data.partition(b"\r\n\r\n")
            if top and b"content-length:" in top.lower():
                want = int(top.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= want:
                    break
    top, _, body = data.partition(b"\r\n\r\n")
    out["status"] = int(top.split(b" ")[1]) if top else None
    out["body"] = body
    out["sent"] = sent
    out["answered_at"] = time.monotonic()


def test_a_trickled_body_gets_408_and_others_are_served_meanwhile(tmp_path: Path) -> None:
    with serving(tmp_path, {"rum": {"rate_limit": "off"}}) as (url, db, _):
        slow: dict[str, Any] = {}
        silent: dict[str, Any] = {}
        threads = [
            threading.Thread(target=trickle, args=(url, 1.0, 60, slow)),  # a byte a second
            threading.Thread(target=trickle, args=(url, 0.0, 60, silent)),  # the head only
        ]
        for t in threads:
            t.start()
        served = 0
        with httpx.Client(base_url=url, timeout=30) as http:
            for i in range(20):
                assert http.post("/beacon", content=snippet(f"meanwhile-{i}", ["1"])).is_success
                assert http.get("/healthz").status_code == 200
                served += 2
        last_normal = time.monotonic()
        for t in threads:
            t.join(timeout=DEADLINE)
            assert not t.is_alive()
    for out in (slow, silent):
        assert out["status"] == 408, out
        assert json.loads(out["body"]) == {"error": f"body not received within {BODY_TIMEOUT:g}s"}
        assert out["answered_at"] > last_normal  # the others did not wait for them
    assert 0 < slow["sent"] < 100
    assert count(db, "select count(*) as n from beacons") == 20
    print(
        f"\nslow body: 2 slow requests answered 408 after {BODY_TIMEOUT:g}s "
        f"({slow['sent']} of 100 bytes trickled); {served} other requests served meanwhile"
    )


# ----------------------------------------------------------------------------- contention

BUSY = """
settings:
  every: 1s
  evaluate_every: 1s
  shutdown_grace: 3s
  concurrency: 4
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
  - name: api
    http: {url}/api/products
  - name: home
    journey:
      - goto: {url}/
      - expect_text: Good coffee gear
    budgets:
      - name: home loads
        metric: duration
        threshold: p95 < 60s
"""


def test_run_and_budgets_beside_a_writing_serve_never_see_a_locked_database(
    tmp_path: Path,
) -> None:
    with ShopServer() as shop:
        file = write(tmp_path, BUSY.format(url=shop.url))
        db = tmp_path / "busy.db"
        daemon = Served(file, db)
        stop = threading.Event()
        acked, statuses = 0, []

        def sender() -> None:
            nonlocal acked
            with httpx.Client(base_url=daemon.url, timeout=60) as http:
                for i in range(5000):  # bounded; stopped when the waves are done
                    if stop.is_set():
                        return
                    r = http.post("/beacon", content=snippet(f"busy-{i}", ["1", "2"]))
                    statuses.append(r.status_code)
                    if r.status_code == 202:
                        acked += r.json()["accepted"]

        beacons = threading.Thread(target=sender)
        outputs: list[tuple[list[str], int, str]] = []
        try:
            wait_for(lambda: count(db, "select count(*) as n from runs") >= 3, "daemon runs")
            beacons.start()
            waves = 2
            for _ in range(waves):
                commands = [
                    ["run", str(file), "--db", str(db)],
                    ["run", str(file), "--db", str(db), "--probe", "health", "--probe", "api"],
                    ["budgets", str(file), "--db", str(db), "--alert"],
                    ["budgets", str(file), "--db", str(db), "--json"],
                ]
                procs = [
                    (
                        c,
                        subprocess.Popen(
                            [*OBSERVER, *c],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            cwd=tmp_path,
                        ),
                    )
                    for c in commands
                ]
                for c, p in procs:
                    out, _ = p.communicate(timeout=120)
                    outputs.append((c, p.returncode, out))
            assert daemon.alive()
        finally:
            stop.set()
            beacons.join(timeout=DEADLINE)
            code = daemon.stop()
        assert code == 0, daemon.text()[-3000:]
    for c, rc, out in outputs:
        assert rc in (0, 1), (c, rc, out[-2000:])
        assert "locked" not in out.lower(), (c, out[-2000:])
        assert "not recorded" not in out, (c, out[-2000:])
    log = daemon.text()
    assert "locked" not in log.lower()
    assert daemon.events("store_error") == []
    assert statuses and set(statuses) == {202}, set(statuses)
    stored = count(db, "select count(*) as n from beacons where session like 'busy-%'")
    assert stored == acked
    runs_by_cli = count(db, "select count(*) as n from runs where source = 'run'")
    invocations = [c for c, _, _ in outputs if c[0] == "run"]
    expected = sum(2 if "--probe" in c else 3 for c in invocations)
    assert runs_by_cli == expected
    served = count(db, "select count(*) as n from runs where source = 'serve'")
    print(
        f"\ncontention: {len(outputs)} CLI processes ({len(invocations)} run, "
        f"{len(outputs) - len(invocations)} budgets) beside serve; {runs_by_cli} CLI runs and "
        f"{served} daemon runs recorded; {len(statuses)} beacon requests all 202, "
        f"{acked} items acknowledged = {stored} stored; 0 'database is locked'"
    )


# ----------------------------------------------------------------------------- secrets

SEARCH_CORE = "Qz8Rk3Wv7N"
SEARCH = f'{SEARCH_CORE} &"<x>'
HOOK_CORE = "HkT0ken5Xb92Lp"
SECRETS_FILE = """
settings:
  database: results.db
  artifacts: artifacts
  step_timeout: 5s
  screenshots: on_failure
  trace: on_failure
vars:
  base_url: ${BASE_URL}
alerts:
  channels:
    hook: json://127.0.0.1:9/hook/${HOOK_TOKEN}
  rules:
    - name: search broken
      probes: [search]
      notify: [hook]
probes:
  - name: search
    journey:
      - goto: ${base_url}/products
      - fill: {selector: "#search", value: "${SEARCH_TERM}", secret: true}
      - press: {selector: "#search", key: Enter}
      - {expect_text: {text: "${SEARCH_TERM}", selector: "#result-count"}, timeout: 1s}
"""


def png_text_chunks(data: bytes) -> dict[str, list[bytes]]:
    """The chunks of a PNG by type (tEXt, iTXt, zTXt uncompressed)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        body = data[pos + 8 : pos + 8 + length]
        if kind == "zTXt":
            keyword, _, rest = body.partition(b"\0")
            body = keyword + b"\0" + zlib.decompress(rest[1:])
        chunks.setdefault(kind, []).append(body)
        pos += 12 + length
    return chunks


def masked_share(shot: Path, url: str) -> tuple[float, dict[str, float]]:
    """The share of the secret field's pixels in the screenshot that are Playwright's mask
    colour (#FF00FF), the field found on the same page in Chromium at the same viewport."""
    import base64

    from playwright.sync_api import sync_playwright

    from observer.browser import find_chromium, launch_args

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=find_chromium(None).path, args=launch_args(None)
        )
        try:
            page = browser.new_page()
            page.goto(f"{url}/products?q=x")
            box = page.locator("#search").bounding_box()
            assert box is not None
            page.set_content("<canvas id=c></canvas>")
            share = page.evaluate(
                """async ([src, b]) => {
                    const img = new Image(); img.src = src; await img.decode();
                    const c = document.getElementById('c');
                    c.width = img.width; c.height = img.height;
                    const g = c.getContext('2d'); g.drawImage(img, 0, 0);
                    const x = Math.ceil(b.x) + 2, y = Math.ceil(b.y) + 2;
                    const w = Math.floor(b.width) - 4, h = Math.floor(b.height) - 4;
                    const d = g.getImageData(x, y, w, h).data;
                    let magenta = 0;
                    for (let i = 0; i < d.length; i += 4)
                        if (d[i] === 255 && d[i + 1] === 0 && d[i + 2] === 255) magenta++;
                    return magenta / (w * h);
                }""",
                ["data:image/png;base64," + base64.b64encode(shot.read_bytes()).decode(), box],
            )
        finally:
            browser.close()
    return float(share), box


def test_secrets_stay_out_of_junit_markdown_annotations_and_screenshots(tmp_path: Path) -> None:
    needles = sorted({*forms(SEARCH), SEARCH_CORE, HOOK_CORE}, key=len, reverse=True)

    def leaks(data: str | bytes) -> list[str]:
        raw = data.encode() if isinstance(data, str) else data
        return [n for n in needles if n.encode() in raw]

    summary = tmp_path / "step-summary.md"
    with ShopServer() as shop:
        write(tmp_path, SECRETS_FILE)
        env = {
            **os.environ,
            "BASE_URL": shop.url,
            "SEARCH_TERM": SEARCH,
            "HOOK_TOKEN": HOOK_CORE,
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        done = subprocess.run(
            [
                *OBSERVER,
                "check",
                "probes.yaml",
                "--runs",
                "1",
                "--junit",
                "out.xml",
                "--markdown",
                "out.md",
                "--github",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=150,
            check=False,
        )
        # The field holding the secret is covered by the mask in the failure screenshot.
        shots = sorted((tmp_path / "artifacts").rglob("*.png"))
        assert len(shots) == 1, shots
        share, box = masked_share(shots[0], shop.url)
    assert done.returncode == 1, done.stdout + done.stderr
    junit = (tmp_path / "out.xml").read_text(encoding="utf-8")
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    annotations = [ln for ln in done.stdout.splitlines() if ln.startswith("::")]
    assert annotations, done.stdout
    # The failure is reported, with the mask where the secret was (searched for, in the URL).
    assert "looking for '***' on http" in junit and "q=***&amp;sort=name" in junit
    assert "looking for '***' on http" in markdown and "q=***&sort" in markdown
    assert any("looking for '***'" in a for a in annotations), annotations
    checked = {
        "JUnit": junit,
        "Markdown": markdown,
        "stdout (annotations)": done.stdout,
        "stderr": done.stderr,
        "step summary": summary.read_text(encoding="utf-8"),
        "database": dump_database(tmp_path / "results.db"),
    }
    files = sorted((tmp_path / "artifacts").rglob("*"))
    shots = [f for f in files if f.suffix == ".png"]
    traces = [f for f in files if f.name == "trace.zip"]
    assert len(shots) == 1 and len(traces) == 1, files
    entries = 0
    for trace in traces:
        with zipfile.ZipFile(trace) as z:
            # A journey that types secrets is traced as DOM only: no screencast frames.
            assert not [n for n in z.namelist() if n.endswith((".jpeg", ".jpg", ".png"))]
            for name in z.namelist():
                checked[f"{trace.name}:{name}"] = z.read(name).decode("utf-8", "replace")
                entries += 1
    for where, text in checked.items():
        assert leaks(text) == [], where
    chunks = png_text_chunks(shots[0].read_bytes())
    metadata = [c for kind in ("tEXt", "iTXt", "zTXt", "eXIf") for c in chunks.get(kind, [])]
    for chunk in metadata:
        assert leaks(chunk) == [], chunk[:100]
    assert leaks(shots[0].read_bytes()) == []
    assert share > 0.95, (share, box)
    print(
        f"\nsecrets: {len(needles)} forms of 2 secrets searched in {len(checked)} outputs "
        f"(JUnit, Markdown, annotations, step summary, stderr, database, {entries} trace "
        f"entries) and the screenshot's {len(metadata)} metadata chunks: 0 found; "
        f"{share:.0%} of the secret field masked"
    )
