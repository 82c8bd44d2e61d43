"""Every journey step action, in real Chromium against the demo shop.

One `run_all` (one Chromium) runs every probe of this module: the passing journeys that show
each action does what it says, and one small journey per failure that shows how each action
reports it. The tests then read the results.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import set_faults

from observer.config import load_project
from observer.demo.shop import ShopServer
from observer.results import Outcome, ProbeResult, StepResult
from observer.runner import run_all

FAST = "400ms"  # the step timeout of the steps that are meant to fail

# A page that shows what the browser context looks like from inside: viewport, pixel ratio,
# time zone and language. (No '#' in it: that would start the URL's fragment.)
CONTEXT_PAGE = (
    "data:text/html,<meta name=viewport content='width=device-width'>"
    "<title>context</title><p id=ctx></p><script>"
    "document.getElementById('ctx').textContent = 'width=' + innerWidth + ' height=' + "
    "innerHeight + ' dpr=' + devicePixelRatio + ' tz=' + "
    "Intl.DateTimeFormat().resolvedOptions().timeZone + ' lang=' + navigator.language;"
    "</script>"
)


def passing_probes(base: str) -> list[dict[str, Any]]:
    """Journeys that must pass: each action doing its job, checked by the next steps."""
    return [
        {
            "name": "navigation",
            "journey": [
                {
                    "name": "open home",
                    "timeout": "10s",
                    "goto": {"url": f"{base}/", "wait_until": "domcontentloaded"},
                },
                {"expect_title": "Demo Shop"},
                {"goto": {"url": f"{base}/products", "wait_until": "commit"}},
                {"wait_for": {"load_state": "load"}},
                {"expect_title": {"title": "Products · Demo Shop", "exact": True}},
                {"goto": {"url": f"{base}/products/999", "expect_status": [404]}},
                {"expect_text": "Product not found"},
                {"goto": {"url": f"{base}/login", "wait_until": "networkidle"}},
                {"wait_for": {"load_state": "networkidle"}},
                {"expect_url": "**/login"},
                {"expect_url": "http://127.0.0.1:*/log?n"},
                {"mark": "first"},
                {"wait": "150ms"},
                {"mark": "second"},
                {"expect_accessible": {"impact": "minor"}},
            ],
        },
        {
            "name": "login-form",
            "journey": [
                {"goto": f"{base}/login"},
                {"fill": {"selector": "#email", "value": "demo@example.com"}},
                {"fill": {"selector": "#password", "value": "demo"}},
                {"press": {"key": "Enter", "selector": "#password"}},
                {"wait_for": {"url": "**/account"}},
                {"expect_text": {"text": "Welcome, demo@example.com", "selector": "#welcome"}},
                {"expect_visible": "#nav-logout"},
                {"hover": "#nav-logout"},
            ],
        },
        {
            "name": "search",
            "journey": [
                {"goto": f"{base}/products"},
                {"fill": {"selector": "#search", "value": "mug"}},
                {"press": "Enter"},  # no selector: the focused search field gets it
                {"wait_for": {"url": "**/products?q=mug*"}},
                {"expect_text": {"text": "1 product", "selector": "#result-count"}},
                {"goto": f"{base}/products"},
                {"select": {"selector": "#sort", "label": "Price"}},
                {"click": "form[role=search] button"},
                {"wait_for": {"url": "**sort=price*"}},
                {"wait_for": "#products"},
                # Sorted by price, the cheapest product comes first.
                {"expect_text": {"text": "Ceramic Dripper", "selector": ".product-card", "nth": 0}},
                {"wait_for": {"selector": "#no-results", "state": "hidden"}},
            ],
        },
        {
            "name": "cart",
            "journey": [
                {"goto": f"{base}/products/1"},
                {"select": {"selector": "#qty", "value": "3"}},
                {"check": "#gift"},
                {"uncheck": "#gift"},
                {"check": "#gift"},
                {"screenshot": {"name": "product page", "full_page": True}},
                {"click": "text=Add to cart"},
                {"expect_visible": "#added"},
                {"goto": f"{base}/cart"},
                {"expect_text": {"text": "3", "selector": "#cart-items .qty"}},
                {"expect_visible": "#cart-items .muted"},  # "(gift wrap)"
                {"screenshot": "cart"},
            ],
        },
        {
            "name": "unchecked",
            "journey": [
                {"goto": f"{base}/products/2"},
                {"check": "#gift"},
                {"uncheck": "#gift"},
                {"click": "text=Add to cart"},
                {"expect_visible": "#added"},
                {"goto": f"{base}/cart"},
                {"expect_text": {"text": "Pour-Over Kettle", "selector": "#cart-items"}},
                {"wait_for": {"selector": "#cart-items .muted", "state": "hidden"}},
            ],
        },
        # `use`: base-login is used by base-cart, which is used by nested-use.
        {
            "name": "base-login",
            "enabled": False,
            "journey": [
                {"goto": f"{base}/login"},
                {"fill": {"selector": "#email", "value": "alice@example.com"}},
                {"fill": {"selector": "#password", "value": "wonderland"}},
                {"name": "submit", "click": "button[type=submit]"},
            ],
        },
        {
            "name": "base-cart",
            "enabled": False,
            "journey": [
                {"use": "base-login"},
                {"goto": f"{base}/products/3"},
                {"click": "text=Add to cart"},
            ],
        },
        {
            "name": "uses-login",
            "journey": [
                {"use": "base-login"},
                {"expect_text": {"text": "alice@example.com", "selector": "#welcome"}},
            ],
        },
        {
            "name": "nested-use",
            "journey": [
                {"use": "base-cart"},
                {"goto": f"{base}/cart"},
                {"expect_text": {"text": "Ceramic Dripper", "selector": "#cart-items"}},
                {"expect_text": {"text": "Logout", "selector": "nav"}},
            ],
        },
        {
            "name": "interaction",
            "journey": [
                {"goto": f"{base}/products/1"},
                # INP must be there right after the click, although web-vitals hands it over
                # from an idle callback up to a second later: observer's lab script reads the
                # interaction itself until then.
                {"click": "#gift"},
                {"expect_visible": "#gift"},
            ],
        },
        {
            "name": "phone",
            "device": "iPhone 13",
            "journey": [
                {"goto": CONTEXT_PAGE},
                {"expect_text": "width=390 "},
                {"expect_text": "dpr=3"},
                {"goto": f"{base}/"},
                {"expect_text": "Good coffee gear"},
                {"screenshot": "phone"},
            ],
        },
        {
            "name": "small-window",
            "viewport": {"width": 400, "height": 800},
            "journey": [
                {"goto": CONTEXT_PAGE},
                {"expect_text": "width=400 height=800 dpr=1"},
                {"screenshot": "window"},
            ],
        },
        {
            "name": "berlin",
            "locale": "de-DE",
            "timezone": "Europe/Berlin",
            "journey": [
                {"goto": CONTEXT_PAGE},
                {"expect_text": "tz=Europe/Berlin lang=de-DE"},
                {"expect_text": "width=1280 height=720"},  # Playwright's desktop default
            ],
        },
    ]


# Failing journeys: (probe, page to open first or None, the failing step, its expected name,
# what its error must say). Every one gets a `mark` after the failing step, which must be
# skipped. Steps without their own timeout get FAST.
FAILURES: list[tuple[str, str | None, dict[str, Any], str, list[str]]] = [
    ("goto-404", None, {"goto": "{base}/nosuch"}, "goto /nosuch", ["HTTP 404 from", "/nosuch"]),
    (
        "goto-status",
        None,
        {"goto": {"url": "{base}/products", "expect_status": [201, 204]}},
        "goto /products",
        ["HTTP 200 from", "/products"],
    ),
    (
        "goto-refused",
        None,
        {"goto": "{closed}/"},
        "goto /",
        ["ERR_CONNECTION_REFUSED"],
    ),
    (
        "click",
        "/login",
        {"name": "press the missing button", "click": "#missing"},
        "press the missing button",
        # A named step still says what it did to which element.
        ["click `#missing`: no element matches (waited 0.4s, the step timeout)"],
    ),
    (
        "fill",
        "/login",
        {"fill": {"selector": "#missing", "value": "x"}},
        "fill #missing",
        ["fill `#missing`: no element matches (waited 0.4s, the step timeout)"],
    ),
    (
        "press",
        "/login",
        {"press": {"key": "Enter", "selector": "#missing"}},
        "press Enter in #missing",
        ["press `#missing`: no element matches (waited 0.4s, the step timeout)"],
    ),
    (
        "select-value",
        "/products/1",
        {"select": {"selector": "#qty", "value": "99"}},
        "select #qty",
        ["select `#qty`: no option with value '99'; its options are: 1, 2, 3, 4, 5 (waited"],
    ),
    (
        "select-label",
        "/products",
        {"select": {"selector": "#sort", "label": "Colour"}},
        "select #sort",
        ["select `#sort`: no option labelled 'Colour'; its options are: Name, Price (waited"],
    ),
    ("check", "/products/1", {"check": "#missing"}, "check #missing", ["check `#missing`: no el"]),
    ("uncheck", "/products/1", {"uncheck": "#missing"}, "uncheck #missing", ["no element matches"]),
    ("hover", "/login", {"hover": "#missing"}, "hover #missing", ["hover `#missing`: no element"]),
    (
        "wait-for-selector",
        "/login",
        {"wait_for": "#missing"},
        "wait_for #missing",
        ["wait_for `#missing`: no element matches (waited 0.4s, the step timeout)"],
    ),
    (
        "wait-for-url",
        "/login",
        {"wait_for": {"url": "**/checkout"}},
        "wait_for **/checkout",
        [
            "wait_for: the URL stayed http://",
            "/login; expected it to match **/checkout (waited 0.4s",
        ],
    ),
    (
        "wait-for-hidden",
        "/login",
        {"wait_for": {"selector": "h1", "state": "hidden"}},
        "wait_for h1",
        ["wait_for `h1`: matched 1 element, which stayed visible (waited 0.4s, the step timeout)"],
    ),
    (
        "wait-for-load",
        None,  # opens a page whose script never arrives, so it never loads
        {"wait_for": {"load_state": "load"}},
        "wait_for load",
        ["wait_for: the page did not reach 'load' (waited 0.4s, the step timeout)"],
    ),
    (
        "expect-text",
        "/login",
        {"expect_text": "No such words"},
        "expect_text No such words",
        ["expect_text: no visible text 'No such words' on http://", "/login (waited 0.4s"],
    ),
    (
        "expect-text-scoped",
        "/login",
        # "Log in" is on the page (the button), but not in the heading.
        {"expect_text": {"text": "Log in", "selector": "h1"}},
        "expect_text Log in in h1",
        ["expect_text `h1`: holds 'Sign in to your account', not 'Log in' (waited 0.4s"],
    ),
    (
        "expect-visible",
        "/login",
        {"expect_visible": "#error"},
        "expect_visible #error",
        ["expect_visible `#error`: no element matches (waited 0.4s, the step timeout)"],
    ),
    (
        "expect-url",
        "/login",
        {"expect_url": "**/account"},
        "expect_url **/account",
        ["URL is", "/login, expected it to match **/account"],
    ),
    (
        "expect-title",
        "/login",
        {"expect_title": "Checkout"},
        "expect_title Checkout",
        ["title is 'Login · Demo Shop', expected it to contain 'Checkout'"],
    ),
    (
        "expect-title-exact",
        "/login",
        {"expect_title": {"title": "Login", "exact": True}},
        "expect_title Login",
        ["title is 'Login · Demo Shop', expected it to equal 'Login'"],
    ),
]


# A page where every selector below matches twice; one of the "All products" is in a
# collapsed menu, and the second h3 holds the text (finding 4 of issue 13).
TWINS = (
    "data:text/html,<title>twins</title>"
    "<nav style='display:none'><a href='/all'>All products</a></nav><h1>All products</h1>"
    "<h3>Guide</h3><h3>Manual</h3>"
    "<input class=f value=one><input class=f value=two>"
    "<select class=s><option>a</option><option>b</option></select>"
    "<select class=s><option>a</option><option>b</option></select>"
    "<input type=checkbox class=c><input type=checkbox class=c checked>"
    "<button class=b>One</button><button class=b>Two</button>"
)

# Every step that takes a selector, given one that matches twice: (action, step, hidden
# matches expected among the two).
STRICT: list[tuple[str, dict[str, Any], int]] = [
    ("click", {"click": "button.b"}, 0),
    ("fill", {"fill": {"selector": "input.f", "value": "x"}}, 0),
    ("press", {"press": {"selector": "input.f", "key": "Enter"}}, 0),
    ("select", {"select": {"selector": "select.s", "value": "b"}}, 0),
    ("check", {"check": "input.c"}, 0),
    ("uncheck", {"uncheck": "input.c"}, 0),
    ("hover", {"hover": "button.b"}, 0),
    ("wait_for", {"wait_for": "h3"}, 0),
    ("wait_for-hidden", {"wait_for": {"selector": "h3", "state": "hidden"}}, 0),
    ("expect_visible", {"expect_visible": "text=All products"}, 1),
    ("expect_text", {"expect_text": {"selector": "h3", "text": "Manual"}}, 0),
    ("capture", {"capture": {"name": "word", "selector": "h3"}}, 0),
]

# The same page with nth: picking one on purpose passes.
NTH_JOURNEY: list[dict[str, Any]] = [
    {"goto": TWINS},
    {"expect_visible": {"selector": "text=All products", "nth": 1}},
    {"expect_text": {"selector": "h3", "nth": -1, "text": "Manual"}},
    {"expect_text": {"selector": "h3", "nth": 0, "text": "Guide"}},
    {"fill": {"selector": "input.f", "nth": 1, "value": "second"}},
    {"press": {"selector": "input.f", "nth": 1, "key": "End"}},
    {"select": {"selector": "select.s", "nth": -1, "value": "b"}},
    {"check": {"selector": "input.c", "nth": 0}},
    {"uncheck": {"selector": "input.c", "nth": 1}},
    {"hover": {"selector": "button.b", "nth": 0}},
    {"click": {"selector": "button.b", "nth": -1}},
    {"wait_for": {"selector": "h3", "nth": 1}},
    {"capture": {"name": "second", "selector": "input.f", "nth": 1}},
    {"capture": {"name": "heading", "selector": "h3", "nth": -1}},
]


def fill_in(value: Any, **urls: str) -> Any:
    """A copy of a step with {base} and {closed} in its strings replaced."""
    if isinstance(value, dict):
        return {k: fill_in(v, **urls) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_in(v, **urls) for v in value]
    return value.format(**urls) if isinstance(value, str) and "{" in value else value


def failing_probes(base: str, closed: str, stalled: str) -> list[dict[str, Any]]:
    """One journey per entry of FAILURES, and one that fails inside a used journey."""
    probes = []
    for name, page, raw, _, _ in FAILURES:
        step = fill_in(raw, base=base, closed=closed)
        if "goto" not in step:  # gotos fail on the page's status, not on time
            step.setdefault("timeout", FAST)
        journey: list[dict[str, Any]] = []
        if page is not None:
            journey.append({"goto": f"{base}{page}"})
        if name == "wait-for-load":
            # This shop's pages load a script from a server that never answers.
            journey.append({"goto": {"url": f"{stalled}/", "wait_until": "commit"}})
        journey += [step, {"mark": "after the failure"}]
        probes.append({"name": f"fail-{name}", "journey": journey})
    # A failure inside a used journey is reported at its place in the expanded steps.
    probes.append(
        {
            "name": "fail-in-use",
            "journey": [
                {"use": "broken-part"},
                {"mark": "after the failure"},
            ],
        }
    )
    for name, step, _ in STRICT:
        probes.append(
            {"name": f"strict-{name}", "journey": [{"goto": TWINS}, {**step, "timeout": FAST}]}
        )
    probes.append({"name": "nth", "journey": NTH_JOURNEY})
    probes.append(
        {
            "name": "broken-part",
            "enabled": False,
            "journey": [
                {"goto": f"{base}/login"},
                {"expect_text": {"text": "Not on this page"}, "timeout": FAST},
                {"expect_title": "Login"},
            ],
        }
    )
    return probes


def closed_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ProbeResult]]:
    """Every probe of this module, run once in one Chromium: results by probe name."""
    folder = tmp_path_factory.mktemp("steps")
    with ShopServer() as shop, ShopServer() as hung:
        set_faults(hung, hang=["health"])
        with ShopServer(rum_script=f"{hung.url}/health") as stalled:
            closed = f"http://127.0.0.1:{closed_port()}"
            config = {
                "settings": {
                    "database": "results.db",
                    "artifacts": "artifacts",
                    "trace": "off",
                    "screenshots": "off",
                    "concurrency": 6,
                },
                "probes": passing_probes(shop.url) + failing_probes(shop.url, closed, stalled.url),
            }
            path = folder / "probes.yaml"
            text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
            path.write_text(text, "utf-8")
            project = load_project(path)
            chosen = [p for p in project.probes if p.enabled]
            results = asyncio.run(run_all(project, chosen))
        yield {r.probe: r for r in results}


def steps_by_name(result: ProbeResult) -> dict[str, StepResult]:
    return {s.name: s for s in result.steps}


def explain(result: ProbeResult) -> str:
    lines = [f"{result.probe}: {result.outcome} {result.error}"]
    lines += [f"  {s.index} {s.name}: {s.outcome} {s.error}" for s in result.steps]
    return "\n".join(lines)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# ----------------------------------------------------------------------------- passing


PASSING = [p["name"] for p in passing_probes("http://x") if p.get("enabled", True)]


@pytest.mark.parametrize("probe", PASSING)
def test_journey_passes_with_every_step_passing(run: dict[str, ProbeResult], probe: str) -> None:
    result = run[probe]
    assert result.outcome == Outcome.PASS, explain(result)
    assert result.completed
    assert result.error is None
    assert result.failed_step is None
    assert result.steps, "a journey records its steps"
    assert all(s.outcome == Outcome.PASS for s in result.steps), explain(result)
    assert [s.index for s in result.steps] == list(range(len(result.steps)))


def test_goto_options_and_page_status(run: dict[str, ProbeResult]) -> None:
    steps = run["navigation"].steps
    # wait_until: domcontentloaded / commit / networkidle all open their page.
    assert steps[0].url is not None and steps[0].url.endswith("/")
    assert steps[2].url is not None and steps[2].url.endswith("/products")
    # expect_status [404] accepts the shop's 404 page, whose text is then there.
    assert steps[5].action == "goto" and steps[5].outcome == Outcome.PASS
    assert steps[5].url is not None and steps[5].url.endswith("/products/999")
    assert steps[6].name == "expect_text Product not found"
    assert steps[7].url is not None and steps[7].url.endswith("/login")


def test_step_name_and_timeout_keys(run: dict[str, ProbeResult]) -> None:
    result = run["navigation"]
    assert result.steps[0].name == "open home"
    assert result.steps[0].action == "goto"
    # Steps without a name get a readable one from their action and target.
    assert [s.name for s in result.steps[1:5]] == [
        "expect_title Demo Shop",
        "goto /products",
        "wait_for load",
        "expect_title Products · Demo Shop",
    ]
    assert steps_by_name(run["login-form"])["press Enter in #password"].action == "press"


def test_mark_keeps_the_last_one_reached(run: dict[str, ProbeResult]) -> None:
    assert run["navigation"].last_mark == "second"
    assert run["cart"].last_mark is None  # no mark step at all
    marks = [s for s in run["navigation"].steps if s.action == "mark"]
    assert [s.name for s in marks] == ["mark first", "mark second"]


def test_step_timings_are_recorded_in_order(run: dict[str, ProbeResult]) -> None:
    result = run["navigation"]
    previous_end = 0.0
    for step in result.steps:
        assert step.duration_ms >= 0
        # Each step starts after the one before it ended (0.2 ms of rounding).
        assert step.start_ms >= previous_end - 0.2, explain(result)
        previous_end = step.start_ms + step.duration_ms
    assert result.duration_ms >= previous_end - 0.2
    wait = steps_by_name(result)["wait 150ms"]
    assert wait.action == "wait"
    assert wait.duration_ms >= 150


def test_vitals_of_a_journey_that_loaded_pages(run: dict[str, ProbeResult]) -> None:
    result = run["navigation"]
    for key in ("ttfb_ms", "fcp_ms", "lcp_ms", "cls", "load_ms", "dcl_ms"):
        value = result.vitals[key]
        assert isinstance(value, float), f"{key} = {value!r}"
        assert value >= 0
    assert result.vitals["ttfb_ms"] > 0 and result.vitals["load_ms"] > 0
    urls = [p.url for p in result.pages]
    paths = [u.split("127.0.0.1:", 1)[1].split("/", 1)[1] for u in urls]
    assert paths == ["", "products", "products/999", "login"], urls
    for page in result.pages:
        assert isinstance(page.ttfb_ms, float) and page.ttfb_ms > 0, page
    # Each page is recorded with the step that opened it (a page opened with wait_until:
    # commit may not answer yet, and is then first read after the next step).
    indexes = [p.step_index for p in result.pages]
    assert indexes[0] == 0 and indexes[1] in (2, 3) and indexes[2:] == [5, 7], indexes
    # No interaction: no INP.
    assert result.vitals["inp_ms"] is None


def test_inp_after_a_click(run: dict[str, ProbeResult]) -> None:
    result = run["interaction"]
    inp = result.vitals["inp_ms"]
    # Timed, whatever it took: the browser rounds an interaction's duration to 8 ms, so a
    # quick click on an idle machine may well be 0 ms (it was, once, in CI).
    assert isinstance(inp, float) and inp >= 0, explain(result)
    (page,) = result.pages
    assert page.inp_source == "event"
    assert page.url.endswith("/products/1")
    assert page.inp_ms == inp


def test_fill_press_and_scoped_text(run: dict[str, ProbeResult]) -> None:
    steps = run["login-form"].steps
    # press Enter in the password field submitted the form: we landed on the account page.
    assert steps[3].name == "press Enter in #password"
    assert steps[4].url is not None and steps[4].url.endswith("/account")
    assert steps[5].name == "expect_text Welcome, demo@example.com in #welcome"
    assert steps[7].name == "hover #nav-logout"


def test_press_without_selector_and_select_by_label(run: dict[str, ProbeResult]) -> None:
    steps = run["search"].steps
    assert steps[2].name == "press Enter"
    assert steps[3].url is not None and "q=mug" in steps[3].url
    assert steps[6].name == "select #sort" and steps[6].action == "select"
    assert steps[8].url is not None and "sort=price" in steps[8].url


def test_select_by_value_check_and_uncheck_reach_the_cart(run: dict[str, ProbeResult]) -> None:
    # cart: quantity 3 with gift wrap (check, uncheck, check) made it to the cart;
    # unchecked: gift wrap ticked then unticked did not.
    assert run["cart"].outcome == Outcome.PASS, explain(run["cart"])
    assert run["unchecked"].outcome == Outcome.PASS, explain(run["unchecked"])
    actions = [s.action for s in run["cart"].steps[:5]]
    assert actions == ["goto", "select", "check", "uncheck", "check"]


def test_screenshot_steps_are_artifacts(run: dict[str, ProbeResult]) -> None:
    result = run["cart"]
    shots = [a for a in result.artifacts if a.kind == "screenshot"]
    assert [(Path(a.path).name, a.step_index) for a in shots] == [
        ("05-product-page.png", 5),
        ("11-cart.png", 11),
    ]
    for shot in shots:
        path = Path(shot.path)
        assert path.is_file()
        width, height = png_size(path)
        assert width == 1280 and height >= 720  # full page: at least the window
    assert png_size(Path(shots[1].path)) == (1280, 720)  # just the window


def test_use_runs_the_used_steps_inline(run: dict[str, ProbeResult]) -> None:
    login = ["goto /login", "fill #email", "fill #password", "submit"]
    assert [s.name for s in run["uses-login"].steps] == [
        *login,
        "expect_text alice@example.com in #welcome",
    ]
    nested = run["nested-use"]
    assert [s.name for s in nested.steps] == [
        *login,
        "goto /products/3",
        "click text=Add to cart",
        "goto /cart",
        "expect_text Ceramic Dripper in #cart-items",
        "expect_text Logout in nav",
    ]
    assert "use" not in {s.action for s in nested.steps}
    # base-login and base-cart are disabled: they ran only inside the journeys that use them.
    assert "base-login" not in run and "base-cart" not in run


def test_device_runs_with_a_phone_viewport(run: dict[str, ProbeResult]) -> None:
    result = run["phone"]
    assert result.outcome == Outcome.PASS, explain(result)
    assert result.device == "iPhone 13"
    # The page saw a 390 px wide window at 3 device pixels per CSS pixel (asserted by the
    # expect_text steps); the screenshot has that many device pixels.
    (shot,) = [a for a in result.artifacts if a.kind == "screenshot"]
    width, _ = png_size(Path(shot.path))
    assert width == 390 * 3


def test_viewport_sets_the_window_size(run: dict[str, ProbeResult]) -> None:
    result = run["small-window"]
    assert result.outcome == Outcome.PASS, explain(result)
    assert result.device is None
    (shot,) = [a for a in result.artifacts if a.kind == "screenshot"]
    assert png_size(Path(shot.path)) == (400, 800)


def test_locale_and_timezone_reach_the_page(run: dict[str, ProbeResult]) -> None:
    result = run["berlin"]
    assert result.outcome == Outcome.PASS, explain(result)
    assert [s.name for s in result.steps][1:] == [
        "expect_text tz=Europe/Berlin lang=de-DE",
        "expect_text width=1280 height=720",
    ]


# ----------------------------------------------------------------------------- failing


@pytest.mark.parametrize(
    ("probe", "page", "step_name", "fragments"),
    [(f"fail-{name}", page, sname, frags) for name, page, _, sname, frags in FAILURES],
)
def test_failing_step_is_a_fail_naming_the_step(
    run: dict[str, ProbeResult],
    probe: str,
    page: str | None,
    step_name: str,
    fragments: list[str],
) -> None:
    result = run[probe]
    failing = 1 if page is not None or probe == "fail-wait-for-load" else 0
    assert result.outcome == Outcome.FAIL, explain(result)
    assert not result.completed
    assert result.failed_step == failing
    steps = result.steps
    assert len(steps) == failing + 2
    assert all(s.outcome == Outcome.PASS for s in steps[:failing]), explain(result)
    step = steps[failing]
    assert step.outcome == Outcome.FAIL
    assert step.name == step_name
    assert step.error is not None
    for fragment in fragments:
        assert fragment in step.error, explain(result)
    # The journey's one-line error names the step (1-based) and says what went wrong.
    assert result.error == f"step {failing + 1} ({step_name}): {step.error}"
    # Steps after the failing one are skipped, never run.
    after = steps[failing + 1]
    assert after.outcome == Outcome.SKIPPED and after.name == "mark after the failure"
    assert after.error is None and after.duration_ms == 0
    assert result.last_mark is None


@pytest.mark.parametrize(("action", "hidden"), [(a, h) for a, _, h in STRICT])
def test_a_selector_that_matches_twice_is_a_strict_mode_failure(
    run: dict[str, ProbeResult], action: str, hidden: int
) -> None:
    """One rule for every step that takes a selector: exactly one element, or nth."""
    result = run[f"strict-{action}"]
    assert result.outcome == Outcome.FAIL, explain(result)
    step = result.steps[1]
    assert step.error is not None
    summary, *listed = step.error.splitlines()
    assert "2 elements match, but the step needs exactly one (strict mode)" in summary
    assert summary.startswith(f"{step.action} `"), summary
    assert summary.endswith("pick one with nth: or a sharper selector"), summary
    # Both matches are listed, each visible or hidden, each with a locator that is unique.
    assert [ln.split(")")[0].strip() for ln in listed] == ["1", "2"], step.error
    states = [ln.split(" · ")[1] for ln in listed]
    assert states.count("hidden") == hidden and states.count("visible") == 2 - hidden, listed
    assert all(" · get_by_" in ln or " · locator(" in ln for ln in listed), listed
    assert "Error: " not in step.error and "Call log" not in step.error
    # Playwright's own words are kept whole beside it.
    assert step.log is not None and "strict mode violation" in step.log
    # The journey's one-line error is the summary.
    assert result.error == f"step 2 ({step.name}): {summary}"


def test_nth_picks_one_of_several_on_purpose(run: dict[str, ProbeResult]) -> None:
    result = run["nth"]
    assert result.outcome == Outcome.PASS, explain(result)
    captured = [s.captured for s in result.steps if s.action == "capture"]
    assert captured == [{"second": "second"}, {"heading": "Manual"}]


def test_failure_inside_a_used_journey(run: dict[str, ProbeResult]) -> None:
    result = run["fail-in-use"]
    assert result.outcome == Outcome.FAIL, explain(result)
    assert result.failed_step == 1
    assert [(s.name, s.outcome) for s in result.steps] == [
        ("goto /login", Outcome.PASS),
        ("expect_text Not on this page", Outcome.FAIL),
        ("expect_title Login", Outcome.SKIPPED),
        ("mark after the failure", Outcome.SKIPPED),
    ]
    assert result.error is not None
    assert result.error.startswith(
        "step 2 (expect_text Not on this page): expect_text: no visible text 'Not on"
    )


def test_every_action_is_exercised() -> None:
    """This module covers each action the config knows, passing and (where it can) failing."""
    from observer.config.models import ACTIONS

    used: set[str] = set()

    def collect(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            used.update(k for k in step if k in ACTIONS)

    for probe in passing_probes("http://x"):
        collect(probe["journey"])
    collect(NTH_JOURNEY)
    assert used == set(ACTIONS)
    failed = {next(k for k in step if k in ACTIONS) for _, _, step, _, _ in FAILURES}
    # wait, mark and screenshot have nothing of the site's to fail on (nor has press without
    # a selector: it only fails on a key name Playwright does not know, a mistake in the file);
    # a failure inside `use` is test_failure_inside_a_used_journey; capture's failures are in
    # test_capture.py; expect_accessible's are in test_a11y.py.
    assert set(ACTIONS) - failed == {
        "wait",
        "mark",
        "screenshot",
        "use",
        "capture",
        "expect_accessible",
    }


def test_a_page_leaving_report_is_taken_only_with_the_journeys_nonce() -> None:
    """Pages report their figures on leaving as a console message; a page's own messages,
    whatever they claim, are not taken for them, and the figures are range-checked."""
    import json as _json

    from observer.browser import lab_script, read_report

    good = {"url": "https://shop.test/a", "origin": 1.0, "lcp": 812.5, "cls": 0.01}
    report = read_report("n0nce" + _json.dumps(good), "n0nce")
    assert report is not None
    assert {k: v for k, v in report.items() if v is not None} == {
        "url": "https://shop.test/a",
        "origin": 1.0,
        "lcp": 812.5,
        "cls": 0.01,
    }
    assert read_report(_json.dumps(good), "n0nce") is None  # no nonce
    assert read_report("other" + _json.dumps(good), "n0nce") is None  # someone else's
    assert read_report("n0nce" + _json.dumps(good), "") is None  # reports off
    assert read_report("n0nce{not json", "n0nce") is None
    assert read_report("n0nce[1, 2]", "n0nce") is None
    assert read_report("n0nce" + " " * 20_001, "n0nce") is None  # too long to be ours
    hostile = read_report(
        "n0nce" + _json.dumps({**good, "lcp": -5, "inp": 1e12, "left": "yes", "inp_source": "<b>"}),
        "n0nce",
    )
    assert hostile is not None and hostile["lcp"] is None and hostile["inp"] is None
    assert hostile["left"] is None and hostile["inp_source"] is None
    # The nonce is written into the page's script as a JS string, not spliced as code.
    assert '"a\\"b"' in lab_script('a"b')
    # A new nonce per journey, one copy of the script with web-vitals per process (a daemon
    # runs journeys for months).
    from observer.browser import _lab_with_library

    for i in range(5):
        assert f'"nonce-{i}"' in lab_script(f"nonce-{i}")
    assert _lab_with_library.cache_info().currsize == 1

    # Once the journey's figures are summed, a late report (the last page, left after the
    # journey) changes nothing.
    from observer.journey import _Recorder

    rec = _Recorder("n0nce")
    rec.take(read_report("n0nce" + _json.dumps(good), "n0nce"))
    rec.closed = True
    rec.take(read_report("n0nce" + _json.dumps({**good, "lcp": 9000.0}), "n0nce"))
    rec.take(read_report("n0nce" + _json.dumps({**good, "url": "https://shop.test/b"}), "n0nce"))
    assert [(p.url, p.lcp_ms) for p in rec.docs.values()] == [("https://shop.test/a", 812.5)]
