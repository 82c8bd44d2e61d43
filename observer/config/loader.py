"""Load probe files: YAML with marks, ${VAR} expansion, includes, validation, `use` expansion."""

from __future__ import annotations

import difflib
import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..budgets import Rule, parse_metric, parse_threshold
from .errors import ConfigError, Mark, Problem, format_path
from .expand import expand_tree
from .models import ACTIONS, Budget, Config, FillStep, Probe, StepBase, UseStep
from .yamlmarks import Located, load_yaml


@dataclass
class Project:
    """A validated probe file with everything it included, ready to run."""

    path: Path
    config: Config
    probes: list[Probe]
    # Each probe's steps with every `use` replaced by the steps it names.
    steps: dict[str, list[StepBase]]
    # Where each probe was declared, for problems found later (budgets, alerts).
    origins: dict[str, tuple[Located, tuple[str | int, ...]]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    budgets: list[Rule] = field(default_factory=list)
    included: list[Path] = field(default_factory=list)  # files pulled in by include:

    @property
    def base_dir(self) -> Path:
        """The directory relative paths in the file are resolved against."""
        return self.path.parent

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the file's directory."""
        p = Path(value).expanduser()
        # Absolute, so recorded artifact paths still lead to the file from anywhere.
        return Path(os.path.abspath(p if p.is_absolute() else self.base_dir / p))

    def probe(self, name: str) -> Probe:
        """The probe called name (KeyError if none)."""
        for p in self.probes:
            if p.name == name:
                return p
        raise KeyError(name)

    def mark_of(self, probe: str, *rest: str | int) -> Mark | None:
        """Where a probe (or a key inside it) was written."""
        located, path = self.origins[probe]
        return located.mark_of(path + rest)


def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _clean_loc(data: Any, loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], Any, bool]:
    """Drop the step tags pydantic puts in error locations, following the real data.

    Returns the cleaned path, the parent node of its last part, and whether the last part
    exists in the data.
    """
    path: list[str | int] = []
    node = data
    parent: Any = None
    exists = True
    for i, part in enumerate(loc):
        if i >= 2 and loc[i - 2] == "journey" and isinstance(loc[i - 1], int) and part in ACTIONS:
            continue  # the discriminator's tag, not a place in the file
        path.append(part)
        parent = node
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            exists = False
            node = None
    return tuple(path), parent, exists


def _problems_from(
    exc: ValidationError, located: Located, allowed: dict[int, list[str]]
) -> list[Problem]:
    problems: list[Problem] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path, parent, exists = _clean_loc(located.data, loc)
        etype = err["type"]
        msg = err["msg"]
        if etype == "extra_forbidden" and path:
            key = str(path[-1])
            hint = _suggest(key, allowed.get(id(parent), []))
            problems.append(
                Problem(located.mark_of(path, key=True), format_path(path), f"unknown key{hint}")
            )
            continue
        if etype == "step_action":
            problems.append(_step_action_problem(located, path))
            continue
        if etype == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif etype == "literal_error":
            msg = f"must be one of {err.get('ctx', {}).get('expected', '')}"
        mark = located.mark_of(path) if exists else located.mark_of(path[:-1])
        problems.append(Problem(mark, format_path(path), msg))
    return problems


def _step_action_problem(located: Located, path: tuple[str | int, ...]) -> Problem:
    node: Any = located.data
    for part in path:
        node = node[part]  # the path came from the data itself
    where = located.mark_of(path)
    if not isinstance(node, dict):
        return Problem(where, format_path(path), "a step is a mapping such as {click: '#buy'}")
    actions = [k for k in node if k in ACTIONS]
    if len(actions) > 1:
        return Problem(
            where,
            format_path(path),
            f"a step has one action, this one has {len(actions)}: {', '.join(actions)}",
        )
    others = [k for k in node if k not in ("name", "timeout")]
    if others:
        key = others[0]
        return Problem(
            located.mark_of((*path, key), key=True),
            format_path((*path, key)),
            f"unknown step action{_suggest(key, tuple(ACTIONS))}; actions: {', '.join(ACTIONS)}",
        )
    return Problem(
        where, format_path(path), f"the step has no action; one of: {', '.join(ACTIONS)}"
    )


