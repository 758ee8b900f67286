"""The durable log (`Log.open`): tlog-tiles on disk, signed checkpoints,
reopening, one writer at a time, damage detected."""

from pathlib import Path

import pytest
import veritree

ORIGIN = "example.com/log"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return veritree.generate_note_key(ORIGIN)


def entries(lo: int, hi: int) -> list[bytes]:
    return [b"entry-%d" % i for i in range(lo, hi)]


def test_durable_log_matches_memory_and_reopens(tmp_path: Path, keys, suite: str) -> None:
    sk, vk = keys
    mem = veritree.Log(suite)
    with veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True, suite=suite) as log:
        assert log.path == tmp_path
        for lo, hi in [(0, 1), (1, 300), (300, 301), (301, 1000)]:
            assert log.extend(entries(lo, hi)) == lo
            mem.extend(entries(lo, hi))
        assert log.append(b"one more") == 1000
        mem.append(b"one more")
        cp = log.checkpoint()
        assert (tmp_path / "checkpoint").read_text() == cp
        assert veritree.verify_checkpoint(cp, [vk]) == (ORIGIN, 1001, mem.root())
        for size in (1, 256, 257, 1001):
            assert log.root(size) == mem.root(size)
        assert log.inclusion_proof(700) == mem.inclusion_proof(700)
        assert log.consistency_proof(300) == mem.consistency_proof(300)
        assert log.batch_inclusion_proof([3, 500, 999]) == mem.batch_inclusion_proof([3, 500, 999])
        assert log.entry(256) == b"entry-256"
        assert log.leaf_hash(999) == mem.leaf_hash(999)
    with pytest.raises(ValueError, match="closed"):
        len(log)
    with veritree.Log.open(tmp_path, signer=sk) as log:
        assert len(log) == 1001 and log.root() == mem.root()
        log.extend(entries(1001, 1500))
        mem.extend(entries(1001, 1500))
        assert log.root() == mem.root()


def test_layout_is_tlog_tiles(tmp_path: Path, keys) -> None:
    with veritree.Log.open(tmp_path, origin=ORIGIN, signer=keys[0], create=True) as log:
        log.extend(entries(0, 70_000))
    for rel, size in [("tile/0/272", 8192), ("tile/0/273.p/112", 112 * 32), ("tile/1/000", 8192),
                      ("tile/1/001.p/17", 17 * 32), ("tile/2/000.p/1", 32)]:
        assert (tmp_path / rel).stat().st_size == size, rel
    bundle = (tmp_path / "tile/entries/273.p/112").read_bytes()
    assert bundle[:2] == len(b"entry-69888").to_bytes(2, "big") and bundle[2:13] == b"entry-69888"


def test_one_writer_and_readers(tmp_path: Path, keys) -> None:
    sk, _ = keys
    writer = veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True)
    writer.extend(entries(0, 10))
    with pytest.raises(veritree.StorageError, match="another process"):
        veritree.Log.open(tmp_path, signer=sk)
    reader = veritree.Log.open(tmp_path)
    assert len(reader) == 10
    with pytest.raises(ValueError, match="read-only"):
        reader.extend([b"x"])
    writer.extend(entries(10, 20))
    assert len(veritree.Log.open(tmp_path)) == 20
    writer.close()
    veritree.Log.open(tmp_path, signer=sk).close()


def test_bad_arguments_and_missing_or_damaged_logs(tmp_path: Path, keys) -> None:
    sk, _ = keys
    with pytest.raises(veritree.StorageError, match="no log"):
        veritree.Log.open(tmp_path / "missing")
    with pytest.raises(ValueError, match="signer"):
        veritree.Log.open(tmp_path, origin=ORIGIN, create=True)
    with pytest.raises(ValueError, match="origin"):
        veritree.Log.open(tmp_path, signer=sk, create=True)
    log = veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True)
    with pytest.raises(ValueError, match="already holds a log"):
        veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True)
    with pytest.raises(ValueError, match="extend_hashes"):
        log.extend_hashes([bytes(32)])
    with pytest.raises(ValueError, match="65535"):
        log.extend([b"ok", b"x" * 70_000])
    assert len(log) == 0, "a refused extend writes nothing"
    log.extend(entries(0, 600))
    log.close()
    with pytest.raises(ValueError, match="origin"):
        veritree.Log.open(tmp_path, origin="other.example/log")
    with pytest.raises(ValueError, match="suite"):
        veritree.Log.open(tmp_path, suite="blake3")
    # A flipped byte in a full tile is reported when a proof needs it.
    tile = tmp_path / "tile/0/001"
    data = bytearray(tile.read_bytes())
    data[40] ^= 1
    tile.write_bytes(bytes(data))
    reader = veritree.Log.open(tmp_path)
    with pytest.raises(veritree.StorageError, match="damaged"):
        reader.inclusion_proof(300)
    with pytest.raises(veritree.StorageError):
        reader.entry(300)
    assert reader.entry(5) == b"entry-5"
    # A truncated edge tile stops the log from opening.
    edge = tmp_path / "tile/0/002.p/88"
    edge.write_bytes(edge.read_bytes()[:-1])
    with pytest.raises(veritree.StorageError, match="truncated"):
        veritree.Log.open(tmp_path)


def test_dedup_index(tmp_path: Path, keys) -> None:
    sk, _ = keys
    with pytest.raises(ValueError, match="writer"):
        veritree.Log.open(tmp_path, dedup=True)
    with veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True, dedup=True) as log:
        log.extend(entries(0, 1000) + entries(5, 6))
        assert log.index_of(veritree.leaf_hash(b"entry-5")) == 5
        assert log.index_of(veritree.leaf_hash(b"absent")) is None
        with pytest.raises(ValueError, match="32 bytes"):
            log.index_of(b"short")
    with veritree.Log.open(tmp_path) as reader, pytest.raises(ValueError, match="dedup"):
        reader.index_of(veritree.leaf_hash(b"entry-5"))
    with pytest.raises(ValueError, match="dedup"):
        veritree.Log().index_of(bytes(32))
