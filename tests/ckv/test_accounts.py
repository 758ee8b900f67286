"""Signed device sets: the directory value an account key vouches for."""

import struct

import pytest
import veritree
from hypothesis import given
from hypothesis import strategies as st
from veritree.ckv.accounts import MAGIC, AccountKey, Device, DeviceSet, open_device_set, validate_update

ALICE = AccountKey(b"\x11" * 32)
PHONE = Device(b"phone", b"\x01" * 32)
LAPTOP = Device(b"laptop", b"\x02" * 32)

devices = st.lists(
    st.builds(Device, st.binary(min_size=1, max_size=20), st.binary(min_size=1, max_size=40)),
    max_size=8, unique_by=lambda d: d.device_id,
).map(tuple)


@given(devices, st.integers(0, 2**64 - 1), st.binary(min_size=1, max_size=255))
def test_signed_sets_open_to_what_was_signed(devs: tuple[Device, ...], epoch: int, identifier: bytes) -> None:
    value = ALICE.sign(identifier, devs, epoch)
    assert open_device_set(identifier, value) == DeviceSet(ALICE.public, epoch, devs)


def test_layout_is_the_documented_one() -> None:
    value = ALICE.sign(b"tel:+1", (PHONE,), 7)
    body = MAGIC + ALICE.public + struct.pack(">QB", 7, 1) + b"\x05phone\x20" + b"\x01" * 32
    assert value[:-64] == body
    veritree.ed25519_verify(ALICE.public, b"veritree device set sig\x06tel:+1" + body, value[-64:])


def test_every_flipped_byte_is_refused() -> None:
    value = ALICE.sign(b"alice", (PHONE, LAPTOP), 3)
    for i in range(len(value)):
        bad = bytearray(value)
        bad[i] ^= 0x40
        with pytest.raises(veritree.VerificationError):
            open_device_set(b"alice", bytes(bad))


def test_truncated_padded_or_moved_sets_are_refused() -> None:
    value = ALICE.sign(b"alice", (PHONE,), 1)
    for bad in (value[:-1], value + b"\x00", value[:40], b"", MAGIC):
        with pytest.raises(veritree.VerificationError):
            open_device_set(b"alice", bad)
    with pytest.raises(veritree.VerificationError):
        open_device_set(b"mallory", value)  # signed for another identifier


def test_a_set_signed_by_another_key_names_that_key() -> None:
    mallory = AccountKey(b"\x22" * 32)
    ds = open_device_set(b"alice", mallory.sign(b"alice", (PHONE,), 9))
    assert ds.account_key == mallory.public != ALICE.public


def test_bad_devices_and_sets_are_value_errors() -> None:
    for make in (lambda: Device(b"", b"k"), lambda: Device(b"x" * 256, b"k"), lambda: Device(b"d", b"")):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError):
        ALICE.sign(b"alice", (PHONE, PHONE), 1)  # duplicate device id
    with pytest.raises(ValueError):
        ALICE.sign(b"", (PHONE,), 1)
    with pytest.raises(ValueError):
        ALICE.sign(b"alice", (PHONE,), -1)
    assert "11" * 8 not in repr(ALICE)


def _update_request(label: bytes, values: list[bytes]) -> bytes:
    d = veritree.KtDirectory(b"\x01" * 32, b"\x02" * 32)
    d.publish(1_700_000_000_000)
    c = veritree.KtClient(d.config)
    walk = c.distinguished_request()
    start = c.verify_distinguished(walk, d.distinguished(walk), now_ms=1_700_000_000_000)[-1][0]
    init = c.owner_init_request(label, start)
    c.verify_owner_init(init, d.owner_init(init), now_ms=1_700_000_000_000)
    return c.update_request(label, values)


def test_the_directory_stages_only_signed_device_sets() -> None:
    good = ALICE.sign(b"alice", (PHONE,), 1)
    validate_update(_update_request(b"alice", [good]))
    validate_update(_update_request(b"alice", []))
    for values in ([good[:-1]], [good, b"junk"], [ALICE.sign(b"bob", (PHONE,), 1)]):
        with pytest.raises(ValueError, match="not a device set"):
            validate_update(_update_request(b"alice", values))
    request = _update_request(b"alice", [good])
    for bad in (request[:-1], request + b"\x00", b"\x02" + request[1:], b""):
        with pytest.raises(ValueError):
            validate_update(bad)
    # The service reads the request with the directory's own decoder.
    two = [ALICE.sign(b"alice", (PHONE,), 1), b"x"]
    assert veritree.kt_update_request_values(_update_request(b"alice", two)) == (b"alice", two)
