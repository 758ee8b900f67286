"""Accounts: an Ed25519 account key signs the account's set of device keys.

The directory value stored under each of an account's identifiers (phone
number, e-mail, user name) is a `DeviceSet` signed by the account key. The
directory's operator holds no account key, so it cannot add a device unseen:
a set that the trusted account key did not sign is an alert, not an update.

Encoding (all integers big-endian):

    "veritree device set v1"        22 bytes
    account_key                     32 bytes (Ed25519 public key)
    epoch                           uint64: strictly increases per account key
    devices                         uint8 count, then per device:
        device_id<1..255>           uint8 length + bytes
        device_key<1..255>          uint8 length + bytes (opaque to us)
    signature                       64 bytes, Ed25519 by the account key over
                                    "veritree device set sig" || identifier<0..255> || all of the above

Signing over the identifier stops the directory from showing one account's
set under another identifier; the epoch stops it from replaying an older
set (say, one that still lists a removed device).
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from collections.abc import Callable

from veritree._native import (
    KtDirectory,
    VerificationError,
    ed25519_public_key,
    ed25519_sign,
    ed25519_verify,
    kt_update_request_values,
)

MAGIC = b"veritree device set v1"
SIG_DOMAIN = b"veritree device set sig"
MAX_DEVICES = 255


@dataclass(frozen=True)
class Device:
    """One device of an account: a name the account chooses and its public key."""

    device_id: bytes
    key: bytes

    def __post_init__(self) -> None:
        for what, b in (("device_id", self.device_id), ("key", self.key)):
            if not isinstance(b, bytes) or not 1 <= len(b) <= 255:
                raise ValueError(f"a device's {what} is 1 to 255 bytes")


@dataclass(frozen=True)
class DeviceSet:
    """What the directory holds for an identifier: the account key, its
    devices and the epoch of this set."""

    account_key: bytes
    epoch: int
    devices: tuple[Device, ...]

    def body(self) -> bytes:
        if len(self.account_key) != 32:
            raise ValueError("an account key is 32 bytes")
        if not 0 <= self.epoch < 2**64:
            raise ValueError("an epoch is a uint64")
        if len(self.devices) > MAX_DEVICES:
            raise ValueError(f"at most {MAX_DEVICES} devices")
        ids = [d.device_id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError("device ids must be distinct")
        out = [MAGIC, self.account_key, struct.pack(">QB", self.epoch, len(self.devices))]
        for d in self.devices:
            out += [bytes([len(d.device_id)]), d.device_id, bytes([len(d.key)]), d.key]
        return b"".join(out)

    def device_keys(self) -> dict[bytes, bytes]:
        return {d.device_id: d.key for d in self.devices}


def _signed_message(identifier: bytes, body: bytes) -> bytes:
    if not 1 <= len(identifier) <= 255:
        raise ValueError("an identifier is 1 to 255 bytes")
    return SIG_DOMAIN + bytes([len(identifier)]) + identifier + body


class AccountKey:
    """An account's Ed25519 key. The secret never appears in repr or errors."""

    def __init__(self, secret: bytes) -> None:
        self.public = ed25519_public_key(secret)
        self._secret = secret

    @classmethod
    def generate(cls) -> AccountKey:
        return cls(secrets.token_bytes(32))

    @property
    def secret(self) -> bytes:
        return self._secret

    def sign(self, identifier: bytes, devices: tuple[Device, ...], epoch: int) -> bytes:
        """The directory value for `identifier`: the signed set."""
        body = DeviceSet(self.public, epoch, devices).body()
        return body + ed25519_sign(self._secret, _signed_message(identifier, body))

    def __repr__(self) -> str:
        return f"AccountKey(public={self.public.hex()[:16]}…)"


def open_device_set(identifier: bytes, value: bytes) -> DeviceSet:
    """Parses a directory value strictly and checks that the account key it
    names signed it for `identifier`; VerificationError otherwise."""
    if len(value) < len(MAGIC) + 32 + 9 + 64 or not value.startswith(MAGIC):
        raise VerificationError("not a signed device set")
    body, signature = value[:-64], value[-64:]
    account_key = body[len(MAGIC) : len(MAGIC) + 32]
    epoch, count = struct.unpack_from(">QB", body, len(MAGIC) + 32)
    at = len(MAGIC) + 41
    devices = []
    try:
        for _ in range(count):
            fields = []
            for _ in range(2):
                n = body[at]
                fields.append(body[at + 1 : at + 1 + n])
                if len(fields[-1]) != n:
                    raise IndexError
                at += 1 + n
            devices.append(Device(fields[0], fields[1]))
    except (IndexError, ValueError) as e:
        raise VerificationError("a truncated or malformed device set") from e
    if at != len(body):
        raise VerificationError("trailing bytes after the device set")
    parsed = DeviceSet(account_key, epoch, tuple(devices))
    try:
        if parsed.body() != body:
            raise VerificationError("a device set that is not in canonical form")
    except ValueError as e:
        raise VerificationError(f"a malformed device set: {e}") from e
    ed25519_verify(account_key, _signed_message(identifier, body), signature)
    return parsed


def validate_update(request: bytes) -> None:
    """The directory's check before it stages an owner's update: every new
    value must be a device set signed, for this identifier, by the account
    key it names. (Clients check the rest: that it is the key they trust.)"""
    label, values = kt_update_request_values(request)
    for value in values:
        try:
            open_device_set(label, value)
        except VerificationError as e:
            raise ValueError(f"not a device set signed by its account key: {e}") from None


def update_validator(directory: KtDirectory) -> Callable[[bytes], None]:
    """The server's check before staging (`create_app(validate_update=...)`):
    `validate_update`, and, for an identifier that already has a valid set,
    the same account key at a newer epoch. So nobody can take over another's
    identifier or bring back an older set through the service; a lost
    account key needs the operator's recovery procedure, outside the API.
    Clients check all this again: the operator can bypass its own server."""

    def check(request: bytes) -> None:
        validate_update(request)
        label, values = kt_update_request_values(request)
        current = directory.value(label)
        try:
            previous = None if current is None else open_device_set(label, current)
        except VerificationError:
            previous = None  # a damaged current set: any properly signed one replaces it
        for value in values:
            ds = open_device_set(label, value)
            if previous is not None and ds.account_key != previous.account_key:
                raise ValueError("the identifier belongs to another account key")
            if previous is not None and ds.epoch <= previous.epoch:
                raise ValueError(f"device set {ds.epoch} is not newer than the current {previous.epoch}")
            previous = ds

    return check
