"""Writes the fuzz targets' seed corpus (seeds/<target>/): valid messages made with the veritree package,
so that the fuzzer starts past the first length checks; and, for the structure-aware targets that build
their honest states themselves, a few inputs that walk their main flows at once. Run from the repository
root after installing it:

    python fuzz/make_seeds.py
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import veritree

# The keys the `notes` target verifies with (fuzz_targets/notes.rs).
LOG_KEY = "PRIVATE+KEY+example.com/log+35ef7f0c+Aapsv124G8j8wDYN1RQe1b0XzcwvxMy7eG6r5wuInQhi"
LOG_VKEY = "example.com/log+35ef7f0c+ASPUayhAR596LMx9N2hjeRnC0L92ktnNq9M9qnzfrvQj"
WITNESS_KEY = "PRIVATE+KEY+witness.example/w1+710c374f+BMP91ILgn/n0R+W6gOYLhlEietNEwNK6DiBfcjuBn/Ro"
WITNESS_VKEY = "witness.example/w1+710c374f+BAvw23DUHoguEhtKDNLfE11WKmnS1A8Qx+qrTD4oqTvY"
T0 = 1_700_000_000_000
SEEDS = Path(__file__).resolve().parent / "seeds"


def write(target: str, seeds: list[bytes]) -> None:
    folder = SEEDS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for s in seeds:
        (folder / hashlib.sha256(s).hexdigest()[:16]).write_bytes(s)


class Arb:
    """Inputs in the byte layout of the `arbitrary` crate (1.x), which the structure-aware targets decode:
    integers little-endian, a bool one byte (odd: true), an Option a bool then the value, a Vec each
    element after a true byte then a false byte, an enum a u32 tag whose variant is `tag * count >> 32`,
    a struct its fields in order. `cargo fuzz fmt TARGET SEED` shows what a seed decodes to."""

    @staticmethod
    def int(n: int, size: int) -> bytes:
        return n.to_bytes(size, "little", signed=n < 0)

    @staticmethod
    def bool(b: bool) -> bytes:
        return bytes([int(b)])

    @staticmethod
    def option(value: bytes | None) -> bytes:
        return b"\x00" if value is None else b"\x01" + value

    @staticmethod
    def vec(items: list[bytes]) -> bytes:
        return b"".join(b"\x01" + i for i in items) + b"\x00"

    @staticmethod
    def data(b: bytes) -> bytes:
        return Arb.vec([bytes([x]) for x in b])

    @staticmethod
    def variant(index: int, count: int, *fields: bytes) -> bytes:
        return Arb.int(-(-(index << 32) // count), 4) + b"".join(fields)


def u8(n: int) -> bytes:
    return Arb.int(n, 1)


def u16(n: int) -> bytes:
    return Arb.int(n, 2)


def kt_update() -> list[bytes]:
    """Owners staging, retrying and hearing back; crafted requests beside versions staged directly."""
    none = Arb.vec([]) + Arb.option(None)  # no tampering

    def owner(dave: bool, *values: bytes) -> bytes:
        return Arb.variant(0, 5, Arb.bool(dave), Arb.vec([Arb.data(v) for v in values]), none)

    def crafted(last: bytes, label: int, greatest: bytes, *values: bytes) -> bytes:
        return Arb.variant(1, 5, last, Arb.variant(0, 2, u8(label)), greatest, Arb.vec([Arb.data(v) for v in values]),
                           none)

    def publish(gap_s: int) -> bytes:
        return Arb.variant(4, 5, u8(gap_s))

    size, unseen, honest = Arb.variant(1, 4), Arb.variant(0, 4), Arb.variant(0, 3)
    return [
        Arb.vec([owner(False, b"alice's new keys"), owner(False, b"alice's new keys"), publish(0), owner(False)]),
        Arb.vec([owner(True, b"dave's keys", b"dave's phone"), publish(30), owner(True)]),
        Arb.vec([crafted(size, 1, honest, b"bob's new keys"),
                 Arb.variant(3, 5, Arb.variant(0, 2, u8(2)), Arb.data(b"carol's new keys")),
                 crafted(unseen, 1, Arb.variant(1, 3, Arb.int(-2, 1))), publish(1)]),
    ]


def auditor() -> list[bytes]:
    """Honest updates in order; tampered, replayed and foreign ones between them."""
    nxt = Arb.variant(0, 5)

    def tampered(*edits: bytes) -> bytes:
        return Arb.variant(3, 5, Arb.option(None), Arb.vec(list(edits)))

    return [
        u8(0) + Arb.vec([nxt] * 12),
        u8(2) + Arb.vec([tampered(Arb.variant(2, 15, u8(0), u8(1))), nxt, tampered(Arb.variant(3, 15, u8(0))), nxt,
                         Arb.variant(1, 5, u8(0)), nxt]),
        u8(0) + Arb.vec([Arb.variant(2, 5, u8(0)), Arb.variant(2, 5, u8(1)), nxt]),
        u8(4) + Arb.vec([tampered(Arb.variant(1, 15, Arb.int(-1, 2))),
                         tampered(Arb.variant(10, 15, u8(6), Arb.bool(False))), nxt]),
    ]


def map_journal() -> list[bytes]:
    """The undamaged journal; a node file length past what it holds; the prune dropped; a middle record's
    length rotted; freed slots overdrawn; a stale node that is not; a prune past the versions."""

    def field(record: int, field: bytes, to: bytes) -> bytes:
        return Arb.variant(0, 10, u8(record), field, to)

    return [
        b"",
        Arb.vec([field(5, Arb.variant(3, 7, u8(2)), Arb.variant(2, 4, u8(58), Arb.int(0, 1)))]),
        Arb.vec([Arb.variant(2, 10, u8(3))]),
        Arb.vec([Arb.variant(7, 10, Arb.int(32 + 3, 4), u8(0))]),
        Arb.vec([field(4, Arb.variant(4, 7, u8(0)), Arb.variant(0, 4, Arb.int(1, 1)))]),
        Arb.vec([field(1, Arb.variant(6, 7, u8(0)), Arb.variant(3, 4, u8(2), u16(0)))]),
        Arb.vec([Arb.variant(6, 10, u8(6), u8(7))]),
    ]


def prefix_proof_diff() -> list[bytes]:
    """Keys present, beside a leaf and under a missing child; asked in order (an insertion); a result's
    type, shown leaf, depth or claim changed."""

    def case(asked: list[int], sorted_: bool, *edits: bytes) -> bytes:
        return Arb.data(bytes(asked)) + Arb.bool(sorted_) + Arb.vec(list(edits)) + Arb.vec([]) + Arb.option(None)

    return [
        case([2, 3, 70, 200], False),
        case([31, 66, 130], True),
        case([1, 100], False, Arb.variant(0, 17, u8(0), u8(3))),
        case([5, 69], False, Arb.variant(3, 17, u8(1), u8(6), Arb.option(None)),
             Arb.variant(2, 17, u8(0), Arb.int(1, 1))),
        case([27, 91], False, Arb.variant(13, 17, u8(0), Arb.option(u8(9)))),
    ]


def akd() -> list[bytes]:
    """akd's proofs, each behind the byte that says what it is (fuzz_targets/akd.rs)."""
    vectors = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "akd"
    published = json.loads((vectors / "akd-published-whatsapp_v1.json").read_text())
    generated = json.loads((vectors / "akd-0.13.json").read_text())
    seeds = [b"\x00" + bytes.fromhex(published["lookup_proof"]), b"\x01" + bytes.fromhex(published["history_complete"])]
    seeds.append(b"\x05" + bytes.fromhex(published["history_most_recent_1"]))
    seeds += [b"\x02" + bytes.fromhex(c["proof"]) for c in generated["append_only"] if len(c["proof"]) < 200_000]
    seeds += [b"\x03" + b["name"].encode() + b"\n" + bytes.fromhex(b["blob"]) for b in generated["blobs"][:3]]
    return seeds


