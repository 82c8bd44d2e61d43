"""Build the vendored browser code from npm, or check that the committed copy is current.

observer/web/static/vendor is committed, so installing observer never needs node. It is made
from the packages locked in observer/web/assets/package-lock.json and from rum.src.js:

    python -m observer.web.build            # regenerate static/vendor (runs `npm ci` in a temp dir)
    python -m observer.web.build --check    # CI: rebuild elsewhere, compare bytes, exit 1 on a diff
    python -m observer.web.build --out DIR  # build into DIR instead
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ASSETS = HERE / "assets"
VENDOR = HERE / "static" / "vendor"
FILES = {
    "web-vitals/dist/web-vitals.iife.js": "web-vitals.iife.js",
    "web-vitals/dist/web-vitals.attribution.iife.js": "web-vitals.attribution.iife.js",
    # Apache-2.0 asks that a copy of the licence travel with the code.
    "web-vitals/LICENSE": "web-vitals.LICENSE.txt",
    # axe-core, the accessibility engine of expect_accessible and audits (MPL-2.0: its source
    # file travels unchanged, with its licence).
    "axe-core/axe.min.js": "axe.min.js",
    "axe-core/LICENSE": "axe-core.LICENSE.txt",
}
SNIPPET = "rum.js"
OUTPUTS = (*FILES.values(), SNIPPET)
REGENERATE = ".venv/bin/python -m observer.web.build"


class BuildError(Exception):
    """The bundle could not be built, or the committed one is not what the sources build."""


def _shown(path: Path) -> str:
    """path relative to the checkout when it is inside it, as a contributor would type it."""
    try:
        return path.resolve().relative_to(ROOT.resolve()).as_posix()
    except ValueError:
        return str(path)


def npm_ci(into: Path) -> Path:
    """Install the locked npm packages into `into` (a copy of package.json and its lock file,
    so the checkout is left alone); returns the node_modules directory."""
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is not installed: install Node.js (e.g. `apt-get install npm`)")
    into.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(ASSETS / name, into / name)
    done = subprocess.run(
        [npm, "ci", "--prefix", str(into), "--ignore-scripts", "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise BuildError(f"`npm ci` failed (exit {done.returncode}):\n{output}")
    return into / "node_modules"


def build(node_modules: Path = ASSETS / "node_modules", out: Path = VENDOR) -> list[Path]:
    """Write the bundle into `out` from an installed node_modules; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src, dst in FILES.items():
        source = node_modules / src
        if not source.is_file():
            raise BuildError(f"{source} is missing: run `npm ci --prefix {_shown(ASSETS)}`")
        shutil.copyfile(source, out / dst)
        written.append(out / dst)
    # The snippet: the attribution build of web-vitals and our code, in one function scope so
    # neither leaks a global into the site but `window.observer`. Bytes, not text: the same
    # file on every platform.
    library = (out / "web-vitals.attribution.iife.js").read_bytes()
    ours = (ASSETS / "rum.src.js").read_bytes()
    rum = out / SNIPPET
    rum.write_bytes(b"(function(){\n" + library + b"\n" + ours + b"\n})();\n")
    written.append(rum)
    return written


def differences(built: Path, committed: Path = VENDOR) -> list[str]:
    """One sentence per committed file that is not byte for byte what was built."""
    sources = f"{_shown(ASSETS / 'package-lock.json')} and {_shown(ASSETS / 'rum.src.js')}"
    fix = f"regenerate it with `{REGENERATE}` and commit the result"
    problems = []
    for name in OUTPUTS:
        have = committed / name
        if not have.is_file():
            problems.append(f"{_shown(have)} is missing: {fix}")
        elif have.read_bytes() != (built / name).read_bytes():
            problems.append(f"{_shown(have)} differs from what {sources} build: {fix}")
    for stray in sorted(committed.glob("*")):
        if stray.name not in OUTPUTS:
            problems.append(f"{_shown(stray)} is not built from {_shown(ASSETS)}: delete it")
    return problems


def main(argv: list[str] | None = None) -> int:
    """The command line: build (or --check) and say what happened on stderr."""
    parser = argparse.ArgumentParser(prog="python -m observer.web.build", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--check",
        action="store_true",
        help="build into a temporary directory and compare with the committed files",
    )
    parser.add_argument(
        "--out", type=Path, help=f"write (with --check: compare) here, not {_shown(VENDOR)}"
    )
    parser.add_argument(
        "--node-modules",
        type=Path,
        help="use this installed node_modules instead of running `npm ci` in a temp directory",
    )
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="observer-web-build-") as tmp:
            node_modules = args.node_modules or npm_ci(Path(tmp) / "npm")
            if args.check:
                build(node_modules, Path(tmp) / "out")
                problems = differences(Path(tmp) / "out", args.out or VENDOR)
                for problem in problems:
                    print(problem, file=sys.stderr)
                if problems:
                    return 1
                print(f"{_shown(args.out or VENDOR)}: up to date", file=sys.stderr)
                return 0
            for path in build(node_modules, args.out or VENDOR):
                print(f"wrote {_shown(path)}", file=sys.stderr)
    except BuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
