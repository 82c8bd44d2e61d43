"""Load probe files: YAML with marks, ${VAR} expansion, includes, validation, `use` expansion."""

from __future__ import annotations

import copy
import glob
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from types import UnionType
from typing import Any

from pydantic import ValidationError

from ..budgets import Rule, Threshold, parse_metric, parse_threshold
from ..catalog import Metric
from ..conditions import conditions_of, meets, wanted
from ..hints import did_you_mean
from ..secrets import url_secrets
from .errors import ConfigError, Mark, Problem, format_path, sort_problems
from .expand import Reference, Unresolved, expand_tree, step_path, unset_advice
from .models import (
    ACTIONS,
    Budget,
    CaptureStep,
    Config,
    FillStep,
    Probe,
    Step,
    StepBase,
    UseStep,
    step_action,
)
from .naming import describe
from .types import (
    OWN_DATABASE,
    OWN_FRESH,
    OWN_PREFIX,
    OWN_RUNNERS,
    format_duration,
    names_own_health,
)
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
    located: Located | None = None  # the file itself, for problems of its settings
    secrets: list[str] = field(default_factory=list)
    budgets: list[Rule] = field(default_factory=list)
    # Budgets a variable that is not set kept from becoming rules, each with the probes it
    # covers (None: not known, its probe, probes, metric or source holds the variable).
    unchecked_budgets: dict[str, list[str] | None] = field(default_factory=dict)
    included: list[Path] = field(default_factory=list)  # files pulled in by include:
    # Variables that are not set, said where they are written (`observer validate` shows them).
    warnings: list[Problem] = field(default_factory=list)
    # The values that use a variable that is not set, and which part of the file each is in;
    # `require` turns those of the parts a command uses into problems.
    unset: list[Unset] = field(default_factory=list, repr=False)
    # Problems of disabled probes that only matter when one is run by name (a captured value
    # it uses but never captures itself: a journey meant for `use:`).
    deferred: dict[str, list[Problem]] = field(default_factory=dict, repr=False)

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

    def mark_at(self, *path: str | int) -> Mark | None:
        """Where a key of the file itself (not of a probe) was written: `settings`, ..."""
        return self.located.mark_of(path) if self.located is not None else None

    def has_unset(self, probe: str, *rest: str | int) -> bool:
        """Whether a key of a probe holds a variable that is not set (its value is a stand-in)."""
        located, path = self.origins[probe]
        return any(
            u.value.located is located and u.value.path == (*path, *rest) for u in self.unset
        )

    def uses(self, names: Iterable[str]) -> list[str]:
        """The probes named and every journey they `use:`, through any depth."""
        seen: dict[str, None] = {}
        todo = list(names)
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen[name] = None
            try:
                probe = self.probe(name)
            except KeyError:
                continue
            todo += [
                step.use
                for idx, step in enumerate(probe.journey or [])
                if isinstance(step, UseStep) and not self.has_unset(name, "journey", idx, "use")
            ]  # a `use: ${JOURNEY}` that is not set names a stand-in, not a journey
        return list(seen)

    def require(
        self,
        *,
        probes: Iterable[str] = (),
        settings: bool = False,
        rum: bool = False,
        alerts: bool = False,
        channels: Iterable[str] = (),
        budgets: bool | Iterable[str] = False,
    ) -> None:
        """Raise ConfigError if a part a command uses needs a variable that is not set.

        The parts: these probes and the journeys they use; settings; rum; alerts (its rules,
        delivery and every channel); these alert channels; every budget (True) or these, and
        with them each budget that is not a rule because a variable is not set and that may
        cover one of these probes.
        """
        names = list(probes)
        wanted = self._wanted(
            names,
            settings=settings,
            rum=rum,
            alerts=alerts,
            channels=list(channels),
            budgets=budgets,
        )
        problems = [p for name in names for p in self.deferred.get(name, [])]
        problems += _unset_problems([u for u in self.unset if u.scope in wanted])
        if problems:
            raise ConfigError(problems)

    def _wanted(
        self,
        names: list[str],
        *,
        settings: bool = False,
        rum: bool = False,
        alerts: bool = False,
        channels: list[str] | None = None,
        budgets: bool | Iterable[str] = False,
    ) -> set[Scope]:
        """The scopes of the parts Project.require is asked for."""
        wanted: set[Scope] = {ALWAYS}
        wanted.update(("probe", name) for name in self.uses(names))
        if settings:
            wanted.add(("settings",))
        if rum:
            wanted.add(("rum",))
        if alerts:
            wanted.update({("alerts",), ("delivery",)})
            wanted.update(("channel", name) for name in self.config.alerts.channels)
        if channels:
            wanted.add(("delivery",))
            wanted.update(("channel", name) for name in channels)
        if budgets is True:
            wanted.update(u.scope for u in self.unset if u.scope and u.scope[0] == "budget")
        elif budgets is not False:
            wanted.update(("budget", name) for name in budgets)
            # Not a rule, such a budget is in no list of rules: the command judges it if it
            # may cover a probe the command runs (any, when which it covers is not known).
            wanted.update(
                ("budget", name)
                for name, covers in self.unchecked_budgets.items()
                if covers is None or set(covers) & set(names)
            )
        return wanted

    def require_serve(self, *, schedule: bool = True) -> None:
        """Raise ConfigError unless what `observer serve` uses is set: the probes it schedules
        (every enabled one, none without schedule), settings, rum, alerts and budgets."""
        scheduled = [p.name for p in self.probes if p.enabled] if schedule else []
        self.require(probes=scheduled, settings=True, rum=True, alerts=True, budgets=True)


# Which part of the files a value belongs to, for Project.require: ("probe", NAME),
# ("settings",), ("rum",), ("alerts",), ("delivery",), ("channel", NAME), ("budget", NAME);
# ALWAYS for what every command needs (a probe's name); None for parts no command reads
# (vars, which count where they are used, and the settings of an included file).
Scope = tuple[str, ...]
ALWAYS: Scope = ("always",)


@dataclass
class Unset:
    """A value that uses variables that are not set (captured values are not among them)."""

    value: Unresolved
    scope: Scope | None
    secret: bool  # a value observer treats as a secret: its advice gives no default


