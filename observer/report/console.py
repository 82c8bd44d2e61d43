"""The human output: live progress while probes run, then a readable table."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..results import Outcome, ProbeResult

if TYPE_CHECKING:
    from rich.console import Console

    from ..budgets import Verdict
    from ..config import Probe
    from ..store import Incident
    from .check import Report

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skipped": "dim"}
SYMBOL = {"pass": "✓", "fail": "✗", "error": "!", "skipped": "-"}


def ms(value: float | None) -> str:
    """Milliseconds for people: 840ms, 1.23s."""
    if value is None:
        return "–"
    return f"{value:.0f}ms" if value < 1000 else f"{value / 1000:.2f}s"


def has_marks(r: ProbeResult) -> bool:
    """Whether the journey has mark steps (a last mark, or none reached, then says something)."""
    return any(s.action == "mark" for s in r.steps)


def reached(r: ProbeResult) -> str:
    """How far a journey with marks got."""
    return f"reached mark '{r.last_mark}'" if r.last_mark else "reached no mark"


def journey_progress(r: ProbeResult) -> str:
    """A failed journey in the table: the step it stopped at and the last mark it reached."""
    step = r.steps[r.failed_step or 0]
    where = f"stopped at step {step.index + 1} ({step.name})"
    return f"{where}; {reached(r)}" if has_marks(r) else where


def replay_note(r: ProbeResult) -> str:
    """What the traced replay of a failed run showed."""
    replay = r.replay
    if replay is None:
        return ""
    if replay.outcome == Outcome.PASS:
        return "a traced replay passed: the failure did not repeat, so no trace was kept"
    if replay.outcome == Outcome.ERROR:
        return f"the traced replay could not run: {replay.error}"
    if replay.failed_step is not None and replay.failed_step == r.failed_step:
        return f"a traced replay failed again at step {replay.failed_step + 1}: its trace is below"
    return f"a traced replay failed differently ({replay.error}): its trace is below"


def summary_counts(results: list[ProbeResult]) -> dict[str, int]:
    """How many passed, failed and errored."""
    counts = {"pass": 0, "fail": 0, "error": 0}
    for r in results:
        counts[str(r.outcome)] = counts.get(str(r.outcome), 0) + 1
    return counts


class Progress:
    """Shows which probes are running and each result as it lands."""

    def __init__(self, console: Console, total: int) -> None:
        from rich.live import Live

        self.console = console
        self.total = total
        self.done = 0
        self.running: list[str] = []
        self.started = time.perf_counter()
        self.live: Live | None = None
        if console.is_terminal:
            self.live = Live(self._render(), console=console, refresh_per_second=8, transient=True)

    def _render(self) -> str:
        names = ", ".join(self.running[:4]) + (" …" if len(self.running) > 4 else "")
        return f"[bold]{self.done}/{self.total}[/] done  [dim]running: {names or '—'}[/]"

    def __enter__(self) -> Progress:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.__exit__(None, None, None)

    def start(self, probe: Probe) -> None:
        """A probe began."""
        self.running.append(probe.name)
        if self.live:
            self.live.update(self._render())

    def finish(self, result: ProbeResult) -> None:
        """A probe ended: print its line above the live status."""
        from rich.markup import escape

        self.done += 1
        if result.probe in self.running:
            self.running.remove(result.probe)
        outcome = str(result.outcome)
        self.console.print(
            f"[{STYLE[outcome]}]{SYMBOL[outcome]} {outcome:<5}[/] {escape(result.label)} "
            f"[dim]{ms(result.duration_ms)}[/]",
            highlight=False,
        )
        if self.live:
            self.live.update(self._render())


def render_results(
    console: Console, results: list[ProbeResult], *, db: str | None, elapsed: float
) -> None:
    """The table of results and what went wrong."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=None, show_lines=False, header_style="bold")
    for col, justify in (
        ("probe", "left"),
        ("kind", "left"),
        ("outcome", "left"),
        ("time", "right"),
        ("TTFB", "right"),
        ("FCP", "right"),
        ("LCP", "right"),
        ("CLS", "right"),
        ("errors", "right"),
        ("detail", "left"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "detail")  # type: ignore[arg-type]
    for r in results:
        outcome = str(r.outcome)
        v = r.vitals
        ttfb = r.http.ttfb_ms if r.http else v.get("ttfb_ms")
        cls = v.get("cls")
        if r.outcome == Outcome.PASS:
            detail = (
                f"HTTP {r.http.status}"
                if r.http
                else (f"{len(r.steps)} steps" + (f", mark {r.last_mark}" if r.last_mark else ""))
            )
        elif r.failed_step is not None and r.failed_step < len(r.steps):
            detail = journey_progress(r)
        else:
            detail = r.error or ""
        table.add_row(
            escape(r.label),
            r.kind,
            f"[{STYLE[outcome]}]{outcome}[/]",
            ms(r.duration_ms),
            ms(ttfb),
            ms(v.get("fcp_ms")),
            ms(v.get("lcp_ms")),
            "–" if cls is None else f"{cls:.3f}",
            str(len(r.errors)) if r.kind == "journey" else "–",
            escape(detail),
        )
    console.print(table)
    for r in results:
        if r.outcome == Outcome.PASS:
            continue
        console.print(
            f"[{STYLE[str(r.outcome)]}]{escape(r.label)}: {r.outcome}[/] — {escape(r.error or '')}",
            highlight=False,
        )
        if r.kind == "journey" and has_marks(r):
            console.print(f"  {escape(reached(r))}", highlight=False)
        for step in r.steps:
            if step.outcome in (Outcome.FAIL, Outcome.ERROR):
                first, *details = (step.error or "").splitlines() or [""]
                console.print(
                    f"  step {step.index + 1} [bold]{escape(step.name)}[/] ({step.action}) "
                    f"after {ms(step.duration_ms)}: {escape(first)}",
                    highlight=False,
                )
                for line in details:
                    console.print(f"  {escape(line)}", highlight=False)
        if r.replay is not None:
            console.print(f"  {escape(replay_note(r))}", highlight=False)
        for e in r.errors[:5]:
            console.print(f"  [dim]{e.kind}:[/] {escape(e.message)}", highlight=False)
        for a in r.artifacts:
            console.print(f"  {a.kind}: {escape(a.path)}", highlight=False)
    counts = summary_counts(results)
    where = f" · recorded in {db}" if db else ""
    console.print(
        f"[bold]{counts['pass']} passed · {counts['fail']} failed · {counts['error']} errors[/] "
        f"in {elapsed:.1f}s{where}",
        highlight=False,
    )


BUDGET_STYLE = {"pass": "green", "degraded": "yellow", "fail": "red", "inconclusive": "cyan"}


def render_verdicts(console: Console, verdicts: list[Verdict], warnings: list[str]) -> None:
    """The budget table, then warnings (degraded, inconclusive, flaky)."""
    from rich.table import Table

    from ..budgets import covers, interval, measured

    if verdicts:
        table = Table(header_style="bold")
        cols = ("budget", "outcome", "metric", "measured", "interval", "threshold", "samples")
        for col in (*cols, "covers"):
            table.add_column(
                col,
                no_wrap=col not in ("covers",),
                justify="right" if col in ("measured", "interval", "samples") else "left",
            )
        for v in verdicts:
            outcome = str(v.outcome)
            threshold = v.threshold + (f" (warn {v.warn})" if v.warn else "")
            if v.regression is not None:
                threshold += f", regression {v.regression.tolerance * 100:g}%"
            table.add_row(
                v.name,
                f"[{BUDGET_STYLE[outcome]}]{outcome}[/]",
                v.metric,
                measured(v),
                interval(v),
                threshold,
                str(v.samples),
                covers(v),
            )
        console.print(table)
        for v in verdicts:
            if v.outcome == "fail":  # degraded and inconclusive come with the warnings
                console.print(
                    f"[{BUDGET_STYLE[str(v.outcome)]}]{v.name}: {v.outcome}[/] — {v.message}",
                    highlight=False,
                )
    for w in warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


def render_rounds(console: Console, results: list[ProbeResult], rounds: int) -> None:
    """Per probe over a check's rounds: outcomes and median time, then what went wrong."""
    from rich.table import Table

    from ..budgets import percentile

    table = Table(header_style="bold")
    for col in ("probe", "kind", "runs", "pass", "fail", "error", "flaky", "median", "max"):
        table.add_column(col, no_wrap=True, justify="left" if col in ("probe", "kind") else "right")
    by_probe: dict[str, list[ProbeResult]] = {}
    for r in results:
        by_probe.setdefault(r.label, []).append(r)
    for name, runs in by_probe.items():
        times = [r.duration_ms for r in runs if r.outcome != Outcome.ERROR]
        n = {o: sum(1 for r in runs if r.outcome == o) for o in Outcome}
        flaky = sum(1 for r in runs if r.flaky)
        table.add_row(
            name,
            runs[0].kind,
            str(len(runs)),
            f"[green]{n[Outcome.PASS]}[/]",
            f"[red]{n[Outcome.FAIL]}[/]" if n[Outcome.FAIL] else "0",
            f"[magenta]{n[Outcome.ERROR]}[/]" if n[Outcome.ERROR] else "0",
            f"[yellow]{flaky}[/]" if flaky else "0",
            ms(percentile(times, 50) if times else None),
            ms(max(times) if times else None),
        )
    console.print(f"[bold]{rounds} round{'s' if rounds != 1 else ''}[/]", highlight=False)
    console.print(table)
    shown: set[str] = set()
    for r in results:
        if r.outcome == Outcome.PASS or r.label in shown:
            continue
        shown.add(r.label)
        console.print(
            f"[{STYLE[str(r.outcome)]}]{r.label}: {r.outcome}[/] — {r.error}", highlight=False
        )
        for a in r.artifacts:
            console.print(f"  {a.kind}: {a.path}", highlight=False)


def render_accessibility(console: Console, report: Report) -> None:
    """A check's accessibility: what its runs found, and against a baseline what is new (the
    ones at or above their probe's impact fail) and what was fixed."""
    from rich.markup import escape

    found = report.violations
    if not found and report.accessibility is None:
        return
    compared = report.accessibility
    if compared is None:
        console.print(
            f"[bold]Accessibility:[/] {len(found)} violation{'s' if len(found) != 1 else ''}",
            highlight=False,
        )
        for f in found[:20]:
            console.print(f"  {escape(f.line())}", highlight=False)
        return
    console.print(
        f"[bold]Accessibility against the baseline:[/] {len(compared.new)} new, "
        f"{len(compared.fixed)} fixed",
        highlight=False,
    )
    for f in compared.new:
        style = "red" if f in compared.failing else "yellow"
        console.print(f"  [{style}]new[/]   {escape(f.line())}  {f.help_url}", highlight=False)
    for f in compared.fixed:
        console.print(f"  [green]fixed[/] {escape(f.line())}", highlight=False)


def render_incidents(console: Console, incidents: list[Incident]) -> None:
    """Open incidents first, then the recent ones, with their notifications."""
    from rich.table import Table

    if not incidents:
        console.print("no incidents in the last 7 days")
        return
    table = Table(header_style="bold")
    for col in ("state", "rule", "subject", "opened", "lasted", "title", "notifications"):
        table.add_column(col, no_wrap=col not in ("title", "notifications"))
    order = {"firing": 0, "pending": 1}
    for inc in sorted(incidents, key=lambda i: (order.get(i.state, 2), -i.opened_at)):
        end = inc.resolved_at or time.time()
        sent: dict[str, int] = {}
        for n in inc.notifications:
            sent[n.status] = sent.get(n.status, 0) + 1
        style = {"firing": "red", "pending": "yellow", "resolved": "green"}.get(inc.state, "dim")
        table.add_row(
            f"[{style}]{inc.state}[/]",
            inc.rule,
            inc.subject,
            time.strftime("%m-%d %H:%M", time.localtime(inc.opened_at)),
            f"{(end - inc.opened_at) / 60:.0f}m",
            inc.title or "",
            ", ".join(f"{n} {k}" for k, n in sent.items()) or "–",
        )
    console.print(table)
