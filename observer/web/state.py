"""What the server's routes share (the API's and the dashboard's alike), kept apart from both."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..assets import read_asset

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


def snippet_source(rum: Rum) -> bytes:
    """/rum.js: the bundled snippet with this server's settings in front."""
    bundle = read_asset("rum.js")
    config = {"path": rum.path, "sampleRate": rum.sample_rate, "app": rum.app}
    return (f"window.__observerRumConfig={json.dumps(config)};\n{bundle}").encode()
