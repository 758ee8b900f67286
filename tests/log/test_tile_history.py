"""Every checkpoint a durable log ever published stays readable from its
tiles alone, after the writer deleted partial tiles whose full tile exists
(as C2SP tlog-tiles allows); the client follows given checkpoint notes."""

from pathlib import Path

import pytest
import veritree
from veritree.client import TileClient, directory_fetch

ORIGIN = "example.com/log"
# Checkpoints inside partial tiles of levels 0, 1 and 2, across the 256,
# 65,536 and 131,072 boundaries.
SIZES = [1, 255, 256, 300, 700, 65_000, 65_535, 65_536, 65_537, 66_000, 100_000, 131_071, 131_072, 131_500,
         135_000, 135_001]


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return veritree.generate_note_key(ORIGIN)


def entry(i: int) -> bytes:
    return b"entry %d" % i


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, keys: tuple[str, str]) -> tuple[Path, list[str], veritree.Log]:
    """A log grown in many extends (its writer restarted once), every
    checkpoint it published, and the same tree in memory."""
    path = tmp_path_factory.mktemp("history")
    mem = veritree.Log()
    notes = []
    log = veritree.Log.open(path, origin=ORIGIN, signer=keys[0], create=True)
    notes.append(log.checkpoint())
    for size in SIZES:
        batch = [entry(i) for i in range(len(log), size)]
        log.extend(batch)
        mem.extend(batch)
        notes.append(log.checkpoint())
        if size == 65_535:
            log.close()
            log = veritree.Log.open(path, signer=keys[0])
    log.close()
    return path, notes, mem


