"""Several observer processes on one database: their heartbeats, and the probe slots runners
claim so that each slot runs once at each location."""

from __future__ import annotations

import time

from .rows import RunnerRow
from .sql import Engine

_RUNNER_COLUMNS = (
    "id",
    "location",
    "version",
    "config_hash",
    "roles",
    "started_at",
    "last_seen",
    "in_flight",
    "spooled",
)


class Cluster(Engine):
    """Heartbeats and slot claims; an engine with a clock of its own overrides `db_time`."""

    shared = False  # other machines may write to this database

    def db_time(self) -> float:
        """Now, by the database's clock (the same for every process that uses it)."""
        return time.time()

    def claim_slot(self, probe: str, location: str, slot: int, runner: str) -> bool:
        """Take one slot of a probe at a location; False if another runner has it."""
        with self.transaction():
            return (
                self.run(
                    "insert into slots (probe, location, slot, runner, claimed_at) "
                    "values (?, ?, ?, ?, ?) on conflict do nothing",
                    [probe, location, slot, runner, self.db_time()],
                )
                == 1
            )

    def heartbeat(self, runner: RunnerRow) -> None:
        """Say this process is alive (its location, version, config and runs in flight)."""
        runner.last_seen = self.db_time()
        values = [getattr(runner, c) for c in _RUNNER_COLUMNS]
        sets = ", ".join(f"{c} = excluded.{c}" for c in _RUNNER_COLUMNS[1:] if c != "started_at")
        with self.transaction():
            self.run(
                f"insert into runners ({', '.join(_RUNNER_COLUMNS)}) values "
                f"({', '.join('?' * len(_RUNNER_COLUMNS))}) on conflict (id) do update set {sets}",
                values,
            )

    def runners(self, seen_since: float = 0.0) -> list[RunnerRow]:
        """Processes seen since a time, by location then id."""
        rows = self.dicts(
            f"select {', '.join(_RUNNER_COLUMNS)} from runners where last_seen >= ? "
            "order by location, id",
            [seen_since],
        )
        return [RunnerRow(**r) for r in rows]

    def lead(self, role: str) -> bool:
        """One process per database: it leads whatever it does."""
        return True

    def prune_slots(self, before: float) -> int:
        """Forget claims older than a time (they only guard slots still to come)."""
        with self.transaction():
            gone = self.run("delete from slots where claimed_at < ?", [before])
            self.run("delete from runners where last_seen < ?", [before])
            return gone
