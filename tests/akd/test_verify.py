"""veritree.akd against akd's published vectors, a small reference of akd's tree, and hostile arguments."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veritree import VerificationError, akd

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "akd"
PUBLISHED = json.loads((VECTORS / "akd-published-whatsapp_v1.json").read_text())


def h(*parts: bytes) -> bytes:
    return blake3.blake3(b"".join(parts)).digest()


# --- a reference of akd's tree (WhatsApp v1), written from akd's configuration, node by node ---


@dataclass(frozen=True)
class Node:
    bits: str  # the label as '0'/'1' characters
    value: bytes


def label_bytes(bits: str) -> bytes:
    """akd's 36-byte label: length (4 bytes big-endian) and 32 bytes of bits, zero past the length."""
    val = int(bits, 2) << (256 - len(bits)) if bits else 0
    return len(bits).to_bytes(4, "big") + val.to_bytes(32, "big")


EMPTY_LABEL = (0).to_bytes(4, "big") + b"\x01" * 32
EMPTY_NODE = h(h(b"\x00"), h(EMPTY_LABEL))


def child(value: bytes, label: bytes) -> bytes:
    return h(value, h(label))


def reference_root(nodes: list[Node]) -> bytes:
    """The root of the compressed trie holding `nodes` (each a leaf or a whole subtree)."""
    if not nodes:
        return h(h(b"\x00"), h(label_bytes("")))

    def side(group: list[Node], depth: int) -> bytes:
        if not group:
            return child(EMPTY_NODE, EMPTY_LABEL)
        if len(group) == 1:
            return child(group[0].value, label_bytes(group[0].bits))
        while len({n.bits[depth] for n in group}) == 1:
            depth += 1
        left = [n for n in group if n.bits[depth] == "0"]
        right = [n for n in group if n.bits[depth] == "1"]
        return child(h(side(left, depth + 1), side(right, depth + 1)), label_bytes(group[0].bits[:depth]))

    top = h(side([n for n in nodes if n.bits[0] == "0"], 1), side([n for n in nodes if n.bits[0] == "1"], 1))
    return h(top, h(label_bytes("")))


# --- protobuf encoding of the two messages the property test needs ---


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def element(node: Node) -> bytes:
    val = label_bytes(node.bits)[4:].rstrip(b"\x00")
    label = field(1, val) + varint(2 << 3) + varint(len(node.bits))
    return field(1, label) + field(2, node.value)


def append_only(unchanged: list[Node], inserted: list[Node], start_epoch: int) -> bytes:
    step = b"".join(field(1, element(n)) for n in inserted) + b"".join(field(2, element(n)) for n in unchanged)
    return field(1, step) + varint(2 << 3) + varint(start_epoch)


def leaf(value: bytes, epoch: int) -> bytes:
    return h(value, epoch.to_bytes(8, "big"))


@st.composite
def prefix_free(draw: st.DrawFn) -> tuple[list[Node], list[Node]]:
    """Unchanged subtrees (labels of any length) and inserted leaves (256 bits), no label under another."""
    labels: list[str] = []
    for _ in range(draw(st.integers(0, 12))):
        bits = draw(st.text("01", min_size=1, max_size=12))
        full = draw(st.booleans())
        if full:
            bits = (bits + "0" * 256)[:256]
        if all(not a.startswith(b) and not b.startswith(a) for a in labels for b in [bits]):
            labels.append(bits)
    nodes = [Node(b, draw(st.binary(min_size=32, max_size=32))) for b in labels]
    inserted = [n for n in nodes if len(n.bits) == 256 and draw(st.booleans())]
    return [n for n in nodes if n not in inserted], inserted


@settings(max_examples=200, deadline=None)
@given(prefix_free(), st.integers(0, 2**40))
def test_append_only_matches_a_node_by_node_reference(sets: tuple[list[Node], list[Node]], start: int) -> None:
    unchanged, inserted = sets
    before = reference_root(unchanged)
    after = reference_root(unchanged + [Node(n.bits, leaf(n.value, start + 1)) for n in inserted])
    proof = append_only(unchanged, inserted, start)
    akd.verify_append_only([before, after], proof)
    if inserted or unchanged:
        with pytest.raises(VerificationError):
            akd.verify_append_only([after, before] if before != after else [before, h(after)], proof)
    with pytest.raises(VerificationError):  # the inserted leaves hashed with another epoch
        if not inserted:
            raise VerificationError("nothing inserted: the epoch changes nothing")
        akd.verify_append_only([before, after], append_only(unchanged, inserted, start + 1))


