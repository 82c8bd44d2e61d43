"""The dashboard's accessibility and conditions, as on-call staff see them in Chromium.

Runs of a journey are recorded as the runner makes them (ProbeResult with conditions,
violations and pages checked): one under a throttled phone with violations on two pages (one
target, page URL, help text and help URL carrying markup or a `javascript:` link), one checked
with none found, one not checked, an older one with one violation, a CI check's run and an
attempt a retry replaced (neither counted). The dashboard is `create_app` served on loopback.
The store's count over time is checked on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from playwright.sync_api import Browser, Locator, Page, sync_playwright

from observer.background import BackgroundServer
from observer.browser import find_chromium, launch_args
from observer.config import load_project
from observer.results import Outcome, ProbeResult, StepResult, Violation
from observer.server import create_app
from observer.store import SQLiteStore, Store, open_store

SHOTS = ROOT / "test-artifacts" / "dashboard-a11y"
SITE = "https://shop.example"
PHONE = {"device": "Moto G4", "network": "slow-4g", "cpu_slowdown": 4}
PHONE_LABEL = "Moto G4 · slow-4g · 4× CPU"
DESKTOP = {"device": None, "network": "slow-3g", "cpu_slowdown": None}
HOSTILE_TARGET = "<script>window.__pwned=1</script>"
HOSTILE_PAGE = f"{SITE}/<img src=x onerror=window.__pwned=2>"
HOSTILE_HELP = "<b id=bold>Images must have alternate text</b>"
AXE = "https://dequeuniversity.com/rules/axe/4.10"


def steps() -> list[StepResult]:
    return [
        StepResult(0, "open home", "goto", Outcome.PASS, 0, 300, url=f"{SITE}/"),
        StepResult(1, "home is accessible", "expect_accessible", Outcome.PASS, 300, 200),
        StepResult(2, "open product", "goto", Outcome.PASS, 500, 300),
    ]


def violation(rule: str, impact: str, target: str, url: str, **kw: Any) -> Violation:
    return Violation(
        rule=rule,
        impact=impact,
        target=target,
        url=url,
        step_index=kw.pop("step_index", 1),
        help=kw.pop("help", f"Help for {rule}"),
        help_url=kw.pop("help_url", f"{AXE}/{rule}"),
        source=kw.pop("source", "step"),
    )


def result(at: float, **kw: Any) -> ProbeResult:
    fields: dict[str, Any] = {"outcome": Outcome.PASS, "completed": True, "steps": steps()}
    return ProbeResult(
        probe="checkout", kind="journey", started_at=at, duration_ms=800, **(fields | kw)
    )


# The phone run's violations: the same (rule, target) on two pages counts once.
PHONE_VIOLATIONS = [
    violation("color-contrast", "serious", "a.promo", f"{SITE}/"),
    violation("image-alt", "critical", "img.hero", f"{SITE}/", help=HOSTILE_HELP),
    violation(
        "label",
        "critical",
        HOSTILE_TARGET,
        f"{SITE}/",
        help_url="javascript:window.__pwned=3",
    ),
    violation("color-contrast", "serious", "a.promo", HOSTILE_PAGE, step_index=2, source="audit"),
    violation("region", "moderate", "div.banner", HOSTILE_PAGE, step_index=2, source="audit"),
]


@dataclass
class World:
    url: str
    now: float
    phone: int  # violations on two pages
    clean: int  # checked, none found
    unchecked: int
    older: int


def record_runs(store: Store, now: float) -> dict[str, int]:
    """The runs of the world, oldest first; their ids by name."""
    ids = {}
    ids["older"] = store.record(
        result(
            now - 7200,
            conditions=DESKTOP,
            a11y_pages=1,
            violations=[violation("image-alt", "critical", "img.hero", f"{SITE}/")],
        )
    )
    # A CI check's run, and an attempt a retry replaced: the chart leaves both out.
    store.record(
        result(
            now - 5400,
            a11y_pages=1,
            violations=[violation(f"rule-{i}", "minor", f"p.x{i}", f"{SITE}/") for i in range(9)],
        ),
        source="check",
    )
    replaced = result(
        now - 3700,
        a11y_pages=1,
        final=False,
        outcome=Outcome.FAIL,
        violations=[violation(f"rule-{i}", "minor", f"p.y{i}", f"{SITE}/") for i in range(7)],
    )
    retried = result(now - 3600, conditions=PHONE, a11y_pages=2, violations=PHONE_VIOLATIONS)
    retried.retried = [replaced]
    ids["phone"] = store.record(retried)
    ids["clean"] = store.record(result(now - 1800, conditions=PHONE, a11y_pages=1))
    ids["unchecked"] = store.record(result(now - 600))
    return ids


def probe_file(folder: Path) -> Path:
    file = folder / "probes.yaml"
    file.write_text(
        textwrap.dedent(
            """
            settings: {database: observer.db, artifacts: artifacts}
            probes:
              - name: checkout
                journey:
                  - goto: http://127.0.0.1:9/
              - name: health
                http: http://127.0.0.1:9/health
            budgets:
              - name: few violations
                probe: checkout
                metric: a11y_violations
                threshold: max <= 3
              - name: no critical ones
                probe: checkout
                metric: a11y_violations
                impact: critical
                threshold: max == 0
            """
        ),
        encoding="utf-8",
    )
    return file


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("dashboard-a11y")
    project = load_project(probe_file(folder))
    store = SQLiteStore(folder / "observer.db")
    now = time.time()
    ids = record_runs(store, now)
    server = BackgroundServer()
    try:
        server.start(create_app(project, store, schedule=False))
        yield World(url=server.url, now=now, **ids)
    finally:
        server.stop()
        store.close()


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(
            executable_path=find_chromium(None).path, args=launch_args(None)
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


@contextlib.contextmanager
def visit(browser: Browser, url: str, shot: str) -> Iterator[tuple[Page, str]]:
    """The page (checked for console and page errors on the way out) and its HTML."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)
        yield page, response.text()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert problems == []
    finally:
        context.close()


