"""Property tests: veritree against the pure-Python RFC 9162 reference on random logs."""

import random

import pytest
import reference
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import REJECTED, Hasher, RefTree, entries, flip

suites = pytest.mark.parametrize("suite", veritree.SUITES)
U64 = 2**64


@st.composite
def trees(draw: st.DrawFn, min_size: int = 0, max_size: int = 300) -> tuple[int, bytes, list[int]]:
    """A log's size, the salt of its entries, and where its appends are cut into calls."""
    n = draw(st.integers(min_size, max_size))
    cuts = draw(st.lists(st.integers(0, n), max_size=6))
    return n, draw(st.binary(max_size=4)), sorted({0, n, *cuts})


def build(suite: str, spec: tuple[int, bytes, list[int]]) -> tuple[veritree.Log, RefTree]:
    """The log, filled piecewise through every way of adding, and its reference tree."""
    n, salt, bounds = spec
    data = entries(n, salt)
    h = Hasher(suite)
    log = veritree.Log(suite)
    for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
        if b - a == 1:
            assert log.append(data[a]) == a
        elif k % 2:
            assert log.extend(data[a:b]) == a
        else:
            assert log.extend_hashes([h.leaf(x) for x in data[a:b]]) == a
    return log, RefTree(suite, [h.leaf(x) for x in data])


def accepted(verify, *args) -> bool:
    try:
        verify(*args)
    except REJECTED:
        return False
    return True


@suites
@given(spec=trees(), seed=st.integers(0, 2**32))
def test_roots_and_proofs_equal_the_reference(suite: str, spec, seed: int) -> None:
    log, tree = build(suite, spec)
    n = len(log)
    assert n == spec[0] and [log.leaf_hash(i) for i in range(n)] == tree.leaves
    for size in range(n + 1):
        assert log.root(size) == tree.root(size), size
    # Every proof in small trees; every proof at a dozen sizes of larger ones.
    sizes = range(n + 1) if n <= 40 else sorted({n, *random.Random(seed).sample(range(n), 12)})
    for size in sizes:
        root = tree.root(size)
        for i in range(size):
            proof = log.inclusion_proof(i, size)
            assert proof == tree.inclusion_proof(i, size), (i, size)
            veritree.verify_inclusion(i, size, tree.leaves[i], proof, root, suite)
        for old in range(size + 1):
            proof = log.consistency_proof(old, size)
            assert proof == tree.consistency_proof(old, size), (old, size)
            veritree.verify_consistency(old, size, tree.root(old), root, proof, suite)
    assert log.consistency_proof(0) == [] and log.root() == tree.root(n)  # default size: the whole log
    if n:
        assert log.inclusion_proof(n - 1) == tree.inclusion_proof(n - 1, n)


def nonzero_deltas(value: int) -> st.SearchStrategy[int]:
    """Deltas d != 0 with value + d a valid u64: small ones, and jumps to anywhere."""
    return st.one_of(st.integers(-min(value, 3), 3), st.integers(-value, U64 - 1 - value)).filter(bool)


@st.composite
def proof_edits(draw: st.DrawFn, proof: list[bytes]) -> list[bytes]:
    """The proof with one node dropped, inserted or duplicated."""
    pos = draw(st.integers(0, len(proof)))
    kind = draw(st.sampled_from(["drop", "insert", "duplicate"] if proof else ["insert"]))
    if kind == "insert":
        node = draw(st.one_of(st.binary(min_size=32, max_size=32), st.sampled_from(proof or [bytes(32)])))
        return proof[:pos] + [node] + proof[pos:]
    pos = min(pos, len(proof) - 1)
    return proof[: pos + 1] + proof[pos:] if kind == "duplicate" else proof[:pos] + proof[pos + 1 :]


