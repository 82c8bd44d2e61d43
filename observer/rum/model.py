"""What every beacon format is turned into, and the checks every item passes."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from .. import catalog

# The web vitals real users report, as the catalog lists them.
VITALS = tuple(m.name for m in catalog.vitals())
# What customers say: satisfaction 1-5, effort 1-7 (higher is easier, as CES 2.0 counts),
# likelihood to recommend 0-10. Whole numbers only.
FEEDBACK = {"csat": (1, 5), "ces": (1, 7), "nps": (0, 10)}
# What customers do when something goes wrong: per page view, with the element's selector.
FRUSTRATION = ("rage_click", "dead_click", "error_click")
KINDS = (*VITALS, "pageview", "error", "task_begin", "task_complete", *FEEDBACK, *FRUSTRATION)
# Plausible ranges: outside them a value is a bug or an attack, never a real page.
MAX_TIME_MS = 600_000.0  # ten minutes
MAX_CLS = 100.0
RATINGS = ("good", "needs-improvement", "poor")
NAV_TYPES = (
    "navigate",
    "reload",
    "back-forward",
    "back-forward-cache",
    "prerender",
    "restore",
    "soft-navigation",
)
MAX_TEXT = 500
MAX_DETAIL = 1000
MAX_ID = 128
MAX_COMMENT = 500
MAX_SELECTOR = 100  # the label column's cap
_SURROGATE = re.compile("[\ud800-\udfff]")
# Comments keep no e-mail addresses and no card numbers: 13 to 19 digits of any script, with
# up to three separators (spaces of any width, dashes, dots, slashes) between them, and any
# address with an at sign (or a fullwidth one) followed by a dotted domain in any script.
_EMAIL = re.compile(r"[^\s@＠]+[@＠][^\s@＠]+[.．。][^\W\d_]{2,}")
_CARD = re.compile(r"(?<!\d)(?:\d[\s\-‐-―.·/_]{0,3}){12,18}\d(?!\d)")
# Control and invisible format characters (zero-width spaces, joiners, bidi marks) go first,
# so that none of them can hide a number or an address from the patterns.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]"
)


class BeaconError(Exception):
    """The request as a whole is unusable: answered 4xx with this short reason."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ItemError(Exception):
    """One item is implausible: dropped and counted, the rest of the batch goes on."""


@dataclass
class Context:
    """What the request says about all its items."""

    received_at: float
    referer: str | None = None
    user_agent: str | None = None
    idempotency_key: str | None = None
    session_header: str | None = None


@dataclass
class Item:
    """One stored fact from a browser: a metric value, a page view, an error, a task milestone."""

    metric: str
    value: float | None = None
    page_url: str | None = None
    rating: str | None = None
    nav_type: str | None = None
    session: str | None = None
    load_id: str | None = None
    app: str | None = None
    label: str | None = None
    detail: str | None = None
    dedupe: str | None = None
    synthetic: bool = False
    browser: str | None = None
    device: str | None = None
    format: str = ""


def rating_for(metric: str, value: float) -> str:
    """web.dev's good / needs-improvement / poor (for senders that do not send a rating)."""
    rating = catalog.rating(metric, value)
    if rating is None:
        raise KeyError(f"{metric} is not a web vital")
    return rating


def text(value: Any, limit: int = MAX_TEXT) -> str | None:
    """A bounded string, or None for anything that is not text or a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = _utf8(value.replace("\x00", "")[:limit])
    return value if value else None


def _utf8(value: str) -> str:
    """The string with each lone surrogate (JSON may carry "\\ud800") replaced by U+FFFD:
    SQLite stores UTF-8, and one unencodable string would fail the group commit that other
    requests share."""
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def number(value: Any) -> float | None:
    """A finite number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)
    except OverflowError:  # an integer literal past float's range (1 followed by 400 zeros)
        return None
    return value if math.isfinite(value) else None


