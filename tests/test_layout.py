"""The house rules of docs/architecture.md, checked on the source: SQL and database drivers only
in observer/store/, and no import circles between observer's modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "observer"
DRIVERS = {"sqlite3", "sqlite_utils", "psycopg", "psycopg_pool", "psycopg2", "asyncpg"}
SQL = re.compile(
    r"\b(select\s+(\*|distinct|count|[\w.]+\s*(,|\s+from\b))|insert\s+into|delete\s+from|"
    r"update\s+\w+\s+set|create\s+(table|index|unique)|alter\s+table|pragma\s+\w+)",
    re.IGNORECASE,
)


def modules() -> dict[str, Path]:
    """observer's modules by dotted name (a package by its own name)."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _in_store(name: str) -> bool:
    return name == "observer.store" or name.startswith("observer.store.")


def _base(name: str, path: Path, level: int, module: str | None) -> str:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for _ in range(level - 1):
        package = package.rsplit(".", 1)[0]
    return f"{package}.{module}" if module else package


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every observer module this one imports, wherever the import stands."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = _base(name, path, node.level, node.module) if node.level else node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    out.add(sub)
                elif base in known:
                    out.add(base)
    out.discard(name)
    return out


def test_only_the_store_speaks_sql_or_imports_a_database_driver() -> None:
    offenders = []
    for name, path in sorted(modules().items()):
        if _in_store(name):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for imported in names:
                    if imported.split(".")[0] in DRIVERS:
                        offenders.append(f"{path.name}:{node.lineno}: imports {imported}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found = SQL.search(node.value)
                if found:
                    offenders.append(f"{path.name}:{node.lineno}: SQL {found.group(0)!r}")
    assert offenders == []


def test_the_sql_check_would_catch_sql() -> None:
    for text in (
        "select * from runs",
        "select probe, count(*) from runs",
        "INSERT INTO beacons (a) values (?)",
        "delete from runs where id = ?",
        "pragma user_version",
    ):
        assert SQL.search(text), text
    for text in ("select option", "page and device select real users' beacons", "Delete it"):
        assert not SQL.search(text), text


def test_no_import_circles() -> None:
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    circles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert circles == []
