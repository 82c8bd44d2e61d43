"""The metric catalog: every metric is listed once, and that one entry is all a new metric needs
for budgets to judge it, the dashboard to show it and the docs to describe it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from observer import catalog
from observer.background import BackgroundServer
from observer.budgets import METRICS, Status, evaluate, parse_metric
from observer.config import ConfigError, load_project
from observer.results import HttpDetails, Outcome, ProbeResult
from observer.server import create_app
from observer.store import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
SIZE = catalog.Metric(
    "size",
    "count",
    catalog.HTTP,
    "size_bytes",
    "Bytes in the response body.",
    title="Body size",
    listed=True,
)


def test_the_docs_metrics_table_is_the_catalogs() -> None:
    """docs/budgets.md shows the table the catalog renders (python -m observer.catalog)."""
    text = (ROOT / "docs" / "budgets.md").read_text(encoding="utf-8")
    assert catalog.markdown_table() in text


def test_the_budget_language_reads_the_catalog() -> None:
    assert METRICS is catalog.METRICS
    for name, metric in catalog.METRICS.items():
        assert parse_metric(name) is metric
    # Every probe-made metric has a runs column the store can read (or a table of its own it
    # counts), and no two differ in kind.
    for metric in catalog.METRICS.values():
        assert metric.lab == bool(metric.column or metric.table), metric.name


def test_real_users_vitals_and_their_limits_come_from_the_catalog() -> None:
    from observer.rum.model import VITALS, rating_for
    from observer.rum.webvitals import NAMES

    assert set(VITALS) == {"lcp", "inp", "cls", "fcp", "ttfb"}
    assert NAMES == {"LCP": "lcp", "INP": "inp", "CLS": "cls", "FCP": "fcp", "TTFB": "ttfb"}
    assert rating_for("lcp", 2500) == "good" and rating_for("lcp", 2501) == "needs-improvement"
    assert rating_for("cls", 0.26) == "poor"
    with pytest.raises(KeyError):
        rating_for("duration", 1.0)


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "probes.yaml"
    path.write_text(
        """
probes:
  - name: api
    http: http://127.0.0.1:9/api
budgets:
  - name: api answers small
    probe: api
    metric: size
    threshold: max < 5000
""",
        encoding="utf-8",
    )
    return path


def _record(store: SQLiteStore, sizes: list[int]) -> None:
    now = time.time()
    for i, size in enumerate(sizes):
        result = ProbeResult(
            probe="api",
            kind="http",
            outcome=Outcome.PASS,
            started_at=now - 60 + i,
            duration_ms=12.0,
            completed=True,
        )
        result.http = HttpDetails(url="http://127.0.0.1:9/api", method="GET", status=200)
        result.http.size_bytes = size
        store.record(result)


def test_a_metric_unknown_to_the_catalog_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_project(_write(tmp_path))
    assert "unknown metric 'size'" in str(info.value)


def test_one_catalog_entry_is_enough_for_budgets_dashboard_and_docs(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setitem(catalog.METRICS, "size", SIZE)

    # The docs' table describes it.
    assert "| `size` | count | http | Bytes in the response body. |" in catalog.markdown_table()

    # A budget may name it, and is judged over the stored column.
    project = load_project(_write(tmp_path))
    with SQLiteStore(tmp_path / "observer.db") as store:
        _record(store, [1200, 3400, 7100])
        (verdict,) = evaluate(project.budgets, store)
        assert (verdict.outcome, verdict.value, verdict.samples) == (Status.FAIL, 7100.0, 3)
        assert verdict.message == "max 7100, breaks < 5000"

        # The dashboard lists it as a column of the probe's recent runs.
        server = BackgroundServer()
        try:
            server.start(create_app(project, store, schedule=False))
            page = httpx.get(f"{server.url}/probes/api", timeout=30).text
        finally:
            server.stop()
    assert '<th class="num">Body size</th>' in page
    for size in ("1200", "3400", "7100"):
        assert f'<td class="num">{size}</td>' in page
