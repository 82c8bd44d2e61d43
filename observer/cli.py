"""The `observer` command: each command parses, calls the library, and maps errors to exit codes."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import __version__
from .exitcodes import Exit

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console

    from .config import Probe, Project
    from .early import EarlyDriver
    from .report.check import Report
    from .results import ProbeResult
    from .rounds import Rounds
    from .store import Store

EXIT_OK, EXIT_USAGE, EXIT_ERROR = Exit.OK, Exit.USAGE, Exit.ERROR
DB_HELP = (
    "The database: an SQLite file or a postgresql:// URL "
    "(default: $OBSERVER_DATABASE, then settings.database, then ./observer.db)."
)


def _die(message: str, code: int) -> NoReturn:
    click.echo(f"observer: {message}", err=True)
    sys.exit(code)


def load(
    file: str,
    *,
    require_env: bool = False,
    runs: tuple[str, ...] | None = None,
    env: dict[str, str] | None = None,
) -> Project:
    """Load a probe file or exit 2 with one line per problem.

    Variables that are not set are not problems yet (but with require_env): each command then
    `need`s the parts of the file it uses, and only theirs must be set. A command that runs
    probes gives them as `runs` (none: every enabled one), so that beside the problems of a
    file that does not load, their variables that are not set are problems too, not warnings.
    """
    from .config import ConfigError, load_project

    try:
        return load_project(file, env, require_env=require_env, runs=runs)
    except ConfigError as exc:
        _problems(exc.problems, file)


def need(file: str, require: Callable[..., None], **parts: Any) -> None:
    """Exit 2 with the problems if the parts of the file a command uses need variables that
    are not set: `require` is the project's require (the parts as keywords) or require_serve."""
    from .config import ConfigError

    try:
        require(**parts)
    except ConfigError as exc:
        _problems(exc.problems, file)


def _problems(problems: list[Any], file: str) -> NoReturn:
    """One line per problem (and warning) on stderr, then how many problems; exit 2."""
    for problem in problems:
        click.echo(str(problem), err=True)
    n = sum(1 for p in problems if not p.warning)
    click.echo(f"{n} problem{'s' if n != 1 else ''} in {file}", err=True)
    sys.exit(EXIT_USAGE)


def entry() -> None:
    """The `observer` console script: the command, then a quick exit.

    Tearing the interpreter down (a last garbage collection, freeing every module of pydantic,
    Playwright and rich) takes 0.1-0.15 s after a journey run, which is a tenth of a short
    journey. Every command has closed what it opened by the time it returns, so once the output
    is flushed the process leaves at once; unless some other non-daemon thread still runs, which
    a normal exit would wait for.
    """
    import threading

    try:
        main()
        code: int = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            click.echo(str(exc.code), err=True)
            code = 1
    busy = [t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()]
    if busy:
        sys.exit(code)
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 1  # a closed pipe: the output was lost, as a normal exit would say
    os._exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="observer")
