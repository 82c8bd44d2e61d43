"""Alerts through apprise for real: an SMTP server (aiosmtpd) and a JSON webhook receiver on
loopback, real SQLite, and exact counts of what arrived.

The incident state machine is driven cycle by cycle with hand-made verdicts and runs and a fake
clock; one test runs `observer serve` against the demo shop; the CLI tests run the real command
in child processes. Nothing is mocked: every notification crosses a socket.
"""

from __future__ import annotations

import asyncio
import email
import json
import logging
import math
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import OBSERVER, dump_database, free_port, observer, rows, set_faults

from observer.alerts import Alerter
from observer.budgets import Verdict, judge
from observer.config import Project, load_project
from observer.daemon import Cycle
from observer.demo.shop import ShopServer
from observer.results import (
    Artifact,
    HttpDetails,
    Outcome,
    PageVitals,
    ProbeResult,
    StepResult,
)
from observer.store import BeaconRow, SQLiteStore

# apprise's e-mail plugin imports imghdr, deprecated in Python 3.11 (warnings are errors here).
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
SITE = "http://127.0.0.1:9"  # never contacted: runs are made by hand
PUBLIC_URL = "https://observer.example.com"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def wait_for(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:g}s waiting for {why}")
        time.sleep(0.05)


def when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


# ----------------------------------------------------------------------------- receivers


class Smtp:
    """A real SMTP server on loopback; every accepted message, parsed."""

    def __init__(self, password: str | None = None) -> None:
        self.password = password
        self.messages: list[EmailMessage] = []
        self.logins: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.port = free_port()  # aiosmtpd's readiness check cannot use port 0
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        with self.lock:
            self.logins.append((login, password))
        return AuthResult(success=self.password is not None and password == self.password)

    def url(self, user: str | None = None) -> str:
        cred = f"{user}:{self.password}@" if user and self.password else ""
        return (
            f"mailto://{cred}127.0.0.1:{self.port}"
            "?from=observer@example.com&to=ops@example.com&mode=insecure"
        )

    @property
    def titles(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for m in self.messages]


class Webhook:
    """A JSON receiver on loopback: answers 500 to the first `fail_first` requests, or never
    answers while `hang` is set; `requests` is everything that arrived, `messages` what it
    accepted."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.fail_first = 0
        self.hang = False
        self.release = threading.Event()
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(size) or b"{}")
                payload["path"] = self.path
                with hook.lock:
                    hook.requests.append(payload)
                    seq = len(hook.requests)
                if hook.hang:
                    hook.release.wait(30)
                    self.close_connection = True
                    return  # never answered
                ok = seq > hook.fail_first
                if ok:
                    with hook.lock:
                        hook.messages.append(payload)
                self.send_response(200 if ok else 500)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"no")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, token: str = "") -> str:
        return f"json://127.0.0.1:{self.port}/hook" + (f"/{token}" if token else "")

    @property
    def titles(self) -> list[str]:
        with self.lock:
            return [m["title"] for m in self.messages]


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    box = Smtp(password="Sm7pPassw0rdZq")
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.fixture
def hook() -> Iterator[Webhook]:
    receiver = Webhook()
    receiver.thread.start()
    yield receiver
    receiver.release.set()
    receiver.server.shutdown()
    receiver.server.server_close()


def firing(titles: list[str]) -> list[str]:
    return [t for t in titles if t.startswith("[FIRING]")]


def resolved(titles: list[str]) -> list[str]:
    return [t for t in titles if t.startswith("[RESOLVED]")]


# ----------------------------------------------------------------------------- the project

CONFIG = """
settings:
  public_url: PUBLIC_URL
rum:
  pages: ["/products/*"]
probes:
  - name: health
    http: SITE/health
  - name: checkout
    DEPENDS
    journey:
      - goto: SITE/products/1
      - {name: add to cart, click: "text=Add to cart"}
      - goto: SITE/checkout
      - fill: {selector: "#address", value: 1 Main St}
      - {name: place order, click: "text=Place order"}
      - expect_url: "**/orders/*"
budgets:
  - name: checkout is fast
    probe: checkout
    metric: duration
    threshold: p95 < 4s
    warn: p95 < 3s
alerts:
  timeout: TIMEOUT
  retries: RETRIES
  backoff: 50ms
  channels:
    mail: MAIL
    hook: HOOK
  rules:
RULES
"""

BUDGET_RULE = """
- name: checkout slow
  budgets: ["checkout*"]
  notify: [mail, hook]
  after: 3
  resolve_after: 2