def test_every_published_checkpoint_is_read_from_the_tiles(history, keys) -> None:
    path, notes, mem = history
    vk = keys[1]
    last = SIZES[-1]
    latest = veritree.TileReader(directory_fetch(path), last, mem.root())
    partials_gone = 0
    for note in notes:
        origin, size, root = veritree.verify_checkpoint(note, [vk])
        assert origin == ORIGIN and root == mem.root(size)
        reader = veritree.TileReader(directory_fetch(path), size, root)
        assert reader.root() == root
        for i in {0, size // 2, size - 1} if size else set():
            assert reader.entry(i) == entry(i)
            veritree.verify_inclusion(i, size, veritree.leaf_hash(entry(i)), reader.inclusion_proof(i), root)
        veritree.verify_consistency(size, last, root, mem.root(), latest.consistency_proof(size))
        if size % 256 and not (path / f"tile/entries/{size // 256:03d}.p/{size % 256}").exists():
            partials_gone += 1
    assert partials_gone >= 5, "the writer deleted partials of full tiles; readers went through the full tiles"
    # Bounded on disk: only partials of tiles not full yet, and the last two checkpoints' own.
    on_disk = sorted(str(p.relative_to(path)) for p in path.glob("tile/**/*.p/*"))
    assert len(on_disk) <= 12, on_disk
    assert "tile/2/000.p/1" in on_disk and "tile/2/000.p/2" in on_disk, "the level-2 tile is not full"
    assert not (path / "tile/1/000.p").exists(), "full level-1 tile: its partials are gone"


def test_the_client_reads_the_log_at_every_published_checkpoint(history, keys) -> None:
    path, notes, mem = history
    client = TileClient(path, [keys[1]], origin=ORIGIN)
    assert client.update() == (ORIGIN, SIZES[-1], mem.root())
    for note in notes:
        view = client.at(note)
        assert view.checkpoint == note and view.origin == ORIGIN
        assert view.root == mem.root(view.size)
        if view.size:
            i = view.size - 1
            assert view.entry(i) == entry(i)
            view.verify_entry(i, entry(i))
            assert view.inclusion_proof(0) == mem.inclusion_proof(0, view.size)
            with pytest.raises(veritree.VerificationError):
                view.verify_entry(i, entry(i + 1))
    assert client.size == SIZES[-1], "at() does not move the client"
    # A client that saw nothing yet follows the published checkpoints in order.
    fresh = TileClient(path, [keys[1]])
    for note in notes:
        _, size, _ = veritree.verify_checkpoint(note, [keys[1]])
        assert fresh.update(note)[1] == size
        assert fresh.checkpoint == note
        if size:
            assert fresh.entry(size - 1) == entry(size - 1)


def test_given_checkpoints_never_roll_the_client_back(tmp_path: Path, keys) -> None:
    sk, vk = keys
    log = veritree.Log.open(tmp_path / "log", origin=ORIGIN, signer=sk, create=True)
    log.extend([entry(i) for i in range(300)])
    old = log.checkpoint()
    log.extend([entry(i) for i in range(300, 700)])
    mid = log.checkpoint()
    log.extend([entry(i) for i in range(700, 1000)])
    client = TileClient(tmp_path / "log", [vk])
    assert client.update(mid) == (ORIGIN, 700, log.root(700))
    # An older checkpoint is proved consistent, and the client stays put.
    assert client.update(old) == (ORIGIN, 700, log.root(700))
    assert client.size == 700 and client.checkpoint == mid
    assert client.at(old).entry(299) == entry(299)
    # Newer: fetched or given, proved consistent with the head held.
    assert client.update() == (ORIGIN, 1000, log.root())
    assert client.update(mid)[1] == 1000
    # A fork signed by the same key, smaller, equal or larger: refused.
    fork = veritree.Log.open(tmp_path / "fork", origin=ORIGIN, signer=sk, create=True)
    fork.extend([b"forged %d" % i for i in range(500)])
    small_fork = fork.checkpoint()
    fork.extend([b"forged %d" % i for i in range(500, 1000)])
    for bad in (small_fork, fork.checkpoint()):
        with pytest.raises(veritree.VerificationError):
            client.update(bad)
        with pytest.raises(veritree.VerificationError):
            client.at(bad)
    assert client.size == 1000 and client.root == log.root()
    # Another key, another origin: not verified.
    other_sk, other_vk = veritree.generate_note_key(ORIGIN)
    stranger = veritree.Log.open(tmp_path / "other", origin=ORIGIN, signer=other_sk, create=True)
    with pytest.raises(veritree.VerificationError):
        client.update(stranger.checkpoint())
    with pytest.raises(veritree.VerificationError):
        TileClient(tmp_path / "log", [vk], origin="other.example/log").at(old)
    # The log's own checkpoint going back is a rollback, as before.
    (tmp_path / "log/checkpoint").write_text(mid)
    with pytest.raises(veritree.VerificationError, match="shrank"):
        client.update()
    for lg in (log, fork, stranger):
        lg.close()


def test_a_missing_partial_is_read_from_the_full_tile_or_named(tmp_path: Path, keys) -> None:
    sk, vk = keys
    log = veritree.Log.open(tmp_path, origin=ORIGIN, signer=sk, create=True)
    log.extend([entry(i) for i in range(300)])
    old = log.checkpoint()
    client = TileClient(tmp_path, [vk])
    # The full tile does not exist yet: the error names the partial tile.
    for partial in ("tile/0/001.p/44", "tile/entries/001.p/44"):
        saved = (tmp_path / partial).read_bytes()
        (tmp_path / partial).unlink()
        with pytest.raises(veritree.StorageError, match=partial.replace(".", r"\.")):
            client.at(old)
        (tmp_path / partial).write_bytes(saved)
    log.extend([entry(i) for i in range(300, 600)])
    # Now it does: the log may delete the partials, the client reads the full tiles.
    for partial in ("tile/0/001.p/44", "tile/entries/001.p/44"):
        (tmp_path / partial).unlink()
    client.update()
    view = client.at(old)
    assert view.entry(299) == entry(299) and view.root == log.root(300)
    # A damaged full tile in its place is reported, naming it.
    tile = tmp_path / "tile/0/001"
    data = bytearray(tile.read_bytes())
    data[32 * 10] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(veritree.StorageError, match="tile/0/001"):
        TileClient(tmp_path, [vk]).at(old)
    log.close()