def main() -> None:
    """observer: synthetic journeys and real-user experience, judged by one budget language."""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--require-env",
    is_flag=True,
    help="Every variable the file uses must be set (else unset ones are only warnings).",
)
def validate(file: str, require_env: bool) -> None:
    """Check a probe file; print FILE:LINE:COL: path: message per problem (exit 2)."""
    project = load(file, require_env=require_env)
    for warning in project.warnings:
        click.echo(str(warning), err=True)
    _check_devices(project)  # before "ok": a file with an unknown device is not ok
    journeys = sum(1 for p in project.probes if p.kind == "journey")
    checks = len(project.probes) - journeys
    unchecked = len(project.unchecked_budgets)
    budgets = _n(len(project.budgets) + unchecked, "budget")
    if unchecked:
        budgets += f" ({unchecked} not checked: a variable is not set)"
    click.echo(
        f"{file}: ok ({_n(len(project.probes), 'probe')}: {_n(journeys, 'journey')}, "
        f"{_n(checks, 'http check')}; {budgets})"
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _check_devices(project: Project) -> None:
    """Exit 2, in the form load() uses, when a probe names a device Playwright does not know,
    or an accessibility tag or rule the bundled axe-core does not."""
    from .accessibility import config_problems
    from .browser import device_problems

    bad = device_problems(project) + config_problems(project)
    if bad:
        _problems(bad, str(project.path))


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
    "--db",
    type=click.Path(dir_okay=False),
    help=DB_HELP,
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
    from .early import early_driver

    with early_driver(file) as early:
        project = load(file, runs=probes)
        selected = choose(project, probes)
        need(file, project.require, probes=[p.name for p in selected], settings=True)
        _check_devices(project)
        from .rounds import Rounds

        with open_store(project, db) as store:
            results = run_and_record(
                project,
                selected,
                store,
                Rounds(concurrency=concurrency, headed=headed),
                quiet=as_json,
                early=early,
            )
    if as_json:
        payload = {"results": [r.to_dict() for r in results], "database": store.name}
        click.echo(json.dumps(payload, indent=2))
    from .exitcodes import for_results

    sys.exit(for_results(results))


def console(stderr: bool = False) -> Console:
    """A rich console; wide when writing to a file or CI log, where nothing wraps it anyway."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else 160
    # soft_wrap: a message is one line however narrow the terminal (logs, grep); tables fit.
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=True)


def database(project: Project | None, db: str | None) -> str:
    """Where the results are: --db, else $OBSERVER_DATABASE, else the file's
    settings.database, else ./observer.db (a file, or a PostgreSQL URL)."""
    from .store import target

    if project is None:
        return target(db, None)
    return target(db, project.config.settings.database, project.base_dir)


def open_store(project: Project | None, db: str | None) -> Store:
    """The results database (see `database`); exit 3 if it cannot be opened."""
    from .store import StoreError
    from .store import open_store as open_

    try:
        return open_(database(project, db))
    except StoreError as exc:
        _die(str(exc), EXIT_ERROR)


def choose(project: Project, names: tuple[str, ...]) -> list[Probe]:
    """The probes named on the command line (all enabled ones if none); exit 2 on a bad name."""
    from .runner import select_probes

    try:
        selected = select_probes(project, names)
    except KeyError as exc:
        _die(str(exc.args[0]), EXIT_USAGE)
    if not selected:
        _die("no probes to run (every probe is disabled or the file has none)", EXIT_USAGE)
    return selected


def run_and_record(
    project: Project,
    selected: list[Probe],
    store: Store,
    rounds: Rounds,
    *,
    quiet: bool,
    early: EarlyDriver | None = None,
) -> list[ProbeResult]:
    """Run the selected probes in rounds with progress on stderr; the last round's table on
    stdout unless quiet; exit 3 if a round cannot be recorded."""
    from . import rounds as library
    from .conditions import runs_per_round
    from .report.console import Progress, render_results
    from .store import StoreError

    t0 = time.perf_counter()
    per_round = runs_per_round(selected, project.config.settings)
    try:
        with Progress(console(stderr=True), per_round * rounds.count) as progress:
            results = library.run_and_record(
                project, selected, store, rounds, early=early, watcher=progress
            )
    except StoreError as exc:
        _die(f"results not recorded: {exc}", EXIT_ERROR)
    if not quiet:
        out = console()
        if rounds.count > 1:
            from .report.console import render_rounds

            render_rounds(out, results, rounds.count)
            out.print("[bold]The last round:[/]")
        last = results[-per_round:]
        render_results(out, last, db=store.name, elapsed=time.perf_counter() - t0)
    return results


@dataclass(frozen=True)
class Duties:
    """What `observer serve` does: its roles, where it runs, whether it watches its file."""

    watch: bool = False
    no_schedule: bool = False
    roles: tuple[str, ...] = ()
    location: str | None = None

    def resolve(self, *, shared: bool) -> frozenset[str]:
        """The roles to take; exit 2 for roles an SQLite file cannot share out."""
        from .server import ROLES

        chosen = ROLES if not self.roles or "all" in self.roles else frozenset(self.roles)
        if chosen != ROLES and not shared:
            _die(
                f"--role {' --role '.join(sorted(chosen))} needs PostgreSQL (--db, "
                "$OBSERVER_DATABASE or settings.database as postgresql://...): on an SQLite file "
                "one process does everything",
                EXIT_USAGE,
            )
        if self.no_schedule:
            # On one SQLite file a --no-schedule server serves beside the one that runs and
            # alerts: it must not alert too. On PostgreSQL one alerter leads, so it may.
            chosen -= {"runner"} if shared else {"runner", "alerter"}
        return chosen


@dataclass(frozen=True)
class Outputs:
    """The reports a command that judges budgets was asked for (--json, --junit, ...)."""

    as_json: bool = False
    junit: str | None = None
    github: bool = False
    markdown: str | None = None
    strict: bool = False


def _grouped(cls: type[Any], keyword: str, options: list[Any]) -> Callable[[Any], Any]:
    """Click options handed to the command as one dataclass `cls`, as `keyword`: options that
    travel together make one parameter, not five."""
    import functools

    def decorate(fn: Any) -> Any:
        names = [f.name for f in fields(cls)]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            group = cls(**{name: kwargs.pop(name) for name in names})
            return fn(**{keyword: group}, **kwargs)

        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _report_options(fn: Any) -> Any:
    """The report options, handed to the command as one `outputs` (an Outputs)."""
    return _grouped(
        Outputs,
        "outputs",
        [
            click.option(
                "--json", "as_json", is_flag=True, help="Print the report as JSON on stdout."
            ),
            click.option(
                "--junit",
                type=click.Path(dir_okay=False),
                help="Write JUnit XML: a testcase per budget and per probe run.",
            ),
            click.option(
                "--github",
                is_flag=True,
                help="Print GitHub workflow annotations; append a summary to "
                "$GITHUB_STEP_SUMMARY when set.",
            ),
            click.option(
                "--markdown",
                type=click.Path(dir_okay=False),
                help="Write a Markdown summary fit for a pull-request comment.",
            ),
            click.option(
                "--strict",
                is_flag=True,
                help="Treat degraded, inconclusive and flaky as failures (exit 1).",
            ),
        ],
    )(fn)


def _emit(report: Report, outputs: Outputs, title: str) -> NoReturn:
    """Print and write every report asked for, then exit with the report's code."""
    from .report import formats
    from .report.console import render_verdicts

    report.strict = outputs.strict
    if outputs.as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render_verdicts(console(), report.verdicts, report.warnings)
    try:
        if outputs.junit:
            formats.junit(report, outputs.junit)
        if outputs.markdown:
            Path(outputs.markdown).parent.mkdir(parents=True, exist_ok=True)
            Path(outputs.markdown).write_text(formats.markdown(report, title), encoding="utf-8")
        if outputs.github:
            # Beside --json the annotations go to stderr (the runner reads both), so stdout
            # stays one JSON document.
            for line in formats.github_annotations(report):
                click.echo(line, err=outputs.as_json)
            summary = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary:
                with open(summary, "a", encoding="utf-8") as fh:
                    fh.write(formats.markdown(report, title))
    except OSError as exc:
        _die(f"cannot write the report: {exc}", EXIT_ERROR)
    if not outputs.as_json:
        _verdict_line(report)
    sys.exit(report.exit_code)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Rounds: how many times each probe runs.",
)
@click.option(
    "--probe",
    "probes",
    multiple=True,
    metavar="NAME",
    help="Check only this probe and its budgets (repeatable).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help=DB_HELP,
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    help="--json output of an earlier check, for regression: budgets.",
)
@click.option("--concurrency", type=click.IntRange(1, 64), help="Probes at once.")
@click.option(
    "--confidence",
    metavar="C|off",
    help="Gate on the confidence interval at C (e.g. 0.95): a breach only when shown, "
    "inconclusive between (default: the point estimate decides; the interval is shown).",
)
@_report_options
def check(
    file: str,
    runs: int,
    probes: tuple[str, ...],
    db: str | None,
    baseline: str | None,
    concurrency: int | None,
    confidence: str | None,
    outputs: Outputs,
) -> None:
    """Run probes N times and judge every budget: the deploy gate (exit 0 ok, 1 failed, 3 error)."""
    from .early import early_driver

    with early_driver(file) as early:  # first: it boots while the rest is imported and read
        from . import rounds
        from .budgets import lab_rules, with_confidence
        from .conditions import runs_per_round
        from .report.console import Progress, render_rounds
        from .store import StoreError

        project = load(file, runs=probes)
        selected = choose(project, probes)
        rules = lab_rules(project.budgets, probes)
        if confidence is not None:
            rules = with_confidence(rules, _confidence_option(confidence))
        need(
            file,
            project.require,
            probes=[p.name for p in selected],
            settings=True,
            budgets=[rule.name for rule in rules],
        )
        _check_devices(project)
        earlier = rounds.Baseline()
        if baseline:
            try:
                earlier = rounds.Baseline.read(baseline)
            except ValueError as exc:
                _die(f"--baseline: {exc}", EXIT_USAGE)
        plan = rounds.Rounds(count=runs, concurrency=concurrency)
        with open_store(project, db) as store:
            try:
                total = runs_per_round(selected, project.config.settings) * runs
                with Progress(console(stderr=True), total) as progress:
                    report = rounds.check(
                        project,
                        selected,
                        rules,
                        store,
                        plan,
                        baseline=earlier,
                        early=early,
                        watcher=progress,
                    )
                if baseline and earlier.accessibility is None:
                    report.a11y_note = (
                        f"--baseline {baseline} has no accessibility section (an older "
                        "check): accessibility violations were not compared"
                    )
            except StoreError as exc:
                _die(f"results not recorded: {exc}", EXIT_ERROR)
    if not outputs.as_json:
        from .report.console import render_accessibility

        render_rounds(console(), report.results, runs)
        render_accessibility(console(), report)
    _emit(report, outputs, "observer check")


