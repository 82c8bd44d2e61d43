"""The browser code vendored into the package (observer/web/static/vendor), read by name.

The files are built from npm by `python -m observer.web.build` and committed, so an install
from a clone, a wheel or an sdist has them without node; a missing one is a broken install,
and the error says how to mend it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .results import ObserverError

VENDOR = "observer/web/static/vendor"


class MissingAsset(ObserverError):
    """A vendored file is not in this installation: the message says how to restore it."""


def read_asset(name: str) -> str:
    """The text of observer/web/static/vendor/NAME; MissingAsset if this install lacks it."""
    file = resources.files("observer.web").joinpath(f"static/vendor/{name}")
    try:
        return file.read_text(encoding="utf-8")
    except OSError:
        raise MissingAsset(_missing(name, str(file))) from None


def _missing(name: str, where: str) -> str:
    root = Path(__file__).resolve().parent.parent
    if (root / ".git").exists():  # a clone, installed editable or run in place
        return (
            f"{VENDOR}/{name} is missing from this checkout: restore it with "
            f"`git checkout -- {VENDOR}` (or run `bash .ci/setup`)"
        )
    return (
        f"{where} is missing, so this installation of observer is incomplete: reinstall it with "
        "`pip install --force-reinstall --no-deps` and the wheel, sdist or source directory "
        "it came from"
    )
