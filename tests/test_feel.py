"""What customers feel beside what they measure: feedback beacons joined to their session's
vitals, consent, and frustration signals (rage, dead and error clicks), from observer's
snippet in real Chromium, through a real `observer serve` process and its database; and the
budget metrics that judge them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pages import Page, PageServer
from test_rum import apoll, daemon, rows, snippet, with_browser

from observer.budgets import evaluate
from observer.config import load_project
from observer.store import SQLiteStore

FIELDS = "page, metric, value, label, detail, session, load_id"


def shop_page(rum_url: str) -> str:
    """A page with observer's snippet: a task, a feedback form, and buttons that do nothing,
    do something, and throw."""
    return f"""<!doctype html>
<html><head><title>checkout</title>
<script src="{rum_url}/rum.js" data-app="shop"></script></head>
<body>
<h1>Checkout</h1>
<p id="status">ready</p>
<button id="dead" class="btn buy" style="position:absolute;left:40px;top:120px">Pay</button>
<button id="live" style="position:absolute;left:40px;top:180px"
  onclick="document.getElementById('status').textContent='paid'">Pay for real</button>
<button id="broken" style="position:absolute;left:40px;top:240px"
  onclick="throw new TypeError('no price')">Apply coupon</button>
<script>
  observer.begin('checkout');
  function answer() {{
    observer.feedback({{task: 'checkout', csat: 2,
      comment: 'Slow! mail me at jo@example.com, card 4111 1111 1111 1111 <b>x</b>'}});
  }}