def _confidence_option(text: str) -> float | None:
    """--confidence: 0.95, 95% or off (None: the point estimate); exit 2 otherwise."""
    from .config.types import confidence

    try:
        return confidence(text) or None
    except ValueError as exc:
        _die(f"--confidence: {exc}", EXIT_USAGE)


def _verdict_line(report: Any) -> None:
    code = report.exit_code
    n_fail = len(report.failed_budgets)
    words = {0: "ok", 1: "FAILED", 3: "ERROR: observer could not run every probe"}[code]
    detail = f"{n_fail} budget{'s' if n_fail != 1 else ''} failed"
    if report.results:
        detail += f", {len(report.failed_runs)} failed runs, {len(report.errored_runs)} errors"
    if report.new_violations:
        detail += f", {len(report.new_violations)} new accessibility violations"
    if report.warnings:
        detail += f", {len(report.warnings)} warnings"
    console().print(f"[bold]{words}[/] ({detail})", highlight=False)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help=DB_HELP,
)
@click.option(
    "--window",
    help="Judge runs of this last stretch of time, e.g. 1h, 30m, 7d "
    "(default: each budget's window, else settings.window).",
)
@click.option(
    "--alert",
    is_flag=True,
    help="Also drive the alert rules (incidents, notifications), as serve does.",
)
@click.option(
    "--confidence",
    metavar="C|off",
    help="How sure a breach or a pass must be (default: each budget's, else "
    "settings.confidence, 0.95); off judges the point estimate, as observer check does.",
)
@_report_options
def budgets(
    file: str,
    alert: bool,
    db: str | None,
    window: str | None,
    confidence: str | None,
    outputs: Outputs,
) -> None:
    """Judge every budget over stored runs, without running probes (exit 0 ok, 1 failed)."""
    import asyncio

    from .budgets import evaluate, with_confidence
    from .config import parse_duration
    from .report.check import Report

    project = load(file)
    need(file, project.require, settings=True, budgets=True, alerts=alert)
    rules = project.budgets
    if confidence is not None:
        rules = with_confidence(rules, _confidence_option(confidence))
    seconds = None
    if window is not None:
        try:
            seconds = parse_duration(window)
        except ValueError as exc:
            _die(f"--window: {exc}", EXIT_USAGE)
        if seconds <= 0:
            _die("--window: must be more than zero", EXIT_USAGE)
    with open_store(project, db) as store:
        verdicts = evaluate(
            rules,
            store,
            window=seconds,
            live=True,  # decided as serve decides...
            production=False,  # ...over every recorded run, a check's too
        )
        if alert:
            from .alerts import alert_once

            asyncio.run(alert_once(project, store, verdicts))
    _emit(Report(verdicts, database=store.name), outputs, "observer budgets")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
