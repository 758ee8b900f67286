"""A small pure-Python reference for veritree.Map: the IETF KEYTRANS prefix tree.

Written from draft-ietf-keytrans-protocol (../shared/specs/ietf/), not from the
Rust code. Speed is no goal: every function recomputes from a dict of
key -> value, keys are handled as strings of '0' and '1', and the prover and
the verifier share nothing but the hash functions and the constants below.

Where each rule comes from:

- Shape (§ "Prefix Tree" under Tree Construction, and its two figures). A
  binary trie over the 256 key bits, bit 0 being the most significant bit of
  byte 0; the left child of the node for prefix p is p + "0". A leaf sits at
  the shallowest depth where its key is alone under its prefix (so a map with
  one key has its leaf at depth 0: the root). Every prefix shared by two or
  more keys is a parent, even when only one child holds keys: the first figure
  shows such a chain (prefix "0" -> "00" for keys 00010 and 00101). A parent's
  child that holds no key is missing. Nodes therefore sit exactly at: the
  root, and each child of a parent.
- Values (§ "Prefix Tree" under Cryptographic Computations). keytrans-sha256:
  leaf = SHA-256(0x02 || key || value), parent = SHA-256(0x03 || left ||
  right), a missing child is Nh = 32 zero bytes. The empty map's root is
  missing too, so it is 32 zero bytes (the draft never names the empty tree's
  root; this is the stand-in rule applied to the root). veritree's "blake3"
  suite has the same shape: leaf = BLAKE3-keyed(LEAF_KEY, key || value),
  parent = BLAKE3-keyed(NODE_KEY, left || right) (64-byte inputs), where the
  keys are BLAKE3 derive_key of empty key material under the two context
  strings below; stand-ins are zeros as well.
- Proofs (§ "Tree Proofs / Prefix Tree", TLS presentation with the draft's
  own rule, § "Variable-Length Vectors", that a vector's length prefix counts
  ELEMENTS, sized by the vector's maximum):

      PrefixProof  = u8 count, count x PrefixSearchResult,
                     u16 (big endian) count, count x 32-byte HashValue
      PrefixSearchResult = u8 result_type (1 inclusion, 2 nonInclusionLeaf,
                     3 nonInclusionParent), [key[32] value[32] if 2], u8 depth

  results follow the order the keys were requested in. depth is the depth of
  the node where the search ended: the leaf, or for nonInclusionParent the
  missing (stand-in) child (so the empty map gives nonInclusionParent at
  depth 0 and no elements). elements are the node values, in left-to-right
  (depth-first, left before right) order, that are not on any search path but
  are children of a node on one: exactly what the verifier cannot compute,
  each sent once; a missing one is listed as 32 zero bytes. Searches that end
  at the same node share it, and nothing on a search path is ever sent.
- Verification (the draft only says "hash together the provided values, in
  the left/right arrangement dictated by the bits of the search keys"; these
  checks make that sound): each result puts its terminal node at its key's
  first `depth` bits: inclusion -> leaf(key, expected value); nonInclusionLeaf
  -> leaf(given key, given value), whose key must differ from the search key
  and share those `depth` bits with it; nonInclusionParent -> zeros. The
  expected value (None = absent) must match the result type. Two results at
  one place must name the same node, and no terminal may lie below another
  (else the lower claim would never be hashed). The root is then rebuilt,
  taking the next element wherever no terminal lies below; every element must
  be used, no byte may trail, and the result count must equal the key count.
- Limits the encoding forces: depth is a uint8, and only an inclusion can end
  at depth 256 (two keys that differ only in the last bit), so proving such a
  key raises ValueError; results<0..255> allows 1 to 255 keys (zero keys prove
  nothing, and duplicates would be ambiguous), else ValueError.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence

import blake3

SUITES = ("keytrans-sha256", "blake3")
KEY_BITS = 256
ZERO = bytes(32)  # a missing node (stand-in), and the empty map's root
INCLUSION, NON_INCLUSION_LEAF, NON_INCLUSION_PARENT = 1, 2, 3
MAX_KEYS = 255  # results<0..2^8-1>
BLAKE3_LEAF_CONTEXT = "veritree 2026-11 blake3 map leaf"
BLAKE3_NODE_CONTEXT = "veritree 2026-11 blake3 map node"


class Hasher:
    """A suite's two node functions."""

    def __init__(self, suite: str) -> None:
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r}")
        self.suite = suite
        self.leaf_key = blake3.blake3(b"", derive_key_context=BLAKE3_LEAF_CONTEXT).digest()
        self.node_key = blake3.blake3(b"", derive_key_context=BLAKE3_NODE_CONTEXT).digest()

    def leaf(self, key: bytes, value: bytes) -> bytes:
        if self.suite == "keytrans-sha256":
            return hashlib.sha256(b"\x02" + key + value).digest()
        return blake3.blake3(key + value, key=self.leaf_key).digest()

    def parent(self, left: bytes, right: bytes) -> bytes:
        if self.suite == "keytrans-sha256":
            return hashlib.sha256(b"\x03" + left + right).digest()
        return blake3.blake3(left + right, key=self.node_key).digest()


