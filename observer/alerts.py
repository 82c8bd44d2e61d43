"""Alerts on-call staff trust: incident state per (rule, budget or probe), persisted in SQLite;
one notification per transition (plus reminders), delivered through apprise with retries;
silences, dependencies, and the customer impact from real-user data."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import flapping
from .budgets import Status, Verdict, format_value, percentile
from .flapping import Flap, Flaps
from .results import Outcome, ProbeResult
from .secrets import mask_url
from .store.rows import (
    Incident,
    IncidentState,
    Notification,
    Notified,
    Queued,
    RunDetails,
    Silence,
)
from .watchdog import health, is_own

if TYPE_CHECKING:
    from .config import Project
    from .config.models import AlertRule
    from .daemon import Cycle
    from .metrics import Metrics
    from .store import Store

log = logging.getLogger("observer.alerts")


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 90:
        return f"{seconds}s"
    if seconds < 5400:
        return f"{round(seconds / 60)}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


@dataclass
class Delivery:
    """One notification to one channel."""

    rule: str
    channel: str
    url: str
    incident_id: int | None
    kind: str  # firing, reminder, resolved, test
    title: str
    body: str
    attach: str | None
    severity: str
    queued_id: int | None = None  # its row in the outbox, until delivered or given up


@dataclass
class Evidence:
    """The run that shows a breach: its id, its error and the step that failed."""

    run_id: int
    error: str | None
    failed_step: tuple[str, str | None] | None = None  # name, error

    @classmethod
    def of(cls, run: RunDetails) -> Evidence:
        """From a stored run (with its failed step)."""
        failed = run.failed
        return cls(run.id, run.error, (failed.name, failed.error) if failed else None)


@dataclass
class Finding:
    """What one evaluation found about one subject (a budget or a probe)."""

    subject: str  # budget:NAME or probe:NAME
    kind: str  # budget or probe
    title: str
    body: list[str]
    value: float | None
    run: Evidence | None
    probes: list[str]
    window: float | None = None  # a budget's window: how long a breach must hold follows it


class Alerter:
    """Feeds each cycle's verdicts and runs through the incident state machine of every rule."""

    def __init__(
        self,
        project: Project,
        store: Store,
        *,
        metrics: Metrics | None = None,
        clock: Any = time.time,
        may_send: Callable[[], bool] | None = None,
    ) -> None:
        self.project = project
        self.store = store
        self.metrics = metrics
        self.clock = clock
        # Asked before every send (in a thread): a process that no longer leads stops, and
        # leaves what it had not sent to the one that does.
        self.may_send = may_send or (lambda: True)
        self.started = clock()  # a probe that has not run yet is stale only after a while
        self.open: dict[tuple[str, str], Incident] = {
            (inc.rule, inc.subject): inc for inc in store.open_incidents()
        }
        self.probe_outcome: dict[str, str] = {}
        for probe in project.probes:
            runs = store.last_runs(probe.name, 1)
            if runs:
                self.probe_outcome[probe.name] = str(runs[0].outcome)
        self._tasks: set[asyncio.Task[bool]] = set()
        self._outbox: list[Delivery] = []
        self.flaps = Flaps(store)
        # When each firing subject's run of healthy evaluations began (for resolve_for); kept
        # in memory: a new leader starts counting again, which only delays a resolution.
        self._healthy_since: dict[tuple[str, str], float | None] = {}

    def use(self, project: Project) -> None:
        """A reloaded config; open incidents stay."""
        self.project = project

    # ------------------------------------------------------------------ evaluation

    async def observe(self, cycle: Cycle) -> None:
        """One cycle: every rule's subjects step through their state machines.

        The state lives in SQLite, so the stepping runs in a thread (a database locked by
        another process must not stall the server); the deliveries it decides on then go out
        as tasks of their own.
        """
        for delivery in await asyncio.to_thread(self._step_all, cycle):
            self._spawn(delivery)

    def _step_all(self, cycle: Cycle) -> list[Delivery]:
        self._outbox = []
        now = self.clock()
        results = sorted(cycle.results, key=lambda r: r.started_at)
        # A probe's outcome this cycle: of a matrix, the worst of its entries' (a dependency
        # whose phone entry fails is failing, whichever entry ran last).
        worst: dict[str, str] = {}
        for r in results:
            have = worst.get(r.probe)
            if have is None or _OUTCOME_RANK[str(r.outcome)] > _OUTCOME_RANK[have]:
                worst[r.probe] = str(r.outcome)
        self.probe_outcome.update(worst)
        for rule in self.project.config.alerts.rules:
            for v in cycle.verdicts:
                if any(fnmatchcase(v.name, pat) for pat in rule.budgets):
                    self._budget(rule, v, now)
            if any(is_own(p) for p in rule.probes):
                self._own_health(rule, now)
            if rule.min_locations:
                self._locations(rule, results, now)
                continue
            for r in results:
                if any(fnmatchcase(r.probe, pat) for pat in rule.probes):
                    self._probe(rule, r, now)
        # Firing incidents that were held for a failing dependency go out once it recovers.
        for (rule_name, _), inc in list(self.open.items()):
            held = self._rule(rule_name)
            if (
                held
                and inc.state == IncidentState.FIRING
                and not inc.notified
                and not self._held_by(inc)
            ):
                self._notify(held, inc, "firing", now)
        return self._outbox

    def _matrix(self, name: str) -> bool:
        """Whether the probe runs under a matrix of conditions."""
        try:
            return len(self.project.probe(name).conditions or []) > 1
        except KeyError:
            return False

    def _rule(self, name: str) -> AlertRule | None:
        return next((r for r in self.project.config.alerts.rules if r.name == name), None)

    def _budget(self, rule: AlertRule, v: Verdict, now: float) -> None:
        if v.outcome == Status.INCONCLUSIVE:
            # Neither fires nor resolves, but breaks a run of breached or healthy evaluations.
            self._inconclusive(rule, f"budget:{v.name}", now)
            return
        breached = v.outcome == Status.FAIL or (v.outcome == Status.DEGRADED and rule.on_degraded)
        failing = [p for p in v.probes if self.probe_outcome.get(p) in ("fail", "error")]
        body = [
            f"Budget: {v.name} ({v.metric} {v.threshold}"
            + (f", warn {v.warn}" if v.warn else "")
            + ")",
            f"Measured: {v.message}",
        ]
        if v.probes:
            body.append(f"Probes: {', '.join(v.probes)}")
        finding = Finding(
            subject=f"budget:{v.name}",
            kind="budget",
            title=f"{v.name}: {self._value_line(v)}",
            body=body,
            value=v.value,
            run=self._latest_failure(failing[0]) if failing else None,
            probes=v.probes,
            window=v.extra.get("window_s"),
        )
        self._step(rule, breached, now, finding)

    def _probe(self, rule: AlertRule, r: ProbeResult, now: float) -> None:
        breached = r.outcome == Outcome.FAIL or (r.outcome == Outcome.ERROR and rule.on_error)
        if r.outcome == Outcome.ERROR and not rule.on_error:
            return
        what = "observer could not run it" if r.outcome == Outcome.ERROR else "failed"
        # A matrix's entries are subjects of their own: the phone failing while the desktop
        # passes is one steady breach, not a flap. The subject is the probe's, then its
        # conditions (`probe:checkout · Moto G4 · slow-4g · 4× CPU`); a probe's name never
        # holds " · ".
        label = r.label if self._matrix(r.probe) else r.probe
        title = (
            f"probe {label} {what}: {r.error or r.outcome}"
            if breached
            else (f"probe {label} passes")
        )
        body = [f"Probe: {label} ({r.kind})", f"Outcome: {r.outcome}"]
        run = None
        if breached and r.run_id is not None:
            failed = next((s for s in r.steps if s.outcome in (Outcome.FAIL, Outcome.ERROR)), None)
            run = Evidence(
                r.run_id, r.error, (failed.name, failed.error) if failed is not None else None
            )
            if r.http and r.http.status is not None:
                body.append(f"HTTP status: {r.http.status}")
        finding = Finding(f"probe:{label}", "probe", title, body, r.duration_ms, run, [r.probe])
        self._step(rule, breached, now, finding)

    def _locations(self, rule: AlertRule, results: list[ProbeResult], now: float) -> None:
        """A rule over locations: each probe that ran this cycle is breached while at least
        `min_locations` locations fail at once. A location fails when its newest run, from
        the last two intervals, failed; an older one says nothing (unknown)."""
        need = rule.min_locations or 1
        for name in sorted({r.probe for r in results}):
            if not any(fnmatchcase(name, pat) for pat in rule.probes):
                continue
            try:
                probe = self.project.probe(name)
            except KeyError:
                continue
            every = probe.every or self.project.config.settings.every
            newest = self.store.latest_by_location(name, now - 2 * every)
            bad = ("fail", "error") if rule.on_error else ("fail",)
            failing = sorted(loc or "(none)" for loc, r in newest.items() if r.outcome in bad)
            passing = sorted(loc or "(none)" for loc, r in newest.items() if r.outcome == "pass")
            breached = len(failing) >= need
            where = (
                f"failing in {len(failing)} of {len(newest)} locations: {', '.join(failing)}"
                if failing
                else f"passes in {', '.join(passing) or 'no location'}"
            )
            body = [
                f"Probe: {name} ({probe.kind}), alerting when {need} or more locations fail",
                f"Failing in: {', '.join(failing) or 'none'}",
                f"Passing in: {', '.join(passing) or 'none'}",
            ]
            worst = next((r for loc, r in newest.items() if r.outcome in bad), None)
            run = self._latest_failure(name) if worst is not None else None
            title = f"probe {name} {where}"
            found = Finding(f"probe:{name}", "probe", title, body, float(len(failing)), run,
                            [name])  # fmt: skip
            self._step(rule, breached, now, found)

    def _own_health(self, rule: AlertRule, now: float) -> None:
        """observer's own health (watchdog.py) through the rule's `observer:` patterns."""
        own = [p for p in rule.probes if is_own(p)]
        for part in health(self.project, self.store, now, self.started):
            if any(fnmatchcase(part.subject, pat) for pat in own):
                found = Finding(part.subject, "observer", part.title, part.body, None, None, [])
                self._step(rule, not part.ok, now, found)

    def _latest_failure(self, probe: str) -> Evidence | None:
        runs = self.store.last_runs(probe, 5)
        run = next((r for r in runs if r.outcome in (Outcome.FAIL, Outcome.ERROR)), None)
        return Evidence.of(run) if run is not None else None

    @staticmethod
    def _value_line(v: Verdict) -> str:
        value = format_value(v.value, v.unit, v.aggregate)
        limit = format_value(v.limit, v.unit, v.aggregate)
        if v.value is None:
            return v.message
        rel = ">" if v.value > v.limit else "<" if v.value < v.limit else "="
        interval = v.interval_text() if v.judged_by == "interval" else ""
        samples = f"{interval}, {v.samples} samples" if interval else f"{v.samples} samples"
        line = f"{v.aggregate} {value} {rel} {limit} ({samples})"
        if v.regression is not None and v.regression.outcome == "fail":
            line += f"; {v.regression.message}"
        return line

    def _step(self, rule: AlertRule, breached: bool, now: float, found: Finding) -> None:
        """One evaluation of one subject moves its incident along: open, fire, remind,
        resolve, or close a blip quietly."""
        if breached:
            self._breached(rule, now, found)
        else:
            self._healthy(rule, now, found)
        self._settled(rule, found.subject, now)

    def _inconclusive(self, rule: AlertRule, subject: str, now: float) -> None:
        """An evaluation that cannot tell: a breach not yet fired starts over, a firing one
        stays firing, and a run of healthy evaluations towards resolving starts over."""
        key = (rule.name, subject)
        inc = self.open.get(key)
        if inc is not None and inc.state == IncidentState.PENDING:
            self._blip(key, inc, now)
        elif inc is not None and inc.healthy:
            inc.healthy = 0
            self._healthy_over(key)
            self._save(inc)
        self._settled(rule, subject, now)

    def _blip(self, key: tuple[str, str], inc: Incident, now: float) -> None:
        """A breach that never fired ends: closed quietly, nothing sent."""
        inc.state = IncidentState.OK
        inc.resolved_at = now
        self._save(inc)
        del self.open[key]

    def _breached(self, rule: AlertRule, now: float, found: Finding) -> None:
        key = (rule.name, found.subject)
        inc = self.open.get(key)
        if inc is None:
            inc = self.open[key] = Incident(
                rule=rule.name,
                subject=found.subject,
                kind=found.kind,
                state=IncidentState.PENDING,
                opened_at=now,
                severity=rule.severity,
            )
        inc.breaches += 1
        inc.healthy = 0
        self._healthy_over(key)
        inc.title, inc.value = found.title, found.value
        if found.run is not None:
            inc.run_id = found.run.run_id
        inc.body = "\n".join(self._body(rule, inc, found, now))
        held_long_enough = now - inc.opened_at >= persistence(rule, found.window)
        if inc.state == IncidentState.PENDING and inc.breaches >= rule.after and held_long_enough:
            inc.state = IncidentState.FIRING
            inc.fired_at = now
            self._save(inc)
            if not self._flapping(rule, inc, "firing", now):
                self._notify(rule, inc, "firing", now)
            return
        if inc.state == IncidentState.FIRING and inc.notified == Notified.CHANNELS and rule.repeat:
            last = inc.last_notified_at or inc.fired_at or now
            if now - last >= rule.repeat:
                self._save(inc)
                self._notify(rule, inc, "reminder", now)
                return
        self._save(inc)

    def _healthy(self, rule: AlertRule, now: float, found: Finding) -> None:
        key = (rule.name, found.subject)
        inc = self.open.get(key)
        if inc is None:
            return
        if inc.state == IncidentState.PENDING:
            self._blip(key, inc, now)
            return
        inc.healthy += 1
        heal_for = persistence(rule, found.window, resolving=True)
        since = self._healthy_start(key, now, keep=heal_for > 0)
        if inc.healthy < rule.resolve_after or now - since < heal_for:
            self._save(inc)
            return
        self._healthy_over(key)
        lasted = _ago(now - inc.opened_at)
        inc.state = IncidentState.RESOLVED
        inc.resolved_at = now
        inc.title = f"{found.title} (after {lasted})"
        inc.body = "\n".join([*found.body, f"Lasted: {lasted}, since {_when(inc.opened_at)}"])
        self._save(inc)
        del self.open[key]
        if self._flapping(rule, inc, "resolved", now):
            return
        if rule.send_resolved and inc.notified in (Notified.CHANNELS, Notified.SILENCED):
            self._notify(rule, inc, "resolved", now)

    def _healthy_start(self, key: tuple[str, str], now: float, *, keep: bool) -> float:
        """When the firing subject's run of healthy evaluations began. With a `resolve_for`
        (`keep`) it is kept in the database, so a restart, a new leader or `observer budgets
        --alert` run from cron counts on; without, only the count matters."""
        known = self._healthy_since.get(key, _UNKNOWN)
        if isinstance(known, float):
            return known
        kv = f"healthy_since:{key[0]}:{key[1]}"
        stored = self.store.get_kv(kv) if keep and known is _UNKNOWN else None
        since = float(stored) if stored else now
        if keep and not stored:
            self.store.set_kv(kv, repr(since))
        self._healthy_since[key] = since
        return since

    def _healthy_over(self, key: tuple[str, str]) -> None:
        """The run of healthy evaluations ended (a breach, an inconclusive one, resolved)."""
        had = self._healthy_since.get(key, _UNKNOWN)
        self._healthy_since[key] = None  # known: no run of healthy evaluations
        if had is not None:  # one, or one may be in the database
            self.store.set_kv(f"healthy_since:{key[0]}:{key[1]}", "")

    # ------------------------------------------------------------------ flapping

    def _flapping(self, rule: AlertRule, inc: Incident, kind: str, now: float) -> bool:
        """Whether this transition is held back because the alert flaps; the fire that makes
        it flap sends the one message that says so instead of its own."""
        conf = flapping.settings(rule)
        if conf is None:
            return False
        fires, within = conf
        flap = self.flaps.get(rule.name, inc.subject)
        if flap is not None:
            flap.last, flap.title, flap.held = now, inc.title or flap.title, flap.held + 1
            self.flaps.put(rule.name, inc.subject, flap)
            if kind == "firing":
                inc.notified = Notified.FLAPPING
            since = _when(flap.since)
            self._hold(rule, inc, kind, now, f"held: flapping since {since}", "held")
            return True
        if kind != "firing":
            return False
        fired = len(self.store.fired_spans(inc.subject, now - within, rule=rule.name))
        if fired < fires:
            return False
        self.flaps.put(rule.name, inc.subject, Flap(now, now, inc.title or inc.subject))
        self._notify(rule, inc, "flapping", now, detail=f"fired {fired} times in {_ago(within)}")
        if inc.notified == Notified.NOBODY:
            # Held for a failing dependency: no plain [FIRING] later in its place.
            inc.notified = Notified.FLAPPING
            self._save(inc)
        return True

    def _settled(self, rule: AlertRule, subject: str, now: float) -> None:
        """A flapping alert that has not changed for the rule's period is stable again: one
        message says so, with the state it settled in."""
        conf = flapping.settings(rule)
        flap = self.flaps.get(rule.name, subject) if conf is not None else None
        if conf is None or flap is None or now - flap.last < conf[1]:
            return
        self.flaps.put(rule.name, subject, None)
        inc = self.open.get((rule.name, subject))
        firing = inc is not None and inc.state == IncidentState.FIRING
        state = "still firing" if firing else "resolved"
        silence = self._silenced(rule, subject, now)
        if silence is not None or (inc is not None and self._held_by(inc)):
            # The channels heard nothing of the flapping either: nothing to end.
            log.info(
                "%s stable again, not sent: %s",
                subject,
                "silenced" if silence else "held",
                extra={"event": "alert_stable_held", "rule": rule.name, "subject": subject},
            )
            return
        title = f"[STABLE] {flap.title}: {state}, no change for {_ago(conf[1])}"
        body = (
            f"It flapped from {_when(flap.since)} to {_when(flap.last)}; {flap.held} changes "
            f"were not sent.\nRule: {rule.name} ({rule.severity})"
        )
        if inc is not None and firing and inc.notified == Notified.FLAPPING:
            # Told now that it still fires: its reminders and resolution go as usual.
            inc.notified = Notified.CHANNELS
            inc.last_notified_at = now
            self._save(inc)
        self._queue(rule, inc.id if inc is not None else None, "stable", title, body, None, now)

    def _body(self, rule: AlertRule, inc: Incident, found: Finding, now: float) -> list[str]:
        out = list(found.body)
        run, probes = found.run, found.probes
        if run is not None:
            if run.failed_step is not None:
                out.append(f"Failed step: {run.failed_step[0]}: {run.failed_step[1]}")
            elif run.error:
                out.append(f"Error: {run.error}")
        out.append(
            f"Since: {_when(inc.opened_at)} ({_ago(now - inc.opened_at)} ago), "
            f"{inc.breaches} breached evaluations in a row"
        )
        out.append(self._impact(probes, now))
        affected = self._dependents(probes)
        if affected:
            out.append(f"Also affected (their alerts wait for this one): {', '.join(affected)}")
        base = self.project.config.settings.public_url
        if base:
            link = (
                f"{base.rstrip('/')}/runs/{run.run_id}"
                if run
                else (f"{base.rstrip('/')}/probes/{probes[0]}" if probes else base)
            )
            out.append(f"Details: {link}")
        out.append(f"Rule: {rule.name} ({rule.severity})")
        return out

    def _impact(self, probes: list[str], now: float) -> str:
        """How many real users reached the pages these probes visit, in the last hour."""
        from .rum.pages import Pages

        if not probes:
            return "Customer impact: no probe pages to look up."
        rum = self.project.config.rum
        namer = Pages(rum.pages, rum.keep_query)
        paths = sorted(
            {p for u in self.store.probe_paths(probes, now - 86400) if (p := namer.name(u))}
        )
        if not paths:
            return "Customer impact: the probes' pages are not known yet."
        impact = self.store.rum_impact(paths, now - 3600, now)
        where = ", ".join(paths[:6]) + (" ..." if len(paths) > 6 else "")
        if not impact.loads and not impact.lcp:
            return f"Customer impact: no real-user data for {where} in the last hour."
        rate = impact.errored / impact.loads if impact.loads else 0.0
        lcp = format_value(percentile(impact.lcp, 75), "ms") if impact.lcp else "unknown"
        return (
            f"Customer impact (real users, last hour, {where}): {impact.sessions} sessions, "
            f"{impact.loads} page loads, error rate {rate:.1%}, p75 LCP {lcp}"
        )

    def _felt(self, inc: Incident, now: float) -> str:
        """What customers of the failing task said and did, by what they met (the line of
        `observer report`), when real users have answered about it: the task a budget names,
        else a task named as one of its probes."""
        from .experience import WINDOW, lines, split

        name = _named(inc.subject)
        budget = next((b for b in self.project.budgets if b.name == name), None)
        if inc.subject.startswith("budget:") and budget is not None:
            named = budget.task or budget.metric.task  # task:, or completion:TASK
            tasks = [named] if named else list(budget.probes)[:5]
        else:
            tasks = [name]
        for task in tasks:
            said = [
                line.removeprefix(f"task {task}: ")
                for line in lines(split(self.store, now - WINDOW, now, task))
            ]
            if said:
                return f"Customers of {task} (real users, last 7 days): " + "; ".join(said)
        return ""

    def _dependents(self, probes: list[str]) -> list[str]:
        names = set(probes)
        found: list[str] = []
        changed = True
        while changed:  # dependents of dependents are affected too
            changed = False
            for p in self.project.probes:
                if p.name not in names and names & set(p.depends_on):
                    names.add(p.name)
                    found.append(p.name)
                    changed = True
        return found

    def _held_by(self, inc: Incident) -> list[str]:
        """Failing dependencies of the incident's probes (empty: nothing holds it)."""
        if inc.subject.startswith("probe:"):
            probes = [_named(inc.subject)]
        else:
            rule_budget = next(
                (b for b in self.project.budgets if f"budget:{b.name}" == inc.subject), None
            )
            probes = rule_budget.probes if rule_budget else []
        deps: set[str] = set()
        for name in probes:
            try:
                deps.update(self.project.probe(name).depends_on)
            except KeyError:
                continue
        return sorted(d for d in deps if self.probe_outcome.get(d) in ("fail", "error"))

    def _save(self, inc: Incident) -> None:
        inc.id = self.store.save_incident(inc)

    # ------------------------------------------------------------------ sending

    def _silenced(self, rule: AlertRule, subject: str, now: float) -> Silence | None:
        name = _named(subject)
        for s in self.store.silences(now):
            if any(fnmatchcase(x, s.pattern) for x in (name, subject, rule.name)):
                return s
        return None

    def _notify(
        self, rule: AlertRule, inc: Incident, kind: str, now: float, *, detail: str = ""
    ) -> None:
        title = _title(kind, inc)
        if kind == "reminder":
            title = f"[STILL FIRING {_ago(now - (inc.fired_at or now))}] {inc.title}"
        if kind == "flapping":
            title = f"[FLAPPING] {inc.title}: {detail}; changes not sent until it is stable"
        inc.last_notified_at = now
        silence = self._silenced(rule, inc.subject, now)
        if kind == "resolved" and inc.notified == Notified.SILENCED and silence is None:
            # It fired under a silence that has ended since: the channels never heard of it.
            silence = Silence(0, "(the silence it fired under)", now, now)
        held = self._held_by(inc) if kind != "resolved" else []
        if silence is not None:
            why = f"silenced by '{silence.pattern}' until {_when(silence.ends_at)}"
            inc.notified = Notified.SILENCED  # no catch-up, no resolved message later
            self._hold(rule, inc, kind, now, why, "silenced", title)
            return
        if held:
            self._hold(rule, inc, kind, now, f"held: {', '.join(held)} failing", "held", title)
            return
        if kind == "firing":
            felt = self._felt(inc, now)
            if felt and inc.body and felt not in inc.body:
                inc.body = f"{inc.body}\n{felt}"
        inc.notified = Notified.CHANNELS
        self._save(inc)
        attach = None
        if kind != "resolved" and inc.run_id:
            details = self.store.run_details(inc.run_id)
            for art in details.artifacts if details else []:
                if art.kind == "screenshot" and Path(art.path).is_file():
                    attach = art.path
        body = inc.body or ""
        if kind == "flapping":
            body = f"It fired {detail}: observer sends no message per change until it has been "
            body += f"stable as long.\n\n{inc.body or ''}"
        self._queue(rule, inc.id, kind, title, body, attach, now)
        log.info(
            "%s %s -> %s",
            kind,
            inc.subject,
            ", ".join(rule.notify),
            extra={"event": f"alert_{kind}", "rule": rule.name, "subject": inc.subject},
        )

    def _queue(
        self,
        rule: AlertRule,
        incident_id: int | None,
        kind: str,
        title: str,
        body: str,
        attach: str | None,
        now: float,
    ) -> None:
        """One message to each of the rule's channels, written to the outbox before it is
        sent: a new leader sends what this one could not."""
        for channel in rule.notify:
            url = self.project.config.alerts.channels[channel]
            d = Delivery(
                rule.name, channel, url, incident_id, kind, title, body, attach, rule.severity
            )
            d.queued_id = self.store.queue(
                Queued(incident_id, rule.name, channel, kind, title, attach, now)
            )
            self._outbox.append(d)

    def _hold(
        self,
        rule: AlertRule,
        inc: Incident,
        kind: str,
        now: float,
        why: str,
        status: str,
        title: str | None = None,
    ) -> None:
        """A notification not sent, on purpose (silenced, held for a dependency, flapping):
        recorded per channel with why."""
        title = title or _title(kind, inc)
        for channel in rule.notify:
            self.store.add_notification(
                Notification(
                    kind=kind,
                    status=status,
                    at=now,
                    incident_id=inc.id,
                    rule=rule.name,
                    channel=channel,
                    attempt=0,
                    error=why,
                    title=title,
                )
            )
        self._save(inc)
        log.info(
            "%s %s: %s",
            kind,
            inc.subject,
            why,
            extra={"event": f"alert_{status}", "rule": rule.name, "subject": inc.subject},
        )

    def _spawn(self, d: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(d))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, d: Delivery) -> bool:
        """Send with a timeout, retrying with backoff; every attempt is recorded, and the
        outbox row goes once the channel took it or every retry failed."""
        cfg = self.project.config.alerts
        wait = cfg.backoff
        body = d.body + (
            f"\n\nIncident: {d.incident_id} ({d.kind})" if d.incident_id is not None else ""
        )  # the same on a repeat, so receivers can tell one
        for attempt in range(1, cfg.retries + 2):
            if not await asyncio.to_thread(self.may_send):
                log.warning(
                    "%s to %s not sent: this observer no longer leads the alerters",
                    d.kind,
                    d.channel,
                    extra={"event": "alert_not_leading", "channel": d.channel},
                )
                return False
            ok, error = await send(d.url, d.title, body, d.attach, d.severity, cfg.timeout)
            await asyncio.to_thread(
                self.store.add_notification,
                Notification(
                    kind=d.kind,
                    status="sent" if ok else "failed",
                    at=self.clock(),
                    incident_id=d.incident_id,
                    rule=d.rule,
                    channel=d.channel,
                    attempt=attempt,
                    error=error,
                    title=d.title,
                ),
            )
            if ok:
                await self._done(d)
                if self.metrics is not None:
                    self.metrics.alerts.labels(d.rule, d.channel, d.kind).inc()
                return True
            if self.metrics is not None:
                self.metrics.alert_failures.labels(d.rule, d.channel).inc()
            log.warning(
                "delivery to %s failed (attempt %d): %s",
                d.channel,
                attempt,
                error,
                extra={"event": "alert_delivery_failed", "channel": d.channel},
            )
            if attempt <= cfg.retries:
                await asyncio.sleep(wait)
                wait *= 2
        await self._done(d)
        return False

    async def _done(self, d: Delivery) -> None:
        if d.queued_id is not None:
            await asyncio.to_thread(self.store.dequeue, d.queued_id)

    async def resume(self) -> int:
        """On taking the lead: the incidents as the database has them, and the notifications
        written down but not delivered (a leader stopped mid-send) sent now; how many."""
        open_ = await asyncio.to_thread(self.store.open_incidents)
        self.open = {(inc.rule, inc.subject): inc for inc in open_}
        self.flaps.use(self.store)  # read again: the last leader may have changed them
        self._healthy_since.clear()
        queued = await asyncio.to_thread(self.store.queued)
        channels = self.project.config.alerts.channels
        bodies: dict[int, str] = {}  # an incident's message, read once for all its channels
        resent = 0
        for q in queued:
            if q.channel not in channels:
                await asyncio.to_thread(self.store.dequeue, q.id or 0)
                continue
            rule = self._rule(q.rule)
            if q.incident_id is not None and q.incident_id not in bodies:
                inc = await asyncio.to_thread(self.store.incident, q.incident_id)
                bodies[q.incident_id] = (inc.body or "") if inc else ""
            body = bodies.get(q.incident_id, "") if q.incident_id is not None else ""
            severity = rule.severity if rule else "warning"
            self._spawn(
                Delivery(q.rule, q.channel, channels[q.channel], q.incident_id, q.kind, q.title,
                         body, q.attach, severity, q.id)
            )  # fmt: skip
            resent += 1
        return resent

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait for deliveries under way (at shutdown, and for one-shot commands)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


