"""The exit codes every command shares (docs/cli.md), and the one rule that picks among them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import ProbeResult


class Exit(IntEnum):
    """What a command's exit status says."""

    OK = 0
    FAIL = 1  # the site failed: a probe or a budget
    USAGE = 2  # the command line or the probe file is wrong
    ERROR = 3  # observer could not do its work: no browser, no database


def exit_code(*, errored: bool, failed: bool) -> Exit:
    """3 when observer could not run something (it says nothing of the site), else 1 when
    something failed, else 0."""
    if errored:
        return Exit.ERROR
    return Exit.FAIL if failed else Exit.OK


def for_results(results: Iterable[ProbeResult]) -> Exit:
    """The exit code of probe runs."""
    outcomes = {str(r.outcome) for r in results}
    return exit_code(errored="error" in outcomes, failed="fail" in outcomes)
