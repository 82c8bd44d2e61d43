"""Lab vitals a journey must not lose or misread, in real Chromium against pages made for it:
a first paint that comes after the load event, content and shifts that arrive late, clicks
that leave the page, pages left before their load event or before they settled.

One `observer run --json` runs every journey of this module; the tests read its JSON and its
database. The pages write down what they did (`/__note`), so the tests compare the figures
with the page's own clock, never with the time a test took.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import observer, rows
from pages import Page, PageServer

# Nothing contentful until 300 ms after the load event: the first paint comes late.
LATE_PAINT = """<!doctype html><title>late paint</title><body><script>
addEventListener('load', () => setTimeout(() => {
  document.body.insertAdjacentHTML('beforeend', '<h1>Finally, some content</h1>');
  navigator.sendBeacon('/__note?painted=' + performance.now());
}, 300));
</script></body>"""

# Small text at once; 400 ms after load a banner pushes it down (a layout shift) and a much
# larger heading arrives (the real largest contentful paint).
LATE_CONTENT = """<!doctype html><title>late content</title><body style="margin:0">
<p id=early>early words</p>
<script>
addEventListener('load', () => setTimeout(() => {
  document.body.insertAdjacentHTML('afterbegin',
    '<div style="height:200px;background:#ddd"></div>' +
    '<h1 style="font-size:72px;margin:0">A heading far larger than the early words</h1>');
  navigator.sendBeacon('/__note?late=' + performance.now());
}, 400));
</script></body>"""

PAGE_B = "<!doctype html><title>B</title><h1>Page B</h1><p>the next page</p>"
LINK = (
    "<!doctype html><title>{title}</title><h1>{title}</h1><p>some text</p>"
    '<p><a id=go href="{href}">onwards</a></p>{extra}'
)
# A page whose load event waits for an image the server holds back.
HEAVY = LINK.format(title="heavy", href="/b", extra='<img src="/slow.png" width=10 height=10>')
# A page that never keeps still: the box above the text grows and shrinks every 100 ms, so
# the text shifts.
BUSY = """<!doctype html><title>busy</title><div id=box style="height:10px"></div>
<h1>busy</h1><p>some text</p><p><a id=go href="/b">onwards</a></p><script>
let h = 10;
setInterval(() => {
  h = h === 10 ? 40 : 10;
  document.getElementById('box').style.height = h + 'px';
}, 100);
</script>"""


def server_pages() -> dict[str, Page]:
    return {
        "/late-paint": Page(LATE_PAINT),
        "/late-content": Page(LATE_CONTENT),
        "/a": Page(LINK.format(title="A", href="/b", extra="")),
        "/b": Page(PAGE_B),
        "/to-slow": Page(LINK.format(title="to slow", href="/slow", extra="")),
        "/slow": Page(PAGE_B, delay=3.0),
        "/heavy": Page(HEAVY),
        "/slow.png": Page("", delay=3.0, content_type="image/png"),
        "/busy": Page(BUSY),
    }


def journeys(base: str) -> list[dict[str, Any]]:
    quick = {"quiet": "500ms", "max": "1s"}
    return [
        {"name": "late paint", "journey": [{"goto": f"{base}/late-paint"}]},
        {
            "name": "late paint - settle off",
            "settle": "off",
            "journey": [{"goto": f"{base}/late-paint"}],
        },
        {"name": "late content", "journey": [{"goto": f"{base}/late-content"}]},
        {
            "name": "leaving click",
            "journey": [
                {"goto": f"{base}/a"},
                {"click": "#go"},
                {"expect_url": "**/b"},
            ],
        },
        {
            "name": "leaving click - slow page",
            "journey": [
                {"goto": f"{base}/to-slow"},
                {"click": "#go"},
                {"expect_url": "**/slow"},
                {"expect_text": "the next page"},
            ],
        },
        {
            "name": "left before load",
            "journey": [
                {"goto": {"url": f"{base}/heavy", "wait_until": "domcontentloaded"}},
                {"click": "#go"},
                {"expect_url": "**/b"},
            ],
        },
        {
            "name": "left before settled",
            "settle": quick,
            "journey": [{"goto": f"{base}/busy"}, {"click": "#go"}, {"expect_url": "**/b"}],
        },
        {"name": "never settles", "settle": quick, "journey": [{"goto": f"{base}/busy"}]},
        {"name": "calm", "journey": [{"goto": f"{base}/b"}, {"expect_text": "Page B"}]},
        # Failed journeys are read at once; the page says whether it had settled by then.
        {
            "name": "failed on a busy page",
            "settle": quick,
            "journey": [{"goto": f"{base}/busy"}, {"expect_text": "not there", "timeout": "1s"}],
        },
        {
            "name": "failed on a calm page",
            "journey": [{"goto": f"{base}/b"}, {"expect_text": "not there", "timeout": "1s"}],
        },
    ]


@pytest.fixture(scope="module")
def ran(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, Any], Path, PageServer]]:
    folder = tmp_path_factory.mktemp("vitals")
    with PageServer(server_pages()) as site:
        config = {
            "settings": {"database": "vitals.db", "concurrency": 3},
            "probes": journeys(site.url),
        }
        path = folder / "probes.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
        done = observer("run", str(path), "--json")
        assert done.code == 1, done.stderr + done.stdout
        results = {r["probe"]: r for r in done.json()["results"]}
        failed = sorted(name for name, r in results.items() if r["outcome"] != "pass")
        assert failed == ["failed on a busy page", "failed on a calm page"], failed
        yield results, folder / "vitals.db", site


def page(result: dict[str, Any], path: str) -> dict[str, Any]:
    (found,) = [p for p in result["pages"] if p["url"].split("?")[0].endswith(path)]
    return found


def test_a_first_paint_after_the_load_event_is_not_lost(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, site = ran
    painted = site.note("painted")
    assert len(painted) == 2, painted  # both journeys saw the late paint happen
    for name in ("late paint", "late paint - settle off"):
        vitals = results[name]["vitals"]
        for key in ("ttfb_ms", "fcp_ms", "lcp_ms", "cls"):
            assert vitals[key] is not None, (name, key, vitals)
        # The first paint is the late heading, not something before it.
        assert vitals["fcp_ms"] >= min(painted), (name, vitals, painted)
        assert vitals["lcp_ms"] >= vitals["fcp_ms"]
        assert vitals["fcp_ms"] > vitals["load_ms"]
        assert vitals["cls"] == 0


def test_late_content_and_shifts_are_read_once_the_page_settled(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, site = ran
    (late,) = site.note("late")
    result = results["late content"]
    vitals = result["vitals"]
    # The largest paint is the heading that arrived after load, not the early words.
    assert vitals["lcp_ms"] >= late, (vitals, late)
    assert vitals["cls"] > 0
    (only,) = result["pages"]
    assert only["partial"] is False
    # Waiting for the page to settle is not the journey's time: it ends with its last step.
    (step,) = result["steps"]
    assert result["duration_ms"] <= step["start_ms"] + step["duration_ms"] + 1


def test_a_click_that_leaves_the_page_has_an_inp(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, _ = ran
    result = results["leaving click"]
    left = page(result, "/a")
    assert left["inp_ms"] is not None and left["inp_ms"] > 0, result["pages"]
    assert left["inp_source"] in ("event", "leave")
    assert result["vitals"]["inp_ms"] == left["inp_ms"]
    arrived = page(result, "/b")
    assert arrived["inp_ms"] is None and arrived["inp_source"] is None  # nothing clicked there


def test_a_page_that_lingers_after_the_click_reports_the_browsers_timing(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, _ = ran
    # The next page takes 3 s to answer: the browser times the click on the old page first.
    left = page(results["leaving click - slow page"], "/to-slow")
    assert left["inp_source"] == "event", left
    assert left["inp_ms"] is not None and left["inp_ms"] > 0


def test_a_page_left_before_its_load_event_invents_no_load_time(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, _ = ran
    result = results["left before load"]
    heavy = page(result, "/heavy")
    assert heavy["left_before_load"] is True
    assert heavy["load_ms"] is None
    b = page(result, "/b")
    assert b["left_before_load"] is False and b["load_ms"] is not None
    # The journey's worst page for load and DOMContentLoaded is one that loaded.
    assert result["vitals"]["load_ms"] == b["load_ms"]
    assert result["vitals"]["dcl_ms"] == b["dcl_ms"]
    assert result["vitals"]["load_ms"] >= result["vitals"]["dcl_ms"]


def test_pages_read_before_they_settled_are_partial(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    results, _, _ = ran
    left = results["left before settled"]
    assert page(left, "/busy")["partial"] is True
    assert page(left, "/b")["partial"] is False
    # A last page that never keeps still is read at settle.max, and says so.
    (busy,) = results["never settles"]["pages"]
    assert busy["partial"] is True
    assert busy["lcp_ms"] is not None and busy["cls"] > 0
    (calm,) = results["calm"]["pages"]
    assert calm["partial"] is False
    # A failed journey's last page is not waited for: it is partial unless it had settled.
    (busy,) = results["failed on a busy page"]["pages"]
    assert busy["partial"] is True
    (calm,) = results["failed on a calm page"]["pages"]
    assert calm["partial"] is False  # quiet for the 1 s the step waited


def test_the_page_flags_are_in_the_database(
    ran: tuple[dict[str, Any], Path, PageServer],
) -> None:
    _, db, _ = ran
    found = rows(
        db,
        "select r.probe, v.url, v.partial, v.left_before_load, v.inp_source, v.load_ms "
        "from page_vitals v join runs r on r.id = v.run_id order by r.probe, v.seq",
    )
    by = {(r["probe"], r["url"].rsplit("/", 1)[1]): r for r in found}
    assert by[("left before load", "heavy")]["left_before_load"] == 1
    assert by[("left before load", "heavy")]["load_ms"] is None
    assert by[("never settles", "busy")]["partial"] == 1
    assert by[("calm", "b")]["partial"] == 0
    assert by[("leaving click", "a")]["inp_source"] in ("event", "leave")


def test_a_leaving_interaction_is_timed_until_the_page_was_hidden() -> None:
    """The pairing itself: the page left with an untimed click, then the page that replaced it
    says when the old one was hidden (the browser's clock, ms since the epoch)."""
    from observer.journey import _Recorder

    base = {
        "ttfb": 5.0,
        "dcl": 20.0,
        "load": 30.0,
        "fcp": 40.0,
        "lcp": 40.0,
        "cls": 0.0,
        "inp": None,
        "inp_source": None,
        "since": 100.0,
        "painted": True,
        "loaded": True,
        "settled": False,
        "prev_hidden": None,
        "left": None,
        "pending": None,
    }

    def left_a(**more: Any) -> dict[str, Any]:
        return {**base, "url": "https://s/a", "origin": 1000.0, "left": True, **more}

    def arrived_b(origin: float, hidden: float) -> dict[str, Any]:
        return {**base, "url": "https://s/b", "origin": origin, "prev_hidden": hidden}

    rec = _Recorder("n")
    rec.take(left_a(pending=1500.0))
    rec.take(arrived_b(1510.0, 1512.5))
    a, b = rec.docs.values()
    assert (a.inp_ms, a.inp_source) == (12.5, "leave")
    assert a.partial is True and a.left_before_load is False
    assert b.inp_ms is None
    # Timed by the browser after all (the page lingered): the browser's figure, and no pairing.
    rec = _Recorder("n")
    rec.take(left_a(pending=1500.0))
    rec.take(left_a(inp=24.0))
    rec.take(arrived_b(2510.0, 2600.0))
    a, _ = rec.docs.values()
    assert (a.inp_ms, a.inp_source) == (24.0, "event")
