"""Writes the fuzz targets' seed corpus (seeds/<target>/): valid messages made with the veritree package,
so that the fuzzer starts past the first length checks. Run from the repository root after installing it:

    python fuzz/make_seeds.py
"""

from __future__ import annotations

import hashlib
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
    messages, requests = kt()
    write("kt_messages", messages)
    write("kt_directory", requests)
