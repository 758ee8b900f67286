"""Differential tests: the native ECVRF against the pure-Python reference in
support/vrf_reference.py, which is checked first against RFC 9381's own examples so that
agreement means both follow the RFC, not merely each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import veritree
import vrf_reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

VECTORS = json.loads((Path(__file__).parents[1] / "vectors/ecvrf/rfc9381_edwards25519_sha512_tai.json").read_text())[
    "vectors"
]

seeds = st.binary(min_size=32, max_size=32)
alphas = st.binary(max_size=64)


def _native_verify(pk: bytes, alpha: bytes, proof: bytes) -> bytes | None:
    """Native verify with the reference's calling convention (None on rejection)."""
    try:
        return veritree.ecvrf_verify(pk, alpha, proof)
    except veritree.VerificationError:
        return None


def _native_proof_to_hash(proof: bytes) -> bytes | None:
    try:
        return veritree.ecvrf_proof_to_hash(proof)
    except veritree.VerificationError:
        return None


def _agree(sk: bytes, alpha: bytes) -> None:
    """Key, proof and beta identical, and each side accepts the other's proof."""
    pk = ref.public_key(sk)
    assert veritree.ecvrf_public_key(sk) == pk
    proof = ref.prove(sk, alpha)
    assert veritree.ecvrf_prove(sk, alpha) == proof
    beta = ref.verify(pk, alpha, proof)
    assert beta is not None and len(beta) == 64
    assert veritree.ecvrf_verify(pk, alpha, proof) == beta
    assert ref.proof_to_hash(proof) == beta
    assert veritree.ecvrf_proof_to_hash(proof) == beta


# 1. The reference alone reproduces the RFC, intermediate values included.


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["alpha_hex"] or "empty")
def test_reference_reproduces_rfc9381_examples(v: dict[str, str]) -> None:
    sk, pk, alpha = bytes.fromhex(v["sk"]), bytes.fromhex(v["pk"]), bytes.fromhex(v["alpha_hex"])
    x, prefix = ref.expand_secret(sk)
    assert x.to_bytes(32, "little").hex() == v["x"]
    assert ref.public_key(sk) == pk
    h_string, _ = ref.encode_to_curve(pk, alpha)
    assert h_string.hex() == v["H"]
    k_string = ref.sha512(prefix, h_string)
    assert k_string.hex() == v["k"]
    h = ref.decode(h_string)
    assert h is not None
    k = int.from_bytes(k_string, "little") % ref.Q
    assert ref.encode(ref.mul(k, ref.B)).hex() == v["U"]
    assert ref.encode(ref.mul(k, h)).hex() == v["V"]
    proof = ref.prove(sk, alpha)
    assert proof.hex() == v["pi"]
    assert ref.verify(pk, alpha, proof) == bytes.fromhex(v["beta"])
    assert ref.proof_to_hash(proof) == bytes.fromhex(v["beta"])


def test_extended_addition_matches_the_affine_law() -> None:
    """add() is the fast form; affine_add() is the definition it must equal."""
    pts = [ref.mul(k, ref.B) for k in (1, 2, 3, 7, 2**200 + 5, ref.Q - 1)] + ref.small_order_points()
    for p1 in pts:
        for p2 in pts:
            assert ref.to_affine(ref.add(p1, p2)) == ref.affine_add(ref.to_affine(p1), ref.to_affine(p2))


# 2. Random keys and inputs: identical outputs, mutual acceptance.


@settings(max_examples=30, deadline=None)
@given(sk=seeds, alpha=alphas)
def test_native_matches_reference(sk: bytes, alpha: bytes) -> None:
    _agree(sk, alpha)


# 3. Inputs whose try-and-increment needs more than one hash.


def test_try_and_increment_counters_above_zero() -> None:
    sk = bytes(range(32))
    pk = ref.public_key(sk)
    first: dict[int, bytes] = {}  # ctr -> first alpha that needed it
    for i in range(64):
        alpha = i.to_bytes(1, "little")
        first.setdefault(ref.encode_to_curve(pk, alpha)[1], alpha)
    assert 1 in first and 2 in first, first  # each missing has probability < 2^-18
    for alpha in first.values():
        _agree(sk, alpha)


# 4. Tampered proofs: both sides refuse.


@settings(max_examples=30, deadline=None)
@given(sk=seeds, alpha=alphas, pos=st.integers(0, 79), mask=st.integers(1, 255))
def test_tampered_proofs_rejected_by_both(sk: bytes, alpha: bytes, pos: int, mask: int) -> None:
    pk = veritree.ecvrf_public_key(sk)
    bad = bytearray(veritree.ecvrf_prove(sk, alpha))
    bad[pos] ^= mask
    assert ref.verify(pk, alpha, bytes(bad)) is None
    with pytest.raises(veritree.VerificationError):
        veritree.ecvrf_verify(pk, alpha, bytes(bad))


def test_s_plus_q_rejected_by_both() -> None:
    """s + q gives the same U and V, so only the range check stops this malleability."""
    sk, alpha = b"\x07" * 32, b"malleable"
    pk, proof = ref.public_key(sk), ref.prove(sk, alpha)
    s = int.from_bytes(proof[48:], "little") + ref.Q
    assert s < 2**256  # true for every s < q
    bad = proof[:48] + s.to_bytes(32, "little")
    assert ref.verify(pk, alpha, bad) is None and ref.proof_to_hash(bad) is None
    assert _native_verify(pk, alpha, bad) is None and _native_proof_to_hash(bad) is None


