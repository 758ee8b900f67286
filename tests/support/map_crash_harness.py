"""Kill an on-disk map's writer at random moments and check what survives.

The writer (run as `python map_crash_harness.py writer DIR`) makes version
after version forever: inserts, value replacements and removals derived from
the version number alone, and a prune every few versions. It prints each
version once its call has returned. The parent SIGKILLs it at a random
moment, reopens the map and checks the contract: every version whose update
returned is there, at most the one in flight beyond it, and every retained
version holds exactly what an in-memory map given the same batches holds.
The next writer resumes from what it finds, so a map that reopened but
could not be written would fail the following check.
"""

from __future__ import annotations

import hashlib
import random
import sys
from pathlib import Path

import numpy  # noqa: F401  (imported up front: the first update would otherwise import it)
import veritree
from crash_harness import last_acknowledged


def key(version: int, j: int) -> bytes:
    return hashlib.sha256(b"%d %d" % (version, j)).digest()


def inserted(version: int) -> list[bytes]:
    """The new keys version `version` inserts (none for a removal version)."""
    if version % 5 == 0:
        return []
    n = random.Random(version).choice([1, 3, 50, 300, 3000])
    return [key(version, j) for j in range(n)]


def apply(m: veritree.Map, version: int) -> int:
    """Makes `version` (the next one) on `m`."""
    previous = inserted(version - 1)
    if version % 5 == 0:
        return m.remove(previous[:3])
    # Replace the values of a few keys the previous version inserted.
    keys = inserted(version) + previous[:2]
    values = [key(-version, j) for j in range(len(keys))]
    return m.update(keys, values)


def writer(directory: str) -> None:
    with veritree.Map.open(directory, create=True) as m:
        print("ready", m.version, flush=True)
        while True:
            # Prune as of the last multiple of 7 (again after a restart: a
            # crash may have come between that version and its prune).
            if m.version >= 7:
                m.prune(m.version // 7 * 7 - 2)
            v = apply(m, m.version + 1)
            print(v, flush=True)


class Model:
    """An in-memory map given the same batches, version by version."""

    def __init__(self) -> None:
        self.map = veritree.Map()

    def at(self, version: int) -> veritree.Map:
        while self.map.version < version:
            apply(self.map, self.map.version + 1)
        return self.map


def check(directory: Path, model: Model, acknowledged: int) -> int:
    with veritree.Map.open(directory) as m:
        v = m.version
        assert acknowledged <= v <= acknowledged + 1, f"{acknowledged} acknowledged, {v} on disk"
        expected = model.at(v)
        # Version a was made after the prune as of version a - 1 returned.
        w = (acknowledged - 1) // 7 * 7
        assert m.oldest_version >= max(0, w - 2), "a durable prune was lost"
        probe = inserted(v) + (inserted(v - 1) if v else []) + [key(-7, 12345)]
        for u in range(m.oldest_version, v + 1):
            assert m.root(u) == expected.root(u), f"version {u} differs from the model"
            assert m.count(u) == expected.count(u)
        assert m.prove(probe[:255]) == expected.prove(probe[:255])
    return v


def kill_once(directory: Path, model: Model, rng: random.Random) -> tuple[int, int]:
    acknowledged = last_acknowledged([__file__, "writer", str(directory)], rng, 0.1)
    return acknowledged, check(directory, model, acknowledged)


def run(directory: Path, kills: int, seed: int) -> list[tuple[int, int]]:
    """Kills `kills` writers in turn; each resumes from what the last one left."""
    rng = random.Random(seed)
    model = Model()
    return [kill_once(directory, model, rng) for _ in range(kills)]


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        writer(sys.argv[2])
    else:  # stress: python map_crash_harness.py stress DIR KILLS [SEED]
        results = run(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
        ahead = sum(r > a for a, r in results)
        print(f"{len(results)} kills: every acknowledged version survived whole; "
              f"{ahead} times the map held a version whose update had not returned; final version {results[-1][1]}")