def table_rows(scope: Locator) -> list[list[str]]:
    """The cells' text of each data row of a table (its header row left out)."""
    out = []
    for tr in scope.locator("tr").all():
        cells = [c.strip() for c in tr.locator("td").all_inner_texts()]
        if cells:
            out.append(cells)
    return out


# ----------------------------------------------------------------------------- the run page


def test_run_page_lists_violations_per_page_with_help_links(world: World, browser: Browser) -> None:
    with visit(browser, f"{world.url}/runs/{world.phone}", "run-violations") as (page, html):
        card = page.locator("#accessibility")
        assert card.locator("h2").inner_text() == "Accessibility"
        summary = card.locator("p.muted").first.inner_text()
        assert "2 pages checked" in summary and "4 violations" in summary, summary
        # One heading and one table per page URL, in the order they were checked.
        assert card.locator("h3").all_inner_texts() == [f"{SITE}/", HOSTILE_PAGE]
        home, other = card.locator("table").all()
        assert table_rows(home) == [
            [
                "image-alt",
                "critical",
                "img.hero",
                HOSTILE_HELP,
                "step (step 2: home is accessible)",
            ],
            [
                "label",
                "critical",
                HOSTILE_TARGET,
                "Help for label",
                "step (step 2: home is accessible)",
            ],
            [
                "color-contrast",
                "serious",
                "a.promo",
                "Help for color-contrast",
                "step (step 2: home is accessible)",
            ],
        ]
        assert table_rows(other) == [
            [
                "color-contrast",
                "serious",
                "a.promo",
                "Help for color-contrast",
                "audit (after step 3: open product)",
            ],
            [
                "region",
                "moderate",
                "div.banner",
                "Help for region",
                "audit (after step 3: open product)",
            ],
        ]
        # Help links go to axe's pages; a `javascript:` one is text, not a link.
        links = {a.inner_text(): a.get_attribute("href") for a in home.locator("a").all()} | {
            a.inner_text(): a.get_attribute("href") for a in other.locator("a").all()
        }
        assert links == {
            HOSTILE_HELP: f"{AXE}/image-alt",
            "Help for color-contrast": f"{AXE}/color-contrast",
            "Help for region": f"{AXE}/region",
        }
        assert "javascript:" not in html
        # The impacts are badges coloured by how bad they are.
        badge = home.locator("tr", has_text="image-alt").locator(".state")
        assert badge.get_attribute("class") == "state critical"
        assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(220, 38, 38)"
        # Markup from the page is text: escaped in the HTML, shown literally.
        assert HOSTILE_TARGET not in html and "<img src=x" not in html
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
        assert page.locator("main script").count() == 0
        assert page.locator("main img").count() == 0
        assert page.locator("#bold").count() == 0
        assert home.locator("code", has_text="window.__pwned").inner_text() == HOSTILE_TARGET
        # The conditions it ran under, in the header.
        assert page.locator("h1 .tag").inner_text() == PHONE_LABEL


