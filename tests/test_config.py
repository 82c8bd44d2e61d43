"""What a user of `observer validate` sees: every problem as FILE:LINE:COL: path: message.

Most cases go through the library (`load_project`), which is what the CLI prints line by
line; a representative few go through the real `observer` command in a child process.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, observer

from observer.config import ConfigError, Project, load_project
from observer.config.models import ACTIONS, FillStep, GotoStep
from observer.config.schema import json_schema

ALL_ACTIONS = ", ".join(ACTIONS)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Problems name files relative to the working directory: probes.yaml:3:5, not /tmp/...
    monkeypatch.chdir(tmp_path)


def problems(path: Path | str, env: dict[str, str] | None = None) -> list[str]:
    """The problem lines loading path gives (it must give some)."""
    with pytest.raises(ConfigError) as info:
        load_project(path, env={} if env is None else env)
    return [str(p) for p in info.value.problems]


def problem(path: Path | str, env: dict[str, str] | None = None) -> str:
    """The one problem loading path gives."""
    found = problems(path, env)
    assert len(found) == 1, found
    return found[0]


def load(path: Path | str, env: dict[str, str] | None = None) -> Project:
    return load_project(path, env={} if env is None else env)


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------- files that pass

EXAMPLES = [ROOT / "probes.example.yaml", *sorted((ROOT / "probes").glob("*.y*ml"))]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_probe_files_validate(path: Path) -> None:
    done = observer("validate", str(path.relative_to(ROOT)), cwd=ROOT)
    assert done.code == 0, done.stderr
    assert f"{path.relative_to(ROOT)}: ok (" in done.stdout
    assert done.stderr == ""


def test_example_loads_with_its_defaults() -> None:
    project = load(ROOT / "probes.example.yaml")
    assert [p.name for p in project.probes] == [
        "health",
        "login",
        "checkout",
        "accessible shop",
        "buy on a phone",
    ]
    assert project.probe("health").http == "http://127.0.0.1:8700/health"
    # checkout starts with login's steps, spliced in where `use: login` stood.
    login = project.steps["login"]
    checkout = project.steps["checkout"]
    assert checkout[: len(login)] == login
    assert isinstance(checkout[0], GotoStep)
    assert checkout[0].goto.url == "http://127.0.0.1:8700/login"
    assert project.secrets == ["demo"]


# ----------------------------------------------------------------------------- unknown keys


def test_unknown_settings_key_suggests_the_right_one(write: Any) -> None:
    path = write(
        """
        settings:
          database: results.db
          timout: 30s
        probes: []
        """
    )
    assert problem(path) == (
        "probes.yaml:3:3: settings.timout: unknown key (did you mean 'timeout'?)"
    )


def test_unknown_nested_settings_key(write: Any) -> None:
    path = write(
        """
        settings:
          browser: {headles: false}
        """
    )
    assert problem(path) == (
        "probes.yaml:2:13: settings.browser.headles: unknown key (did you mean 'headless'?)"
    )


def test_unknown_probe_key_suggests_the_right_one(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
            expct: {status: 200}
        """
    )
    assert problem(path) == "probes.yaml:4:5: probes[0].expct: unknown key (did you mean 'expect'?)"


def test_unknown_key_without_a_close_match_has_no_suggestion(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
            zzzzzz: 1
        """
    )
    assert problem(path) == "probes.yaml:4:5: probes[0].zzzzzz: unknown key"


def test_unknown_key_in_step_arguments(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - goto: https://example.com/
              - click: {selector: "#buy", buton: left}
        """
    )
    assert problem(path) == (
        "probes.yaml:5:35: probes[0].journey[1].click.buton: unknown key (did you mean 'button'?)"
    )


def test_unknown_key_beside_a_step_action(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - click: "#buy"
                timout: 2s
        """
    )
    assert problem(path) == (
        "probes.yaml:5:9: probes[0].journey[0].timout: unknown key (did you mean 'timeout'?)"
    )


# ----------------------------------------------------------------------------- steps


def test_unknown_step_action_suggests_one_and_lists_all(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - goto: https://example.com/
              - clik: "#buy"
        """
    )
    assert problem(path) == (
        "probes.yaml:5:9: probes[0].journey[1].clik: unknown step action "
        f"(did you mean 'click'?); actions: {ALL_ACTIONS}"
    )


