"""Value types shared by the config models: durations, names and cron expressions."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema

from ..durations import DURATION_PATTERN
from ..durations import format_duration as format_duration  # the config's, too
from ..durations import parse_duration as parse_duration


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["500ms", "30s", "5m"]}
    ),
]
"""A length of time in seconds, written with a unit in YAML."""


def _non_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


NonEmpty = Annotated[str, BeforeValidator(_non_empty)]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.:/@-]*$")


def _probe_name(value: Any) -> Any:
    if isinstance(value, str) and not _NAME_RE.match(value):
        raise ValueError(
            f"'{value}' is not a usable name: start with a letter or digit; "
            "letters, digits, space and _ . : / @ - after that"
        )
    return value


ProbeName = Annotated[str, BeforeValidator(_probe_name)]


def _percent(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise ValueError(f"'{value}' is not a percentage (write e.g. 10%)")
        try:
            number = float(text[:-1])
        except ValueError:
            raise ValueError(f"'{value}' is not a percentage (write e.g. 10%)") from None
        if number <= 0:
            raise ValueError("must be more than 0%")
        return number / 100
    raise ValueError("a percentage is text such as 10%")


Percent = Annotated[
    float,
    BeforeValidator(_percent),
    WithJsonSchema({"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"}),
]
"""A share written as a percentage in YAML (10%), held as a fraction (0.1)."""


def confidence(value: Any) -> Any:
    # 0.95, 95%, or off (false): judge the point estimate. Held as a fraction, 0.0 for off.
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return 0.0
    if isinstance(value, bool):
        raise ValueError("a confidence is a number such as 0.95, a percentage (95%), or off")
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        value = float(value)  # from the command line
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"'{value}' is not a confidence (write e.g. 0.95 or 95%)") from None
    if not isinstance(value, int | float):
        raise ValueError("a confidence is a number such as 0.95, a percentage (95%), or off")
    if not 0.5 <= float(value) < 1:
        raise ValueError("a confidence lies from 0.5 up to (not including) 1, e.g. 0.95; or off")
    return float(value)


Confidence = Annotated[
    float,
    BeforeValidator(confidence),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0.5, "exclusiveMaximum": 1},
                {"type": "string", "pattern": r"^\s*(off|\d+(\.\d+)?\s*%)\s*$"},
                {"const": False},
            ]
        }
    ),
]
"""How sure a verdict must be (0.95), held as a fraction; 0.0 is `off` (the point estimate)."""


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|KB|k|MiB|MB|M)?\s*$")
_SIZE_FACTORS = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "KB": 1000,
    "k": 1024,
    "MiB": 1048576,
    "MB": 1000000,
    "M": 1048576,
}
MAX_BODY_CAP = 1024 * 1024


def _size(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a size is bytes or text such as 64KiB")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        n = int(m.group(1)) * _SIZE_FACTORS[m.group(2)]
    else:
        raise ValueError(f"'{value}' is not a size (write e.g. 65536, 64KiB or 1MiB)")
    if not 1024 <= n <= MAX_BODY_CAP:
        raise ValueError("must be between 1KiB and 1MiB")
    return n


Size = Annotated[
    int,
    BeforeValidator(_size),
    WithJsonSchema({"type": ["integer", "string"], "examples": [65536, "64KiB", "1MiB"]}),
]
"""A number of bytes, written plainly or as 64KiB / 1MiB."""


def validate_cron(expr: str) -> str | None:
    """Why a cron expression is wrong, or None."""
    from croniter import croniter

    if len(expr.split()) != 5:
        return "a cron expression has 5 fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(expr):
        return f"'{expr}' is not a valid cron expression"
    return None


# observer's own health, as alert rules name it in `probes:` (watchdog.py judges it).
OWN_PREFIX = "observer:"
OWN_FRESH = "observer:fresh:"  # + a probe's name
OWN_RUNNERS = "observer:runners@"  # + a location
OWN_DATABASE = "observer:database"


def names_own_health(pattern: str, probe_names: list[str]) -> bool:
    """Whether a rule's `observer:` pattern can match any of observer's own subjects."""
    if pattern.startswith(OWN_RUNNERS):
        return True  # locations are where runners run: known only when they do
    subjects = [OWN_DATABASE, f"{OWN_RUNNERS}LOCATION", *(OWN_FRESH + n for n in probe_names)]
    return any(fnmatchcase(s, pattern) for s in subjects)
