"""Every Python block of the README and the docs runs on its own, as a reader copies it: each in a fresh
interpreter (`sys.executable`), in an empty temporary working directory, with nothing from the blocks
before it. A block that cannot run standalone by nature (it needs a running PostgreSQL, say) is marked
in the markdown, on the line right before its fence, with `<!-- not run: the reason -->`; it is
only compiled, and skipped with that reason. Shell blocks are not run."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py", "python3"}
NOT_RUN = re.compile(r"^\s*<!--\s*not run:\s*(?P<reason>.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
#: Far above what any block should take (a few seconds): only a hung block reaches it.
TIMEOUT_S = 120


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    index: int  # among the page's Python blocks, from 0
    line: int  # of the opening fence, from 1
    code: str
    not_run: str | None  # the mark's reason, if marked

    @property
    def id(self) -> str:
        return f"{self.page}:block{self.index}:line{self.line}"


def python_blocks(page: Path) -> list[Block]:
    """The fenced Python blocks of `page`, each with the not-run mark right before its fence, if any."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].lower()
        end = i + 1
        closing = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if info in PYTHON:
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1:end]]
            mark = NOT_RUN.match(lines[i - 1]) if i > 0 else None
            blocks.append(Block(str(page.relative_to(ROOT)), len(blocks), i + 1, "\n".join(body) + "\n",
                                mark["reason"] if mark else None))
        i = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


def test_the_pages_have_python_blocks() -> None:
    assert any(b.page == "README.md" for b in BLOCKS), "the README has no Python block"
    assert any(b.page.startswith("docs/") for b in BLOCKS), "the docs have no Python block"


def test_every_not_run_mark_is_on_a_python_block() -> None:
    """A mark that stands anywhere but right before a Python fence (a typo, a moved block) marks nothing."""
    marked = {(b.page, b.line - 1) for b in BLOCKS if b.not_run is not None}
    stray = []
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if NOT_RUN.match(line) and (str(page.relative_to(ROOT)), number) not in marked:
                stray.append(f"{page.relative_to(ROOT)}:{number}")
    assert not stray, f"not-run marks not right before a Python fence: {stray}"
    for b in BLOCKS:
        assert b.not_run is None or b.not_run, f"{b.id}: a not-run mark must say why"


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in BLOCKS])
def test_block_runs_on_its_own(block: Block, tmp_path: Path) -> None:
    if block.not_run is not None:
        compile(block.code, block.id, "exec")  # not run, but at least Python
        pytest.skip(f"{block.page} line {block.line}: not run: {block.not_run}")
    # Padded so that a traceback's line numbers are the page's, and named after the page.
    script = tmp_path / (block.page.replace("/", "_") + ".py")
    script.write_text("\n" * block.line + block.code)
    work = tmp_path / "work"
    work.mkdir()
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{block.page} line {block.line}: still running after {TIMEOUT_S} s\n{e.stderr or ''}",
                    pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{block.page}, the block at line {block.line}: exit status {done.returncode} after "
                    f"{time.monotonic() - start:.1f} s (traceback lines are the page's)\n"
                    f"--- stderr ---\n{done.stderr}", pytrace=False)