def test_a_subtree_under_an_inserted_leaf_is_refused() -> None:
    """akd 0.13's rule (facebook/akd#495): a value that an insertion would split is an error, not dropped."""
    shell, leaf_bits = "0", "0" * 256
    unchanged = [Node(shell, h(b"old"))]
    inserted = [Node(leaf_bits, h(b"new"))]
    before = reference_root(unchanged)
    with pytest.raises(VerificationError, match="under another"):
        akd.verify_append_only([before, before], append_only(unchanged, inserted, 1))


def test_the_empty_root_is_the_reference_s() -> None:
    assert akd.EMPTY_ROOT == reference_root([])
    akd.verify_append_only([akd.EMPTY_ROOT, akd.EMPTY_ROOT], append_only([], [], 0))


# --- akd's published vectors ---


def published() -> tuple[bytes, bytes, int, bytes]:
    p = PUBLISHED
    return bytes.fromhex(p["vrf_public_key"]), bytes.fromhex(p["root"]), p["epoch"], bytes.fromhex(p["label"])


def test_the_published_lookup_and_histories_verify() -> None:
    key, root, epoch, label = published()
    found = akd.verify_lookup(key, root, epoch, label, bytes.fromhex(PUBLISHED["lookup_proof"]))
    assert found.version == PUBLISHED["history_complete_versions"] and found.epoch <= epoch
    history = akd.verify_history(key, root, epoch, label, bytes.fromhex(PUBLISHED["history_complete"]))
    assert [v.version for v in history] == [3, 2, 1] and history[0] == found
    recent = bytes.fromhex(PUBLISHED["history_most_recent_1"])
    assert akd.verify_history(key, root, epoch, label, recent, most_recent=1) == [found]
    with pytest.raises(VerificationError, match="complete key history"):
        akd.verify_history(key, root, epoch, label, recent)


def test_wrong_arguments_are_value_errors_and_false_proofs_verification_errors() -> None:
    key, root, epoch, label = published()
    proof = bytes.fromhex(PUBLISHED["lookup_proof"])
    with pytest.raises(ValueError, match="vrf_public_key must be 32 bytes"):
        akd.verify_lookup(key[:31], root, epoch, label, proof)
    with pytest.raises(ValueError, match="root_hash must be 32 bytes"):
        akd.verify_lookup(key, root + b"\x00", epoch, label, proof)
    with pytest.raises(ValueError, match="most_recent"):
        akd.verify_history(key, root, epoch, label, proof, most_recent=0)
    with pytest.raises(TypeError):
        akd.verify_lookup(key, root, "49", label, proof)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        akd.verify_append_only([root, root[:5]], b"")
    for bad in (b"", b"\x00", proof[:-1], proof + b"\x00", b"\xff" * 10):
        with pytest.raises(VerificationError):
            akd.verify_lookup(key, root, epoch, label, bad)
    with pytest.raises(VerificationError):  # a key that is not a curve point
        akd.verify_lookup(b"\xff" * 32, root, epoch, label, proof)
    with pytest.raises(VerificationError, match="root hashes"):
        akd.verify_append_only([root, root, root], append_only([], [], 0))


@pytest.mark.parametrize(
    "name",
    [
        "1/" + "00" * 32,
        "01/" + "00" * 32 + "/" + "00" * 32,
        "x/" + "00" * 32 + "/" + "00" * 32,
        "1/" + "0" * 63 + "/" + "00" * 32,
        "1/" + "00" * 32 + "/" + "00" * 32 + "/extra",
    ],
)
def test_malformed_blob_names_are_refused(name: str) -> None:
    with pytest.raises(VerificationError, match="EPOCH/PREVIOUS_ROOT/CURRENT_ROOT"):
        akd.verify_audit_blob(name, b"")


def test_a_blob_verifies_against_its_name_only() -> None:
    node = Node("1" * 256, h(b"v"))
    after = reference_root([Node(node.bits, leaf(node.value, 1))])
    blob = append_only([], [node], 0)
    blob = blob[2 : 2 + blob[1]]  # the SingleAppendOnlyProof inside the AppendOnlyProof
    name = f"1/{akd.EMPTY_ROOT.hex()}/{after.hex()}"
    assert akd.verify_audit_blob(name, blob) == akd.AuditStep(1, akd.EMPTY_ROOT, after)
    assert akd.parse_audit_blob_name(name) == akd.AuditStep(1, akd.EMPTY_ROOT, after)
    with pytest.raises(VerificationError, match="new root"):  # the same step named as epoch 2
        akd.verify_audit_blob(f"2/{akd.EMPTY_ROOT.hex()}/{after.hex()}", blob)
