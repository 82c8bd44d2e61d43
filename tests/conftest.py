"""Shared fixtures: a real demo shop on a free loopback port, probe files in temp dirs, the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from observer.demo.shop import ShopServer

ROOT = Path(__file__).resolve().parent.parent
OBSERVER = [sys.executable, "-m", "observer"]


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    """A fresh demo shop (its own carts, orders and faults) for one test."""
    with ShopServer() as server:
        yield server


def set_faults(shop: ShopServer, **faults: Any) -> None:
    """Switch faults on in a running demo shop."""
    r = httpx.post(f"{shop.url}/__faults", json=faults, timeout=5)
    r.raise_for_status()


@dataclass
class Done:
    """What a finished observer process left behind."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def observer(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 150
) -> Done:
    """Run the real `observer` command in a child process."""
    # The tables are as wide as COLUMNS says when it is set (pytest-xdist workers set 80):
    # the tests read observer's output as a CI log would, with no terminal width.
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update(env or {})
    proc = subprocess.run(
        [*OBSERVER, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Done(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def write(tmp_path: Path) -> Any:
    """Write a probe file (dedented) into the test's temp dir and return its path."""

    def _write(text: str, name: str = "probes.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


def rows(db: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Query a results database the way a user with sqlite3 would."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def dump_database(db: Path) -> str:
    """Every value in every table, as text: what a secret must not appear in."""
    conn = sqlite3.connect(db)
    try:
        out = []
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in conn.execute(f"select * from {table}"):
                out.append(" | ".join(str(v) for v in row))
        return "\n".join(out)
    finally:
        conn.close()
