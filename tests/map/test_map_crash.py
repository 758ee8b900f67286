"""SIGKILL an on-disk map's writer at 60 random moments: every version whose
update returned survives whole, and nothing half-made is ever visible.
The longer run: python tests/support/map_crash_harness.py stress DIR 1000"""

from pathlib import Path

from map_crash_harness import run


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    results = run(tmp_path / "map", kills=60, seed=11)
    versions = [r for _, r in results]
    assert versions == sorted(versions), "the map never goes back a version across crashes"
    assert versions[-1] > 20, "the writers made progress"
