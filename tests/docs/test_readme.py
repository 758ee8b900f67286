"""The README's test command is the one CI runs (its Python blocks run in tests/test_docs_blocks.py)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("pip install '.[test]'")]
    assert len(commands) == 1, "the README shows one test command"
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert commands[0] in ci, "the README's test command is what .ci/run runs"