</script>
</body></html>"""


def wait_rows(rum: Any, where: str, what: str, n: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = rows(rum.db, f"select {FIELDS} from beacons where {where} order by id")
        if len(got) >= n:
            return got
        time.sleep(0.1)
    raise AssertionError(f"no {what} in the database")


def test_feedback_joins_its_sessions_vitals_and_clicks_show_frustration(tmp_path: Path) -> None:
    with (
        daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum),
        PageServer({"/checkout": Page(shop_page(rum.url))}) as site,
    ):

        async def visit(browser: Any) -> None:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{site.url}/checkout")
            await page.click("#live")  # changes the page: not dead
            # Six rapid clicks on one spot: one rage click (once a burst), not four.
            await page.click("#dead", click_count=6)
            await page.wait_for_timeout(1300)  # a second with nothing: dead
            await page.click("#broken")  # throws: an error click
            await page.evaluate("answer()")
            await page.goto("about:blank")  # hidden: the rest is sent
            await context.close()

        with_browser(visit)
        feedback = wait_rows(rum, "metric = 'csat'", "feedback")
        rage = wait_rows(rum, "metric = 'rage_click'", "a rage click")
        dead = wait_rows(rum, "metric = 'dead_click'", "a dead click")
        broken = wait_rows(rum, "metric = 'error_click'", "an error click")
        vitals = wait_rows(rum, "metric in ('lcp', 'ttfb', 'pageview')", "vitals", 3)
        stored = rows(rum.db, "select * from beacons")

    (answer,) = feedback
    assert (answer["value"], answer["label"], answer["page"]) == (2.0, "checkout", "/checkout")
    said = json.loads(answer["detail"])["comment"]
    assert said == "Slow! mail me at [email], card [card] <b>x</b>"  # kept as text, inert
    # The answer belongs to the session and the page load whose vitals it can be judged by.
    assert {v["session"] for v in vitals} == {answer["session"]}
    assert answer["load_id"] in {v["load_id"] for v in vitals}
    assert [r["label"] for r in rage] == ["button#dead"]
    assert {r["label"] for r in dead} == {"button#dead"}  # the live button is not dead
    assert [r["label"] for r in broken] == ["button#broken"]
    everything = json.dumps(stored)
    # The card's digits in any form (a bare "4111" may be inside a stored time or number:
    # it failed once so, in a timestamp).
    assert "jo@example.com" not in everything
    assert not re.search(r"4111\D{0,3}1111", everything), everything
    assert "Pay" not in {r["label"] for r in stored}  # selectors carry no text
    assert "127.0.0.1" not in everything.replace(site.url, "")  # no IP address kept


def test_consent_false_stops_all_sending_from_the_tab(tmp_path: Path) -> None:
    with (
        daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum),
        PageServer({"/checkout": Page(shop_page(rum.url))}) as site,
    ):

        async def visit(browser: Any) -> int:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{site.url}/checkout")
            await page.evaluate("observer.consent(false)")
            await page.evaluate("answer()")
            await page.click("#dead", click_count=3)
            await page.reload()  # the choice is kept for the tab
            await page.evaluate("answer()")
            stays = await page.evaluate("sessionStorage.getItem('observer.consent')")
            await page.goto("about:blank")
            await context.close()
            # A second tab that said nothing still sends (a check that sending works).
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{site.url}/checkout")
            await page.evaluate("answer()")
            await apoll(
                    lambda: rows(rum.db, "select count(*) as n from beacons where "
                                 "metric = 'csat'")[0]["n"] == 1,
                    "the other tab's answer",
                )  # fmt: skip
            await context.close()
            return 0 if stays == "0" else 1

        assert with_browser(visit) == 0
        sessions = rows(rum.db, "select distinct session from beacons")
    assert len(sessions) == 1  # only the second tab's


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"k": "feedback", "task": "checkout", "csat": 9}, "csat is a whole number from 1 to 5"),
        ({"k": "feedback", "csat": 1e308}, "csat is a whole number from 1 to 5"),
        ({"k": "feedback", "nps": 4.5}, "nps is a whole number from 0 to 10"),
        ({"k": "feedback", "ces": "NaN"}, "ces is a whole number from 1 to 7"),
        ({"k": "feedback", "ces": True}, "ces is a whole number from 1 to 7"),
        ({"k": "feedback", "comment": "only words"}, "feedback needs csat, ces or nps"),
        ({"k": "frustration", "t": "angry", "sel": "a"}, "frustration is rage, dead or error"),
    ],
)
def test_hostile_feedback_alone_is_refused_with_the_reason(
    tmp_path: Path, item: dict[str, Any], reason: str
) -> None:
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        answer = rum.post(snippet("s1", "l1", [item]))
        stored = rum.count()
    assert answer.status_code == 400, answer.text
    assert reason in answer.json()["error"], answer.json()
    assert stored == 0


def test_a_bad_answer_in_a_batch_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    long = "<script>alert(1)</script>" + "x" * 50_000
    items = [
        {"k": "feedback", "id": "a", "task": "checkout", "csat": 5, "comment": long},
        {"k": "feedback", "id": "b", "task": "checkout", "csat": 0},
        {"k": "feedback", "id": "c", "nps": 10, "ces": 6},
    ]
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        answer = rum.post(snippet("s1", "l1", items))
        got = rows(rum.db, "select metric, value, detail from beacons order by id")
        # A comment of a megabyte does not get in at all: the body is over the limit.
        megabyte = [{"k": "feedback", "id": "m", "csat": 3, "comment": "y" * 1_000_000}]
        refused = rum.post(snippet("s2", "l2", megabyte))
        assert refused.status_code == 413, refused.text
        assert rum.count() == 3
    assert answer.status_code in (200, 202, 204), answer.text
    assert [(r["metric"], r["value"]) for r in got] == [("csat", 5.0), ("ces", 6.0), ("nps", 10.0)]
    kept = json.loads(got[0]["detail"])["comment"]
    assert kept.startswith("<script>alert(1)</script>") and len(kept) <= 500


def test_faro_feedback_events_are_read_the_same_way(tmp_path: Path) -> None:
    faro = {
        "meta": {
            "app": {"name": "shop"},
            "session": {"id": "faro-session"},
            "page": {"url": "https://shop.example/checkout", "id": "load-1"},
        },
        "events": [
            {"name": "feedback", "attributes": {"task": "checkout", "ces": "6", "comment": "ok"}},
            {"name": "feedback", "attributes": {"nps": "11"}},
        ],
    }
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        answer = rum.post(faro, ctype="application/json")
        got = rows(rum.db, "select metric, value, label, session, page from beacons")
    assert answer.status_code in (200, 202, 204), answer.text
    assert got == [
        {"metric": "ces", "value": 6.0, "label": "checkout", "session": "faro-session",
         "page": "/checkout"},
    ]  # fmt: skip


def test_feedback_and_frustration_budgets(tmp_path: Path) -> None:
    config = {
        "budgets": [
            {"name": "happy at checkout", "source": "rum", "metric": "csat", "task": "checkout",
             "threshold": "rate >= 80%", "confidence": "off"},
            {"name": "easy", "source": "rum", "metric": "ces", "threshold": "mean >= 5",
             "confidence": "off"},
            {"name": "recommended", "source": "rum", "metric": "nps", "threshold": "score >= 30"},
            {"name": "calm", "source": "rum", "metric": "rage_click_rate",
             "threshold": "rate <= 10%", "confidence": "off"},
        ]
    }  # fmt: skip
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}, **config}) as (_, rum):
        batches = []
        for n in range(10):
            items: list[dict[str, Any]] = [{"k": "pageview", "id": f"p{n}"}]
            nps = 10 if n < 5 else (8 if n < 8 else 3)
            csat = 5 if n < 7 else 2
            items.append({"k": "feedback", "id": f"f{n}", "task": "checkout", "csat": csat,
                          "ces": 6, "nps": nps})  # fmt: skip
            if n < 2:
                items.append({"k": "frustration", "id": f"r{n}", "t": "rage", "sel": "button#pay"})
            batches.append(snippet(f"s{n}", f"l{n}", items))
        # One session of another task: its answer does not count for checkout.
        batches.append(snippet("other", "lo", [{"k": "feedback", "id": "x", "task": "search",
                                                "csat": 1}]))  # fmt: skip
        for batch in batches:
            assert rum.post(batch).status_code in (200, 202, 204)
        store = SQLiteStore(rum.db)
        try:
            judged = {v.name: v for v in evaluate(load_project(rum.file).budgets, store)}
        finally:
            store.close()
        done = httpx.get(f"{rum.url}/healthz", timeout=5)
    assert done.status_code == 200
    happy = judged["happy at checkout"]
    assert (happy.value, happy.samples, str(happy.outcome)) == (0.7, 10, "fail")
    assert (judged["easy"].value, str(judged["easy"].outcome)) == (6.0, "pass")
    # 5 promoters, 3 passives, 2 detractors of 10: NPS 30.
    assert (judged["recommended"].value, str(judged["recommended"].outcome)) == (30.0, "pass")
    calm = judged["calm"]
    assert (calm.value, calm.samples, str(calm.outcome)) == (0.2, 10, "fail")


def experience_batches() -> list[dict[str, Any]]:
    """Sessions of a checkout: poor INP with 16 of 40 satisfied and 24 of 40 completing, good
    INP with 90 of 100 and 95 of 100, and three with needs-improvement INP."""

    def session(n: int, inp: float, csat: int, completes: bool, rage: bool) -> dict[str, Any]:
        items: list[dict[str, Any]] = [
            {"k": "pageview", "id": "p"},
            {"k": "task", "id": "b", "phase": "begin", "task": "checkout"},
            {"k": "vital", "id": "lcp", "n": "LCP", "v": 1200},
            {"k": "vital", "id": "inp", "n": "INP", "v": inp},
            {"k": "feedback", "id": "f", "task": "checkout", "csat": csat},
        ]
        if completes:
            items.append({"k": "task", "id": "c", "phase": "complete", "task": "checkout"})
        if rage:
            items.append({"k": "frustration", "id": "r", "t": "rage", "sel": "button#pay"})
        return snippet(f"s{n}", f"l{n}", items)

    batches = []
    for n in range(40):  # poor INP (> 500 ms): 16 of 40 satisfied, 24 of 40 complete
        batches.append(session(n, 800, 5 if n < 16 else 2, n < 24, n % 2 == 0))
    for n in range(40, 140):  # good INP: 90 of 100 satisfied, 95 complete
        batches.append(session(n, 80, 5 if n < 130 else 1, n < 135, False))
    for n in range(140, 143):  # needs improvement: only three
        batches.append(session(n, 300, 4, True, False))
    return batches


def test_report_splits_satisfaction_and_completion_by_experience(tmp_path: Path) -> None:
    from conftest import observer

    batches = experience_batches()
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        for batch in batches:
            assert rum.post(batch).status_code in (200, 202, 204)
        text = observer("report", str(rum.file), "--db", str(rum.db), "--task", "checkout")
        data = observer("report", str(rum.file), "--db", str(rum.db), "--json")
    assert text.code == 0, text.stderr
    (inp_line,) = [line for line in text.stdout.splitlines() if " INP " in line]
    assert inp_line.startswith(
        "task checkout: CSAT 40% with poor INP (n=40, 95% 26.3–55.4%) against "
        "? with needs-improvement INP (n=3: too few to conclude, 95% 43.9–100%) against "
        "90% with good INP (n=100, 95% 82.6–94.5%); "
    ), inp_line
    assert "; completion 60% with poor INP (n=40" in inp_line, inp_line
    assert "against 95% with good INP (n=100" in inp_line, inp_line
    (felt,) = [line for line in text.stdout.splitlines() if "frustration" in line]
    assert felt.startswith("task checkout: CSAT 40% with frustration (n=20, "), felt
    groups = {(g["kind"], g["name"]): g for g in json.loads(data.stdout)["groups"]}
    cell = groups[("task", "checkout")]["csat"]["inp"]["poor"]
    assert (cell["n"], cell["value"]) == (40, 0.4)
    assert cell["low"] < 0.4 < cell["high"]
    assert ("page", "/checkout") in groups  # answers are split by page too


SPA = """<!doctype html>
<html><head><title>app</title><script src="{rum}/rum.js" data-app="spa"></script></head>
<body>
<nav><a id="to-b" href="/app/b">B</a> <a id="to-c" href="/app/c">C</a>
<a id="jump" href="#more">more</a></nav>
<main id="view">A</main>
<button id="work">Work</button>
<section id="more" style="margin-top:40px">More about B</section>
<script>
  window.longest = 0;  // the longest interaction the browser has timed so far
  new PerformanceObserver(function (l) {{
    l.getEntries().forEach(function (e) {{
      window.longest = Math.max(window.longest, e.duration);
    }});
  }}).observe({{type: 'event', durationThreshold: 16}});
  // How long a click on #work keeps the main thread busy, by route: each route its own INP.
  var busy = {{'/app': 60, '/app/b': 260, '/app/c': 460}};
  document.getElementById('work').addEventListener('click', function () {{
    var until = performance.now() + busy[location.pathname];
    while (performance.now() < until) {{}}
    document.getElementById('view').textContent += '.';
  }});
  document.querySelectorAll('nav a[href^="/"]').forEach(function (a) {{
    a.addEventListener('click', function (e) {{
      e.preventDefault();
      history.pushState({{}}, '', a.getAttribute('href'));
      document.getElementById('view').textContent = a.textContent;
    }});
  }});
