"""Why a journey step failed, in words a probe author can act on.

Playwright says "Timeout 10000ms exceeded." for a missing element, a hidden one and a select
whose option does not exist alike; the reason is in its call log, or in the page. This module
reads both, once a step has failed (so it costs nothing while steps pass), and keeps
Playwright's own words whole for the record (`StepResult.log`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

MAX_LISTED = 5  # matches of a strict-mode violation shown
PROBE_TIMEOUT = 2.0  # each look at the page after a failure
_API_PREFIX = re.compile(r"^(?:[A-Z][A-Za-z]*\.[a-z_][A-Za-z_]*: )+")
_STRICT = re.compile(r"strict mode violation: (.+?) resolved to (\d+) elements")
_ITEM = re.compile(r"^\s*(\d+)\) (.*?)(?: aka (.+))?$")
_MORE = re.compile(r"^\s*\.\.\.and (\d+) more")
_RESOLVED = re.compile(r"locator resolved to (.+)$")
_INTERCEPTS = re.compile(r"^\s*-?\s*(.+?) (?:from .+ subtree )?intercepts pointer events")
_NAVIGATED = re.compile(
    r"(Execution context was destroyed|most likely because of a navigation|"
    r"Frame was detached|Element is not attached to the DOM|navigated to)",
    re.I,
)


@dataclass
class Explained:
    """A step failure: what to tell the author (first line a summary), and Playwright's log."""

    message: str
    log: str | None = None


def split(exc: BaseException) -> tuple[str, str | None]:
    """Playwright's message without its API prefix or `Error: `, and its call log."""
    text = str(exc).strip() or type(exc).__name__
    head, sep, log = text.partition("\nCall log:")
    head = _API_PREFIX.sub("", head.strip())
    if head.startswith("Error: "):
        head = head[len("Error: ") :]
    return head.strip(), (log.strip("\n") if sep else None)


def shown(selector: str, nth: int | None = None) -> str:
    """A selector as the author wrote it, with the nth they chose."""
    return f"`{selector}`" + (f" (nth {nth})" if nth is not None else "")


def waited(timeout_ms: float) -> str:
    """How a reason ends when the step ran out of its time."""
    return f" (waited {timeout_ms / 1000:g}s, the step timeout)"


def is_timeout(exc: BaseException) -> bool:
    """A Playwright timeout: the step waited as long as it may."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    return isinstance(exc, PlaywrightTimeout)


async def _ask(call: Any, default: Any = None) -> Any:
    """One look at the page; the page may be gone or mid-navigation: then `default`."""
    try:
        return await asyncio.wait_for(call, timeout=PROBE_TIMEOUT)
    except Exception:
        return default


async def strict_matches(page: Page, selector: str, head: str) -> str:
    """A strict-mode violation, told with its matches: how many, each visible or hidden, each
    with the unique locator Playwright suggests for it."""
    found = _STRICT.search(head)
    count = int(found.group(2)) if found else 0
    items: list[tuple[int, str, str | None]] = []
    more = 0
    for line in head.splitlines()[1:]:
        if m := _ITEM.match(line):
            items.append((int(m.group(1)), m.group(2).strip(), m.group(3)))
        elif m := _MORE.match(line):
            more = int(m.group(1))
    if not count:
        count = len(items) + more
    base = page.locator(selector)
    lines = []
    states = {"visible": 0, "hidden": 0}
    for number, html, aka in items[:MAX_LISTED]:
        visible = await _ask(base.nth(number - 1).is_visible(), None)
        state = "visible" if visible else "hidden" if visible is False else "gone"
        if state in states:
            states[state] += 1
        lines.append(f"  {number}) {html} · {state}" + (f" · {aka}" if aka else ""))
    if count > MAX_LISTED:
        lines.append(f"  … and {count - MAX_LISTED} more")
    seen = ", ".join(f"{n} {s}" for s, n in states.items() if n)
    of = f"of the first {MAX_LISTED}, " if count > MAX_LISTED else ""
    summary = (
        f"{count} elements match, but the step needs exactly one (strict mode)"
        + (f": {of}{seen}" if seen else "")
        + "; pick one with nth: or a sharper selector"
    )
    return "\n".join([summary, *lines])


def _last_state(log: str | None) -> str | None:
    """The last thing Playwright said about the element while it waited."""
    if not log:
        return None
    keys = (
        "element is not visible",
        "element is not enabled",
        "element is not editable",
        "element is not stable",
        "element is outside of the viewport",
        "did not find some options",
        "intercepts pointer events",
        "element is visible",
        "element is not checked",
    )
    for line in reversed(log.splitlines()):
        text = line.strip().lstrip("- ").strip()
        if any(k in text for k in keys):
            return text
    return None


def _resolved(log: str | None) -> str | None:
    """The element Playwright found, as it shows it: <input id="addr"/>."""
    for line in reversed((log or "").splitlines()):
        if m := _RESOLVED.search(line.strip()):
            return m.group(1)
    return None


async def _options(target: Locator) -> list[tuple[str, str]]:
    """A select's options: (label, value)."""
    got = await _ask(
        target.evaluate(
            "el => Array.from(el.options || []).map(o => [o.label || o.text, o.value])"
        ),
        [],
    )
    return [(str(a), str(b)) for a, b in got] if isinstance(got, list) else []


