"""What the Python fuzz targets share: a real key directory with an account on it, and the rule that an
input may be refused only with the library's own errors."""

from __future__ import annotations

import time

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