def test_step_with_two_actions(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - goto: https://example.com/
              - click: "#a"
                fill: {selector: "#b", value: x}
        """
    )
    assert problem(path) == (
        "probes.yaml:5:9: probes[0].journey[1]: a step has one action, this one has 2: click, fill"
    )


def test_step_with_no_action(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - goto: https://example.com/
              - name: just a name
        """
    )
    assert problem(path) == (
        f"probes.yaml:5:9: probes[0].journey[1]: the step has no action; one of: {ALL_ACTIONS}"
    )


def test_step_that_is_not_a_mapping(write: Any) -> None:
    path = write(
        """
        probes:
          - name: buy
            journey:
              - click
        """
    )
    assert problem(path) == (
        "probes.yaml:4:9: probes[0].journey[0]: a step is a mapping such as {click: '#buy'}"
    )


@pytest.mark.parametrize(
    ("step", "col", "path"),
    [
        ('click: ""', 16, "click.selector"),
        ('click: {selector: "  "}', 27, "click.selector"),
        ('fill: {selector: "", value: x}', 26, "fill.selector"),
    ],
)
def test_empty_selector(write: Any, step: str, col: int, path: str) -> None:
    file = write(
        f"""
        probes:
          - name: buy
            journey:
              - {step}
        """
    )
    assert problem(file) == f"probes.yaml:4:{col}: probes[0].journey[0].{path}: must not be empty"


def test_missing_required_key_of_a_step(write: Any) -> None:
    path = write(
        """
        probes:
          - name: login
            journey:
              - fill: {selector: "#email"}
        """
    )
    assert problem(path) == (
        "probes.yaml:4:15: probes[0].journey[0].fill.value: required key is missing"
    )


def test_missing_probe_name(write: Any) -> None:
    path = write(
        """
        probes:
          - http: https://example.com/
        """
    )
    assert problem(path) == "probes.yaml:2:5: probes[0].name: required key is missing"


@pytest.mark.parametrize(
    "select", ['{selector: "#size"}', '{selector: "#size", value: m, label: M}']
)
def test_select_needs_exactly_one_of_value_or_label(write: Any, select: str) -> None:
    path = write(
        f"""
        probes:
          - name: size
            journey:
              - select: {select}
        """
    )
    assert problem(path) == (
        "probes.yaml:4:17: probes[0].journey[0].select: give exactly one of value or label"
    )


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "give 1 a unit, e.g. 1s or 1ms"),
        ("fast", "'fast' is not a duration (use e.g. 500ms, 30s, 5m, 1h, 30d)"),
        ("30 secs", "'30 secs' is not a duration (use e.g. 500ms, 30s, 5m, 1h, 30d)"),
    ],
)
def test_bad_duration(write: Any, value: str, message: str) -> None:
    path = write(
        f"""
        settings:
          timeout: {value}
        """
    )
    assert problem(path) == f"probes.yaml:2:12: settings.timeout: {message}"


def test_bad_duration_of_a_wait_step(write: Any) -> None:
    path = write(
        """
        probes:
          - name: slow
            journey:
              - wait: 2
        """
    )
    assert (
        problem(path)
        == "probes.yaml:4:15: probes[0].journey[0].wait: give 2 a unit, e.g. 2s or 2ms"
    )


def test_durations_with_units_are_seconds(write: Any) -> None:
    path = write(
        """
        settings: {timeout: 1.5m, step_timeout: 500ms}
        probes:
          - name: slow
            journey:
              - wait: 2s
        """
    )
    project = load(path)
    assert project.config.settings.timeout == 90.0
    assert project.config.settings.step_timeout == 0.5
    assert project.steps["slow"][0].wait == 2.0  # type: ignore[attr-defined]


