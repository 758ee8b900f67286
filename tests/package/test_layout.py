"""The Python package's layout: its modules import one another without a
cycle, so each can be read (and loaded) after the ones it builds on."""

from __future__ import annotations

import ast
from pathlib import Path

from graphs import cycle

PACKAGE = Path(__file__).resolve().parents[2] / "python" / "veritree"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the package's modules it imports anywhere in its text (at the top, in
    a function, under TYPE_CHECKING), by the name its statement names: `from a import b` is a.b where a.b is
    a module, else a. A package's __init__ is not counted as imported by its modules' own names."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def test_the_graph_sees_imports_of_every_kind() -> None:
    graph = import_graph()
    assert "veritree.bench.common" in graph["veritree.bench.log"]  # from a.b import c (a name)
    assert "veritree.bench.ckv" in graph["veritree.bench.report"]  # from a.b import c (a module)
    assert "veritree.ckv.http" in graph["veritree.ckv"]  # under TYPE_CHECKING, and in a function
    assert "veritree.bench" in graph["veritree.cli"]  # in a function
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_python_package_has_no_import_cycles() -> None:
    found = cycle(import_graph())
    assert found is None, "import cycle: " + " -> ".join(found or [])