_UNKNOWN = object()  # not read from the database yet


def _title(kind: str, inc: Incident) -> str:
    """A transition's title: `[FIRING] …` or `[RESOLVED] …`."""
    return f"[{'RESOLVED' if kind == 'resolved' else 'FIRING'}] {inc.title}"


def persistence(rule: AlertRule, window: float | None, *, resolving: bool = False) -> float:
    """How long a breach must hold before it fires (or, `resolving`, health before it
    resolves): the rule's `for` (`resolve_for`); else, for a budget, half its window (at most
    5 minutes), since evaluations over overlapping windows share their samples and what stays
    in the window cannot count as new evidence each time; else (a probe's runs are each new
    evidence) nothing."""
    given = rule.resolve_for if resolving else rule.for_
    if given is not None:
        return given
    return min(float(window) / 2, DEFAULT_FOR_MAX) if window else 0.0


DEFAULT_FOR_MAX = 300.0


async def send(
    url: str, title: str, body: str, attach: str | None, severity: str, timeout: float
) -> tuple[bool, str | None]:
    """One delivery through apprise: (delivered, why not)."""
    import apprise

    kind = {"critical": apprise.NotifyType.FAILURE, "warning": apprise.NotifyType.WARNING}.get(
        severity, apprise.NotifyType.INFO
    )
    if title.startswith("[RESOLVED]"):
        kind = apprise.NotifyType.SUCCESS
    ap = apprise.Apprise()
    try:
        if not ap.add(url):
            return False, f"not a usable apprise URL ({mask_url(url)})"
        # The body is plain text: lines kept, and e-mail does not read page errors as HTML.
        result = await asyncio.wait_for(
            ap.async_notify(
                body=body,
                title=title,
                notify_type=kind,
                body_format=apprise.NotifyFormat.TEXT,
                attach=[attach] if attach else None,
            ),
            timeout=timeout,
        )
    except TimeoutError:
        return False, f"no answer within {timeout:g}s"
    except Exception as exc:  # a plugin's own bug must not stop the others
        return False, f"{type(exc).__name__}: {exc}"
    if result:
        return True, None
    detail = ""
    logs = getattr(result, "logs", None)
    if callable(logs):
        try:
            lines = [str(getattr(e, "message", e)) for e in logs()]
            detail = "; ".join(x for x in lines if x)[-300:]
        except Exception:
            detail = ""
    return False, detail or "the service refused it"


