"""Verification codes from arbitrary input: the SAS exchange with one message replaced by arbitrary bytes at
any step, and public codes and safety numbers from arbitrary text; refused with ValueError (or
VerificationError for a reveal that does not open the commitment), never anything else, and an exchange
that completes gives both sides the same code."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from common import REFUSALS, changed
    from veritree.ckv.codes import CodeExchange, check_public_code, format_safety_number

KEY_A, KEY_B = b"\x01" * 32, b"\x02" * 32


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    step = fdp.ConsumeIntInRange(0, 3)
    raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)) if fdp.ConsumeBool() else None
    sent: list[bytes] = []

    def deliver(k: int, honest: bytes) -> bytes:
        """The message of step k as the other side receives it: forged at `step`, from arbitrary bytes or
        the honest message with bytes changed."""
        if k != step:
            return honest
        forged = raw if raw is not None else changed(fdp, honest, at_most=3)
        sent.append(forged)
        return forged

    a, b = CodeExchange(KEY_A, KEY_B, initiator=True), CodeExchange(KEY_B, KEY_A, initiator=False)
    try:
        commit = a.commit()
        response = b.respond(deliver(0, commit))
        reveal = a.reveal(deliver(1, response))
        b.finish(deliver(2, reveal))
    except REFUSALS:
        pass
    else:
        honest = (commit, response, reveal)
        if step == 3 or sent == [honest[step]]:
            assert a.code == b.code, "a completed exchange with two codes"
        # The commitment binds: a changed commit or reveal never completes (a changed response does, with
        # two codes the people then compare and find different).
        assert step in (1, 3) or sent == [honest[step]], "a changed commit or reveal completed the exchange"
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    for check in (lambda: check_public_code(text, KEY_A), lambda: format_safety_number(text)):
        try:
            check()
        except REFUSALS:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
