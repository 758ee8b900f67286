"""The prefix-tree benchmark's bookkeeping: its node count (the numerator of
every build ratio) against the tree's definition, and its rows at tiny sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from veritree.bench import map as bench_map


def defined_nodes(keys: list[bytes]) -> int:
    """Nodes of the KEYTRANS prefix tree over `keys`, straight from the
    definition: a set of one key is a leaf, of more a parent over its halves."""

    def bit(k: bytes, i: int) -> int:
        return (k[i // 8] >> (7 - i % 8)) & 1

    def count(ks: list[bytes], depth: int) -> int:
        if len(ks) <= 1:
            return len(ks)
        left = [k for k in ks if not bit(k, depth)]
        right = [k for k in ks if bit(k, depth)]
        return 1 + count(left, depth + 1) + count(right, depth + 1)

    return count(sorted(keys), 0)


def test_node_count_matches_the_definition() -> None:
    for n, seed in [(1, 1), (2, 2), (3, 3), (1000, 4), (5000, 5)]:
        keys = bench_map.random_keys(n, seed)
        assert bench_map.node_hashes(keys) == defined_nodes([bytes(k) for k in keys])
    # Keys sharing long prefixes: single-child chains counted too.
    keys = bench_map.random_keys(300, 6)
    keys[:, :5] = 0
    assert bench_map.node_hashes(keys) == defined_nodes([bytes(k) for k in keys])


def test_rows_at_tiny_sizes(tmp_path: Path) -> None:
    rows = bench_map.map_builds([3000], repeat=1)
    assert [r.section for r in rows] == ["prefix tree build, keytrans-sha256", "prefix tree build, blake3"]
    for r in rows:
        assert r.rate > 0 and r.ratio is not None and 0 < r.ratio < 1.5
        assert r.extra["node_hashes"] == bench_map.node_hashes(bench_map.random_keys(3000, 11))
        assert 64 <= r.extra["memory_bytes_per_key"] < 1000 and r.extra["first_touch_seconds"] > 0
    disk = bench_map.map_on_disk(4000, [100], str(tmp_path / "map"), repeat=1)
    assert disk[0].case == "build 4,000 random keys in one batch, durable"
    assert disk[0].extra["disk_bytes_per_key"] > 64 and disk[0].extra["node_hashes"] > 4000
    assert disk[1].case == "durable batch of 100 updates (half new keys)" and disk[1].rate > 0
    assert np.isfinite(disk[0].rate)
