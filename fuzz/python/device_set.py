"""Device sets (the directory's values) from arbitrary bytes, and a real signed set damaged: refused with
VerificationError, or, if accepted, exactly the set its account key signed. And bodies the fuzzer writes
field by field (counts, lengths, trailing bytes), signed by the account key so that the parser, not the
signature, decides: accepted only in the one canonical encoding; every set `AccountKey.sign` makes opens
as exactly that set."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from common import REFUSALS, changed
    from veritree._native import ed25519_sign
    from veritree.ckv.accounts import MAGIC, SIG_DOMAIN, AccountKey, Device, DeviceSet, open_device_set

KEY = AccountKey(bytes(range(32)))
SIGNED = KEY.sign(b"user:alice", (Device(b"phone", b"\x07" * 32), Device(b"laptop", b"\x08" * 32)), 3)


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    how = fdp.ConsumeIntInRange(0, 3)
    if how >= 2:
        signed_by_key(fdp, canonical=how == 3)
        return
    identifier = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if how == 0:
        value = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        value = changed(fdp, SIGNED, at_most=3)
        value = value[: fdp.ConsumeIntInRange(0, len(value))]
    try:
        opened = open_device_set(identifier, value)
    except REFUSALS:
        return
    assert (identifier, value) == (b"user:alice", SIGNED) or opened.account_key != KEY.public, (
        "a changed device set accepted under the account key")


def signed_by_key(fdp: atheris.FuzzedDataProvider, canonical: bool) -> None:
    identifier = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 8)) or b"x"
    epoch = fdp.ConsumeIntInRange(0, 2**64 - 1)
    devices = [(fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4)), fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4)))
               for _ in range(fdp.ConsumeIntInRange(0, 6))]
    if canonical:
        try:
            chosen = tuple(Device(i, k) for i, k in devices)
            value = KEY.sign(identifier, chosen, epoch)
        except ValueError:
            return  # not a set one can sign (an empty field, a repeated id)
        opened = open_device_set(identifier, value)
        assert opened == DeviceSet(KEY.public, epoch, chosen), "a signed set opened as another"
        return
    # Written by hand: a count that disagrees with the devices, a length past the end, bytes after them.
    body = bytearray(MAGIC + KEY.public + epoch.to_bytes(8, "big"))
    body.append(fdp.ConsumeIntInRange(0, 255) if fdp.ConsumeBool() else len(devices))
    for i, k in devices:
        for field in (i, k):
            body.append(fdp.ConsumeIntInRange(0, 255) if fdp.ConsumeBool() else len(field))
            body += field
    body += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 3))
    value = bytes(body) + ed25519_sign(KEY.secret, SIG_DOMAIN + bytes([len(identifier)]) + identifier + body)
    try:
        opened = open_device_set(identifier, value)
    except REFUSALS:
        return
    assert opened.body() == bytes(body), "a device set accepted in an encoding that is not its own"


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
