"""The embedded engine: one SQLite file, in WAL mode, shared by every observer process."""

from __future__ import annotations

from .beacons import Beacons
from .incidents import Incidents
from .runs import Runs


class SQLiteStore(Runs, Beacons, Incidents):
    """observer's database in one SQLite file: open it, and it is migrated to the current schema."""

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
