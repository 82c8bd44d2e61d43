"""Browser family and device class from a User-Agent: all that is kept of it."""

from __future__ import annotations

import functools
import re

_BROWSERS = [  # order matters: Edge and Opera also say Chrome, Chrome also says Safari
    ("HeadlessChrome", re.compile(r"HeadlessChrome/")),
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/")),
    ("Safari", re.compile(r"Version/[\d.]+.*Safari/")),
]
_TABLET = re.compile(r"iPad|Tablet|Android(?!.*Mobile)", re.I)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone", re.I)
_BOT = re.compile(r"bot|crawler|spider|curl/|wget/|python-|httpx|Go-http-client", re.I)


@functools.lru_cache(maxsize=4096)  # a few user agents make up most traffic
def browser_family(ua: str | None) -> str | None:
    """Chrome, Firefox, Safari, Edge, ... or 'other'; None without a user agent."""
    if not ua:
        return None
    if _BOT.search(ua):
        return "bot"
    for name, pattern in _BROWSERS:
        if pattern.search(ua):
            return name
    return "other"


@functools.lru_cache(maxsize=4096)
def device_class(ua: str | None) -> str | None:
    """mobile, tablet or desktop."""
    if not ua:
        return None
    if _TABLET.search(ua):
        return "tablet"
    if _MOBILE.search(ua):
        return "mobile"
    return "desktop"
