"""What goes when: runs with their steps, artifacts on disk and beacons, each past its own
retention setting. `observer prune`, the daemon and the server all prune through here."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Project
    from .store import Store

log = logging.getLogger("observer.retention")


@dataclass(frozen=True)
class Pruned:
    """How much went."""

    runs: int = 0
    beacons: int = 0
    artifact_dirs: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name (as the `retention` log event carries them)."""
        return {"runs": self.runs, "beacons": self.beacons, "artifact_dirs": self.artifact_dirs}


def prune(project: Project, store: Store, now: float | None = None) -> Pruned:
    """Delete runs (with their steps, pages and errors) past `settings.retention.runs`, run
    folders past `settings.retention.artifacts`, and beacons past `rum.retention`."""
    now = time.time() if now is None else now
    settings = project.config.settings
    gone = Pruned(
        runs=store.prune_runs(now - settings.retention.runs),
        beacons=store.prune_beacons(now - project.config.rum.retention),
        artifact_dirs=prune_artifacts(
            project.resolve(settings.artifacts), now - settings.retention.artifacts
        ),
    )
    store.prune_slots(now - 86400.0)  # claims only guard slots still to come
    if any(gone.as_dict().values()):
        counts = gone.as_dict()
        log.info("retention removed %s", counts, extra={"event": "retention", **counts})
    return gone


def prune_artifacts(root: Path, before: float) -> int:
    """Remove run folders (root/probe/run) last changed before a time; returns how many."""
    removed = 0
    if not root.is_dir():
        return 0
    for probe_dir in root.iterdir():
        if not probe_dir.is_dir():
            continue
        for run_dir in probe_dir.iterdir():
            try:
                if run_dir.is_dir() and run_dir.stat().st_mtime < before:
                    shutil.rmtree(run_dir)
                    removed += 1
            except OSError:
                continue
    return removed


async def keep_pruning(
    project: Callable[[], Project],
    store: Store,
    *,
    every: float = 3600.0,
    first: float = 0.0,
    when: Callable[[], bool] = lambda: True,
) -> None:
    """Prune after `first` seconds, then every `every` (the config may be reloaded meanwhile),
    while `when` says so (the leading alerter prunes for everyone); a database that is
    locked or gone is logged and tried again next time."""
    import asyncio

    await asyncio.sleep(first)
    while True:
        try:
            if when():
                await asyncio.to_thread(prune, project(), store)
        except Exception as exc:  # a locked database must not stop the server
            log.warning("retention: %s", exc, extra={"event": "retention_error"})
        await asyncio.sleep(every)
