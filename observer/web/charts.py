"""Charts drawn as SVG on the server: no JavaScript, no CDN, every label escaped."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from markupsafe import Markup

if TYPE_CHECKING:
    from ..experience import Cell
    from ..store import StepRow

PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626")
OUTCOME_COLOUR = {"pass": "#16a34a", "fail": "#dc2626", "error": "#9333ea", "skipped": "#9ca3af"}


@dataclass
class Series:
    """A named line of (unix time, value) points."""

    name: str
    points: list[tuple[float, float]]
    colour: str | None = None


@dataclass
class Line:
    """A horizontal line across the chart: a budget's limit."""

    label: str
    value: float
    colour: str = "#dc2626"


def _fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value / 1000:.1f}s" if value >= 1000 else f"{value:.0f}ms"
    if unit == "%":
        return f"{value * 100:.0f}%"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def _top(values: Sequence[float], unit: str) -> float:
    """The top of a chart's value axis: a tenth above the highest value; for counts, a whole
    multiple of four, so that each of the five gridlines is a whole number."""
    high = max(values) if values else 0.0
    if unit == "count":
        return float(max(4, math.ceil(high / 4) * 4))
    return high * 1.1 if high > 0 else 1.0


def sparkline(
    values: Sequence[float], outcomes: Sequence[str] = (), width: int = 120, height: int = 28
) -> Markup:
    """A small line of recent values, with failed runs as red dots."""
    if not values:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')
    top = max(values) or 1.0
    n = len(values)
    pad = 3  # room for the dots at the ends
    step = (width - 2 * pad) / max(n - 1, 1)
    pts = [(pad + i * step, height - 3 - (v / top) * (height - 6)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{OUTCOME_COLOUR.get(o, "#dc2626")}"/>'
        for (x, y), o in zip(pts, outcomes, strict=False)
        if o != "pass"
    )
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="recent values"><polyline fill="none" stroke="#2563eb" '
        f'stroke-width="1.5" points="{path}"/>{dots}</svg>'
    )


def timeseries(
    series: Sequence[Series],
    lines: Sequence[Line] = (),
    *,
    unit: str = "ms",
    width: int = 1100,
    height: int = 220,
    title: str = "",
) -> Markup:
    """A time chart with axes, one polyline per series and dashed budget lines."""
    left, right, top_pad, bottom = 56, 12, 22, 28
    w, h = width - left - right, height - top_pad - bottom
    xs = [t for s in series for t, _ in s.points]
    ys = [v for s in series for _, v in s.points] + [ln.value for ln in lines]
    if not xs:
        return Markup(
            f'<svg class="chart" width="{width}" height="{height}" role="img">'
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">'
            f"{escape(title)}: no data yet</text></svg>"
        )
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1:
        x0, x1 = x0 - 30, x1 + 30
    y1 = _top(ys, unit)
    y0 = 0.0

    def px(t: float) -> float:
        return left + (t - x0) / (x1 - x0) * w

    def py(v: float) -> float:
        return top_pad + h - (v - y0) / (y1 - y0) * h

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" style="width:100%;height:auto"'
        f' role="img" aria-label="{escape(title)}">'
    ]
    if title:
        parts.append(f'<text x="{left}" y="14" class="title">{escape(title)}</text>')
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        y = py(v)
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(_fmt(v, unit))}</text>"
        )
    span = x1 - x0
    stamp = "%H:%M:%S" if span < 600 else "%H:%M" if span < 2 * 86400 else "%m-%d %H:%M"
    for i in range(5):
        t = x0 + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(
            f'<text x="{px(t):.1f}" y="{height - 8}" text-anchor="{anchor}" class="tick">'
            f"{time.strftime(stamp, time.localtime(t))}</text>"
        )
    merged: dict[float, Line] = {}
    for ln in lines:  # budgets at the same limit share one line and one label
        if ln.value in merged:
            merged[ln.value] = Line(
                f"{merged[ln.value].label} · {ln.label}", ln.value, merged[ln.value].colour
            )
        else:
            merged[ln.value] = ln
    for ln in merged.values():
        y = py(ln.value)
        parts.append(
            f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{ln.colour}" stroke-dasharray="6 4" stroke-width="1.5" '
            f'class="budget"/>'
        )
        parts.append(
            f'<text x="{left + w - 4}" y="{y - 4:.1f}" text-anchor="end" '
            f'class="budget-label" fill="{ln.colour}">{escape(ln.label)}</text>'
        )
    for i, s in enumerate(series):
        colour = s.colour or PALETTE[i % len(PALETTE)]
        pts = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in sorted(s.points))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{pts}">'
            f"<title>{escape(s.name)}</title></polyline>"
        )
        if len(s.points) <= 60:
            parts.extend(
                f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="2" fill="{colour}"/>'
                for t, v in s.points
            )
    if len(series) > 1:
        x = left + 4
        for i, s in enumerate(series[:8]):
            colour = s.colour or PALETTE[i % len(PALETTE)]
            label = s.name if len(s.name) <= 24 else s.name[:23] + "…"
            parts.append(
                f'<rect x="{x}" y="{top_pad + 2}" width="10" height="10" fill="{colour}"/>'
                f'<text x="{x + 14}" y="{top_pad + 11}" class="legend">'
                f"{escape(label)}</text>"
            )
            x += 20 + 7 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))


