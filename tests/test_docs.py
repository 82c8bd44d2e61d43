"""The manual keeps up with the code: every command, option and config key is documented."""

from __future__ import annotations

import json
import re
from typing import Any

import click
from conftest import ROOT
from pydantic import BaseModel

from observer.cli import main
from observer.config import models
from observer.config.schema import json_schema


def _models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(models).values()
        if isinstance(obj, type) and issubclass(obj, models.Strict) and obj.model_fields
    ]


def test_every_config_key_is_in_the_reference() -> None:
    doc = "".join(
        (ROOT / "docs" / name).read_text(encoding="utf-8")
        for name in ("config.md", "budgets.md", "rum.md", "alerts.md", "dashboard.md")
    )
    missing = sorted(
        f"{model.__name__}.{name}"
        for model in _models()
        for name in (f.alias or n for n, f in model.model_fields.items())
        if not any(
            f"`{form}`" in doc
            for form in (name, f"{name}:", f"browser.{name}", f"expect.{name}", f"retention.{name}")
        )
    )
    assert missing == []


def test_every_step_action_is_in_the_reference() -> None:
    doc = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
    assert [a for a in models.ACTIONS if f"| `{a}` |" not in doc] == []


def test_every_command_and_option_is_in_the_cli_doc() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert isinstance(main, click.Group)
    for name, command in main.commands.items():
        assert f"## `observer {name}" in doc, f"observer {name} is not documented"
        for param in command.params:
            if isinstance(param, click.Option):
                flag = max(param.opts, key=len)
                assert f"`{flag}" in doc or f"[{flag}" in doc, f"{name} {flag} is not documented"


def test_the_committed_schema_is_current() -> None:
    committed: dict[str, Any] = json.loads(
        (ROOT / "docs" / "probes.schema.json").read_text(encoding="utf-8")
    )
    assert committed == json_schema(), "run: observer schema > docs/probes.schema.json"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert block is not None and readme.index("```sh") < readme.index("\n## ")
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("bash .ci/setup && .venv/bin/observer demo")
    assert commands[1].startswith("bash .ci/test")
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash .ci/test" in run