@suites
@given(spec=trees(min_size=1), data=st.data())
def test_any_change_to_an_inclusion_claim_is_rejected(suite: str, spec, data: st.DataObject) -> None:
    log, tree = build(suite, spec)
    size = data.draw(st.integers(1, len(log)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = tree.leaves[index], tree.root(size)
    proof = log.inclusion_proof(index, size)
    veritree.verify_inclusion(index, size, leaf, proof, root, suite)

    def rejected(*args) -> None:
        assert not reference.verify_inclusion(Hasher(suite), *args)
        with pytest.raises(veritree.VerificationError):
            veritree.verify_inclusion(*args, suite)

    bit = data.draw(st.integers(0, 255), label="bit")
    rejected(index, size, flip(leaf, bit), proof, root)
    rejected(index, size, leaf, proof, flip(root, bit))
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        rejected(index, size, leaf, proof[:j] + [flip(proof[j], bit)] + proof[j + 1 :], root)
    rejected(index, size, leaf, data.draw(proof_edits(proof), label="edited proof"), root)

    # Another index or size changes the path's shape, which is rejected, unless
    # the shape is the same: RFC 9162 binds the size to the root, not the proof
    # (see test_inclusion_proof_does_not_bind_the_size). The reference decides.
    for claim in [
        (index + data.draw(nonzero_deltas(index), label="index delta"), size),
        (index, size + data.draw(nonzero_deltas(size), label="size delta")),
    ]:
        want = reference.verify_inclusion(Hasher(suite), *claim, leaf, proof, root)
        assert accepted(veritree.verify_inclusion, *claim, leaf, proof, root, suite) == want, claim


@suites
@given(spec=trees(), data=st.data())
def test_any_change_to_a_consistency_claim_is_rejected(suite: str, spec, data: st.DataObject) -> None:
    log, tree = build(suite, spec)
    new = data.draw(st.integers(0, len(log)), label="new")
    old = data.draw(st.integers(0, new), label="old")
    old_root, new_root = tree.root(old), tree.root(new)
    proof = log.consistency_proof(old, new)
    veritree.verify_consistency(old, new, old_root, new_root, proof, suite)

    def rejected(*args) -> None:
        assert not reference.verify_consistency(Hasher(suite), *args)
        with pytest.raises(veritree.VerificationError):
            veritree.verify_consistency(*args, suite)

    bit = data.draw(st.integers(0, 255), label="bit")
    if old > 0 or new == 0:  # from size 0 the roots are not checked (see verify_consistency in reference.py)
        rejected(old, new, flip(old_root, bit), new_root, proof)
        rejected(old, new, old_root, flip(new_root, bit), proof)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="node")
        rejected(old, new, old_root, new_root, proof[:j] + [flip(proof[j], bit)] + proof[j + 1 :])
    rejected(old, new, old_root, new_root, data.draw(proof_edits(proof), label="edited proof"))

    for claim in [
        (old + data.draw(nonzero_deltas(old), label="old delta"), new),
        (old, new + data.draw(nonzero_deltas(new), label="new delta")),
    ]:
        want = reference.verify_consistency(Hasher(suite), *claim, old_root, new_root, proof)
        assert accepted(veritree.verify_consistency, *claim, old_root, new_root, proof, suite) == want, claim


@suites
@given(spec=trees(min_size=1), data=st.data())
def test_batch_proofs(suite: str, spec, data: st.DataObject) -> None:
    log, tree = build(suite, spec)
    size = data.draw(st.integers(1, len(log)), label="size")
    idx = sorted(data.draw(st.sets(st.integers(0, size - 1), min_size=1, max_size=min(size, 40)), label="indices"))
    leaves, root = [tree.leaves[i] for i in idx], tree.root(size)
    proof = log.batch_inclusion_proof(idx, size)
    assert proof == tree.batch_proof(idx, size)
    veritree.verify_batch_inclusion(idx, size, leaves, proof, root, suite)
    assert reference.verify_batch(Hasher(suite), idx, size, leaves, proof, root)

    # Shared path nodes are sent once: every two indices whose paths meet save
    # at least the two nodes below their meeting point.
    singles = sum(len(tree.inclusion_proof(i, size)) for i in idx)
    assert len(proof) // 32 <= singles - 2 * (len(idx) - 1)
    if len(idx) == size:
        assert proof == b""

    def never(indices, leaf_hashes, p, r=root, n=size) -> None:
        assert not reference.verify_batch(Hasher(suite), indices, n, leaf_hashes, p, r)
        with pytest.raises(REJECTED):
            veritree.verify_batch_inclusion(indices, n, leaf_hashes, p, r, suite)

    k = data.draw(st.integers(0, len(idx) - 1), label="which index")
    never(idx[: k + 1] + idx[k:], leaves[: k + 1] + leaves[k:], proof)  # duplicate
    if len(idx) >= 2:
        j = data.draw(st.integers(0, len(idx) - 1).filter(lambda j: j != k), label="other index")
        swapped = list(range(len(idx)))
        swapped[j], swapped[k] = k, j
        never([idx[s] for s in swapped], [leaves[s] for s in swapped], proof)  # unsorted
        never(idx, [leaves[s] for s in swapped], proof)  # leaf hashes for the wrong indices
    never(idx + [size], leaves + [leaves[0]], proof)  # out of range
    never(idx[:-1] + [size + data.draw(st.integers(0, 5), label="past")], leaves, proof)
    bit = data.draw(st.integers(0, 255), label="bit")
    never(idx, leaves[:k] + [flip(leaves[k], bit)] + leaves[k + 1 :], proof)
    never(idx, leaves, proof, flip(root, bit))
    never(idx, leaves[:-1], proof)  # fewer leaf hashes than indices
    if proof:
        never(idx, leaves, flip(proof, data.draw(st.integers(0, 8 * len(proof) - 1), label="proof bit")))
        never(idx, leaves, proof[: -data.draw(st.integers(1, len(proof)), label="cut")])
    never(idx, leaves, proof + data.draw(st.binary(min_size=1, max_size=64), label="padding"))
    never(idx, leaves, data.draw(st.binary(min_size=1, max_size=64), label="prefix") + proof)

    delta = data.draw(nonzero_deltas(size), label="size delta")
    want = reference.verify_batch(Hasher(suite), idx, size + delta, leaves, proof, root)
    assert accepted(veritree.verify_batch_inclusion, idx, size + delta, leaves, proof, root, suite) == want


@settings(max_examples=20)
@suites
@given(spec=trees(min_size=2, max_size=64))
def test_adjacent_indices_share_their_path(suite: str, spec) -> None:
    log, tree = build(suite, spec)
    n = len(log)
    for i in range(n - 1):
        pair = log.batch_inclusion_proof([i, i + 1])
        singles = log.inclusion_proof(i) + log.inclusion_proof(i + 1)
        assert len(pair) < 32 * len(singles)
        veritree.verify_batch_inclusion([i, i + 1], n, tree.leaves[i : i + 2], pair, tree.root(n), suite)


@suites
def test_inclusion_proof_does_not_bind_the_size(suite: str) -> None:
    """RFC 9162 verification accepts a proof for another size whose path has the same shape.

    The proof of leaf 0 in a 3-leaf tree is [h1, h2]; checked as leaf 0 of a
    4-leaf tree it folds to the same root. That claim is only false if the
    (size, root) pair is authenticated together, as a signed tree head does.
    """
    log, tree = build(suite, (4, b"", [0, 4]))
    h = tree.leaves
    proof = log.inclusion_proof(0, 3)
    veritree.verify_inclusion(0, 4, h[0], proof, tree.root(3), suite)
    assert reference.verify_inclusion(Hasher(suite), 0, 4, h[0], proof, tree.root(3))
    with pytest.raises(veritree.VerificationError):
        veritree.verify_inclusion(0, 4, h[0], proof, tree.root(4), suite)
    with pytest.raises(veritree.VerificationError):
        veritree.verify_inclusion(0, 2, h[0], proof, tree.root(3), suite)  # shape differs: rejected


@suites
def test_every_claim_on_a_small_tree_matches_the_reference(suite: str) -> None:
    """Exhaustively: each (index, size) proof checked under every other small claim."""
    log, tree = build(suite, (13, b"x", [0, 13]))
    ref = Hasher(suite)
    seen = {True: 0, False: 0}
    for size in range(1, 14):
        for index in range(size):
            proof, leaf, root = log.inclusion_proof(index, size), tree.leaves[index], tree.root(size)
            for i2 in range(17):
                for s2 in range(17):
                    want = reference.verify_inclusion(ref, i2, s2, leaf, proof, root)
                    assert accepted(veritree.verify_inclusion, i2, s2, leaf, proof, root, suite) == want
                    seen[want] += 1
    assert seen[True] > 13 * 14 // 2 and seen[False] > 10 * seen[True]  # both verdicts exercised
