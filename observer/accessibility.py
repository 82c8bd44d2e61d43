"""Accessibility with axe-core: checking a page, reading its violations, and comparing them
with a baseline's.

axe-core (npm, MPL-2.0) is vendored beside web-vitals (observer/web/static/vendor/axe.min.js)
and run in the page by `check_page`. A violation is a rule broken by one element (its target,
axe's CSS selector of it) on one page; `observer check --baseline` compares (page, rule,
target) triples, so a page that moves a violation to another element shows one fixed and one
new, and a count that stays the same with other elements in it is still news.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .catalog import IMPACTS
from .results import ObserverError, Violation

if TYPE_CHECKING:
    from playwright.async_api import Page

    from .config.models import AxeArgs

CHECK_TIMEOUT = 30.0  # one axe run; a page it cannot finish in this long is not judged


def rank(impact: str | None) -> int:
    """minor 0 … critical 3; an impact axe did not give counts as minor."""
    return IMPACTS.index(impact) if impact in IMPACTS else 0


def at_or_above(impact: str | None, threshold: str) -> bool:
    """Whether a violation of `impact` is as bad as `threshold` or worse."""
    return rank(impact) >= rank(threshold)


@functools.cache
def _axe_source() -> str:
    from .assets import read_asset

    return read_asset("axe.min.js")


# Runs in the page: loads axe-core once per document (as a function's body, so it defines no
# global but `axe`), then checks the page, leaving out `exclude` and frames.
_RUN_JS = """async ([source, context, options]) => {
  if (!window.axe) { (new Function(source)).call(window); }
  const result = await window.axe.run(context, options);
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    targets: v.nodes.map(n => n.target),
    impacts: v.nodes.map(n => n.impact),
  }));
}"""


def axe_options(args: AxeArgs) -> tuple[dict[str, Any], dict[str, Any]]:
    """axe.run's context and options for a step's or an audit's settings."""
    context: dict[str, Any] = {"include": [["html"]]}
    if args.exclude:
        context["exclude"] = [[selector] for selector in args.exclude]
    options: dict[str, Any] = {
        "resultTypes": ["violations"],
        "iframes": False,
        "runOnly": {"type": "tag", "values": list(args.tags)},
    }
    if args.rules:
        options["rules"] = {rule: {"enabled": on} for rule, on in args.rules.items()}
    return context, options


def _target(raw: Any) -> str:
    """axe's target: a list of selectors (one per frame or shadow root) as one string."""
    if isinstance(raw, str):
        return raw[:500]
    if isinstance(raw, list):
        return " >>> ".join(_target(part) for part in raw)[:500]
    return "?"


@dataclass
class RuleBroken:
    """One rule broken on one page: which elements, how badly."""

    rule: str
    impact: str
    help: str
    help_url: str
    targets: list[str]

    def line(self) -> str:
        """`image-alt (critical): 2 elements, first `img.hero``."""
        n = len(self.targets)
        first = f", first `{self.targets[0]}`" if self.targets else ""
        return f"{self.rule} ({self.impact}): {n} element{'s' if n != 1 else ''}{first}"


def parse(raw: Any) -> list[RuleBroken]:
    """What the page returned, checked (a page may have replaced axe with anything)."""
    if not isinstance(raw, list):
        raise ObserverError("axe-core returned no list of violations")
    out = []
    for item in raw[:500]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        targets = [_target(t) for t in item.get("targets") or [] if t is not None][:1000]
        impact = item.get("impact") if item.get("impact") in IMPACTS else "minor"
        out.append(
            RuleBroken(
                rule=item["id"][:200],
                impact=str(impact),
                help=str(item.get("help") or "")[:500],
                help_url=str(item.get("helpUrl") or "")[:500],
                targets=targets,
            )
        )
    out.sort(key=lambda r: (-rank(r.impact), r.rule))
    return out


