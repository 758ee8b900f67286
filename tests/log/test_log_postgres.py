"""The tlog-tiles log in PostgreSQL (`Log.open("postgresql://...")`): the same log as in memory, tiles and
bundles as rows with the checkpoint as the head, one writer at a time (the database's lease), readers
anywhere. Skips without a test server (CI starts one)."""

from __future__ import annotations

import subprocess

import pytest
import veritree

ORIGIN = "example.com/pg-log"


def entries(lo: int, hi: int) -> list[bytes]:
    return [b"entry-%d" % i for i in range(lo, hi)]


def test_a_log_in_postgres_is_the_same_log(pg_url: str) -> None:
    sk, vk = veritree.generate_note_key(ORIGIN)
    mem = veritree.Log()
    with veritree.Log.open(pg_url, origin=ORIGIN, signer=sk, create=True) as log:
        assert log.path is None
        for lo, hi in [(0, 1), (1, 300), (300, 70_000)]:
            assert log.extend(entries(lo, hi)) == lo
            mem.extend(entries(lo, hi))
        assert veritree.verify_checkpoint(log.checkpoint(), [vk]) == (ORIGIN, 70_000, mem.root())
        with pytest.raises(veritree.StorageLockedError):
            veritree.Log.open(pg_url, signer=sk)
        with veritree.Log.open(pg_url, origin=ORIGIN) as reader:
            assert reader.root() == mem.root() and reader.entry(69_999) == b"entry-69999"
            assert reader.inclusion_proof(700) == mem.inclusion_proof(700)
            with pytest.raises(ValueError, match="read-only"):
                reader.append(b"x")
    rows = subprocess.run(["psql", "-X", "-At", "-d", pg_url, "-c",
                           "SELECT name, octet_length(data) FROM veritree_objects WHERE name IN "
                           "('tile/0/272', 'tile/1/000', 'tile/entries/273.p/112', 'checkpoint')"],
                          capture_output=True, text=True, check=True).stdout.split()
    sizes = dict(r.split("|") for r in rows)
    assert sizes["tile/0/272"] == "8192" and sizes["tile/1/000"] == "8192", sizes
    assert "checkpoint" in sizes and "tile/entries/273.p/112" in sizes
    # Reopened by the next writer: the same log goes on.
    with veritree.Log.open(pg_url, origin=ORIGIN, signer=sk) as log:
        log.extend(entries(70_000, 70_100))
        mem.extend(entries(70_000, 70_100))
        assert log.root() == mem.root()
        assert log.consistency_proof(300) == mem.consistency_proof(300)
    with pytest.raises(ValueError, match="origin"):
        veritree.Log.open(pg_url, origin="other.example/log")
