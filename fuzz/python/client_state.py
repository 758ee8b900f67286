"""A CKV client's state imported from arbitrary bytes: under the right sync key (the harness tags what the
fuzzer writes, so parsing is reached), a state is refused with ValueError or VerificationError, never a
KeyError, TypeError or other accident of parsing; under another key every state is refused."""

from __future__ import annotations

import hashlib
import hmac
import sys

import atheris

with atheris.instrument_imports():
    from common import REFUSALS, directory
    from veritree.ckv import CkvClient
    from veritree.ckv.client import STATE_MAGIC

SYNC_KEY = bytes(range(32))
_, TRANSPORT, ALICE = directory()
GOOD = ALICE.export_state(SYNC_KEY)


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        # The honest state's body, a few bytes changed: past json into the fields.
        body = bytearray(GOOD[len(STATE_MAGIC) + 32:])
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            body[fdp.ConsumeIntInRange(0, len(body) - 1)] = fdp.ConsumeInt(1) % 256
        body = bytes(body)
    state = STATE_MAGIC + hmac.new(SYNC_KEY, body, hashlib.sha256).digest() + body
    try:
        CkvClient.import_state(TRANSPORT, state, SYNC_KEY)
    except REFUSALS:
        pass
    try:
        CkvClient.import_state(TRANSPORT, state, b"another key")
    except REFUSALS:
        return
    raise AssertionError("a state accepted under another sync key")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
