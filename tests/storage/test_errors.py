"""One mapping from the core's error kinds to Python exceptions, each kind
raised by the failure it names: a missing store, damaged data, a failed
write, another writer, a closed object; and the kinds outside storage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import veritree
from veritree.client import directory_fetch
from veritree import (
    KtDirectory,
    Log,
    Map,
    StorageClosedError,
    StorageDamagedError,
    StorageError,
    StorageIOError,
    StorageLockedError,
    StorageNotFoundError,
    VerificationError,
    VeritreeError,
)

KINDS = [StorageNotFoundError, StorageDamagedError, StorageIOError, StorageLockedError, StorageClosedError]


def test_every_storage_kind_is_a_storage_error() -> None:
    for kind in KINDS:
        assert issubclass(kind, StorageError) and issubclass(kind, VeritreeError)
    assert len(set(KINDS)) == len(KINDS)


def test_a_missing_store_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(StorageNotFoundError, match="no map at"):
        Map.open(tmp_path / "none")
    with pytest.raises(StorageNotFoundError, match="no KEYTRANS directory"):
        KtDirectory.open(tmp_path / "none", bytes(32), bytes(32))
    with pytest.raises(StorageNotFoundError, match="no log at"):
        Log.open(tmp_path / "none")
    # A tile the reader cannot fetch (and no full tile in its place).
    with pytest.raises(StorageNotFoundError, match="tile/0/000.p/3"):
        veritree.TileReader(directory_fetch(tmp_path), 3, bytes(32))


def test_damaged_data_is_damaged(tmp_path: Path) -> None:
    with Map.open(tmp_path / "map", create=True) as m:
        m.update([bytes(32)], [bytes(32)])
    (tmp_path / "map" / "journal").write_bytes(b"not a map journal at all, not even close")
    with pytest.raises(StorageDamagedError, match="damaged"):
        Map.open(tmp_path / "map")


def test_a_second_writer_is_locked(tmp_path: Path) -> None:
    with Map.open(tmp_path / "map", create=True):
        with pytest.raises(StorageLockedError, match="another process"):
            Map.open(tmp_path / "map")


def test_a_closed_object_is_closed(tmp_path: Path) -> None:
    m = Map.open(tmp_path / "map", create=True)
    m.close()
    with pytest.raises(StorageClosedError, match="closed"):
        m.root()
    d = KtDirectory.open(tmp_path / "kt", bytes(32), bytes(32), create=True)
    d.close()
    with pytest.raises(StorageClosedError, match="closed"):
        _ = d.size


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads whatever the modes say; tests/storage/test_disk_full.py "
                    "raises StorageIOError from a full disk instead")
def test_a_refused_read_is_io(tmp_path: Path) -> None:
    with Map.open(tmp_path / "map", create=True):
        pass
    (tmp_path / "map" / "journal").chmod(0)
    with pytest.raises(StorageIOError):
        Map.open(tmp_path / "map")


def test_the_other_kinds(tmp_path: Path) -> None:
    log = Log()
    log.extend([b"a", b"b"])
    with pytest.raises(VerificationError):
        veritree.verify_inclusion(0, 2, veritree.leaf_hash(b"b"), log.inclusion_proof(0), log.root())
    with pytest.raises(IndexError):
        log.inclusion_proof(5)
    with pytest.raises(ValueError):
        veritree.leaf_hash(b"a", suite="no-such-suite")  # type: ignore[arg-type]
