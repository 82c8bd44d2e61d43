"""Google's web-vitals metric objects, as its README's sendToAnalytics pattern sends them."""

from __future__ import annotations

from typing import Any

from .. import catalog
from .model import Context, Item, compact, number, text

# web-vitals names a metric in capitals: LCP -> lcp.
NAMES = {m.name.upper(): m.name for m in catalog.vitals()}
# The attribution build's useful parts, kept compact: what element, which resource, sub-parts.
ATTRIBUTION_KEYS = (
    "target",
    "url",
    "timeToFirstByte",
    "resourceLoadDelay",
    "resourceLoadDuration",
    "elementRenderDelay",
    "interactionTarget",
    "interactionType",
    "inputDelay",
    "processingDuration",
    "presentationDelay",
    "largestShiftTarget",
    "largestShiftValue",
    "loadState",
    "waitingDuration",
    "cacheDuration",
    "dnsDuration",
    "connectionDuration",
    "requestDuration",
    "firstByteToFCP",
)


def looks_like(data: Any) -> bool:
    """A metric object, or a list of them."""
    first = data[0] if isinstance(data, list) and data else data
    # isinstance first: a hostile name ([] or {}) cannot be looked up in a dict (TypeError).
    return isinstance(first, dict) and _named(first) and "value" in first


def _named(m: dict[str, Any]) -> bool:
    return isinstance(m.get("name"), str) and m["name"] in NAMES


def parse(data: Any, ctx: Context) -> list[Any]:
    """Items (or per-item errors) from one metric object or an array of them."""
    metrics = data if isinstance(data, list) else [data]
    out: list[Any] = []
    for m in metrics:
        if not isinstance(m, dict) or not _named(m):
            out.append(ValueError("not a web-vitals metric object"))
            continue
        attribution = m.get("attribution")
        detail = None
        if isinstance(attribution, dict):
            detail = compact({k: attribution.get(k) for k in ATTRIBUTION_KEYS if k in attribution})
        metric_id = text(m.get("id"), 128)
        page = text(m.get("navigationURL"), 2000)
        load = text(m.get("navigationId"), 128)
        out.append(
            Item(
                metric=NAMES[m["name"]],
                value=number(m.get("value")),
                rating=text(m.get("rating"), 32),
                nav_type=text(m.get("navigationType"), 32),
                page_url=page,
                load_id=load,
                detail=detail,
                # The id is unique per metric per page load: a resend (or a grown value under
                # reportAllChanges) updates the same row instead of adding one.
                dedupe=f"wv:{metric_id}" if metric_id else None,
                format="web-vitals",
            )
        )
    return out
