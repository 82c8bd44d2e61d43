"""What the server's routes share, the API's and the dashboard's alike: the state itself, and
the verdicts and success rates both of them show."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..assets import read_asset
from ..budgets import Verdict, evaluate

if TYPE_CHECKING:
    from ..alerts import Alerter
    from ..config import Project
    from ..config.models import Rum
    from ..daemon import Daemon
    from ..metrics import Metrics
    from ..rum.ingest import Ingestor, RateLimiter
    from ..store import Store

# The server's logger: its lines keep the name they have always been filtered by.
log = logging.getLogger("observer.server")


@dataclass
class State:
    """Everything the routes share; swapped whole on a config reload."""

    project: Project
    store: Store
    ingestor: Ingestor
    limiter: RateLimiter | None
    rum_js: bytes
    metrics: Metrics
    started_at: float = field(default_factory=time.time)
    daemon: Daemon | None = None
    alerter: Alerter | None = None

    def use(self, project: Project) -> None:
        """A reloaded config: new probes, budgets, RUM checks (rum.path needs a restart)."""
        if project.config.rum.path != self.project.config.rum.path:
            log.warning("rum.path changed: it takes effect after a restart")
        self.project = project
        if self.alerter is not None:
            self.alerter.use(project)
        self.rum_js = snippet_source(project.config.rum)

    @property
    def rum(self) -> Rum:
        """The rum: section."""
        return self.project.config.rum

    async def verdicts(self) -> tuple[list[Verdict], float]:
        """The daemon's latest verdicts and when it judged them; without them, judged now."""
        daemon = self.daemon
        # Read on the loop, where the daemon swaps them in: from a thread, the verdicts and
        # their time could belong to two different rounds.
        if daemon is not None and daemon.last_cycle is not None:
            return daemon.verdicts, daemon.last_cycle
        judged = await asyncio.to_thread(
            evaluate,
            self.project.budgets,
            self.store,
            live=True,  # as serve judges: CI checks' runs left out, intervals decide
        )
        return judged, time.time()


def runners_view(store: Store) -> dict[str, Any]:
    """The processes sharing the database (seen in the last day), the locations with a live
    one, and the versions or probe files live runners differ in (empty when they agree): what
    /api/runners answers and the overview shows."""
    now = store.db_time()
    shown = [r.to_dict(now) for r in store.runners(now - 86400.0)]
    live = [r for r in shown if r["live"]]
    versions = sorted({r["version"] for r in live})
    hashes = sorted({r["config_hash"] for r in live})
    return {
        "runners": shown,
        "locations": sorted({r["location"] or "" for r in live}),
        "drift": {
            "versions": versions if len(versions) > 1 else [],
            "config_hashes": hashes if len(hashes) > 1 else [],
        },
    }


def success_rate(passed: int, failed: int) -> float | None:
    """Share of the judged runs that passed (an error is no verdict); None when none was judged."""
    judged = passed + failed
    return passed / judged if judged else None


# The survey's question when the file gives none: satisfaction, effort, recommendation.
QUESTIONS = {
    "csat": "How satisfied are you with this?",
    "ces": "How easy was it?",
    "nps": "How likely are you to recommend us to a friend?",
}


def snippet_source(rum: Rum) -> bytes:
    """/rum.js: the bundled snippet with this server's settings in front."""
    bundle = read_asset("rum.js")
    config: dict[str, object] = {"path": rum.path, "sampleRate": rum.sample_rate, "app": rum.app}
    if rum.survey is not None:
        survey = rum.survey
        config["survey"] = {
            "after": survey.after,
            "ask": survey.ask,
            "sample": survey.sample,
            "question": survey.question or QUESTIONS[survey.ask],
            "gpc": survey.respect_gpc,
        }
    return (f"window.__observerRumConfig={json.dumps(config)};\n{bundle}").encode()