async def check_page(page: Page, args: AxeArgs, timeout: float = CHECK_TIMEOUT) -> list[RuleBroken]:
    """Run axe-core on the page as it is; ObserverError when it cannot be run."""
    import asyncio

    context, options = axe_options(args)
    try:
        raw = await asyncio.wait_for(
            page.evaluate(_RUN_JS, [_axe_source(), context, options]), timeout=timeout
        )
    except TimeoutError:
        raise ObserverError(f"axe-core did not finish checking the page in {timeout:g}s") from None
    except ObserverError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ObserverError(f"axe-core could not check the page: {first[:300]}") from exc
    return parse(raw)


def violations(
    broken: list[RuleBroken],
    url: str,
    step_index: int,
    source: Literal["step", "audit"],
    gate: str,
) -> list[Violation]:
    """One Violation per rule and element, as a run keeps them."""
    return [
        Violation(
            rule=r.rule,
            impact=r.impact,
            target=target,
            url=url,
            step_index=step_index,
            help=r.help,
            help_url=r.help_url,
            source=source,
            gate=gate,
        )
        for r in broken
        for target in dict.fromkeys(r.targets)
    ]


def failure(broken: list[RuleBroken], threshold: str) -> str | None:
    """expect_accessible's failure: one line per rule at or above the threshold (None: none)."""
    bad = [r for r in broken if at_or_above(r.impact, threshold)]
    if not bad:
        return None
    n = sum(len(r.targets) for r in bad)
    head = (
        f"{len(bad)} accessibility rule{'s' if len(bad) != 1 else ''} broken at {threshold} "
        f"or above ({n} element{'s' if n != 1 else ''}): {', '.join(r.rule for r in bad)}"
    )
    return "\n".join([head, *(f"  {r.line()}  {r.help_url}" for r in bad)])


def page_of(url: str) -> str:
    """The path a violation's page is named by (budgets' `page:` globs match it)."""
    return urlsplit(url).path or "/"


# --------------------------------------------------------------------------- baselines

Key = tuple[str, str, str]  # page (its path), rule, target


@dataclass
class Found:
    """One violation as the baseline section and the verdict list it."""

    probe: str
    rule: str
    target: str
    impact: str
    page: str
    help_url: str
    gate: str = "serious"

    @property
    def key(self) -> Key:
        """What makes it the same violation in another check: its rule and element, on the
        same page (whichever probe found it)."""
        return (self.page, self.rule, self.target)

    def to_dict(self) -> dict[str, Any]:
        """As the baseline section keeps it."""
        return {
            "probe": self.probe,
            "rule": self.rule,
            "target": self.target,
            "impact": self.impact,
            "page": self.page,
            "help_url": self.help_url,
        }

    def line(self) -> str:
        """`checkout: image-alt (critical) `img.hero` on /product`."""
        return f"{self.probe}: {self.rule} ({self.impact}) `{self.target}` on {self.page}"


def found(results: Iterable[Any]) -> list[Found]:
    """The distinct violations of a check's final runs (by page, rule and element: the first
    probe that found one names it), each with the strictest gate seen."""
    out: dict[Key, Found] = {}
    for result in results:
        for v in getattr(result, "violations", []):
            item = Found(
                result.probe, v.rule, v.target, v.impact, page_of(v.url), v.help_url, v.gate
            )
            have = out.get(item.key)
            if have is None:
                out[item.key] = item
            elif rank(item.gate) < rank(have.gate):
                have.gate = item.gate
    return sorted(out.values(), key=lambda f: (f.probe, f.page, -rank(f.impact), f.rule, f.target))


@dataclass
class Comparison:
    """How a check's violations compare with a baseline's."""

    new: list[Found]
    fixed: list[Found]

    @property
    def failing(self) -> list[Found]:
        """New violations at or above their probe's gate: they fail the check."""
        return [f for f in self.new if at_or_above(f.impact, f.gate)]

    def to_dict(self) -> dict[str, Any]:
        """The --json form."""
        return {
            "new": [f.to_dict() | {"fails": f in self.failing} for f in self.new],
            "fixed": [f.to_dict() for f in self.fixed],
        }


def compare(now: list[Found], baseline: list[Found], pages: Iterable[str]) -> Comparison:
    """New: in this check, not in the baseline. Fixed: in the baseline, on a page this check
    did check (a page it did not reach says nothing), and not found now."""
    before = {f.key for f in baseline}
    current = {f.key for f in now}
    checked = set(pages)
    return Comparison(
        new=[f for f in now if f.key not in before],
        fixed=[f for f in baseline if f.page in checked and f.key not in current],
    )


