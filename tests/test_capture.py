"""`capture`: a value of the page kept for later steps, in real Chromium through the CLI.

The order page shows an order number, a form control, a link and a secret token; the history
page lists orders. Journeys capture each kind of value, use them in later steps, and the
tests read `observer run --json` and the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import dump_database, observer, rows
from pages import Page, PageServer

TOKEN = "tok-5f1c9e0b7a"  # the secret a page shows once

ORDER = f"""<!doctype html><title>Order confirmed</title>
<h1>Thank you</h1>
<p>Order <strong id="order-number">#4711</strong> is confirmed.</p>
<label>Reference <input id="ref" value="R-99"></label>
<a id="track" href="/track?id=T123&amp;lang=en">Track it</a>
<p>Your one-time token: <code id="token">{TOKEN}</code></p>"""

HISTORY = """<!doctype html><title>Orders</title><h1>Your orders</h1>
<ul id="orders"><li>Order #4710</li><li>Order #4711</li></ul>
<form action="/search"><input id="q" name="q"><button>Search</button></form>"""

TRACK = "<!doctype html><title>Tracking</title><h1>Parcel</h1><p id=where>in transit</p>"


def journeys(base: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "order",
            "journey": [
                {"goto": f"{base}/done?order=4711"},
                {"capture": {"name": "order", "selector": "#order-number", "regex": r"#(\d+)"}},
                {"capture": {"name": "ref", "selector": "#ref"}},
                {
                    "capture": {
                        "name": "track",
                        "selector": "#track",
                        "attribute": "href",
                        "regex": r"id=(\w+)",
                    }
                },
                {"capture": {"name": "from_url", "url_regex": r"order=(\d+)"}},
                {"capture": {"name": "whole", "selector": "#order-number", "regex": r"\d+"}},
                {"capture": {"name": "token", "selector": "#token", "secret": True}},
                # A literal $ beside a captured value (CSS "ends with").
                {"expect_visible": 'a[href$="=${track}&lang=en"]'},
                {"goto": f"{base}/orders"},
                {"expect_text": {"selector": "#orders", "text": "Order #${order}"}},
                {"expect_text": "Order #${from_url}"},
                # $$ stays a literal dollar in a step that uses a captured value.
                {"fill": {"selector": "#q", "value": "$$5 ${ref}"}},
                {"capture": {"name": "typed", "selector": "#q"}},
                {"fill": {"selector": "#q", "value": "${token}"}},
                {"goto": f"{base}/track?id=${{track}}"},
                {"expect_text": {"selector": "#where", "text": "in transit"}},
                {"expect_url": "**/track?id=${track}"},
            ],
        },
        {
            "name": "secret echoed",
            "journey": [
                {"goto": f"{base}/done"},
                {"capture": {"name": "token", "selector": "#token", "secret": True}},
                # The run learns the secret: it then shows in a URL and in a failure.
                {"goto": f"{base}/track?id=${{token}}"},
                {"expect_url": "**/track?id=other", "timeout": "500ms"},
            ],
        },
        {
            "name": "no element",
            "journey": [
                {"goto": f"{base}/done"},
                {"capture": {"name": "gone", "selector": "#no-such"}, "timeout": "500ms"},
            ],
        },
        {
            "name": "no match",
            "journey": [
                {"goto": f"{base}/done"},
                {"capture": {"name": "letters", "selector": "#order-number", "regex": "[a-z]+"}},
            ],
        },
        {
            "name": "url no match",
            "journey": [
                {"goto": f"{base}/orders"},
                {"capture": {"name": "id", "url_regex": r"order=(\d+)"}},
            ],
        },
        {
            "name": "wrong value",
            "journey": [
                {"goto": f"{base}/done"},
                {"capture": {"name": "order", "selector": "#order-number"}},
                {"goto": f"{base}/orders"},
                {"expect_text": {"selector": "#orders", "text": "${order}0"}, "timeout": "500ms"},
            ],
        },
    ]


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, str]]:
    folder = tmp_path_factory.mktemp("capture")
    pages = {"/done": Page(ORDER), "/orders": Page(HISTORY), "/track": Page(TRACK)}
    with PageServer(pages) as site:
        config = {
            "settings": {"database": "capture.db", "settle": "off", "trace": "off"},
            "probes": journeys(site.url),
        }
        path = folder / "probes.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), "utf-8")
        done = observer("run", str(path), "--json")
        assert done.code == 1, done.stderr + done.stdout  # the failing ones fail
        results = {r["probe"]: r for r in done.json()["results"]}
        yield results, folder / "capture.db", done.stdout


def explain(result: dict[str, Any]) -> str:
    return json.dumps([(s["name"], s["outcome"], s["error"]) for s in result["steps"]], indent=1)


def test_captured_values_reach_later_steps(ran: tuple[dict[str, Any], Path, str]) -> None:
    results, _, _ = ran
    result = results["order"]
    assert result["outcome"] == "pass", explain(result)
    captured = [s["captured"] for s in result["steps"] if s["action"] == "capture"]
    assert captured == [
        {"order": "4711"},  # regex group 1
        {"ref": "R-99"},  # a form control's value
        {"track": "T123"},  # an attribute, narrowed by a regex
        {"from_url": "4711"},  # from the URL
        {"whole": "4711"},  # a regex without a group: the whole match
        {"token": "***"},  # secret
        {"typed": "$5 R-99"},  # $$ typed as $, the captured value as it is
    ]
    # Steps are named by their template: the value never shows in a name.
    names = [s["name"] for s in result["steps"]]
    assert "expect_text Order #${order} in #orders" in names
    assert 'expect_visible a[href$="=${track}&lang=en"]' in names
    assert result["steps"][-3]["url"].endswith("/track?id=T123")
    assert all(s["captured"] is None for s in result["steps"] if s["action"] != "capture")


def test_a_secret_capture_is_masked_everywhere(ran: tuple[dict[str, Any], Path, str]) -> None:
    results, db, stdout = ran
    assert TOKEN not in stdout
    assert TOKEN not in dump_database(db)
    stored = rows(db, "select captured from steps where captured is not null order by run_id, idx")
    assert {"token": "***"} in [json.loads(r["captured"]) for r in stored]
    # It was typed into the search field, by a step named by its template.
    fills = [s for s in results["order"]["steps"] if s["action"] == "fill"]
    assert [(s["outcome"], s["name"]) for s in fills] == [("pass", "fill #q"), ("pass", "fill #q")]


def test_a_secret_capture_is_masked_where_the_run_shows_it(
    ran: tuple[dict[str, Any], Path, str],
) -> None:
    results, db, _ = ran
    result = results["secret echoed"]
    assert result["outcome"] == "fail", explain(result)
    went, failed = result["steps"][2:]
    assert went["url"].endswith("/track?id=***")
    assert "/track?id=***" in failed["error"]
    assert "/track?id=***" in result["error"]
    stored = rows(db, "select url, error from steps where url like '%/track?id=***'")
    assert len(stored) == 2


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        (
            "no element",
            "capture `#no-such`: no element matches (waited 0.5s, the step timeout)",
        ),
        ("no match", "capture `#order-number`: its text '#4711' does not match /[a-z]+/"),
        ("url no match", "capture: the URL http://"),
        (
            "wrong value",
            "expect_text `#orders`: holds 'Order #4710 Order #4711', not '#47110'",
        ),
    ],
)
def test_a_capture_that_finds_nothing_fails_the_step(
    ran: tuple[dict[str, Any], Path, str], probe: str, expected: str
) -> None:
    results, _, _ = ran
    result = results[probe]
    assert result["outcome"] == "fail", explain(result)
    failed = result["steps"][result["failed_step"]]
    assert failed["error"].startswith(expected), failed["error"]
    if probe == "url no match":
        assert failed["error"].endswith(r"/orders does not match /order=(\d+)/")


def test_a_secret_field_named_by_a_captured_value_is_masked(tmp_path: Path) -> None:
    """Masks come from the filled-in step: the template's selector is not a selector."""
    from observer.config import load_project
    from observer.journey import _fill_in, secret_selectors

    path = tmp_path / "probes.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "probes": [
                    {
                        "name": "login",
                        "journey": [
                            {"goto": "http://127.0.0.1:9/"},
                            {"capture": {"name": "id", "selector": "#user-id"}},
                            {"fill": {"selector": "#pw-${id}", "value": "s3cr3t$", "secret": True}},
                        ],
                    }
                ]
            }
        ),
        "utf-8",
    )
    steps = load_project(path).steps["login"]
    assert secret_selectors(steps) == []  # known once the id is captured
    secrets: set[str] = set()
    masked: list[str] = []
    filled = _fill_in(steps[2], {"id": "7"}, secrets, masked)
    assert filled.fill.selector == "#pw-7" and filled.fill.value == "s3cr3t$"
    assert masked == ["#pw-7"] and secrets == {"s3cr3t$"}
