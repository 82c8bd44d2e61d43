"""observer's own snippet (/rum.js): batches of vitals, page views, errors and task milestones."""

from __future__ import annotations

from typing import Any

from .agent import browser_family, device_class
from .model import MAX_SELECTOR, Context, Item, compact, feedback_items, number, text
from .webvitals import ATTRIBUTION_KEYS, NAMES

VERSION = 1


def looks_like(data: Any) -> bool:
    """{"observer": 1, "items": [...]}."""
    return isinstance(data, dict) and data.get("observer") == VERSION and "items" in data


def parse(data: dict[str, Any], ctx: Context) -> list[Any]:
    """Items of one snippet batch."""
    items = data.get("items")
    if not isinstance(items, list):
        return [ValueError("items is not a list")]
    common: dict[str, Any] = {
        "app": text(data.get("app"), 100),
        "session": text(data.get("sid"), 128),
        "load_id": text(data.get("load"), 128),
        "synthetic": data.get("syn") is True,
        "format": "snippet",
    }
    page = text(data.get("page"), 2000)
    # The page's own navigator.userAgent; the server reduces it to family and class like the
    # header's (a browser's beacon may go out with a different header than the page saw).
    ua = text(data.get("ua"), 500)
    if ua:
        common["browser"] = browser_family(ua)
        common["device"] = device_class(ua)
    shared = common
    out: list[Any] = []
    for it in items:
        if not isinstance(it, dict):
            out.append(ValueError("item is not an object"))
            continue
        kind = it.get("k")
        item_id = text(it.get("id"), 128)
        # A metric reported after its route was left names that route's page load itself.
        common = {**shared, "load_id": text(it.get("l"), 128) or shared["load_id"]}
        dedupe = f"s:{common['session']}:{item_id}" if item_id and common["session"] else None
        url = text(it.get("u"), 2000) or page
        if kind == "vital":
            name = it.get("n")
            if not isinstance(name, str) or name not in NAMES:
                out.append(ValueError(f"unknown vital {text(name, 20)!r}"))
                continue
            attribution = it.get("a")
            detail = None
            if isinstance(attribution, dict):
                detail = compact({k: attribution[k] for k in ATTRIBUTION_KEYS if k in attribution})
            out.append(
                Item(
                    metric=NAMES[name],
                    value=number(it.get("v")),
                    rating=text(it.get("r"), 32),
                    nav_type=text(it.get("nav"), 32),
                    page_url=url,
                    detail=detail,
                    dedupe=dedupe,
                    **common,
                )
            )
        elif kind == "pageview":
            out.append(
                Item(
                    metric="pageview",
                    page_url=url,
                    nav_type=text(it.get("nav"), 32),
                    dedupe=dedupe,
                    **common,
                )
            )
        elif kind == "error":
            out.append(
                Item(
                    metric="error",
                    page_url=url,
                    label=text(it.get("type"), 100) or "Error",
                    detail=compact(
                        {
                            "message": text(it.get("msg"), 300) or "",
                            "source": text(it.get("src"), 300) or "",
                        }
                    ),
                    dedupe=dedupe,
                    **common,
                )
            )
        elif kind == "feedback":
            out += feedback_items(it, url, dedupe, common)
        elif kind == "frustration":
            signal = it.get("t")
            if signal not in ("rage", "dead", "error"):
                out.append(ValueError("frustration is rage, dead or error"))
                continue
            out.append(
                Item(
                    metric=f"{signal}_click",
                    page_url=url,
                    label=text(it.get("sel"), MAX_SELECTOR),
                    dedupe=dedupe,
                    **common,
                )
            )
        elif kind == "task":
            phase = it.get("phase")
            if phase not in ("begin", "complete"):
                out.append(ValueError("task phase is begin or complete"))
                continue
            out.append(
                Item(
                    metric=f"task_{phase}",
                    page_url=url,
                    label=text(it.get("task"), 100),
                    dedupe=dedupe,
                    **common,
                )
            )
        else:
            out.append(ValueError(f"unknown item kind {text(kind, 20)!r}"))
    return out