def waterfall(steps: Sequence[StepRow], width: int = 1100) -> Markup:
    """One bar per step at its start offset, coloured by outcome."""
    rows = [s for s in steps if s.outcome != "skipped"]
    if not rows:
        return Markup("")
    label_w, right = 240, 70
    bar_h, gap = 18, 6
    height = len(rows) * (bar_h + gap) + 24
    end = max((s.start_ms or 0) + (s.duration_ms or 0) for s in rows)
    end = end or 1.0
    w = width - label_w - right
    parts = [
        f'<svg class="waterfall" viewBox="0 0 {width} {height}" style="width:100%;height:auto" '
        f'role="img" aria-label="step waterfall">'
    ]
    for i, s in enumerate(rows):
        y = 10 + i * (bar_h + gap)
        start = float(s.start_ms or 0)
        dur = float(s.duration_ms or 0)
        x = label_w + start / end * w
        bw = max(2.0, dur / end * w)
        colour = OUTCOME_COLOUR.get(str(s.outcome), "#6b7280")
        name = s.name or ""
        name = name if len(name) <= 34 else name[:33] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end" class="tick">'
            f"{escape(name)}</text>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{bw:.1f}" height="{bar_h}" rx="3" '
            f'fill="{colour}"><title>{escape(name)}: {dur:.0f} ms</title></rect>'
        )
        parts.append(
            f'<text x="{x + bw + 4:.1f}" y="{y + 13}" class="tick">{escape(_fmt(dur, "ms"))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_shares(good: int, ni: int, poor: int, width: int = 160) -> Markup:
    """Good / needs improvement / poor as one stacked bar."""
    total = good + ni + poor
    if not total:
        return Markup('<span class="muted">–</span>')
    parts = [
        f'<svg class="shares" width="{width}" height="12" role="img" '
        f'aria-label="good {good}, needs improvement {ni}, poor {poor}">'
    ]
    x = 0.0
    for n, colour in ((good, "#16a34a"), (ni, "#d97706"), (poor, "#dc2626")):
        bw = n / total * width
        if bw > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{bw:.1f}" height="12" fill="{colour}">'
                f"<title>{n} ({n / total:.0%})</title></rect>"
            )
        x += bw
    parts.append("</svg>")
    return Markup("".join(parts))


def share_interval(cell: Cell | None, min_samples: int, width: int = 160) -> Markup:
    """A share as a bar with its interval as a whisker, and the figures beside; under
    `min_samples` only the whisker and "too few", never a bare percentage."""
    if cell is None or not cell.n:
        return Markup('<span class="muted">–</span>')
    low, high = (cell.low or 0.0) * width, (cell.high or 0.0) * width
    few = cell.n < min_samples
    label = (
        f"n={cell.n}: too few to conclude, 95% interval {cell.low or 0:.0%}–{cell.high or 0:.0%}"
        if few
        else f"{cell.value or 0:.0%} (n={cell.n}, 95% interval {cell.low or 0:.0%}–"
        f"{cell.high or 0:.0%})"
    )
    parts = [f'<svg class="shares" width="{width}" height="12" role="img" aria-label="{label}">']
    parts.append(f'<rect x="0" y="0" width="{width}" height="12" fill="#e5e7eb"/>')
    if not few:
        parts.append(
            f'<rect x="0" y="2" width="{(cell.value or 0.0) * width:.1f}" height="8" '
            'fill="#2563eb"/>'
        )
    parts.append(
        f'<line x1="{low:.1f}" x2="{high:.1f}" y1="6" y2="6" stroke="#111" stroke-width="2"/>'
        f'<line x1="{low:.1f}" x2="{low:.1f}" y1="2" y2="10" stroke="#111"/>'
        f'<line x1="{high:.1f}" x2="{high:.1f}" y1="2" y2="10" stroke="#111"/>'
    )
    parts.append(f"<title>{label}</title></svg>")
    text = (
        f"n={cell.n}, too few"
        if few
        else f'{cell.value:.0%} <span class="muted">(n={cell.n})</span>'
    )
    return Markup("".join(parts) + f" {text}")
