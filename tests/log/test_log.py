"""Unit behaviour of Log, CompactRange and the module-level hash functions."""

import hashlib
import random
import threading
import time

import numpy as np
import pytest
import veritree
from reference import Hasher, RefTree, entries, flip

N_BIG = 100_003  # above the GIL-release (512), parallel-level (8192) and extend-chunk (65536) thresholds


def as_array(hashes: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(hashes), np.uint8).reshape(len(hashes), 32)


def rows(arr: np.ndarray) -> list[bytes]:
    assert arr.dtype == np.uint8 and arr.ndim == 2 and arr.shape[1] == 32
    return [r.tobytes() for r in arr]


def right_edge(tree: RefTree, size: int) -> list[bytes]:
    """Compact range of [0, size): one complete subtree per set bit of size, largest first."""
    out, begin = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            out.append(tree.mth(begin, begin + (1 << level)))
            begin += 1 << level
    return out


def test_every_way_of_adding_returns_the_first_index(suite: str) -> None:
    h = Hasher(suite)
    data = entries(40)
    log = veritree.Log(suite)
    assert (log.suite, log.size, len(log)) == (suite, 0, 0)
    assert log.append(data[0]) == 0
    assert log.extend(data[1:4]) == 1
    assert log.extend([]) == 4
    flat = data[4:9]
    offsets = np.cumsum([0] + [len(e) for e in flat], dtype=np.uint64)
    assert log.extend_flat(b"".join(flat), offsets) == 4
    assert log.extend_flat(bytearray(b"".join(data[9:11])), [0, len(data[9]), len(data[9]) + len(data[10])]) == 9
    assert log.append_hash(h.leaf(data[11])) == 11
    assert log.extend_hashes(as_array([h.leaf(e) for e in data[12:30]])) == 12
    assert log.extend_hashes([h.leaf(e) for e in data[30:39]]) == 30
    assert log.append(memoryview(data[39])) == 39
    assert len(log) == log.size == 40

    tree = RefTree(suite, [h.leaf(e) for e in data])
    assert [log.leaf_hash(i) for i in range(40)] == tree.leaves
    assert rows(log.leaf_hashes()) == tree.leaves
    assert rows(log.leaf_hashes(7, 19)) == tree.leaves[7:19]
    assert rows(log.leaf_hashes(40)) == []
    assert log.root() == tree.root(40)
    for size in range(41):
        assert log.root(size) == tree.root(size), size


def test_empty_log(suite: str) -> None:
    log = veritree.Log(suite)
    assert log.root() == log.root(0) == Hasher(suite).empty
    assert veritree.merkle_root([], suite) == log.root()
    assert log.consistency_proof(0) == []
    assert log.leaf_hashes().shape == (0, 32)
    assert log.compact_range().hashes == [] and log.compact_range().root() == log.root()


def test_suites_differ() -> None:
    roots = set()
    for suite in veritree.SUITES:
        log = veritree.Log(suite)
        log.extend(entries(3))
        roots.add(log.root())
    assert len(roots) == len(veritree.SUITES) == 2


def test_sha256_suite_is_rfc6962() -> None:
    assert Hasher("rfc6962-sha256").empty == hashlib.sha256(b"").digest()
    assert veritree.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert veritree.node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    assert veritree.Log().suite == "rfc6962-sha256"


def test_module_hash_functions(suite: str) -> None:
    h = Hasher(suite)
    data = entries(9) + [b""]
    leaves = [h.leaf(e) for e in data]
    assert rows(veritree.leaf_hashes(data, suite)) == leaves
    assert rows(veritree.leaf_hashes(iter(data), suite)) == leaves  # any iterable
    assert veritree.leaf_hashes([], suite).shape == (0, 32)
    assert veritree.leaf_hash(bytearray(data[3]), suite) == leaves[3]
    assert veritree.node_hash(leaves[0], leaves[1], suite) != veritree.node_hash(leaves[1], leaves[0], suite)
    parents = veritree.hash_children(as_array(leaves), suite)
    assert rows(parents) == [h.node(leaves[i], leaves[i + 1]) for i in range(0, 10, 2)]
    assert rows(veritree.hash_children(leaves[:4], suite)) == rows(parents)[:2]
    for n in range(len(leaves) + 1):
        assert veritree.merkle_root(as_array(leaves[:n]), suite) == RefTree(suite, leaves[:n]).root(n)


def test_compact_range_of_every_size(suite: str) -> None:
    h = Hasher(suite)
    leaves = [h.leaf(e) for e in entries(70)]
    log = veritree.Log(suite)
    log.extend_hashes(as_array(leaves))
    tree = RefTree(suite, leaves)
    for size in range(71):
        cr = log.compact_range(size)
        assert (cr.suite, cr.size) == (suite, size)
        assert cr.hashes == right_edge(tree, size)
        assert cr.root() == tree.root(size)
        rebuilt = veritree.CompactRange(suite, size, cr.hashes)
        assert rebuilt == cr and rebuilt.root() == cr.root()
        assert veritree.CompactRange(suite, size, as_array(cr.hashes)) == cr
    assert log.compact_range() == log.compact_range(70)


