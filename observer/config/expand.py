"""${VAR} and ${VAR:-default} expansion from `vars:` and the environment."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .errors import Problem, format_path
from .yamlmarks import Located

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ExpandError(Exception):
    """A reference that cannot be expanded."""


class _Reported(Exception):
    """A reference to a variable of `vars:` whose own problem is already reported."""


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


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Expand ${NAME} and ${NAME:-default} (unset or empty) in text; $$ is a literal $."""
    out: list[str] = []
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
            if not sep:
                raise ExpandError(
                    f"variable '{name}' is not set (set it, or give a default: ${{{name}:-value}})"
                )
            value = expand(default, lookup)  # a default may itself use ${OTHER}
        out.append(value)
        i = end + 1
    return "".join(out)


def expand_tree(located: Located, env: Mapping[str, str]) -> list[Problem]:
    """Expand every string value in place; `vars:` resolve first and shadow the environment."""
    problems: list[Problem] = []
    data = located.data
    if not isinstance(data, dict):
        return problems
    raw_vars = data.get("vars")
    resolved: dict[str, str] = {}
    resolving: list[str] = []
    failed: set[str] = set()  # vars with a problem: their uses are not reported again

    def lookup_var(name: str) -> str | None:
        if name in failed:
            raise _Reported(name)
        if name in resolved:
            return resolved[name]
        if name in resolving[:-1]:
            loop = " -> ".join([*resolving[resolving.index(name) :], name])
            raise ExpandError(f"vars refer to each other in a circle: {loop}")
        # A var may read the environment variable of its own name: BASE_URL: ${BASE_URL:-…}
        if isinstance(raw_vars, dict) and name in raw_vars and name not in resolving:
            raw = raw_vars[name]
            if isinstance(raw, bool | int | float):
                raw = str(raw).lower() if isinstance(raw, bool) else str(raw)
            if not isinstance(raw, str):
                return None
            resolving.append(name)
            try:
                resolved[name] = expand(raw, lookup_var)
            finally:
                resolving.pop()
            return resolved[name]
        return env.get(name)

    if isinstance(raw_vars, dict):
        for name in list(raw_vars):
            path: tuple[str | int, ...] = ("vars", name)
            if not _NAME.fullmatch(name):
                problems.append(
                    Problem(located.mark_of(path, key=True), f"vars.{name}", "not a valid name")
                )
                failed.add(name)
                continue
            if not isinstance(raw_vars[name], str | int | float | bool):
                problems.append(
                    Problem(located.mark_of(path), f"vars.{name}", "a variable must be text")
                )
                failed.add(name)
                continue
            try:
                lookup_var(name)
            except ExpandError as exc:
                problems.append(Problem(located.mark_of(path), f"vars.{name}", str(exc)))
                failed.add(name)
                continue
            except _Reported:
                failed.add(name)
                continue
            raw_vars[name] = resolved[name]

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if path == () and key == "vars":
                    continue
                if isinstance(value, str):
                    node[key] = _expand_at(value, (*path, key))
                else:
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for idx, value in enumerate(node):
                if isinstance(value, str):
                    node[idx] = _expand_at(value, (*path, idx))
                else:
                    walk(value, (*path, idx))

    def _expand_at(value: str, path: tuple[str | int, ...]) -> str:
        if "$" not in value:
            return value
        try:
            return expand(value, lookup_var)
        except ExpandError as exc:
            problems.append(Problem(located.mark_of(path), format_path(path), str(exc)))
            return value
        except _Reported:
            return value

    walk(data, ())
    return problems
