"""The on-disk KEYTRANS directory (`KtDirectory.open`): it reopens as the same
log, refuses other keys and options and a second writer, and keeps every entry
whose `publish` returned when its writer is SIGKILLed at random moments.

The writer (run as `python test_kt_persist.py writer DIR`) publishes entry
after entry, deterministic in the entry's index, printing each index once
`publish` has returned, and completes VRF proofs in between;
`crash_harness.last_acknowledged` kills it.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest
import veritree
from crash_harness import last_acknowledged
from kt_entries import BULK, LABELS, MAX_BEHIND, SIGNING_KEY, T0, VRF_KEY, expected, open_directory, publish

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
            d.fill_proofs(64)  # kills land while proofs are completed too


def test_sigkill_at_random_moments(tmp_path: Path) -> None:
    path = tmp_path / "kt"
    rng = random.Random(7)
    client: veritree.KtClient | None = None
    sizes = []
    # 50 kills in CI; KT_CRASH_ROUNDS=1000 (say) for a longer run.
    for _ in range(int(os.environ.get("KT_CRASH_ROUNDS", "50"))):
        acknowledged = last_acknowledged([__file__, "writer", str(path)], rng, 0.15)
        with open_directory(path) as d:
            assert acknowledged <= d.size <= acknowledged + 1, f"{acknowledged} acknowledged, {d.size} on disk"
            if client is None and d.size > 0:
                client = veritree.KtClient(d.config)
            if client is not None:
                check(client, d)
            last_bulk = d.size - 1 - (d.size % 8)  # the last entry of BULK labels, if any
            if last_bulk >= 7:
                assert d.value(b"bulk%d-%d" % (last_bulk, BULK - 1)) == bytes([(BULK - 1) % 256]) * 250
            sizes.append(d.size)
    assert sizes == sorted(sizes), "the log never goes back across crashes"
    assert sizes[-1] > 80, "the writers made progress (the label index grew on the way)"


if __name__ == "__main__":
    writer(sys.argv[2])
