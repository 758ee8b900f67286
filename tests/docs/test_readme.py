"""The README: its API tour runs as written, and its test command is the one CI runs."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_api_tour_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict[str, object] = {}  # one tour: later blocks use earlier names
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("pip install '.[test]'")]
    assert len(commands) == 1, "the README shows one test command"
    ci = (README.parent / ".ci" / "run").read_text().splitlines()
    assert commands[0] in ci, "the README's test command is what .ci/run runs"
