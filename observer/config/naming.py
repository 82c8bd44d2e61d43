"""Readable names for steps, shared by the loader (budgets name steps) and the runner.

Kept apart from observer.steps, which imports asyncio: `observer validate` needs the names,
not the machinery that runs the steps.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from . import models as m


def describe(step: m.StepBase) -> str:
    """A readable default name: `click button[type=submit]`, `goto /login`."""
    if step.name:
        return step.name
    arg: Any = getattr(step, step.action)
    if isinstance(step, m.GotoStep):
        parts = urlsplit(step.goto.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    elif isinstance(step, m.WaitStep):
        from .types import format_duration

        target = format_duration(step.wait)
    elif isinstance(arg, str):
        target = arg
    else:
        # What the step is about first (the text, the key), then where, if that is not it.
        target = next(
            (
                str(getattr(arg, k))
                for k in ("text", "key", "url", "load_state", "title", "name", "selector")
                if getattr(arg, k, None)
            ),
            "",
        )
        selector = getattr(arg, "selector", None)
        if selector and target != selector:
            target += f" in {selector}"
    if step.captures:
        # A step that uses a captured value is a template, with $$ for each literal $.
        target = target.replace("$$", "$")
    if len(target) > 80:
        target = target[:77] + "..."
    return f"{step.action} {target}".strip()
