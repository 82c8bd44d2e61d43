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
    # The snippet: the attribution build of web-vitals and our code, in one function scope so
    # neither leaks a global into the site but `window.observer`.
    library = (out / "web-vitals.attribution.iife.js").read_text(encoding="utf-8")
    ours = (HERE / "assets" / "rum.src.js").read_text(encoding="utf-8")
    rum = out / "rum.js"
    rum.write_text(f"(function(){{\n{library}\n{ours}\n}})();\n", encoding="utf-8")
    written.append(rum)
    return written


if __name__ == "__main__":
    try:
        for path in build():
            print(f"wrote {path}", file=sys.stderr)
    except FileNotFoundError as exc:
        sys.exit(str(exc))