def baseline_violations(data: Any, path: str) -> list[Found] | None:
    """The `accessibility` section of an earlier `observer check --json`, parsed (read from
    `path`; None: it has none, an older baseline); ValueError says what is wrong with it."""
    section = data.get("accessibility") if isinstance(data, dict) else None
    if section is None:
        return None
    items = section.get("violations") if isinstance(section, dict) else None
    if not isinstance(items, list):
        raise ValueError(f"{path}: accessibility has no 'violations' list")
    out = []
    for i, item in enumerate(items):
        fields = ("probe", "rule", "target")
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in fields):
            raise ValueError(
                f"{path}: accessibility.violations[{i}] needs probe, rule and target (text)"
            )
        out.append(
            Found(
                item["probe"],
                item["rule"],
                item["target"],
                str(item.get("impact") or "minor"),
                str(item.get("page") or ""),
                str(item.get("help_url") or ""),
            )
        )
    return out


# --------------------------------------------------------------------------- the config

# A rule's definition in the bundled axe-core: its id, then (among its other keys) its tags.
_RULE = re.compile(
    r'\{id:"([a-z0-9-]+)",(?:impact:"[a-z]+",)?(?:[a-zA-Z]+:[^{}]*?,)*?tags:\[([^\]]*)\]'
)


@functools.cache
def known() -> tuple[frozenset[str], frozenset[str]]:
    """The rule ids and tags of the bundled axe-core (read from its source, not run)."""
    ids: set[str] = set()
    tags: set[str] = set()
    for rule, listed in _RULE.findall(_axe_source()):
        ids.add(rule)
        tags.update(t.strip().strip('"') for t in listed.split(",") if t.strip())
    return frozenset(ids), frozenset(tags)


def _args_at(project: Any) -> list[tuple[Any, Any, tuple[str | int, ...]]]:
    """Every axe-core setting in the file: (probe or None for settings, args, keys to it)."""
    found: list[tuple[Any, Any, tuple[str | int, ...]]] = []
    settings = project.config.settings.accessibility
    if settings.mode == "audit" or settings.model_fields_set - {"mode"}:
        found.append((None, settings, ("settings", "accessibility")))
    for probe in project.probes:
        if probe.accessibility is not None:
            found.append((probe, probe.accessibility, ("accessibility",)))
        for i, step in enumerate(probe.journey or []):
            if step.action == "expect_accessible":
                found.append((probe, step.expect_accessible, ("journey", i, "expect_accessible")))
    return found


def config_problems(project: Any) -> list[Any]:
    """A problem per tag or rule id the bundled axe-core does not know (a misspelt tag would
    run no rule and pass every page), and per empty `tags`."""
    from .hints import did_you_mean

    places = _args_at(project)
    if not places:
        return []  # reading axe-core's source costs a 650 KB file read
    ids, tags = known()
    bad: list[Any] = []
    for probe, args, keys in places:
        if not args.tags:
            bad.append(
                _problem(project, probe, (*keys, "tags"), "needs at least one tag (wcag2a, ...)")
            )
        for j, tag in enumerate(args.tags):
            if tag not in tags:
                hint = did_you_mean(tag, sorted(tags))
                message = f"axe-core has no rule tagged '{tag}'{hint}"
                bad.append(_problem(project, probe, (*keys, "tags", j), message))
        for rule in args.rules:
            if rule not in ids:
                message = f"axe-core has no rule '{rule}'{did_you_mean(rule, sorted(ids))}"
                bad.append(_problem(project, probe, (*keys, "rules", rule), message))
    return bad


def _problem(project: Any, probe: Any, keys: tuple[str | int, ...], message: str) -> Any:
    """A config problem at `keys` inside a probe (or, for None, inside the file's root)."""
    from .config import Problem
    from .config.errors import format_path

    if probe is None:
        return Problem(project.mark_at(*keys), format_path(keys), message)
    where = project.mark_of(probe.name, *keys)
    return Problem(where, format_path((*project.origins[probe.name][1], *keys)), message)
