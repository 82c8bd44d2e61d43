"""What customers said and did, split by what the same sessions experienced.

For each task (and each page that got answers), satisfaction (CSAT: the share of answers at 4
or 5) and completion (sessions that completed the task over those that began it) are split by
the worst LCP and INP the session had before, on web.dev's thresholds, and by whether it showed
frustration (a rage, dead or error click). Every figure comes with its Wilson interval, and a
split with fewer than `min_samples` answers is said to be too small to conclude anything.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .budgets import format_value
from .catalog import METRICS
from .confidence import wilson_bounds
from .rum.model import FRUSTRATION, RATINGS

if TYPE_CHECKING:
    from .store import Store
    from .store.rows import RumFact

FACTS = ("lcp", "inp", "csat", "task_begin", "task_complete", *FRUSTRATION)
DIMENSIONS = ("lcp", "inp", "frustration")
# A two-sided 95% interval: each side one-sided at 97.5%.
CONFIDENCE = 0.95
# How far back the dashboard and an alert look, and how many answers or sessions a bucket
# needs before a share is said (`observer report` takes both as options).
WINDOW = 7 * 86400.0
MIN_SAMPLES = 20


@dataclass
class Cell:
    """One measure in one bucket: n answers or sessions, the share, and its interval."""

    n: int
    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def of(cls, good: int, n: int) -> Cell:
        if n == 0:
            return cls(0, None, None, None)
        b = wilson_bounds(good, n, 1 - (1 - CONFIDENCE) / 2)
        return cls(n, good / n, b.low, b.high)


@dataclass
class Group:
    """A task or a page: its measures by dimension and bucket."""

    kind: str  # task or page
    name: str
    csat: dict[str, dict[str, Cell]] = field(default_factory=dict)  # dimension -> bucket -> cell
    completion: dict[str, dict[str, Cell]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "csat": {d: {b: asdict(c) for b, c in bs.items()} for d, bs in self.csat.items()},
            "completion": {
                d: {b: asdict(c) for b, c in bs.items()} for d, bs in self.completion.items()
            },
        }


def _buckets(facts: list[RumFact]) -> dict[str, str]:
    """A session's (or its first part's) worst LCP and INP rating, and frustration."""
    out: dict[str, str] = {}
    for metric in ("lcp", "inp"):
        seen = [f.rating for f in facts if f.metric == metric and f.rating in RATINGS]
        if seen:
            out[metric] = max(seen, key=RATINGS.index)
    out["frustration"] = "with" if any(f.metric in FRUSTRATION for f in facts) else "without"
    return out


def _before(facts: list[RumFact], answer: RumFact) -> list[RumFact]:
    """What the session had met by the time it answered: everything of the page loads that
    began before the answer's, and of the answer's own (its vitals are sent as it is left)."""
    first: dict[str | None, float] = {}
    for f in facts:
        first.setdefault(f.load_id, f.received_at)
    until = first.get(answer.load_id, answer.received_at)
    return [f for f in facts if first.get(f.load_id, f.received_at) <= until]


def split(store: Store, since: float, until: float, task: str | None = None) -> list[Group]:
    """The split of every task (or only `task`) and of every page that got answers."""
    sessions: dict[str, list[RumFact]] = defaultdict(list)
    # Only the sessions that answered or began a task: the others have nothing to split.
    for f in store.rum_facts(since, until, FACTS, anchors=("csat", "task_begin")):
        sessions[f.session].append(f)
    counts: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    names: set[tuple[str, str]] = set()

    def add(group: tuple[str, str], measure: str, buckets: dict[str, str], good: bool) -> None:
        names.add(group)
        for dimension, bucket in buckets.items():
            cell = counts[(*group, measure, dimension, bucket)]
            cell[0] += int(good)
            cell[1] += 1

    for facts in sessions.values():
        # One voice per session and group: its last answer (a session that answers a
        # hundred times is still one customer).
        last: dict[tuple[str, str], RumFact] = {}
        for answer in (f for f in facts if f.metric == "csat" and f.value is not None):
            if answer.label:
                last[("task", answer.label)] = answer
            if answer.page:
                last[("page", answer.page)] = answer
        for group, answer in last.items():
            satisfied = answer.value is not None and answer.value >= 4
            add(group, "csat", _buckets(_before(facts, answer)), satisfied)
        begun = {f.label for f in facts if f.metric == "task_begin" and f.label}
        done = {f.label: f for f in facts if f.metric == "task_complete" and f.label}
        for name in begun:
            # What it met up to completing it (a completed session goes on to more pages).
            met = _before(facts, done[name]) if name in done else facts
            add(("task", name), "completion", _buckets(met), name in done)
    groups = []
    for kind, name in sorted(names):
        if task is not None and (kind, name) != ("task", task):
            continue
        g = Group(kind, name)
        for measure in ("csat", "completion"):
            table = g.csat if measure == "csat" else g.completion
            for dimension in DIMENSIONS:
                order = RATINGS if dimension != "frustration" else ("without", "with")
                cells = {
                    b: Cell.of(*counts[(kind, name, measure, dimension, b)])
                    for b in order
                    if (kind, name, measure, dimension, b) in counts
                }
                if cells:
                    table[dimension] = cells
        groups.append(g)
    return groups


def _pct(cell: Cell) -> str:
    return format_value(cell.value, "ratio")


def _said(label: str, cell: Cell, bucket: str, dimension: str, min_samples: int) -> str:
    where = _where(bucket, dimension)
    low = format_value(cell.low, "ratio").removesuffix("%")
    interval = f"95% {low}–{format_value(cell.high, 'ratio')}"
    if cell.n < min_samples:  # never a bare percentage
        return f"{label} ? {where} (n={cell.n}: too few to conclude, {interval})".lstrip()
    return f"{label} {_pct(cell)} {where} (n={cell.n}, {interval})".lstrip()


def _where(bucket: str, dimension: str) -> str:
    if dimension == "frustration":
        return f"{bucket} frustration"
    heading = METRICS[dimension].heading
    return f"with {bucket} {heading}"


def lines(groups: list[Group], min_samples: int = MIN_SAMPLES) -> list[str]:
    """The split in words, a line per group and dimension: worst bucket against best."""
    out = []
    for g in groups:
        title = f"task {g.name}" if g.kind == "task" else g.name
        for dimension in DIMENSIONS:
            parts = []
            for measure, table in (("CSAT", g.csat), ("completion", g.completion)):
                cells = table.get(dimension)
                if not cells:
                    continue
                shown = [
                    _said(measure if i == 0 else "", cells[b], b, dimension, min_samples)
                    for i, b in enumerate(reversed(list(cells)))
                ]
                parts.append(" against ".join(shown))
            if parts:
                out.append(f"{title}: " + "; ".join(parts))
    return out


__all__ = ["Cell", "Group", "lines", "split"]