async def test_channels(project: Project, names: list[str]) -> list[tuple[str, bool, str | None]]:
    """`observer alerts test`: one test notification to each named channel, in turn:
    (channel, delivered, why not)."""
    cfg = project.config.alerts
    out = []
    for name in names:
        ok, err = await send(
            cfg.channels[name],
            "[TEST] observer can reach this channel",
            f"A test notification from observer ({project.path}).",
            None,
            "info",
            cfg.timeout,
        )
        out.append((name, ok, err))
    return out


async def alert_once(project: Project, store: Store, verdicts: list[Verdict]) -> int:
    """`observer budgets --alert`: one cycle over these verdicts and the runs recorded since
    the last call, with deliveries awaited. Returns how many runs were considered."""
    from .daemon import Cycle

    cursor = int(store.get_kv("alerts.last_run_id") or 0)
    rows = store.runs_after(cursor)
    results = [
        details.to_result() for r in rows if (details := store.run_details(r.id)) is not None
    ]
    alerter = Alerter(project, store)
    await alerter.observe(Cycle(time.time(), verdicts, results, project))
    await alerter.drain()
    if rows:
        store.set_kv("alerts.last_run_id", str(rows[-1].id))
    return len(rows)


_OUTCOME_RANK = {"pass": 0, "skipped": 0, "error": 1, "fail": 2}


def _named(subject: str) -> str:
    """The budget's or probe's name in a subject: `probe:checkout · Moto G4 · slow-4g` ->
    checkout."""
    return subject.split(":", 1)[1].split(" · ", 1)[0]
