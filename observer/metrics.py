"""/metrics in Prometheus text format through prometheus-client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from . import catalog

if TYPE_CHECKING:
    from .budgets import Verdict
    from .results import ProbeResult
    from .rum.ingest import Counters

BUDGET_CODES = {"pass": 0, "degraded": 1, "fail": 2, "inconclusive": -1}


class _Beacons(Collector):
    """Reads the ingest counters at scrape time."""

    def __init__(self, counters: Callable[[], Counters | None]) -> None:
        self.counters = counters

    def collect(self) -> Iterator[Any]:
        c = self.counters()
        accepted = CounterMetricFamily("observer_beacons_accepted", "Beacon items stored")
        dropped = CounterMetricFamily(
            "observer_beacons_dropped", "Beacon items dropped as implausible"
        )
        rejected = CounterMetricFamily(
            "observer_beacon_requests_rejected",
            "Beacon requests refused, by HTTP status",
            labels=["status"],
        )
        batches = GaugeMetricFamily("observer_beacon_commits", "Group commits so far")
        if c is not None:
            accepted.add_metric([], c.accepted)
            dropped.add_metric([], c.dropped)
            for status, n in sorted(c.rejected.items()):
                rejected.add_metric([str(status)], n)
            batches.add_metric([], c.batches)
        yield from (accepted, dropped, rejected, batches)


class Metrics:
    """Everything observer exposes; one registry per server."""

    def __init__(self, beacon_counters: Callable[[], Counters | None]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "observer_probe_runs", "Probe runs by outcome", ["probe", "outcome"], registry=r
        )
        self.up = Gauge(
            "observer_probe_up", "1 if the probe's last run passed, else 0", ["probe"], registry=r
        )
        self.duration = Histogram(
            "observer_probe_duration_seconds",
            "Probe run duration",
            ["probe"],
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
        )
        self.last_duration = Gauge(
            "observer_probe_last_duration_seconds",
            "Duration of the probe's last run",
            ["probe"],
            registry=r,
        )
        self.step = Gauge(
            "observer_step_duration_seconds",
            "Duration of a step in the last run",
            ["probe", "step"],
            registry=r,
        )
        self.vital = Gauge(
            "observer_web_vital_seconds",
            "A web vital of the last run (worst page)",
            ["probe", "metric"],
            registry=r,
        )
        self.cls = Gauge(
            "observer_web_vital_cls", "CLS of the last run (worst page)", ["probe"], registry=r
        )
        self.budget = Gauge(
            "observer_budget_status",
            "0 pass, 1 degraded, 2 fail, -1 inconclusive",
            ["budget", "source"],
            registry=r,
        )
        self.budget_value = Gauge(
            "observer_budget_value",
            "The measured aggregate of a budget",
            ["budget", "source"],
            registry=r,
        )
        self.lag = Gauge(
            "observer_scheduler_lag_seconds",
            "How late the probe's last run started",
            ["probe"],
            registry=r,
        )
        self.alerts = Counter(
            "observer_alerts_sent",
            "Notifications delivered",
            ["rule", "channel", "kind"],
            registry=r,
        )
        self.alert_failures = Counter(
            "observer_alert_delivery_failures",
            "Notification attempts that failed",
            ["rule", "channel"],
            registry=r,
        )
        r.register(_Beacons(beacon_counters))

    def observe(self, result: ProbeResult, lag: float) -> None:
        """A finished run. A run under emulated or throttled conditions is its own series:
        `probe` is its label (`checkout · Moto G4 · slow-4g · 4× CPU`), so a matrix's entries
        do not overwrite each other."""
        p = result.label
        self.runs.labels(p, str(result.outcome)).inc()
        self.up.labels(p).set(1 if str(result.outcome) == "pass" else 0)
        seconds = result.duration_ms / 1000
        self.duration.labels(p).observe(seconds)
        self.last_duration.labels(p).set(seconds)
        self.lag.labels(p).set(lag)
        for step in result.steps:
            if str(step.outcome) in ("pass", "fail"):
                self.step.labels(p, step.name).set(step.duration_ms / 1000)
        for metric in catalog.run_vitals():
            value = result.vitals.get(metric.column or "")
            if value is None:
                continue
            if metric.unit == "ms":
                self.vital.labels(p, metric.name).set(value / 1000)
            elif metric.name == "cls":
                self.cls.labels(p).set(value)

    def judged(self, verdicts: list[Verdict]) -> None:
        """A round of budget verdicts."""
        for v in verdicts:
            self.budget.labels(v.name, v.source).set(BUDGET_CODES[str(v.outcome)])
            if v.value is not None:
                self.budget_value.labels(v.name, v.source).set(v.value)
