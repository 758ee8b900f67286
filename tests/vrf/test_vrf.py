"""ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381): the RFC's examples, round trips
and hostile proofs and keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st

VECTORS = json.loads((Path(__file__).parents[1] / "vectors/ecvrf/rfc9381_edwards25519_sha512_tai.json").read_text())
ORDER = 2**252 + 27742317777372353535851937790883648493


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=lambda v: v["alpha_hex"] or "empty")
def test_rfc9381_examples(v: dict[str, str]) -> None:
    sk, alpha = bytes.fromhex(v["sk"]), bytes.fromhex(v["alpha_hex"])
    assert veritree.ecvrf_public_key(sk).hex() == v["pk"]
    proof = veritree.ecvrf_prove(sk, alpha)
    assert proof.hex() == v["pi"]
    assert veritree.ecvrf_verify(bytes.fromhex(v["pk"]), alpha, proof).hex() == v["beta"]
    assert veritree.ecvrf_proof_to_hash(proof).hex() == v["beta"]


def test_vectors_are_the_rfcs_three() -> None:
    assert len(VECTORS["vectors"]) == 3 and "0x03" in VECTORS["suite"]


@settings(max_examples=40, deadline=None)
@given(sk=st.binary(min_size=32, max_size=32), alpha=st.binary(max_size=100), other=st.binary(max_size=100))
def test_prove_verify_round_trip_and_uniqueness(sk: bytes, alpha: bytes, other: bytes) -> None:
    pk = veritree.ecvrf_public_key(sk)
    proof = veritree.ecvrf_prove(sk, alpha)
    assert len(proof) == 80
    beta = veritree.ecvrf_verify(pk, alpha, proof)
    assert len(beta) == 64 and veritree.ecvrf_prove(sk, alpha) == proof  # deterministic
    if other != alpha:
        assert veritree.ecvrf_verify(pk, other, veritree.ecvrf_prove(sk, other)) != beta
        with pytest.raises(veritree.VerificationError):
            veritree.ecvrf_verify(pk, other, proof)


def test_every_flipped_bit_is_refused() -> None:
    sk = bytes(range(32))
    pk, proof = veritree.ecvrf_public_key(sk), veritree.ecvrf_prove(sk, b"bob")
    for i in range(80 * 8):
        bad = bytearray(proof)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(veritree.VerificationError):
            veritree.ecvrf_verify(pk, b"bob", bytes(bad))


def test_hostile_keys_and_proofs() -> None:
    sk = b"\x01" * 32
    pk, proof = veritree.ecvrf_public_key(sk), veritree.ecvrf_prove(sk, b"a")
    for wrong in (b"", sk[:31], sk + b"\x00"):
        with pytest.raises(ValueError, match="32 bytes"):
            veritree.ecvrf_prove(wrong, b"a")
        with pytest.raises(ValueError, match="32 bytes"):
            veritree.ecvrf_verify(wrong, b"a", proof)
    for wrong in (proof[:79], proof + b"\x00", b""):
        with pytest.raises(ValueError, match="80 bytes"):
            veritree.ecvrf_verify(pk, b"a", wrong)
    # s at or above the group order is refused, not reduced.
    for s in (ORDER, ORDER + int.from_bytes(proof[48:], "little")):
        if s < 2**256:
            with pytest.raises(veritree.VerificationError, match="order"):
                veritree.ecvrf_verify(pk, b"a", proof[:48] + s.to_bytes(32, "little"))
    # Small-order public keys (the identity, and a point of order 2) and a
    # y coordinate that is not canonical (y = p + 1 encodes as y = 1).
    p = 2**255 - 19
    for key in ((1).to_bytes(32, "little"), (p - 1).to_bytes(32, "little"), (p + 1).to_bytes(32, "little")):
        with pytest.raises(veritree.VerificationError):
            veritree.ecvrf_verify(key, b"a", proof)
    # Gamma replaced by a non-point.
    x = next(y for y in range(2, 100) if not _is_point(y))
    with pytest.raises(veritree.VerificationError, match="Gamma"):
        veritree.ecvrf_verify(pk, b"a", x.to_bytes(32, "little") + proof[32:])
    with pytest.raises(TypeError):
        veritree.ecvrf_prove("not bytes", b"a")  # type: ignore[arg-type]


def _is_point(y: int) -> bool:
    """Whether some x puts (x, y) on edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2)."""
    p = 2**255 - 19
    d = (-121665 * pow(121666, p - 2, p)) % p
    x2 = (y * y - 1) * pow(d * y * y + 1, p - 2, p) % p
    return x2 == 0 or pow(x2, (p - 1) // 2, p) == 1


def test_secret_keys_never_print() -> None:
    # The secret is a plain bytes argument: nothing of it is kept or echoed in errors.
    sk = bytes([0xAB]) * 31
    with pytest.raises(ValueError) as e:
        veritree.ecvrf_prove(sk, b"a")
    assert sk.hex() not in str(e.value) and "abab" not in str(e.value)
