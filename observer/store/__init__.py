"""The only package that speaks SQL: the typed `Store` protocol, its rows, the SQLite engine,
the schema and its migrations. Every other module reads and writes through `Store`."""

from __future__ import annotations

from pathlib import Path

from .base import Store, StoreError
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
    ProbeStats,
    RumError,
    RumImpact,
    RumValue,
    RunDetails,
    RunRow,
    Silence,
    StepRow,
    StepTime,
)
from .schema import BUSY_TIMEOUT_MS, MIGRATIONS, SCHEMA_VERSION
from .sqlite import SQLiteStore

__all__ = [
    "BUSY_TIMEOUT_MS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ArtifactRow",
    "BeaconRow",
    "ErrorRow",
    "ExpectationRow",
    "Incident",
    "IncidentState",
    "LabPage",
    "Notification",
    "Notified",
    "PageRow",
    "ProbeStats",
    "RumError",
    "RumImpact",
    "RumValue",
    "RunDetails",
    "RunRow",
    "SQLiteStore",
    "Silence",
    "StepRow",
    "StepTime",
    "Store",
    "StoreError",
    "open_store",
    "target",
]


def open_store(target: str | Path) -> Store:
    """The database at `target` (an SQLite file), migrated; StoreError if it cannot be used."""
    return SQLiteStore(target)


def target(given: str | None, configured: Path | None) -> Path:
    """The database a command uses: the one given (--db), else the configured one, else
    ./observer.db."""
    if given:
        return Path(given)
    return configured if configured is not None else Path("observer.db")
