"""Alerts on-call staff trust: incident state per (rule, budget or probe), persisted in SQLite;
one notification per transition (plus reminders), delivered through apprise with retries;
silences, dependencies, and the customer impact from real-user data."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .budgets import Status, Verdict, format_value, percentile
from .results import Outcome, ProbeResult
from .secrets import mask_url

if TYPE_CHECKING:
    from .config import Project
    from .config.models import AlertRule
    from .daemon import Cycle
    from .metrics import Metrics
    from .store import Store

log = logging.getLogger("observer.alerts")


def masked(url: str) -> str:
    """A channel URL fit to show (secrets.mask_url, by the name cli.py asks for)."""
    return mask_url(url)


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


class Alerter:
    """Feeds each cycle's verdicts and runs through the incident state machine of every rule."""

    def __init__(
        self,
        project: Project,
        store: Store,
        *,
        metrics: Metrics | None = None,
        clock: Any = time.time,
    ) -> None:
        self.project = project
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.open: dict[tuple[str, str], dict[str, Any]] = {
            (inc["rule"], inc["subject"]): inc for inc in store.open_incidents()
        }
        self.probe_outcome: dict[str, str] = {}
        for probe in project.probes:
            runs = store.last_runs(probe.name, 1)
            if runs:
                self.probe_outcome[probe.name] = runs[0]["outcome"]
        self._tasks: set[asyncio.Task[bool]] = set()
        self._outbox: list[Delivery] = []

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
        for r in results:
            self.probe_outcome[r.probe] = str(r.outcome)
        for rule in self.project.config.alerts.rules:
            for v in cycle.verdicts:
                if any(fnmatchcase(v.name, pat) for pat in rule.budgets):
                    self._budget(rule, v, now)
            for r in results:
                if any(fnmatchcase(r.probe, pat) for pat in rule.probes):
                    self._probe(rule, r, now)
        # Firing incidents that were held for a failing dependency go out once it recovers.
        for (rule_name, _), inc in list(self.open.items()):
            held = self._rule(rule_name)
            if held and inc["state"] == "firing" and not inc["notified"] and not self._held_by(inc):
                self._notify(held, inc, "firing", now)
        return self._outbox

    def _rule(self, name: str) -> AlertRule | None:
        return next((r for r in self.project.config.alerts.rules if r.name == name), None)

    def _budget(self, rule: AlertRule, v: Verdict, now: float) -> None:
        if v.outcome == Status.INCONCLUSIVE:
            return  # too little data says nothing either way
        breached = v.outcome == Status.FAIL or (v.outcome == Status.DEGRADED and rule.on_degraded)
        subject = f"budget:{v.name}"
        title = f"{v.name}: {self._value_line(v)}"
        probes = v.probes
        failing = [p for p in probes if self.probe_outcome.get(p) in ("fail", "error")]
        run = self._latest_failure(failing[0]) if failing else None
        body = [
            f"Budget: {v.name} ({v.metric} {v.threshold}"
            + (f", warn {v.warn}" if v.warn else "")
            + ")",
            f"Measured: {v.message}",
        ]
        if probes:
            body.append(f"Probes: {', '.join(probes)}")
        self._step(rule, subject, "budget", breached, now, title, body, v.value, run, probes)

    def _probe(self, rule: AlertRule, r: ProbeResult, now: float) -> None:
        breached = r.outcome == Outcome.FAIL or (r.outcome == Outcome.ERROR and rule.on_error)
        if r.outcome == Outcome.ERROR and not rule.on_error:
            return
        subject = f"probe:{r.probe}"
        what = "observer could not run it" if r.outcome == Outcome.ERROR else "failed"
        title = (
            f"probe {r.probe} {what}: {r.error or r.outcome}"
            if breached
            else (f"probe {r.probe} passes")
        )
        body = [f"Probe: {r.probe} ({r.kind})", f"Outcome: {r.outcome}"]
        run = None
        if breached and r.run_id is not None:
            run = {
                "id": r.run_id,
                "error": r.error,
                "artifacts": [{"kind": a.kind, "path": a.path} for a in r.artifacts],
            }
            failed = next((s for s in r.steps if str(s.outcome) in ("fail", "error")), None)
            if failed is not None:
                run["failed_step_name"], run["failed_step_error"] = failed.name, failed.error
            if r.http and r.http.status is not None:
                body.append(f"HTTP status: {r.http.status}")
        self._step(
            rule, subject, "probe", breached, now, title, body, r.duration_ms, run, [r.probe]
        )

    def _latest_failure(self, probe: str) -> dict[str, Any] | None:
        runs = self.store.last_runs(probe, 5)
        return next((r for r in runs if r["outcome"] in ("fail", "error")), None)

    @staticmethod
    def _value_line(v: Verdict) -> str:
        value = format_value(v.value, v.unit, v.aggregate)
        limit = format_value(v.limit, v.unit, v.aggregate)
        if v.value is None:
            return v.message
        rel = ">" if v.value > v.limit else "<" if v.value < v.limit else "="
        return f"{v.aggregate} {value} {rel} {limit} ({v.samples} samples)"

    def _step(
        self,
        rule: AlertRule,
        subject: str,
        kind: str,
        breached: bool,
        now: float,
        title: str,
        body: list[str],
        value: float | None,
        run: dict[str, Any] | None,
        probes: list[str],
    ) -> None:
        key = (rule.name, subject)
        inc = self.open.get(key)
        if breached:
            if inc is None:
                inc = {
                    "rule": rule.name,
                    "subject": subject,
                    "kind": kind,
                    "state": "pending",
                    "breaches": 0,
                    "healthy": 0,
                    "opened_at": now,
                    "notified": 0,
                    "severity": rule.severity,
                }
                self.open[key] = inc
            inc["breaches"] += 1
            inc["healthy"] = 0
            inc.update(title=title, value=value, run_id=run["id"] if run else inc.get("run_id"))
            inc["body"] = "\n".join(self._body(rule, inc, body, run, probes, now))
            if inc["state"] == "pending" and inc["breaches"] >= rule.after:
                inc["state"] = "firing"
                inc["fired_at"] = now
                self._save(inc)
                self._notify(rule, inc, "firing", now)
                return
            if inc["state"] == "firing" and inc["notified"] == 1 and rule.repeat:
                last = inc.get("last_notified_at") or inc["fired_at"]
                if now - last >= rule.repeat:
                    self._save(inc)
                    self._notify(rule, inc, "reminder", now)
                    return
            self._save(inc)
            return
        if inc is None:
            return
        if inc["state"] == "pending":
            inc["state"] = "ok"  # a blip that never fired: closed quietly
            inc["resolved_at"] = now
            self._save(inc)
            del self.open[key]
            return
        inc["healthy"] += 1
        if inc["healthy"] >= rule.resolve_after:
            lasted = _ago(now - inc["opened_at"])
            inc["state"] = "resolved"
            inc["resolved_at"] = now
            inc["title"] = f"{title} (after {lasted})"
            inc["body"] = "\n".join([*body, f"Lasted: {lasted}, since {_when(inc['opened_at'])}"])
            self._save(inc)
            del self.open[key]
            if rule.send_resolved and inc["notified"]:
                self._notify(rule, inc, "resolved", now)
        else:
            self._save(inc)

    def _body(
        self,
        rule: AlertRule,
        inc: dict[str, Any],
        lines: list[str],
        run: dict[str, Any] | None,
        probes: list[str],
        now: float,
    ) -> list[str]:
        out = list(lines)
        if run is not None:
            if run.get("failed_step_name"):
                out.append(
                    f"Failed step: {run['failed_step_name']}: {run.get('failed_step_error')}"
                )
            elif run.get("error"):
                out.append(f"Error: {run['error']}")
        out.append(
            f"Since: {_when(inc['opened_at'])} ({_ago(now - inc['opened_at'])} ago), "
            f"{inc['breaches']} breached evaluations in a row"
        )
        out.append(self._impact(probes, now))
        affected = self._dependents(probes)
        if affected:
            out.append(f"Also affected (their alerts wait for this one): {', '.join(affected)}")
        base = self.project.config.settings.public_url
        if base:
            link = (
                f"{base.rstrip('/')}/runs/{run['id']}"
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
        if not impact["loads"] and not impact["lcp"]:
            return f"Customer impact: no real-user data for {where} in the last hour."
        rate = impact["errored"] / impact["loads"] if impact["loads"] else 0.0
        lcp = format_value(percentile(impact["lcp"], 75), "ms") if impact["lcp"] else "unknown"
        return (
            f"Customer impact (real users, last hour, {where}): {impact['sessions']} sessions, "
            f"{impact['loads']} page loads, error rate {rate:.1%}, p75 LCP {lcp}"
        )

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

    def _held_by(self, inc: dict[str, Any]) -> list[str]:
        """Failing dependencies of the incident's probes (empty: nothing holds it)."""
        if inc["subject"].startswith("probe:"):
            probes = [inc["subject"][6:]]
        else:
            rule_budget = next(
                (b for b in self.project.budgets if f"budget:{b.name}" == inc["subject"]), None
            )
            probes = rule_budget.probes if rule_budget else []
        deps: set[str] = set()
        for name in probes:
            try:
                deps.update(self.project.probe(name).depends_on)
            except KeyError:
                continue
        return sorted(d for d in deps if self.probe_outcome.get(d) in ("fail", "error"))

    def _save(self, inc: dict[str, Any]) -> None:
        inc["id"] = self.store.save_incident(inc)

    # ------------------------------------------------------------------ sending

    def _silenced(self, rule: AlertRule, inc: dict[str, Any], now: float) -> dict[str, Any] | None:
        name = inc["subject"].split(":", 1)[1]
        for s in self.store.silences(now):
            if any(fnmatchcase(x, s["pattern"]) for x in (name, inc["subject"], rule.name)):
                return s
        return None

    def _notify(self, rule: AlertRule, inc: dict[str, Any], kind: str, now: float) -> None:
        title = f"[{'RESOLVED' if kind == 'resolved' else 'FIRING'}] {inc['title']}"
        if kind == "reminder":
            title = f"[STILL FIRING {_ago(now - (inc.get('fired_at') or now))}] {inc['title']}"
        inc["last_notified_at"] = now
        silence = self._silenced(rule, inc, now)
        if kind == "resolved" and inc["notified"] == 2 and silence is None:
            # It fired under a silence that has ended since: the channels never heard of it.
            silence = {"pattern": "(the silence it fired under)", "ends_at": now}
        held = self._held_by(inc) if kind != "resolved" else []
        status = "silenced" if silence else "held" if held else None
        if status is not None:
            why = (
                f"silenced by '{silence['pattern']}' until {_when(silence['ends_at'])}"
                if silence
                else f"held: {', '.join(held)} failing"
            )
            for channel in rule.notify:
                self.store.add_notification(
                    {
                        "incident_id": inc["id"],
                        "rule": rule.name,
                        "channel": channel,
                        "kind": kind,
                        "status": status,
                        "attempt": 0,
                        "error": why,
                        "title": title,
                        "at": now,
                    }
                )
            if silence:
                # Told nobody, on purpose: no catch-up when the silence ends, and no resolved
                # message to channels that never heard it fire.
                inc["notified"] = 2
            self._save(inc)
            log.info(
                "%s %s: %s",
                kind,
                inc["subject"],
                why,
                extra={"event": f"alert_{status}", "rule": rule.name, "subject": inc["subject"]},
            )
            return
        inc["notified"] = 1
        self._save(inc)
        attach = None
        if kind != "resolved" and inc.get("run_id"):
            details = self.store.run_details(int(inc["run_id"]))
            for art in (details or {}).get("artifacts", []):
                if art["kind"] == "screenshot" and Path(art["path"]).is_file():
                    attach = art["path"]
        for channel in rule.notify:
            url = self.project.config.alerts.channels[channel]
            d = Delivery(
                rule.name,
                channel,
                url,
                inc["id"],
                kind,
                title,
                inc.get("body") or "",
                attach,
                rule.severity,
            )
            self._outbox.append(d)
        log.info(
            "%s %s -> %s",
            kind,
            inc["subject"],
            ", ".join(rule.notify),
            extra={"event": f"alert_{kind}", "rule": rule.name, "subject": inc["subject"]},
        )

    def _spawn(self, d: Delivery) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(d))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, d: Delivery) -> bool:
        """Send with a timeout, retrying with backoff; every attempt is recorded."""
        cfg = self.project.config.alerts
        wait = cfg.backoff
        for attempt in range(1, cfg.retries + 2):
            ok, error = await send(d.url, d.title, d.body, d.attach, d.severity, cfg.timeout)
            await asyncio.to_thread(
                self.store.add_notification,
                {
                    "incident_id": d.incident_id,
                    "rule": d.rule,
                    "channel": d.channel,
                    "kind": d.kind,
                    "status": "sent" if ok else "failed",
                    "attempt": attempt,
                    "error": error,
                    "title": d.title,
                    "at": self.clock(),
                },
            )
            if ok:
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
        return False

    async def drain(self, timeout: float = 60.0) -> None:
        """Wait for deliveries under way (at shutdown, and for one-shot commands)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


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
            return False, f"not a usable apprise URL ({masked(url)})"
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


def result_from_row(run: dict[str, Any]) -> ProbeResult:
    """A stored run (Store.run_details) as a ProbeResult, for alerting without the daemon."""
    from .results import Artifact, HttpDetails, StepResult

    result = ProbeResult(
        probe=run["probe"],
        kind=run["kind"],
        outcome=Outcome(run["outcome"]),
        started_at=run["started_at"],
        duration_ms=run["duration_ms"] or 0.0,
        completed=bool(run["completed"]),
        error=run["error"],
        run_id=run["id"],
    )
    result.steps = [
        StepResult(
            index=s["idx"],
            name=s["name"],
            action=s["action"],
            outcome=Outcome(s["outcome"]),
            start_ms=s["start_ms"] or 0.0,
            duration_ms=s["duration_ms"] or 0.0,
            error=s["error"],
            url=s["url"],
        )
        for s in run.get("steps", [])
    ]
    result.artifacts = [
        Artifact(a["kind"], a["path"], a["step_index"]) for a in run.get("artifacts", [])
    ]
    if run["kind"] == "http":
        result.http = HttpDetails(url="", method="", status=run["http_status"])
    return result


async def alert_once(project: Project, store: Store, verdicts: list[Verdict]) -> int:
    """`observer budgets --alert`: one cycle over these verdicts and the runs recorded since
    the last call, with deliveries awaited. Returns how many runs were considered."""
    from .daemon import Cycle

    cursor = int(store.get_kv("alerts.last_run_id") or 0)
    rows = store.runs_after(cursor)
    results = [result_from_row(store.run_details(r["id"]) or r) for r in rows]
    alerter = Alerter(project, store)
    await alerter.observe(Cycle(time.time(), verdicts, results, project))
    await alerter.drain()
    if rows:
        store.set_kv("alerts.last_run_id", str(rows[-1]["id"]))
    return len(rows)