def _unset_problems(unset: list[Unset], *, warning: bool = False) -> list[Problem]:
    """One problem per variable and place it is written, however many values need it."""
    groups: dict[tuple[str, tuple[str | int, ...], str], list[tuple[Unset, Reference]]] = {}
    for u in unset:
        for ref in u.value.refs:
            groups.setdefault((u.value.file, ref.written, ref.name), []).append((u, ref))
    problems: list[Problem] = []
    for (_file, written, name), members in groups.items():
        located = members[0][0].value.located
        where = located.mark_of(written)
        path = format_path(written)
        if warning:
            direct = [u for u, ref in members if ref.via is None]
            unchecked = any(u.value.stand_in for u in direct)
            tail = ", so this value cannot be checked" if unchecked else ""
            problems.append(Problem(where, path, f"variable '{name}' is not set{tail}", True))
            for u, ref in members:
                if ref.via is not None and u.value.stand_in:
                    problem = Problem(
                        u.value.mark,
                        format_path(u.value.path),
                        f"variable '{name}' is not set (through ${{{ref.via}}}), "
                        "so this value cannot be checked",
                        True,
                    )
                    if problem not in problems:
                        problems.append(problem)
            continue
        secret = any(u.secret for u, _ in members)
        message = f"variable '{name}' is not set ({unset_advice(name, secret)})"
        through = [(u, ref) for u, ref in members if ref.via is not None]
        if through:
            u, ref = through[0]
            message += f"; {_user(u)} uses it through ${{{ref.via}}}"
        problems.append(Problem(where, path, message))
    return problems


def _user(u: Unset) -> str:
    if u.scope and u.scope[0] in ("probe", "budget", "channel"):
        return f"{u.scope[0]} '{u.scope[1]}'"
    return format_path(u.value.path)


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
        if isinstance(part, str) and part.startswith("~"):
            continue  # a word-or-mapping union's tag (config.models), not a place either
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
            hint = did_you_mean(key, allowed.get(id(parent), []))
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
            f"unknown step action{did_you_mean(key, ACTIONS)}; actions: {', '.join(ACTIONS)}",
        )
    return Problem(
        where, format_path(path), f"the step has no action; one of: {', '.join(ACTIONS)}"
    )


@dataclass
class _File:
    """One parsed probe file and the values in it that nothing filled at load."""

    config: Config
    located: Located
    unresolved: list[Unresolved]
    defaulted: list[Unresolved]  # see Expanded.defaulted


class _Broken(ConfigError):
    """A file that does not validate, and the values in it whose variables are not set:
    load_project says those beside the problems, as problems or warnings."""

    def __init__(self, problems: list[Problem], unset: list[Unset]) -> None:
        super().__init__(problems)
        self.unset = unset


def _parse_file(path: Path, env: Mapping[str, str], root: bool) -> _File:
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
    expanded = expand_tree(located, env)
    problems, unresolved = expanded.problems, expanded.unresolved
    # Without its include patterns the file's shape is unknown: those need their variables.
    for u in [u for u in unresolved if u.path[0] == "include"]:
        unresolved.remove(u)
        secretless = [Unset(u, ALWAYS, secret=False)]
        problems += _unset_problems(secretless)
    config, invalid = _validate(located, unresolved)
    problems.extend(invalid)
    if problems or config is None:
        # Which variables are not set too, as far as this file alone tells.
        captured = _raw_capture_names(located.data, {u.path for u in unresolved})
        unset = [
            Unset(
                Unresolved(u.located, u.path, refs, u.stand_in),
                _scope_of(located, root, u.path),
                _secret_value(located.data, u.path),
            )
            for u in unresolved
            if (refs := tuple(ref for ref in u.refs if ref.name not in captured))
        ]
        raise _Broken(problems, unset)
    return _File(config, located, unresolved, expanded.defaulted)


def _raw_capture_names(data: Any, templated: set[tuple[str | int, ...]]) -> set[str]:
    """Names of `capture:` steps in a file's data, before it is validated (not those that
    use a variable: such a name is not known)."""
    names: set[str] = set()
    probes = data.get("probes") if isinstance(data, dict) else None
    for i, probe in enumerate(probes if isinstance(probes, list) else []):
        steps = probe.get("journey") if isinstance(probe, dict) else None
        for j, step in enumerate(steps if isinstance(steps, list) else []):
            args = step.get("capture") if isinstance(step, dict) else None
            if (
                isinstance(args, dict)
                and isinstance(args.get("name"), str)
                and ("probes", i, "journey", j, "capture", "name") not in templated
            ):
                names.add(args["name"])
    return names