"""


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.t = float(int(time.time()) - 3600)

    def __call__(self) -> float:
        return self.t


class Harness:
    """A project, a store and an alerter on a fake clock, fed one cycle at a time."""

    def __init__(self, path: Path, db: Path, shots: Path) -> None:
        self.path, self.db, self.shots = path, db, shots
        self.project: Project = load_project(path)
        self.store = SQLiteStore(db)
        self.clock = Clock()
        self.alerter = Alerter(self.project, self.store, clock=self.clock)
        self.runs: list[ProbeResult] = []

    def restart(self) -> None:
        """A new process: a new connection and a new alerter over the same database."""
        self.store.close()
        self.store = SQLiteStore(self.db)
        self.alerter = Alerter(self.project, self.store, clock=self.clock)

    def verdict(self, failing: bool) -> Verdict:
        rule = self.project.budgets[0]
        values = [4800.0 if failing else 2000.0] * 12
        return judge(rule, values)

    def checkout_run(self, ok: bool) -> ProbeResult:
        """A recorded checkout run: a failed one stops at 'place order' with a screenshot."""
        n = len(self.runs)
        r = ProbeResult(
            probe="checkout",
            kind="journey",
            outcome=Outcome.PASS if ok else Outcome.FAIL,
            started_at=self.clock(),
            duration_ms=2000.0 if ok else 10400.0,
            completed=ok,
            error=None if ok else "place order: Timeout 10000ms exceeded",
            failed_step=None if ok else 4,
        )
        names = [("goto", "goto"), ("add to cart", "click"), ("goto", "goto")]
        names += [("fill", "fill"), ("place order", "click"), ("expect url", "expect_url")]
        for i, (name, action) in enumerate(names):
            outcome = Outcome.PASS
            if not ok and i == 4:
                outcome = Outcome.FAIL
            elif not ok and i > 4:
                outcome = Outcome.SKIPPED
            r.steps.append(
                StepResult(
                    i,
                    name,
                    action,
                    outcome,
                    i * 100.0,
                    100.0,
                    error="Timeout 10000ms exceeded" if outcome == Outcome.FAIL else None,
                )
            )
        r.pages = [
            PageVitals(f"{SITE}/products/1", 0, lcp_ms=900.0),
            PageVitals(f"{SITE}/cart", 1, lcp_ms=700.0),
            PageVitals(f"{SITE}/checkout", 2, lcp_ms=800.0),
        ]
        if not ok:
            shot = self.shots / f"run{n}" / "failure.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(PNG)
            r.artifacts = [Artifact("screenshot", str(shot), 4)]
        self.store.record(r)
        self.runs.append(r)
        return r

    def health_run(self, ok: bool) -> ProbeResult:
        r = ProbeResult(
            probe="health",
            kind="http",
            outcome=Outcome.PASS if ok else Outcome.FAIL,
            started_at=self.clock(),
            duration_ms=30.0,
            completed=ok,
            error=None if ok else "status 503, expected 200",
            http=HttpDetails(f"{SITE}/health", "GET", status=200 if ok else 503),
        )
        self.store.record(r)
        self.runs.append(r)
        return r

    async def cycle(
        self, verdicts: list[Verdict], results: list[ProbeResult], step: float = 60.0
    ) -> None:
        await self.alerter.observe(Cycle(self.clock(), verdicts, results, self.project))
        self.clock.t += step

    async def budget(self, failing: bool, step: float = 60.0, drain: bool = True) -> None:
        """One evaluation of the budget, with the checkout run behind it; then the deliveries
        it started are awaited (unless drain=False), as minutes pass between cycles."""
        run_ = self.checkout_run(ok=not failing)
        await self.cycle([self.verdict(failing)], [run_], step)
        if drain:
            await self.alerter.drain()

    def sent(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            n
            for n in self.store.notifications()
            if n.status == "sent" and channel in (None, n.channel)
        ]


@pytest.fixture
def harness(tmp_path: Path, smtp: Smtp, hook: Webhook) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(
        rules: str = BUDGET_RULE,
        *,
        depends: bool = False,
        timeout: str = "5s",
        retries: int = 3,
        mail: str | None = None,
        webhook: str | None = None,
    ) -> Harness:
        text = textwrap.dedent(CONFIG).lstrip("\n")
        for key, value in (
            ("PUBLIC_URL", PUBLIC_URL),
            ("SITE", SITE),
            ("TIMEOUT", timeout),
            ("RETRIES", str(retries)),
            ("MAIL", mail or smtp.url()),
            ("HOOK", webhook or hook.url()),
            ("RULES", textwrap.indent(textwrap.dedent(rules).strip("\n"), "    ")),
        ):
            text = text.replace(key, value)
        text = text.replace("    DEPENDS\n", "    depends_on: [health]\n" if depends else "")
        path = tmp_path / "probes.yaml"
        path.write_text(text, encoding="utf-8")
        h = Harness(path, tmp_path / "observer.db", tmp_path / "artifacts" / "checkout")
        made.append(h)
        return h

    yield make
    for h in made:
        h.store.close()


# ----------------------------------------------------------------------------- state machine


def test_a_blip_never_pages(harness: Callable[..., Harness], smtp: Smtp, hook: Webhook) -> None:
    h = harness()

    async def go() -> None:
        # fail, pass, fail: never three in a row; then pending -> healthy again.
        for failing in (True, False, True, True, False):
            await h.budget(failing)
        await h.alerter.drain()

    run(go())
    assert smtp.messages == []
    assert hook.requests == []
    assert h.store.notifications() == []
    incidents = h.store.incidents()
    assert [(i.state, i.breaches, i.notified) for i in incidents] == [
        ("ok", 2, 0),
        ("ok", 1, 0),
    ]
    assert h.store.open_incidents() == []


def test_three_breaches_fire_once_per_channel(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()

    async def go() -> None:
        for _ in range(2):
            await h.budget(True)
        await h.alerter.drain()
        assert smtp.messages == [] and hook.requests == []
        fired_at = h.clock()
        await h.budget(True)
        await h.alerter.drain()
        assert len(smtp.messages) == 1 and len(hook.messages) == 1
        # Still breached, no repeat: nothing more.
        for _ in range(4):
            await h.budget(True)
        await h.alerter.drain()
        (inc,) = h.store.incidents()
        assert inc.state == "firing" and inc.fired_at == fired_at
        assert inc.breaches == 7 and inc.notified == 1

    run(go())
    title = "[FIRING] checkout is fast: p95 4.8 s > 4 s (12 samples)"
    assert smtp.titles == [title]
    assert hook.titles == [title]
    assert hook.messages[0]["type"] == "failure"  # severity critical
    assert len(hook.requests) == 1
    got = [(n.channel, n.kind, n.status, n.attempt) for n in h.store.notifications()]
    assert sorted(got) == [("hook", "firing", "sent", 1), ("mail", "firing", "sent", 1)]


@pytest.mark.parametrize(("repeat", "step", "evaluations"), [(600, 240, 10), (300, 60, 12)])
def test_reminders_while_still_firing(
    harness: Callable[..., Harness],
    smtp: Smtp,
    hook: Webhook,
    repeat: int,
    step: int,
    evaluations: int,
) -> None:
    h = harness(BUDGET_RULE + f"  repeat: {repeat}s\n")
    after = 3

    async def go() -> None:
        for _ in range(evaluations):
            await h.budget(True, step=step)
        await h.alerter.drain()

    run(go())
    # The incident fires at evaluation `after`; from then on a reminder is due once `repeat`
    # has passed since the last notification, checked every `step` seconds.
    every = math.ceil(repeat / step)
    reminders = (evaluations - after) // every
    assert len(hook.messages) == len(smtp.messages) == 1 + reminders
    expected = ["[FIRING] checkout is fast: p95 4.8 s > 4 s (12 samples)"]
    expected += [
        f"[STILL FIRING {round(k * every * step / 60)}m] checkout is fast: p95 4.8 s > 4 s "
        "(12 samples)"
        for k in range(1, reminders + 1)
    ]
    assert hook.titles == expected
    assert smtp.titles == expected
    kinds = [n.kind for n in h.sent("hook")]
    assert kinds == ["firing"] + ["reminder"] * reminders


def test_recovery_resolves_once_and_says_how_long(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()

    async def go() -> tuple[float, float, float]:
        opened = h.clock()
        for _ in range(3):
            await h.budget(True)  # fires at opened + 120
        fired = h.clock() - 60
        await h.budget(False)  # one healthy evaluation: not yet
        await h.alerter.drain()
        assert resolved(hook.titles) == []
        over = h.clock()
        await h.budget(False)  # resolve_after: 2
        await h.alerter.drain()
        for _ in range(3):
            await h.budget(False)
        await h.alerter.drain()
        return opened, fired, over

    opened, _fired, over = run(go())
    lasted = f"{round((over - opened) / 60)}m"  # from the first breach
    title = f"[RESOLVED] checkout is fast: p95 2 s < 4 s (12 samples) (after {lasted})"
    assert resolved(hook.titles) == [title]
    assert resolved(smtp.titles) == [title]
    assert len(hook.messages) == len(smtp.messages) == 2
    assert hook.messages[1]["type"] == "success"
    assert f"Lasted: {lasted}, since {when(opened)}" in hook.messages[1]["message"]
    # No screenshot with good news.
    assert hook.messages[1]["attachments"] == []
    (inc,) = h.store.incidents()
    assert inc.state == "resolved" and inc.resolved_at == over
    assert [n.kind for n in h.sent("mail")] == ["firing", "resolved"]


def test_resolved_can_be_switched_off(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness(BUDGET_RULE + "  send_resolved: false\n")

    async def go() -> None:
        for failing in (True, True, True, False, False, False):
            await h.budget(failing)
        await h.alerter.drain()

    run(go())
    assert len(firing(hook.titles)) == 1 and len(hook.messages) == 1
    assert len(smtp.messages) == 1
    assert h.store.incidents()[0].state == "resolved"


def test_restarts_neither_send_again_nor_forget(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()

    async def go() -> None:
        await h.budget(True)
        await h.budget(True)
        h.restart()  # two breaches remembered: the third fires
        await h.budget(True)
        await h.alerter.drain()
        assert len(firing(hook.titles)) == 1 and len(firing(smtp.titles)) == 1
        h.restart()  # firing and notified: not sent again
        await h.budget(True)
        await h.budget(True)
        await h.alerter.drain()
        assert len(hook.messages) == 1 and len(smtp.messages) == 1
        await h.budget(False)
        h.restart()  # one healthy evaluation remembered: the next resolves
        await h.budget(False)
        await h.alerter.drain()
        h.restart()
        await h.budget(False)
        await h.alerter.drain()

    run(go())
    assert len(firing(hook.titles)) == len(firing(smtp.titles)) == 1
    assert len(resolved(hook.titles)) == len(resolved(smtp.titles)) == 1
    assert len(hook.messages) == len(smtp.messages) == 2
    assert [i.state for i in h.store.incidents()] == ["resolved"]


@pytest.mark.parametrize(("fail_first", "delivered"), [(2, True), (10, False)])
def test_a_failing_channel_is_retried_and_the_other_unaffected(
    harness: Callable[..., Harness],
    smtp: Smtp,
    hook: Webhook,
    fail_first: int,
    delivered: bool,
) -> None:
    h = harness(retries=3)
    hook.fail_first = fail_first

    async def go() -> None:
        for _ in range(3):
            await h.budget(True)
        await h.alerter.drain()

    run(go())
    attempts = min(fail_first + 1, 4)  # retries: 3 -> at most 4 attempts
    assert len(hook.requests) == attempts
    assert len(hook.messages) == (1 if delivered else 0)
    assert len(smtp.messages) == 1
    rows_ = [n for n in h.store.notifications() if n.channel == "hook"]
    want = [(i, "failed") for i in range(1, fail_first + 1)][:4]
    if delivered:
        want.append((fail_first + 1, "sent"))
    assert [(n.attempt, n.status) for n in rows_] == want
    for n in rows_:
        if n.status == "failed":
            assert "500" in n.error
    assert [(n.attempt, n.status) for n in h.store.notifications() if n.channel == "mail"] == [
        (1, "sent")
    ]


def test_a_channel_that_never_answers_does_not_hold_up_the_other(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness(timeout="1s", retries=1)
    hook.hang = True

    async def go() -> None:
        for _ in range(3):
            await h.budget(True, drain=False)
        # observe() only schedules: nothing has been attempted yet, probing is not held up.
        assert h.store.notifications() == []
        deadline = time.monotonic() + 10
        while not smtp.messages:
            assert time.monotonic() < deadline, "the e-mail never came"
            await asyncio.sleep(0.02)
        # The e-mail is there while the webhook is still being tried.
        hook_rows = [n for n in h.store.notifications() if n.channel == "hook"]
        assert len(hook_rows) < 2
        assert h.alerter._tasks, "the webhook's deliveries are still under way"
        await h.alerter.drain()

    run(go())
    assert len(smtp.messages) == 1
    assert hook.messages == []
    assert len(hook.requests) == 2  # the first attempt and one retry both reached it
    notes = h.store.notifications()
    mail = [n for n in notes if n.channel == "mail"]
    slow = [n for n in notes if n.channel == "hook"]
    assert [(n.attempt, n.status) for n in mail] == [(1, "sent")]
    assert [(n.attempt, n.status, n.error) for n in slow] == [
        (1, "failed", "no answer within 1s"),
        (2, "failed", "no answer within 1s"),
    ]
    assert mail[0].id is not None and slow[-1].id is not None
    assert mail[0].id < slow[-1].id


def test_silenced_incidents_are_recorded_not_sent(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()
    now = h.clock()
    h.store.add_silence("checkout*", now - 1, now + 7200, "deploying payments", "tester")
    # Silences that do not match, or are over, change nothing.
    h.store.add_silence("login*", now - 1, now + 7200, None, None)
    h.store.add_silence("checkout*", now - 7200, now - 3600, "old", None)

    async def go() -> None:
        for failing in (True, True, True, True, False, False):
            await h.budget(failing)
        await h.alerter.drain()

    run(go())
    assert smtp.messages == [] and hook.requests == []
    notes = h.store.notifications()
    assert sorted((n.channel, n.kind, n.status) for n in notes) == [
        ("hook", "firing", "silenced"),
        ("hook", "resolved", "silenced"),
        ("mail", "firing", "silenced"),
        ("mail", "resolved", "silenced"),
    ]
    for n in notes:
        assert n.error.startswith("silenced by 'checkout*' until ")
    assert h.store.incidents()[0].state == "resolved"


def test_a_silence_by_rule_name(harness: Callable[..., Harness], smtp: Smtp, hook: Webhook) -> None:
    h = harness()
    h.store.add_silence("checkout sl?w", h.clock() - 1, h.clock() + 600, None, None)

    async def go() -> None:
        for _ in range(3):
            await h.budget(True)
        await h.alerter.drain()

    run(go())
    assert smtp.messages == [] and hook.requests == []
    assert {n.status for n in h.store.notifications()} == {"silenced"}


DEPENDENT_RULE = """
- name: site down
  probes: [health, checkout]
  notify: [mail, hook]
  after: 2
  resolve_after: 2