def _past(action: str) -> str:
    """click -> clicked, select option -> selected an option."""
    verbs = {"click": "clicked", "dblclick": "double-clicked", "tap": "tapped"}
    if action in verbs:
        return verbs[action]
    if action == "select option":
        return "selected the option"
    return f"did {action}"


def _listing(words: list[str], limit: int = 8) -> str:
    shown_words = ", ".join(words[:limit])
    return shown_words + (", …" if len(words) > limit else "")


async def why_element(
    page: Page,
    action: str,
    selector: str,
    nth: int | None,
    log: str | None,
    *,
    state: str = "visible",
    wanted: dict[str, Any] | None = None,
) -> str:
    """Why a step that waited for an element (to act on it, or for a state) timed out."""
    base = page.locator(selector)
    count = await _ask(base.count(), None)
    if count == 0:
        return "no element matches"
    if count is not None and count > 1 and nth is None:
        return f"{count} elements match, but the step needs exactly one (strict mode)"
    if nth is not None and count is not None and not -count <= nth < count:
        return f"matched {count} element{'s' if count != 1 else ''}; nth {nth} is not one of them"
    target = base if nth is None else base.nth(nth)
    which = (
        "matched 1 element, which"
        if nth is None
        else f"nth {nth} of {count if count is not None else 'the'} matches"
    )
    if state == "hidden":
        return f"{which} stayed visible"
    if state == "detached":
        return f"{which} stayed in the page"
    done = re.search(r"(\w[\w ]*?) action done", log or "")
    if done and "waiting for scheduled navigations to finish" in (log or ""):
        # The action happened; what it started (a form sent, a link followed) never ended.
        return f"it {_past(done.group(1))}, but the page it opened did not arrive"
    said = _last_state(log) or ""
    if "did not find some options" in said and wanted:
        options = await _options(target)
        key, value = next(iter(wanted.items()))
        values = value if isinstance(value, list) else [value]
        have = [o[0] for o in options] if key == "label" else [o[1] for o in options]
        missing = [v for v in values if v not in have]
        noun = "labelled" if key == "label" else "with value"
        absent = ", ".join(f"'{v}'" for v in missing or values)
        return (
            f"no option {noun} {absent}; "
            f"its options {'include' if len(have) > 8 else 'are'}: {_listing(have) or 'none'}"
        )
    if "intercepts pointer events" in said:
        m = _INTERCEPTS.match(said)
        cover = m.group(1) if m else "another element"
        return f"covered by {cover}, which would get the {action}"
    if "not enabled" in said:
        return f"{which} stayed disabled"
    if "not editable" in said:
        return f"{which} is read-only"
    if "not stable" in said:
        return f"{which} kept moving (an animation?)"
    if "outside of the viewport" in said:
        return f"{which} is outside the page and cannot be scrolled to"
    visible = await _ask(target.is_visible(), None)
    if "not visible" in said or visible is False:
        return f"{which} stayed hidden"
    if action in ("check", "uncheck") and "not checked" in said:
        return f"{which} did not change when clicked"
    return f"{which} never became ready to {action}"


async def explain(
    exc: BaseException,
    page: Page,
    action: str,
    args: Any,
    timeout_ms: float,
    url_before: str | None,
) -> Explained:
    """Turn a Playwright exception from a step into a reason; the log is kept whole."""
    head, log = split(exc)
    selector = getattr(args, "selector", None)
    nth = getattr(args, "nth", None)
    if _STRICT.search(head) and selector:
        return Explained(await strict_matches(page, selector, head), str(exc))
    if _NAVIGATED.search(head):
        now = page.url if not page.is_closed() else None
        where = f" (now at {now})" if now and now != url_before else ""
        return Explained(f"the page navigated while the step waited{where}", str(exc))
    late = waited(timeout_ms)
    if is_timeout(exc):
        if action == "goto":
            state = getattr(args, "wait_until", "load")
            return Explained(
                f"{getattr(args, 'url', 'the page')} did not reach '{state}'{late}", str(exc)
            )
        if action == "wait_for" and getattr(args, "url", None):
            return Explained(
                f"the URL stayed {page.url}; expected it to match {args.url}{late}", str(exc)
            )
        if action == "wait_for" and getattr(args, "load_state", None):
            return Explained(f"the page did not reach '{args.load_state}'{late}", str(exc))
        if selector:
            wanted = None
            if action == "select":
                wanted = {"label": args.label} if args.label is not None else {"value": args.value}
            reason = await why_element(
                page,
                action,
                selector,
                nth,
                log,
                state=getattr(args, "state", "visible") if action == "wait_for" else "visible",
                wanted=wanted,
            )
            return Explained(reason + late, str(exc))
        return Explained(head.splitlines()[0] + late, str(exc))
    first = head.splitlines()[0] if head else type(exc).__name__
    if first.startswith("Element is not an <input>") and selector:
        what = _resolved(log)
        it = f" (it is {what})" if what else ""
        return Explained(f"not a field that takes text{it}", str(exc))
    if first.startswith("Not a checkbox or radio button") and selector:
        what = _resolved(log)
        it = f" (it is {what})" if what else ""
        return Explained(f"not a checkbox or radio button{it}", str(exc))
    if first.startswith("Unknown key"):
        return Explained(first.replace("Unknown key:", "unknown key"), str(exc))
    return Explained(first[:1000], str(exc))
