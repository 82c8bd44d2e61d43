"""Grafana Faro web SDK payloads: meta, measurements (web-vitals among them), exceptions, events."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from .. import catalog
from .model import Context, Item, compact, feedback_items, number, text

# Faro names the web vitals as observer does.
FARO_VITALS = {m.name for m in catalog.vitals()}
_Key = Callable[[], str | None]  # the next item's dedupe key


def looks_like(data: Any) -> bool:
    """A Faro payload has meta and at least one of its lists."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("meta"), dict)
        and any(k in data for k in ("measurements", "exceptions", "events", "logs", "traces"))
    )


def parse(data: dict[str, Any], ctx: Context) -> list[Any]:
    """Items from a Faro batch; logs and traces are accepted and not stored."""
    common = _common(data["meta"], ctx)
    key = _keys(ctx)
    # In this order: an item's dedupe key is its place in the batch.
    out = _vitals(data.get("measurements"), common, key)
    out += _exceptions(data.get("exceptions"), common, key)
    out += _events(data.get("events"), common, key)
    return out


def _common(meta: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """What the batch's meta says of all its items: app, page, session, device, browser."""
    app, page, session, browser = (
        _dict(meta.get(k)) for k in ("app", "page", "session", "browser")
    )
    common: dict[str, Any] = {
        "app": text(app.get("name"), 100),
        "page_url": text(page.get("url"), 2000),
        "session": text(session.get("id"), 128) or text(ctx.session_header, 128),
        "load_id": text(page.get("id"), 128),
        "format": "faro",
    }
    if isinstance(browser.get("mobile"), bool):
        common["device"] = "mobile" if browser["mobile"] else "desktop"
    name = text(browser.get("name"), 40)
    if name:
        common["browser"] = name
    return common


def _keys(ctx: Context) -> _Key:
    """Dedupe keys for a batch's items, one per call: none without an Idempotency-Key."""
    seq = itertools.count(1)

    def key() -> str | None:
        place = next(seq)
        # Faro resends a failed batch with the same Idempotency-Key.
        return f"faro:{ctx.idempotency_key}:{place}" if ctx.idempotency_key else None

    return key


def _vitals(measurements: Any, common: dict[str, Any], key: _Key) -> list[Any]:
    """Web-vitals measurements, one item per vital; other measurements are not stored."""
    out: list[Any] = []
    for m in _list(measurements):
        if not isinstance(m, dict) or not isinstance(m.get("values"), dict):
            out.append(ValueError("measurement without values"))
            continue
        if m.get("type") != "web-vitals":
            continue  # custom measurements: accepted, not stored
        context = _dict(m.get("context"))
        for metric, value in m["values"].items():
            if metric not in FARO_VITALS:
                continue  # delta and friends
            out.append(
                Item(
                    metric=metric,
                    value=number(value),
                    rating=text(context.get("rating"), 32),
                    nav_type=text(context.get("navigation_type"), 32),
                    detail=compact(
                        {
                            k: v
                            for k, v in context.items()
                            if k not in ("rating", "navigation_type", "id")
                        }
                    ),
                    # One measurement may carry several vitals under one context id.
                    dedupe=key()
                    if not context.get("id")
                    else f"faro:{text(context['id'], 128)}:{metric}",
                    **common,
                )
            )
    return out


def _exceptions(exceptions: Any, common: dict[str, Any], key: _Key) -> list[Any]:
    """Exceptions as `error` items, with the first frames of their stack."""
    out: list[Any] = []
    for exc in _list(exceptions):
        if not isinstance(exc, dict):
            out.append(ValueError("exception is not an object"))
            continue
        frames = []
        trace = exc.get("stacktrace")
        if isinstance(trace, dict):
            for f in _list(trace.get("frames"))[:3]:
                if isinstance(f, dict):
                    frames.append(
                        f"{text(f.get('function'), 80) or '?'}@"
                        f"{text(f.get('filename'), 200) or '?'}:{f.get('lineno', '?')}"
                    )
        out.append(
            Item(
                metric="error",
                label=text(exc.get("type"), 100) or "Error",
                detail=compact(
                    {"message": text(exc.get("value"), 300) or "", "frames": " | ".join(frames)}
                ),
                dedupe=key(),
                **common,
            )
        )
    return out


def _events(events: Any, common: dict[str, Any], key: _Key) -> list[Any]:
    """Task, page-view and feedback events; the others are not stored."""
    out: list[Any] = []
    for ev in _list(events):
        if not isinstance(ev, dict):
            out.append(ValueError("event is not an object"))
            continue
        name = text(ev.get("name"), 100)
        attrs = _dict(ev.get("attributes"))
        task = text(attrs.get("task"), 100)
        if name in ("task_begin", "task_complete") and task:
            out.append(Item(metric=name, label=task, dedupe=key(), **common))
        elif name == "page_view" or name == "faro.page_view":
            out.append(Item(metric="pageview", dedupe=key(), **common))
        elif name == "feedback":
            url = common.get("page_url")
            rest = {k: v for k, v in common.items() if k != "page_url"}
            out += feedback_items(attrs, url, key(), rest)
    return out


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
