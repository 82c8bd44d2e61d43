"""The monitor watches itself: observer's own health as subjects an alert rule can name with
`probes: ["observer:*"]`, beside the probes it runs.

- `observer:runners@LOCATION`: a location that has probes has no live runner;
- `observer:fresh:PROBE`: a probe has had no run for three times its interval;
- `observer:database`: runners cannot write to the database (results wait in their spools).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config.types import OWN_DATABASE, OWN_FRESH, OWN_PREFIX, OWN_RUNNERS

if TYPE_CHECKING:
    from .config import Project
    from .store import Store

STALE = 3  # intervals without a run make a probe stale


@dataclass(frozen=True)
class Health:
    """One part of observer, healthy or not, said as an alert would say it."""

    subject: str
    ok: bool
    title: str
    body: list[str]


def is_own(pattern: str) -> bool:
    """A rule's probe pattern that names observer's own health."""
    return pattern.startswith(OWN_PREFIX)


def health(project: Project, store: Store, now: float, up_since: float) -> list[Health]:
    """Every part of observer's own health, now; `up_since` is when this alerter started (a
    probe that has not run yet is stale only once it has had the time to)."""
    out = _freshness(project, store, now, up_since)
    if store.shared:
        out += _runners(project, store, now)
    return out


def _freshness(project: Project, store: Store, now: float, up_since: float) -> list[Health]:
    probes = [p for p in project.probes if p.enabled and not p.cron]
    last = store.probe_stats(now - 86400.0, [p.name for p in probes])
    out = []
    for probe in probes:
        every = probe.every or project.config.settings.every
        stats = last.get(probe.name)
        seen = stats.last.started_at if stats and stats.last else None
        age = now - (seen if seen is not None else up_since)
        stale = age > STALE * every
        when = f"{age:.0f} s ago" if seen is not None else "never"
        out.append(
            Health(
                f"{OWN_FRESH}{probe.name}",
                not stale,
                f"probe {probe.name} has not run for {age:.0f} s (every {every:g} s)"
                if stale
                else f"probe {probe.name} runs again",
                [
                    f"Probe: {probe.name}, every {every:g} s",
                    f"Last run: {when}",
                    f"Stale after {STALE} intervals without a run",
                ],
            )
        )
    return out


def _ago(now: float, times: list[float]) -> str:
    return f"{now - max(times):.0f} s ago" if times else "never"


def _runners(project: Project, store: Store, now: float) -> list[Health]:
    seen = store.runners(now - 86400.0)
    live = [r for r in seen if r.live(now)]
    named = {loc for p in project.probes if p.enabled for loc in (p.locations or [])}
    locations = sorted(named | {r.location or "" for r in seen})
    out = []
    for location in locations:
        here = [r for r in live if (r.location or "") == location]
        last = [r.last_seen for r in seen if (r.location or "") == location]
        shown = location or "(no location)"
        out.append(
            Health(
                f"{OWN_RUNNERS}{location}",
                bool(here),
                f"no live runner at {shown}" if not here else f"runners at {shown} are back",
                [
                    f"Location: {shown}",
                    f"Live runners: {', '.join(r.id for r in here) or 'none'}",
                    f"Last seen: {_ago(now, last)}",
                ],
            )
        )
    waiting = [r for r in live if r.spooled]
    out.append(
        Health(
            OWN_DATABASE,
            not waiting,
            "runners cannot write to the database: "
            + ", ".join(f"{r.id} ({r.spooled} waiting)" for r in waiting)
            if waiting
            else "runners write to the database again",
            [f"Runner {r.id} at {r.location or '(no location)'}: {r.spooled} results in its spool"
             for r in waiting] or ["Every live runner's spool is empty"],
        )
    )  # fmt: skip
    return out