def test_bad_enum_value(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            journey:
              - goto: {url: "https://example.com/", wait_until: sometime}
        """
    )
    assert problem(path) == (
        "probes.yaml:4:57: probes[0].journey[0].goto.wait_until: "
        "must be one of 'load', 'domcontentloaded', 'networkidle' or 'commit'"
    )


def test_bad_type(write: Any) -> None:
    path = write(
        """
        settings:
          concurrency: many
        """
    )
    found = problem(path)
    assert found.startswith("probes.yaml:2:16: settings.concurrency: "), found
    assert "integer" in found


def test_out_of_range_number(write: Any) -> None:
    path = write(
        """
        settings:
          concurrency: 0
        """
    )
    found = problem(path)
    assert found.startswith("probes.yaml:2:16: settings.concurrency: "), found
    assert "1" in found.split(": ", 2)[2]


def test_invalid_regex_in_body_matches(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
            expect: {status: 200, body_matches: 'total: (\\d+'}
        """
    )
    found = problem(path)
    assert found.startswith(
        "probes.yaml:4:41: probes[0].expect.body_matches: not a valid regular expression: "
    ), found


def test_bad_probe_name(write: Any) -> None:
    path = write(
        """
        probes:
          - name: "-home"
            http: https://example.com/
        """
    )
    assert problem(path).startswith(
        "probes.yaml:2:11: probes[0].name: '-home' is not a usable name"
    )


# ----------------------------------------------------------------------------- probe kinds


@pytest.mark.parametrize(
    "body",
    [
        "http: https://example.com/\n    journey: [{goto: 'https://example.com/'}]",
        "description: neither a check nor a journey",
    ],
    ids=["both", "neither"],
)
def test_probe_needs_exactly_one_of_http_or_journey(write: Any, body: str) -> None:
    path = write(f"probes:\n  - name: home\n    {body}\n")
    assert problem(path) == (
        "probes.yaml:2:5: probes[0]: a probe needs exactly one of http (a URL) or journey (steps)"
    )


def test_journey_only_key_on_an_http_check(write: Any) -> None:
    path = write(
        """
        probes:
          - name: ok
            http: https://example.com/
          - name: home
            http: https://example.com/
            device: iPhone 13
        """
    )
    found = problem(path)
    assert found.startswith("probes.yaml:4:5: probes[1]: device only applies"), found
    assert found.endswith("to journeys, not http checks")


def test_http_only_key_on_a_journey(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            method: POST
            journey: [{goto: "https://example.com/"}]
        """
    )
    assert problem(path).startswith("probes.yaml:2:5: probes[0]: method only applies")


def test_journey_without_steps(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            journey: []
        """
    )
    assert problem(path) == "probes.yaml:2:5: probes[0]: journey has no steps"


# ----------------------------------------------------------------------------- duplicates


def test_duplicate_yaml_key_names_the_first(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
            http: https://example.org/
        """
    )
    assert problem(path) == (
        "probes.yaml:4:5: probes[0].http: duplicate key 'http' (first at line 3)"
    )


def test_duplicate_top_level_key(write: Any) -> None:
    path = write(
        """
        probes: []
        settings: {}
        probes: []
        """
    )
    assert problem(path) == "probes.yaml:3:1: probes: duplicate key 'probes' (first at line 1)"


def test_duplicate_probe_name_points_at_the_first(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
          - name: home
            http: https://example.org/
        """
    )
    assert problem(path) == (
        "probes.yaml:4:11: probes[1].name: probe 'home' is already defined at probes.yaml:2:5"
    )


# ----------------------------------------------------------------------------- use


def test_use_of_an_unknown_probe_suggests_one(write: Any) -> None:
    path = write(
        """
        probes:
          - name: login
            journey: [{goto: "https://example.com/login"}]
          - name: checkout
            journey:
              - use: logn
        """
    )
    assert problem(path) == (
        "probes.yaml:6:14: probes[1].journey[0].use: no probe named 'logn' (did you mean 'login'?)"
    )


def test_use_of_an_http_probe(write: Any) -> None:
    path = write(
        """
        probes:
          - name: health
            http: https://example.com/health
          - name: checkout
            journey:
              - goto: https://example.com/
              - use: health
        """
    )
    assert problem(path) == (
        "probes.yaml:7:14: probes[1].journey[1].use: 'health' is an http check; use takes a journey"
    )


def test_use_cycle_is_reported_not_followed(write: Any) -> None:
    path = write(
        """
        probes:
          - name: a
            journey:
              - use: b
          - name: b
            journey:
              - use: a
        """
    )
    assert problems(path) == [
        "probes.yaml:4:14: probes[0].journey[0].use: use goes round in a circle: b -> a -> b",
        "probes.yaml:7:14: probes[1].journey[0].use: use goes round in a circle: a -> b -> a",
    ]