"""


def test_a_dependent_alert_waits_for_its_dependency(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness(DEPENDENT_RULE, depends=True)

    async def both(health_ok: bool, checkout_ok: bool) -> None:
        results = [h.health_run(health_ok), h.checkout_run(checkout_ok)]
        await h.cycle([], results)
        await h.alerter.drain()

    async def go() -> None:
        await both(False, False)
        assert hook.requests == [] and smtp.messages == []
        await both(False, False)  # both fire; checkout's waits for health
        assert hook.titles == ["[FIRING] probe health failed: status 503, expected 200"]
        assert smtp.titles == hook.titles
        body = hook.messages[0]["message"]
        assert "Also affected (their alerts wait for this one): checkout" in body.splitlines()
        assert "HTTP status: 503" in body.splitlines()
        held = [n for n in h.store.notifications() if n.status == "held"]
        assert sorted((n.channel, n.kind) for n in held) == [
            ("hook", "firing"),
            ("mail", "firing"),
        ]
        assert {n.error for n in held} == {"held: health failing"}
        await both(True, False)  # health recovers, checkout still fails: its alert goes out
        assert len(hook.messages) == len(smtp.messages) == 2
        assert hook.titles[1] == (
            "[FIRING] probe checkout failed: place order: Timeout 10000ms exceeded"
        )
        await both(True, False)  # health resolved; checkout still firing, not sent again
        await both(True, False)

    run(go())
    expected = [
        "[FIRING] probe health failed: status 503, expected 200",
        "[FIRING] probe checkout failed: place order: Timeout 10000ms exceeded",
        # "after" counts from the first breach (one cycle before it fired), as "since" does.
        "[RESOLVED] probe health passes (after 3m)",
    ]
    assert hook.titles == expected
    assert smtp.titles == expected
    states = {i.subject: i.state for i in h.store.incidents()}
    assert states == {"probe:health": "resolved", "probe:checkout": "firing"}


def test_a_held_alert_that_recovers_is_never_sent(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness(DEPENDENT_RULE, depends=True)

    async def go() -> None:
        for health_ok, checkout_ok in [(False, False), (False, False), (False, True)] + [
            (False, True)
        ] * 2:
            await h.cycle([], [h.health_run(health_ok), h.checkout_run(checkout_ok)])
        await h.alerter.drain()

    run(go())
    assert hook.titles == ["[FIRING] probe health failed: status 503, expected 200"]
    assert smtp.titles == hook.titles
    states = {i.subject: i.state for i in h.store.incidents()}
    assert states == {"probe:health": "firing", "probe:checkout": "resolved"}


# ----------------------------------------------------------------------------- what it says


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def test_the_firing_message_says_what_where_since_and_links(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()

    async def go() -> float:
        opened = h.clock()
        for _ in range(3):
            await h.budget(True)
        await h.alerter.drain()
        return opened

    opened = run(go())
    last = h.runs[-1]
    title = "[FIRING] checkout is fast: p95 4.8 s > 4 s (12 samples)"
    lines = [
        "Budget: checkout is fast (duration p95 < 4s, warn p95 < 3s)",
        "Measured: p95 4.8 s, breaks < 4 s",
        "Probes: checkout",
        "Failed step: place order: Timeout 10000ms exceeded",
        f"Since: {when(opened)} (2m ago), 3 breached evaluations in a row",
        "Customer impact: no real-user data for /cart, /checkout, /products/* in the last hour.",
        f"Details: {PUBLIC_URL}/runs/{last.run_id}",
        "Rule: checkout slow (critical)",
    ]
    (incident,) = h.store.incidents()
    # The incident and its transition close every message: a receiver can tell a repeat
    # (a leading alerter stopped mid-send, its successor sending again).
    footer = ["", f"Incident: {incident.id} (firing)"]
    (payload,) = hook.messages
    assert payload["title"] == title
    assert payload["message"].splitlines() == lines + footer
    (attachment,) = payload["attachments"]
    assert attachment["mimetype"] == "image/png"

    (msg,) = smtp.messages
    assert msg["Subject"] == title
    assert msg["To"] == "ops@example.com"
    body = plain(msg)
    for line in lines:
        assert line in body.splitlines(), line
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert images[0].get_filename() == "failure.png"
    assert images[0].get_payload(decode=True) == PNG
    assert last.artifacts[0].path.endswith("failure.png")


def test_customer_impact_counts_real_users_on_the_journeys_pages(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    h = harness()
    h.checkout_run(ok=True)  # the pages the journey visits are known from its runs
    t = h.clock() + 100  # the alert fires at clock + 120: these are in its last hour

    def beacon(
        page: str, metric: str, session: str, load: str, value: float | None = None, **kw: Any
    ) -> BeaconRow:
        return BeaconRow(
            received_at=kw.get("at", t),
            metric=metric,
            app="shop",
            page=page,
            value=value,
            nav_type="navigate",
            device="desktop",
            browser="chrome",
            session=session,
            load_id=load,
            synthetic=bool(kw.get("synthetic", 0)),
            format="observer",
        )

    h.store.insert_beacons(
        [
            beacon("/products/*", "pageview", "s1", "l1"),
            beacon("/products/*", "lcp", "s1", "l1", 1800.0),
            beacon("/cart", "pageview", "s1", "l2"),
            beacon("/cart", "lcp", "s1", "l2", 2400.0),
            beacon("/cart", "error", "s1", "l2"),
            beacon("/checkout", "pageview", "s2", "l3"),
            beacon("/checkout", "lcp", "s2", "l3", 3000.0),
            # Not counted: observer's own journeys, an older hour, a page the journey skips.
            beacon("/checkout", "pageview", "s3", "l4", synthetic=1),
            beacon("/cart", "pageview", "s4", "l5", at=t - 7200),
            beacon("/account", "pageview", "s5", "l6"),
        ]
    )

    async def go() -> None:
        for _ in range(3):
            await h.budget(True)
        await h.alerter.drain()

    run(go())
    impact = (
        "Customer impact (real users, last hour, /cart, /checkout, /products/*): 2 sessions, "
        "3 page loads, error rate 33.3%, p75 LCP 2.7 s"
    )
    assert impact in hook.messages[0]["message"].splitlines()
    assert impact in plain(smtp.messages[0]).splitlines()


def test_a_probe_rule_message_and_an_error_that_is_not_the_sites_fault(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    rules = """
    - name: checkout down
      probes: [checkout]
      notify: [hook]
      after: 1
      severity: warning
    - name: checkout down quietly
      probes: [checkout]
      notify: [mail]
      after: 1
      on_error: false
    """
    h = harness(rules)

    async def go() -> None:
        err = ProbeResult(
            probe="checkout",
            kind="journey",
            outcome=Outcome.ERROR,
            started_at=h.clock(),
            duration_ms=5.0,
            error="no browser: Chromium is not installed",
        )
        h.store.record(err)
        await h.cycle([], [err])
        await h.alerter.drain()

    run(go())
    assert hook.titles == [
        "[FIRING] probe checkout observer could not run it: no browser: Chromium is not installed"
    ]
    assert hook.messages[0]["type"] == "warning"
    assert "Rule: checkout down (warning)" in hook.messages[0]["message"].splitlines()
    assert smtp.messages == []  # on_error: false


# ----------------------------------------------------------------------------- secrets

TOKEN = "Wh00kT0kenXq93"


def test_channel_secrets_are_never_stored_logged_or_shown(
    harness: Callable[..., Harness],
    smtp: Smtp,
    hook: Webhook,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="observer")
    password = smtp.password
    assert password is not None
    h = harness(mail=smtp.url(user="observer"), webhook=hook.url(TOKEN))
    hook.fail_first = 1  # one failed attempt, with its error recorded

    async def go() -> None:
        for failing in (True, True, True, False, False):
            await h.budget(failing)
        await h.alerter.drain()

    run(go())
    # The secrets were really used: the SMTP login and the webhook's path.
    assert ("observer", password) in smtp.logins
    assert {m["path"] for m in hook.requests} == {f"/hook/{TOKEN}"}
    assert len(smtp.messages) == 2 and len(hook.messages) == 2
    assert [n.status for n in h.store.notifications() if n.channel == "hook"] == [
        "failed",
        "sent",
        "sent",
    ]
    dump = dump_database(h.db)
    logs = caplog.text
    assert "delivery to hook failed" in logs
    for secret in (password, TOKEN):
        assert secret not in dump
        assert secret not in logs
    h.store.close()

    done = observer("alerts", "test", str(h.path))
    assert done.code == 0, done.stderr
    out = done.stdout + done.stderr
    assert "mail (mailto://***@127.0.0.1/***)" in out
    assert "hook (json://127.0.0.1/***)" in out
    for secret in (password, TOKEN):
        assert secret not in out


# ----------------------------------------------------------------------------- end to end

SERVE = """
settings:
  every: 1s
  evaluate_every: 1s
  step_timeout: 2s
  timeout: 20s
  shutdown_grace: 5s
  public_url: PUBLIC_URL
  artifacts: artifacts
