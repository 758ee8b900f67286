"""veritree.Map, the KEYTRANS prefix tree, against the pure-Python reference in support/map_reference.py.

Tests named test_reference_* check the reference alone (against hand-built
trees from the draft's figures); the rest drive the engine and compare its
roots, lookups and proof bytes with the reference.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import map_reference as ref
import numpy as np
import pytest
import veritree
from hypothesis import event, given, settings
from hypothesis import strategies as st
from map_reference import ZERO, Hasher, ReferenceMap, Tree

MAP_SUITES = ("keytrans-sha256", "blake3")
suites = pytest.mark.parametrize("map_suite", MAP_SUITES)


# --- helpers ------------------------------------------------------------------


def key(bit_string: str) -> bytes:
    """A 256-bit key from its leading bits, zero padded (the draft's figures show prefixes)."""
    return int(bit_string.ljust(256, "0"), 2).to_bytes(32, "big")


def flip_bits(base: bytes, positions: Sequence[int]) -> bytes:
    """`base` with the given bits inverted (bit 0 = most significant bit of byte 0)."""
    out = bytearray(base)
    for p in positions:
        out[p // 8] ^= 0x80 >> (p % 8)
    return bytes(out)


def val(c: str) -> bytes:
    return c.encode() * 32


def as_array(rows: Sequence[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), 32).copy()


def encode(results: Sequence[tuple[int, bytes, int]], elements: Sequence[bytes]) -> bytes:
    """A PrefixProof from (result_type, leaf key + value or b"", depth) triples, for forging."""
    out = bytes([len(results)])
    for kind, leaf, depth in results:
        out += bytes([kind]) + leaf + bytes([depth])
    return out + len(elements).to_bytes(2, "big") + b"".join(elements)


def snapshot(m: veritree.Map) -> tuple[int, int, list[bytes]]:
    return m.version, m.oldest_version, [m.root(v) for v in range(m.oldest_version, m.version + 1)]


def verify(suite: str, root: bytes, keys: Sequence[bytes], values: Sequence[bytes | None], proof: bytes) -> None:
    """Both verifiers must accept."""
    assert veritree.verify_prefix_proof(root, list(keys), list(values), proof, suite=suite) is None
    assert ref.verify(root, keys, values, proof, suite)


def rejected(suite: str, root: bytes, keys: Sequence[bytes], values: Sequence[bytes | None], proof: bytes) -> None:
    """Both verifiers must refuse; the engine with VerificationError."""
    assert not ref.verify(root, keys, values, proof, suite)
    with pytest.raises(veritree.VerificationError):
        veritree.verify_prefix_proof(root, list(keys), list(values), proof, suite=suite)


# The draft's five-key figure ("A prefix tree containing five entries"), then 01101 -> F added.
FIG = {key("00010"): val("A"), key("00101"): val("B"), key("10001"): val("C"), key("10111"): val("D"), key("11011"): val("E")}
A, B, C, D, E = FIG
F = key("01101")


def figure_nodes(suite: str) -> dict[str, bytes]:
    """The figure's node values, built by hand from its drawing."""
    h = Hasher(suite)
    lf = {k: h.leaf(k, v) for k, v in FIG.items()}
    n = {"000": lf[A], "001": lf[B], "100": lf[C], "101": lf[D], "11": lf[E], "01": ZERO}
    n["00"] = h.parent(n["000"], n["001"])
    n["0"] = h.parent(n["00"], n["01"])  # the figure's chain: "0" has only a left child
    n["10"] = h.parent(n["100"], n["101"])
    n["1"] = h.parent(n["10"], n["11"])
    n[""] = h.parent(n["0"], n["1"])
    return n


# --- the reference alone -------------------------------------------------------


@suites
def test_reference_figure_shape(map_suite: str) -> None:
    tree = Tree(FIG, map_suite)
    assert [tree.depth_of(k) for k in (A, B, C, D, E)] == [3, 3, 3, 3, 2]
    n = figure_nodes(map_suite)
    assert tree.root() == n[""]
    # "The previous prefix tree after adding the key-value pair: 01101 -> F."
    tree2 = Tree({**FIG, F: val("F")}, map_suite)
    assert [tree2.depth_of(k) for k in (A, B, F, C, D, E)] == [3, 3, 2, 3, 3, 2]
    h = Hasher(map_suite)
    assert tree2.root() == h.parent(h.parent(n["00"], h.leaf(F, val("F"))), n["1"])


@suites
def test_reference_figure_proofs(map_suite: str) -> None:
    n = figure_nodes(map_suite)
    tree = Tree(FIG, map_suite)
    # Inclusion of A at depth 3: copath 001 (B), 01 (missing), 1, left to right.
    assert tree.prove([A]) == encode([(1, b"", 3)], [n["001"], ZERO, n["1"]])
    # X = 0111.. ends at the missing child 01 of parent 0 (depth 2); E is at 11.
    x = key("0111")
    assert tree.prove([x, E]) == encode([(3, b"", 2), (1, b"", 2)], [n["00"], n["10"]])
    assert tree.prove([E, x]) == encode([(1, b"", 2), (3, b"", 2)], [n["00"], n["10"]])
    # Y and Y2 end at E's leaf: nonInclusionLeaf, and the three share it.
    y, y2 = key("111"), key("11111")
    leaf_e = E + FIG[E]
    assert tree.prove([y, E, y2]) == encode([(2, leaf_e, 2), (1, b"", 2), (2, leaf_e, 2)], [n["0"], n["10"]])
    # Every key: only the stand-in at 01 is not computable.
    assert tree.prove([A, B, C, D, E]) == encode([(1, b"", 3)] * 4 + [(1, b"", 2)], [ZERO])
    # Siblings that are both terminals need no element; 01 as terminal needs none either.
    assert tree.prove([A, B, x, C, D, E]) == encode([(1, b"", 3)] * 2 + [(3, b"", 2)] + [(1, b"", 3)] * 2 + [(1, b"", 2)], [])
    for keys in ([A], [x, E], [y, E, y2], [A, B, C, D, E], [D, y2]):
        values = [FIG.get(k) for k in keys]
        assert ref.verify(n[""], keys, values, tree.prove(keys), map_suite)


@suites
def test_reference_empty_and_single_key(map_suite: str) -> None:
    h = Hasher(map_suite)
    empty = Tree({}, map_suite)
    assert empty.root() == ZERO
    assert empty.prove([A]) == encode([(3, b"", 0)], [])
    assert empty.prove([A, B]) == encode([(3, b"", 0), (3, b"", 0)], [])
    assert ref.verify(ZERO, [A, B], [None, None], empty.prove([A, B]), map_suite)
    one = Tree({C: val("c")}, map_suite)
    assert one.root() == h.leaf(C, val("c")), "one key: the root is its leaf"
    assert one.prove([C]) == encode([(1, b"", 0)], [])
    assert one.prove([A, C]) == encode([(2, C + val("c"), 0), (1, b"", 0)], [])
    assert ref.verify(one.root(), [A, C], [None, val("c")], one.prove([A, C]), map_suite)
    assert not ref.verify(one.root(), [A, C], [None, val("d")], one.prove([A, C]), map_suite)
    assert not ref.verify(one.root(), [C], [None], one.prove([C]), map_suite)


def test_reference_hash_functions() -> None:
    k, v = bytes(range(32)), bytes(range(32, 64))
    sha = Hasher("keytrans-sha256")
    assert sha.leaf(k, v) == hashlib.sha256(b"\x02" + k + v).digest()
    assert sha.parent(k, v) == hashlib.sha256(b"\x03" + k + v).digest()
    b3 = Hasher("blake3")
    assert len({b3.leaf_key, b3.node_key}) == 2
    assert b3.leaf(k, v) != b3.parent(k, v), "leaves and parents are separated by key"
    assert b3.leaf(k, v) != sha.leaf(k, v)
    with pytest.raises(ValueError, match="suite"):
        Hasher("sha256")


@suites
def test_reference_keys_that_differ_only_in_the_last_bit(map_suite: str) -> None:
    h = Hasher(map_suite)
    k0 = bytes(range(32))
    k1 = flip_bits(k0, [255])
    tree = Tree({k0: val("0"), k1: val("1")}, map_suite)
    # By hand: the leaves sit at depth 256 under a chain of 255 one-child parents.
    node = h.parent(h.leaf(k1, val("1")), h.leaf(k0, val("0")))  # k0 ends in 1 (0x1f): right child
    kb = ref.bits(k0)
    for d in reversed(range(255)):
        node = h.parent(node, ZERO) if kb[d] == "0" else h.parent(ZERO, node)
    assert tree.root() == node
    for keys in ([k0], [k1], [k1, flip_bits(k0, [3])]):
        with pytest.raises(ValueError, match="256"):
            tree.prove(keys)
    # Absent keys along the chain still have proofs, with the stand-in at depth <= 255.
    for d in (0, 100, 254):
        other = flip_bits(k0, [d])
        proof = tree.prove([other])
        assert proof[:3] == bytes([1, 3, d + 1])
        assert ref.verify(tree.root(), [other], [None], proof, map_suite)


@suites
@settings(max_examples=30)
@given(data=st.data())
def test_reference_verifier_accepts_reference_proofs(map_suite: str, data: st.DataObject) -> None:
    universe = data.draw(universes())
    entries = {k: data.draw(VALUE) for k in data.draw(st.lists(st.sampled_from(universe), unique=True))}
    tree = Tree(entries, map_suite)
    keys = data.draw(st.lists(st.sampled_from(universe), min_size=1, unique=True))
    try:
        proof = tree.prove(keys)
    except ValueError:
        assert any(tree.search(k)[1] == 256 for k in keys)
        return
    values = [entries.get(k) for k in keys]
    assert ref.verify(tree.root(), keys, values, proof, map_suite)
    i = data.draw(st.integers(0, len(keys) - 1))
    wrong = list(values)
    wrong[i] = None if values[i] is not None else val("?")
    assert not ref.verify(tree.root(), keys, wrong, proof, map_suite)
    if values[i] is not None:
        wrong[i] = bytes(x ^ 1 for x in values[i])
        assert not ref.verify(tree.root(), keys, wrong, proof, map_suite)


def small_proofs(suite: str) -> list[tuple[bytes, list[bytes], list[bytes | None], bytes]]:
    """(root, keys, values, proof) for a few small proofs of every result type."""
    out = []
    for entries, keys in (
        (FIG, [A]),
        (FIG, [key("0111"), E]),
        (FIG, [key("111"), key("0111"), D]),
        ({}, [A]),
        ({C: val("c")}, [A, C]),
    ):
        tree = Tree(entries, suite)
        out.append((tree.root(), keys, [entries.get(k) for k in keys], tree.prove(keys)))
    return out


@suites
def test_reference_verifier_rejects_every_single_byte_mutation(map_suite: str) -> None:
    """Every other byte value at every position; for blake3 (same parser, other hash) bit flips only, for time."""
    for root, keys, values, proof in small_proofs(map_suite):
        assert ref.verify(root, keys, values, proof, map_suite)
        for i in range(len(proof)):
            others = range(256) if map_suite == "keytrans-sha256" else [proof[i] ^ (1 << j) for j in range(8)]
            for b in others:
                if b != proof[i]:
                    mutated = proof[:i] + bytes([b]) + proof[i + 1 :]
                    assert not ref.verify(root, keys, values, mutated, map_suite), (i, b)
        for cut in range(len(proof)):
            assert not ref.verify(root, keys, values, proof[:cut], map_suite)
        for extra in (b"\x00", bytes(32)):
            assert not ref.verify(root, keys, values, proof + extra, map_suite)


def test_reference_map_versions_and_errors() -> None:
    m = ReferenceMap()
    assert (m.version, m.oldest_version, m.root()) == (0, 0, ZERO)
    assert m.update([A, B], [val("a"), val("b")]) == 1
    assert m.update([], []) == 2 and m.root(2) == m.root(1)
    assert m.update([A], [val("z")]) == 3 and m.get(A) == val("z") and m.get(A, 1) == val("a")
    assert m.remove([B]) == 4 and m.get(B) is None and m.get(B, 3) == val("b")
    for bad in (lambda: m.remove([B]), lambda: m.remove([A, A]), lambda: m.update([C, C], [val("c")] * 2),
                lambda: m.update([C], []), lambda: m.update([C[:31]], [val("c")]), lambda: m.prune(5),
                lambda: m.root(5), lambda: m.prove([]), lambda: m.prove([A, A])):
        with pytest.raises(ValueError):
            bad()
    assert m.version == 4
    m.prune(2)
    assert m.oldest_version == 2
    with pytest.raises(ValueError, match="pruned"):
        m.root(1)
    assert m.root(2) == Tree({A: val("a"), B: val("b")}, "keytrans-sha256").root()


# --- engine against the reference ---------------------------------------------------

KEY = st.binary(min_size=32, max_size=32)
VALUE = st.one_of(st.sampled_from([bytes(32), b"\x01" * 32, b"\xff" * 32]), KEY)


@st.composite
def universes(draw: st.DrawFn) -> list[bytes]:
    """Distinct keys: random ones, or all keys that differ from a base in a few bits
    (anywhere, or only late, so that they share long prefixes, or in the last bit too)."""
    kind = draw(st.sampled_from(["random", "few_bits", "long_prefix", "last_bit"]))
    if kind == "random":
        return draw(st.lists(KEY, min_size=1, max_size=12, unique=True))
    base = draw(KEY)
    position = st.integers(0, 255) if kind == "few_bits" else st.integers(200, 255)
    positions = draw(
        st.lists(st.one_of(position, st.sampled_from([0, 1, 7, 8, 254, 255])), min_size=1, max_size=4, unique=True)
    )
    if kind == "last_bit" and 255 not in positions:
        positions.append(255)  # pairs of keys that differ only in the last bit
    keys = [flip_bits(base, c) for r in range(len(positions) + 1) for c in itertools.combinations(positions, r)]
    extra = draw(KEY)  # one unrelated key, usually absent
    return keys + ([extra] if extra not in keys else [])


def keys_arg(rows: Sequence[bytes], numpy: bool) -> object:
    return as_array(rows) if numpy else list(rows)


def check_against_reference(m: veritree.Map, model: ReferenceMap, universe: list[bytes], data: st.DataObject, suite: str) -> None:
    assert (m.version, m.oldest_version) == (model.version, model.oldest_version)
    assert m.root() == model.root()
    for v in range(model.oldest_version, model.version + 1):
        assert m.root(v) == model.root(v), f"version {v}"
    if model.oldest_version:  # pruned
        for v in {0, model.oldest_version - 1}:
            with pytest.raises(ValueError):
                m.root(v)
    version = data.draw(st.integers(model.oldest_version, model.version))
    for k in universe:
        assert m.get(k, version) == model.get(k, version)
        assert m.get(k) == model.get(k)
    # Present and absent keys, in random order.
    tree = model.at(version)
    present = [k for k in universe if k in tree.entries]
    absent = [k for k in universe if k not in tree.entries]
    keys = data.draw(st.lists(st.sampled_from(present), unique=True)) if present else []
    keys += data.draw(st.lists(st.sampled_from(absent), max_size=4, unique=True)) if absent else []
    keys = data.draw(st.permutations(keys or universe[:1]))
    deepest = [k for k in keys if tree.search(k)[1] == 256]
    if deepest:  # a leaf at depth 256 cannot be proved
        event("a proof refused: leaf at depth 256")
        with pytest.raises(ValueError):
            m.prove(keys, version)
        keys = [k for k in keys if k not in deepest]
        if not keys:
            return
    want = model.prove(keys, version)
    kinds = sorted({kind for kind, _, _ in ref.parse(want)[0]})
    event(f"result types {kinds}")
    got = m.prove(keys, version)
    assert got == want
    root = model.root(version)
    values = [model.get(k, version) for k in keys]
    verify(suite, root, keys, values, got)
    i = data.draw(st.integers(0, len(keys) - 1))
    wrong = list(values)
    wrong[i] = None if values[i] is not None else data.draw(VALUE)
    rejected(suite, root, keys, wrong, got)


@suites
@settings(max_examples=50)
@given(data=st.data())
def test_engine_matches_model_on_random_batches(map_suite: str, data: st.DataObject) -> None:
    universe = data.draw(universes())
    m, model = veritree.Map(suite=map_suite), ReferenceMap(map_suite)
    check_against_reference(m, model, universe, data, map_suite)
    for step in range(data.draw(st.integers(1, 6))):
        present = model.keys()
        op = data.draw(st.sampled_from(["update", "update", "remove", "prune"] if present else ["update", "prune"]))
        op = "update" if step == 0 else op
        numpy = data.draw(st.booleans())
        if op == "update":
            keys = data.draw(st.lists(st.sampled_from(universe), min_size=step == 0, max_size=12, unique=True))
            values = data.draw(st.lists(VALUE, min_size=len(keys), max_size=len(keys)))
            assert m.update(keys_arg(keys, numpy), keys_arg(values, numpy)) == model.update(keys, values)
        elif op == "remove":
            keys = data.draw(st.lists(st.sampled_from(present), min_size=1, unique=True))
            assert m.remove(keys_arg(keys, numpy)) == model.remove(keys)
        else:
            before = data.draw(st.integers(model.oldest_version, model.version))
            m.prune(before)
            model.prune(before)
        check_against_reference(m, model, universe, data, map_suite)


@suites
def test_new_map_and_suites(map_suite: str) -> None:
    m = veritree.Map(suite=map_suite)
    assert (m.version, m.oldest_version, m.root(), m.root(0)) == (0, 0, ZERO, ZERO)
    assert m.get(A) is None
    assert m.prove([A, B]) == Tree({}, map_suite).prove([A, B])
    verify(map_suite, ZERO, [A, B], [None, None], m.prove([A, B]))
    assert m.update([C], [val("c")]) == 1
    assert m.root() == Hasher(map_suite).leaf(C, val("c"))
    default = veritree.Map()
    default.update([C], [val("c")])
    assert default.root() == Hasher("keytrans-sha256").leaf(C, val("c"))
    assert veritree.verify_prefix_proof(default.root(), [C], [val("c")], default.prove([C])) is None
    with pytest.raises(ValueError, match="suite"):
        veritree.Map(suite="sha256")
    with pytest.raises(ValueError, match="suite"):
        veritree.verify_prefix_proof(ZERO, [A], [None], m.prove([A], 0), suite="sha256")


@suites
def test_engine_figure(map_suite: str) -> None:
    m = veritree.Map(suite=map_suite)
    m.update(list(FIG), list(FIG.values()))
    assert m.root() == figure_nodes(map_suite)[""]
    tree = Tree(FIG, map_suite)
    for keys in ([A], [key("0111"), E], [key("111"), E, key("11111")], [A, B, C, D, E], [E, D, C, B, A]):
        assert m.prove(keys) == tree.prove(keys)
    m.update([F], [val("F")])
    assert m.root() == Tree({**FIG, F: val("F")}, map_suite).root()


@suites
def test_engine_keys_that_differ_only_in_the_last_bit(map_suite: str) -> None:
    k0 = bytes(range(32))
    k1 = flip_bits(k0, [255])
    m = veritree.Map(suite=map_suite)
    m.update([k0, k1], [val("0"), val("1")])
    tree = Tree({k0: val("0"), k1: val("1")}, map_suite)
    assert m.root() == tree.root()
    assert (m.get(k0), m.get(k1)) == (val("0"), val("1"))
    for keys in ([k0], [k1], [flip_bits(k0, [9]), k1]):
        with pytest.raises(ValueError):
            m.prove(keys)
    for other in (flip_bits(k0, [0]), flip_bits(k0, [254]), flip_bits(k0, [254, 255])):
        assert m.prove([other]) == tree.prove([other])
    m.remove([k1])
    assert m.prove([k0]) == Tree({k0: val("0")}, map_suite).prove([k0])


@suites
def test_255_keys_per_proof_and_no_more(map_suite: str) -> None:
    rng = random.Random(4)
    present = [rng.randbytes(32) for _ in range(300)]
    absent = [rng.randbytes(32) for _ in range(100)]
    values = [rng.randbytes(32) for _ in present]
    m = veritree.Map(suite=map_suite)
    m.update(as_array(present), as_array(values))
    model = Tree(dict(zip(present, values)), map_suite)
    assert m.root() == model.root()
    keys = present[:200] + absent[:55]
    rng.shuffle(keys)
    proof = m.prove(keys)
    assert proof == model.prove(keys)
    verify(map_suite, m.root(), keys, [model.entries.get(k) for k in keys], proof)
    with pytest.raises(ValueError):
        m.prove(keys + absent[55:56])


# --- bad arguments -------------------------------------------------------------------


@pytest.fixture(params=MAP_SUITES)
def fsuite(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def filled(fsuite: str) -> veritree.Map:
    """The figure's map at version 1, then F added at version 2."""
    m = veritree.Map(suite=fsuite)
    m.update(list(FIG), list(FIG.values()))
    m.update([F], [val("F")])
    return m


Exc = type[BaseException] | tuple[type[BaseException], ...]


def refused(m: veritree.Map, exc: Exc, call: Callable[[], object], match: str | None = None) -> None:
    """`call` raises `exc` and leaves `m` as it was."""
    before = snapshot(m)
    with pytest.raises(exc, match=match):
        call()
    assert snapshot(m) == before, "a refused call changed the map"


def test_update_refuses_bad_batches(filled: veritree.Map) -> None:
    m = filled
    k, v = key("1"), val("x")
    refused(m, ValueError, lambda: m.update([k, k], [v, v]), "duplicate")
    refused(m, ValueError, lambda: m.update(as_array([k, k]), as_array([v, v])), "duplicate")
    refused(m, ValueError, lambda: m.update([k], [v, v]))
    refused(m, ValueError, lambda: m.update(as_array([k, A]), as_array([v])))
    refused(m, ValueError, lambda: m.update([k[:31]], [v]), "32")
    refused(m, ValueError, lambda: m.update([k + b"\x00"], [v]), "32")
    refused(m, ValueError, lambda: m.update([k], [v[:31]]), "32")
    refused(m, ValueError, lambda: m.update([A, k, B], [v, v, v + b"\x00"]), "32")
    refused(m, (ValueError, TypeError), lambda: m.update([k], [None]))
    assert m.get(k) is None and m.get(A) == FIG[A]


@pytest.mark.parametrize("dtype", [np.uint16, np.int8, np.float64, np.bool_])
def test_update_refuses_wrong_dtypes(filled: veritree.Map, dtype: type) -> None:
    m = filled
    refused(m, (ValueError, TypeError), lambda: m.update(as_array([key("1")]).astype(dtype), as_array([val("x")])))
    refused(m, (ValueError, TypeError), lambda: m.update(as_array([key("1")]), as_array([val("x")]).astype(dtype)))
    refused(m, (ValueError, TypeError), lambda: m.remove(as_array([A]).astype(dtype)))


@pytest.mark.parametrize("shape", [(1, 31), (1, 33), (1, 64), (32,), (1, 1, 32), ()])
def test_update_refuses_wrong_shapes(filled: veritree.Map, shape: tuple[int, ...]) -> None:
    m = filled
    good = as_array([key("1")])
    refused(m, (ValueError, TypeError), lambda: m.update(np.zeros(shape, np.uint8), good))
    refused(m, (ValueError, TypeError), lambda: m.update(good, np.zeros(shape, np.uint8)))
    refused(m, (ValueError, TypeError), lambda: m.remove(np.zeros(shape, np.uint8)))


def test_strided_arrays_are_refused_or_read_by_rows(filled: veritree.Map) -> None:
    """A view that is not C-contiguous is refused, or read row by row: never in memory order."""
    m = filled
    keys = as_array([key("1"), key("01"), key("0000001"), key("11111")])
    values = as_array([val("w"), val("x"), val("y"), val("z")])
    views = ((keys[::2], values[::2]), (np.asfortranarray(keys), np.asfortranarray(values)), (keys[::-1], values[::-1]))
    for view_k, view_v in views:
        before = snapshot(m)
        try:
            m.update(view_k, view_v)
        except ValueError:
            assert snapshot(m) == before
            continue
        for k, v in zip(view_k, view_v):
            assert m.get(k.tobytes()) == v.tobytes()


def test_empty_update_makes_a_version(filled: veritree.Map) -> None:
    m = filled
    root = m.root()
    assert m.update([], []) == 3
    assert m.update(np.zeros((0, 32), np.uint8), np.zeros((0, 32), np.uint8)) == 4
    assert m.root(3) == m.root(4) == root


def test_remove_refuses_absent_or_duplicate_keys(filled: veritree.Map) -> None:
    m = filled
    refused(m, ValueError, lambda: m.remove([key("1")]))
    refused(m, ValueError, lambda: m.remove([A, key("1")]))
    refused(m, ValueError, lambda: m.remove([A, A]), "duplicate")
    refused(m, ValueError, lambda: m.remove(as_array([B, B])), "duplicate")
    refused(m, ValueError, lambda: m.remove([A[:31]]), "32")
    assert m.get(A) == FIG[A]
    assert m.remove([A]) == 3
    refused(m, ValueError, lambda: m.remove([A]))
    assert m.get(A) is None and m.get(A, 2) == FIG[A]


def test_unknown_and_pruned_versions(filled: veritree.Map) -> None:
    m = filled
    for v in (3, 10**6):
        refused(m, ValueError, lambda: m.root(v))
        refused(m, ValueError, lambda: m.get(A, v))
        refused(m, ValueError, lambda: m.prove([A], v))
    for v in (-1, 2**64):
        refused(m, (ValueError, OverflowError), lambda: m.root(v))
    refused(m, ValueError, lambda: m.prune(3))
    root1 = m.root(1)
    m.prune(1)
    assert (m.oldest_version, m.version, m.root(1)) == (1, 2, root1)
    m.prune(2)
    m.prune(2)  # again: nothing left to drop
    assert (m.oldest_version, m.version) == (2, 2)
    for v in (0, 1):
        refused(m, ValueError, lambda: m.root(v))
        refused(m, ValueError, lambda: m.get(A, v))
        refused(m, ValueError, lambda: m.prove([A], v))
    assert m.update([A], [val("n")]) == 3
    assert m.get(A, 2) == FIG[A] and m.get(A) == val("n")


def test_prove_refuses_bad_key_lists(filled: veritree.Map, fsuite: str) -> None:
    m = filled
    refused(m, ValueError, lambda: m.prove([]))
    refused(m, ValueError, lambda: m.prove([A, B, A]), "duplicate")
    refused(m, ValueError, lambda: m.prove([A[:31]]), "32")
    refused(m, ValueError, lambda: m.prove([A, B + b"\x00"]), "32")
    many = [i.to_bytes(32, "big") for i in range(256)]
    refused(m, ValueError, lambda: m.prove(many))
    # 255 keys, all ending at A's leaf (they all start with 000): one shared terminal.
    assert m.prove(many[:255]) == Tree({**FIG, F: val("F")}, fsuite).prove(many[:255])


def test_get_refuses_bad_keys(filled: veritree.Map) -> None:
    m = filled
    for bad in (A[:31], A + b"\x00", b""):
        refused(m, ValueError, lambda: m.get(bad), "32")


# --- hostile proofs -----------------------------------------------------------------


def figure_case(suite: str) -> tuple[veritree.Map, bytes, list[bytes], list[bytes | None], bytes]:
    """A small proof with all three result types: Y ends at E's leaf, X at a stand-in, D included."""
    m = veritree.Map(suite=suite)
    m.update(list(FIG), list(FIG.values()))
    keys = [key("111"), key("0111"), D]
    values: list[bytes | None] = [None, None, FIG[D]]
    return m, m.root(), keys, values, m.prove(keys)


@suites
def test_verify_rejects_every_tampered_byte(map_suite: str) -> None:
    _, root, keys, values, proof = figure_case(map_suite)
    verify(map_suite, root, keys, values, proof)
    for i in range(len(proof)):
        for mask in (0x01, 0x80, 0xFF):
            mutated = proof[:i] + bytes([proof[i] ^ mask]) + proof[i + 1 :]
            with pytest.raises(veritree.VerificationError):
                veritree.verify_prefix_proof(root, keys, values, mutated, suite=map_suite)


@suites
def test_verify_rejects_truncated_and_padded_proofs(map_suite: str) -> None:
    _, root, keys, values, proof = figure_case(map_suite)
    for cut in range(len(proof)):
        rejected(map_suite, root, keys, values, proof[:cut])
    for extra in (b"\x00", b"\x01", bytes(31), bytes(32), proof):
        rejected(map_suite, root, keys, values, proof + extra)


@suites
def test_verify_rejects_wrong_claims(map_suite: str) -> None:
    m, root, keys, values, proof = figure_case(map_suite)
    y, x, d = keys
    rejected(map_suite, root, keys, [None, None, val("?")], proof)  # wrong value
    rejected(map_suite, root, keys, [None, None, None], proof)  # D is present
    rejected(map_suite, root, keys, [FIG[E], None, FIG[D]], proof)  # Y is absent
    rejected(map_suite, root, keys, [None, val("x"), FIG[D]], proof)  # X is absent
    rejected(map_suite, root, [y, x, C], values, proof)  # another key
    rejected(map_suite, root, [x, y, d], values, proof)  # another order
    rejected(map_suite, root, keys[:2], values[:2], proof)  # fewer keys than results
    rejected(map_suite, root, keys + [A], values + [FIG[A]], proof)  # more keys than results
    rejected(map_suite, flip_bits(root, [5]), keys, values, proof)
    rejected(map_suite, ZERO, keys, values, proof)
    # The same proof against a later version's root, and an old proof against the new root.
    m.update([key("1110")], [val("n")])
    rejected(map_suite, m.root(), keys, values, proof)
    rejected(map_suite, m.root(), [y], [None], m.prove([y], 1))
    verify(map_suite, m.root(1), [y], [None], m.prove([y], 1))
    # 1110 is now present: its old non-inclusion proof shows nothing about version 2.
    rejected(map_suite, m.root(2), [key("1110")], [None], m.prove([key("1110")], 1))


@suites
def test_verify_rejects_forged_proofs(map_suite: str) -> None:
    n = figure_nodes(map_suite)
    root = n[""]
    x, y, y2 = key("0111"), key("111"), key("11111")
    leaf_e = E + FIG[E]
    honest_x = encode([(3, b"", 2)], [n["00"], n["1"]])
    verify(map_suite, root, [x], [None], honest_x)
    # Inclusion claimed for an absent key, at its stand-in's place, with any value.
    rejected(map_suite, root, [x], [val("x")], encode([(1, b"", 2)], [n["00"], n["1"]]))
    rejected(map_suite, root, [x], [ZERO], encode([(1, b"", 2)], [n["00"], n["1"]]))
    # E claimed absent through its own leaf: the hashes add up, the claim must not.
    rejected(map_suite, root, [E], [None], encode([(2, leaf_e, 2)], [n["0"], n["10"]]))
    # A nonInclusionLeaf whose leaf is off the search key's path (E's leaf placed under 10).
    rejected(map_suite, root, [key("1000")], [None], encode([(2, leaf_e, 2)], [n["0"], n["11"]]))
    rejected(map_suite, root, [key("0011")], [None], encode([(2, leaf_e, 2)], [n["01"], n["1"]]))
    # Two searches ending at one place must agree on what is there.
    honest = encode([(2, leaf_e, 2), (2, leaf_e, 2)], [n["0"], n["10"]])
    verify(map_suite, root, [y, y2], [None, None], honest)
    rejected(map_suite, root, [y, y2], [None, None], encode([(2, leaf_e, 2), (3, b"", 2)], [n["0"], n["10"]]))
    rejected(map_suite, root, [y, y2], [None, None], encode([(3, b"", 2), (2, leaf_e, 2)], [n["0"], n["10"]]))
    rejected(map_suite, root, [y, y2], [None, None], encode([(2, leaf_e, 2), (2, E + val("?"), 2)], [n["0"], n["10"]]))
    rejected(map_suite, root, [y, E], [None, FIG[E]], encode([(2, leaf_e, 2), (1, b"", 2)], [n["0"], n["10"], n["10"]]))
    # One terminal above another: a verifier that stops at the upper one never checks the lower claim.
    under_e, under_x = flip_bits(E, [200]), key("01101")
    rejected(map_suite, root, [E, under_e], [FIG[E], val("z")], encode([(1, b"", 2), (1, b"", 5)], [n["0"], n["10"]]))
    rejected(map_suite, root, [under_e, E], [val("z"), FIG[E]], encode([(1, b"", 5), (1, b"", 2)], [n["0"], n["10"]]))
    rejected(map_suite, root, [x, under_x], [None, val("z")], encode([(3, b"", 2), (1, b"", 5)], [n["00"], n["1"]]))
    rejected(map_suite, root, [A, B], [FIG[A], FIG[B]], encode([(1, b"", 1), (1, b"", 3)], [n["01"], n["1"]]))
    rejected(map_suite, root, [y, E], [None, FIG[E]], encode([(2, leaf_e, 1), (1, b"", 2)], [n["0"], n["10"]]))
    # Unknown result types, and too few or too many elements.
    for kind in (0, 4, 255):
        rejected(map_suite, root, [x], [None], encode([(kind, b"", 2)], [n["00"], n["1"]]))
    rejected(map_suite, root, [x], [None], encode([(3, b"", 2)], [n["00"]]))
    rejected(map_suite, root, [x], [None], encode([(3, b"", 2)], [n["00"], n["1"], ZERO]))
    rejected(map_suite, root, [x], [None], encode([(3, b"", 2)], []))
    # The empty map: the root itself is the stand-in; nothing else proves absence from it.
    verify(map_suite, ZERO, [x, y], [None, None], encode([(3, b"", 0), (3, b"", 0)], []))
    rejected(map_suite, ZERO, [x], [None], encode([(3, b"", 1)], [ZERO]))
    rejected(map_suite, root, [x], [None], encode([(3, b"", 0)], []))
    rejected(map_suite, root, [x, A], [None, None], encode([(3, b"", 0), (3, b"", 0)], []))


@suites
def test_verify_refuses_malformed_arguments(map_suite: str) -> None:
    _, root, keys, values, proof = figure_case(map_suite)

    def call(r: bytes = root, k: list[bytes] = keys, v: list[bytes | None] = values) -> None:
        veritree.verify_prefix_proof(r, k, v, proof, suite=map_suite)

    with pytest.raises(ValueError):
        call(k=[keys[0][:31], *keys[1:]])
    with pytest.raises(ValueError):
        call(k=[keys[0] + b"\x00", *keys[1:]])
    with pytest.raises(ValueError):
        call(v=values[:2])
    with pytest.raises(ValueError):
        call(v=[*values, None])
    with pytest.raises(ValueError):
        call(v=[None, None, FIG[D][:31]])
    with pytest.raises(ValueError):
        call(r=root[:31])
    with pytest.raises((ValueError, veritree.VerificationError)):
        call(k=[keys[0], keys[0], keys[2]])


# --- on disk --------------------------------------------------------------------------
# Crash safety (SIGKILL at random moments) is in test_map_crash.py.


@suites
def test_on_disk_map_survives_reopening(map_suite: str, tmp_path: Path) -> None:
    path = tmp_path / "m"
    rng = random.Random(7)
    keys = [rng.randbytes(32) for _ in range(60)] + [key("1"), flip_bits(key("1"), [255])]
    model = ReferenceMap(map_suite)
    with veritree.Map.open(path, suite=map_suite, create=True) as m:
        assert (m.version, m.root()) == (0, ZERO)
        for lo in range(0, 60, 20):
            batch = keys[lo : lo + 20]
            values = [rng.randbytes(32) for _ in batch]
            assert m.update(as_array(batch), as_array(values)) == model.update(batch, values)
        assert m.remove(keys[:5]) == model.remove(keys[:5])
        assert m.update(keys[60:], [val("p"), val("q")]) == model.update(keys[60:], [val("p"), val("q")])
        refused(m, ValueError, lambda: m.remove(keys[:1]))
        m.prune(2)
        model.prune(2)
    with veritree.Map.open(path, suite=map_suite) as m:
        assert m.version == model.version == 5
        for v in range(2, model.version + 1):
            assert m.root(v) == model.root(v)
        for k in keys[:25] + keys[60:]:
            assert m.get(k) == model.get(k) and m.get(k, 2) == model.get(k, 2)
        probe = keys[3:9] + [rng.randbytes(32)]
        assert m.prove(probe) == model.prove(probe)
        assert m.prove(probe, 3) == model.prove(probe, 3)
        assert m.update([keys[0]], [val("r")]) == model.update([keys[0]], [val("r")])
    m = veritree.Map.open(path, suite=map_suite)
    try:
        assert (m.version, m.root()) == (6, model.root())
    finally:
        m.close()


def test_on_disk_missing_path_and_second_writer(tmp_path: Path) -> None:
    with pytest.raises((veritree.StorageError, ValueError)):
        veritree.Map.open(tmp_path / "missing")
    path = tmp_path / "m"
    with veritree.Map.open(path, create=True) as m:
        m.update([A], [val("a")])
        with pytest.raises(veritree.StorageError):
            veritree.Map.open(path)
        assert m.update([B], [val("b")]) == 2
    with veritree.Map.open(path) as m:
        assert (m.version, m.get(A), m.get(B)) == (2, val("a"), val("b"))
        assert m.root() == Tree({A: val("a"), B: val("b")}, "keytrans-sha256").root()


def test_on_disk_refuses_a_wrong_suite_a_closed_map_and_a_damaged_journal(tmp_path: Path) -> None:
    path = tmp_path / "m"
    with veritree.Map.open(path, suite="blake3", create=True) as m:
        assert m.on_disk and not veritree.Map().on_disk
        assert "on disk" in repr(m)
        m.update([A, B], [val("a"), val("b")])
        m.update([A], [val("c")])
    with pytest.raises(ValueError, match="blake3"):
        veritree.Map.open(path, suite="keytrans-sha256")
    with pytest.raises(ValueError, match="unknown map suite"):
        veritree.Map.open(path, suite="md5")
    m = veritree.Map.open(path)
    assert (m.suite, m.version, m.get(A)) == ("blake3", 2, val("c"))
    m.close()
    for call in (m.root, lambda: m.get(A), lambda: m.update([A], [val("d")]), lambda: m.prune(1), lambda: m.prove([A])):
        with pytest.raises(veritree.StorageError, match="closed"):
            call()
    journal = (path / "journal").read_bytes()
    # A torn last record (a crash mid-append) is cut off: version 1 remains.
    (path / "journal").write_bytes(journal[:-7])
    with veritree.Map.open(path) as m:
        assert (m.version, m.get(A)) == (1, val("a"))
        m.update([A], [val("c")])  # the journal continues after the cut
    assert (path / "journal").read_bytes() == journal
    # A flipped byte inside an earlier record is damage, reported as such.
    (path / "journal").write_bytes(journal[:40] + bytes([journal[40] ^ 1]) + journal[41:])
    with pytest.raises(veritree.StorageError, match="damaged"):
        veritree.Map.open(path)
    (path / "journal").write_bytes(b"garbage" * 10)
    with pytest.raises(veritree.StorageError, match="damaged"):
        veritree.Map.open(path)
    (path / "journal").unlink()
    with pytest.raises(veritree.StorageError, match="no map"):
        veritree.Map.open(path)


def test_check_finds_a_flipped_byte_in_a_node_file(tmp_path: Path) -> None:
    path = tmp_path / "m"
    rng = random.Random(5)
    keys = [rng.randbytes(32) for _ in range(300)]
    with veritree.Map.open(path, create=True) as m:
        m.update(keys, [rng.randbytes(32) for _ in keys])
        assert m.check() == 2 * len(keys) - 1
    leaves = bytearray((path / "leaves").read_bytes())
    leaves[64 * 7 + 50] ^= 0x08  # the value of the eighth leaf
    (path / "leaves").write_bytes(bytes(leaves))
    with veritree.Map.open(path) as m:
        with pytest.raises(veritree.StorageError, match="damaged"):
            m.check()
        # Served anyway, the damaged value does not verify against the root.
        damaged = bytes(leaves[64 * 7 : 64 * 7 + 32])
        assert damaged in keys
        with pytest.raises(veritree.VerificationError):
            veritree.verify_prefix_proof(m.root(), [damaged], [m.get(damaged)], m.prove([damaged]))