</script>
</body></html>"""


@pytest.mark.parametrize(
    ("init", "how"),
    [
        ("", "web-vitals' soft navigations (this Chromium reports them)"),
        ("delete window.PerformanceSoftNavigation;", "the snippet's own route tracking"),
    ],
)
def test_three_routes_of_a_single_page_app_are_three_page_views_with_their_own_inp(
    tmp_path: Path, init: str, how: str
) -> None:
    config = {"rum": {"rate_limit": "off", "pages": ["/app", "/app/b", "/app/c"]}}
    with daemon(tmp_path, config) as (_, rum):
        page_body = SPA.format(rum=rum.url)
        with PageServer({"/app": Page(page_body)}) as site:

            async def visit(browser: Any) -> None:
                context = await browser.new_context()
                if init:
                    await context.add_init_script(init)
                page = await context.new_page()
                await page.goto(f"{site.url}/app")
                await page.click("#work")
                await page.click("#to-b")
                await page.wait_for_timeout(500)  # a customer reads the new route first
                await page.click("#jump")  # an anchor of the same route: no new page view
                await page.click("#work")
                await page.click("#to-c")
                await page.wait_for_timeout(500)
                await page.click("#work")
                # The last interaction's entry is out, and web-vitals, which attributes
                # entries to soft navigations when idle, has had time to see it.
                await page.wait_for_function("window.longest >= 400")
                await page.wait_for_timeout(1000)
                await page.goto("about:blank")
                await context.close()

            with_browser(visit)
            wait_rows(rum, "metric = 'inp'", "each route's INP", 3)
            views = rows(rum.db, "select page, nav_type, load_id, session from beacons "
                         "where metric = 'pageview' order by id")  # fmt: skip
            inps = rows(rum.db, "select page, value, load_id from beacons where metric = 'inp'")
    assert [(v["page"], v["nav_type"]) for v in views] == [
        ("/app", "navigate"),
        ("/app/b", "soft-navigation"),
        ("/app/c", "soft-navigation"),
    ]
    assert len({v["load_id"] for v in views}) == 3 and len({v["session"] for v in views}) == 1
    by_page = {r["page"]: r for r in inps}
    assert sorted(by_page) == ["/app", "/app/b", "/app/c"], inps
    for path, least in (("/app", 60), ("/app/b", 260), ("/app/c", 460)):
        assert by_page[path]["value"] >= least, inps
    # Each route's INP is its own, not the largest of the document so far.
    assert by_page["/app"]["value"] < 260 and by_page["/app/b"]["value"] < 460, inps
    load = {v["page"]: v["load_id"] for v in views}
    assert all(by_page[p]["load_id"] == load[p] for p in load), (inps, views)


TASK_PAGE = """<!doctype html>
<html lang="en"><head><title>order</title><script src="{rum}/rum.js"></script></head>
<body>
<h1>Your order</h1>
<p>Some text that would move if anything pushed it.</p>
<button id="place">Place order</button>
<script>
  window.shifts = 0;
  new PerformanceObserver(function (l) {{
    l.getEntries().forEach(function (e) {{ if (!e.hadRecentInput) window.shifts += e.value; }});
  }}).observe({{type: 'layout-shift', buffered: true}});
  observer.begin('checkout');
  document.getElementById('place').addEventListener('click', function () {{
    observer.complete('checkout');
  }});