def notes() -> list[bytes]:
    log = veritree.Log()
    log.extend([b"entry %d" % i for i in range(20)])
    checkpoint = veritree.sign_checkpoint("example.com/log", 20, log.root(), LOG_KEY)
    cosigned = veritree.cosign_checkpoint(checkpoint, WITNESS_KEY, T0 // 1000)
    proof = veritree.format_tlog_proof(3, log.inclusion_proof(3), cosigned)
    return [s.encode() for s in (checkpoint, cosigned, proof, veritree.sign_note("hello\n", [LOG_KEY]),
                                 LOG_KEY, LOG_VKEY, WITNESS_VKEY)]


def kt() -> tuple[list[bytes], list[bytes]]:
    """(messages for kt_messages, requests for kt_directory), each after its selector byte."""
    d = veritree.KtDirectory(bytes([7] * 32), bytes([8] * 32), reasonable_monitoring_window=10_000)
    for i in range(40):
        if i % 3 == 0:
            d.stage(b"user%d" % (i % 5), b"keys %d" % i)
        d.publish(T0 + 1000 * i)
    c = veritree.KtClient(d.config)
    for u in range(5):
        search = c.search_request(b"user%d" % u)
        found = d.search(search)
        c.verify_search(search, found, now_ms=T0 + 39_005)
    monitored = next(b"user%d" % u for u in range(5) if b"user%d" % u in c.monitored_labels)
    monitor = c.monitor_request(monitored)
    distinguished = c.distinguished_request()
    owner_init = c.owner_init_request(b"user2", 0)
    messages = [bytes([0]) + search, bytes([1]) + found, bytes([2]) + monitor, bytes([3]) + d.monitor(monitor),
                bytes([4]) + distinguished, bytes([5]) + owner_init, bytes([6]) + d.owner_init(owner_init),
                bytes([12]) + d.config, bytes([14]) + c.save()]
    requests = [bytes([0]) + search, bytes([1]) + monitor, bytes([2]) + distinguished, bytes([3]) + owner_init]
    return messages, requests


if __name__ == "__main__":
    write("notes", notes())
    write("akd", akd())
    messages, requests = kt()
    write("kt_messages", messages)
    write("kt_directory", requests)
    write("kt_update", kt_update())
    write("auditor", auditor())
    write("map_journal", map_journal())
    write("prefix_proof_diff", prefix_proof_diff())
