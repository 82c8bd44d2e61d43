"""Variables only where used, and values a journey captures for its later steps.

A command needs the variables of the parts of the probe file it uses: `run --probe search`
does not need the checkout journey's password, and `validate` needs none (it warns). Most
cases drive the real `observer` command in a child process; the loader's rules about captured
values are checked through `load_project` on files in a temp dir.
"""

from __future__ import annotations

import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServeProcess, observer
from test_alerts import Webhook

from observer.config import ConfigError, Project, load_project
from observer.config.expand import ExpandError, expand_step
from observer.config.models import Config, ExpectTextStep, FillStep, GotoStep
from observer.demo.shop import ShopServer

# Names no machine sets: the child processes inherit the test's environment.
PASSWORD = "OBSERVER_TEST_SHOP_PASSWORD"
HOOK = "OBSERVER_TEST_HOOK_URL"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Problems name files relative to the working directory: probes.yaml:3:5, not /tmp/...
    monkeypatch.chdir(tmp_path)
    for name in (PASSWORD, HOOK, *(f"OBSERVER_TEST_{n}" for n in ("N", "R", "W", "P", "ENV"))):
        monkeypatch.delenv(name, raising=False)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def problems(path: Path | str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_project(path, env={} if env is None else env, require_env=False)
    return [str(p) for p in info.value.problems]


def load(path: Path | str, env: dict[str, str] | None = None) -> Project:
    return load_project(path, env={} if env is None else env, require_env=False)


def tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


# ----------------------------------------------------------------------------- run and check

SHOP = f"""
vars:
  base: ${{BASE_URL}}
  password: ${{{PASSWORD}}}
probes:
  - name: search
    http: ${{base}}/products?q=grinder
    expect: {{status: 200}}
  - name: home
    journey:
      - goto: ${{base}}/
      - expect_text: Welcome to Demo Shop
  - name: login
    journey:
      - goto: ${{base}}/login
      - fill: {{selector: "#email", value: demo@example.com}}
      - fill: {{selector: "#password", value: "${{password}}", secret: true}}
      - click: "button[type=submit]"
budgets:
  - name: login is quick
    probe: login
    metric: duration
    threshold: p95 < 5s
"""

PASSWORD_NEEDED = (
    f"probes.yaml:3:13: vars.password: variable '{PASSWORD}' is not set (it holds a secret: "
    "set it in the environment); probe 'login' uses it through ${password}"
)


def test_run_needs_only_the_variables_of_the_probes_it_runs(
    shop: ShopServer, write: Any, tmp_path: Path
) -> None:
    write(SHOP)
    env = {"BASE_URL": shop.url}
    done = observer(
        "run", "probes.yaml", "--probe", "search", "--probe", "home", "--json", env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert {r["probe"]: r["outcome"] for r in done.json()["results"]} == {
        "search": "pass",
        "home": "pass",
    }
    assert PASSWORD not in done.stderr

    # The probe that types the password needs it: said where it is written, and who needs it.
    done = observer("run", "probes.yaml", "--probe", "login", env=env, cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [PASSWORD_NEEDED, "1 problem in probes.yaml"]
    # So does running everything.
    done = observer("run", "probes.yaml", env=env, cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [PASSWORD_NEEDED, "1 problem in probes.yaml"]


def test_check_needs_the_probes_it_runs_and_the_budgets_it_judges(
    shop: ShopServer, write: Any, tmp_path: Path
) -> None:
    write(SHOP)
    env = {"BASE_URL": shop.url}
    done = observer(
        "check", "probes.yaml", "--probe", "search", "--runs", "1", "--json", env=env,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert [r["probe"] for r in done.json()["results"]] == ["search"]
    done = observer("check", "probes.yaml", "--runs", "1", env=env, cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [PASSWORD_NEEDED, "1 problem in probes.yaml"]

    # A budget's own variable is needed by the commands that judge it.
    text = SHOP.replace("threshold: p95 < 5s", "threshold: p95 < ${OBSERVER_TEST_N}")
    write(text)
    done = observer("check", "probes.yaml", "--probe", "search", "--runs", "1", env=env)
    assert done.code == 0, done.stderr  # the login budget is not judged
    done = observer("budgets", "probes.yaml", env=env, cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        "probes.yaml:22:16: budgets[0].threshold: variable 'OBSERVER_TEST_N' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_N:-value})",
        "1 problem in probes.yaml",
    ]


BUDGET_NOT_SET = """
probes:
  - name: home
    http: http://127.0.0.1:9/
  - name: health
    http: http://127.0.0.1:9/health
budgets:
  - name: quick
    probe: ${OBSERVER_TEST_P}
    metric: ttfb
    threshold: p95 < 1s
"""


def test_a_check_judges_a_budget_whose_variable_is_not_set_only_with_it(
    write: Any, tmp_path: Path
) -> None:
    # Which probes the budget covers is not known: every check needs the variable, whatever
    # probes it runs. It is not skipped as if it were not there.
    write(BUDGET_NOT_SET)
    for only in ((), ("--probe", "health")):
        done = observer("check", "probes.yaml", "--runs", "1", *only, cwd=tmp_path)
        assert done.code == 2, done.stdout
        assert lines(done.stderr) == [
            "probes.yaml:8:12: budgets[0].probe: variable 'OBSERVER_TEST_P' is not set "
            "(set it, or give a default: ${OBSERVER_TEST_P:-value})",
            "1 problem in probes.yaml",
        ]
    # validate warns, and counts the budget (an alert rule may name it).
    write(
        BUDGET_NOT_SET
        + "alerts:\n  channels: {ops: 'json://127.0.0.1:9/hook'}\n"
        + "  rules: [{name: slow, budgets: [quick], notify: [ops]}]\n"
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout == (
        "probes.yaml: ok (2 probes: 0 journeys, 2 http checks; "
        "1 budget (1 not checked: a variable is not set))\n"
    )
    assert lines(done.stderr) == [
        "probes.yaml:8:12: budgets[0].probe: warning: variable 'OBSERVER_TEST_P' is not set, "
        "so this value cannot be checked"
    ]

    # Only its threshold not set, the budget covers home: a check of home needs it.
    write(
        BUDGET_NOT_SET.replace("${OBSERVER_TEST_P}", "home").replace(
            "p95 < 1s", "${OBSERVER_TEST_N}"
        )
    )
    done = observer("check", "probes.yaml", "--runs", "1", "--probe", "home", cwd=tmp_path)
    assert done.code == 2, done.stdout
    assert lines(done.stderr) == [
        "probes.yaml:10:16: budgets[0].threshold: variable 'OBSERVER_TEST_N' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_N:-value})",
        "1 problem in probes.yaml",
    ]
    done = observer("budgets", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr)[-1] == "1 problem in probes.yaml"


def test_use_pulls_in_the_variables_of_the_journeys_used_across_files(
    write: Any, tmp_path: Path
) -> None:
    tree(
        tmp_path,
        {
            "account.yaml": f"""
                probes:
                  - name: login
                    enabled: false
                    journey:
                      - goto: http://127.0.0.1:9/login
                      - fill: {{selector: "#pw", value: "${{{PASSWORD}}}", secret: true}}
                  - name: account
                    enabled: false
                    journey:
                      - use: login
                """,
        },
    )
    write(
        """
        include: [account.yaml]
        probes:
          - name: orders
            journey:
              - use: account
              - goto: http://127.0.0.1:9/orders
        """
    )
    done = observer("run", "probes.yaml", "--probe", "orders", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        f"account.yaml:6:40: probes[0].journey[1].fill.value: variable '{PASSWORD}' is not set "
        "(it holds a secret: set it in the environment)",
        "1 problem in probes.yaml",
    ]


BROKEN = """
probes:
  - name: p
    http: http://127.0.0.1:9/
    retries: 9
  - name: q
    journey:
      - goto: ${OBSERVER_TEST_N}
"""


def test_beside_a_problem_the_variables_a_command_needs_are_problems_too(
    write: Any, tmp_path: Path
) -> None:
    write(BROKEN)
    retries = "probes.yaml:4:14: probes[0].retries: Input should be less than or equal to 5"
    needed = (
        "probes.yaml:7:15: probes[1].journey[0].goto: variable 'OBSERVER_TEST_N' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_N:-value})"
    )
    for args in (("validate", "--require-env"), ("run",), ("run", "--probe", "q")):
        done = observer(*args, "probes.yaml", cwd=tmp_path)
        assert done.code == 2
        assert lines(done.stderr) == [retries, needed, "2 problems in probes.yaml"], args
    # q is not run: its variable is not yet a problem, and not counted as one.
    for args in (("validate",), ("run", "--probe", "p")):
        done = observer(*args, "probes.yaml", cwd=tmp_path)
        assert done.code == 2
        assert lines(done.stderr) == [
            retries,
            "probes.yaml:7:15: probes[1].journey[0].goto: warning: variable 'OBSERVER_TEST_N' "
            "is not set",
            "1 problem in probes.yaml",
        ], args


def test_beside_a_problem_of_the_whole_file_a_used_journey_needs_its_variables(
    write: Any, tmp_path: Path
) -> None:
    write(
        f"""
        probes:
          - name: login
            enabled: false
            journey:
              - fill: {{selector: "#pw", value: "${{{PASSWORD}}}", secret: true}}
          - name: account
            journey:
              - use: login
          - name: health
            http: http://127.0.0.1:9/health
            depends_on: [helth]
        """
    )
    depends = (
        "probes.yaml:11:18: probes[2].depends_on[0]: no probe named 'helth' "
        "(did you mean 'health'?)"
    )
    secret = f"probes.yaml:5:40: probes[0].journey[0].fill.value: variable '{PASSWORD}' is not set"
    done = observer("run", "probes.yaml", "--probe", "account", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        f"{secret} (it holds a secret: set it in the environment)",
        depends,
        "2 problems in probes.yaml",
    ]
    done = observer("run", "probes.yaml", "--probe", "health", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        secret.replace("variable", "warning: variable"),
        depends,
        "1 problem in probes.yaml",
    ]


def test_serve_needs_the_probes_it_schedules(write: Any, tmp_path: Path) -> None:
    path = write(
        f"""
        probes:
          - name: login
            enabled: false
            journey:
              - fill: {{selector: "#pw", value: "${{{PASSWORD}}}", secret: true}}
          - name: health
            http: http://127.0.0.1:9/health
            every: 1h
        """
    )
    serve = ServeProcess(path, tmp_path / "serve.db", start_timeout=60)
    assert serve.stop() == 0
    assert PASSWORD not in serve.text()

    path.write_text(path.read_text().replace("enabled: false", "enabled: true"))
    done = observer("serve", "probes.yaml", "--port", "0", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr)[-1] == "1 problem in probes.yaml"
    assert f"variable '{PASSWORD}' is not set" in done.stderr


def test_a_refused_reload_counts_no_warning_as_a_problem(write: Any, tmp_path: Path) -> None:
    path = write(
        """
        probes:
          - name: health
            http: http://127.0.0.1:9/health
            every: 1h
        """
    )
    serve = ServeProcess(path, tmp_path / "serve.db", start_timeout=60)
    try:
        # A real problem, and the variable of a probe serve does not schedule: a warning.
        path.write_text(
            path.read_text().replace("every: 1h", "every: 1h\n    retries: 9")
            + f"  - name: login\n    enabled: false\n    journey:\n"
            f'      - fill: {{selector: "#pw", value: "${{{PASSWORD}}}", secret: true}}\n'
        )
        serve.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while "still running the previous config" not in serve.text():
            assert serve.proc.poll() is None, serve.tail()
            if time.monotonic() > deadline:
                pytest.fail(f"no refusal in the log:\n{serve.tail()}")
            time.sleep(0.05)
        refused = [e for e in serve.events("reload_refused") if "still running" in e["msg"]]
        assert refused[0]["msg"].startswith("reload (SIGHUP) refused: 1 problem; ")
        said = {e["level"]: e["msg"] for e in serve.events("reload_refused")}
        assert f"variable '{PASSWORD}' is not set" in said["warning"]
    finally:
        assert serve.stop() == 0


# ----------------------------------------------------------------------------- validate

WARNED = f"""
vars:
  password: ${{{PASSWORD}}}
probes:
  - name: health
    http: ${{OBSERVER_TEST_HOST:-http://127.0.0.1:9}}/health
    every: ${{OBSERVER_TEST_N}}
    retries: ${{OBSERVER_TEST_R}}
  - name: login
    viewport:
      width: ${{OBSERVER_TEST_W}}
      height: 800
    journey:
      - fill: {{selector: "#pw", value: "${{password}}", secret: true}}
"""


def test_validate_warns_about_unset_variables_and_exits_0(write: Any, tmp_path: Path) -> None:
    write(WARNED)
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("probes.yaml: ok (2 probes: 1 journey, 1 http check;")
    assert lines(done.stderr) == [
        f"probes.yaml:2:13: vars.password: warning: variable '{PASSWORD}' is not set",
        "probes.yaml:6:12: probes[0].every: warning: variable 'OBSERVER_TEST_N' is not set, "
        "so this value cannot be checked",
        "probes.yaml:7:14: probes[0].retries: warning: variable 'OBSERVER_TEST_R' is not set, "
        "so this value cannot be checked",
        "probes.yaml:10:14: probes[1].viewport.width: warning: variable 'OBSERVER_TEST_W' is "
        "not set, so this value cannot be checked",
    ]


def test_validate_require_env_makes_the_warnings_problems(write: Any, tmp_path: Path) -> None:
    write(WARNED)
    done = observer("validate", "probes.yaml", "--require-env", cwd=tmp_path)
    assert done.code == 2
    assert done.stdout == ""
    assert lines(done.stderr) == [
        f"probes.yaml:2:13: vars.password: variable '{PASSWORD}' is not set (it holds a "
        "secret: set it in the environment); probe 'login' uses it through ${password}",
        "probes.yaml:6:12: probes[0].every: variable 'OBSERVER_TEST_N' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_N:-value})",
        "probes.yaml:7:14: probes[0].retries: variable 'OBSERVER_TEST_R' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_R:-value})",
        "probes.yaml:10:14: probes[1].viewport.width: variable 'OBSERVER_TEST_W' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_W:-value})",
        "4 problems in probes.yaml",
    ]
    env = {PASSWORD: "s3cret-pa55", "OBSERVER_TEST_N": "5m", "OBSERVER_TEST_R": "2"}
    env["OBSERVER_TEST_W"] = "1280"
    done = observer("validate", "probes.yaml", "--require-env", cwd=tmp_path, env=env)
    assert done.code == 0, done.stderr
    assert done.stderr == ""
    # Set, the value is checked as usual.
    env["OBSERVER_TEST_R"] = "9"
    done = observer("validate", "probes.yaml", cwd=tmp_path, env=env)
    assert done.code == 2
    assert "probes.yaml:7:14: probes[0].retries: Input should be less than or equal to 5" in (
        done.stderr
    )


def test_structure_is_checked_everywhere_else_beside_the_warnings(
    write: Any, tmp_path: Path
) -> None:
    write(WARNED.replace("height: 800", "height: 800\n      depth: 3"))
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    found = lines(done.stderr)
    assert "probes.yaml:12:7: probes[1].viewport.depth: unknown key (did you mean 'width'?)" in (
        found
    )
    assert found[-1] == "1 problem in probes.yaml"
    assert (
        "probes.yaml:6:12: probes[0].every: warning: variable 'OBSERVER_TEST_N' is not set, "
        "so this value cannot be checked" in found
    )


def test_a_glob_whose_variable_is_not_set_is_not_checked_but_the_names_beside_it_are(
    write: Any, tmp_path: Path
) -> None:
    text = """
        probes:
          - name: prod-home
            http: http://127.0.0.1:9/
        budgets:
          - name: quick
            probes: ["${OBSERVER_TEST_ENV}-*"]
            metric: ttfb
            threshold: p95 < 1s
        """
    write(text)
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert lines(done.stderr) == [
        "probes.yaml:6:14: budgets[0].probes[0]: warning: variable 'OBSERVER_TEST_ENV' is not "
        "set, so this value cannot be checked"
    ]
    # Set, it is checked as any glob is.
    done = observer("validate", "probes.yaml", env={"OBSERVER_TEST_ENV": "prod"}, cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stdout.endswith("; 1 budget)\n")
    done = observer("validate", "probes.yaml", env={"OBSERVER_TEST_ENV": "stage"}, cwd=tmp_path)
    assert done.code == 2
    assert "probes.yaml:6:13: budgets[0].probes: no probe matches 'stage-*'" in done.stderr
    # A name beside it that is no probe's is a problem all the same.
    write(text.replace('-*"]', '-*", prod-hom]'))
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr)[::2] == [
        "probes.yaml:6:13: budgets[0].probes: no probe named 'prod-hom' "
        "(did you mean 'prod-home'?)",
        "1 problem in probes.yaml",
    ]


def test_a_stand_in_value_leaves_the_other_probes_runnable(
    shop: ShopServer, write: Any, tmp_path: Path
) -> None:
    write(
        """
        probes:
          - name: health
            http: ${BASE_URL}/health
          - name: slow
            http: ${BASE_URL}/health
            every: ${OBSERVER_TEST_N}
            retries: ${OBSERVER_TEST_R}
            depends_on:
              - ${OBSERVER_TEST_W}
        """
    )
    env = {"BASE_URL": shop.url}
    done = observer("run", "probes.yaml", "--probe", "health", "--json", env=env, cwd=tmp_path)
    assert done.code == 0, done.stderr
    done = observer("run", "probes.yaml", "--probe", "slow", env=env, cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr)[-1] == "3 problems in probes.yaml"
    project = load("probes.yaml", env)
    assert project.has_unset("slow", "every") and not project.has_unset("health", "http")


def test_stand_ins_are_found_without_validating_the_file_again_and_again(
    write: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    validations = []
    validate = Config.model_validate

    def counted(*args: Any, **kwargs: Any) -> Config:
        validations.append(1)
        return validate(*args, **kwargs)

    # The real validation, counted: each pass over the whole file costs as much as the rest of
    # loading it.
    monkeypatch.setattr(Config, "model_validate", counted)
    project = load(write(WARNED))
    # Once as written, once with a stand-in in each value the field's type takes.
    assert len(validations) == 2
    assert [w.message.endswith("cannot be checked") for w in project.warnings] == [
        False,
        True,
        True,
        True,
    ]


# ----------------------------------------------------------------------------- other commands


@pytest.fixture
def hook() -> Iterator[Webhook]:
    receiver = Webhook()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_alerts_test_needs_only_the_channels_it_tests(
    hook: Webhook, write: Any, tmp_path: Path
) -> None:
    write(
        f"""
        probes:
          - name: health
            http: http://127.0.0.1:9/health
        alerts:
          timeout: 5s
          channels:
            hook: {hook.url()}
            pager: ${{{HOOK}}}
        """
    )
    done = observer("alerts", "test", "probes.yaml", "--channel", "hook", cwd=tmp_path)
    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["sent   hook (json://127.0.0.1/***)"]
    assert hook.titles == ["[TEST] observer can reach this channel"]

    done = observer("alerts", "test", "probes.yaml", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        f"probes.yaml:8:12: alerts.channels.pager: variable '{HOOK}' is not set "
        "(it holds a secret: set it in the environment)",
        "1 problem in probes.yaml",
    ]
    assert len(hook.messages) == 1


def test_budgets_prune_and_doctor_need_no_probe_variable(write: Any, tmp_path: Path) -> None:
    write(
        f"""
        settings: {{database: results.db}}
        probes:
          - name: login
            journey:
              - fill: {{selector: "#pw", value: "${{{PASSWORD}}}", secret: true}}
        budgets:
          - name: login completes
            probe: login
            metric: completion
            threshold: rate >= 99%
        """
    )
    done = observer("budgets", "probes.yaml", "--json", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert [v["name"] for v in done.json()["budgets"]] == ["login completes"]
    done = observer("prune", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "results.db" in done.stdout
    done = observer("doctor", "probes.yaml", cwd=tmp_path)
    assert PASSWORD not in done.stdout + done.stderr
    assert "results.db" in done.stdout


# ----------------------------------------------------------------------------- secret advice


def test_advice_gives_no_default_for_a_secret(write: Any) -> None:
    path = write(
        """
        settings:
          dashboard: {token: "${OBSERVER_TEST_A}"}
          public_url: ${OBSERVER_TEST_B}
        rum: {api_key: "${OBSERVER_TEST_C}"}
        probes:
          - name: p
            journey:
              - fill: {selector: "#pw", value: "${OBSERVER_TEST_D}", secret: true}
              - fill: {selector: "#name", value: "${OBSERVER_TEST_E}"}
              - capture: {name: code, selector: "${OBSERVER_TEST_F}", secret: true}
        alerts:
          channels: {ops: "mailto://${OBSERVER_TEST_G}@example.com"}
        """
    )
    with pytest.raises(ConfigError) as info:
        load_project(path, env={})
    advice = {p.message.split("'")[1]: p.message.split("(")[1] for p in info.value.problems}
    secret = "it holds a secret: set it in the environment)"
    assert advice == {
        "OBSERVER_TEST_A": secret,
        "OBSERVER_TEST_B": "set it, or give a default: ${OBSERVER_TEST_B:-value})",
        "OBSERVER_TEST_C": secret,
        "OBSERVER_TEST_D": secret,
        "OBSERVER_TEST_E": "set it, or give a default: ${OBSERVER_TEST_E:-value})",
        "OBSERVER_TEST_F": secret,
        "OBSERVER_TEST_G": secret,
    }


def test_a_project_loaded_without_the_environment_asks_per_part(write: Any) -> None:
    path = write(
        f"""
        settings: {{public_url: "${{OBSERVER_TEST_A}}"}}
        probes:
          - name: p
            http: http://127.0.0.1:9/
          - name: q
            http: http://127.0.0.1:9/${{OBSERVER_TEST_B}}
        alerts:
          channels: {{ops: "${{{HOOK}}}", mail: "mailto://x@example.com"}}
        """
    )
    project = load(path)
    project.require(probes=["p"], channels=["mail"])
    for parts, name in (
        ({"settings": True}, "OBSERVER_TEST_A"),
        ({"probes": ["q"]}, "OBSERVER_TEST_B"),
        ({"channels": ["ops"]}, HOOK),
        ({"alerts": True}, HOOK),
    ):
        with pytest.raises(ConfigError) as info:
            project.require(**parts)
        assert [p.message.split("'")[1] for p in info.value.problems] == [name]
    # A secret whose variable is not set is not a secret to mask: it has no value.
    assert project.secrets == ["mailto://x@example.com"]


# ----------------------------------------------------------------------------- captured values

CAPTURE = """
vars:
  base: http://127.0.0.1:9
  price: $$5
probes:
  - name: checkout
    journey:
      - goto: ${base}/cart
      - use: place
      - goto: ${base}/orders/${order}?cost=${price}
      - {name: "confirmation", timeout: 5s, expect_text: "Order #${order} for $$${price}"}
  - name: place
    enabled: false
    journey:
      - click: "text=Place order"
      - capture: {name: order, selector: "#order-number", regex: "#(\\\\d+)"}
      - expect_text: "${order}"
"""


def test_steps_after_a_capture_are_templates(write: Any) -> None:
    project = load(write(CAPTURE))
    steps = project.steps["checkout"]
    actions = ["goto", "click", "capture", "expect_text", "goto", "expect_text"]
    assert [s.action for s in steps] == actions
    assert [sorted(s.captures) for s in steps] == [[], [], [], ["order"], ["order"], ["order"]]
    # In a template every literal $ is $$ (from the file and from vars alike).
    goto = steps[4]
    assert isinstance(goto, GotoStep)
    assert goto.goto.url == "http://127.0.0.1:9/orders/${order}?cost=$$5"
    # The used journey's step is the same object in both lists.
    assert project.steps["place"][2] is steps[3]
    assert project.warnings == []


def test_expand_step_fills_in_a_copy(write: Any) -> None:
    project = load(write(CAPTURE))
    last = project.steps["checkout"][-1]
    filled = expand_step(last, {"order": "12${base}$$"})
    assert isinstance(filled, ExpectTextStep) and filled is not last
    # Captured text goes in as it is: nothing in it is expanded again.
    assert filled.expect_text.text == "Order #12${base}$$ for $$5"
    assert filled.name == "confirmation" and filled.timeout == 5.0
    assert filled.captures == frozenset()
    assert last.captures == {"order"}
    assert isinstance(last, ExpectTextStep)
    assert last.expect_text.text == "Order #${order} for $$$$5"  # the template is unchanged
    goto = expand_step(project.steps["checkout"][4], {"order": "7"})
    assert isinstance(goto, GotoStep)
    assert goto.goto.url == "http://127.0.0.1:9/orders/7?cost=$5"
    # The template serves every run: one run's values do not stay in it.
    again = expand_step(project.steps["checkout"][4], {"order": "8"})
    assert isinstance(again, GotoStep) and again.goto.url.endswith("/orders/8?cost=$5")
    # A step that uses no captured value is already concrete.
    first = project.steps["checkout"][0]
    assert expand_step(first, {}) is first


def test_expand_step_refuses_a_missing_or_invalid_value(write: Any) -> None:
    project = load(write(CAPTURE))
    step = project.steps["place"][2]
    with pytest.raises(ExpandError, match="nothing has captured 'order' yet"):
        expand_step(step, {})
    with pytest.raises(ExpandError, match=r"expect_text\.text: must not be empty"):
        expand_step(step, {"order": " "})


def test_a_secret_fill_of_a_captured_value_is_left_to_the_runtime(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            journey:
              - capture: {name: code, url_regex: "code=(\\\\w+)", secret: true}
              - fill: {selector: "#code", value: "${code}", secret: true}
        """
    )
    project = load(path)
    fill = project.steps["p"][1]
    assert isinstance(fill, FillStep) and fill.captures == {"code"}
    assert project.secrets == []
    filled = expand_step(fill, {"code": "hunter22"})
    assert isinstance(filled, FillStep) and filled.fill.value == "hunter22" and filled.fill.secret


def test_a_value_used_before_its_capture(write: Any) -> None:
    path = write(
        """
        probes:
          - name: checkout
            journey:
              - goto: http://127.0.0.1:9/cart
              - expect_text: "${order}"
              - capture: {name: order, selector: "#order-number"}
        """
    )
    assert problems(path) == [
        "probes.yaml:5:22: probes[0].journey[1].expect_text: '${order}' is used before step 3 "
        "captures it"
    ]


def test_a_value_no_step_of_the_journey_captures(write: Any) -> None:
    path = write(
        """
        probes:
          - name: checkout
            journey:
              - capture: {name: order, selector: "#order-number"}
          - name: orders
            journey:
              - goto: "http://127.0.0.1:9/orders/${order}"
          - name: confirm
            journey:
              - expect_text: "${order}"
          - name: buy
            journey:
              - capture: {name: order, selector: "#order-number"}
              - use: confirm
        """
    )
    assert problems(path) == [
        "probes.yaml:7:15: probes[1].journey[0].goto: no step of this journey captures 'order' "
        "(probe 'checkout' does)",
        "probes.yaml:10:22: probes[2].journey[0].expect_text: no step of this journey captures "
        "'order' (probe 'checkout' does)",
    ]


def test_a_journey_meant_for_use_may_rely_on_its_callers_captures(
    write: Any, tmp_path: Path
) -> None:
    write(
        """
        probes:
          - name: confirm
            enabled: false
            journey:
              - expect_text: "${order}"
          - name: buy
            journey:
              - capture: {name: order, selector: "#order-number"}
              - use: confirm
        """
    )
    done = observer("validate", "probes.yaml", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert done.stderr == ""
    done = observer("run", "probes.yaml", "--probe", "confirm", cwd=tmp_path)
    assert done.code == 2
    assert lines(done.stderr) == [
        "probes.yaml:5:22: probes[0].journey[0].expect_text: no step of this journey captures "
        "'order' (probe 'buy' does)",
        "1 problem in probes.yaml",
    ]


def test_captured_values_outside_the_steps_after_them(write: Any) -> None:
    path = write(
        """
        vars:
          link: /orders/${order}
        settings:
          public_url: "http://x/${order}"
        probes:
          - name: checkout
            journey:
              - capture: {name: order, selector: "#order-number"}
              - goto: http://127.0.0.1:9${link}
              - {name: "order ${order}", click: "#again"}
              - wait: ${order}
              - fill: {selector: "#ref", value: "${order:-none}"}
          - name: api
            http: http://127.0.0.1:9/api/orders/${order}
        """
    )
    only_after = "only the steps after the capture can use it"
    assert problems(path) == [
        "probes.yaml:2:9: vars.link: '${order}' is a value a journey step captures "
        f"(probe 'checkout'): {only_after}",
        "probes.yaml:4:15: settings.public_url: '${order}' is a value a journey step captures "
        f"(probe 'checkout'): {only_after}",
        "probes.yaml:10:16: probes[0].journey[2].name: '${order}' is captured while the journey "
        "runs, but a step's name is fixed when the file is loaded",
        "probes.yaml:11:15: probes[0].journey[3].wait: '${order}' is captured while the journey "
        "runs, but this value must be known when the file is loaded",
        "probes.yaml:12:41: probes[0].journey[4].fill.value: 'order' is a captured value, which "
        "takes no default: write ${order}",
        "probes.yaml:14:11: probes[1].http: '${order}' is a value a journey step captures "
        f"(probe 'checkout'): {only_after}",
    ]


def test_a_capture_name_may_not_be_a_variable(write: Any) -> None:
    path = write(
        """
        vars: {order: "12"}
        probes:
          - name: checkout
            journey:
              - capture: {name: order, selector: "#order-number"}
              - capture: {name: OBSERVER_TEST_SET, selector: "#order-number"}
        """
    )
    assert problems(path, {"OBSERVER_TEST_SET": "x"}) == [
        "probes.yaml:5:25: probes[0].journey[0].capture.name: 'order' is also the name of a "
        "var: give the captured value a name of its own",
        "probes.yaml:6:25: probes[0].journey[1].capture.name: 'OBSERVER_TEST_SET' is also an "
        "environment variable: give the captured value a name of its own",
    ]


def test_a_value_captured_twice_is_the_later_one(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            journey:
              - capture: {name: page, url_regex: "/products/(\\\\d+)"}
              - click: "text=Next"
              - capture: {name: page, url_regex: "/products/(\\\\d+)"}
              - expect_text: "Product ${page}"
        """
    )
    assert load(path).steps["p"][3].captures == {"page"}


def test_an_unknown_name_is_an_unset_variable_even_beside_captures(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            journey:
              - capture: {name: order, selector: "#order-number"}
              - expect_text: "${order} by ${OBSERVER_TEST_N}"
        """
    )
    project = load(path)
    assert [str(w) for w in project.warnings] == [
        "probes.yaml:5:22: probes[0].journey[1].expect_text: warning: variable "
        "'OBSERVER_TEST_N' is not set"
    ]
    with pytest.raises(ConfigError):
        project.require(probes=["p"])
    step = load(path, {"OBSERVER_TEST_N": "Ann"}).steps["p"][1]
    assert isinstance(step, ExpectTextStep) and step.expect_text.text == "${order} by Ann"


def test_a_use_whose_variable_is_not_set_pulls_in_no_journey(write: Any) -> None:
    path = write(
        """
        probes:
          - name: a
            journey:
              - use: ${OBSERVER_TEST_W}
              - goto: http://127.0.0.1:9/
          - name: unset
            journey:
              - goto: http://127.0.0.1:9/${OBSERVER_TEST_N}
        """
    )
    project = load(path)
    assert project.uses(["a"]) == ["a"]
    with pytest.raises(ConfigError) as info:
        project.require(probes=["a"])
    assert [str(p) for p in info.value.problems] == [
        "probes.yaml:4:14: probes[0].journey[0].use: variable 'OBSERVER_TEST_W' is not set "
        "(set it, or give a default: ${OBSERVER_TEST_W:-value})"
    ]


def test_a_captured_value_where_a_name_must_be_known_is_said_once(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            journey:
              - capture: {name: order, selector: "#order-number"}
              - use: ${order}
        """
    )
    # Not also "no probe named 'unset'": that is the stand-in's fault, not the file's.
    assert problems(path) == [
        "probes.yaml:5:14: probes[0].journey[1].use: '${order}' is captured while the journey "
        "runs, but this value must be known when the file is loaded"
    ]


def test_a_capture_name_whose_variable_is_not_set_captures_nothing_yet(write: Any) -> None:
    path = write(
        """
        probes:
          - name: p
            journey:
              - capture: {name: "${OBSERVER_TEST_N}", selector: "#order-number"}
              - expect_text: "${unset}"
        """
    )
    project = load(path)
    # The stand-in is no name: ${unset} is a variable that is not set, like any other.
    assert [str(w) for w in project.warnings] == [
        "probes.yaml:4:25: probes[0].journey[0].capture.name: warning: variable "
        "'OBSERVER_TEST_N' is not set, so this value cannot be checked",
        "probes.yaml:5:22: probes[0].journey[1].expect_text: warning: variable 'unset' is not set",
    ]
    assert project.steps["p"][1].captures == frozenset()
    step = load(path, {"OBSERVER_TEST_N": "unset"}).steps["p"][1]
    assert step.captures == {"unset"}