@click.option("--window", default="7d", show_default=True, help="How far back, e.g. 24h, 30d.")
@click.option("--task", metavar="NAME", help="Only this task.")
@click.option(
    "--min-samples",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Below this many answers or sessions a split says it cannot conclude.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the split as JSON.")
def report(
    file: str, db: str | None, window: str, task: str | None, min_samples: int, as_json: bool
) -> None:
    """What customers said and did (CSAT, completion) split by what the same sessions
    experienced (LCP, INP, frustration), per task and page, with intervals."""
    import json as json_
    import time

    from .config import parse_duration
    from .experience import lines, split

    try:
        seconds = parse_duration(window)
    except ValueError as exc:
        _die(f"--window: {exc}", EXIT_USAGE)
    if seconds <= 0:
        _die("--window: must be more than zero", EXIT_USAGE)
    project = load(file)
    now = time.time()
    with open_store(project, db) as store:
        groups = split(store, now - seconds, now, task)
    if as_json:
        click.echo(
            json_.dumps(
                {
                    "window_s": seconds,
                    "min_samples": min_samples,
                    "groups": [g.to_dict() for g in groups],
                },
                indent=2,
            )
        )
        return
    said = lines(groups, min_samples)
    if not said:
        what = f"task {task}" if task else "any task or page"
        click.echo(f"no answers or task sessions for {what} in the last {window}")
        return
    for line in said:
        click.echo(line)


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
def doctor(file: str | None, db: str | None) -> None:
    """Report the browser, Playwright and database observer would use."""
    from .browser import install_hint
    from .doctor import checks

    project = load(file) if file else None
    if project is not None and file is not None:
        need(file, project.require, settings=True)
    found = checks(project, database(project, db))
    for check in found:
        mark = click.style("ok  ", fg="green") if check.ok else click.style("FAIL", fg="red")
        click.echo(f"{mark} {check.label:<11} {check.value}")
    ok = all(check.ok for check in found)
    if not ok:
        click.echo(f"\nTo install a browser: {install_hint()}")
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


_serve_duties = _grouped(
    Duties,
    "duties",
    [
        click.option(
            "--watch", is_flag=True, help="Reload when the probe file changes (as on SIGHUP)."
        ),
        click.option("--no-schedule", is_flag=True, help="Every role but runner: run no probes."),
        click.option(
            "--role",
            "roles",
            multiple=True,
            type=click.Choice(["all", "runner", "ingest", "alerter", "web"]),
            help="What this process does (repeatable; default all); any but all needs PostgreSQL.",
        ),
        click.option("--location", help="Where this runner runs (over settings.location)."),
    ],
)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8780, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help=DB_HELP,
)
@_serve_duties
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line per event, for people or for log shippers.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def serve(
    file: str, host: str, port: int, db: str | None, duties: Duties, log_format: str, log_level: str
) -> None:
    """The daemon: scheduled probes, budgets judged continuously, beacons, /metrics, /api."""
    from . import logs
    from .assets import MissingAsset
    from .secrets import Redactor
    from .server import create_app, listen
    from .store import database_secrets, is_url

    project = load(file)
    target = database(project, db)
    roles = duties.resolve(shared=is_url(target))
    need(file, project.require_serve, schedule="runner" in roles)
    _check_devices(project)
    known = [*project.secrets, *database_secrets(target)]
    logs.setup(log_format, log_level, Redactor(known))
    with open_store(project, db) as store:
        try:
            app = create_app(
                project, store, watch=duties.watch, roles=roles, location=duties.location
            )
        except MissingAsset as exc:
            _die(str(exc), EXIT_ERROR)
        import signal

        # After its graceful shutdown uvicorn raises the signal that stopped it again; with the
        # default handler SIGTERM would then kill the process (143) instead of exiting 0.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: sys.exit(EXIT_OK))
        started = listen(app, host, port, project, store, log_level)
        if not started:
            _die(f"could not listen on {host}:{port}", EXIT_ERROR)
    sys.exit(EXIT_OK)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help=DB_HELP,
)
def prune(file: str, db: str | None) -> None:
    """Delete what is past its retention: runs (settings.retention.runs), artifacts
    (settings.retention.artifacts) and beacons (rum.retention)."""
    from .config import format_duration
    from .retention import prune as prune_all

    project = load(file)
    need(file, project.require, settings=True, rum=True)  # their retention says what goes
    keep = project.config.settings.retention
    with open_store(project, db) as store:
        gone = prune_all(project, store)
    click.echo(
        f"{gone.runs} runs older than {format_duration(keep.runs)}, "
        f"{gone.artifact_dirs} artifact folders older than {format_duration(keep.artifacts)} "
        f"and {gone.beacons} beacons older than "
        f"{project.config.rum.retention / 86400:g} days deleted from {store.name}"
    )


