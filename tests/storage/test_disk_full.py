"""A disk that fills up under every store: the write fails with StorageError,
what is on disk stays as before it, and once space is freed the same object
writes again — no restart. Run on a small tmpfs, which needs root (CI runs as
root); elsewhere these skip, and the Rust unit tests inject the same faults
(`a_failed_append_keeps_the_batch_staged_and_the_next_one_succeeds`,
`a_failed_write_leaves_the_map_as_it_was_and_the_next_succeeds`)."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import veritree
from veritree import KtClient, KtDirectory, Log, Map, StorageIOError



class SmallDisk:
    """A tmpfs of `size` bytes at `path`, which `fill` fills and `free` empties again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (1 << 16, 1 << 12, 1):
                try:
                    while os.write(fd, b"\0" * chunk):
                        pass
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the Rust unit tests inject these faults")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _published(path: Path, d: KtDirectory) -> tuple[int, bytes, bytes, bytes]:
    """What a directory publishes: its size, head and config files, and an answer (bytes of its files past
    the published ends belong to no publication)."""
    answer = d.search(KtClient(d.config).search_request(b"alice"))
    return d.size, (path / "head").read_bytes(), (path / "config").read_bytes(), answer


def _tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` (but the filler and locks), by relative name."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and p.name not in ("filler", "lock")}


def test_a_full_disk_fails_a_directory_publish_and_the_next_succeeds(disk: SmallDisk) -> None:
    path = disk.path / "kt"
    with KtDirectory.open(path, bytes(32), bytes([1] * 32), create=True) as d:
        d.stage(b"alice", b"a0")
        d.publish(1_000)
        before = _published(path, d), sorted(_tree(path))
        for i in range(40):  # a record of ~45 KB: it needs new pages
            d.stage(b"user%d" % i, bytes(1024))
        disk.fill()
        for attempt in range(2):
            with pytest.raises(StorageIOError, match="No space"):
                d.publish(2_000)
            assert (_published(path, d), sorted(_tree(path))) == before, f"attempt {attempt}: nothing half-applied"
            assert d.staged == 40, "the updates stay staged"
        disk.free()
        assert d.publish(2_000) == 1, "the same directory publishes once there is room"
        assert d.greatest_version(b"user39") == 0
        root = d.size, d.config
    with KtDirectory.open(path, bytes(32), bytes([1] * 32)) as d:
        assert (d.size, d.config) == root, "the entry published after the fault is durable"
        assert d.value(b"user7") == bytes(1024)


def test_a_full_disk_fails_a_map_update_and_the_next_succeeds(disk: SmallDisk) -> None:
    path = disk.path / "map"
    keys = [bytes([i % 256, i // 256]) + bytes(30) for i in range(20_000)]
    with Map.open(path, create=True) as m:
        m.update(keys[:100], keys[:100])
        before = (m.version, m.root())
        disk.fill()
        with pytest.raises(StorageIOError):
            m.update(keys, keys)  # ~2 MB of nodes: the node files cannot grow
        assert (m.version, m.root()) == before
        m.check()
        disk.free()
        assert m.update(keys, keys) == 2
        expected = Map()
        expected.update(keys[:100], keys[:100])
        expected.update(keys, keys)
        assert m.root() == expected.root()
    with Map.open(path) as m:
        assert (m.version, m.root()) == (2, expected.root())
        m.check()


def test_a_full_disk_fails_a_log_extend_and_the_next_succeeds(disk: SmallDisk) -> None:
    path = disk.path / "log"
    signer, verifier = veritree.generate_note_key("example.com/full")
    entries = [b"entry %d " % i + bytes(200) for i in range(20_000)]
    with Log.open(path, origin="example.com/full", signer=signer, create=True, dedup=True) as log:
        log.extend(entries[:300])
        checkpoint = log.checkpoint()
        disk.fill()
        with pytest.raises(StorageIOError):
            log.extend(entries[300:])  # ~4 MB of bundles and tiles
        assert (len(log), log.checkpoint()) == (300, checkpoint)
        assert (path / "checkpoint").read_text() == checkpoint, "the published checkpoint is unchanged"
        assert not any((path / ".veritree" / "tmp").iterdir()), "no staged leftovers fill the disk"
        disk.free()
        assert log.extend(entries[300:]) == 300
        expected = Log()
        expected.extend(entries)
        assert log.root() == expected.root()
        assert log.index_of(veritree.leaf_hash(entries[19_999])) == 19_999, "the dedup index kept up"
    with Log.open(path, signer=signer) as log:
        assert (len(log), log.root()) == (20_000, expected.root())
        assert veritree.verify_checkpoint(log.checkpoint(), [verifier])[1] == 20_000


def test_a_served_directory_reports_a_full_disk_and_heals(disk: SmallDisk, caplog: pytest.LogCaptureFixture) -> None:
    """Through the HTTP server: health says 503 with the reason while the
    disk is full, the failure is logged, and once space is freed the next
    publication goes through, without a restart."""
    import time

    from veritree.ckv.http import HttpTransport
    from veritree.ckv.server import create_app, serve_in_thread
    from veritree.ckv.transport import Unavailable

    def wait_for(check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not check():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)

    def healthy(t: HttpTransport) -> bool:
        try:
            t.health()
        except Unavailable:
            return False
        return True

    with KtDirectory.open(disk.path / "kt", bytes(32), bytes([1] * 32), create=True) as d:
        app = create_app(d, publish_interval=0.05)
        with serve_in_thread(app) as url, HttpTransport(url, timeout=5) as t:
            wait_for(lambda: healthy(t) and t.health()["size"] > 0)
            disk.fill()
            with caplog.at_level(logging.INFO, logger="veritree.ckv.server"):
                for i in range(40):  # a ~45 KB entry: it needs pages the disk lacks
                    d.stage(b"user%d" % i, bytes(1024))
                wait_for(lambda: not healthy(t))
                with pytest.raises(Unavailable, match="No space"):
                    t.health()
                size = d.size
                disk.free()
                wait_for(lambda: healthy(t) and d.staged == 0)
            assert d.size > size and d.value(b"user39") == bytes(1024)
            levels = {r.levelno for r in caplog.records if "No space" in r.getMessage() or "again" in r.getMessage()}
            assert {logging.ERROR, logging.WARNING} <= levels, caplog.text
