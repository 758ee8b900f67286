"""Times the three operations a restructuring must not slow down — a log
build, a map update batch, KEYTRANS search responses — with whichever
veritree is importable, using only API both old and new versions have. Run
it alternately against two builds to compare them in the same session:

    python benches/versions.py                         # this checkout's build
    PYTHONPATH=/path/to/old/wheel/unpacked python benches/versions.py

Prints one JSON object: best-of-5 seconds per operation.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import numpy as np

import veritree


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def log_build(n: int = 1 << 22) -> float:
    """Builds a log over n precomputed leaf hashes (the tree, not the leaf hashing)."""
    hashes = np.frombuffer(os.urandom(32 * n), dtype=np.uint8).reshape(n, 32)
    return best(lambda: veritree.Log().extend_hashes(hashes))


def map_update(size: int = 1_000_000, batch: int = 100_000) -> float:
    """One update batch (half replacements, half inserts) on a map of `size` keys."""
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 256, (size + batch // 2, 32), dtype=np.uint8)
    base = veritree.Map()
    base.update(keys[:size], keys[:size])
    changes = np.concatenate([keys[: batch // 2], keys[size:]])
    values = np.full((batch, 32), 9, dtype=np.uint8)
    times = []
    for _ in range(5):
        m = veritree.Map()
        m.update(keys[:size], keys[:size])
        t = time.perf_counter()
        m.update(changes, values)
        times.append(time.perf_counter() - t)
    return min(times)


def kt_search(labels: int = 20_000, searches: int = 2_000) -> float:
    """Serving `searches` first-contact search requests from a directory of `labels` labels in 100 entries."""
    d = veritree.KtDirectory(bytes(range(32)), bytes(range(32, 64)))
    now = 1_700_000_000_000
    for entry in range(100):
        for i in range(entry * labels // 100, (entry + 1) * labels // 100):
            d.stage(b"user%d" % i, b"value")
        d.publish(now + entry)
    requests = [veritree.KtClient(d.config).search_request(b"user%d" % (i * 7 % labels)) for i in range(searches)]
    return best(lambda: [d.search(r) for r in requests])


if __name__ == "__main__":
    print(json.dumps({"veritree": os.path.dirname(veritree.__file__), "log_build_s": log_build(),
                      "map_update_batch_s": map_update(), "kt_search_s": kt_search()}))
