"""Who may register an identifier: with a registration secret, only the
holder of the identifier's own token; a refused registration can be retried
once the token is there, and pinning by fingerprint refuses another
directory."""

from __future__ import annotations

from pathlib import Path

import pytest
import veritree
from veritree.ckv import config_fingerprint, registration_token, token_authorizer
from veritree.ckv.accounts import Device, update_validator
from veritree.ckv.client import CkvClient
from veritree.ckv.http import HttpTransport
from veritree.ckv.registration import read_registration_secret
from veritree.ckv.server import create_app, serve_in_thread

SECRET = b"s" * 32
KEYS = (b"\x01" * 32, b"\x02" * 32)


def test_tokens_open_one_identifier_each() -> None:
    authorize = token_authorizer(SECRET)
    alice = registration_token(SECRET, b"user:alice")
    authorize(b"user:alice", True, f"Bearer {alice}")
    authorize(b"user:alice", False, f"bearer {alice}")  # the scheme's case does not matter
    for header, why in ((None, "needs a registration token"), ("Basic xyz", "needs a registration token"),
                        (f"Bearer {alice}", "not the one for this identifier"),
                        (f"Bearer {registration_token(b'o' * 32, b'user:bob')}", "not the one")):
        with pytest.raises(PermissionError, match=why):
            authorize(b"user:bob", True, header)
    assert registration_token(SECRET, b"user:alice") == alice  # the service and the directory agree
    with pytest.raises(ValueError, match="at least 32 bytes"):
        token_authorizer(b"short")


def test_a_secret_file_must_be_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        read_registration_secret(str(path))
    path.chmod(0o600)
    assert read_registration_secret(str(path)) == SECRET


def test_only_the_tokens_holder_registers_and_a_refused_registration_is_retried(tmp_path: Path) -> None:
    with veritree.KtDirectory.open(tmp_path / "log", *KEYS, create=True, reasonable_monitoring_window=300) as d:
        app = create_app(d, publish_interval=0.05, validate_update=update_validator(d),
                         authorize=token_authorizer(SECRET))
        with serve_in_thread(app) as url, HttpTransport(url) as http:
            alice = CkvClient.connect(http, fingerprint=config_fingerprint(d.config))
            phone = Device(b"phone", b"P" * 32)
            with pytest.raises(ValueError, match="403.*needs a registration token"):
                alice.create_account([b"user:alice"], phone)
            assert d.value(b"user:alice") is None and alice.alerts == []
            # Bob's token does not open alice's identifier.
            http.tokens = {b"user:alice": registration_token(SECRET, b"user:bob")}
            with pytest.raises(ValueError, match="403.*not the one"):
                alice.create_account([b"user:alice"], phone)
            http.tokens = {b"user:alice": registration_token(SECRET, b"user:alice")}
            account = alice.create_account([b"user:alice"], phone)  # the retry finishes it
            assert alice.create_account([b"user:alice"], phone, account).public == account.public  # and again
            with pytest.raises(ValueError, match="already has an account"):
                alice.create_account([b"user:other"], phone)
            bob = CkvClient.connect(http)
            assert bob.lookup(b"user:alice").devices == {b"phone": b"P" * 32}
            assert alice.monitor() == [] and bob.monitor() == [] and alice.alerts == []


def test_a_client_pinned_by_fingerprint_refuses_another_directory(tmp_path: Path) -> None:
    with veritree.KtDirectory.open(tmp_path / "log", *KEYS, create=True, reasonable_monitoring_window=300) as d:
        with serve_in_thread(create_app(d, publish_interval=0.05)) as url, HttpTransport(url) as http:
            other = veritree.KtDirectory(b"\x03" * 32, b"\x04" * 32, reasonable_monitoring_window=300)
            with pytest.raises(veritree.VerificationError, match="not the pinned one"):
                CkvClient.connect(http, fingerprint=config_fingerprint(other.config))
            assert CkvClient.connect(http, fingerprint=config_fingerprint(d.config).upper()).kt is not None
            with pytest.raises(ValueError, match="not both"):
                CkvClient.connect(http, config=d.config, fingerprint=config_fingerprint(d.config))