class _DefaultCommand(click.Group):
    """A group whose first word may be left out: `observer alerts FILE` is `alerts show FILE`,
    beside `observer alerts test FILE`."""

    default = "show"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put the default command in front unless a command (or --help) comes first."""
        if args[:1] and (args[0] in self.commands or args[0] in ("-h", "--help")):
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, [self.default, *args])


class _Shown(click.Command):
    """The default command: without its FILE it says how the group is used."""

    usage = "observer alerts FILE [--db PATH] | observer alerts test FILE [--channel NAME]"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """As a command's, but a missing FILE gets the group's usage line."""
        try:
            return super().parse_args(ctx, args)
        except click.MissingParameter:
            _die(f"usage: {self.usage}", EXIT_USAGE)


@main.group(cls=_DefaultCommand)
def alerts() -> None:
    """`observer alerts FILE`: open and recent incidents. `observer alerts test FILE`: send a
    test notification to every channel (or --channel) and say which worked."""


def _alerts_options(fn: Any) -> Any:
    """Both forms take every option the single command took: one that does not apply to a
    form is accepted and does nothing, as before (hidden from that form's help)."""
    test = fn.__name__ == "alerts_test"
    for option in (
        click.option(
            "--json", "as_json", is_flag=True, hidden=test, help="Print incidents as JSON."
        ),
        click.option(
            "--db",
            type=click.Path(dir_okay=False),
            hidden=test,
            help="The database: a file or postgresql:// URL (default: settings.database).",
        ),
        click.option(
            "--channel",
            "channels",
            multiple=True,
            metavar="NAME",
            hidden=not test,
            help="Only this channel (repeatable).",
        ),
        click.argument("file", type=click.Path(dir_okay=False)),
    ):
        fn = option(fn)
    return fn


@alerts.command("show", cls=_Shown)
@_alerts_options
def alerts_show(file: str, db: str | None, as_json: bool, channels: tuple[str, ...]) -> None:
    """Open and recent incidents (the last 7 days) with their notifications (the default:
    `observer alerts FILE`)."""
    project = load(file)
    need(file, project.require, settings=True)
    with open_store(project, db) as store:
        incidents = store.incidents(since=time.time() - 7 * 86400)
    if as_json:
        click.echo(json.dumps({"incidents": [i.to_dict() for i in incidents]}, indent=2))
        return
    from .report.console import render_incidents

    render_incidents(console(), incidents)


@alerts.command("test")
@_alerts_options
def alerts_test(file: str, db: str | None, as_json: bool, channels: tuple[str, ...]) -> None:
    """Send a test notification to every channel (or --channel) and say which worked."""
    sys.exit(_alerts_test(load(file), file, channels))


def _alerts_test(project: Project, file: str, only: tuple[str, ...]) -> int:
    import asyncio

    from .alerts import test_channels
    from .secrets import mask_url

    cfg = project.config.alerts
    unknown = [c for c in only if c not in cfg.channels]
    if unknown:
        _die(
            f"no channel named {', '.join(unknown)}; channels: {', '.join(cfg.channels)}",
            EXIT_USAGE,
        )
    names = list(only) or list(cfg.channels)
    if not names:
        _die("the file has no alerts.channels", EXIT_USAGE)
    need(file, project.require, channels=names)
    failed = 0
    for name, ok, err in asyncio.run(test_channels(project, names)):
        mark = click.style("sent  ", fg="green") if ok else click.style("FAILED", fg="red")
        click.echo(f"{mark} {name} ({mask_url(cfg.channels[name])})" + (f": {err}" if err else ""))
        failed += not ok
    return EXIT_OK if not failed else EXIT_ERROR


@main.command()
@click.argument("pattern", required=False)
@click.option("--for", "duration", metavar="DURATION", help="How long, e.g. 2h, 30m, 1d.")
@click.option("--reason", help="Why (shown in the list and the incident history).")
@click.option("--list", "show", is_flag=True, help="List the silences in force.")
@click.option("--db", type=click.Path(dir_okay=False), help=DB_HELP)
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    help="Probe file whose settings.database to use.",
)
def silence(
    pattern: str | None,
    duration: str | None,
    reason: str | None,
    show: bool,
    db: str | None,
    file: str | None,
) -> None:
    """Silence alerts whose budget, probe or rule matches PATTERN (a glob) for a while.

    Silenced incidents are still recorded, just not sent.
    """
    from .config import parse_duration

    project = load(file) if file else None
    if project is not None and file is not None:
        need(file, project.require, settings=True)
    now = time.time()
    with open_store(project, db) as store:
        if show or pattern is None:
            rows = store.silences(now)
            if not rows:
                click.echo("no silences in force")
            for r in rows:
                left = r.ends_at - now
                until = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.ends_at))
                click.echo(
                    f"{r.pattern}  until {until} ({left / 3600:.1f}h left)"
                    + (f"  {r.reason}" if r.reason else "")
                )
            return
        if not duration:
            _die("give --for DURATION, e.g. --for 2h", EXIT_USAGE)
        try:
            seconds = parse_duration(duration)
        except ValueError as exc:
            _die(f"--for: {exc}", EXIT_USAGE)
        if seconds <= 0:
            _die("--for: must be more than zero", EXIT_USAGE)
        store.add_silence(pattern, now, now + seconds, reason, os.environ.get("USER"))
    click.echo(f"silenced '{pattern}' for {duration}" + (f": {reason}" if reason else ""))


