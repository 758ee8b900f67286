"""Contact Key Verification end to end over real HTTP on localhost: the
directory restarts from disk without losing anything it published, clients
keep verifying across the restart, and a directory that stops answering is
reported only once its silence is long."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import veritree
from veritree.ckv.accounts import AccountKey, Device, update_validator
from veritree.ckv.alerts import AlertKind
from veritree.ckv.client import CkvClient
from veritree.ckv.clock import now_ms
from veritree.ckv.http import HttpTransport
from veritree.ckv.server import create_app, serve_in_thread
from veritree.ckv.transport import Unavailable

KEYS = (b"\x01" * 32, b"\x02" * 32)
RMW = 300


def open_directory(path: Path, create: bool = False) -> veritree.KtDirectory:
    return veritree.KtDirectory.open(path, *KEYS, create=create, reasonable_monitoring_window=RMW)


def test_a_restart_loses_nothing_and_clients_keep_verifying(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with open_directory(path, create=True) as d:
        app = create_app(d, publish_interval=0.05, validate_update=update_validator(d))
        with serve_in_thread(app) as url, HttpTransport(url) as http:
            alice, bob = CkvClient.connect(http), CkvClient.connect(http)
            alice.create_account([b"user:alice"], Device(b"phone", b"P" * 32))
            bob.create_account([b"user:bob"], Device(b"phone", b"Q" * 32))
            alice.add_device(Device(b"laptop", b"L" * 32))
            assert bob.lookup(b"user:alice").devices == {b"phone": b"P" * 32, b"laptop": b"L" * 32}
            size = d.size
    states = {name: c.export_state(b"s" * 32, include_secret=True) for name, c in (("alice", alice), ("bob", bob))}
    with open_directory(path) as d:
        assert d.size >= size
        app = create_app(d, publish_interval=0.05, validate_update=update_validator(d))
        with serve_in_thread(app) as url, HttpTransport(url) as http:
            alice = CkvClient.import_state(http, states["alice"], b"s" * 32)
            bob = CkvClient.import_state(http, states["bob"], b"s" * 32)
            assert bob.lookup(b"user:alice").devices == {b"phone": b"P" * 32, b"laptop": b"L" * 32}
            alice.add_device(Device(b"tablet", b"T" * 32))
            assert len(bob.lookup(b"user:alice").devices) == 3
            assert alice.monitor() == [] and bob.monitor() == []
            # An UpdateRequest (no `last`, label "m", no greatest version, one
            # value) whose value no account key signed is refused.
            with pytest.raises(ValueError, match="not a device set"):
                http.update(b"\x00" + b"\x01m" + b"\x00" + b"\x01" + (4).to_bytes(4, "big") + b"junk")
            # Nobody takes over alice's identifier or brings back her old set
            # through the service (the owner's state says version 2 is newest).
            assert alice.own is not None and alice.own.secret is not None
            mallory = CkvClient.import_state(http, states["alice"], b"s" * 32)
            assert mallory.monitor() == []  # now knows version 2, the tablet
            for value in (AccountKey(b"\x66" * 32).sign(b"user:alice", (Device(b"evil", b"E" * 32),), 9),
                          AccountKey(alice.own.secret).sign(b"user:alice", (Device(b"phone", b"P" * 32),), 1)):
                with pytest.raises(ValueError, match="another account key|not newer"):
                    http.update(mallory.kt.update_request(b"user:alice", [value]))
    assert alice.alerts == [] and bob.alerts == []


def test_a_silent_directory_is_reported_once_its_silence_is_long(tmp_path: Path) -> None:
    with open_directory(tmp_path / "log", create=True) as d:
        app = create_app(d, publish_interval=0.05)
        with serve_in_thread(app) as url:
            http = HttpTransport(url, timeout=2)
            carol = CkvClient.connect(http, unavailable_after=500)
            carol.create_account([b"user:carol"], Device(b"phone", b"C" * 32))
    # The server is gone.
    with pytest.raises(Unavailable):
        carol.monitor()
    assert carol.alerts == []  # one failure is not an attack
    time.sleep(0.6)
    with pytest.raises(Unavailable):
        carol.monitor()
    assert [a.kind for a in carol.alerts] == [AlertKind.DIRECTORY_UNAVAILABLE]
    http.close()


def test_a_restart_with_the_clock_stepped_back_keeps_publishing(tmp_path: Path) -> None:
    path = tmp_path / "log"
    # The first run's clock was 20 s ahead (clients accept up to a minute).
    future = now_ms() + 20_000
    with open_directory(path, create=True) as d:
        app = create_app(d, publish_interval=0.05, clock=lambda: future)
        with serve_in_thread(app) as url, HttpTransport(url) as http:
            CkvClient.connect(http).create_account([b"user:dave"], Device(b"phone", b"D" * 32))
        assert d.last_timestamp == future
    with open_directory(path) as d:
        size = d.size
        app = create_app(d, publish_interval=0.05)  # the real clock, behind the last entry
        with serve_in_thread(app) as url, HttpTransport(url) as http:
            erin = CkvClient.connect(http)
            erin.create_account([b"user:erin"], Device(b"phone", b"E" * 32))  # waits for a publication
            assert d.size > size and d.last_timestamp == future
            assert erin.alerts == []
