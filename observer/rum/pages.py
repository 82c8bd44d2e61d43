"""Which page a beacon belongs to: a path, query dropped, grouped by patterns (/products/*)."""

from __future__ import annotations

import functools
import re
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

MAX_PAGE = 300


class Pages:
    """Turns page URLs into the page names stored and budgeted."""

    def __init__(self, patterns: list[str], keep_query: bool = False) -> None:
        self.patterns = patterns
        self.keep_query = keep_query
        self.name = functools.lru_cache(maxsize=8192)(self._name)

    def _name(self, url: str | None) -> str | None:
        """`https://shop/products/12?ref=mail` -> `/products/*` (or `/products/12`)."""
        if not url:
            return None
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return None
        path = parts.path or "/"
        if not path.startswith("/"):
            path = "/" + path
        path = re.sub(r"/{2,}", "/", path)
        for pattern in self.patterns:
            if fnmatchcase(path, pattern):
                return pattern[:MAX_PAGE]
        if self.keep_query and parts.query:
            path = f"{path}?{parts.query}"
        return path[:MAX_PAGE]
