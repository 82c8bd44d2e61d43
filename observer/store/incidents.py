"""Alert state in SQLite: incidents, their notifications, and silences."""

from __future__ import annotations

from .connection import Connection, dicts, marks
from .rows import INCIDENT_COLUMNS, Incident, Notification, Silence

_NOTIFICATION_COLUMNS = (
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


class Incidents(Connection):
    """Incidents survive restarts: open ones are read back, so nothing is sent twice."""

    def open_incidents(self) -> list[Incident]:
        """Incidents pending or firing, oldest first."""
        cur = self.conn.execute(
            "select * from incidents where state in ('pending', 'firing') order by opened_at"
        )
        return [Incident.from_columns(r) for r in dicts(cur)]

    def save_incident(self, incident: Incident) -> int:
        """Insert or update an incident (by id); returns its id."""
        columns = incident.columns()
        values = [columns[k] for k in INCIDENT_COLUMNS]
        with self.transaction():
            if incident.id:
                sets = ", ".join(f"{k} = ?" for k in INCIDENT_COLUMNS)
                self.conn.execute(
                    f"update incidents set {sets} where id = ?", [*values, incident.id]
                )
                return incident.id
            cur = self.conn.execute(
                f"insert into incidents ({', '.join(INCIDENT_COLUMNS)}) "
                f"values ({marks(len(INCIDENT_COLUMNS))})",
                values,
            )
            return int(cur.lastrowid or 0)

    def incidents(self, since: float | None = None, limit: int = 100) -> list[Incident]:
        """Incidents newest first, each with its notifications."""
        where, args = ("where opened_at >= ?", [since]) if since is not None else ("", [])
        cur = self.conn.execute(
            f"select * from incidents {where} order by opened_at desc limit ?", [*args, limit]
        )
        out = [Incident.from_columns(r) for r in dicts(cur)]
        for inc in out:
            rows = self.conn.execute(
                "select * from notifications where incident_id = ? order by at, id", [inc.id]
            )
            inc.notifications = [Notification(**r) for r in dicts(rows)]
        return out

    def add_notification(self, notification: Notification) -> None:
        """Record one delivery attempt (or a held or silenced notice)."""
        with self.transaction():
            self.conn.execute(
                f"insert into notifications ({', '.join(_NOTIFICATION_COLUMNS)}) "
                f"values ({marks(len(_NOTIFICATION_COLUMNS))})",
                [getattr(notification, c) for c in _NOTIFICATION_COLUMNS],
            )

    def notifications(self, kind: str | None = None) -> list[Notification]:
        """Every notification, oldest first (optionally of one kind)."""
        sql = "select * from notifications" + (" where kind = ?" if kind else "") + " order by id"
        return [Notification(**r) for r in dicts(self.conn.execute(sql, [kind] if kind else []))]

    def add_silence(
        self, pattern: str, starts: float, ends: float, reason: str | None, who: str | None
    ) -> int:
        """Silence incidents whose rule or subject matches a glob until `ends`."""
        with self.transaction():
            cur = self.conn.execute(
                "insert into silences (pattern, starts_at, ends_at, reason, created_by) "
                "values (?, ?, ?, ?, ?)",
                [pattern, starts, ends, reason, who],
            )
            return int(cur.lastrowid or 0)

    def silences(self, now: float, active_only: bool = True) -> list[Silence]:
        """Silences in force now (or all of them)."""
        sql = (
            "select * from silences"
            + (" where starts_at <= ? and ends_at > ?" if active_only else "")
            + " order by ends_at"
        )
        return [
            Silence(**r) for r in dicts(self.conn.execute(sql, [now, now] if active_only else []))
        ]
