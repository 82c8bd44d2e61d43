"""Alerts that come and go too often to be worth a message each time.

An alert (a rule and its subject) flaps when it has fired `fires` times within `within`: its
channels get one message saying so, and no message per transition after it, until it has
changed neither way for `within`; then one message says it is stable again and in which
state. The state lives in the database (kv), so a new leading alerter carries it on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config.models import AlertRule
    from .store import Store


@dataclass
class Flap:
    """One flapping alert: since when, its last transition, and how many were held back."""

    since: float
    last: float
    title: str = ""  # the alert's latest title, for the message that ends it
    held: int = 0


def _key(rule: str, subject: str) -> str:
    return f"flapping:{rule}:{subject}"


class Flaps:
    """Which alerts flap, read from and written to the store's kv."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._known: dict[tuple[str, str], Flap | None] = {}

    def use(self, store: Store) -> None:
        """A store reopened (or a new leader): forget what was read."""
        self.store = store
        self._known.clear()

    def get(self, rule: str, subject: str) -> Flap | None:
        """The alert's flapping, if it flaps."""
        key = (rule, subject)
        if key not in self._known:
            raw = self.store.get_kv(_key(rule, subject))
            flap = None
            if raw:
                try:
                    data = json.loads(raw)
                    flap = Flap(
                        float(data["since"]), float(data["last"]), str(data["title"]),
                        int(data["held"]),
                    )  # fmt: skip
                except (ValueError, KeyError, TypeError):
                    flap = None  # unreadable: as if it did not flap
            self._known[key] = flap
        return self._known[key]

    def put(self, rule: str, subject: str, flap: Flap | None) -> None:
        """Record (or, with None, end) an alert's flapping."""
        self._known[(rule, subject)] = flap
        value = (
            json.dumps(
                {"since": flap.since, "last": flap.last, "title": flap.title, "held": flap.held}
            )
            if flap is not None
            else ""
        )
        self.store.set_kv(_key(rule, subject), value)


def settings(rule: AlertRule) -> tuple[int, float] | None:
    """(fires, within) of a rule, or None when it sends every transition."""
    flapping = rule.flapping
    return None if flapping is None else (flapping.fires, flapping.within)


__all__ = ["Flap", "Flaps", "settings"]
