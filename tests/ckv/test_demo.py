"""`veritree demo` tells its story against a real local server: the honest
steps raise no alert and both attacks are detected."""

from pathlib import Path

import pytest
from veritree import cli


def test_the_demo_detects_both_attacks_and_nothing_else(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "they match" in out
    assert out.count("ALERT unsigned-device") == 2  # bob's lookup and alice's own monitoring
    assert "ALERT split-view" in out
    honest = out.split("== 5.")[0]
    assert "ALERT" not in honest
    assert "a temporary folder, removed at the end" in out


def test_the_demo_runs_again_on_the_same_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in (1, 2):
        assert cli.main(["demo", "--data", str(tmp_path)]) == 0
        assert f"log on disk in {tmp_path / f'run-{n}'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-1", "run-2"]
