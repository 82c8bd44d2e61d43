"""The only package that speaks SQL: the typed `Store` protocol, its rows, the SQLite engine,
the schema and its migrations. Every other module reads and writes through `Store`."""

from __future__ import annotations

import os
from pathlib import Path

from .base import Store, StoreError
from .copy import Count, copy_history

# psycopg itself is imported only when a PostgreSQL store opens.
from .postgres import database_secrets, is_url, masked
from .rows import (
    ArtifactRow,
    BeaconRow,
    ErrorRow,
    ExpectationRow,
    Incident,
    IncidentState,
    LabPage,
    Notification,
    Notified,
    PageRow,
    Picked,
    ProbeStats,
    Queued,
    RumComment,
    RumError,
    RumFact,
    RumImpact,
    RumValue,
    RunDetails,
    RunnerRow,
    RunRow,
    Silence,
    StepRow,
    StepTime,
    ViolationRow,
)
from .schema import BUSY_TIMEOUT_MS, MIGRATIONS, SCHEMA_VERSION
from .sqlite import SQLiteStore

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ArtifactRow",
    "BeaconRow",
    "Count",
    "ErrorRow",
    "ExpectationRow",
    "Incident",
    "IncidentState",
    "LabPage",
    "Notification",
    "Notified",
    "PageRow",
    "Picked",
    "ProbeStats",
    "Queued",
    "RumComment",
    "RumError",
    "RumFact",
    "RumImpact",
    "RumValue",
    "RunDetails",
    "RunRow",
    "RunnerRow",
    "SQLiteStore",
    "Silence",
    "StepRow",
    "StepTime",
    "Store",
    "StoreError",
    "ViolationRow",
    "copy_history",
    "database_secrets",
    "is_url",
    "masked",
    "open_store",
    "shown",
    "target",
]


def open_store(target: str | Path) -> Store:
    """The database at `target`, migrated: a `postgresql://` URL, else an SQLite file.
    StoreError (which never holds the password) if it cannot be used."""
    text = str(target)
    if is_url(text):
        from .postgres import PostgresStore

        return PostgresStore(text)
    return SQLiteStore(target)


def target(given: str | None, configured: str | None, base: Path | None = None) -> str:
    """The database a command uses: the one given (--db), else $OBSERVER_DATABASE, else the
    configured one (settings.database, a file relative to `base`), else ./observer.db. A
    PostgreSQL URL is taken as it is."""
    for value, relative_to in (
        (given, None),
        (os.environ.get("OBSERVER_DATABASE"), None),
        (configured, base),
    ):
        if not value:
            continue
        if is_url(value):
            return value
        path = Path(value).expanduser()
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        return os.path.abspath(path) if relative_to is not None else str(path)
    return "observer.db"


def shown(target: str) -> str:
    """A database as it may be shown: a file's path, or a URL without its password."""
    return masked(target) if is_url(target) else target
