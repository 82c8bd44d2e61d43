"""${VAR} and ${VAR:-default} expansion from `vars:` and the environment; captured values.

A reference that neither `vars:` nor the environment fills is not a problem here: the value
keeps it as a template (`${NAME}`, with every literal `$` written `$$`) and the reference is
recorded, with where it is written. The loader then decides what it is: a value a journey
step captures (filled in by `expand_step` when the journey reaches the step), or a variable
that is not set, which matters only to the commands that use that value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import ValidationError

from .errors import Mark, Problem, format_path
from .models import StepBase
from .yamlmarks import Located

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Path = tuple[str | int, ...]


class ExpandError(ValueError):
    """A reference that cannot be expanded, or a step that is not valid once filled in."""


class _Reported(Exception):
    """A reference to a variable of `vars:` whose own problem is already reported."""


@dataclass(frozen=True)
class Reference:
    """A ${name} that neither `vars:` nor the environment filled when the file was loaded."""

    name: str
    # Where `${name}` is written in its file: the value itself, or the entry of `vars:`.
    written: Path
    # The var of `vars:` the value reached it through (None: written in the value itself).
    via: str | None = None


@dataclass
class Unresolved:
    """A string value that holds References; the data holds its template form."""

    located: Located
    path: Path
    refs: tuple[Reference, ...]
    # The template did not fit the field (a number, a duration, a name looked up later): a
    # stand-in value took its place so the rest could be checked, and this one could not be.
    stand_in: bool = False

    @property
    def mark(self) -> Mark | None:
        """Where the value is written."""
        return self.located.mark_of(self.path)

    @property
    def file(self) -> str:
        """The file the value is in, as problems name it."""
        return self.located.root.file if self.located.root else ""


Piece = str | Reference
Lookup = Callable[[str], "str | list[Piece] | None"]


def _closing(text: str, start: int) -> int:
    """Index of the } that closes the ${ before start, allowing ${...} inside a default."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _pieces(
    text: str, lookup: Lookup, written: Path, defaulted: list[Reference] | None = None
) -> list[Piece]:
    """The text with every reference it can fill filled; a Reference for each it cannot.

    `defaulted` collects the names that took their default because nothing has them.
    """
    out: list[Piece] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c != "$":
            j = text.find("$", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt != "{":
            out.append("$")
            i += 1
            continue
        end = _closing(text, i + 2)
        if end < 0:
            raise ExpandError(f"unclosed '${{' in {text!r} (write $$ for a literal $)")
        body = text[i + 2 : end]
        name, sep, default = body.partition(":-")
        if not _NAME.fullmatch(name):
            raise ExpandError(f"'${{{body}}}' is not a variable reference (names are A-Z, 0-9, _)")
        value = lookup(name)
        if value is None or (sep and value == ""):  # like the shell: unset or empty
            if sep:
                if value is None and defaulted is not None:
                    defaulted.append(Reference(name, written))
                # A default may itself use ${OTHER}.
                out.extend(_pieces(default, lookup, written, defaulted))
            else:
                out.append(Reference(name, written))
        elif isinstance(value, str):
            out.append(value)
        else:
            out.extend(value)
        i = end + 1
    return out


def _references(pieces: list[Piece]) -> tuple[Reference, ...]:
    return tuple(dict.fromkeys(p for p in pieces if isinstance(p, Reference)))


def _render(pieces: list[Piece]) -> str:
    """Plain text, or, when a reference is left, the template: $$ for $, ${name} for it."""
    if not any(isinstance(p, Reference) for p in pieces):
        return "".join(p for p in pieces if isinstance(p, str))
    return "".join(p.replace("$", "$$") if isinstance(p, str) else f"${{{p.name}}}" for p in pieces)


def unset_advice(name: str, secret: bool) -> str:
    """What to do about variable `name` not being set."""
    if secret:
        return "it holds a secret: set it in the environment"
    return f"set it, or give a default: ${{{name}:-value}}"


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand ${NAME} and ${NAME:-default} (unset or empty) in text; $$ is a literal $."""
    pieces = _pieces(text, lookup, ())
    for ref in _references(pieces):
        raise ExpandError(
            f"variable '{ref.name}' is not set ({unset_advice(ref.name, secret=False)})"
        )
    return _render(pieces)


@dataclass
class Expanded:
    """What expanding a file's values found."""

    # References that are not one, vars in a circle, a var that is not text.
    problems: list[Problem]
    # Values that keep references nothing filled, in their template form.
    unresolved: list[Unresolved]
    # Values where ${name:-default} took its default because nothing has name.
    defaulted: list[Unresolved]


def expand_tree(located: Located, env: Mapping[str, str]) -> Expanded:
    """Expand every string value in place; `vars:` resolve first and shadow the environment."""
    expansion = _Expansion(located, env)
    if isinstance(located.data, dict):
        expansion.resolve_vars()
        expansion.walk(located.data, ())
        _templates_whole(located, expansion.found.unresolved)
    return expansion.found


class _Expansion:
    """One file's expansion: its vars as they resolve, and what it found."""

    def __init__(self, located: Located, env: Mapping[str, str]) -> None:
        self.located = located
        self.env = env
        raw_vars = located.data.get("vars") if isinstance(located.data, dict) else None
        # The file's own `vars:` mapping: each var is written back into it rendered.
        self.raw_vars: dict[Any, Any] = raw_vars if isinstance(raw_vars, dict) else {}
        self.resolved: dict[str, list[Piece]] = {}
        self.resolving: list[str] = []
        self.failed: set[str] = set()  # vars with a problem: their uses are not reported again
        self.found = Expanded([], [], [])

    def resolve_vars(self) -> None:
        """Resolve every var of `vars:` and write it back rendered (a template if it keeps
        references); a var with a problem is failed."""
        for name in list(self.raw_vars):
            if not self._resolve_var(name):
                self.failed.add(name)

    def _resolve_var(self, name: str) -> bool:
        """Resolve one var of `vars:`; False when it has a problem (reported, unless it is
        another var's)."""
        path: Path = ("vars", name)
        where = f"vars.{name}"
        if not _NAME.fullmatch(name):
            self._problem(self.located.mark_of(path, key=True), where, "not a valid name")
            return False
        if not isinstance(self.raw_vars[name], str | int | float | bool):
            self._problem(self.located.mark_of(path), where, "a variable must be text")
            return False
        try:
            self.lookup_var(name)
        except ExpandError as exc:
            self._problem(self.located.mark_of(path), where, str(exc))
            return False
        except _Reported:
            return False
        pieces = self.resolved[name]
        self.raw_vars[name] = _render(pieces)
        refs = _references(pieces)
        if refs:
            self.found.unresolved.append(Unresolved(self.located, path, refs))
        return True

    def _problem(self, mark: Mark | None, where: str, message: str) -> None:
        self.found.problems.append(Problem(mark, where, message))

    def lookup_var(self, name: str) -> list[Piece] | None:
        """What the var, or else the environment variable, of this name holds (None: neither)."""
        if name in self.failed:
            raise _Reported(name)
        if name in self.resolved:
            return self.resolved[name]
        if name in self.resolving[:-1]:
            loop = " -> ".join([*self.resolving[self.resolving.index(name) :], name])
            raise ExpandError(f"vars refer to each other in a circle: {loop}")
        # A var may read the environment variable of its own name: BASE_URL: ${BASE_URL:-…}
        if name in self.raw_vars and name not in self.resolving:
            return self._resolve_raw(name)
        value = self.env.get(name)
        return None if value is None else [value]

    def _resolve_raw(self, name: str) -> list[Piece] | None:
        """A var's pieces from its value as written, the references in it looked up in turn
        (None: the value is not text)."""
        raw = self.raw_vars[name]
        if isinstance(raw, bool | int | float):
            raw = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if not isinstance(raw, str):
            return None
        self.resolving.append(name)
        try:
            took: list[Reference] = []
            self.resolved[name] = _pieces(raw, self.lookup_in_vars, ("vars", name), took)
            if took:
                self.found.defaulted.append(Unresolved(self.located, ("vars", name), tuple(took)))
        finally:
            self.resolving.pop()
        return self.resolved[name]

    def lookup_in_vars(self, name: str) -> str | list[Piece] | None:
        """A reference written in a var."""
        return _simplest(self.lookup_var(name))

    def lookup_in_value(self, name: str) -> str | list[Piece] | None:
        """A reference written in a value."""
        pieces = self.lookup_var(name)
        if pieces is None or not _references(pieces):
            return _simplest(pieces)
        # Reached through this var: say so when the variable it needs is reported.
        return [
            Reference(p.name, p.written, name) if isinstance(p, Reference) else p for p in pieces
        ]

    def walk(self, node: Any, path: Path) -> None:
        """Expand every string inside node in place (but `vars:`, resolved already)."""
        items: list[tuple[Any, Any]]
        if isinstance(node, dict):
            items = [(k, v) for k, v in node.items() if not (path == () and k == "vars")]
        elif isinstance(node, list):
            items = list(enumerate(node))
        else:
            return
        for key, value in items:
            if isinstance(value, str):
                node[key] = self.expand_at(value, (*path, key))
            else:
                self.walk(value, (*path, key))

    def expand_at(self, value: str, path: Path) -> str:
        """A string value expanded: plain text, or its template while references are left."""
        if "$" not in value:
            return value
        try:
            took: list[Reference] = []
            pieces = _pieces(value, self.lookup_in_value, path, took)
            if took:
                self.found.defaulted.append(Unresolved(self.located, path, tuple(took)))
        except ExpandError as exc:
            self._problem(self.located.mark_of(path), format_path(path), str(exc))
            return value
        except _Reported:
            return value
        refs = _references(pieces)
        if refs:
            self.found.unresolved.append(Unresolved(self.located, path, refs))
        return _render(pieces)


def _simplest(pieces: list[Piece] | None) -> str | list[Piece] | None:
    if pieces is None:
        return None
    if _references(pieces):
        return pieces
    return "".join(p for p in pieces if isinstance(p, str))


def step_path(path: Path) -> Path | None:
    """The path of the journey step a value is in (probes[i].journey[j]), if it is in one."""
    if (
        len(path) >= 5
        and path[0] == "probes"
        and isinstance(path[1], int)
        and path[2] == "journey"
        and isinstance(path[3], int)
    ):
        return path[:4]
    return None


def _templates_whole(located: Located, unresolved: list[Unresolved]) -> None:
    """A journey step with a reference is a template in every string, not just that one: its
    other strings get $$ for $ too (all but the step's name, which is fixed at load)."""
    templated = {u.path for u in unresolved}
    steps = {s for u in unresolved if (s := step_path(u.path)) is not None}
    for path in steps:
        node: Any = located.data
        for part in path:
            node = node[part]

        def escape(value: Any, at: Path) -> Any:
            if isinstance(value, str):
                return value if at in templated else value.replace("$", "$$")
            if isinstance(value, dict):
                for key, item in value.items():
                    value[key] = escape(item, (*at, key))
            elif isinstance(value, list):
                for idx, item in enumerate(value):
                    value[idx] = escape(item, (*at, idx))
            return value

        if isinstance(node, dict):
            for key, item in node.items():
                if key != "name":
                    node[key] = escape(item, (*path, key))


# ----------------------------------------------------------------------------- captured values

Step = TypeVar("Step", bound=StepBase)


def expand_step(step: Step, values: Mapping[str, str]) -> Step:
    """A concrete copy of a step that uses captured values (`step.captures`): every ${name}
    filled in from values and $$ turned into $, validated as the same kind of step.

    Raises ExpandError when a value it needs is not in values, or when the step is not valid
    with them (say, an empty text). A step that uses no captured value comes back as it is.
    """
    if not step.captures:
        return step
    template = step._template
    if template is None:
        raise ExpandError("this step was not loaded as a template")  # pragma: no cover

    def lookup(name: str) -> str | None:
        return values.get(name)

    def fill(node: Any) -> Any:
        if isinstance(node, str):
            return expand(node, lookup)
        if isinstance(node, dict):
            return {key: fill(item) for key, item in node.items()}
        if isinstance(node, list):
            return [fill(item) for item in node]
        return node

    missing = sorted(name for name in step.captures if name not in values)
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        raise ExpandError(f"nothing has captured {names} yet")
    # fill() builds new containers: the template itself is left as it is, for the next run.
    data = template
    if isinstance(template, dict):
        data = {key: item if key == "name" else fill(item) for key, item in template.items()}
    try:
        return type(step).model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ExpandError(
            f"with the captured values filled in, {where or 'the step'}: {msg}"
        ) from None


__all__ = [
    "ExpandError",
    "Expanded",
    "Reference",
    "Unresolved",
    "expand",
    "expand_step",
    "expand_tree",
    "step_path",
    "unset_advice",
]