def test_run_checked_without_violations_and_run_not_checked(world: World, browser: Browser) -> None:
    with visit(browser, f"{world.url}/runs/{world.clean}", "run-clean") as (page, _):
        card = page.locator("#accessibility")
        assert card.inner_text().strip() == "Accessibility\n\n1 page checked, no violations."
        assert card.locator("table").count() == 0
        assert page.locator("h1 .tag").inner_text() == PHONE_LABEL
    with visit(browser, f"{world.url}/runs/{world.unchecked}", "run-unchecked") as (page, _):
        assert page.locator("#accessibility").count() == 0
        assert "Accessibility" not in page.locator("main").inner_text()
        # No conditions: no tag.
        assert page.locator("h1 .tag").count() == 0
    with visit(browser, f"{world.url}/runs/{world.older}", "run-older") as (page, _):
        assert page.locator("h1 .tag").inner_text() == "slow-3g"
        assert "1 page checked" in page.locator("#accessibility").inner_text()


# ----------------------------------------------------------------------------- probe, overview


def test_probe_page_shows_conditions_and_violations_over_time(
    world: World, browser: Browser
) -> None:
    with visit(browser, f"{world.url}/probes/checkout", "probe-a11y") as (page, _):
        recent = {
            r[0].split()[0]: r[0]
            for r in table_rows(page.locator(".card:has(h2:text-is('Recent runs'))"))
        }
        assert recent[f"#{world.phone}"] == f"#{world.phone} {PHONE_LABEL}"
        assert recent[f"#{world.clean}"] == f"#{world.clean} {PHONE_LABEL}"
        assert recent[f"#{world.older}"] == f"#{world.older} slow-3g"
        assert recent[f"#{world.unchecked}"] == f"#{world.unchecked}"
        card = page.locator("#accessibility")
        chart = card.locator("svg.chart")
        title = "Accessibility violations (distinct rule and element) per checked run (24 h)"
        assert chart.get_attribute("aria-label") == title
        # Three checked production runs (the CI check's and the replaced attempt left out),
        # oldest first: 1, then 4, then 0.
        points = chart.locator("polyline").first.get_attribute("points") or ""
        ys = [float(p.split(",")[1]) for p in points.split()]
        assert len(ys) == 3 and chart.locator("circle").count() == 3
        assert ys[1] < ys[0] < ys[2], ys  # higher on the chart: more violations
        # Whole numbers on the axis; the budget counting every violation is a line on it, the
        # one counting critical violations only is not.
        ticks = chart.locator("text.tick").all_text_contents()[:5]
        assert ticks == ["0", "1", "2", "3", "4"]
        assert chart.locator("text.budget-label").all_text_contents() == [
            "few violations: max <= 3"
        ]
        assert card.locator("p").inner_text() == (
            "3 runs checked with axe-core in 24 h; violations in the latest: 0, at most: 4."
        )


def test_probe_page_without_checked_runs_has_no_accessibility_chart(
    world: World, browser: Browser
) -> None:
    with visit(browser, f"{world.url}/probes/health", "probe-http") as (page, _):
        assert page.locator("#accessibility").count() == 0


def test_overview_labels_the_latest_run_with_its_conditions(world: World, browser: Browser) -> None:
    with visit(browser, f"{world.url}/", "overview-conditions") as (page, _):
        # The newest run was not throttled: no tag.
        cell = page.locator("#probes tr", has_text="checkout").locator("td").nth(2)
        assert cell.locator(".tag").count() == 0


def test_overview_tag_for_a_throttled_latest_run(tmp_path: Path, browser: Browser) -> None:
    project = load_project(probe_file(tmp_path))
    store = SQLiteStore(tmp_path / "observer.db")
    run = store.record(result(time.time() - 60, conditions=PHONE))
    server = BackgroundServer()
    try:
        server.start(create_app(project, store, schedule=False))
        with visit(browser, f"{server.url}/", "overview-throttled") as (page, _):
            cell = page.locator("#probes tr", has_text="checkout").locator("td").nth(2)
            assert cell.locator("a").get_attribute("href") == f"/runs/{run}"
            assert cell.locator(".tag").inner_text() == PHONE_LABEL
    finally:
        server.stop()
        store.close()


# ----------------------------------------------------------------------------- the store


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    target = (
        str(tmp_path / "observer.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with open_store(target) as store:
        yield store


def test_violation_counts_over_time(any_store: Store) -> None:
    now = time.time()
    ids = record_runs(any_store, now)
    assert ids
    # Another probe's checked run is not this one's.
    any_store.record(
        ProbeResult(
            "other", "journey", Outcome.PASS, now - 100, 10, a11y_pages=1,
            violations=[violation("x", "minor", "p", f"{SITE}/")],
        )
    )  # fmt: skip
    counts = any_store.violation_counts("checkout", now - 86400)
    assert counts == [
        (pytest.approx(now - 7200), 1),
        (pytest.approx(now - 3600), 4),
        (pytest.approx(now - 1800), 0),
    ]
    assert [n for _, n in any_store.violation_counts("checkout", now - 3000)] == [0]
    assert any_store.violation_counts("health", now - 86400) == []