def test_compact_range_extends_like_the_log(suite: str) -> None:
    h = Hasher(suite)
    leaves = [h.leaf(e) for e in entries(300)]
    log = veritree.Log(suite)
    log.extend_hashes(as_array(leaves))
    cr = veritree.CompactRange(suite)
    assert (cr.size, cr.hashes, cr.root()) == (0, [], log.root(0))
    pos = 0
    for step in [1, 1, 2, 5, 0, 13, 64, 100, 3, 1, 110]:  # unaligned and aligned steps, sums to 300
        if step == 1:
            cr.append(leaves[pos])
        else:
            cr.extend_hashes(as_array(leaves[pos : pos + step]))
        pos += step
        assert cr == log.compact_range(pos) and cr.root() == log.root(pos)
    assert pos == 300
    # A range rebuilt from a log's parts continues like the log.
    cont = veritree.CompactRange(suite, 77, log.compact_range(77).hashes)
    cont.extend_hashes(leaves[77:])
    assert cont == cr


def test_compact_range_copy_and_equality(suite: str) -> None:
    h = Hasher(suite)
    cr = veritree.CompactRange(suite)
    cr.extend_hashes([h.leaf(e) for e in entries(5)])
    twin = cr.copy()
    assert twin == cr and twin is not cr
    twin.append(h.leaf(b"more"))
    assert twin != cr and (cr.size, twin.size) == (5, 6)
    assert len(cr.hashes) == 2 and len(twin.hashes) == 2  # 5 = 0b101, 6 = 0b110
    other_suite = next(s for s in veritree.SUITES if s != suite)
    assert veritree.CompactRange(other_suite) != veritree.CompactRange(suite)
    assert veritree.CompactRange(suite, 1, [cr.hashes[1]]) != veritree.CompactRange(suite, 1, [cr.hashes[0]])
    assert cr != "not a range"
    assert "size=5" in repr(cr) and suite in repr(cr)


def test_inclusion_proofs_array_form(suite: str) -> None:
    h = Hasher(suite)
    log = veritree.Log(suite)
    log.extend(entries(37))
    tree = RefTree(suite, [h.leaf(e) for e in entries(37)])
    idx = [0, 36, 5, 5, 17]  # any order, repeats allowed
    for size in (None, 37, 18):
        n = 37 if size is None else size
        nodes, offsets = log.inclusion_proofs([i for i in idx if i < n], size)
        assert offsets.dtype == np.uint64 and offsets[0] == 0 and offsets[-1] == len(nodes)
        got = [rows(nodes[offsets[j] : offsets[j + 1]]) for j in range(len(offsets) - 1)]
        assert got == [tree.inclusion_proof(i, n) for i in idx if i < n]
    nodes, offsets = log.inclusion_proofs(np.array([], np.uint64))
    assert nodes.shape == (0, 32) and list(offsets) == [0]


def test_verify_inclusions_flags_exactly_the_tampered(suite: str) -> None:
    log = veritree.Log(suite)
    log.extend(entries(1000))
    rng = random.Random(7)
    size = 999
    idx = np.array([rng.randrange(size) for _ in range(300)], np.uint64)
    leaves = log.leaf_hashes()[idx]
    nodes, offsets = log.inclusion_proofs(idx, size)
    root = log.root(size)
    assert veritree.verify_inclusions(idx, size, leaves, nodes, offsets, root, suite).tolist() == [True] * 300

    bad_leaf, bad_node, bad_index = 3, 150, 299
    leaves = leaves.copy()
    leaves[bad_leaf, 0] ^= 1
    nodes = nodes.copy()
    nodes[offsets[bad_node] + 2, 31] ^= 0x80  # every proof in a 999-leaf tree has >= 3 nodes
    idx = idx.copy()
    idx[bad_index] = size  # past the tree
    want = [i not in (bad_leaf, bad_node, bad_index) for i in range(300)]
    got = veritree.verify_inclusions(idx, size, leaves, nodes, offsets, root, suite)
    assert got.dtype == np.bool_ and got.tolist() == want
    # Sequence forms give the same verdicts; another root fails them all.
    got = veritree.verify_inclusions(idx.tolist(), size, rows(leaves), rows(nodes), offsets.tolist(), root, suite)
    assert got.tolist() == want
    assert not veritree.verify_inclusions(idx, size, leaves, nodes, offsets, log.root(), suite).any()


