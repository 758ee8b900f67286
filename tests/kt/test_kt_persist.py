"""The on-disk KEYTRANS directory (`KtDirectory.open`): it reopens as the same
log, refuses other keys and options and a second writer, and keeps every entry
whose `publish` returned when its writer is SIGKILLed at random moments.

The writer (run as `python test_kt_persist.py writer DIR`) publishes entry
after entry, deterministic in the entry's index, printing each index once
`publish` has returned; `crash_harness.last_acknowledged` kills it.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import veritree
from crash_harness import last_acknowledged

T0 = 1_700_000_000_000  # ms since the epoch of entry 0; entry i is i seconds later
SIGNING_KEY = bytes(range(32))
VRF_KEY = bytes(range(32, 64))
RMW = 10_000
MAX_BEHIND = 10**12  # the checks run long after the entries' timestamps
LABELS = 13


def open_directory(path: Path, create: bool = False, vrf_key: bytes = VRF_KEY, recent: int = 4) -> veritree.KtDirectory:
    return veritree.KtDirectory.open(
        path, SIGNING_KEY, vrf_key, create=create, reasonable_monitoring_window=RMW, max_behind=MAX_BEHIND, recent=recent
    )


def updates(i: int) -> list[tuple[bytes, bytes]]:
    """What entry `i` stages: one label, and a second one every third entry."""
    labels = [i % LABELS] + ([(i * 7 + 3) % LABELS] if i % 3 == 0 else [])
    return [(b"user%d" % u, b"keys of user%d at %d" % (u, i)) for u in dict.fromkeys(labels)]


def publish(d: veritree.KtDirectory) -> int:
    i = d.size
    for label, value in updates(i):
        d.stage(label, value)
    return d.publish(T0 + 1000 * i)


def expected(label: bytes, size: int) -> tuple[int, bytes] | None:
    """The greatest version of `label`, and its value, after `size` entries."""
    values = [v for i in range(size) for lab, v in updates(i) if lab == label]
    return (len(values) - 1, values[-1]) if values else None


def check(client: veritree.KtClient, d: veritree.KtDirectory) -> None:
    """The client verifies every label's greatest version, and it is the model's."""
    now = T0 + 1000 * (d.size - 1) + 5
    for u in range(LABELS):
        label = b"user%d" % u
        want = expected(label, d.size)
        if want is None:
            continue
        request = client.search_request(label)
        found = client.verify_search(request, d.search(request), now_ms=now)
        assert (found.version, found.value) == want


def test_reopen_after_close(tmp_path: Path) -> None:
    path = tmp_path / "kt"
    with open_directory(path, create=True) as d:
        assert d.path == path
        for _ in range(20):
            publish(d)
        config = d.config
        client = veritree.KtClient(config)
        check(client, d)
        requests = [client.search_request(b"user%d" % u) for u in range(LABELS)]
        requests_d = [client.distinguished_request()]
        before = [d.search(r) for r in requests] + [d.distinguished(r) for r in requests_d]
    with pytest.raises(veritree.StorageError, match="closed"):
        d.search(requests[0])
    assert repr(d) == "KtDirectory(closed)"
    with open_directory(path) as d:
        assert (d.size, d.config) == (20, config)
        assert [d.search(r) for r in requests] + [d.distinguished(r) for r in requests_d] == before
        check(client, d)
        publish(d)
        check(client, d)
        with pytest.raises(veritree.StorageError, match="another process"):
            open_directory(path)
    assert veritree.KtDirectory(SIGNING_KEY, VRF_KEY).path is None


def test_other_keys_options_or_folders_are_refused(tmp_path: Path) -> None:
    with open_directory(tmp_path / "kt", create=True) as d:
        publish(d)
    with pytest.raises(ValueError, match="VRF key"):
        open_directory(tmp_path / "kt", vrf_key=bytes(32))
    with pytest.raises(ValueError, match="reasonable_monitoring_window"):
        veritree.KtDirectory.open(tmp_path / "kt", SIGNING_KEY, VRF_KEY, max_behind=MAX_BEHIND)
    with pytest.raises(ValueError, match="recent=4, not 5"):
        open_directory(tmp_path / "kt", recent=5)
    with pytest.raises(veritree.StorageError, match="create=True"):
        open_directory(tmp_path / "missing")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_bytes(b"mine")
    with pytest.raises(veritree.StorageError, match="notes.txt"):
        open_directory(tmp_path / "busy", create=True)
    with open_directory(tmp_path / "kt") as d:
        assert d.size == 1


def writer(directory: str) -> None:
    with open_directory(Path(directory), create=True) as d:
        print("ready", d.size, flush=True)
        while True:
            print(publish(d) + 1, flush=True)


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "kt"
    rng = random.Random(7)
    client: veritree.KtClient | None = None
    sizes = []
    for _ in range(25):
        acknowledged = last_acknowledged([__file__, "writer", str(path)], rng, 0.15)
        with open_directory(path) as d:
            assert acknowledged <= d.size <= acknowledged + 1, f"{acknowledged} acknowledged, {d.size} on disk"
            if client is None and d.size > 0:
                client = veritree.KtClient(d.config)
            if client is not None:
                check(client, d)
            sizes.append(d.size)
    assert sizes == sorted(sizes), "the log never goes back across crashes"
    assert sizes[-1] > 50, "the writers made progress"


if __name__ == "__main__":
    writer(sys.argv[2])