def _parse_file(path: Path, env: Mapping[str, str]) -> tuple[Config, Located]:
    display = os.path.relpath(path) if not path.is_absolute() or _under_cwd(path) else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(None, "", f"{display}: no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(None, "", f"{display}: cannot read: {exc}")]) from None
    located = load_yaml(text, display)
    if located.data is None:
        raise ConfigError([Problem(located.root, "", "the file is empty; it needs probes:")])
    if not isinstance(located.data, dict):
        raise ConfigError([Problem(located.root, "", "the file must be a mapping with probes:")])
    problems = expand_tree(located, env)
    context: dict[str, Any] = {"allowed": {}}
    try:
        config = Config.model_validate(located.data, context=context)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, located, context["allowed"]))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config, located


def _under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
    except ValueError:
        return False
    return True


def load_project(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Project:
    """Load and validate a probe file and its includes; raises ConfigError with every problem."""
    env = os.environ if env is None else env
    root = Path(path)
    problems: list[Problem] = []
    config, located = _parse_file(root, env)
    files: list[tuple[Config, Located]] = []
    _gather_includes(root, config, located, env, files, {root.resolve()}, problems)
    files.append((config, located))

    probes: list[Probe] = []
    origins: dict[str, tuple[Located, tuple[str | int, ...]]] = {}
    for cfg, loc in files:
        for idx, probe in enumerate(cfg.probes):
            if probe.name in origins:
                first = origins[probe.name][0].mark_of(origins[probe.name][1])
                problems.append(
                    Problem(
                        loc.mark_of(("probes", idx, "name")),
                        f"probes[{idx}].name",
                        f"probe '{probe.name}' is already defined at {first}",
                    )
                )
                continue
            origins[probe.name] = (loc, ("probes", idx))
            probes.append(probe)

    project = Project(path=root, config=config, probes=probes, steps={}, origins=origins)
    project.included = [Path(loc.root.file) for _, loc in files[:-1] if loc.root is not None]
    for probe in probes:
        if probe.journey is not None:
            project.steps[probe.name] = _expand_uses(project, probe, problems)
    if not problems:
        project.budgets = _resolve_budgets(project, located, problems)
        _check_alerts(project, located, problems)
    if problems:
        raise ConfigError(problems)
    project.secrets = _collect_secrets(project)
    return project


def _gather_includes(
    path: Path,
    config: Config,
    located: Located,
    env: Mapping[str, str],
    out: list[tuple[Config, Located]],
    seen: set[Path],
    problems: list[Problem],
) -> None:
    for idx, pattern in enumerate(config.include):
        where = located.mark_of(("include", idx))
        full = pattern if os.path.isabs(pattern) else str(path.parent / pattern)
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        if not matches or (not glob.has_magic(full) and not os.path.exists(full)):
            problems.append(Problem(where, f"include[{idx}]", f"no file matches '{pattern}'"))
            continue
        for match in matches:
            target = Path(match)
            if target.resolve() in seen:
                continue  # already loaded: includes may overlap or be circular
            seen.add(target.resolve())
            try:
                sub, sub_located = _parse_file(target, env)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            _gather_includes(target, sub, sub_located, env, out, seen, problems)
            out.append((sub, sub_located))


def _expand_uses(project: Project, probe: Probe, problems: list[Problem]) -> list[StepBase]:
    def report(problem: Problem) -> None:
        # A used journey is expanded again for every probe that uses it: say each thing once.
        if problem not in problems:
            problems.append(problem)

    def expand(name: str, chain: list[str]) -> list[StepBase]:
        target = project.probe(name)
        assert target.journey is not None
        steps: list[StepBase] = []
        for idx, step in enumerate(target.journey):
            if not isinstance(step, UseStep):
                steps.append(step)
                continue
            where = project.mark_of(name, "journey", idx, "use")
            path = f"{_probe_path(project, name)}.journey[{idx}].use"
            try:
                used = project.probe(step.use)
            except KeyError:
                hint = _suggest(step.use, [p.name for p in project.probes])
                report(Problem(where, path, f"no probe named '{step.use}'{hint}"))
                continue
            if used.journey is None:
                report(Problem(where, path, f"'{step.use}' is an http check; use takes a journey"))
                continue
            if step.use in chain:
                loop = " -> ".join([*chain[chain.index(step.use) :], step.use])
                report(Problem(where, path, f"use goes round in a circle: {loop}"))
                continue
            steps.extend(expand(step.use, [*chain, step.use]))
        return steps

    return expand(probe.name, [probe.name])


def _probe_path(project: Project, name: str) -> str:
    return format_path(project.origins[name][1])


def url_secrets(url: str) -> set[str]:
    """A channel URL and the parts of it that are credentials (password, tokens, keys)."""
    from urllib.parse import parse_qsl, urlsplit

    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if parts.password:
        found.add(parts.password)
    # Webhook services put their tokens in the path (Slack: /T000/B000/XXXX).
    found.update(seg for seg in parts.path.split("/") if len(seg) >= 8)
    for key, value in parse_qsl(parts.query):
        if len(value) >= 6 and any(w in key.lower() for w in ("pass", "token", "key", "secret")):
            found.add(value)
    return found


def _check_alerts(project: Project, root: Located, problems: list[Problem]) -> None:
    """Rules name channels that exist and budgets or probes that match something."""
    from fnmatch import fnmatchcase

    alerts = project.config.alerts
    probe_names = [p.name for p in project.probes]
    budget_names = [b.name for b in project.budgets]
    seen: set[str] = set()
    for idx, rule in enumerate(alerts.rules):
        path: tuple[str | int, ...] = ("alerts", "rules", idx)
        if rule.name in seen:
            problems.append(
                Problem(
                    root.mark_of((*path, "name")),
                    format_path((*path, "name")),
                    f"rule '{rule.name}' is already defined",
                )
            )
        seen.add(rule.name)
        for j, channel in enumerate(rule.notify):
            if channel not in alerts.channels:
                at = (*path, "notify", j)
                hint = _suggest(channel, list(alerts.channels))
                problems.append(
                    Problem(
                        root.mark_of(at), format_path(at), f"no channel named '{channel}'{hint}"
                    )
                )
        for key, names in (("budgets", budget_names), ("probes", probe_names)):
            for j, pattern in enumerate(getattr(rule, key)):
                if not any(fnmatchcase(n, pattern) for n in names):
                    at = (*path, key, j)
                    problems.append(
                        Problem(
                            root.mark_of(at),
                            format_path(at),
                            f"no {key[:-1]} matches '{pattern}'{_suggest(pattern, names)}",
                        )
                    )
    for probe in project.probes:
        for j, dep in enumerate(probe.depends_on):
            if dep not in probe_names or dep == probe.name:
                located, base = project.origins[probe.name]
                at = (*base, "depends_on", j)
                why = (
                    "a probe cannot depend on itself"
                    if dep == probe.name
                    else (f"no probe named '{dep}'{_suggest(dep, probe_names)}")
                )
                problems.append(Problem(located.mark_of(at), format_path(at), why))


def _collect_secrets(project: Project) -> list[str]:
    found: set[str] = set()
    for steps in project.steps.values():
        for step in steps:
            if isinstance(step, FillStep) and step.fill.secret and step.fill.value:
                found.add(step.fill.value)
    if project.config.rum.api_key:
        found.add(project.config.rum.api_key)
    for url in project.config.alerts.channels.values():
        found.update(url_secrets(url))
    dash = project.config.settings.dashboard
    if dash.token:
        found.add(dash.token)
    if dash.basic_auth:
        found.add(dash.basic_auth.password)
    # Longest first, so a secret that contains another is masked whole.
    return sorted(found, key=len, reverse=True)


def _resolve_budgets(project: Project, root: Located, problems: list[Problem]) -> list[Rule]:
    """Parse thresholds and tie each budget to the probes that can produce its metric."""
    from fnmatch import fnmatchcase

    from .naming import describe

    specs: list[tuple[Budget, Located, tuple[str | int, ...], str | None]] = []
    for idx, spec in enumerate(project.config.budgets):
        specs.append((spec, root, ("budgets", idx), None))
    for probe in project.probes:
        located, base = project.origins[probe.name]
        for idx, spec in enumerate(probe.budgets):
            specs.append((spec, located, (*base, "budgets", idx), probe.name))

    rules: list[Rule] = []
    seen: dict[str, Mark | None] = {}
    names = [p.name for p in project.probes]
    for spec, located, path, owner in specs:
        before = len(problems)

        def problem(
            key: str | None,
            message: str,
            located: Located = located,
            path: tuple[str | int, ...] = path,
        ) -> None:
            at = (*path, key) if key else path
            problems.append(Problem(located.mark_of(at), format_path(at), message))

        if spec.name in seen:
            problem("name", f"budget '{spec.name}' is already defined at {seen[spec.name]}")
        seen.setdefault(spec.name, located.mark_of((*path, "name")))
        metric = parse_metric(spec.metric)
        try:
            threshold = parse_threshold(spec.threshold, metric)
        except ValueError as exc:
            problem("threshold", str(exc))
        warn = None
        if spec.warn is not None:
            try:
                warn = parse_threshold(spec.warn, metric)
            except ValueError as exc:
                problem("warn", str(exc))

        if spec.source != "synthetic" and not metric.field:
            problem(
                "metric",
                f"{metric.label} is not measured for real users; use lcp, inp, "
                "cls, fcp, ttfb, error_rate or completion:TASK",
            )
            continue
        if spec.source != "rum" and not metric.lab:
            problem("metric", f"{metric.label} comes from real users only: add source: rum")
            continue
        if spec.source == "synthetic" and (spec.page is not None or spec.device is not None):
            problem(
                "page" if spec.page is not None else "device",
                "page and device select real users' beacons: add source: rum (or both)",
            )
            continue
        if spec.source == "rum":
            if spec.probe is not None or spec.probes is not None or owner is not None:
                problem("source", "a real-user budget covers pages, not probes: use page:")
                continue
            if spec.regression is not None:
                problem("regression", "regression compares checks; real-user budgets have none")
            if len(problems) != before:
                continue
            rules.append(
                Rule(
                    name=spec.name,
                    metric=metric,
                    threshold=threshold,
                    probes=[],
                    warn=warn,
                    min_samples=spec.min_samples,
                    window=spec.window,
                    source="rum",
                    description=spec.description,
                    page=spec.page,
                    device=spec.device,
                )
            )
            continue
        if owner is not None:
            if spec.probe is not None or spec.probes is not None:
                problem(
                    "probe" if spec.probe else "probes",
                    f"inside probe '{owner}' the budget covers it; leave probe(s) out",
                )
            wanted: list[tuple[str, bool]] = [(owner, False)]
        elif (spec.probe is None) == (spec.probes is None):
            problem(None, "give exactly one of probe: NAME or probes: [names or globs]")
            continue
        elif spec.probe is not None:
            wanted = [(spec.probe, False)]
        else:
            wanted = [(w, any(c in w for c in "*?[")) for w in spec.probes or []]

        key = "probe" if spec.probe is not None else "probes"
        covered: list[str] = []
        for pattern, is_glob in wanted:
            if not is_glob:
                if pattern not in names:
                    problem(key, f"no probe named '{pattern}'{_suggest(pattern, names)}")
                    continue
                reason = _cannot_produce(project, pattern, metric, describe)
                if reason:
                    problem("metric", reason)
                    continue
                covered.append(pattern)
            else:
                matched = [n for n in names if fnmatchcase(n, pattern)]
                covered += [n for n in matched if not _cannot_produce(project, n, metric, describe)]
        covered = list(dict.fromkeys(covered))
        if not covered and len(problems) == before:
            patterns = ", ".join(f"'{w}'" for w, _ in wanted)
            if any(fnmatchcase(n, w) for w, _ in wanted for n in names):
                problem("metric", f"no probe matching {patterns} can produce {metric.label}")
            else:
                problem(key, f"no probe matches {patterns}")
        if len(problems) != before:
            continue
        rules.append(
            Rule(
                name=spec.name,
                metric=metric,
                threshold=threshold,
                probes=covered,
                warn=warn,
                min_samples=spec.min_samples,
                tolerance=spec.regression,
                window=spec.window,
                description=spec.description,
                source=spec.source,
                page=spec.page,
                device=spec.device,
            )
        )
    return rules


def _cannot_produce(project: Project, name: str, metric: Any, describe: Any) -> str | None:
    """Why probe `name` cannot give samples of metric (None if it can)."""
    probe = project.probe(name)
    if probe.kind not in metric.kinds:
        need = "a journey" if "journey" in metric.kinds else "an http check"
        return f"{probe.kind} probe '{name}' cannot measure {metric.label}: it needs {need}"
    if metric.step is not None:
        steps = [describe(s) for s in project.steps.get(name, [])]
        if metric.step not in steps:
            return (
                f"journey '{name}' has no step named '{metric.step}'{_suggest(metric.step, steps)}"
            )
    return None
