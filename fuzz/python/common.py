"""What the Python fuzz targets share: a real key directory with an account on it, and the rule that an
input may be refused only with the library's own errors."""

from __future__ import annotations

import time

import atheris
import veritree
from veritree.ckv import CkvClient, Device, LocalTransport

T0 = 1_700_000_000_000
# What a refusal may raise: a clear error, never an accident of parsing (KeyError, TypeError, ...).
REFUSALS = (ValueError, veritree.VerificationError, veritree.VeritreeError)


def directory() -> tuple[veritree.KtDirectory, LocalTransport, CkvClient]:
    d = veritree.KtDirectory(bytes([1]) * 32, bytes([2]) * 32, reasonable_monitoring_window=1000)
    d.publish()
    transport = LocalTransport(d, clock=lambda: time.time_ns() // 10**6)
    alice = CkvClient.connect(transport)
    alice.create_account([b"user:alice"], Device(b"phone", b"\x07" * 32))
    return d, transport, alice


def changed(fdp: atheris.FuzzedDataProvider, honest: bytes, at_most: int = 4, at_least: int = 0) -> bytes:
    """`honest` with `at_least` to `at_most` bytes changed (each XORed with a nonzero byte the fuzzer picks):
    past the length and type checks that arbitrary bytes rarely pass, into the fields behind them."""
    out = bytearray(honest)
    for _ in range(fdp.ConsumeIntInRange(at_least, at_most)):
        out[fdp.ConsumeIntInRange(0, len(out) - 1)] ^= fdp.ConsumeIntInRange(1, 255)
    return bytes(out)