def check(item: Item) -> Item:
    """Reject implausible items; fill in a rating where the sender gave none."""
    if item.metric not in KINDS:
        raise ItemError(f"unknown metric {item.metric!r}")
    if item.metric in FEEDBACK:
        low, high = FEEDBACK[item.metric]
        value = item.value
        if value is None or not _in_range(item.metric, value):
            shown = "no number" if value is None else f"{value:g}"
            raise ItemError(f"{item.metric} is a whole number from {low} to {high}, not {shown}")
        item.rating = None
        item.nav_type = None
        return item
    if item.metric in VITALS:
        if item.value is None:
            raise ItemError(f"{item.metric} has no numeric value")
        top = MAX_CLS if item.metric == "cls" else MAX_TIME_MS
        if not 0 <= item.value <= top:
            raise ItemError(f"{item.metric} value {item.value:g} is outside 0..{top:g}")
        # Judged here by the web.dev thresholds, whatever the sender said: a beacon's own
        # rating is just another claim from the client.
        item.rating = rating_for(item.metric, item.value)
    else:
        item.value = None
        item.rating = None
    if item.nav_type not in NAV_TYPES:
        item.nav_type = None
    if item.metric in ("task_begin", "task_complete") and not item.label:
        raise ItemError("a task milestone needs a task name")
    return item


def comment(value: Any) -> str | None:
    """A customer's comment as it is kept: plain text of at most 500 characters, with e-mail
    addresses and card numbers replaced, and control characters gone."""
    # Cut before the patterns run (bounding their cost), with room for a number that spans
    # the 500th character, then again after.
    raw = text(value, MAX_COMMENT + 40)
    if raw is None:
        return None
    visible = _HIDDEN.sub("", raw)
    cleaned = _CARD.sub("[card]", _EMAIL.sub("[email]", visible)).strip()
    return cleaned[:MAX_COMMENT] or None


def feedback_items(
    data: dict[str, Any], url: str | None, dedupe: str | None, common: dict[str, Any]
) -> list[Any]:
    """One feedback answer (`{task, csat|ces|nps, comment}`) as an item per score, the comment
    with the first; a number given as text (Faro's attributes are text) is read as one."""
    scores = [(name, _score(data.get(name))) for name in FEEDBACK if data.get(name) is not None]
    if not scores:
        return [ValueError("feedback needs csat, ces or nps")]
    said = comment(data.get("comment"))
    # The comment goes with the first answer that is in range (an invalid one is dropped).
    keeper = next((n for n, v in scores if v is not None and _in_range(n, v)), None)
    return [
        Item(
            metric=name,
            value=value,
            page_url=url,
            label=text(data.get("task"), 100),
            detail=_comment_detail(said) if said and name == keeper else None,
            dedupe=f"{dedupe}:{name}" if dedupe else None,
            **common,
        )
        for name, value in scores
    ]


def _score(raw: Any) -> float | None:
    """An answer's number; text that is one (Faro's attributes are text) is read as one."""
    value = number(raw)
    if value is None and isinstance(raw, str):
        try:
            value = number(float(raw.strip()[:20]))
        except ValueError:
            value = None
    return value


def _in_range(metric: str, value: float) -> bool:
    low, high = FEEDBACK[metric]
    return value == int(value) and low <= value <= high


def _comment_detail(said: str) -> str:
    """The comment as the detail column holds it: JSON within MAX_DETAIL characters."""
    while True:
        dumped = json.dumps({"comment": said}, ensure_ascii=False)
        if len(dumped) <= MAX_DETAIL:
            return dumped
        said = said[: len(said) - (len(dumped) - MAX_DETAIL)]


def compact(data: Any, limit: int = MAX_DETAIL) -> str | None:
    """Small JSON of a mapping of scalars (attribution, error details), or None."""
    if not isinstance(data, dict):
        return None
    out: dict[str, Any] = {}
    for key, value in list(data.items())[:20]:
        if not isinstance(key, str):
            continue
        if isinstance(value, str):
            out[_utf8(key[:64])] = _utf8(value[:300])
        elif isinstance(value, bool) or value is None:
            continue
        elif (num := number(value)) is not None:
            out[_utf8(key[:64])] = round(num, 3)
    if not out:
        return None
    dumped = json.dumps(out, separators=(",", ":"), ensure_ascii=False)
    return dumped[:limit]
