"""The `observer` command: each command parses, calls the library, and maps errors to exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from rich.console import Console

    from .config import Project
    from .results import ProbeResult

# Exit codes, documented in docs/cli.md.
EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def _die(message: str, code: int) -> NoReturn:
    click.echo(f"observer: {message}", err=True)
    sys.exit(code)


def load(file: str) -> Project:
    """Load a probe file or exit 2 with one line per problem."""
    from .config import ConfigError, load_project

    try:
        return load_project(file)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        n = len(exc.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {file}", err=True)
        sys.exit(EXIT_USAGE)


def exit_code(results: list[ProbeResult]) -> int:
    """3 if observer could not run something, else 1 if anything failed, else 0."""
    outcomes = {str(r.outcome) for r in results}
    if "error" in outcomes:
        return EXIT_ERROR
    if "fail" in outcomes:
        return EXIT_FAIL
    return EXIT_OK


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="observer")
def main() -> None:
    """observer: synthetic journeys and real-user experience, judged by one budget language."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a probe file; print FILE:LINE:COL: path: message per problem (exit 2)."""
    project = load(file)
    journeys = sum(1 for p in project.probes if p.kind == "journey")
    click.echo(
        f"{file}: ok ({len(project.probes)} probes: {journeys} journeys, "
        f"{len(project.probes) - journeys} http checks)"
    )
    _check_devices(project)


def _check_devices(project: Project) -> None:
    from .browser import known_devices

    devices = known_devices()
    if not devices:
        return
    import difflib

    bad = False
    for probe in project.probes:
        if probe.device and probe.device not in devices:
            close = difflib.get_close_matches(probe.device, sorted(devices), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            click.echo(
                f"{project.mark_of(probe.name, 'device')}: {probe.name}.device: "
                f"Playwright has no device '{probe.device}'{hint}",
                err=True,
            )
            bad = True
    if bad:
        sys.exit(EXIT_USAGE)


@main.command()
def schema() -> None:
    """Print the JSON Schema of probe files (for editors and CI linting)."""
    from .config.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--probe", "probes", multiple=True, metavar="NAME", help="Run only this probe (repeatable)."
)
@click.option(
    "--db", type=click.Path(dir_okay=False), help="SQLite file (default: settings.database)."
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON on stdout.")
@click.option("--concurrency", type=click.IntRange(1, 64), help="Probes at once (default 4).")
@click.option("--headed", is_flag=True, help="Show the browser window.")
def run(
    file: str,
    probes: tuple[str, ...],
    db: str | None,
    as_json: bool,
    concurrency: int | None,
    headed: bool,
) -> None:
    """Run each probe once, record the results, and exit 0 pass / 1 fail / 3 error."""
    project = load(file)
    _check_devices(project)
    results, db_path = run_and_record(project, probes, db, as_json, concurrency, headed)
    if as_json:
        payload = {"results": [r.to_dict() for r in results], "database": str(db_path)}
        click.echo(json.dumps(payload, indent=2))
    sys.exit(exit_code(results))


def console(stderr: bool = False) -> Console:
    """A rich console; wide when writing to a file or CI log, where nothing wraps it anyway."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    return Console(stderr=stderr, highlight=False, width=width)


def run_and_record(
    project: Project,
    names: tuple[str, ...],
    db: str | None,
    quiet: bool,
    concurrency: int | None,
    headed: bool = False,
    source: str = "run",
) -> tuple[list[ProbeResult], Path]:
    """Run the selected probes with progress on stderr and record them; exit on usage errors."""
    from .report.console import Progress, render_results
    from .runner import run_all, select_probes
    from .store import Store, StoreError

    try:
        selected = select_probes(project, names)
    except KeyError as exc:
        _die(str(exc.args[0]), EXIT_USAGE)
    if not selected:
        _die("no probes to run (every probe is disabled or the file has none)", EXIT_USAGE)
    db_path = Path(db) if db else project.resolve(project.config.settings.database)
    try:
        store = Store(db_path)
    except StoreError as exc:
        _die(str(exc), EXIT_ERROR)
    err = console(stderr=True)
    out = err if quiet else console()
    t0 = time.perf_counter()
    with store, Progress(err, len(selected)) as progress:
        results = asyncio.run(
            run_all(
                project,
                selected,
                concurrency=concurrency,
                headed=headed,
                on_start=progress.start,
                on_result=progress.finish,
            )
        )
        try:
            store.record_many(results, source=source)
        except StoreError as exc:
            _die(f"results not recorded: {exc}", EXIT_ERROR)
    if not quiet:
        render_results(out, results, db=str(db_path), elapsed=time.perf_counter() - t0)
    return results, db_path


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help="SQLite file to check.")
def doctor(file: str | None, db: str | None) -> None:
    """Report the browser, Playwright and database observer would use."""
    from importlib.metadata import PackageNotFoundError, version

    from .browser import BrowserNotFound, browser_version, find_chromium, install_hint
    from .store import SCHEMA_VERSION, Store, StoreError

    project = load(file) if file else None
    ok = True

    def line(label: str, value: str, good: bool = True) -> None:
        mark = click.style("ok  ", fg="green") if good else click.style("FAIL", fg="red")
        click.echo(f"{mark} {label:<11} {value}")

    line("python", f"{sys.version.split()[0]} ({sys.executable})")
    try:
        line("playwright", version("playwright"))
    except PackageNotFoundError:
        line("playwright", "not installed: pip install playwright", False)
        ok = False
    settings = project.config.settings.browser if project else None
    try:
        info = find_chromium(settings)
        ver = browser_version(info.path) or "version unknown"
        line("browser", f"{info.path} ({ver}; found via {info.source})")
    except BrowserNotFound as exc:
        line("browser", str(exc), False)
        ok = False
    from . import browser as br
    from .results import ObserverError

    try:
        br.lab_script()
        line("web-vitals", "bundled")
    except ObserverError as exc:
        line("web-vitals", str(exc), False)
        ok = False
    db_path = (
        Path(db)
        if db
        else (project.resolve(project.config.settings.database) if project else Path("observer.db"))
    )
    try:
        with Store(db_path) as store:
            runs = store.count("runs")
            line(
                "database",
                f"{db_path} (schema {store.schema_version()}/{SCHEMA_VERSION}, {runs} runs, WAL)",
            )
    except StoreError as exc:
        line("database", str(exc), False)
        ok = False
    if not ok:
        click.echo(f"\nTo install a browser: {install_hint()}")
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


@main.command("demo-shop")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535))
def demo_shop(host: str, port: int) -> None:
    """Serve the demo shop (faults: POST/DELETE /__faults)."""
    from .demo.shop import serve

    click.echo(f"demo shop on http://{host}:{port}  (Ctrl-C to stop)", err=True)
    serve(host, port)


@main.command()
@click.argument("file", default="probes.example.yaml", type=click.Path(dir_okay=False))
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port of the demo shop (default: a free one).",
)
def demo(file: str, port: int) -> None:
    """Start the demo shop, run FILE against it once, print the results."""
    from .demo.shop import ShopServer

    with ShopServer(port=port) as shop:
        os.environ["BASE_URL"] = shop.url
        click.echo(f"demo shop running at {shop.url}; running {file} against it", err=True)
        project = load(file)
        results, _ = run_and_record(project, (), None, False, None)
    sys.exit(exit_code(results))


def run_cli(args: list[str]) -> Any:
    """Entry point for tests that want the CLI in-process."""
    return main.main(args=args, standalone_mode=False)