def test_a_broken_journey_used_by_others_is_reported_once(write: Any) -> None:
    path = write(
        """
        probes:
          - name: login
            journey:
              - use: logn
          - name: checkout
            journey: [{use: login}]
          - name: account
            journey: [{use: login}]
          - name: a
            journey: [{use: b}]
          - name: b
            journey: [{use: a}]
          - name: c
            journey: [{use: a}]
        """
    )
    assert problems(path) == [
        "probes.yaml:4:14: probes[0].journey[0].use: no probe named 'logn' (did you mean 'login'?)",
        "probes.yaml:10:21: probes[3].journey[0].use: use goes round in a circle: b -> a -> b",
        "probes.yaml:12:21: probes[4].journey[0].use: use goes round in a circle: a -> b -> a",
    ]


def test_use_splices_steps_in_place_and_nests(write: Any) -> None:
    path = write(
        """
        probes:
          - name: open
            journey: [{goto: "https://example.com/"}]
          - name: login
            journey:
              - use: open
              - click: "#login"
          - name: checkout
            journey:
              - use: login
              - click: "#buy"
        """
    )
    project = load(path)
    steps = project.steps["checkout"]
    assert [s.action for s in steps] == ["goto", "click", "click"]
    assert [getattr(s, "click", None) and s.click.selector for s in steps[1:]] == [  # type: ignore[attr-defined]
        "#login",
        "#buy",
    ]


# ----------------------------------------------------------------------------- files


def test_yaml_syntax_error_gives_its_line(write: Any) -> None:
    path = write(
        """
        settings:
          timeout: 30s
        probes:
          - name: home
            http: "https://example.com/" trailing
          - name: other
            http: https://example.org/
        """
    )
    found = problem(path)
    assert found.startswith("probes.yaml:5:"), found
    assert ": YAML syntax error: " in found