</script>
</body></html>"""
SURVEY = {"after": "checkout", "ask": "ces", "sample": 0.6,
          "question": "How easy was it to check out?"}  # fmt: skip


def survey_config(**extra: Any) -> dict[str, Any]:
    return {"rum": {"rate_limit": "off", "survey": {**SURVEY, **extra}}}


def test_the_survey_appears_after_the_task_is_answered_by_keyboard_and_stored(
    tmp_path: Path,
) -> None:
    with daemon(tmp_path, survey_config()) as (_, rum):
        body = TASK_PAGE.format(rum=rum.url)
        with PageServer({"/order": Page(body)}) as site:

            async def visit(browser: Any) -> dict[str, Any]:
                context = await browser.new_context()
                await context.add_init_script("Math.random = function () { return 0.5; };")
                page = await context.new_page()
                await page.goto(f"{site.url}/order")
                assert await page.locator("#observer-survey").count() == 0  # not before
                await page.keyboard.press("Tab")
                await page.keyboard.press("Enter")  # places the order: the task completes
                dialog = page.get_by_role("dialog", name="How easy was it to check out?")
                await dialog.wait_for()
                seen = {
                    "focused": await page.evaluate("document.activeElement.textContent"),
                    "buttons": await dialog.get_by_role("button").all_inner_texts(),
                    "first": await dialog.get_by_role("button", name="1, very difficult").count(),
                    "shifts": await page.evaluate("window.shifts"),
                }
                for _ in range(5):  # from 1 to 6, by keyboard alone
                    await page.keyboard.press("Tab")
                await page.keyboard.press("Enter")
                await page.get_by_role("status").wait_for()
                seen["thanks"] = await page.get_by_role("status").inner_text()
                await page.locator("#observer-survey").wait_for(state="detached")
                seen["shifts_after"] = await page.evaluate("window.shifts")
                # Never twice in a session: the task again, after a reload.
                await page.reload()
                await page.click("#place")
                await page.wait_for_timeout(300)
                seen["again"] = await page.locator("#observer-survey").count()
                await page.goto("about:blank")
                await context.close()
                return seen

            seen = with_browser(visit)
            (answer,) = wait_rows(rum, "metric = 'ces'", "the survey's answer")
    assert seen["focused"] == "1"
    assert seen["buttons"] == ["1", "2", "3", "4", "5", "6", "7", "×"]
    assert seen["first"] == 1
    assert seen["thanks"] == "Thank you."
    assert seen["shifts"] == 0 and seen["shifts_after"] == 0  # it moved nothing on the page
    assert seen["again"] == 0
    assert (answer["value"], answer["label"], answer["page"]) == (6.0, "checkout", "/order")


@pytest.mark.parametrize(
    ("config", "init", "why"),
    [
        ({"rum": {"rate_limit": "off"}}, "", "no rum.survey"),
        (survey_config(sample=0.4), "", "this session is not in the sample"),
        (
            survey_config(),
            "Object.defineProperty(navigator, 'globalPrivacyControl', "
            "{get: function () { return true; }});",
            "Global Privacy Control",
        ),
        (survey_config(), "sessionStorage.setItem('observer.consent', '0');", "no consent"),
    ],
)
def test_the_survey_is_not_shown(
    tmp_path: Path, config: dict[str, Any], init: str, why: str
) -> None:
    with daemon(tmp_path, config) as (_, rum):
        body = TASK_PAGE.format(rum=rum.url)
        with PageServer({"/order": Page(body)}) as site:

            async def visit(browser: Any) -> tuple[int, bool]:
                context = await browser.new_context()
                await context.add_init_script("Math.random = function () { return 0.5; };" + init)
                page = await context.new_page()
                await page.goto(f"{site.url}/order")
                await page.click("#place")
                await page.wait_for_timeout(500)
                shown = await page.locator("#observer-survey").count()
                # observer.feedback still works for a team's own survey.
                await page.evaluate("observer.feedback({task: 'checkout', csat: 5})")
                await page.goto("about:blank")
                await context.close()
                return shown, True

            shown, _ = with_browser(visit)
            answers = rows(rum.db, "select count(*) as n from beacons where metric = 'csat'")
    assert shown == 0, why
    assert answers[0]["n"] == (0 if why == "no consent" else 1), why


def test_the_survey_is_dismissed_with_escape_and_not_asked_again(tmp_path: Path) -> None:
    with daemon(tmp_path, survey_config(sample=1)) as (_, rum):
        body = TASK_PAGE.format(rum=rum.url)
        with PageServer({"/order": Page(body)}) as site:

            async def visit(browser: Any) -> tuple[int, int, str]:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(f"{site.url}/order")
                await page.focus("#place")
                await page.keyboard.press("Enter")
                await page.get_by_role("dialog").wait_for()
                await page.keyboard.press("Escape")
                await page.locator("#observer-survey").wait_for(state="detached")
                back = await page.evaluate("document.activeElement.id")  # focus came back
                await page.click("#place")
                await page.wait_for_timeout(300)
                again = await page.locator("#observer-survey").count()
                await page.goto("about:blank")
                await context.close()
                return 0, again, back

            _, again, back = with_browser(visit)
            stored = rows(rum.db, "select count(*) as n from beacons where metric = 'ces'")
    assert again == 0 and back == "place"
    assert stored[0]["n"] == 0


def test_the_real_user_page_charts_the_split(tmp_path: Path) -> None:
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        for batch in experience_batches():
            assert rum.post(batch).status_code in (200, 202, 204)
        page = httpx.get(f"{rum.url}/rum", timeout=30)
    assert page.status_code == 200
    html = page.text
    felt = html[html.index('id="felt"') : html.index("Errors real users hit")]
    assert "<h3>task checkout</h3>" in felt and "<h3>/checkout</h3>" in felt
    assert 'aria-label="40% (n=40, 95% interval 26%–55%)"' in felt, felt[:2000]
    assert 'aria-label="90% (n=100, 95% interval 83%–94%)"' in felt
    assert "n=3, too few" in felt and "n=3: too few to conclude" in felt
    assert "<td>INP</td><td>poor</td>" in felt and "<td>frustration</td><td>with</td>" in felt


@pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")
def test_an_alert_quotes_what_customers_of_the_failing_task_felt(tmp_path: Path) -> None:
    import asyncio

    from test_alerts import Webhook

    from observer.alerts import Alerter
    from observer.daemon import Cycle
    from observer.results import Outcome, ProbeResult

    hook = Webhook()
    hook.thread.start()
    config = {
        "rum": {"rate_limit": "off"},
        "probes": [{"name": "checkout", "http": "http://127.0.0.1:9/checkout"}],
        "alerts": {
            "channels": {"hook": hook.url()},
            "rules": [{"name": "checkout down", "probes": ["checkout"], "after": 1,
                       "notify": ["hook"]}],
        },
    }  # fmt: skip
    try:
        with daemon(tmp_path, config) as (_, rum):
            for batch in experience_batches():
                assert rum.post(batch).status_code in (200, 202, 204)
        project = load_project(rum.file)
        store = SQLiteStore(rum.db)
        try:
            alerter = Alerter(project, store)
            failed = ProbeResult(probe="checkout", kind="http", outcome=Outcome.FAIL,
                                 started_at=time.time(), duration_ms=10.0, completed=False,
                                 error="status 500")  # fmt: skip

            async def go() -> None:
                await alerter.observe(Cycle(time.time(), [], [failed], project))
                await alerter.drain()

            asyncio.run(go())
        finally:
            store.close()
    finally:
        hook.server.shutdown()
        hook.server.server_close()
    (message,) = hook.messages
    said = [line for line in message["message"].splitlines() if line.startswith("Customers")]
    assert len(said) == 1, message["message"]
    assert said[0].startswith("Customers of checkout (real users, last 7 days): "), said
    assert "CSAT 40% with poor INP (n=40, 95% 26.3–55.4%)" in said[0], said


@pytest.mark.parametrize(
    "said",
    [
        "4111\x011111\x011111\x011111",
        "4111  1111  1111  1111",
        "4111 - 1111 - 1111 - 1111",
        "4111–1111–1111–1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "41\u200b11111111111111",
        "4111/1111/1111/1111",
        "٤١١١١١١١١١١١١١١١",
        "x" * 490 + " 4111 1111 1111 1111",
    ],
)
def test_no_card_number_survives_in_a_comment(said: str) -> None:
    from observer.rum.model import comment

    kept = comment(said) or ""
    digits = [c for c in kept if c.isdigit()]
    assert len(digits) < 13, kept[-60:]
    assert len(kept) <= 500


@pytest.mark.parametrize(
    "said", ["jo.doe@почта.рф", "jo@example.香港", "jo＠example．com", "a.b+c@mail.example.org"]
)
def test_no_email_address_survives_in_a_comment(said: str) -> None:
    from observer.rum.model import comment

    assert comment(f"write to {said} please") == "write to [email] please"


def test_one_voice_per_session_and_the_task_of_the_answer(tmp_path: Path) -> None:
    from conftest import observer

    loud = [{"k": "feedback", "id": f"f{i}", "task": "checkout", "csat": 1} for i in range(50)]
    batches = [
        snippet("loud", "l1", [{"k": "vital", "id": "inp", "n": "INP", "v": 900}, *loud]),
        # Began checkout, but answered about search: not a checkout answer.
        snippet("other", "l2", [{"k": "task", "id": "b", "phase": "begin", "task": "checkout"},
                                {"k": "feedback", "id": "f", "task": "search", "csat": 1}]),
    ]  # fmt: skip
    config = {
        "rum": {"rate_limit": "off"},
        "budgets": [{"name": "happy", "source": "rum", "metric": "csat", "task": "checkout",
                     "threshold": "mean >= 3", "confidence": "off"}],
    }  # fmt: skip
    with daemon(tmp_path, config) as (_, rum):
        for batch in batches:
            assert rum.post(batch).status_code in (200, 202, 204)
        data = observer("report", str(rum.file), "--db", str(rum.db), "--json")
        judged = observer("budgets", str(rum.file), "--db", str(rum.db), "--json")
    groups = {(g["kind"], g["name"]): g for g in json.loads(data.stdout)["groups"]}
    assert groups[("task", "checkout")]["csat"]["inp"]["poor"]["n"] == 1  # not 50
    (happy,) = judged.json()["budgets"]
    assert happy["samples"] == 50  # a budget counts answers; the search answer is not one


def test_budgets_on_answers_refuse_what_cannot_be_judged(tmp_path: Path) -> None:
    from conftest import observer

    path = tmp_path / "probes.yaml"
    path.write_text(
        json.dumps(
            {
                "budgets": [
                    {"name": "a", "source": "rum", "metric": "csat", "threshold": "mean >= 7"},
                    {"name": "b", "source": "rum", "metric": "csat",
                     "threshold": "rate >= 80%", "warn": "mean >= 4.2"},
                    {"name": "c", "source": "rum", "metric": "completion:checkout",
                     "task": "checkout", "threshold": "rate >= 90%"},
                    {"name": "d", "source": "rum", "metric": "ces", "threshold": "rate >= 50%"},
                    {"name": "e", "source": "rum", "metric": "csat", "threshold": "score >= 3"},
                ]
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    done = observer("validate", str(path))
    assert done.code == 2, done.stderr
    out = done.stderr
    assert "budgets[0].threshold: csat answers lie from 1 to 5" in out, out
    assert "budgets[1].warn: judge csat's threshold and warn alike" in out, out
    assert "budgets[2].task: completion:checkout names its task already" in out, out
    assert "budgets[3].threshold: rate is a share; ces is judged by a value" in out, out
    assert "budgets[4].threshold: score is NPS's aggregate" in out, out


def test_the_real_user_page_lists_comments_as_text(tmp_path: Path) -> None:
    said = "<script>alert(1)</script> slow! write to jo@example.com"
    answer = {"k": "feedback", "id": "f", "task": "checkout", "csat": 2, "comment": said}
    batch = snippet("s1", "l1", [{**answer, "u": "https://shop.example/checkout"}])
    with daemon(tmp_path, {"rum": {"rate_limit": "off"}}) as (_, rum):
        assert rum.post(batch).status_code in (200, 202, 204)
        html = httpx.get(f"{rum.url}/rum", timeout=30).text
    card = html[html.index('id="comments"') : html.index("Errors real users hit")]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; slow! write to [email]" in card, card
    assert "<script>alert(1)" not in html
    assert "<td>CSAT 2</td><td>checkout</td><td><code>/checkout</code></td>" in card, card


def test_report_and_survey_say_what_is_wrong(tmp_path: Path) -> None:
    from conftest import observer

    path = tmp_path / "probes.yaml"
    path.write_text("probes: []\n", encoding="utf-8")
    for window in ("soon", "0s"):
        done = observer("report", str(path), "--window", window, "--db", str(tmp_path / "o.db"))
        assert done.code == 2 and "--window: " in done.stderr, done.stderr
    done = observer("report", str(path), "--db", str(tmp_path / "o.db"))
    assert done.code == 0 and "no answers or task sessions for any task or page" in done.stdout
    path.write_text("rum:\n  survey: {after: checkout, ask: stars, sample: 0}\n", encoding="utf-8")
    done = observer("validate", str(path))
    assert done.code == 2, done.stderr
    assert f"{path}:2:34: rum.survey.ask: must be one of 'csat', 'ces' or 'nps'" in done.stderr, (
        done.stderr
    )
    assert f"{path}:2:49: rum.survey.sample: Input should be greater than 0" in done.stderr
