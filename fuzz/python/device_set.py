"""Device sets (the directory's values) from arbitrary bytes, and a real signed set damaged: refused with
VerificationError, or, if accepted, exactly the set its account key signed."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from common import REFUSALS
    from veritree.ckv.accounts import AccountKey, Device, open_device_set

KEY = AccountKey(bytes(range(32)))
SIGNED = KEY.sign(b"user:alice", (Device(b"phone", b"\x07" * 32), Device(b"laptop", b"\x08" * 32)), 3)


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    identifier = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    if fdp.ConsumeBool():
        value = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        value = bytearray(SIGNED)
        for _ in range(fdp.ConsumeIntInRange(0, 3)):
            value[fdp.ConsumeIntInRange(0, len(value) - 1)] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        value = bytes(value[: fdp.ConsumeIntInRange(0, len(value))])
    try:
        opened = open_device_set(identifier, value)
    except REFUSALS:
        return
    assert (identifier, value) == (b"user:alice", SIGNED) or opened.account_key != KEY.public, (
        "a changed device set accepted under the account key")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
