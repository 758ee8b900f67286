"""Stores written by the version before issue 17's restructuring (commit
cf2b8f6; tests/vectors/stores-0.1/make.py made them) open with this one, read
the same, and take new writes: the on-disk formats did not change."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import veritree
from veritree import KtDirectory, Log, Map
from veritree.client import TileClient

STORES = Path(__file__).resolve().parents[1] / "vectors" / "stores-0.1"
EXPECTED = json.loads((STORES / "expected.json").read_text())


@pytest.fixture
def stores(tmp_path: Path) -> Path:
    """A private copy (git does not keep modes, and stores refuse open folders)."""
    out = tmp_path / "stores"
    shutil.copytree(STORES, out)
    shutil.rmtree(out / "log" / ".veritree" / "tmp", ignore_errors=True)  # as a clone has it: git keeps no empty folder
    for folder, dirs, _ in os.walk(out):
        os.chmod(folder, 0o700)
        for d in dirs:
            os.chmod(Path(folder) / d, 0o700)
    return out


def test_a_tile_log_of_the_previous_version(stores: Path) -> None:
    want = EXPECTED["log"]
    with Log.open(stores / "log") as log:
        assert (len(log), log.root().hex(), log.checkpoint()) == (want["size"], want["root"], want["checkpoint"])
        assert log.entry(2303) == b"entry 2303"
    client = TileClient(stores / "log", [want["verifier"]])
    assert client.update()[1:] == (want["size"], bytes.fromhex(want["root"]))
    # It grows on (signed with a new key: the fixture's was not kept), consistent with what it was.
    signer, _ = veritree.generate_note_key("example.com/compat")
    with Log.open(stores / "log", signer=signer) as log:
        log.extend([b"more %d" % i for i in range(300)])
        veritree.verify_consistency(want["size"], len(log), bytes.fromhex(want["root"]), log.root(),
                                    log.consistency_proof(want["size"]))


def test_a_map_of_the_previous_version(stores: Path) -> None:
    want = EXPECTED["map"]
    keys = [bytes([i % 256, i // 256]) + bytes(30) for i in range(300)]
    with Map.open(stores / "map") as m:
        assert (m.version, m.oldest_version, m.root().hex(), len(m)) == (
            want["version"], want["oldest"], want["root"], want["count"])
        assert m.check() > 0
        assert m.get(keys[150]) == bytes(32) and m.get(keys[5]) is None
        m.update(keys[:10], keys[:10])
        root = m.root()
    with Map.open(stores / "map") as m:
        assert (m.version, m.root()) == (want["version"] + 1, root)


def test_a_keytrans_directory_of_the_previous_version(stores: Path) -> None:
    want = EXPECTED["kt"]
    sig, vrf = bytes(range(32)), bytes(range(32, 64))
    with KtDirectory.open(stores / "kt", sig, vrf) as d:
        assert (d.size, d.config.hex()) == (want["size"], want["config"])
        for label, value in want["values"].items():
            assert d.value(label.encode()) == bytes.fromhex(value)
            assert d.greatest_version(label.encode()) == want["versions"][label]
        d.stage(b"erin", b"new")
        d.publish(1_700_000_100_000)
    with KtDirectory.open(stores / "kt", sig, vrf) as d:
        assert d.size == want["size"] + 1 and d.value(b"erin") == b"new"
