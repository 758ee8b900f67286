"""A small pure-Python RFC 9162 reference, written from the RFC's recursive definitions.

Proofs are built with MTH, PATH and SUBPROOF (RFC 9162 §2.1.1, §2.1.3.1,
§2.1.4.1) and checked by running the same recursions backwards: a proof is
accepted when substituting its nodes, in order, for the hashes the recursion
would have emitted gives back the claimed roots. Nothing here mirrors the Rust
bit-twiddling.

SHA-256 is computed with hashlib. There is no pure-Python BLAKE3 here, so for
"blake3" the two primitives (leaf and node hash) come from veritree, and the
empty root is taken from an empty veritree.Log; the tree recursion stays ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache

import pytest
import veritree


def split(n: int) -> int:
    """RFC 9162's k: the largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Hasher:
    def __init__(self, suite: str) -> None:
        self.suite = suite
        if suite == "rfc6962-sha256":
            self.empty = hashlib.sha256(b"").digest()
        else:
            self.empty = veritree.Log(suite).root()

    def leaf(self, data: bytes) -> bytes:
        if self.suite == "rfc6962-sha256":
            return hashlib.sha256(b"\x00" + data).digest()
        return veritree.leaf_hash(data, self.suite)

    def node(self, left: bytes, right: bytes) -> bytes:
        if self.suite == "rfc6962-sha256":
            return hashlib.sha256(b"\x01" + left + right).digest()
        return veritree.node_hash(left, right, self.suite)


class RefTree:
    """The RFC 9162 tree over a list of leaf hashes D[0:n]."""

    def __init__(self, suite: str, leaves: Sequence[bytes]) -> None:
        self.h = Hasher(suite)
        self.leaves = list(leaves)
        self.mth = cache(self._mth)  # MTH(D[lo:hi]), memoised per tree

    def _mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return self.h.empty
        if n == 1:
            return self.leaves[lo]
        k = split(n)
        return self.h.node(self.mth(lo, lo + k), self.mth(lo + k, hi))

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def _path(self, m: int, lo: int, hi: int) -> list[bytes]:
        """PATH(m, D[lo:hi])."""
        if hi - lo == 1:
            return []
        k = split(hi - lo)
        if m < k:
            return self._path(m, lo, lo + k) + [self.mth(lo + k, hi)]
        return self._path(m - k, lo + k, hi) + [self.mth(lo, lo + k)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        assert 0 <= index < size <= len(self.leaves)
        return self._path(index, 0, size)

    def _subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[lo:hi], b)."""
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = split(n)
        if m <= k:
            return self._subproof(m, lo, lo + k, b) + [self.mth(lo + k, hi)]
        return self._subproof(m - k, lo + k, hi, False) + [self.mth(lo, lo + k)]

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """PROOF(old, D[new]); empty when old is 0 (nothing to prove) or old == new."""
        assert 0 <= old <= new <= len(self.leaves)
        return [] if old == 0 else self._subproof(old, 0, new, True)

    def _batch(self, indices: list[int], lo: int, hi: int) -> list[bytes]:
        if not indices:
            return [self.mth(lo, hi)]
        if hi - lo == 1:
            return []
        mid = lo + split(hi - lo)
        return self._batch([i for i in indices if i < mid], lo, mid) + self._batch(
            [i for i in indices if i >= mid], mid, hi
        )

    def batch_proof(self, indices: Sequence[int], size: int) -> bytes:
        """Every maximal subtree containing none of `indices`, depth-first left to right."""
        assert list(indices) == sorted(set(indices)) and indices and indices[-1] < size
        return b"".join(self._batch(list(indices), 0, size))


# Verification: run the recursions above with proof nodes in place of the hashes they emit.


class _Short(Exception):
    """The proof ran out of nodes."""


def _take(nodes: Iterator[bytes]) -> bytes:
    node = next(nodes, None)
    if node is None:
        raise _Short
    return node


def _consumed(nodes: Iterator[bytes]) -> bool:
    return next(nodes, None) is None


def verify_inclusion(h: Hasher, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    def fold(m: int, n: int, nodes: Iterator[bytes]) -> bytes:  # inverse of PATH(m, D[n])
        if n == 1:
            return leaf
        k = split(n)
        if m < k:
            below = fold(m, k, nodes)
            return h.node(below, _take(nodes))
        below = fold(m - k, n - k, nodes)
        return h.node(_take(nodes), below)

    if not 0 <= index < size:
        return False
    nodes = iter(proof)
    try:
        got = fold(index, size, nodes)
    except _Short:
        return False
    return _consumed(nodes) and got == root


def verify_consistency(h: Hasher, old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    def fold(m: int, n: int, b: bool, nodes: Iterator[bytes]) -> tuple[bytes, bytes]:
        """Inverse of SUBPROOF(m, D[n], b): (MTH(D[0:m]), MTH(D[0:n])) of that subtree."""
        if m == n:
            r = old_root if b else _take(nodes)
            return r, r
        k = split(n)
        if m <= k:
            o, w = fold(m, k, b, nodes)
            return o, h.node(w, _take(nodes))
        o, w = fold(m - k, n - k, False, nodes)
        left = _take(nodes)
        return h.node(left, o), h.node(left, w)

    if not 0 <= old <= new:
        return False
    if old == 0:
        # Outside PROOF's domain. Like RFC 6962's reference code (and Go's
        # transparency-dev/merkle), every tree extends the empty one: the proof
        # must be empty, and old_root is only compared when both sizes are 0.
        return not proof and (new > 0 or old_root == new_root)
    nodes = iter(proof)
    try:
        got = fold(old, new, True, nodes)
    except _Short:
        return False
    return _consumed(nodes) and got == (old_root, new_root)


def verify_batch(h: Hasher, indices: Sequence[int], size: int, leaves: Sequence[bytes], proof: bytes, root: bytes) -> bool:
    def fold(idx: list[int], lo: int, hi: int, nodes: Iterator[bytes]) -> bytes:  # inverse of _batch
        if not idx:
            return _take(nodes)
        if hi - lo == 1:
            return by_index[lo]
        mid = lo + split(hi - lo)
        left = fold([i for i in idx if i < mid], lo, mid, nodes)
        return h.node(left, fold([i for i in idx if i >= mid], mid, hi, nodes))

    if (
        not indices
        or list(indices) != sorted(set(indices))
        or indices[-1] >= size
        or len(leaves) != len(indices)
        or len(proof) % 32
    ):
        return False
    by_index = dict(zip(indices, leaves))
    nodes = iter([proof[i : i + 32] for i in range(0, len(proof), 32)])
    try:
        got = fold(list(indices), 0, size, nodes)
    except _Short:
        return False
    return _consumed(nodes) and got == root


# Small helpers the test modules share.

#: What a refused verification raises: a failed check, or a malformed argument.
REJECTED = (veritree.VerificationError, ValueError)


def entries(n: int, salt: bytes = b"") -> list[bytes]:
    """n distinct entries of varied lengths."""
    return [salt + bytes(i % 7) + i.to_bytes(4, "big") for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    """`data` with one bit inverted."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@contextmanager
def raises(exc: type[BaseException], *words: str) -> Iterator[pytest.ExceptionInfo]:
    """pytest.raises that also wants every word in the message."""
    with pytest.raises(exc) as info:
        yield info
    for w in words:
        assert w in str(info.value), f"{w!r} not in {str(info.value)!r}"
