"""The Rust crates' layout: within each crate, modules (one per file) refer to
one another without a cycle, so that each layer reads after the ones it
builds on. Across crates Cargo already forbids cycles: the binding uses
veritree-core, which builds on veritree-verify."""

from __future__ import annotations

import re
from pathlib import Path

from graphs import cycle

ROOT = Path(__file__).resolve().parents[2]
CRATES = {"veritree-verify": ROOT / "rust/verify/src", "veritree-core": ROOT / "rust/core/src",
          "veritree-python": ROOT / "rust/python/src"}
PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")
COMMENT = re.compile(r"//.*")
#: An inline test module runs to the end of its file (the house style).
INLINE_TESTS = re.compile(r"^#\[cfg\(test\)\]\s*\nmod tests \{", re.M)


def module_of(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("lib", "mod"):
        parts.pop()
    return "::".join(parts)


def module_graph(src: Path) -> dict[str, set[str]]:
    """Each file module of a crate, and the file modules of the same crate its
    non-test code names through `crate::` or `super::` paths (the root module,
    which re-exports everything, is left out)."""
    files = {module_of(src, p): p for p in src.rglob("*.rs")}
    tests = {m for m, p in files.items() if p.stem == "tests" or p.stem.endswith("_tests")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        if name in tests or not name:
            continue
        text = path.read_text()
        if (m := INLINE_TESTS.search(text)) is not None:
            text = text[: m.start()]
        text = COMMENT.sub("", text)  # a doc link is not a dependency
        parent = name.split("::")[:-1]
        targets: set[str] = set()
        for anchor, rest in PATH.findall(text):
            base = [] if anchor == "crate" else list(parent)
            segments = base + rest.strip(":").split("::")
            while segments and "::".join(segments) not in files:
                segments.pop()
            target = "::".join(segments)
            if target and target != name and target not in tests:
                targets.add(target)
        graph[name] = targets
    return graph


def test_the_graph_sees_references() -> None:
    core = module_graph(CRATES["veritree-core"])
    assert "tiles::reader" in core["tiles::log"]  # super::reader
    assert "storage::records" in core["kt::journal"]  # crate::storage::records
    verify = module_graph(CRATES["veritree-verify"])
    assert "notes::note" in verify["notes::checkpoint"]


def test_no_crate_has_a_module_cycle() -> None:
    for crate, src in CRATES.items():
        found = cycle(module_graph(src))
        assert found is None, f"{crate}: module cycle " + " -> ".join(found or [])
