"""Copy the npm-built browser code into the package data (run by .ci/setup and wheel builds)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
FILES = {
    "web-vitals/dist/web-vitals.iife.js": "web-vitals.iife.js",
    "web-vitals/dist/web-vitals.attribution.iife.js": "web-vitals.attribution.iife.js",
}


def build(node_modules: Path = HERE / "assets" / "node_modules") -> list[Path]:
    """Copy each bundle into static/vendor; raises FileNotFoundError if npm ci did not run."""
    out = HERE / "static" / "vendor"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src, dst in FILES.items():
        source = node_modules / src
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: run `npm ci --prefix {HERE / 'assets'}`")
        shutil.copyfile(source, out / dst)
        written.append(out / dst)
    return written


if __name__ == "__main__":
    try:
        for path in build():
            print(f"wrote {path}", file=sys.stderr)
    except FileNotFoundError as exc:
        sys.exit(str(exc))
