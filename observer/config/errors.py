"""Config problems that say where and what."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Mark:
    """A position in a config file, 1-based like editors show it."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One config problem: where, which path, what is wrong."""

    mark: Mark | None
    path: str
    message: str
    # Said, but the file still loads: a variable that is not set, under `observer validate`.
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark else ""
        what = f"{self.path}: " if self.path else ""
        kind = "warning: " if self.warning else ""
        return f"{where}{what}{kind}{self.message}"


class ConfigError(Exception):
    """The config could not be loaded; carries every problem found (and any warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sort_problems(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """In the order of the files: by mark, then path."""
    return sorted(problems, key=lambda p: (p.mark or Mark("", 0, 0), p.path))


def format_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """Render a path the way users read it: probes[2].journey[1].click."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
