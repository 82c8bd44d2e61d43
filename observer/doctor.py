"""`observer doctor`: what observer would use on this machine, each part checked."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Project


@dataclass(frozen=True)
class Check:
    """One part observer needs, and whether it is usable."""

    label: str
    value: str
    ok: bool = True


def checks(project: Project | None, database: str) -> list[Check]:
    """Python, Playwright, the browser, the bundled web-vitals and the database, in that order."""
    return [
        Check("python", f"{sys.version.split()[0]} ({sys.executable})"),
        _playwright(),
        _browser(project),
        _web_vitals(),
        _database(database),
    ]


def _playwright() -> Check:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return Check("playwright", version("playwright"))
    except PackageNotFoundError:
        return Check("playwright", "not installed: pip install playwright", False)


def _browser(project: Project | None) -> Check:
    from .browser import BrowserNotFound, browser_version, find_chromium

    settings = project.config.settings.browser if project else None
    try:
        info = find_chromium(settings, settings.headless if settings else True)
    except BrowserNotFound as exc:
        return Check("browser", str(exc), False)
    ver = browser_version(info.path) or "version unknown"
    return Check("browser", f"{info.path} ({ver}; found via {info.source})")


def _web_vitals() -> Check:
    from .browser import lab_script
    from .results import ObserverError

    try:
        lab_script()
    except ObserverError as exc:
        return Check("web-vitals", str(exc), False)
    return Check("web-vitals", "bundled")


def _database(target: str) -> Check:
    from .store import SCHEMA_VERSION, StoreError, is_url, open_store, shown

    if not is_url(target) and not Path(target).exists():
        return Check("database", f"{target} (not there yet: the first run creates it)")
    try:
        with open_store(target) as store:
            runs = store.count("runs")
            schema = f"schema {store.schema_version()}/{SCHEMA_VERSION}"
    except StoreError as exc:
        return Check("database", str(exc), False)
    engine = "PostgreSQL" if is_url(target) else "WAL"
    return Check("database", f"{shown(target)} ({schema}, {runs} runs, {engine})")
