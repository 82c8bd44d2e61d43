"""Durations as people write them (500ms, 30s, 5m, 1h, 30d) and as observer says them: used by
the config and by the judges below it, so it stands on its own."""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$"


def parse_duration(value: Any) -> float:
    """'30s', '500ms', '1.5m', '2h', '30d' -> seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a duration is text such as 500ms, 30s, 5m, 1h or 30d")
    if isinstance(value, int | float):
        if value == 0:
            return 0.0
        raise ValueError(f"give {value} a unit, e.g. {value}s or {value}ms")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"'{value}' is not a duration (use e.g. 500ms, 30s, 5m, 1h, 30d)")
    return float(match.group(1)) * _FACTORS[match.group(2)]


def format_duration(seconds: float) -> str:
    """Seconds -> the shortest readable form: 0.5 -> 500ms, 90 -> 90s, 3600 -> 1h."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{int(seconds / factor)}{unit}"
    return f"{seconds:g}s"


__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]
