"""Installing observer the ordinary way: the sdist and wheel `python -m build` makes, and
`pip install .`, carry the committed web-vitals bundle; the wheel, installed into a fresh venv
outside the checkout with no node or npm on PATH, measures a journey and serves /rum.js; and
an installation that lost a bundled file says so in one sentence, not a traceback.

One venv for the module (installing observer's dependencies takes a while even from pip's
cache); the test that breaks it puts the files back when it is done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, Done, ServeProcess

from observer.assets import MissingAsset, read_asset
from observer.browser import find_chromium
from observer.demo.shop import ShopServer

VENDOR = "observer/web/static/vendor"
BUNDLE = ("web-vitals.iife.js", "web-vitals.attribution.iife.js", "rum.js")
LICENCE = "web-vitals.LICENSE.txt"
BUILD_TIMEOUT = 300  # seconds for one `python -m build`, `pip wheel` or `pip install`
RUN_TIMEOUT = 120  # seconds for one journey run
START_TIMEOUT = 60  # seconds for `observer serve` to answer /healthz

# Building and installing take tens of seconds, counted against the first test that asks.
pytestmark = pytest.mark.timeout(900)


def committed(name: str) -> bytes:
    return (ROOT / VENDOR / name).read_bytes()


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel `python -m build` makes from the checkout (the wheel is built
    from the sdist, as a user of the sdist would build it)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    (sdist,) = out.glob("observer-*.tar.gz")
    (wheel,) = out.glob("observer-*.whl")
    return sdist, wheel


def test_the_sdist_carries_the_bundle_and_its_sources(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        for name in BUNDLE:
            member = tar.extractfile(f"{top}/{VENDOR}/{name}")
            assert member is not None and member.read() == committed(name), name
        names = set(tar.getnames())
    assert f"{top}/observer/web/assets/package-lock.json" in names
    assert f"{top}/observer/web/assets/rum.src.js" in names
    assert not any("node_modules" in n for n in names)


def test_the_wheel_built_from_the_sdist_carries_the_bundle(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        for name in (*BUNDLE, LICENCE):
            assert whl.read(f"{VENDOR}/{name}") == committed(name), name
        assert not any("node_modules" in n for n in whl.namelist())


def test_pip_install_dot_builds_a_wheel_with_the_bundle(tmp_path: Path) -> None:
    """`pip install .` and `pipx install .` build this wheel from the working tree."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    (wheel,) = tmp_path.glob("observer-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        for name in BUNDLE:
            assert whl.read(f"{VENDOR}/{name}") == committed(name), name


