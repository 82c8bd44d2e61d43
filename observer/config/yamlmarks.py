"""YAML loading that remembers where every key and value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, Mark, Problem, format_path


@dataclass
class Located:
    """Plain Python data plus the marks of each mapping key and value, by object id."""

    data: Any
    # id(dict) -> {key: (key mark, value mark)}; id(list) -> [item marks]
    maps: dict[int, dict[str, tuple[Mark, Mark]]] = field(default_factory=dict)
    seqs: dict[int, list[Mark]] = field(default_factory=dict)
    root: Mark | None = None
    # Objects must stay alive for their ids to stay unique.
    keep: list[Any] = field(default_factory=list)

    def mark_of(self, path: tuple[str | int, ...], *, key: bool = False) -> Mark | None:
        """The mark of the node at path, or of its nearest existing ancestor."""
        node: Any = self.data
        best = self.root
        for part in path:
            if isinstance(node, dict) and isinstance(part, str) and part in node:
                km, vm = self.maps.get(id(node), {}).get(part, (best, best))
                best = km if key and part == path[-1] else vm
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                marks = self.seqs.get(id(node), [])
                best = marks[part] if part < len(marks) else best
                node = node[part]
            else:
                break
        return best


# libyaml's parser when PyYAML has it: the same nodes and marks, several times faster.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(file: str, m: yaml.Mark) -> Mark:
    return Mark(file, m.line + 1, m.column + 1)


def load_yaml(text: str, file: str) -> Located:
    """Parse one YAML document; duplicate keys and non-string keys are problems."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = _mark(file, exc.problem_mark) if exc.problem_mark else None
        raise ConfigError([Problem(mark, "", f"YAML syntax error: {exc.problem}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(Mark(file, 1, 1), "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    located = Located(data=None)
    if node is None:  # nothing but comments and blank lines
        located.root = Mark(file, 1, 1)
        return located
    located.root = _mark(file, node.start_mark)
    problems: list[Problem] = []
    ctor = yaml.SafeLoader("")

    def build(n: yaml.Node, path: tuple[str | int, ...]) -> Any:
        if isinstance(n, yaml.MappingNode):
            ctor.flatten_mapping(n)  # merge keys (<<: *anchor)
            out: dict[str, Any] = {}
            marks: dict[str, tuple[Mark, Mark]] = {}
            for knode, vnode in n.value:
                key = ctor.construct_object(knode, deep=True)
                kmark = _mark(file, knode.start_mark)
                if not isinstance(key, str):
                    problems.append(
                        Problem(kmark, format_path(path), f"keys must be text, not {key!r}")
                    )
                    continue
                if key in out:
                    first = marks[key][0]
                    problems.append(
                        Problem(
                            kmark,
                            format_path((*path, key)),
                            f"duplicate key '{key}' (first at line {first.line})",
                        )
                    )
                    continue
                out[key] = build(vnode, (*path, key))
                marks[key] = (kmark, _mark(file, vnode.start_mark))
            located.maps[id(out)] = marks
            located.keep.append(out)
            return out
        if isinstance(n, yaml.SequenceNode):
            items = [build(v, (*path, i)) for i, v in enumerate(n.value)]
            located.seqs[id(items)] = [_mark(file, v.start_mark) for v in n.value]
            located.keep.append(items)
            return items
        return ctor.construct_object(n, deep=True)

    located.data = build(node, ())
    if problems:
        raise ConfigError(problems)
    return located
