"""Ed25519 as the account keys use it: RFC 8032's first test vector, and
strict rejection of anything else."""

import pytest
import veritree
from hypothesis import given
from hypothesis import strategies as st

# RFC 8032, section 7.1, TEST 1 (empty message).
SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_vector() -> None:
    assert veritree.ed25519_public_key(SECRET) == PUBLIC
    assert veritree.ed25519_sign(SECRET, b"") == SIGNATURE
    veritree.ed25519_verify(PUBLIC, b"", SIGNATURE)


@given(st.binary(max_size=64), st.integers(0, 63), st.integers(0, 7))
def test_any_flipped_signature_bit_is_rejected(message: bytes, byte: int, bit: int) -> None:
    sig = bytearray(veritree.ed25519_sign(SECRET, message))
    sig[byte] ^= 1 << bit
    with pytest.raises(veritree.VerificationError):
        veritree.ed25519_verify(PUBLIC, message, bytes(sig))


def test_wrong_sizes_are_value_errors() -> None:
    for bad in (lambda: veritree.ed25519_public_key(b"short"),
                lambda: veritree.ed25519_sign(SECRET[:31], b"m"),
                lambda: veritree.ed25519_verify(PUBLIC[:31], b"", SIGNATURE),
                lambda: veritree.ed25519_verify(PUBLIC, b"", SIGNATURE[:63])):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(veritree.VerificationError):
        veritree.ed25519_verify(PUBLIC, b"another message", SIGNATURE)