def bits(key: bytes) -> str:
    """The key's 256 bits as a string, the most significant bit of byte 0 first."""
    return format(int.from_bytes(key, "big"), "0256b")


def _check32(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValueError(f"{name} must be 32 bytes")
    return value


def _check_keys(keys: Sequence[bytes]) -> list[bytes]:
    keys = [_check32(f"keys[{i}]", k) for i, k in enumerate(keys)]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate keys")
    return keys


class Tree:
    """One version of the map: the prefix tree over `entries`."""

    def __init__(self, entries: Mapping[bytes, bytes], suite: str) -> None:
        self.h = Hasher(suite)
        self.entries = dict(entries)
        self.key_of = {bits(k): k for k in self.entries}  # bit string -> key
        self._values: dict[str, bytes] = {}

    def under(self, prefix: str) -> list[str]:
        """The (bit strings of the) keys that start with `prefix`."""
        return [b for b in self.key_of if b.startswith(prefix)]

    def value(self, prefix: str) -> bytes:
        """The value at `prefix`, where a node or its stand-in sits (the root or a parent's child)."""
        if prefix not in self._values:
            keys = self.under(prefix)
            if not keys:
                v = ZERO  # missing
            elif len(keys) == 1:
                k = self.key_of[keys[0]]
                v = self.h.leaf(k, self.entries[k])  # alone: a leaf
            else:
                v = self.h.parent(self.value(prefix + "0"), self.value(prefix + "1"))
            self._values[prefix] = v
        return self._values[prefix]

    def root(self) -> bytes:
        return self.value("")

    def depth_of(self, key: bytes) -> int:
        """The depth of a present key's leaf."""
        assert key in self.entries
        return self.search(key)[1]

    def search(self, key: bytes) -> tuple[int, int, bytes | None]:
        """Walk from the root: (result_type, depth of the terminal node, the leaf's key or None)."""
        kb = bits(key)
        depth = 0
        while True:
            keys = self.under(kb[:depth])
            if not keys:
                return NON_INCLUSION_PARENT, depth, None
            if len(keys) == 1:
                leaf = self.key_of[keys[0]]
                return (INCLUSION if leaf == key else NON_INCLUSION_LEAF), depth, leaf
            depth += 1  # a parent: follow the key's next bit

    def prove(self, keys: Sequence[bytes]) -> bytes:
        keys = _check_keys(keys)
        if not 1 <= len(keys) <= MAX_KEYS:
            raise ValueError(f"a proof covers 1 to {MAX_KEYS} keys, not {len(keys)}")
        results = []
        terminals = set()
        for key in keys:
            kind, depth, leaf = self.search(key)
            if depth >= KEY_BITS:
                raise ValueError("the key's leaf is at depth 256, which a uint8 cannot encode")
            result = bytes([kind])
            if kind == NON_INCLUSION_LEAF:
                assert leaf is not None
                result += leaf + self.entries[leaf]
            results.append(result + bytes([depth]))
            terminals.add(bits(key)[:depth])
        elements = self._elements("", terminals)
        return (
            bytes([len(results)])
            + b"".join(results)
            + len(elements).to_bytes(2, "big")
            + b"".join(elements)
        )

    def _elements(self, prefix: str, terminals: set[str]) -> list[bytes]:
        if prefix in terminals:
            return []  # the verifier builds it from the results
        if not any(t.startswith(prefix) for t in terminals):
            return [self.value(prefix)]  # off every search path: send it (zeros if missing)
        # on a search path but not its end: a parent; left subtree before right
        return self._elements(prefix + "0", terminals) + self._elements(prefix + "1", terminals)


# Verification: parse, place each result's terminal node at its key's first
# `depth` bits, then rebuild the root, taking an element wherever no terminal
# lies below. Written without looking at Tree.


class _Reject(Exception):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise _Reject("truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


Result = tuple[int, tuple[bytes, bytes] | None, int]  # (result_type, leaf (key, value) or None, depth)


def parse(proof: bytes) -> tuple[list[Result], list[bytes]]:
    """PrefixProof -> (results, elements); raises _Reject when malformed."""
    r = _Reader(proof)
    results: list[Result] = []
    for _ in range(r.take(1)[0]):
        kind = r.take(1)[0]
        if kind not in (INCLUSION, NON_INCLUSION_LEAF, NON_INCLUSION_PARENT):
            raise _Reject(f"result type {kind}")
        leaf = (r.take(32), r.take(32)) if kind == NON_INCLUSION_LEAF else None
        results.append((kind, leaf, r.take(1)[0]))
    elements = [r.take(32) for _ in range(int.from_bytes(r.take(2), "big"))]
    if r.pos != len(proof):
        raise _Reject("trailing bytes")
    return results, elements


def check(root: bytes, keys: Sequence[bytes], values: Sequence[bytes | None], proof: bytes, suite: str) -> None:
    """Raise _Reject unless `proof` shows exactly `values` (None: absent) for `keys` under `root`."""
    h = Hasher(suite)
    _check32("root", root)
    if len(keys) != len(values):
        raise ValueError("keys and values differ in length")
    for i, k in enumerate(keys):
        _check32(f"keys[{i}]", k)
    for i, v in enumerate(values):
        if v is not None:
            _check32(f"values[{i}]", v)
    if not keys or len(set(keys)) != len(keys):
        raise _Reject("no keys, or duplicate keys")
    results, elements = parse(proof)
    if len(results) != len(keys):
        raise _Reject("result count")

    # Each search's terminal node: a leaf (key, value), or None for a stand-in.
    terminals: dict[str, tuple[bytes, bytes] | None] = {}
    for key, want, (kind, leaf, depth) in zip(keys, values, results):
        at = bits(key)[:depth]
        node: tuple[bytes, bytes] | None
        if kind == INCLUSION:
            if want is None:
                raise _Reject("inclusion where absence was expected")
            node = (key, want)
        elif kind == NON_INCLUSION_LEAF:
            assert leaf is not None
            if want is not None:
                raise _Reject("non-inclusion where a value was expected")
            if leaf[0] == key or bits(leaf[0])[:depth] != at:
                raise _Reject("the leaf is the key itself, or off its path")
            node = leaf
        else:
            if want is not None:
                raise _Reject("non-inclusion where a value was expected")
            node = None
        if at in terminals and terminals[at] != node:
            raise _Reject("two different nodes at one place")
        terminals[at] = node
    for a in terminals:  # a search ends at the first leaf or stand-in: none lies below another
        if any(b != a and b.startswith(a) for b in terminals):
            raise _Reject("a terminal below another")

    todo: Iterator[bytes] = iter(elements)

    def fold(prefix: str, below: list[str]) -> bytes:
        if prefix in terminals:
            node = terminals[prefix]
            return ZERO if node is None else h.leaf(*node)
        if not below:
            element = next(todo, None)
            if element is None:
                raise _Reject("too few elements")
            return element
        d = len(prefix)
        left = fold(prefix + "0", [t for t in below if t[d] == "0"])
        return h.parent(left, fold(prefix + "1", [t for t in below if t[d] == "1"]))

    got = fold("", list(terminals))
    if next(todo, None) is not None:
        raise _Reject("too many elements")
    if got != root:
        raise _Reject("root mismatch")


def verify(root: bytes, keys: Sequence[bytes], values: Sequence[bytes | None], proof: bytes, suite: str) -> bool:
    """True when the proof holds; ValueError for malformed arguments (as veritree does)."""
    try:
        check(root, keys, values, proof, suite)
    except _Reject:
        return False
    return True


def root(entries: Mapping[bytes, bytes], suite: str) -> bytes:
    return Tree(entries, suite).root()


def proof(entries: Mapping[bytes, bytes], keys: Sequence[bytes], suite: str = "keytrans-sha256") -> bytes:
    return Tree(entries, suite).prove(keys)


class ReferenceMap:
    """Every version kept whole as a dict; the contract veritree.Map must meet."""

    def __init__(self, suite: str = "keytrans-sha256") -> None:
        self.suite = suite
        self.trees: dict[int, Tree] = {0: Tree({}, suite)}
        self.version = 0
        self.oldest_version = 0

    def at(self, version: int | None = None) -> Tree:
        v = self.version if version is None else version
        if v not in self.trees:
            raise ValueError(f"version {v} is unknown or pruned")
        return self.trees[v]

    def _push(self, entries: dict[bytes, bytes]) -> int:
        self.version += 1
        self.trees[self.version] = Tree(entries, self.suite)
        return self.version

    def update(self, keys: Sequence[bytes], values: Sequence[bytes]) -> int:
        keys = _check_keys(keys)
        if len(values) != len(keys):
            raise ValueError("keys and values differ in length")
        values = [_check32(f"values[{i}]", v) for i, v in enumerate(values)]
        entries = dict(self.at().entries)
        entries.update(zip(keys, values))
        return self._push(entries)

    def remove(self, keys: Sequence[bytes]) -> int:
        keys = _check_keys(keys)
        entries = dict(self.at().entries)
        if any(k not in entries for k in keys):
            raise ValueError("a key to remove is absent")
        for k in keys:
            del entries[k]
        return self._push(entries)

    def root(self, version: int | None = None) -> bytes:
        return self.at(version).root()

    def get(self, key: bytes, version: int | None = None) -> bytes | None:
        return self.at(version).entries.get(_check32("key", key))

    def prove(self, keys: Sequence[bytes], version: int | None = None) -> bytes:
        return self.at(version).prove(keys)

    def prune(self, before_version: int) -> None:
        if not 0 <= before_version <= self.version:
            raise ValueError(f"cannot prune before version {before_version}")
        for v in [v for v in self.trees if v < before_version]:
            del self.trees[v]
        self.oldest_version = max(self.oldest_version, before_version)

    def keys(self, version: int | None = None) -> list[bytes]:
        return sorted(self.at(version).entries)