def test_bad_indentation_is_a_syntax_error_on_its_line(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
           expect: {status: 200}
        """
    )
    found = problem(path)
    assert found.startswith("probes.yaml:4:"), found
    assert "YAML syntax error" in found


def test_file_not_found() -> None:
    assert problem("missing.yaml") == "missing.yaml: no such file"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(write: Any, text: str) -> None:
    path = write(text)
    assert problem(path) == "probes.yaml:1:1: the file is empty; it needs probes:"


@pytest.mark.parametrize("text", ["- name: home\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(write: Any, text: str) -> None:
    path = write(text)
    assert problem(path) == "probes.yaml:1:1: the file must be a mapping with probes:"


def test_probes_must_be_a_list(write: Any) -> None:
    path = write("probes: {name: home}\n")
    assert problem(path).startswith("probes.yaml:1:9: probes: ")


def test_non_text_key(write: Any) -> None:
    path = write(
        """
        probes:
          - name: home
            http: https://example.com/
            1: one
        """
    )
    assert problem(path) == "probes.yaml:4:5: probes[0]: keys must be text, not 1"


def test_several_problems_in_one_file_are_all_reported_in_order(write: Any) -> None:
    path = write(
        """
        settings:
          timout: 30s
          concurrency: many
        probes:
          - name: home
            http: https://example.com/
            expct: {status: 200}
          - name: buy
            journey:
              - clik: "#buy"
              - goto: {url: "https://example.com/", wait_until: sometime}
        """
    )
    found = problems(path)
    assert [line.split(": ", 2)[:2] for line in found] == [
        ["probes.yaml:2:3", "settings.timout"],
        ["probes.yaml:3:16", "settings.concurrency"],
        ["probes.yaml:7:5", "probes[0].expct"],
        ["probes.yaml:10:9", "probes[1].journey[0].clik"],
        ["probes.yaml:11:57", "probes[1].journey[1].goto.wait_until"],
    ]


# ----------------------------------------------------------------------------- the CLI


def test_cli_prints_one_line_per_problem_and_a_count(write: Any, tmp_path: Path) -> None:
    write(
        """
        settings:
          timout: 30s
        probes:
          - name: buy
            journey:
              - clik: "#buy"
              - click: ""
        """
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    assert done.stdout == ""
    assert stderr_lines(done.stderr) == [
        "probes.yaml:2:3: settings.timout: unknown key (did you mean 'timeout'?)",
        "probes.yaml:6:9: probes[0].journey[0].clik: unknown step action "
        f"(did you mean 'click'?); actions: {ALL_ACTIONS}",
        "probes.yaml:7:16: probes[0].journey[1].click.selector: must not be empty",
        "3 problems in probes.yaml",
    ]


def test_cli_missing_file(tmp_path: Path) -> None:
    done = observer("validate", "nope.yaml", cwd=tmp_path)
    assert done.code == 2
    assert stderr_lines(done.stderr) == ["nope.yaml: no such file", "1 problem in nope.yaml"]


def test_cli_counts_ok_probes(write: Any, tmp_path: Path) -> None:
    write(
        """
        probes:
          - name: health
            http: https://example.com/health
          - name: home
            device: iPhone 13
            journey: [{goto: "https://example.com/"}]
        """
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == "probes.yaml: ok (2 probes: 1 journey, 1 http check; 0 budgets)"


def _need_devices() -> None:
    from observer.browser import known_devices

    if not known_devices():
        pytest.skip("Playwright's device list is not readable here")


def test_cli_unknown_device_suggests_one(write: Any, tmp_path: Path) -> None:
    _need_devices()
    write(
        """
        probes:
          - name: phone
            device: iPhone 13
            journey: [{goto: "https://example.com/"}]
          - name: typo
            device: iPhone 133
            journey: [{goto: "https://example.com/"}]
        """
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    assert "ok" not in done.stdout
    assert stderr_lines(done.stderr) == [
        "probes.yaml:6:13: probes[1].device: Playwright has no device 'iPhone 133' "
        "(did you mean 'iPhone 13'?)",
        "1 problem in probes.yaml",
    ]


# ----------------------------------------------------------------------------- ${VAR} expansion


def _http_of(project: Project, name: str = "p") -> str:
    url = project.probe(name).http
    assert url is not None
    return url


def test_env_variables_and_defaults(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            http: "${SCHEME}://${HOST:-example.com}/${PATH_PART:-x}?e=${EMPTY:-fallback}"
        """
    )
    env = {"SCHEME": "https", "PATH_PART": "health", "EMPTY": ""}
    assert _http_of(load(path, env)) == "https://example.com/health?e=fallback"
    env = {"SCHEME": "http", "HOST": "h.test", "PATH_PART": "p", "EMPTY": "set"}
    assert _http_of(load(path, env)) == "http://h.test/p?e=set"


def test_vars_use_env_other_vars_and_shadow_env(write: Any) -> None:
    path = write(
        """
        vars:
          url: ${scheme}://${host}${port}
          host: ${SHOP_HOST:-shop.test}
          scheme: https
          port: ":${SHOP_PORT:-443}"
          HOME: /not/the/env/one
        probes:
          - name: p
            http: ${url}/health?home=${HOME}
        """
    )
    env = {"SHOP_HOST": "h.example", "HOME": "/root"}
    project = load(path, env)
    assert _http_of(project) == "https://h.example:443/health?home=/not/the/env/one"
    assert project.config.vars["url"] == "https://h.example:443"


def test_number_and_bool_vars_are_text(write: Any) -> None:
    path = write(
        """
        vars: {port: 8080, debug: true}
        probes:
          - name: p
            http: http://x:${port}/?debug=${debug}
        """
    )
    assert _http_of(load(path)) == "http://x:8080/?debug=true"


def test_double_dollar_is_a_literal_dollar(write: Any) -> None:
    path = write(
        """
        vars:
          price: $$5
        probes:
          - name: p
            journey:
              - expect_text: "costs ${price}, not $${price} or $5"
        """
    )
    step = load(path).steps["p"][0]
    assert step.expect_text.text == "costs $5, not ${price} or $5"  # type: ignore[attr-defined]


