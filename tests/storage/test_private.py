"""Private by default: what the stores create is owner-only whatever the
umask, and an existing store that other users can reach is refused with the
fix in the message (tightening it silently would hide that it was exposed)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from veritree import KtDirectory, Map, StorageError

SIGNING, VRF = bytes(32), bytes([1] * 32)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


kt_files = {"config", "head", "lock", "log/heads", "log/entries", "log/starts", "labels/records",
            "labels/index-0", *(f"map/{n}" for n in ("branches", "cherries", "leaves", "versions"))}
kt_dirs = {"map", "log", "labels"}


def modes(root: Path) -> dict[str, int]:
    """The permission bits of `root` and everything under it, by relative name."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o277])
def test_a_directory_and_a_map_are_created_owner_only(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        with KtDirectory.open(tmp_path / "kt", SIGNING, VRF, create=True) as d:
            d.stage(b"alice", b"a0")
            d.publish(1_000)
        with Map.open(tmp_path / "map", create=True) as m:
            m.update([bytes(32)], [bytes(32)])
    map_files = {"journal", "lock", "branches", "cherries", "leaves"}
    for store, files, dirs in [("kt", kt_files, kt_dirs), ("map", map_files, set())]:
        found = modes(tmp_path / store)
        assert found.pop(".") == 0o700, store
        assert found == {**dict.fromkeys(files, 0o600), **dict.fromkeys(dirs, 0o700)}, store


def test_an_empty_folder_a_store_is_created_in_becomes_owner_only(tmp_path: Path) -> None:
    for name in ("kt", "map"):
        (tmp_path / name).mkdir(mode=0o755)
        os.chmod(tmp_path / name, 0o755)
    KtDirectory.open(tmp_path / "kt", SIGNING, VRF, create=True).close()
    Map.open(tmp_path / "map", create=True).close()
    assert stat.S_IMODE((tmp_path / "kt").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "map").stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o770, 0o755])
def test_an_existing_store_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    KtDirectory.open(tmp_path / "kt", SIGNING, VRF, create=True).close()
    Map.open(tmp_path / "map", create=True).close()
    for name, opening in [("kt", lambda: KtDirectory.open(tmp_path / "kt", SIGNING, VRF)),
                          ("map", lambda: Map.open(tmp_path / "map"))]:
        os.chmod(tmp_path / name, mode)
        with pytest.raises(StorageError, match=f"chmod 700 {tmp_path / name}"):
            opening()
        os.chmod(tmp_path / name, 0o700)
        opening().close()


def test_serve_keeps_its_data_folder_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import uvicorn

    from veritree import cli

    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: None)
    fresh, empty, used = tmp_path / "fresh", tmp_path / "empty", tmp_path / "used"
    empty.mkdir()
    os.chmod(empty, 0o755)
    with umask(0):
        assert cli.main(["serve", "--data", str(fresh), "--create"]) == 0
        assert cli.main(["serve", "--data", str(empty), "--create"]) == 0
    for data in (fresh, empty):
        found = modes(data)
        assert found.pop(".") == 0o700 and found.pop("log") == 0o700
        assert found == {"signing.key": 0o600, "vrf.key": 0o600, **{f"log/{f}": 0o600 for f in kt_files},
                         **{f"log/{d}": 0o700 for d in kt_dirs}}
    # A folder that already holds keys and a journal, opened to others (as the finding had it): refused.
    fresh.rename(used)
    os.chmod(used, 0o755)
    assert cli.main(["serve", "--data", str(used)]) == 1
    assert f"chmod 700 {used}" in capsys.readouterr().err
    os.chmod(used, 0o700)
    assert cli.main(["serve", "--data", str(used)]) == 0


def test_a_tile_log_is_private_until_its_operator_opens_its_folder(tmp_path: Path) -> None:
    """A tile log is the published log: private when made, and its new files
    follow the read bits its operator gives the folder (never write bits);
    `.veritree/` (lock, config, dedup index) stays owner-only."""
    from veritree import Log, generate_note_key

    signer, _ = generate_note_key("example.com/private")
    path = tmp_path / "log"
    with umask(0):
        with Log.open(path, origin="example.com/private", signer=signer, create=True, dedup=True) as log:
            log.extend([b"%d" % i for i in range(300)])
            assert set(modes(path).values()) <= {0o700, 0o600}, modes(path)
            assert modes(path)["."] == 0o700 and modes(path)["checkpoint"] == 0o600
            os.chmod(path, 0o775)  # group-writable: the write bit is never passed on
            log.extend([b"%d" % i for i in range(300, 70_000)])
    found = modes(path)
    internal = {name: mode for name, mode in found.items() if name.startswith(".veritree")}
    assert internal == {".veritree": 0o700, ".veritree/tmp": 0o700, ".veritree/lock": 0o600,
                        ".veritree/config": 0o600, ".veritree/dedup.redb": 0o600}
    assert found["checkpoint"] == 0o644
    assert found["tile/1/001.p/17"] == 0o644 and found["tile/entries/273.p/112"] == 0o644
    assert found["tile/2"] == 0o755 and found["tile/1"] == 0o700 and found["tile/0/000"] == 0o600, "written before the chmod"