def test_large_batches_agree_with_small_ones(suite: str) -> None:
    """Calls past the GIL-release and parallel thresholds agree with one-at-a-time calls."""
    h = Hasher(suite)
    data = [i.to_bytes(8, "little") for i in range(N_BIG)]
    offsets = np.arange(0, 8 * N_BIG + 1, 8, dtype=np.uint64)
    big = veritree.Log(suite)
    assert big.extend_flat(b"".join(data), offsets) == 0
    hashes = big.leaf_hashes()
    sample = sorted({0, 1, 511, 512, 65535, 65536, N_BIG - 1} | set(random.Random(1).sample(range(N_BIG), 50)))
    assert [hashes[i].tobytes() for i in sample] == [h.leaf(data[i]) for i in sample]
    assert np.array_equal(veritree.leaf_hashes(data, suite), hashes)

    small = veritree.Log(suite)
    for row in rows(hashes):
        small.append_hash(row)
    by_array = veritree.Log(suite)
    by_array.extend_hashes(hashes)
    for size in sorted({1, 2, 8191, 8192, 16385, 65536, 65537, 99_999, N_BIG} | set(sample)):
        assert big.root(size) == small.root(size) == by_array.root(size), size
    assert veritree.merkle_root(hashes, suite) == big.root()

    cr = veritree.CompactRange(suite, 3, big.compact_range(3).hashes)  # unaligned start
    cr.extend_hashes(hashes[3:])
    assert cr == big.compact_range() == small.compact_range()

    pairs = hashes[: 2 * 20_000]
    parents = veritree.hash_children(pairs, suite)
    assert parents.shape == (20_000, 32)
    assert [parents[i].tobytes() for i in sample if i < 20_000] == [
        h.node(pairs[2 * i].tobytes(), pairs[2 * i + 1].tobytes()) for i in sample if i < 20_000
    ]

    idx = np.arange(N_BIG, dtype=np.uint64)
    nodes, offs = big.inclusion_proofs(idx)
    for i in sample:
        assert rows(nodes[offs[i] : offs[i + 1]]) == small.inclusion_proof(i)
    tampered = sample[::7]
    bad = hashes.copy()
    bad[tampered, 5] ^= 0xFF
    verdicts = veritree.verify_inclusions(idx, N_BIG, bad, nodes, offs, big.root(), suite)
    assert np.flatnonzero(~verdicts).tolist() == tampered


def test_large_batch_proofs(suite: str) -> None:
    """Batches big enough for parallel verification (hundreds of indices on each side of a split)."""
    n = 20_000
    log = veritree.Log(suite)
    log.extend(entries(n))
    tree = RefTree(suite, rows(log.leaf_hashes()))
    rng = random.Random(5)
    idx = sorted(set(rng.sample(range(n), 2500)) | set(range(9000, 10500)))  # sparse and dense parts
    leaves, root = [tree.leaves[i] for i in idx], log.root()
    proof = log.batch_inclusion_proof(np.array(idx, np.uint64))
    assert proof == tree.batch_proof(idx, n)
    veritree.verify_batch_inclusion(idx, n, as_array(leaves), proof, root, suite)
    nodes = len(proof) // 32
    for j in (0, nodes // 3, nodes - 1):
        with pytest.raises(veritree.VerificationError):
            veritree.verify_batch_inclusion(idx, n, leaves, flip(proof, 8 * 32 * j + 5), root, suite)
    for k in (0, len(idx) // 2, len(idx) - 1):
        bad = leaves[:k] + [flip(leaves[k], 0)] + leaves[k + 1 :]
        with pytest.raises(veritree.VerificationError):
            veritree.verify_batch_inclusion(idx, n, bad, proof, root, suite)
    for cut in (proof[:-32], proof + proof[:32], proof[32:], proof[:-1]):
        with pytest.raises(veritree.VerificationError):
            veritree.verify_batch_inclusion(idx, n, leaves, cut, root, suite)


def test_readers_see_consistent_proofs_while_a_writer_extends(suite: str) -> None:
    hashes = veritree.leaf_hashes(entries(60_000), suite)
    final = veritree.Log(suite)
    final.extend_hashes(hashes)
    log = veritree.Log(suite)
    errors: list[BaseException] = []
    seen: list[set[int]] = [set(), set()]
    done = threading.Event()

    def writer() -> None:
        try:
            for start in range(0, 60_000, 1000):
                log.extend_hashes(hashes[start : start + 990])  # releases the GIL
                for row in hashes[start + 990 : start + 1000]:
                    log.append_hash(row.tobytes())
                # Let every reader finish a pass before the next chunk, so each sees many sizes.
                before = [len(s) for s in seen]
                deadline = time.monotonic() + 5
                while any(len(s) == b for s, b in zip(seen, before)) and time.monotonic() < deadline and not errors:
                    time.sleep(0.0002)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    def reader(k: int) -> None:
        rng = random.Random(k)
        old = 0
        try:
            while not done.is_set():
                size = len(log)
                root = log.root(size)
                assert root == final.root(size)
                if size:
                    i = rng.randrange(size)
                    veritree.verify_inclusion(i, size, hashes[i], log.inclusion_proof(i, size), root, suite)
                    both = [i, size - 1]
                    nodes, offs = log.inclusion_proofs(both, size)
                    assert veritree.verify_inclusions(both, size, hashes[both], nodes, offs, root, suite).all()
                veritree.verify_consistency(old, size, final.root(old), root, log.consistency_proof(old, size), suite)
                old = size
                seen[k].add(size)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors, errors
    assert len(log) == 60_000 and log.root() == final.root()
    assert all(len(s) >= 30 for s in seen), [len(s) for s in seen]
