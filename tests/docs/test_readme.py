"""The README's API tour runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_api_tour_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python example"
    namespace: dict[str, object] = {}  # one tour: later blocks use earlier names
    for code in blocks:
        exec(compile(code, str(README), "exec"), namespace)
