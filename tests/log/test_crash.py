"""SIGKILL a durable-log writer at 100 random moments; every entry whose
extend returned must survive and the log must reopen consistent.
The longer run: python tests/support/crash_harness.py stress DIR 2000"""

from pathlib import Path

from crash_harness import run


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    results = run(tmp_path / "log", kills=100, seed=7)
    sizes = [r for _, r in results]
    assert sizes == sorted(sizes), "the log never shrinks across crashes"
    assert sizes[-1] > 0, "the writers made progress"
