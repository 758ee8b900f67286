"""Verification codes from arbitrary input: the SAS exchange with one message replaced by arbitrary bytes at
any step, and public codes and safety numbers from arbitrary text; refused with ValueError (or
VerificationError for a reveal that does not open the commitment), never anything else, and an exchange
that completes gives both sides the same code."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from common import REFUSALS
    from veritree.ckv.codes import CodeExchange, check_public_code, format_safety_number

KEY_A, KEY_B = b"\x01" * 32, b"\x02" * 32


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    step = fdp.ConsumeIntInRange(0, 3)
    forged = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40))
    a, b = CodeExchange(KEY_A, KEY_B, initiator=True), CodeExchange(KEY_B, KEY_A, initiator=False)
    try:
        commit = a.commit()
        response = b.respond(forged if step == 0 else commit)
        reveal = a.reveal(forged if step == 1 else response)
        b.finish(forged if step == 2 else reveal)
        if step == 3 or forged == b"":
            assert a.code == b.code, "a completed exchange with two codes"
    except REFUSALS:
        pass
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    for check in (lambda: check_public_code(text, KEY_A), lambda: format_safety_number(text)):
        try:
            check()
        except REFUSALS:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
