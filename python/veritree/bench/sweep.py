"""The runs behind the charts: each charted benchmark measured at several
sizes, a decade or more apart, so that `veritree.bench.plot` draws throughput
against size (the report measures most of them at one or two sizes).

    python -m veritree.bench charts DIR [JSON]   # the default sizes: a few minutes on 2 cores

Every section measures its limit (hashing, VRF) or reference beside itself,
as in the report; the sizes are the keyword arguments of `sweep`.
"""

from __future__ import annotations

import os
import tempfile

from veritree.bench import kt, kt_disk, log
from veritree.bench import map as map_
from veritree.bench.common import Row


def sweep(log_exponents: tuple[int, ...] = (12, 14, 16, 18, 20, 22),
          append_sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
          proof_exponents: tuple[int, ...] = (12, 16, 20),
          durable_entries: int = 1 << 14,
          map_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000),
          map_batches: tuple[int, ...] = (100, 1_000, 10_000, 100_000),
          kt_sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
          kt_batches: tuple[int, ...] = (100, 1_000, 10_000),
          kt_disk_sizes: tuple[int, ...] = (),
          searches: int = 500) -> list[Row]:
    """Measures the log, the prefix tree and the KEYTRANS directory at the given sizes. Map updates and
    the on-disk map go into the largest map; KEYTRANS batches into each directory at least as large.
    The directory on disk (`kt_disk_sizes`) is off by default: for its cold searches `kt_on_disk` drops
    the whole machine's page cache where it may (as root), which disturbs anything else running."""
    rows = log.tree_builds(list(log_exponents), repeat=3)
    for n in append_sizes:
        rows += log.python_appends(n, 100, repeat=2)
    for e in proof_exponents:
        rows += log.proofs(e, min(20_000, 1 << e), min(2_000, 1 << e), repeat=2)
    rows += log.durable_appends(durable_entries, repeat=1)
    rows += map_.map_builds(list(map_sizes), repeat=2)
    largest = max(map_sizes)
    rows += map_.map_updates(largest, [b for b in map_batches if b <= largest], repeat=2)
    for n in map_sizes:
        rows += map_.map_proofs(n, 2_000, repeat=2)
    with tempfile.TemporaryDirectory(prefix="veritree-sweep-") as tmp:
        rows += map_.map_on_disk(largest, [b for b in map_batches if b <= largest], os.path.join(tmp, "map"),
                                 repeat=2)
    for n in kt_sizes:
        rows += kt.kt_directory(n, [b for b in kt_batches if b <= n], searches=searches)
    for n in kt_disk_sizes:
        rows += kt_disk.kt_on_disk(n, searches=searches, http=False)
    return rows
