"""Least privilege on PostgreSQL: what each observer role's database account may do.

One account owns the tables and migrates them (`observer db migrate`); each role's process logs
in as an account that holds only what that role does (`observer db grant ROLE ACCOUNT`). Every
role reads every table (the dashboard, budgets and drift all read); beyond that:

- runner: writes runs with their steps, pages, errors, artifact records and expectations,
  claims slots, and heartbeats in `runners`;
- ingest: writes beacons and their dedupe keys, and makes a day's partition through the owner's
  function `observer_beacon_day`;
- alerter: heartbeats, opens and closes incidents, queues and records notifications, keeps its
  cursor and silences, and prunes (deletes old runs, beacons, slots and runners; drops a beacon day
  through `observer_drop_beacon_day`);
- web: reads, nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence

RUN_TABLES = (
    "runs",
    "steps",
    "page_vitals",
    "errors",
    "artifacts",
    "expectations",
    "a11y_violations",
)
BEACON_TABLES = ("beacons", "beacon_keys")
ALERT_TABLES = ("incidents", "notifications", "outbox", "kv", "silences")
# Every table a role reads (`copies` belongs to `observer db copy`, run as the owner).
READ_TABLES = (
    *RUN_TABLES,
    *BEACON_TABLES,
    *ALERT_TABLES,
    "runners",
    "slots",
    "migrations",
)

# role -> (privileges, tables) pairs and the functions it may execute.
WRITES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    # Runners and alerters say they are alive (and which config they run) in `runners`.
    "runner": [("insert", RUN_TABLES), ("insert", ("slots",)), ("insert, update", ("runners",))],
    "ingest": [("insert, update", BEACON_TABLES)],
    "alerter": [
        ("insert, update, delete", ALERT_TABLES),
        ("insert, update", ("runners",)),
        ("delete", (*RUN_TABLES, *BEACON_TABLES, "slots", "runners")),
    ],
    "web": [],
}
FUNCTIONS = {
    "runner": (),
    "ingest": ("observer_beacon_day(double precision)",),
    "alerter": ("observer_drop_beacon_day(text)",),
    "web": (),
}
ROLES = tuple(WRITES)


def quote(name: str) -> str:
    """An SQL identifier, quoted (an account may be named anything)."""
    return '"' + name.replace('"', '""') + '"'


def roles_of(role: str) -> tuple[str, ...]:
    """The roles `role` stands for (`all`: every one)."""
    roles = ROLES if role == "all" else (role,)
    if any(r not in WRITES for r in roles):
        raise ValueError(f"no observer role {role!r}: one of all, {', '.join(ROLES)}")
    return roles


def inserts(role: str) -> list[str]:
    """The tables a role inserts into (whose id sequences it draws from)."""
    return [
        table
        for r in roles_of(role)
        for privileges, tables in WRITES[r]
        if "insert" in privileges
        for table in tables
    ]


def grant_statements(
    role: str, account: str, database: str, schema: str, sequences: Sequence[str] = ()
) -> list[str]:
    """The statements that give `account` what observer role `role` needs (`all`: every
    role's); `sequences` are those of the tables it inserts into."""
    roles = roles_of(role)
    who = quote(account)
    out = [
        f"grant connect on database {quote(database)} to {who}",
        f"grant usage on schema {quote(schema)} to {who}",
        f"grant select on {', '.join(READ_TABLES)} to {who}",
    ]
    for r in roles:
        for privileges, tables in WRITES[r]:
            out.append(f"grant {privileges} on {', '.join(tables)} to {who}")
        for function in FUNCTIONS[r]:
            out.append(f"grant execute on function {function} to {who}")
    if sequences:
        out.append(f"grant usage on sequence {', '.join(sequences)} to {who}")
    return out


__all__ = ["ROLES", "grant_statements", "inserts", "quote"]