@main.group()
def db() -> None:
    """The database itself: migrate it, give accounts their roles, copy history between
    SQLite files and PostgreSQL."""


@db.command("migrate")
@click.option("--db", "target", type=click.Path(dir_okay=False), help=DB_HELP)
def db_migrate(target: str | None) -> None:
    """Bring the database's tables to this observer's schema. Every process does this when it
    opens the database; on PostgreSQL with an account per role, run it as the account that
    owns the tables before starting the new version."""
    from .store import SCHEMA_VERSION

    with open_store(None, target) as store:
        click.echo(f"{store.name}: schema {store.schema_version()} of {SCHEMA_VERSION}")


@db.command("grant")
@click.argument("role", type=click.Choice(["all", "runner", "ingest", "alerter", "web"]))
@click.argument("account")
@click.option("--db", "target", type=click.Path(dir_okay=False), help=DB_HELP)
@click.option("--sql", "print_only", is_flag=True, help="Print the statements; run none.")
def db_grant(role: str, account: str, target: str | None, print_only: bool) -> None:
    """Give a PostgreSQL ACCOUNT what observer's ROLE needs and nothing more (see
    docs/deployment.md); run as the account that owns the tables. The account must exist:
    CREATE ROLE ... LOGIN PASSWORD ... first."""
    from .store import StoreError

    with open_store(None, target) as store:
        try:
            statements = store.grant(role, account, apply=not print_only)
        except StoreError as exc:
            _die(str(exc), EXIT_ERROR)
    if print_only:
        click.echo("".join(f"{s};\n" for s in statements), nl=False)
    else:
        click.echo(f"{account} may now do what observer's {role} role does on {store.name}")