def test_pipx_install_dot_gives_a_working_observer(tmp_path: Path, shop: ShopServer) -> None:
    """`pipx install .` from the clone: its own venv, its own `observer` on PATH, no node."""
    bin_dir = tmp_path / "bin"
    empty = tmp_path / "nothing-else-on-path"
    empty.mkdir()
    drop = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(bin_dir),
        PIPX_MAN_DIR=str(tmp_path / "man"),
        PATH=os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), str(empty)]),
    )
    subprocess.run(
        [sys.executable, "-m", "pipx", "install", str(ROOT)],
        check=True,
        capture_output=True,
        env=env,
        timeout=BUILD_TIMEOUT,
    )
    env["PATH"] = os.pathsep.join([str(bin_dir), str(empty)])
    env["OBSERVER_CHROMIUM"] = find_chromium().path
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [str(bin_dir / "observer"), "run", str(probes(work, shop.url)), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    (result,) = Done(proc.returncode, proc.stdout, proc.stderr).json()["results"]
    assert (proc.returncode, result["outcome"]) == (0, "pass"), result["error"] or proc.stderr
    assert result["vitals"]["fcp_ms"] is not None and result["vitals"]["lcp_ms"] is not None


@dataclass
class Installed:
    """observer installed from its wheel into a venv of its own, and how to run it."""

    bin: Path
    package: Path  # the observer package inside the venv's site-packages
    env: dict[str, str]
    work: Path  # the working directory: not the checkout

    def run(self, *args: str) -> Done:
        proc = subprocess.run(
            [str(self.bin / "observer"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        return Done(proc.returncode, proc.stdout, proc.stderr)

    def serve(self, config: Path) -> ServeProcess:
        return ServeProcess(
            config,
            self.work / "serve.db",
            "--no-schedule",
            start_timeout=START_TIMEOUT,
            command=[str(self.bin / "observer")],
            env=self.env,
        )


@pytest.fixture(scope="module")
def installed(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv in a temp dir with the wheel pip-installed, and an environment whose PATH
    holds that venv and an empty directory: no node, no npm, no checkout."""
    _, wheel = dists
    base = tmp_path_factory.mktemp("install")
    venv = base / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120
    )
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    empty = base / "nothing-else-on-path"
    empty.mkdir()
    work = base / "work"
    work.mkdir()
    drop = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(empty)])
    # The browser is the one thing observer finds outside itself (docs/install.md).
    env["OBSERVER_CHROMIUM"] = find_chromium().path
    assert shutil.which("node", path=env["PATH"]) is None
    assert shutil.which("npm", path=env["PATH"]) is None
    where = subprocess.run(
        [str(bin_dir / "python"), "-c", "import observer; print(observer.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        check=True,
        timeout=60,
    ).stdout.strip()
    package = Path(where).parent
    assert package.is_relative_to(venv), f"observer imported from {where}, not the venv"
    return Installed(bin_dir, package, env, work)


def probes(folder: Path, base_url: str) -> Path:
    path = folder / "probes.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            settings:
              database: observer.db
            probes:
              - name: login
                journey:
                  - goto: {base_url}/login
                  - fill: {{selector: "#email", value: demo@example.com}}
                  - fill: {{selector: "#password", value: demo}}
                  - click: "button[type=submit]"
                  - expect_text: Welcome
            """
        ).lstrip(),
        encoding="utf-8",
    )
    return path


def test_the_installed_observer_measures_a_journey(installed: Installed, shop: ShopServer) -> None:
    done = installed.run("run", str(probes(installed.work, shop.url)), "--json")
    (result,) = done.json()["results"]
    assert (done.code, result["outcome"]) == (0, "pass"), result["error"] or done.stderr
    for vital in ("ttfb_ms", "fcp_ms", "lcp_ms"):
        assert result["vitals"][vital] is not None, vital


def test_the_installed_observer_serves_the_snippet(installed: Installed) -> None:
    server = installed.serve(probes(installed.work, "http://127.0.0.1:9"))
    try:
        snippet = httpx.get(f"{server.url}/rum.js", timeout=10)
        assert snippet.status_code == 200
        assert "javascript" in snippet.headers["content-type"]
        assert "webVitals" in snippet.text and "__observerRumConfig" in snippet.text
    finally:
        code = server.stop()
    assert code == 0, server.tail()


@pytest.fixture
def broken(installed: Installed) -> Iterator[Installed]:
    """The same installation with its bundle deleted; put back afterwards."""
    vendor = installed.package / "web" / "static" / "vendor"
    kept = {name: (vendor / name).read_bytes() for name in BUNDLE}
    for name in BUNDLE:
        (vendor / name).unlink()
    try:
        yield installed
    finally:
        for name, data in kept.items():
            (vendor / name).write_bytes(data)


def assert_one_sentence(text: str, missing: Path) -> None:
    assert "Traceback" not in text
    assert f"{missing} is missing" in text
    assert "pip install --force-reinstall" in text


def test_a_missing_bundle_stops_serve_with_a_sentence(broken: Installed) -> None:
    vendor = broken.package / "web" / "static" / "vendor"
    file = probes(broken.work, "http://127.0.0.1:9")
    done = broken.run("serve", str(file), "--port", "0", "--db", "broken.db", "--no-schedule")
    assert done.code == 3
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("observer: ")
    assert_one_sentence(line, vendor / "rum.js")


def test_a_missing_bundle_makes_a_journey_an_error(broken: Installed, shop: ShopServer) -> None:
    vendor = broken.package / "web" / "static" / "vendor"
    done = broken.run("run", str(probes(broken.work, shop.url)), "--json")
    assert done.code == 3
    assert "Traceback" not in done.stderr
    (result,) = done.json()["results"]
    assert result["outcome"] == "error"
    assert_one_sentence(result["error"], vendor / "web-vitals.iife.js")


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="the suite runs from an unpacked sdist")
def test_a_file_missing_from_a_clone_gives_the_git_command() -> None:
    import observer

    assert Path(observer.__file__).resolve().parent.parent == ROOT.resolve()
    with pytest.raises(MissingAsset) as caught:
        read_asset("no-such-file.js")
    assert str(caught.value) == (
        f"{VENDOR}/no-such-file.js is missing from this checkout: "
        f"restore it with `git checkout -- {VENDOR}` (or run `bash .ci/setup`)"
    )
