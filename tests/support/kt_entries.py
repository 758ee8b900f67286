"""A deterministic KEYTRANS directory for tests that crash, reopen and read
it from several processes: entry `i` stages `updates(i)`, so any process can
tell what a directory of any size holds (`expected`)."""

from __future__ import annotations

from pathlib import Path

import veritree

T0 = 1_700_000_000_000  # ms since the epoch of entry 0; entry i is i seconds later
SIGNING_KEY = bytes(range(32))
VRF_KEY = bytes(range(32, 64))
RMW = 10_000
MAX_BEHIND = 10**12  # the checks run long after the entries' timestamps
LABELS = 13


def open_directory(
    path: Path | str, create: bool = False, vrf_key: bytes = VRF_KEY, recent: int = 4, reader: bool = False
) -> veritree.KtDirectory:
    """The directory in the folder `path`, or in the database `path` names (a PostgreSQL URL)."""
    return veritree.KtDirectory.open(
        path, SIGNING_KEY, vrf_key, create=create, reader=reader, reasonable_monitoring_window=RMW,
        max_behind=MAX_BEHIND, recent=recent
    )


BULK = 400  # labels every eighth entry adds: the label index grows (it starts at 2560) by entry 56


def updates(i: int) -> list[tuple[bytes, bytes]]:
    """What entry `i` stages: one label, a second one every third entry, and
    `BULK` labels of their own every eighth (a larger write to be killed in)."""
    labels = [i % LABELS] + ([(i * 7 + 3) % LABELS] if i % 3 == 0 else [])
    users = [(b"user%d" % u, b"keys of user%d at %d" % (u, i)) for u in dict.fromkeys(labels)]
    bulk = [(b"bulk%d-%d" % (i, k), bytes([k % 256]) * 250) for k in range(BULK)] if i % 8 == 7 else []
    return users + bulk


def publish(d: veritree.KtDirectory) -> int:
    i = d.size
    for label, value in updates(i):
        d.stage(label, value)
    return d.publish(T0 + 1000 * i)


def expected(label: bytes, size: int) -> tuple[int, bytes] | None:
    """The greatest version of `label`, and its value, after `size` entries."""
    values = [v for i in range(size) for lab, v in updates(i) if lab == label]
    return (len(values) - 1, values[-1]) if values else None