@db.command("copy")
@click.argument("targets", nargs=-1, required=True, metavar="SRC... DST")
def db_copy(targets: tuple[str, ...]) -> None:
    """Copy all history (runs with their steps, pages, errors and artifact records, beacons,
    incidents, notifications, silences) from each SRC into DST: SQLite files or
    postgresql:// URLs, either way. A SRC written LOCATION=FILE gives its runs that have no
    location that one. Run it again to resume; it prints what each table holds."""
    from .store import StoreError, open_store

    if len(targets) < 2:
        _die("give at least one source and a destination: observer db copy SRC... DST", EXIT_USAGE)
    *sources, destination = targets
    try:
        with open_store(destination) as dst:
            complete = all(_copy_one(source, dst, destination) for source in sources)
    except StoreError as exc:
        _die(str(exc), EXIT_ERROR)
    sys.exit(EXIT_OK if complete else Exit.FAIL)


def _copy_one(source: str, dst: Store, destination: str) -> bool:
    """One source into the open destination; True when every table is complete."""
    from .store import copy_history, open_store, shown

    location, _, target = source.partition("=")
    if not target or "/" in location or ":" in location:
        location, target = "", source
    if os.path.abspath(target) == os.path.abspath(destination) or target == destination:
        _die(f"{shown(target)} is the destination itself", EXIT_USAGE)
    label = target if "://" in target else os.path.abspath(target)
    with open_store(target) as src:
        counts = copy_history(src, dst, shown(label), location=location or None)
    click.echo(f"{shown(target)} -> {dst.name}" + (f" (location {location})" if location else ""))
    for c in counts:
        mark = "ok " if c.complete else "MISSING"
        click.echo(f"  {mark} {c.table:<13} {c.held:>9} of {c.source:<9} ({c.copied} now)")
    return all(c.complete for c in counts)