# 5. Small-order public keys, including proofs that would pass without ECVRF_validate_key.


def _small_order_encodings() -> list[bytes]:
    """The 8 torsion points, then the non-canonical spellings of some of them
    (y + p < 2^255, and the sign bit set when x = 0)."""
    canonical = [ref.encode(pt) for pt in ref.small_order_points()]
    assert len(set(canonical)) == 8
    extra = []
    for enc in canonical:
        n = int.from_bytes(enc, "little")
        y, sign = n & ((1 << 255) - 1), n >> 255
        if y + ref.P < 2**255:
            extra.append((y + ref.P | sign << 255).to_bytes(32, "little"))
        if y in (1, ref.P - 1):  # x = 0
            extra.append((y | 1 << 255).to_bytes(32, "little"))
    assert extra and all(ref.decode(e) is None for e in extra)
    return canonical + extra


@pytest.mark.parametrize("pk", _small_order_encodings(), ids=lambda b: b.hex()[:8] + ".." + b.hex()[-2:])
def test_small_order_keys_rejected_by_both(pk: bytes) -> None:
    alpha = b"small order"
    proofs = [ref.prove(b"\x01" * 32, alpha)]  # an honest proof under another key
    if ref.decode(pk) is not None:
        forged = ref.forge_small_order_proof(pk, alpha)
        assert ref.verify(pk, alpha, forged, check_key=False) is not None  # the equations hold
        proofs.append(forged)
    for proof in proofs:
        assert ref.verify(pk, alpha, proof) is None
        with pytest.raises(veritree.VerificationError):
            veritree.ecvrf_verify(pk, alpha, proof)


# Decoding edge cases that random tampering almost never reaches.


@settings(max_examples=30, deadline=None)
@given(proof=st.binary(min_size=80, max_size=80))
def test_proof_to_hash_agrees_on_arbitrary_bytes(proof: bytes) -> None:
    assert _native_proof_to_hash(proof) == ref.proof_to_hash(proof)


def test_non_canonical_gamma_and_keys_rejected_by_both() -> None:
    """Encodings with y >= p (y + p for small y) of ordinary points, as Gamma and as key."""
    sk, alpha = b"\x02" * 32, b"canon"
    pk, proof = ref.public_key(sk), ref.prove(sk, alpha)
    seen = 0
    for y in range(2, 19):
        if ref.decode(y.to_bytes(32, "little")) is None:
            continue
        for sign in (0, 1):
            enc = (y + ref.P | sign << 255).to_bytes(32, "little")
            assert ref.decode(enc) is None
            bad = enc + proof[32:]
            assert ref.proof_to_hash(bad) is None and _native_proof_to_hash(bad) is None
            assert _native_verify(pk, alpha, bad) is None
            assert ref.verify(enc, alpha, proof) is None and _native_verify(enc, alpha, proof) is None
            seen += 1
    assert seen


# Mixed-order keys and Gammas (prime-order part plus a torsion part). RFC 9381
# accepts such keys (validate_key refuses only small order) and computes
# U = s*B - c*Y with the integer c. Computing (q - c)*Y instead differs by
# 5*torsion (q = 5 mod 8): such a verifier would refuse RFC-valid proofs and
# accept proofs the RFC refuses. The native verifier once did; these tests
# keep it on the RFC's side.

_TORSION = ref.small_order_points()[1]  # order 8
_MIXED = {"key": (_TORSION, ref.IDENTITY), "gamma": (ref.IDENTITY, _TORSION)}


def _mixed_proofs(where: str) -> tuple[bytes, bytes, bytes, bytes]:
    """(sk, pk, RFC proof, proof made with c mod q) for a torsion part in `where`."""
    sk, alpha = b"\x05" * 32, b"mixed"
    t_key, t_gamma = _MIXED[where]
    pk, rfc_proof = ref.prove_with_torsion(sk, alpha, t_key, t_gamma)
    _, mod_q_proof = ref.prove_with_torsion(sk, alpha, t_key, t_gamma, c_mod_q=True)
    return sk, pk, rfc_proof, mod_q_proof


@pytest.mark.parametrize("where", sorted(_MIXED))
def test_mixed_order_proofs_follow_rfc_in_reference(where: str) -> None:
    """The reference's verdicts on these proofs, independent of the native side."""
    sk, pk, rfc_proof, mod_q_proof = _mixed_proofs(where)
    beta = ref.verify(pk, b"mixed", rfc_proof)
    assert beta is not None and beta == ref.proof_to_hash(mod_q_proof)
    assert ref.verify(pk, b"mixed", mod_q_proof) is None
    if where == "gamma":  # honest key: same beta as the honest proof
        assert beta == ref.verify(pk, b"mixed", ref.prove(sk, b"mixed"))


@pytest.mark.parametrize("where", sorted(_MIXED))
def test_mixed_order_proofs_native_matches_rfc(where: str) -> None:
    _, pk, rfc_proof, mod_q_proof = _mixed_proofs(where)
    assert _native_verify(pk, b"mixed", rfc_proof) == ref.verify(pk, b"mixed", rfc_proof)
    assert _native_verify(pk, b"mixed", mod_q_proof) == ref.verify(pk, b"mixed", mod_q_proof)