def _node(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _set_node(data: Any, path: tuple[str | int, ...], value: Any) -> None:
    _node(data, path[:-1])[path[-1]] = value


def _secret_value(data: Any, path: tuple[str | int, ...]) -> bool:
    """Whether the value at path is one observer treats as a secret (see _collect_secrets)."""
    if path[:2] == ("settings", "dashboard") and path[-1] in ("token", "password"):
        return True
    if path == ("rum", "api_key") or path[:2] == ("alerts", "channels"):
        return True
    step = step_path(path)
    if step is None:
        return False
    try:
        args = _node(data, (*step, path[4]))
    except (KeyError, IndexError, TypeError):
        return False
    return path[4] in ("fill", "capture") and isinstance(args, dict) and args.get("secret") is True


# Stand-ins for a value whose variable is not set, when the template itself does not fit the
# field: tried in turn until the field takes one (a count, a size, a duration, a metric...).
_STAND_INS = ("unset", "0", "1", "100", "1024", "1s", "duration", "* * * * *", "unset://unset")
_QUOTED = re.compile(r"'([^']*)'")


# A validation's outcome: the config, or the error and the keys each model allows (for hints).
_Attempt = tuple[Config | None, ValidationError | None, dict[int, list[str]]]
# Each failure of a validation: where in the file (step tags dropped), its message, the error.
_Failures = list[tuple[tuple[str | int, ...], str, Any]]


def _validate(
    located: Located, unresolved: list[Unresolved]
) -> tuple[Config | None, list[Problem]]:
    """Validate a file's data. A value with a variable that is not set and that the field does
    not take as it is gets a stand-in (and `stand_in`), so the rest is still checked."""
    config, exc, allowed = _attempt(located)
    if exc is None:
        return config, []
    if not unresolved:
        return None, _problems_from(exc, located, allowed)
    first = _failures(located, exc)
    at_first = {(path, msg) for path, msg, _ in first}
    pending = [u for u in unresolved if _related(u, first, at_first)]
    originals = {id(u): _node(located.data, u.path) for u in pending}
    current = _try_stand_ins(located, pending, originals, first, at_first)
    current = _unneeded_stand_ins(located, unresolved, originals, first, current)
    config, exc, allowed = current or _attempt(located)
    if exc is None:
        return config, []
    return None, _problems_from(exc, located, allowed)


def _attempt(located: Located) -> _Attempt:
    """Validate the file's data as it is now."""
    context: dict[str, Any] = {"allowed": {}}
    try:
        return Config.model_validate(located.data, context=context), None, {}
    except ValidationError as exc:
        return None, exc, context["allowed"]


def _failures(located: Located, exc: ValidationError) -> _Failures:
    """Where each error of a validation is in the file, with its message."""
    out = []
    for err in exc.errors():
        path, _parent, _exists = _clean_loc(located.data, tuple(err["loc"]))
        out.append((path, err["msg"], err))
    return out


def _inside(u: Unresolved, found: _Failures) -> bool:
    """Whether a failure is at the value or inside it (a shorthand's long form)."""
    return any(path[: len(u.path)] == u.path for path, _msg, _err in found)


def _related(u: Unresolved, found: _Failures, at_first: set[tuple[Any, str]]) -> bool:
    """Whether a failure is the value's own, or one of the first validation's checks of the
    container the value is in (alerts.channels checks the URLs)."""
    return _inside(u, found) or any(
        u.path[: len(path)] == path and (path, msg) in at_first for path, msg, _ in found
    )


def _stand_ins(located: Located, u: Unresolved, first: _Failures) -> list[str]:
    """The stand-ins to try for a value, in turn: the first word a literal field names, then
    those of _STAND_INS that the field's type takes."""
    literal = [
        m.group(1)
        for path, _msg, err in first
        if path[: len(u.path)] == u.path and err["type"] == "literal_error"
        if (m := _QUOTED.search(str(err.get("ctx", {}).get("expected", ""))))
    ]
    # Those the field's own type refuses are not tried: each try validates the whole file.
    fits = _fits(located.data, u.path)
    return [c for c in [*literal[:1], *_STAND_INS] if fits(c)]


def _try_stand_ins(
    located: Located,
    pending: list[Unresolved],
    originals: dict[int, Any],
    first: _Failures,
    at_first: set[tuple[Any, str]],
) -> _Attempt | None:
    """Put stand-ins in the values pending, the next of each at every try, until no failure
    is theirs; a value that no stand-in helps is left as written.

    Returns what validating the data as it is now gave (None: it changed since the last
    attempt), so the data is validated once per change, not once more at the end.
    """
    choices = {id(u): _stand_ins(located, u, first) for u in pending}
    pending = list(pending)
    current: _Attempt | None = None
    attempt_no = 0
    while pending:
        for u in [u for u in pending if attempt_no >= len(choices[id(u)])]:
            _set_node(located.data, u.path, originals[id(u)])  # nothing fits: as written
            pending.remove(u)
            current = None
        if not pending:
            break
        for u in pending:
            _set_node(located.data, u.path, choices[id(u)][attempt_no])
        attempt_no += 1
        current = _attempt(located)
        exc = current[1]
        found = [] if exc is None else _failures(located, exc)
        for u in list(pending):
            if not _related(u, found, at_first):
                u.stand_in = True
                pending.remove(u)
        if exc is None:
            break
    return current


def _unneeded_stand_ins(
    located: Located,
    unresolved: list[Unresolved],
    originals: dict[int, Any],
    first: _Failures,
    current: _Attempt | None,
) -> _Attempt | None:
    """Put back as written each value whose only fault was its container's and that took a
    stand-in it did not need (the one URL of several in alerts.channels that is not a URL),
    if the file validates so. Returns what validating the data as it is now gave, as
    _try_stand_ins does."""
    for u in unresolved:
        if u.stand_in and id(u) in originals and not _inside(u, first):
            stand_in = _node(located.data, u.path)
            _set_node(located.data, u.path, originals[id(u)])
            tried = _attempt(located)
            if tried[1] is None:
                u.stand_in = False
                current = tried
            else:
                _set_node(located.data, u.path, stand_in)  # the data `current` is of, again
    return current


def _fits(data: Any, path: tuple[str | int, ...]) -> Callable[[str], bool]:
    """Whether a stand-in can fit the value at path, as far as the type the models give it
    tells: a number, a duration, one of a few words (anything does, where it tells nothing)."""
    from typing import Annotated, Literal, Union, get_args, get_origin

    from pydantic import BaseModel, TypeAdapter

    def bare(tp: Any) -> Any:
        while get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        if get_origin(tp) in (Union, UnionType):
            rest = [a for a in get_args(tp) if a is not type(None)]
            return bare(rest[0]) if len(rest) == 1 else tp
        return tp

    def scalar(tp: Any) -> bool:
        tp = bare(tp)
        if get_origin(tp) in (Union, UnionType):
            return all(scalar(a) for a in get_args(tp))
        return get_origin(tp) is Literal or tp in (str, int, float, bool, type(None))

    tp: Any = Config
    for part in path:
        node = bare(tp)
        if tp is Step:  # a journey step: the model its action names
            action = step_action(data)
            node = ACTIONS.get(action) if action else None
        if isinstance(node, type) and issubclass(node, BaseModel) and isinstance(part, str):
            info = node.model_fields.get(part)
            validators = node.__pydantic_decorators__.field_validators.values()
            if info is None or any(
                {part, "*"} & set(v.info.fields) and v.info.mode != "after" for v in validators
            ):
                return lambda _: True  # the model turns the value into another first
            tp = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
        elif get_origin(node) is list and isinstance(part, int):
            tp = get_args(node)[0]
        elif get_origin(node) is dict and isinstance(part, str):
            tp = get_args(node)[1]
        else:
            return lambda _: True  # a union of sections, say: the whole file tells
        data = _node(data, (part,))  # the path is in the data
    if not scalar(tp):
        return lambda _: True
    adapter: TypeAdapter[Any] = TypeAdapter(tp)

    def fits(value: str) -> bool:
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    return fits


def _under_cwd(path: Path) -> bool:
    try:
        path.relative_to(Path.cwd())
    except ValueError:
        return False
    return True


def load_for_serve(path: str | os.PathLike[str], *, schedule: bool = True) -> Project:
    """Load a file as `observer serve` (and its reloads) uses it: only the variables of what
    it serves must be set (Project.require_serve)."""
    project = load_project(path, require_env=False)
    project.require_serve(schedule=schedule)
    return project


def load_project(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    require_env: bool = True,
    runs: Iterable[str] | None = None,
) -> Project:
    """Load and validate a probe file and its includes; raises ConfigError with every problem.

    With require_env, every variable the files use must be set. Without it, one that is not
    is a warning (Project.warnings) and the value a stand-in; the caller then asks
    Project.require for the parts it uses, which raises ConfigError for theirs.

    When the files have problems, the variables that are not set are said beside them: as
    problems with require_env; else as warnings, but for the probes in `runs` (the probes a
    command is about to run; every enabled one when empty), the journeys they use and
    settings, whose variables the command needs: problems too.
    """
    env = os.environ if env is None else env
    root = Path(path)
    problems: list[Problem] = []
    try:
        first = _parse_file(root, env, root=True)
    except _Broken as exc:
        raise _refused(exc.problems, exc.unset, None, require_env, runs) from None
    files: list[_File] = []
    broken: list[Unset] = []  # the unset values of included files that do not validate
    _gather_includes(
        root, first.config, first.located, env, files, {root.resolve()}, problems, broken
    )
    files.append(first)
    config, located = first.config, first.located

    probes: list[Probe] = []
    origins: dict[str, tuple[Located, tuple[str | int, ...]]] = {}
    for file in files:
        cfg, loc = file.config, file.located
        for idx, probe in enumerate(cfg.probes):
            if probe.name in origins:
                first_at = origins[probe.name][0].mark_of(origins[probe.name][1])
                problems.append(
                    Problem(
                        loc.mark_of(("probes", idx, "name")),
                        f"probes[{idx}].name",
                        f"probe '{probe.name}' is already defined at {first_at}",
                    )
                )
                continue
            origins[probe.name] = (loc, ("probes", idx))
            probes.append(probe)

    project = Project(path=root, config=config, probes=probes, steps={}, origins=origins)
    project.located = located
    project.included = [Path(f.located.root.file) for f in files[:-1] if f.located.root is not None]
    for probe in probes:
        if probe.journey is not None:
            project.steps[probe.name] = _expand_uses(project, probe, problems)
    # Before the problems of captured values: a value's own problem is not a stand-in's.
    problems = _without_stand_ins(problems, [u for file in files for u in file.unresolved])
    unset = _captured_values(project, files, env, problems)
    project.unset = [
        Unset(
            u,
            _scope_of(file.located, file is first, u.path),
            _secret_value(file.located.data, u.path),
        )
        for file in files
        for u in unset
        if u.located is file.located
    ]
    if not problems:
        project.budgets, project.unchecked_budgets = _resolve_budgets(project, located, problems)
        _check_alerts(project, located, problems)
        problems = _without_stand_ins(problems, [u.value for u in project.unset])
    if problems:
        raise _refused(problems, project.unset + broken, project, require_env, runs)
    if require_env and project.unset:
        raise ConfigError(_unset_problems(project.unset))
    project.warnings = sort_problems(
        project.warnings + _unset_problems(project.unset, warning=True)
    )
    project.secrets = _collect_secrets(project)
    return project


def _refused(
    problems: list[Problem],
    unset: list[Unset],
    project: Project | None,
    require_env: bool,
    runs: Iterable[str] | None,
) -> ConfigError:
    """The problems of files that do not load, with their variables that are not set: the
    ones a command needs (see load_project) as problems, the rest as warnings."""
    if require_env:
        return ConfigError(problems + _unset_problems(unset))
    names = list(runs or ())
    if runs is None:
        needed = []
    elif project is not None:
        chosen = names or [p.name for p in project.probes if p.enabled]
        wanted = project._wanted(chosen, settings=True)
        needed = [u for u in unset if u.scope in wanted]
    else:
        # A file did not validate: its probes are known by their data only.
        def runs_it(u: Unset) -> bool:
            if not u.scope or u.scope[0] != "probe":
                return u.scope in (ALWAYS, ("settings",))
            if names:
                return u.scope[1] in names
            probe = _node(u.value.located.data, u.value.path[:2])
            return not (isinstance(probe, dict) and probe.get("enabled") is False)

        needed = [u for u in unset if runs_it(u)]
    said = {(u.value.file, ref.written, ref.name) for u in needed for ref in u.value.refs}
    rest = []
    for u in unset:
        if any(u is n for n in needed):
            continue
        refs = tuple(r for r in u.value.refs if (u.value.file, r.written, r.name) not in said)
        if refs:
            value = Unresolved(u.value.located, u.value.path, refs, u.value.stand_in)
            rest.append(Unset(value, u.scope, u.secret))
    return ConfigError(problems + _unset_problems(needed) + _unset_problems(rest, warning=True))


def _scope_of(located: Located, root: bool, path: tuple[str | int, ...]) -> Scope | None:
    """Which part of the files the value at path belongs to (see Scope), read from the data
    itself, so a file that does not validate has scopes too."""

    def name(*at: str | int) -> str | None:
        try:
            node = _node(located.data, at)
        except (KeyError, IndexError, TypeError):
            return None
        return node if isinstance(node, str) else None

    at = (*path, None, None, None)  # padded: no IndexError below
    if at[0] == "probes" and isinstance(at[1], int):
        if at[2] == "name":
            return ALWAYS  # which probe it is depends on it
        if at[2] == "budgets" and isinstance(at[3], int):
            budget = name("probes", at[1], "budgets", at[3], "name")
            return None if budget is None else ("budget", budget)
        probe = name("probes", at[1], "name")
        return None if probe is None else ("probe", probe)
    if not root:
        return None  # an included file's settings, rum, alerts and budgets are not read
    if at[0] in ("settings", "rum"):
        return (str(at[0]),)
    if at[0] == "alerts":
        if at[1] == "channels" and at[2] is not None:
            return ("channel", str(at[2]))
        if at[1] in ("timeout", "retries", "backoff"):
            return ("delivery",)
        return ("alerts",)
    if at[0] == "budgets" and isinstance(at[1], int):
        budget = name("budgets", at[1], "name")
        return None if budget is None else ("budget", budget)
    return None  # vars: they count where they are used


def _without_stand_ins(problems: list[Problem], values: list[Unresolved]) -> list[Problem]:
    """Drop the problems of values that are stand-ins (`use: ${JOURNEY}` names no probe) and
    note that those values could not be checked."""
    places = {(u.file, format_path(u.path)): u for u in values}
    kept = []
    for problem in problems:
        value = places.get((problem.mark.file if problem.mark else "", problem.path))
        if value is None:
            kept.append(problem)
        else:
            value.stand_in = True
    return kept


def _captured_values(
    project: Project, files: list[_File], env: Mapping[str, str], problems: list[Problem]
) -> list[Unresolved]:
    """Sort the references nothing filled at load: values journey steps capture, checked and
    marked on the steps that use them; the rest, variables that are not set, are returned."""
    names = _capture_names(project, files, env, problems)
    _captures_without_defaults(files, names, problems)
    unset, in_steps = _sort_references(files, names, problems)
    if in_steps:
        _mark_capture_users(project, names, in_steps, problems)
    return unset


def _capture_names(
    project: Project, files: list[_File], env: Mapping[str, str], problems: list[Problem]
) -> dict[str, list[str]]:
    """Each name a journey step captures, with the probes whose own journey captures it; a name
    that is also a var's or an environment variable's is a problem."""
    names: dict[str, list[str]] = {}
    all_vars = {name for file in files for name in file.config.vars}
    templated = {(id(u.located), u.path) for file in files for u in file.unresolved}
    for probe in project.probes:
        located, base = project.origins[probe.name]
        for idx, written in enumerate(probe.journey or []):
            where = (*base, "journey", idx, "capture", "name")
            if not isinstance(written, CaptureStep):
                continue
            if (id(located), where) in templated:
                continue  # a name with a variable that is not set: no name yet (a stand-in)
            name = written.capture.name
            capturers = names.setdefault(name, [])
            if probe.name not in capturers:
                capturers.append(probe.name)
            clash = (
                "the name of a var"
                if name in all_vars
                else "an environment variable"
                if name in env
                else None
            )
            if clash:
                problems.append(
                    Problem(
                        located.mark_of(where),
                        format_path(where),
                        f"'{name}' is also {clash}: give the captured value a name of its own",
                    )
                )
    return names


def _captures_without_defaults(
    files: list[_File], names: dict[str, list[str]], problems: list[Problem]
) -> None:
    """A captured value written with a default (${NAME:-x}) is a problem: it takes none."""
    for file in files:
        for u in file.defaulted:
            for ref in u.refs:
                if ref.name in names:
                    no_default = Problem(
                        u.located.mark_of(ref.written),
                        format_path(ref.written),
                        f"'{ref.name}' is a captured value, which takes no default: "
                        f"write ${{{ref.name}}}",
                    )
                    if no_default not in problems:
                        problems.append(no_default)


# (file, step path) -> the values in that step that use captured values, each with their names
_InSteps = dict[tuple[int, tuple[str | int, ...]], list[tuple[Unresolved, set[str]]]]


def _sort_references(
    files: list[_File], names: dict[str, list[str]], problems: list[Problem]
) -> tuple[list[Unresolved], _InSteps]:
    """Part the values nothing filled at load: those with variables that are not set (returned
    with those references only), and those with captured values, by the step that uses them.
    A captured value used where it cannot be is a problem."""
    unset: list[Unresolved] = []
    in_steps: _InSteps = {}
    for file in files:
        for u in file.unresolved:
            rest = tuple(ref for ref in u.refs if ref.name not in names)
            if rest:
                unset.append(Unresolved(u.located, u.path, rest, u.stand_in))
            used = {ref.name for ref in u.refs if ref.name in names}
            if not used:
                continue
            inside = step_path(u.path)
            problem = _misplaced_capture(u, inside, names)
            if problem is not None:
                if problem not in problems:
                    problems.append(problem)
                continue
            assert inside is not None  # _misplaced_capture said so otherwise
            in_steps.setdefault((id(u.located), inside), []).append((u, used))
    return unset, in_steps


def _mark_capture_users(
    project: Project, names: dict[str, list[str]], in_steps: _InSteps, problems: list[Problem]
) -> None:
    """Give each journey step that uses captured values their names and its template (in every
    journey it is part of through `use`), and say each one it uses before a step captures it:
    a problem, or deferred for a disabled probe."""
    origin: dict[int, tuple[str, Located, tuple[str | int, ...]]] = {}
    for probe in project.probes:
        located, base = project.origins[probe.name]
        for idx, own in enumerate(probe.journey or []):
            origin[id(own)] = (probe.name, located, (*base, "journey", idx))
    for probe in project.probes:
        steps = project.steps.get(probe.name, [])
        for k, step in enumerate(steps):
            owner, located, path = origin[id(step)]
            uses = in_steps.get((id(located), path))
            if not uses:
                continue
            step._captures = frozenset(name for _, used in uses for name in used)
            step._template = copy.deepcopy(_node(located.data, path))
            before = {s.capture.name for s in steps[:k] if isinstance(s, CaptureStep)}
            for u, used in uses:
                for name in sorted(used - before):
                    why = _not_captured_yet(steps, k, name, names[name], probe.name)
                    if owner != probe.name:
                        why += f", in probe '{probe.name}', which uses this journey"
                    problem = Problem(u.mark, format_path(u.path), why)
                    found = (
                        problems if probe.enabled else project.deferred.setdefault(probe.name, [])
                    )
                    if problem not in found:
                        found.append(problem)


def _not_captured_yet(
    steps: list[StepBase], k: int, name: str, capturers: list[str], probe: str
) -> str:
    """Why step k of probe's journey cannot use the captured value `name` (that capturers'
    journeys capture): a later step captures it, or none does."""
    later = next(
        (
            j
            for j, s in enumerate(steps[k + 1 :], start=k + 1)
            if isinstance(s, CaptureStep) and s.capture.name == name
        ),
        None,
    )
    if later is not None:
        return f"'${{{name}}}' is used before step {later + 1} captures it"
    others = [p for p in capturers if p != probe]
    why = f"no step of this journey captures '{name}'"
    if others:
        why += f" (probe '{others[0]}' does)"
    return why


def _misplaced_capture(
    u: Unresolved, step: tuple[str | int, ...] | None, names: dict[str, list[str]]
) -> Problem | None:
    """A captured value used where it cannot be: outside a journey step (or in a var), in a
    step's name, or in a value that must be known at load (a number, a duration)."""
    through = [r for r in u.refs if r.name in names and r.via is not None]
    if through or step is None:
        ref = through[0] if through else next(r for r in u.refs if r.name in names)
        owners = names[ref.name]
        whose = ("probe " if len(owners) == 1 else "probes ") + ", ".join(f"'{p}'" for p in owners)
        return Problem(
            u.located.mark_of(ref.written),
            format_path(ref.written),
            f"'${{{ref.name}}}' is a value a journey step captures ({whose}): "
            "only the steps after the capture can use it",
        )
    if u.path == (*step, "name") or u.stand_in:
        ref = next(r for r in u.refs if r.name in names)
        what = "a step's name is fixed" if u.path[-1] == "name" else "this value must be known"
        return Problem(
            u.mark,
            format_path(u.path),
            f"'${{{ref.name}}}' is captured while the journey runs, but {what} when the file "
            "is loaded",
        )
    return None


def _gather_includes(
    path: Path,
    config: Config,
    located: Located,
    env: Mapping[str, str],
    out: list[_File],
    seen: set[Path],
    problems: list[Problem],
    broken: list[Unset],
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
                sub = _parse_file(target, env, root=False)
            except ConfigError as exc:
                problems.extend(exc.problems)
                if isinstance(exc, _Broken):
                    broken.extend(exc.unset)
                continue
            _gather_includes(target, sub.config, sub.located, env, out, seen, problems, broken)
            out.append(sub)


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
                hint = did_you_mean(step.use, [p.name for p in project.probes])
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


def _check_alerts(project: Project, root: Located, problems: list[Problem]) -> None:
    """Rules name channels that exist and budgets or probes that match something."""
    alerts = project.config.alerts
    probe_names = [p.name for p in project.probes]
    budget_names = [b.name for b in project.budgets] + list(project.unchecked_budgets)
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
                hint = did_you_mean(channel, alerts.channels)
                problems.append(
                    Problem(
                        root.mark_of(at), format_path(at), f"no channel named '{channel}'{hint}"
                    )
                )
        for key, names in (("budgets", budget_names), ("probes", probe_names)):
            for j, pattern in enumerate(getattr(rule, key)):
                if key == "probes" and pattern.startswith(OWN_PREFIX):
                    # observer's own health (watchdog.py), not a probe of the file
                    if not names_own_health(pattern, names):
                        at = (*path, key, j)
                        problems.append(
                            Problem(
                                root.mark_of(at),
                                format_path(at),
                                f"'{pattern}' names none of observer's own subjects: "
                                f"{OWN_FRESH}PROBE, {OWN_RUNNERS}LOCATION, {OWN_DATABASE}",
                            )
                        )
                    continue
                if not any(fnmatchcase(n, pattern) for n in names):
                    at = (*path, key, j)
                    problems.append(
                        Problem(
                            root.mark_of(at),
                            format_path(at),
                            f"no {key[:-1]} matches '{pattern}'{did_you_mean(pattern, names)}",
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
                    else (f"no probe named '{dep}'{did_you_mean(dep, probe_names)}")
                )
                problems.append(Problem(located.mark_of(at), format_path(at), why))


def _collect_secrets(project: Project) -> list[str]:
    found: set[str] = set()
    for steps in project.steps.values():
        for step in steps:
            # A template's value is known only when the journey fills it in: the runtime
            # masks what it fills into a secret step.
            if step.captures:
                continue
            if isinstance(step, FillStep) and step.fill.secret and step.fill.value:
                found.add(step.fill.value)
    if project.config.rum.api_key:
        found.add(project.config.rum.api_key)
    # A value with a variable that is not set is a template or a stand-in, never used.
    unknown = {_node(u.value.located.data, u.value.path) for u in project.unset}
    for url in project.config.alerts.channels.values():
        if url not in unknown:
            found.update(url_secrets(url))
    # A PostgreSQL URL's password (and the URL itself) never reach a log or a report.
    database = project.config.settings.database
    if database not in unknown and "://" in database:
        # Only a URL holds secrets; the store (not loaded for a file path) knows which.
        from ..store import database_secrets

        found.update(database_secrets(database))
    dash = project.config.settings.dashboard
    if dash.token:
        found.add(dash.token)
    if dash.basic_auth:
        found.add(dash.basic_auth.password)
    found -= unknown
    # Longest first, so a secret that contains another is masked whole.
    return sorted(found, key=len, reverse=True)


def _resolve_budgets(
    project: Project, root: Located, problems: list[Problem]
) -> tuple[list[Rule], dict[str, list[str] | None]]:
    """Parse thresholds and tie each budget to the probes that can produce its metric.

    Returns the rules, and the budgets that are not rules (see Project.unchecked_budgets).
    """
    rules: list[Rule] = []
    unchecked: dict[str, list[str] | None] = {}
    seen: dict[str, Mark | None] = {}
    for spec, located, path, owner in _budget_specs(project, root):
        check = _BudgetCheck(project, spec, located, path, owner, problems)
        if spec.name in seen:
            check.problem("name", f"budget '{spec.name}' is already defined at {seen[spec.name]}")
        seen.setdefault(spec.name, located.mark_of((*path, "name")))
        metric = parse_metric(spec.metric)
        threshold, warn = check.thresholds(metric)
        if check.selection_unset():
            unchecked[spec.name] = None
            continue
        # A budget that says wrongly what it covers is refused: said as a problem, it is
        # neither a rule nor a budget a variable keeps from being checked.
        if not check.fits_source(metric):
            continue
        wanted = check.wanted()
        if wanted is None:
            continue
        covered = check.covered(wanted, metric)
        if covered is None or check.failed:
            # None: which probes it covers is not known; else a threshold not set, say.
            unchecked[spec.name] = covered
        else:
            rules.append(check.rule(metric, threshold, warn, covered))
            check.thin_window(rules[-1])
            check.condition_met(rules[-1])
    return rules, unchecked


def _budget_specs(
    project: Project, root: Located
) -> list[tuple[Budget, Located, tuple[str | int, ...], str | None]]:
    """Every budget, the file's own first: where it is written, and the probe it is in."""
    specs: list[tuple[Budget, Located, tuple[str | int, ...], str | None]] = []
    for idx, spec in enumerate(project.config.budgets):
        specs.append((spec, root, ("budgets", idx), None))
    for probe in project.probes:
        located, base = project.origins[probe.name]
        for idx, spec in enumerate(probe.budgets):
            specs.append((spec, located, (*base, "budgets", idx), probe.name))
    return specs


@dataclass
class _BudgetCheck:
    """One budget as written, checked part by part; its problems go to `problems`."""

    project: Project
    spec: Budget
    located: Located
    path: tuple[str | int, ...]
    owner: str | None  # the probe it is written in, if any
    problems: list[Problem]
    before: int = field(init=False)

    def __post_init__(self) -> None:
        self.before = len(self.problems)

    @property
    def failed(self) -> bool:
        """Whether a problem of this budget has been said."""
        return len(self.problems) != self.before

    def problem(self, key: str | None, message: str) -> None:
        """Say a problem at one of the budget's keys (None: at the budget)."""
        at = (*self.path, key) if key else self.path
        self.problems.append(Problem(self.located.mark_of(at), format_path(at), message))

    def condition_met(self, rule: Rule) -> None:
        """Warn of a `condition:` no entry of the probes it covers runs under: it would have
        no samples (a device misspelt, say)."""
        if rule.condition is None or not rule.probes:
            return
        settings = self.project.config.settings
        runs_under = [
            c for name in rule.probes for c in conditions_of(self.project.probe(name), settings)
        ]
        if any(meets(c, rule.condition) for c in runs_under):
            return
        at = (*self.path, "condition")
        seen = sorted({c.label or "no emulation or throttling" for c in runs_under})
        self.project.warnings.append(
            Problem(
                self.located.mark_of(at),
                format_path(at),
                f"no probe it covers runs under it, so it has no samples; they run under: "
                f"{'; '.join(seen)}",
                warning=True,
            )
        )

    def thin_window(self, rule: Rule) -> None:
        """Warn of a threshold whose window cannot hold the samples a pass needs at its
        confidence (a p95 59, a rate of 99% 268): in serve it would stay inconclusive, and an
        alert on it would not resolve."""
        from ..budgets import samples_needed

        settings = self.project.config.settings
        if rule.confidence is None or rule.source == "rum" or not rule.probes:
            return
        need = samples_needed(rule.threshold, rule.confidence)
        everies = [self.project.probe(n).every or settings.every for n in rule.probes]
        window = rule.window or settings.window
        held = sum(window / every for every in everies)
        if need is None or held >= need:
            return
        key = "window" if self.spec.window is not None else "threshold"
        at = (*self.path, key)
        self.project.warnings.append(
            Problem(
                self.located.mark_of(at),
                format_path(at),
                f"a {format_duration(window)} window of these runs holds about {held:.0f} "
                f"samples, and at {rule.confidence * 100:g}% confidence "
                f"'{rule.threshold.text}' can be shown to hold only with {need}: in serve it "
                "stays inconclusive and an alert on it does not resolve (a longer window, a "
                "looser threshold, or confidence: off)",
                warning=True,
            )
        )

    def thresholds(self, metric: Metric) -> tuple[Threshold | None, Threshold | None]:
        """Its threshold and warn, parsed (None: not given, or a problem)."""
        threshold = self._threshold("threshold", self.spec.threshold, metric)
        warn = None if self.spec.warn is None else self._threshold("warn", self.spec.warn, metric)
        # CSAT's rate counts answers at 4-5, its mean averages them: one kind per budget.
        if (
            metric.satisfied is not None
            and threshold is not None
            and warn is not None
            and (threshold.aggregate == "rate") != (warn.aggregate == "rate")
        ):
            self.problem("warn", f"judge {metric.label}'s threshold and warn alike: both "
                         "by rate, or both by a value such as mean")  # fmt: skip
        return threshold, warn

    def _threshold(self, key: str, text: str, metric: Metric) -> Threshold | None:
        try:
            return parse_threshold(text, metric)
        except ValueError as exc:
            self.problem(key, str(exc))
            return None

    def selection_unset(self) -> bool:
        """Whether its metric or source uses a variable that is not set: which probes it
        covers is then not known, and those values are noted as not checked."""
        unknown = [
            (*self.path, k)
            for k in ("metric", "source")
            if _holds_unset(self.project, self.located, (*self.path, k))
        ]
        if unknown:
            _not_checked(self.project, self.located, unknown)
        return bool(unknown)

    def fits_source(self, metric: Metric) -> bool:
        """Whether its metric, page and device fit its source (else a problem is said)."""
        spec = self.spec
        if spec.source != "synthetic" and not metric.field:
            self.problem(
                "metric",
                f"{metric.label} is not measured for real users; use lcp, inp, cls, fcp, "
                "ttfb, error_rate, csat, ces, nps, rage_click_rate, dead_click_rate, "
                "error_click_rate or completion:TASK",
            )
            return False
        if spec.source != "rum" and not metric.lab:
            self.problem("metric", f"{metric.label} comes from real users only: add source: rum")
            return False
        if spec.source == "synthetic" and spec.task is not None:
            self.problem("task", "task selects real users' sessions: add source: rum")
            return False
        if spec.task is not None and metric.task is not None:
            self.problem("task", f"{metric.label} names its task already: leave task out")
            return False
        a11y = metric.name == "a11y_violations"
        if spec.impact is not None and not a11y:
            self.problem("impact", "impact picks accessibility violations: use a11y_violations")
            return False
        if spec.source == "rum" and spec.condition is not None:
            self.problem("condition", "condition picks probes' runs: real users have none")
            return False
        page = spec.page is not None and not a11y
        if spec.source == "synthetic" and (page or spec.device is not None):
            self.problem(
                "page" if page else "device",
                "page and device select real users' beacons: add source: rum (or both)",
            )
            return False
        return True

    def wanted(self) -> list[tuple[str, bool]] | None:
        """The probe names and globs it covers, each with whether it is a glob (none for a
        real-user budget); None when it names them wrongly (a problem is said)."""
        spec = self.spec
        if spec.baseline is not None and spec.regression is None:
            self.problem("baseline", "a baseline is for regression: add regression: e.g. 30%")
        if spec.source == "rum":
            if spec.probe is not None or spec.probes is not None or self.owner is not None:
                self.problem("source", "a real-user budget covers pages, not probes: use page:")
                return None
            if spec.regression is not None:
                self.problem(
                    "regression", "regression compares checks; real-user budgets have none"
                )
            return []
        if self.owner is not None:
            if spec.probe is not None or spec.probes is not None:
                self.problem(
                    "probe" if spec.probe else "probes",
                    f"inside probe '{self.owner}' the budget covers it; leave probe(s) out",
                )
            return [(self.owner, False)]
        if (spec.probe is None) == (spec.probes is None):
            self.problem(None, "give exactly one of probe: NAME or probes: [names or globs]")
            return None
        if spec.probe is not None:
            return [(spec.probe, False)]
        return [(w, any(c in w for c in "*?[")) for w in spec.probes or []]

    def covered(self, wanted: list[tuple[str, bool]], metric: Metric) -> list[str] | None:
        """The probes of wanted that can produce its metric; None when a name or glob uses a
        variable that is not set (it may cover any probe)."""
        names = [p.name for p in self.project.probes]
        key = "probe" if self.spec.probe is not None else "probes"
        covered: list[str] = []
        unknown: list[tuple[str | int, ...]] = []
        for j, (pattern, is_glob) in enumerate(wanted):
            at = (*self.path, key) if self.spec.probe is not None else (*self.path, key, j)
            if self.owner is None and _holds_unset(self.project, self.located, at):
                unknown.append(at)  # a name or glob not known: it may cover any probe
            elif is_glob:
                matched = [n for n in names if fnmatchcase(n, pattern)]
                covered += [n for n in matched if not _cannot_produce(self.project, n, metric)]
            elif pattern not in names:
                self.problem(key, f"no probe named '{pattern}'{did_you_mean(pattern, names)}")
            elif reason := _cannot_produce(self.project, pattern, metric):
                self.problem("metric", reason)
            else:
                covered.append(pattern)
        if unknown:
            _not_checked(self.project, self.located, unknown)
            return None
        covered = list(dict.fromkeys(covered))
        if not covered and not self.failed and self.spec.source != "rum":
            patterns = ", ".join(f"'{w}'" for w, _ in wanted)
            if any(fnmatchcase(n, w) for w, _ in wanted for n in names):
                self.problem("metric", f"no probe matching {patterns} can produce {metric.label}")
            else:
                self.problem(key, f"no probe matches {patterns}")
        return covered

    def rule(
        self,
        metric: Metric,
        threshold: Threshold | None,
        warn: Threshold | None,
        probes: list[str],
    ) -> Rule:
        """The budget as a rule over these probes (none: a real-user budget)."""
        assert threshold is not None  # one that does not parse is a problem: no rule
        spec = self.spec
        return Rule(
            name=spec.name,
            metric=metric,
            threshold=threshold,
            probes=probes,
            warn=warn,
            min_samples=spec.min_samples,
            tolerance=spec.regression,  # None for a real-user budget: else a problem
            baseline=spec.baseline,
            # None: the point estimate decides (a budget's own setting, else settings')
            confidence=(
                spec.confidence
                if spec.confidence is not None
                else self.project.config.settings.confidence
            )
            or None,
            window=spec.window or self.project.config.settings.window,
            description=spec.description,
            source=spec.source,
            page=spec.page,
            device=spec.device,
            task=spec.task,
            location=spec.location,
            condition=wanted(spec.condition),
            impact=spec.impact,
        )


def _holds_unset(project: Project, located: Located, path: tuple[str | int, ...]) -> bool:
    """Whether the value at path, or one inside it, uses a variable that is not set."""
    return any(
        u.value.located is located and u.value.path[: len(path)] == path for u in project.unset
    )


def _not_checked(project: Project, located: Located, paths: list[tuple[str | int, ...]]) -> None:
    """Note that the values at paths (with variables that are not set) could not be checked."""
    for u in project.unset:
        if u.value.located is located and any(u.value.path[: len(p)] == p for p in paths):
            u.value.stand_in = True


def _cannot_produce(project: Project, name: str, metric: Metric) -> str | None:
    """Why probe `name` cannot give samples of metric (None if it can)."""
    probe = project.probe(name)
    if probe.kind not in metric.kinds:
        need = "a journey" if "journey" in metric.kinds else "an http check"
        return f"{probe.kind} probe '{name}' cannot measure {metric.label}: it needs {need}"
    if metric.step is not None:
        steps = [describe(s) for s in project.steps.get(name, [])]
        if metric.step not in steps:
            hint = did_you_mean(metric.step, steps)
            return f"journey '{name}' has no step named '{metric.step}'{hint}"
    return None
