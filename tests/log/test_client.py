"""The read-only tile client, over a directory and over real HTTP."""

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import veritree
from veritree.client import TileClient, directory_fetch

ORIGIN = "example.com/log"


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return veritree.generate_note_key(ORIGIN)


def make_log(path: Path, sk: str, n: int, tag: bytes = b"") -> veritree.Log:
    log = veritree.Log.open(path, origin=ORIGIN, signer=sk, create=True)
    log.extend([b"%s entry %d" % (tag, i) for i in range(n)])
    return log


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static web server over a directory, as a CDN would serve the log."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_client_follows_a_growing_log_over_http(served, keys) -> None:
    root, url = served
    sk, vk = keys
    log = make_log(root / "log", sk, 1000)
    client = TileClient(url + "log", [vk], origin=ORIGIN)
    with pytest.raises(ValueError, match="update"):
        client.entry(0)
    assert client.update() == (ORIGIN, 1000, log.root())
    client.verify_entry(700, b" entry 700")
    assert client.entry(999) == b" entry 999"
    assert client.inclusion_proof(5) == log.inclusion_proof(5)
    with pytest.raises(veritree.VerificationError):
        client.verify_entry(700, b" entry 701")
    log.extend([b"more %d" % i for i in range(70_000)])
    assert client.update()[1] == 71_000  # consistency with size 1000 proven from tiles
    client.verify_entry(70_999, b"more 69999")


def test_client_over_a_directory_detects_damage_rollback_and_forks(tmp_path: Path, keys) -> None:
    sk, vk = keys
    log = make_log(tmp_path / "log", sk, 600)
    old_checkpoint = log.checkpoint()
    log.extend([b"later"] * 100)
    client = TileClient(tmp_path / "log", [vk])
    client.update()
    # Wrong keys: nothing verifies.
    other_sk, other_vk = veritree.generate_note_key(ORIGIN)
    with pytest.raises(veritree.VerificationError):
        TileClient(tmp_path / "log", [other_vk]).update()
    # Rollback: an older (genuinely signed) checkpoint is refused.
    (tmp_path / "log/checkpoint").write_text(old_checkpoint)
    with pytest.raises(veritree.VerificationError, match="shrank"):
        client.update()
    # Fork: the same key signs a different tree of a larger size.
    fork = make_log(tmp_path / "fork", sk, 800, tag=b"forged")
    shutil.rmtree(tmp_path / "log")
    shutil.copytree(tmp_path / "fork", tmp_path / "log")
    with pytest.raises(veritree.VerificationError):
        client.update()
    assert client.size == 700, "a refused update leaves the client where it was"
    # A checkpoint that is not text is the log's fault, not a ValueError of the caller's.
    (tmp_path / "log/checkpoint").write_bytes(b"example.com/log\n\xff\n")
    with pytest.raises(veritree.VerificationError, match="not UTF-8"):
        client.update()
    assert client.size == 700
    # Damage: a flipped byte in a full tile is reported, not served.
    fresh = TileClient(tmp_path / "fork", [vk])
    fresh.update()
    tile = tmp_path / "fork/tile/0/001"
    data = bytearray(tile.read_bytes())
    data[3] ^= 1
    tile.write_bytes(bytes(data))
    with pytest.raises(veritree.StorageError, match="damaged"):
        fresh.inclusion_proof(300)
    assert fresh.entry(3) == b"forged entry 3"
    fork.close()


def test_client_fetches_only_tlog_resources(tmp_path: Path) -> None:
    fetch = directory_fetch(tmp_path)
    (tmp_path / "checkpoint").write_bytes(b"x" * 100)
    for bad in ["../etc/passwd", "/etc/passwd", "tile/0/../../x", "tile/64/000", "tile/0/1", "tile/0/000.p/256",
                "tile/0/000.p/0", ".veritree/config", "checkpoint/"]:
        with pytest.raises(ValueError, match="not a tlog-tiles resource"):
            fetch(bad, 10)
    with pytest.raises(OSError, match="larger"):
        fetch("checkpoint", 99)
    assert fetch("checkpoint", 100) == b"x" * 100
    with pytest.raises(ValueError, match="http"):
        TileClient("ftp://example.com/log", [])