@main.command("demo-shop")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--rum-script",
    metavar="URL",
    help="Include this real-user snippet in every page, e.g. http://127.0.0.1:8780/rum.js",
)
def demo_shop(host: str, port: int, rum_script: str | None) -> None:
    """Serve the demo shop (faults: POST/DELETE /__faults)."""
    from .demo.shop import serve

    click.echo(f"demo shop on http://{host}:{port}  (Ctrl-C to stop)", err=True)
    serve(host, port, rum_script=rum_script)


@main.command()
@click.argument("file", default="probes.example.yaml", type=click.Path(dir_okay=False))
@click.option(
    "--port",
    default=0,
    type=click.IntRange(0, 65535),
    help="Port of the demo shop (default: a free one).",
)
@click.option(
    "--customers",
    default=1,
    show_default=True,
    type=click.IntRange(0, 20),
    help="Rounds of pretend customers whose browsers send real-user beacons.",
)
@click.option(
    "--rounds",
    default=3,
    show_default=True,
    type=click.IntRange(1, 50),
    help="How many times the probes run (the dashboard's charts want a few points).",
)
def demo(file: str, port: int, customers: int, rounds: int) -> None:
    """Start the demo shop and observer's server, run FILE once, send customers, judge budgets."""
    import asyncio

    from .assets import MissingAsset
    from .background import BackgroundServer
    from .budgets import evaluate
    from .demo.shop import ShopServer
    from .demo.traffic import customers as send_customers
    from .report.check import Report
    from .report.console import render_verdicts
    from .rounds import Rounds
    from .server import create_app
    from .store import open_store as open_

    observer_server = BackgroundServer()
    rum_js = f"{observer_server.url}/rum.js"
    with ShopServer(port=port, rum_script=rum_js) as shop:
        click.echo(
            f"demo shop at {shop.url}, observer at {observer_server.url}; running {file}", err=True
        )
        # The example file finds the shop through ${BASE_URL}.
        project = load(file, env={**os.environ, "BASE_URL": shop.url})
        selected = choose(project, ())
        need(file, project.require_serve)  # it serves what it runs
        with open_store(project, None) as store, open_(database(project, None)) as server_store:
            try:
                observer_server.start(create_app(project, server_store))
            except MissingAsset as exc:
                _die(str(exc), EXIT_ERROR)
            try:
                results = run_and_record(
                    project, selected, store, Rounds(count=rounds), quiet=False
                )
                if customers:
                    before = store.rum_count(synthetic=False)
                    visits = asyncio.run(send_customers(shop.url, customers))
                    added = store.rum_count(synthetic=False) - before
                    click.echo(
                        f"\n{visits} customer visits sent {added} real-user beacons "
                        f"(and observer's own journeys "
                        f"{store.rum_count(synthetic=True)} synthetic ones)"
                    )
            finally:
                observer_server.stop()
            verdicts = evaluate(project.budgets, store)
        render_verdicts(console(), verdicts, Report(verdicts).warnings)
    click.echo(
        f"\nSee it all on the dashboard: {sys.argv[0]} serve {file} --no-schedule "
        "(then open http://127.0.0.1:8780/)"
    )
    from .exitcodes import for_results

    sys.exit(for_results(results))
