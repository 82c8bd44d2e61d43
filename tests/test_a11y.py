"""Accessibility in journeys, as a user meets it: `expect_accessible` failing on a page with
known violations and passing once they are fixed, audits that store what they find without
failing the journey, a11y_violations budgets, and `observer check --baseline` naming the new
and the fixed. Real Chromium, the real axe-core bundle, pages served on 127.0.0.1."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import observer, rows
from pages import Page, PageServer

GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
# Three known violations: an image without alt text, an input without a label, and pale
# grey text on white.
BROKEN = f"""<!doctype html><html lang="en"><head><title>Shop</title></head><body><main>
<h1>Shop</h1>
<img class="hero" src="{GIF}">
<input id="q" type="text">
<p class="faint" style="color:#bbb;background:#fff">Free delivery on every order</p>
<a href="/next">next</a>
</main></body></html>"""
FIXED = f"""<!doctype html><html lang="en"><head><title>Shop</title></head><body><main>
<h1>Shop</h1>
<img class="hero" alt="Our shop" src="{GIF}">
<label for="q">Search</label><input id="q" type="text">
<p class="faint" style="color:#333;background:#fff">Free delivery on every order</p>
<a href="/next">next</a>
</main></body></html>"""
NEXT = """<!doctype html><html lang="en"><head><title>Next</title></head><body><main>
<h1>Next</h1>{extra}</main></body></html>"""
KNOWN = {"image-alt", "label", "color-contrast"}


def journey_file(write: Any, url: str, step: str = "expect_accessible:", **extra: str) -> Path:
    settings = "".join(f"\n  {k}: {v}" for k, v in extra.items())
    text = (
        f"settings:\n  database: obs.db{settings}\n"
        f"probes:\n  - name: shop\n    journey:\n      - goto: {url}/\n      - {step}\n"
    )
    path: Path = write(text)
    return path


def only(result: dict[str, Any]) -> dict[str, Any]:
    assert len(result["results"]) == 1, result["results"]
    run: dict[str, Any] = result["results"][0]
    return run


def test_expect_accessible_fails_listing_exactly_the_known_violations(write: Any) -> None:
    with PageServer({"/": Page(BROKEN)}) as site:
        path = journey_file(write, site.url)
        done = observer("run", str(path), "--json")
    assert done.code == 1, done.stderr
    run = only(done.json())
    assert run["outcome"] == "fail"
    step = run["steps"][1]
    assert step["action"] == "expect_accessible" and step["outcome"] == "fail"
    assert {v["rule"] for v in run["violations"]} == KNOWN
    assert all(v["source"] == "step" for v in run["violations"])
    # One line per rule: its impact, how many elements, the first one, the help URL.
    lines = step["error"].splitlines()
    assert lines[0].startswith("expect_accessible: 3 accessibility rules broken at serious")
    listed = {re.match(r"\s+([a-z-]+) \(", line).group(1) for line in lines[1:]}  # type: ignore[union-attr]
    assert listed == KNOWN
    image = next(line for line in lines[1:] if "image-alt" in line)
    assert re.search(r"image-alt \(critical\): 1 element, first `[^`]*img[^`]*`", image), image
    assert "https://dequeuniversity.com/rules/axe/" in image

    # The human output says the same.
    with PageServer({"/": Page(BROKEN)}) as site:
        human = observer("run", str(journey_file(write, site.url)))
    assert "image-alt (critical): 1 element, first `" in human.stdout
    assert "label (critical): 1 element, first `#q`" in human.stdout


def test_the_same_page_fixed_passes(write: Any) -> None:
    with PageServer({"/": Page(FIXED)}) as site:
        done = observer("run", str(journey_file(write, site.url)), "--json")
    assert done.code == 0, done.stdout + done.stderr
    run = only(done.json())
    assert run["outcome"] == "pass" and run["violations"] == [] and run["a11y_pages"] == 1


@pytest.mark.parametrize(
    ("step", "left"),
    [
        # Only critical: the pale text (serious) does not fail, but is still kept.
        ("expect_accessible: {impact: critical}", {"image-alt", "label"}),
        ("expect_accessible: {rules: {color-contrast: false, label: false}}", {"image-alt"}),
        ('expect_accessible: {exclude: ["img.hero", "#q"]}', {"color-contrast"}),
    ],
)
def test_impact_rules_and_exclude_choose_what_fails(write: Any, step: str, left: set[str]) -> None:
    with PageServer({"/": Page(BROKEN)}) as site:
        done = observer("run", str(journey_file(write, site.url, step)), "--json")
    run = only(done.json())
    error = run["steps"][1]["error"] or ""
    failing = {m for m in KNOWN if f"  {m} (" in error}
    assert failing == left, error


def test_audit_stores_violations_and_check_baseline_flags_only_the_new(
    write: Any, tmp_path: Path
) -> None:
    state = {"extra": "", "main": BROKEN}
    pages = {
        "/": Page(lambda _: state["main"]),
        "/next": Page(lambda _: NEXT.format(extra=state["extra"])),
    }
    with PageServer(pages) as site:
        path = write(
            f"""
            settings:
              database: obs.db
              accessibility: audit
            probes:
              - name: browse
                journey:
                  - goto: {site.url}/
                  - click: text=next
                  - expect_title: Next
            budgets:
              - name: accessible
                probe: browse
                metric: a11y_violations
                impact: critical
                threshold: max <= 5
              - name: accessible next page
                probe: browse
                metric: a11y_violations
                page: /next
                threshold: max == 0
            """
        )
        first = observer("check", str(path), "--runs", "1", "--json")
        # The journey passes: an audit never fails it.
        assert first.code == 0, first.stdout + first.stderr
        report = first.json()
        run = only(report)
        assert run["outcome"] == "pass" and run["a11y_pages"] == 2
        assert {(v["rule"], v["source"]) for v in run["violations"]} == {
            (rule, "audit") for rule in KNOWN
        }
        budgets = {b["name"]: b for b in report["budgets"]}
        assert budgets["accessible"]["values"] == [2.0]  # image-alt and label are critical
        assert budgets["accessible next page"]["values"] == [0.0]
        # Stored per run, page, rule and target.
        stored = rows(
            tmp_path / "obs.db", "select page, rule, impact, target, source from a11y_violations"
        )
        assert {(r["page"], r["rule"]) for r in stored} == {("/", rule) for rule in KNOWN}
        assert {r["target"] for r in stored if r["rule"] == "label"} == {"#q"}
        baseline = tmp_path / "baseline.json"
        baseline.write_text(first.stdout, encoding="utf-8")
        assert {v["rule"] for v in report["accessibility"]["violations"]} == KNOWN

        # The same site against its own baseline: nothing new.
        same = observer("check", str(path), "--runs", "1", "--baseline", str(baseline), "--json")
        assert same.code == 0, same.stdout
        assert same.json()["accessibility"]["new"] == []

        # A button without a name appears on the second page: that one is new, nothing else.
        state["extra"] = '<button class="buy"></button>'
        worse = observer("check", str(path), "--runs", "1", "--baseline", str(baseline), "--json")
        assert worse.code == 1, worse.stdout
        compared = worse.json()["accessibility"]
        assert [(f["rule"], f["page"], f["fails"]) for f in compared["new"]] == [
            ("button-name", "/next", True)
        ]
        assert compared["fixed"] == []
        human = observer("check", str(path), "--runs", "1", "--baseline", str(baseline))
        assert human.code == 1
        assert "1 new, 0 fixed" in human.stdout
        assert re.search(r"new   browse: button-name \(critical\) `[^`]+` on /next", human.stdout)
        assert "1 new accessibility violations" in human.stdout

        # The label comes back: the input's violation is listed as fixed; the gate passes.
        state["extra"] = ""
        state["main"] = BROKEN.replace('<input id="q"', '<input id="q" aria-label="Search"')
        better = observer("check", str(path), "--runs", "1", "--baseline", str(baseline), "--json")
        assert better.code == 0, better.stdout
        compared = better.json()["accessibility"]
        assert compared["new"] == []
        assert [(f["rule"], f["target"]) for f in compared["fixed"]] == [("label", "#q")]


def test_a_new_violation_below_the_probes_impact_is_listed_but_passes(
    write: Any, tmp_path: Path
) -> None:
    state = {"main": FIXED}
    with PageServer({"/": Page(lambda _: state["main"])}) as site:
        path = journey_file(write, site.url, "expect_title: Shop", accessibility="audit")
        first = observer("check", str(path), "--runs", "1", "--json")
        baseline = tmp_path / "baseline.json"
        baseline.write_text(first.stdout, encoding="utf-8")
        # Pale text is serious; the probe's gate is critical.
        state["main"] = FIXED.replace("color:#333", "color:#bbb")
        path = journey_file(
            write,
            site.url,
            "expect_title: Shop",
            accessibility="{mode: audit, impact: critical}",
        )
        done = observer("check", str(path), "--runs", "1", "--baseline", str(baseline), "--json")
    assert done.code == 0, done.stdout
    report = done.json()
    assert [(f["rule"], f["fails"]) for f in report["accessibility"]["new"]] == [
        ("color-contrast", False)
    ]


def test_a_baseline_without_an_accessibility_section_is_said(write: Any, tmp_path: Path) -> None:
    with PageServer({"/": Page(BROKEN)}) as site:
        path = journey_file(write, site.url, "expect_title: Shop", accessibility="audit")
        old = tmp_path / "old.json"
        old.write_text(json.dumps({"budgets": []}), encoding="utf-8")
        done = observer("check", str(path), "--runs", "1", "--baseline", str(old))
        assert done.code == 0, done.stdout + done.stderr
        assert "has no accessibility section" in done.stdout
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"budgets": [], "accessibility": {"violations": [{}]}}))
        done = observer("check", str(path), "--runs", "1", "--baseline", str(bad))
    assert done.code == 2
    assert "accessibility.violations[0] needs probe, rule and target" in done.stderr


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "      - expect_accessible: {impact: huge}\n",
            "probes.yaml:5:37: probes[0].journey[1].expect_accessible.impact: must be one of "
            "'minor', 'moderate', 'serious' or 'critical'",
        ),
        (
            "      - expect_accessible: {tag: [wcag2a]}\n",
            "probes.yaml:5:29: probes[0].journey[1].expect_accessible.tag: unknown key "
            "(did you mean 'tags'?)",
        ),
    ],
)
def test_bad_accessibility_keys_say_where_and_what(
    write: Any, text: str, expected: str, tmp_path: Path
) -> None:
    path = write(
        "probes:\n  - name: shop\n    journey:\n      - goto: http://127.0.0.1:9/\n" + text
    )
    done = observer("validate", str(path), cwd=tmp_path)
    assert done.code == 2
    assert expected in done.stderr, done.stderr


def test_a_budget_impact_needs_the_accessibility_metric(write: Any, tmp_path: Path) -> None:
    path = write(
        """
        probes:
          - name: shop
            journey:
              - goto: http://127.0.0.1:9/
        budgets:
          - name: fast
            probe: shop
            metric: lcp
            impact: serious
            threshold: p75 < 2s
        """
    )
    done = observer("validate", str(path), cwd=tmp_path)
    assert done.code == 2
    assert "budgets[0].impact: impact picks accessibility violations: use a11y_violations" in (
        done.stderr
    )


def test_a_result_spooled_by_an_older_observer_is_recorded_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """A runner's spool keeps results pickled; one written before runs had conditions and
    violations still reaches the database (else the spool, and every run after it, would
    wait forever)."""
    import time

    from observer.results import Outcome, ProbeResult
    from observer.store import open_store
    from observer.store.spool import Spool

    old = ProbeResult("shop", "journey", Outcome.PASS, time.time(), 12.0)
    for name in ("conditions", "violations", "a11y_pages", "a11y_checked", "a11y_unchecked"):
        del old.__dict__[name]  # as the older class made it
    spool = Spool(tmp_path / "spool.db")
    spool.add(old, "serve")
    first = spool.oldest()
    assert first is not None
    _, back, _, _ = first
    assert back.violations == [] and back.conditions is None and back.a11y_pages is None
    store = open_store(str(tmp_path / "obs.db"))
    try:
        store.record(back, source="serve")
        assert [r.probe for r in store.runs()] == ["shop"]
    finally:
        store.close()


def test_an_audit_hands_the_page_no_time_the_journey_does_not_count(write: Any) -> None:
    """After a click to a page still loading, the audit waits for nothing: the next step
    waits for the load itself, as it would with no audit, and the unloaded page is checked
    once it has loaded (here: as the journey's last page)."""
    slow = """<!doctype html><html lang="en"><head><title>Slow</title></head><body><main>
    <h1>Slow</h1><img alt="late" src="/late.gif"></main></body></html>"""
    pages = {
        "/": Page(FIXED.replace('href="/next"', 'href="/slow"')),
        "/slow": Page(slow),
        "/late.gif": Page("GIF89a", delay=2.5, content_type="image/gif"),
    }
    with PageServer(pages) as site:
        path = write(
            f"""
            settings: {{database: obs.db, accessibility: audit}}
            probes:
              - name: browse
                journey:
                  - goto: {site.url}/
                  - click: text=next
                  - wait_for: {{load_state: load}}
            """
        )
        done = observer("run", str(path), "--json")
    run = only(done.json())
    assert run["outcome"] == "pass", run["error"]
    # The image takes 2.5 s: the step that waits for the load waited for it.
    assert run["steps"][2]["duration_ms"] >= 2000, run["steps"]
    assert run["a11y_pages"] == 2 and run["a11y_checked"] == ["/", "/slow"]
    assert run["a11y_unchecked"] == []


def test_an_audit_at_the_journeys_time_limit_ends_in_a_fail_not_an_internal_error(
    write: Any,
) -> None:
    pages = {
        "/": Page(FIXED.replace('href="/next"', 'href="/slow"')),
        "/slow": Page("<title>never</title>", delay=30),
    }
    with PageServer(pages) as site:
        path = write(
            f"""
            settings: {{database: obs.db, accessibility: audit}}
            probes:
              - name: browse
                timeout: 3s
                journey:
                  - goto: {site.url}/
                  - click: text=next
                  - expect_title: never
            """
        )
        done = observer("run", str(path), "--json")
    run = only(done.json())
    assert run["outcome"] == "fail", run
    assert "internal error" not in (run["error"] or "")
    assert "ran out of time (3s)" in run["error"]
    assert run["a11y_checked"] == ["/"]


def test_a_probes_accessibility_keys_fall_back_to_settings(write: Any) -> None:
    from observer.config import load_project
    from observer.journey import accessibility_of

    path = write(
        """
        settings:
          accessibility: {mode: audit, tags: [wcag2a]}
        probes:
          - name: stricter
            accessibility: {impact: critical}
            journey: [{goto: "http://127.0.0.1:9/"}]
          - name: quiet
            accessibility: off
            journey: [{goto: "http://127.0.0.1:9/"}]
          - name: plain
            journey: [{goto: "http://127.0.0.1:9/"}]
        """
    )
    project = load_project(path, env={})
    settings = project.config.settings.accessibility
    got = {p.name: accessibility_of(p, settings) for p in project.probes}
    assert (got["stricter"].mode, got["stricter"].impact, got["stricter"].tags) == (
        "audit",
        "critical",
        ["wcag2a"],
    )
    assert got["quiet"].mode == "off"
    assert got["plain"] == settings


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "{tags: [wcag2aa, best-practices]}",
            "probes[0].journey[1].expect_accessible.tags[1]: axe-core has no rule tagged "
            "'best-practices' (did you mean 'best-practice'?)",
        ),
        (
            "{rules: {colour-contrast: false}}",
            "probes[0].journey[1].expect_accessible.rules.colour-contrast: axe-core has no rule "
            "'colour-contrast' (did you mean 'color-contrast'?)",
        ),
        ("{tags: []}", "probes[0].journey[1].expect_accessible.tags: needs at least one tag"),
    ],
)
def test_tags_and_rules_axe_does_not_know_are_refused_before_anything_runs(
    write: Any, args: str, expected: str, tmp_path: Path
) -> None:
    path = write(
        "probes:\n  - name: shop\n    journey:\n      - goto: http://127.0.0.1:9/\n"
        f"      - expect_accessible: {args}\n"
    )
    for command in ("validate", "run"):
        done = observer(command, str(path), cwd=tmp_path)
        assert done.code == 2, done.stdout
        assert re.search(r"probes\.yaml:5:\d+: ", done.stderr), done.stderr
        assert expected in done.stderr, done.stderr


def test_a_settings_tag_axe_does_not_know_says_its_line(write: Any, tmp_path: Path) -> None:
    path = write(
        "settings:\n  accessibility: {mode: audit, tags: [wcag99]}\n"
        "probes:\n  - name: shop\n    journey:\n      - goto: http://127.0.0.1:9/\n"
    )
    done = observer("validate", str(path), cwd=tmp_path)
    assert done.code == 2
    assert re.search(
        r"probes\.yaml:2:\d+: settings\.accessibility\.tags\[0\]: axe-core has no rule tagged "
        r"'wcag99'",
        done.stderr,
    ), done.stderr