probes:
  - name: checkout
    journey:
      - goto: SHOP/products/1
      - {name: add to cart, click: "text=Add to cart"}
      - {name: checkout, goto: SHOP/checkout}
      - fill: {selector: "#address", value: 1 Main St}
      - {name: place order, click: "text=Place order"}
      - expect_url: "**/orders/*"
alerts:
  backoff: 100ms
  channels:
    mail: MAIL
    hook: HOOK
  rules:
    - name: checkout broken
      probes: [checkout]
      notify: [mail, hook]
      after: 2
      resolve_after: 2
"""


SERVE_LOGS = ("--log-format", "json", "--log-level", "debug")


def test_serve_pages_once_when_checkout_breaks_and_once_when_it_recovers(
    tmp_path: Path, shop: ShopServer, smtp: Smtp, hook: Webhook
) -> None:
    set_faults(shop, fail="checkout")
    port = free_port()
    db = tmp_path / "serve.db"
    password = smtp.password
    assert password is not None
    text = textwrap.dedent(SERVE).lstrip("\n")
    for key, value in (
        ("PUBLIC_URL", PUBLIC_URL),
        ("SHOP", shop.url),
        ("MAIL", smtp.url(user="observer")),
        ("HOOK", hook.url(TOKEN)),
    ):
        text = text.replace(key, value)
    cfg = tmp_path / "probes.yaml"
    cfg.write_text(text, encoding="utf-8")
    log_path = tmp_path / "serve.log"

    def runs() -> int:
        if not db.exists():
            return 0
        try:
            return int(rows(db, "select count(*) as n from runs")[0]["n"])
        except Exception:  # not migrated yet
            return 0

    def api(path: str) -> Any:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).json()

    def evaluated() -> float:
        return float(api("/api/budgets")["evaluated_at"] or 0)

    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*OBSERVER, "serve", str(cfg), "--port", str(port), "--db", str(db), *SERVE_LOGS],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        try:
            wait_for(lambda: firing(smtp.titles) and firing(hook.titles), 60, "the firing alerts")
            failing_runs = runs()
            httpx.delete(f"{shop.url}/__faults", timeout=5).raise_for_status()
            wait_for(
                lambda: resolved(smtp.titles) and resolved(hook.titles),
                60,
                "the resolved alerts",
            )
            # Three more passing runs, and an evaluation cycle after the last: nothing more.
            n = runs()
            wait_for(lambda: runs() >= n + 3, 60, "more runs")
            seen = time.time()
            wait_for(lambda: evaluated() > seen, 30, "an evaluation after the last run")
            incidents = api("/api/incidents")
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log_path.read_text()
    assert code == 0, output[-3000:]

    title = "[FIRING] probe checkout failed: "
    assert len(smtp.messages) == len(hook.messages) == 2
    assert [t.startswith(title) for t in smtp.titles] == [True, False]
    assert [t.startswith(title) for t in hook.titles] == [True, False]
    assert resolved(smtp.titles) == resolved(hook.titles)
    assert resolved(hook.titles)[0].startswith("[RESOLVED] probe checkout passes (after ")
    assert failing_runs >= 2
    # The firing e-mail carries the failure screenshot.
    images = [p for p in smtp.messages[0].walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    assert (images[0].get_payload(decode=True) or b"").startswith(b"\x89PNG")
    assert len(hook.messages[0]["attachments"]) == 1
    body = hook.messages[0]["message"].splitlines()
    assert any(line.startswith("Failed step: ") for line in body), body
    assert any(line.startswith(f"Details: {PUBLIC_URL}/runs/") for line in body), body

    assert incidents["open"] == []
    (inc,) = incidents["incidents"]
    assert inc["state"] == "resolved" and inc["subject"] == "probe:checkout"
    sent = sorted((n["channel"], n["kind"]) for n in inc["notifications"] if n["status"] == "sent")
    assert sent == [
        ("hook", "firing"),
        ("hook", "resolved"),
        ("mail", "firing"),
        ("mail", "resolved"),
    ]
    for channel in ("mail", "hook"):
        for kind in ("firing", "resolved"):
            sample = (
                f'observer_alerts_sent_total{{channel="{channel}",kind="{kind}",'
                f'rule="checkout broken"}} 1.0'
            )
            assert sample in metrics.splitlines(), sample
    events = [json.loads(line).get("event") for line in output.splitlines() if line.startswith("{")]
    assert events.count("alert_firing") == 1
    assert events.count("alert_resolved") == 1
    for secret in (password, TOKEN):
        assert secret not in output
        assert secret not in dump_database(db)


# ----------------------------------------------------------------------------- the CLI


def test_alerts_test_says_which_channels_work(
    tmp_path: Path, write: Any, smtp: Smtp, hook: Webhook
) -> None:
    closed = free_port()
    path = write(
        f"""
        probes:
          - name: health
            http: {SITE}/health
        alerts:
          timeout: 5s
          channels:
            hook: {hook.url(TOKEN)}
            mail: {smtp.url()}
            broken: json://127.0.0.1:{closed}/hook
        """
    )
    done = observer("alerts", "test", str(path))
    assert done.code == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "sent   hook (json://127.0.0.1/***)" in lines
    assert "sent   mail (mailto://127.0.0.1/***)" in lines
    failed = [line for line in lines if line.startswith("FAILED")]
    assert len(failed) == 1 and failed[0].startswith("FAILED broken (json://127.0.0.1/***): ")
    assert hook.titles == ["[TEST] observer can reach this channel"]
    assert smtp.titles == ["[TEST] observer can reach this channel"]
    assert TOKEN not in done.stdout + done.stderr

    done = observer("alerts", "test", str(path), "--channel", "hook")
    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["sent   hook (json://127.0.0.1/***)"]
    assert len(hook.messages) == 2 and len(smtp.messages) == 1

    done = observer("alerts", "test", str(path), "--channel", "nope")
    assert done.code == 2
    assert "no channel named nope" in done.stderr


def test_alerts_lists_incidents(harness: Callable[..., Harness], smtp: Smtp, hook: Webhook) -> None:
    h = harness()

    async def go() -> None:
        for _ in range(3):
            await h.budget(True)
        await h.alerter.drain()

    run(go())
    h.store.close()
    done = observer("alerts", str(h.path), "--db", str(h.db), "--json")
    assert done.code == 0, done.stderr
    (inc,) = done.json()["incidents"]
    assert (inc["state"], inc["rule"], inc["subject"]) == (
        "firing",
        "checkout slow",
        "budget:checkout is fast",
    )
    assert sorted((n["channel"], n["kind"], n["status"]) for n in inc["notifications"]) == [
        ("hook", "firing", "sent"),
        ("mail", "firing", "sent"),
    ]
    done = observer("alerts", str(h.path), "--db", str(h.db))
    assert done.code == 0, done.stderr
    assert "firing" in done.stdout and "checkout slow" in done.stdout
    usage = observer("alerts", "--db", str(h.db))
    assert usage.code == 2
    assert "usage: observer alerts FILE [--db PATH] | observer alerts test FILE" in usage.stderr
    # Options may come before the file, as with any command.
    before = observer("alerts", "--db", str(h.db), "--json", str(h.path))
    assert before.code == 0, before.stderr
    assert before.json()["incidents"], before.stdout
    # The explicit form, and an option of the other form, accepted as it always was.
    shown = observer("alerts", "show", str(h.path), "--db", str(h.db), "--json")
    assert shown.code == 0 and shown.json() == before.json(), shown.stderr
    assert observer("alerts", str(h.path), "--db", str(h.db), "--channel", "hook").code == 0


def test_silence_and_list(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    done = observer("silence", "checkout*", "--for", "2h", "--reason", "x", "--db", str(db))
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == "silenced 'checkout*' for 2h: x"
    done = observer("silence", "--list", "--db", str(db))
    assert done.code == 0, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("checkout*  until ") and line.endswith("(2.0h left)  x")
    for bad in ("soon", "0s"):
        done = observer("silence", "checkout*", "--for", bad, "--db", str(db))
        assert done.code == 2, (bad, done.stderr)
        assert "--for" in done.stderr
    assert observer("silence", "checkout*", "--db", str(db)).code == 2
    with SQLiteStore(db) as store:
        (s,) = store.silences(time.time())
        assert (s.pattern, s.reason) == ("checkout*", "x")
        assert 7190 < s.ends_at - s.starts_at <= 7200


def test_budgets_alert_fires_once_and_resolves_once(
    tmp_path: Path, write: Any, smtp: Smtp, hook: Webhook
) -> None:
    path = write(
        f"""
        probes:
          - name: checkout
            http: {SITE}/checkout
        alerts:
          backoff: 50ms
          channels:
            mail: {smtp.url()}
            hook: {hook.url()}
          rules:
            - name: checkout down
              probes: [checkout]
              notify: [mail, hook]
              after: 2
              resolve_after: 2
        """
    )
    db = tmp_path / "cron.db"

    def record(*outcomes: Outcome) -> None:
        with SQLiteStore(db) as store:
            for outcome in outcomes:
                store.record(
                    ProbeResult(
                        probe="checkout",
                        kind="http",
                        outcome=outcome,
                        started_at=time.time(),
                        duration_ms=20.0,
                        completed=outcome == Outcome.PASS,
                        error=None if outcome == Outcome.PASS else "status 500, expected 2xx",
                        http=HttpDetails(f"{SITE}/checkout", "GET", status=500),
                    )
                )

    def alert() -> None:
        done = observer("budgets", str(path), "--db", str(db), "--alert")
        assert done.code == 0, done.stdout + done.stderr

    record(Outcome.FAIL)
    alert()  # one breach: pending
    assert hook.requests == [] and smtp.messages == []
    record(Outcome.FAIL)
    alert()  # the second breach, remembered across processes: fires
    title = "[FIRING] probe checkout failed: status 500, expected 2xx"
    assert hook.titles == [title] and smtp.titles == [title]
    alert()  # no new runs: nothing
    record(Outcome.FAIL)
    alert()  # still failing: not sent again
    assert len(hook.messages) == len(smtp.messages) == 1
    record(Outcome.PASS, Outcome.PASS)
    alert()
    assert len(resolved(hook.titles)) == len(resolved(smtp.titles)) == 1
    assert len(hook.messages) == len(smtp.messages) == 2
    alert()
    assert len(hook.requests) == 2 and len(smtp.messages) == 2


# ----------------------------------------------------------------------------- config errors


def at(text: str, line_has: str, token: str) -> str:
    """LINE:COL of token on the first line containing line_has."""
    for n, line in enumerate(textwrap.dedent(text).lstrip("\n").splitlines(), start=1):
        if line_has in line:
            return f"{n}:{line.index(token, line.index(line_has)) + 1}"
    raise AssertionError(line_has)


def test_alert_config_mistakes_point_at_the_line(tmp_path: Path, write: Any) -> None:
    models = f"""
    probes:
      - name: checkout
        http: {SITE}/checkout
    alerts:
      channels:
        slack: hooks.slack.com/services/T000/B000/XXXX
      rules:
        - name: nothing selected
          notify: [slack]
    """
    write(models, "models.yaml")
    done = observer("validate", "models.yaml", cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert (
        f"models.yaml:{at(models, 'slack:', 'slack')}: alerts.channels: channel 'slack' "
        "is not an apprise URL (scheme://...)"
    ) in lines, lines
    assert (
        f"models.yaml:{at(models, '- name: nothing', 'name')}: alerts.rules[0]: give budgets: "
        "[...] or probes: [...] (names or globs)"
    ) in lines, lines

    refs = f"""
    probes:
      - name: health
        http: {SITE}/health
      - name: checkout
        http: {SITE}/checkout
        depends_on: [helth]
    budgets:
      - name: checkout answers
        probe: checkout
        metric: time
        threshold: p95 < 1s
    alerts:
      channels:
        slack: json://127.0.0.1:9/hook
      rules:
        - name: page
          budgets: ["payments*"]
          probes: [checkout]
          notify: [slack, slak]
    """
    write(refs, "refs.yaml")
    quote = '"payments'
    done = observer("validate", "refs.yaml", cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        f"refs.yaml:{at(refs, 'depends_on', 'helth')}: probes[1].depends_on[0]: "
        "no probe named 'helth' (did you mean 'health'?)",
        f"refs.yaml:{at(refs, 'budgets: [', quote)}: alerts.rules[0].budgets[0]: "
        "no budget matches 'payments*'",
        f"refs.yaml:{at(refs, 'notify: [slack, slak]', 'slak]')}: alerts.rules[0].notify[1]: "
        "no channel named 'slak' (did you mean 'slack'?)",
        "3 problems in refs.yaml",
    ]

    # observer's own health: the subjects it has, and a pattern that names none of them.
    own = """
    probes:
      - name: health
        http: http://127.0.0.1:9/health
    alerts:
      channels:
        hook: json://127.0.0.1:9/hook
      rules:
        - name: itself
          probes: ["observer:*", "observer:fresh:health", "observer:runners@eu-west",
                   "observer:runner@eu-west", "observer:fresh:nothing"]
          notify: [hook]
    """
    write(own, "own.yaml")
    done = observer("validate", "own.yaml", cwd=tmp_path)
    assert done.code == 2, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    subjects = "observer:fresh:PROBE, observer:runners@LOCATION, observer:database"
    assert lines == [
        f"own.yaml:{at(own, chr(34) + 'observer:runner@', chr(34))}: "
        "alerts.rules[0].probes[3]: "
        f"'observer:runner@eu-west' names none of observer's own subjects: {subjects}",
        f"own.yaml:{at(own, chr(34) + 'observer:fresh:nothing', chr(34))}: "
        "alerts.rules[0].probes[4]: "
        f"'observer:fresh:nothing' names none of observer's own subjects: {subjects}",
        "2 problems in own.yaml",
    ], lines


def test_each_entry_of_a_matrix_is_a_subject_of_its_own(
    harness: Callable[..., Harness], smtp: Smtp, hook: Webhook
) -> None:
    """The phone failing while the desktop passes is one steady breach, paged once; a
    probe-level silence still covers every entry."""
    from observer.config.models import Condition

    rules = """
    - name: checkout down
      probes: [checkout]
      notify: [hook]
      after: 2
    """
    h = harness(rules)
    h.project.probe("checkout").conditions = ["mobile", Condition(device="Desktop Chrome")]
    phone = {"device": "Moto G4", "network": "slow-4g", "cpu_slowdown": 4.0}
    desktop = {"device": "Desktop Chrome", "network": None, "cpu_slowdown": None}

    async def go() -> None:
        for _ in range(4):
            both = []
            for conditions, ok in ((phone, False), (desktop, True)):
                r = ProbeResult(
                    probe="checkout",
                    kind="journey",
                    outcome=Outcome.PASS if ok else Outcome.FAIL,
                    started_at=h.clock(),
                    duration_ms=900.0,
                    error=None if ok else "place order: Timeout 10000ms exceeded",
                    conditions=conditions,
                )
                h.store.record(r)
                both.append(r)
            await h.cycle([], both)
            await h.alerter.drain()

    run(go())
    assert hook.titles == [
        "[FIRING] probe checkout · Moto G4 · slow-4g · 4× CPU failed: "
        "place order: Timeout 10000ms exceeded"
    ]
    subjects = {i.subject for i in h.store.open_incidents()}
    assert subjects == {"probe:checkout · Moto G4 · slow-4g · 4× CPU"}
