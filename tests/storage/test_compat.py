"""Stores written by earlier versions open with this one, read the same, and
take new writes: `stores-0.1` by the version before issue 17's restructuring
(commit cf2b8f6; the KEYTRANS directory's first format, a journal),
`stores-0.2` by issue 18's (its format 2: files and a head, some VRF proofs
not completed yet); each folder's make.py made it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import veritree
from veritree import KtDirectory, Log, Map
from veritree.client import TileClient

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


@pytest.fixture(params=["stores-0.1", "stores-0.2"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A private copy (git does not keep modes, and stores refuse open folders)."""
    out = tmp_path / "stores"
    shutil.copytree(VECTORS / request.param, out)
    shutil.rmtree(out / "log" / ".veritree" / "tmp", ignore_errors=True)  # as a clone has it: git keeps no empty folder
    for folder, dirs, _ in os.walk(out):
        os.chmod(folder, 0o700)
        for d in dirs:
            os.chmod(Path(folder) / d, 0o700)
    return out


def expected(stores: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((stores / "expected.json").read_text())
    return loaded


def test_a_tile_log_of_the_previous_version(stores: Path) -> None:
    want = expected(stores)["log"]
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
    want = expected(stores)["map"]
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
    want = expected(stores)["kt"]
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
        client = veritree.KtClient(d.config)
        request = client.search_request(b"bob")
        before = d.search(request)
        while d.fill_proofs():
            pass
        assert d.search(request) == before
        found = client.verify_search(request, before, now_ms=1_700_000_100_005)
        assert (found.version, found.value) == (1, b"value of bob at 2")
