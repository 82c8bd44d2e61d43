"""Alert state in SQLite: incidents, their notifications, and silences."""

from __future__ import annotations

from dataclasses import fields

from .rows import INCIDENT_COLUMNS, Incident, Notification, Queued, Silence
from .sql import Engine, insert_sql

_INCIDENTS = ", ".join(("id", *INCIDENT_COLUMNS))
_NOTIFICATIONS = ", ".join(f.name for f in fields(Notification))
_SILENCES = ", ".join(f.name for f in fields(Silence))
NOTIFICATION_COLUMNS = (
    "incident_id",
    "rule",
    "channel",
    "kind",
    "status",
    "attempt",
    "error",
    "title",
    "at",
)


class Incidents(Engine):
    """Incidents survive restarts: open ones are read back, so nothing is sent twice."""

    def open_incidents(self) -> list[Incident]:
        """Incidents pending or firing, oldest first."""
        rows = self.dicts(
            f"select {_INCIDENTS} from incidents where state in ('pending', 'firing') "
            "order by opened_at"
        )
        return [Incident.from_columns(r) for r in rows]

    def save_incident(self, incident: Incident) -> int:
        """Insert or update an incident (by id); returns its id."""
        columns = incident.columns()
        values = [columns[k] for k in INCIDENT_COLUMNS]
        with self.transaction():
            if incident.id:
                sets = ", ".join(f"{k} = ?" for k in INCIDENT_COLUMNS)
                self.run(f"update incidents set {sets} where id = ?", [*values, incident.id])
                return incident.id
            return self.insert_id("incidents", dict(zip(INCIDENT_COLUMNS, values, strict=True)))

    def incident(self, incident_id: int) -> Incident | None:
        """One incident by id (without its notifications), or None."""
        rows = self.dicts(f"select {_INCIDENTS} from incidents where id = ?", [incident_id])
        return Incident.from_columns(rows[0]) if rows else None

    def fired_spans(
        self, subject: str, since: float, rule: str | None = None
    ) -> list[tuple[float, float | None]]:
        """(opened_at, resolved_at) of a subject's incidents (of one rule, if given) that fired
        and were open at or after a time (resolved_at None: still open)."""
        by_rule = " and rule = ?" if rule is not None else ""
        rows = self.all(
            "select opened_at, resolved_at from incidents where subject = ? and fired_at is not "
            f"null and (resolved_at is null or resolved_at >= ?){by_rule} order by opened_at",
            [subject, since, *([rule] if rule is not None else [])],
        )
        return [(float(a), None if b is None else float(b)) for a, b in rows]

    def incidents(self, since: float | None = None, limit: int = 100) -> list[Incident]:
        """Incidents newest first, each with its notifications."""
        where, args = ("where opened_at >= ?", [since]) if since is not None else ("", [])
        rows = self.dicts(
            f"select {_INCIDENTS} from incidents {where} order by opened_at desc limit ?",
            [*args, limit],
        )
        out = [Incident.from_columns(r) for r in rows]
        for inc in out:
            notes = self.dicts(
                f"select {_NOTIFICATIONS} from notifications where incident_id = ? order by at, id",
                [inc.id],
            )
            inc.notifications = [Notification(**r) for r in notes]
        return out

    def add_notification(self, notification: Notification) -> None:
        """Record one delivery attempt (or a held or silenced notice)."""
        with self.transaction():
            self.run(
                insert_sql("notifications", NOTIFICATION_COLUMNS),
                [getattr(notification, c) for c in NOTIFICATION_COLUMNS],
            )

    def notifications(self, kind: str | None = None) -> list[Notification]:
        """Every notification, oldest first (optionally of one kind)."""
        sql = (
            f"select {_NOTIFICATIONS} from notifications"
            + (" where kind = ?" if kind else "")
            + " order by id"
        )
        return [Notification(**r) for r in self.dicts(sql, [kind] if kind else [])]

    def add_silence(
        self, pattern: str, starts: float, ends: float, reason: str | None, who: str | None
    ) -> int:
        """Silence incidents whose rule or subject matches a glob until `ends`."""
        with self.transaction():
            return self.insert_id(
                "silences",
                {
                    "pattern": pattern,
                    "starts_at": starts,
                    "ends_at": ends,
                    "reason": reason,
                    "created_by": who,
                },
            )

    def silences(self, now: float, active_only: bool = True) -> list[Silence]:
        """Silences in force now (or all of them)."""
        sql = (
            f"select {_SILENCES} from silences"
            + (" where starts_at <= ? and ends_at > ?" if active_only else "")
            + " order by ends_at"
        )
        return [Silence(**r) for r in self.dicts(sql, [now, now] if active_only else [])]

    def queue(self, item: Queued) -> int:
        """Write a notification down before it is sent; its id."""
        with self.transaction():
            return self.insert_id(
                "outbox", {f.name: getattr(item, f.name) for f in fields(item) if f.name != "id"}
            )

    def dequeue(self, queued_id: int) -> None:
        """The channel answered (or every retry failed): nothing left to send."""
        with self.transaction():
            self.run("delete from outbox where id = ?", [queued_id])

    def queued(self) -> list[Queued]:
        """Notifications written down and not delivered, oldest first."""
        cols = ", ".join(f.name for f in fields(Queued))
        return [Queued(**r) for r in self.dicts(f"select {cols} from outbox order by id")]

    def get_kv(self, key: str) -> str | None:
        """A small piece of state (such as how far `budgets --alert` has read)."""
        value = self.scalar("select value from kv where key = ?", [key])
        return None if value is None else str(value)

    def set_kv(self, key: str, value: str) -> None:
        """Remember a small piece of state."""
        with self.transaction():
            self.run(
                "insert into kv (key, value) values (?, ?) on conflict (key) "
                "do update set value = excluded.value",
                [key, value],
            )