def test_missing_variable_is_named_with_its_place(write: Any) -> None:
    path = write(
        """
        vars:
          base: ${SHOP_URL}
        probes:
          - name: p
            http: ${base}/x
          - name: q
            journey:
              - fill: {selector: "#pw", value: "${SHOP_PASSWORD}", secret: true}
        """
    )
    # A secret gets no default in its advice; a var's variable is reported where it is
    # written, with who needs it through which var.
    assert problems(path) == [
        "probes.yaml:2:9: vars.base: variable 'SHOP_URL' is not set "
        "(set it, or give a default: ${SHOP_URL:-value}); probe 'p' uses it through ${base}",
        "probes.yaml:8:40: probes[1].journey[0].fill.value: variable 'SHOP_PASSWORD' is not set "
        "(it holds a secret: set it in the environment)",
    ]


def test_unclosed_reference(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            http: "https://${HOST/x"
        """
    )
    assert problem(path, {"HOST": "h"}) == (
        "probes.yaml:3:11: probes[0].http: unclosed '${' in 'https://${HOST/x' "
        "(write $$ for a literal $)"
    )


def test_bad_variable_name_in_reference(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            http: "https://${1HOST}/"
        """
    )
    assert problem(path).startswith(
        "probes.yaml:3:11: probes[0].http: '${1HOST}' is not a variable"
    )


def test_vars_that_refer_to_each_other_do_not_loop(write: Any) -> None:
    path = write(
        """
        vars:
          a: ${b}
          b: ${a}
        probes: []
        """
    )
    found = problems(path)
    assert found == ["probes.yaml:2:6: vars.a: vars refer to each other in a circle: a -> b -> a"]


def test_expansion_through_the_cli(
    write: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OBSERVER_TEST_HOST", raising=False)
    write(
        """
        probes:
          - name: p
            http: https://${OBSERVER_TEST_HOST}/health
        """
    )
    # validate checks the structure without the environment (tests/test_variables.py has the
    # rest); --require-env wants every variable set.
    done = observer("validate", "probes.yaml", "--require-env", cwd=tmp_path)
    assert done.code == 2
    assert stderr_lines(done.stderr) == [
        "probes.yaml:3:11: probes[0].http: variable 'OBSERVER_TEST_HOST' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_HOST:-value})",
        "1 problem in probes.yaml",
    ]
    done = observer(
        "validate",
        "probes.yaml",
        "--require-env",
        cwd=tmp_path,
        env={"OBSERVER_TEST_HOST": "h.test"},
    )
    assert done.code == 0, done.stderr
    assert done.stderr == ""


# ----------------------------------------------------------------------------- include


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def test_include_glob_is_relative_to_the_including_file(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "conf/main.yaml": """
                include: ["parts/*.yaml"]
                probes:
                  - name: checkout
                    journey:
                      - use: login
                      - click: "#buy"
                """,
            "conf/parts/account.yaml": """
                vars: {pw: "${PW:-hunter2}"}
                probes:
                  - name: login
                    journey:
                      - goto: https://example.com/login
                      - fill: {selector: "#pw", value: "${pw}", secret: true}
                """,
            "conf/parts/health.yaml": """
                probes:
                  - name: health
                    http: https://example.com/health
                """,
            # Not matched by the glob: must not be loaded.
            "conf/parts/notes.txt": "probes: [oops\n",
            "parts/stray.yaml": "probes: [{name: stray, http: 'https://x/'}]\n",
        },
    )
    project = load(tmp_path / "conf" / "main.yaml")
    assert sorted(p.name for p in project.probes) == ["checkout", "health", "login"]
    assert [s.action for s in project.steps["checkout"]] == ["goto", "fill", "click"]
    assert project.secrets == ["hunter2"]
    assert project.base_dir == tmp_path / "conf"


def test_problems_in_an_included_file_name_that_file(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "main.yaml": """
                include: [sub/more.yaml]
                probes:
                  - name: home
                    http: https://example.com/
                """,
            "sub/more.yaml": """
                probes:
                  - name: other
                    htp: https://example.com/
                """,
        },
    )
    found = problems(tmp_path / "main.yaml")
    assert "sub/more.yaml:3:5: probes[0].htp: unknown key (did you mean 'http'?)" in found


def test_circular_includes_load_each_file_once(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "a.yaml": """
                include: [b.yaml, a.yaml]
                probes:
                  - name: a
                    journey: [{use: b}]
                """,
            "b.yaml": """
                include: [a.yaml]
                probes:
                  - name: b
                    journey: [{goto: "https://example.com/"}]
                """,
        },
    )
    project = load(tmp_path / "a.yaml")
    assert sorted(p.name for p in project.probes) == ["a", "b"]
    assert [s.action for s in project.steps["a"]] == ["goto"]


