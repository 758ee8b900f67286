"""`veritree demo` tells its story against a real local server: the honest
steps raise no alert and both attacks are detected."""

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