def test_duplicate_probe_across_files_points_at_the_first(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "main.yaml": """
                include: ["parts/*.yaml"]
                probes: []
                """,
            "parts/a.yaml": """
                probes:
                  - name: health
                    http: https://example.com/health
                """,
            "parts/b.yaml": """
                probes:
                  - name: other
                    http: https://example.com/
                  - name: health
                    http: https://example.org/health
                """,
        },
    )
    assert problem(tmp_path / "main.yaml") == (
        "parts/b.yaml:4:11: probes[1].name: probe 'health' is already defined at parts/a.yaml:2:5"
    )


def test_include_of_a_missing_file(write: Any) -> None:
    path = write(
        """
        include:
          - other.yaml
          - "none-*.yaml"
        probes: []
        """
    )
    assert problems(path) == [
        "probes.yaml:2:5: include[0]: no file matches 'other.yaml'",
        "probes.yaml:3:5: include[1]: no file matches 'none-*.yaml'",
    ]


# ----------------------------------------------------------------------------- schema


def _cli_schema() -> dict[str, Any]:
    done = observer("schema")
    assert done.code == 0, done.stderr
    schema = json.loads(done.stdout)
    assert isinstance(schema, dict)
    return schema


def test_schema_describes_the_file() -> None:
    schema = _cli_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object"
    assert {"settings", "vars", "include", "probes"} <= set(schema["properties"])
    # Unknown keys are refused at the top and in settings, as the loader does.
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Settings"]["additionalProperties"] is False
    assert schema["$defs"]["Probe"]["additionalProperties"] is False


def test_schema_lists_every_step_action() -> None:
    schema = json_schema()
    journey = schema["$defs"]["Probe"]["properties"]["journey"]
    array = next(s for s in journey["anyOf"] if s.get("type") == "array")
    refs = [item["$ref"].rsplit("/", 1)[-1] for item in array["items"]["oneOf"]]
    actions: list[str] = []
    for ref in refs:
        step = schema["$defs"][ref]
        own = [k for k in step["properties"] if k not in ("name", "timeout")]
        assert len(own) == 1, (ref, own)
        assert own[0] in step["required"]
        assert step["additionalProperties"] is False
        actions.extend(own)
    assert sorted(actions) == sorted(ACTIONS)


def test_schema_validates_files_with_jsonschema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load((ROOT / "probes.example.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(example)) == []
    assert list(validator.iter_errors({**example, "probs": []}))
    assert list(validator.iter_errors({"settings": {"timout": "1s"}}))


# ----------------------------------------------------------------------------- secrets


def test_secrets_are_collected_expanded_and_through_use(write: Any) -> None:
    path = write(
        """
        vars:
          token: tok-${TOKEN_SUFFIX}
        probes:
          - name: login
            journey:
              - fill: {selector: "#user", value: demo@example.com}
              - fill: {selector: "#pw", value: "${SHOP_PASSWORD:-s3cret}", secret: true}
          - name: checkout
            journey:
              - use: login
              - fill: {selector: "#card", value: "${token}", secret: true}
              - fill: {selector: "#note", value: "", secret: true}
        """
    )
    project = load(path, {"TOKEN_SUFFIX": "abc123", "SHOP_PASSWORD": "pa55"})
    assert project.secrets == ["tok-abc123", "pa55"]  # longest first
    assert "demo@example.com" not in project.secrets
    fills = [s for s in project.steps["checkout"] if isinstance(s, FillStep)]
    assert [f.fill.secret for f in fills] == [False, True, True, True]


def test_secret_only_reached_through_use_of_an_included_journey(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "main.yaml": """
                include: [login.yaml]
                probes:
                  - name: checkout
                    journey: [{use: login}]
                """,
            "login.yaml": """
                probes:
                  - name: login
                    journey:
                      - fill: {selector: "#pw", value: "${PW}", secret: true}
                """,
        },
    )
    assert load(tmp_path / "main.yaml", {"PW": "only-here"}).secrets == ["only-here"]
