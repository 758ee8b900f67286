"""Verification codes: libsignal's safety-number known answer, the SAS-MCA
exchange (honest runs, a man in the middle, tampered and malformed
messages, misuse), and public codes."""

import base64
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st
from veritree.ckv import codes
from veritree.ckv.codes import CodeExchange, check_public_code, format_safety_number, public_code, safety_number

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "fingerprint" / "safety_number_v1.json").read_text())
ALICE_KEY = bytes.fromhex(VECTOR["alice_identity_key_hex"])
BOB_KEY = bytes.fromhex(VECTOR["bob_identity_key_hex"])
ALICE_ID = VECTOR["alice_stable_id"].encode()
BOB_ID = VECTOR["bob_stable_id"].encode()

keys = st.binary(min_size=32, max_size=32)


def account_key(seed: bytes | None = None) -> bytes:
    return veritree.ed25519_public_key(seed if seed is not None else os.urandom(32))


def exchange(
    a_mine: bytes, a_peer: bytes, b_mine: bytes, b_peer: bytes, digits: int = 6,
    a_random: Callable[[int], bytes] = os.urandom, b_random: Callable[[int], bytes] = os.urandom,
) -> tuple[str, str]:
    """An honest run: A initiates, B responds; both codes."""
    a = CodeExchange(a_mine, a_peer, True, digits=digits, random=a_random)
    b = CodeExchange(b_mine, b_peer, False, digits=digits, random=b_random)
    b.finish(a.reveal(b.respond(a.commit())))
    return a.code, b.code


def fixed(nonce: bytes) -> Callable[[int], bytes]:
    return lambda n: nonce[:n]


# --- safety numbers --------------------------------------------------------


def test_libsignal_vector() -> None:
    assert VECTOR["iterations"] == codes.SAFETY_NUMBER_ITERATIONS
    assert ALICE_KEY[0] == 0x05 and len(ALICE_KEY) == 33
    assert safety_number(ALICE_ID, ALICE_KEY, BOB_ID, BOB_KEY) == VECTOR["display"]
    assert safety_number(BOB_ID, BOB_KEY, ALICE_ID, ALICE_KEY) == VECTOR["display"]
    # A bare 32-byte key gets the 0x05 type byte, as libsignal serializes it.
    assert safety_number(ALICE_ID, ALICE_KEY[1:], BOB_ID, BOB_KEY[1:]) == VECTOR["display"]


def test_format_safety_number() -> None:
    shown = format_safety_number(VECTOR["display"])
    assert shown.split() == [VECTOR["display"][i:i + 5] for i in range(0, 60, 5)]
    assert shown.startswith("30035 44776 ") and len(shown) == 60 + 11
    for bad in ("1" * 59, "1" * 61, "1" * 59 + "a", "\u0661" * 60):  # Arabic-Indic digit one
        with pytest.raises(ValueError):
            format_safety_number(bad)


@settings(max_examples=20)
@given(keys, keys, st.binary(max_size=16), st.binary(max_size=16))
def test_safety_number_is_symmetric(a: bytes, b: bytes, a_id: bytes, b_id: bytes) -> None:
    number = safety_number(a_id, a, b_id, b)
    assert len(number) == 60 and number.isdigit()
    assert safety_number(b_id, b, a_id, a) == number


@settings(max_examples=20)
@given(keys, keys, st.integers(0, 31), st.integers(0, 7))
def test_safety_number_changes_with_any_key_bit(a: bytes, b: bytes, byte: int, bit: int) -> None:
    number = safety_number(b"alice", a, b"bob", b)
    flipped = bytearray(b)
    flipped[byte] ^= 1 << bit
    changed = safety_number(b"alice", a, b"bob", bytes(flipped))
    assert changed != number
    # Only Bob's half moved (the halves are sorted, so it may have changed places).
    assert len({number[:30], number[30:]} & {changed[:30], changed[30:]}) == 1


def test_safety_number_changes_with_identifier() -> None:
    base = VECTOR["display"]
    assert safety_number(ALICE_ID, ALICE_KEY, b"+14153333334", BOB_KEY) != base
    assert safety_number(b"+14152222222\x00", ALICE_KEY, BOB_ID, BOB_KEY) != base
    # Swapping who has which identifier is a different pair of parties.
    assert safety_number(BOB_ID, ALICE_KEY, ALICE_ID, BOB_KEY) != base


def test_safety_number_rejects_bad_keys() -> None:
    for bad in (ALICE_KEY[:31], b"\x06" + ALICE_KEY[1:], ALICE_KEY + b"\x00", b""):
        with pytest.raises(ValueError):
            safety_number(ALICE_ID, bad, BOB_ID, BOB_KEY)
        with pytest.raises(ValueError):
            safety_number(ALICE_ID, ALICE_KEY, BOB_ID, bad)
    with pytest.raises(TypeError):
        safety_number("+14152222222", ALICE_KEY, BOB_ID, BOB_KEY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        safety_number(ALICE_ID, ALICE_KEY, BOB_ID, BOB_KEY, iterations=0)


# --- SAS-MCA exchange ------------------------------------------------------


@given(keys, keys, st.integers(codes.MIN_DIGITS, codes.MAX_DIGITS))
def test_honest_exchange_agrees(alice: bytes, bob: bytes, digits: int) -> None:
    a_code, b_code = exchange(alice, bob, bob, alice, digits)
    assert a_code == b_code
    assert len(a_code) == digits and a_code.isascii() and a_code.isdigit()


def test_code_formula_and_role_order() -> None:
    """Pins the documented formula, so a change to the wire format shows."""
    alice, bob = account_key(b"\x01" * 32), account_key(b"\x02" * 32)
    n_i, n_r = b"\xaa" * 32, b"\xbb" * 32
    a = CodeExchange(alice, bob, True, random=fixed(n_i))
    b = CodeExchange(bob, alice, False, random=fixed(n_r))
    commit = a.commit()
    assert commit == b"\x01" + hashlib.sha256(b"veritree/ckv/sas/v1/commit\x00" + n_i + alice + bob).digest()
    response = b.respond(commit)
    assert response == b"\x02" + n_r
    reveal = a.reveal(response)
    assert reveal == b"\x03" + n_i
    b.finish(reveal)
    digest = hashlib.sha256(b"veritree/ckv/sas/v1/code\x00" + n_i + n_r + alice + bob).digest()
    expected = f"{int.from_bytes(digest, 'big') % 10**6:06d}"
    assert a.code == b.code == expected == codes.sas_code(n_i, n_r, alice, bob)
    # The same people and nonces with Bob initiating: a different code, still shared.
    b_first, a_second = exchange(bob, alice, alice, bob, a_random=fixed(n_i), b_random=fixed(n_r))
    assert b_first == a_second != expected


def test_code_depends_only_on_account_keys() -> None:
    """Devices come and go under an account key; the code does not move.
    With the nonces fixed, the code is a function of the two account keys
    alone, and a new account key moves it."""
    alice_seed, bob_seed = os.urandom(32), os.urandom(32)
    alice, bob = account_key(alice_seed), account_key(bob_seed)
    n_i, n_r = os.urandom(32), os.urandom(32)
    before = exchange(alice, bob, bob, alice, a_random=fixed(n_i), b_random=fixed(n_r))
    # Each side adds devices, each signed by its account key.
    for seed, key in ((alice_seed, alice), (bob_seed, bob), (alice_seed, alice)):
        device = account_key()
        veritree.ed25519_verify(key, device, veritree.ed25519_sign(seed, device))
        after = exchange(alice, bob, bob, alice, a_random=fixed(n_i), b_random=fixed(n_r))
        assert after == before and after[0] == after[1]
    new_alice = account_key()
    moved = exchange(new_alice, bob, bob, new_alice, a_random=fixed(n_i), b_random=fixed(n_r))
    assert moved[0] == moved[1] != before[0]
    # A device bundle (account key followed by a device key) is not an account key.
    with pytest.raises(ValueError):
        CodeExchange(alice + account_key(), bob, True)


def test_man_in_the_middle_codes_rarely_match() -> None:
    """Mallory runs one exchange with Alice (as Bob) and one with Bob (as
    Alice), with her own keys in place of theirs, and relays no message
    unchanged. Each code pair matches with probability 10^-6; over 3000
    attacks we expect 0.003 matches, and 3 or more would happen by chance
    with probability about 5e-9."""
    alice, bob, m_alice, m_bob = account_key(), account_key(), account_key(), account_key()
    trials, matches = 3000, 0
    for trial in range(trials):
        # Alternate which side Mallory answers first; neither order helps her.
        if trial % 2:
            alice_sees, _ = exchange(alice, m_bob, m_bob, alice)
            _, bob_sees = exchange(m_alice, bob, bob, m_alice)
        else:
            _, bob_sees = exchange(m_alice, bob, bob, m_alice)
            alice_sees, _ = exchange(alice, m_bob, m_bob, alice)
        matches += alice_sees == bob_sees
    assert matches <= 2


def test_relaying_with_substituted_keys_fails_the_commitment() -> None:
    """If Mallory only swaps the keys the directory serves and relays the
    messages, Bob's check of the reveal catches it."""
    alice, bob, mallory = account_key(), account_key(), account_key()
    a = CodeExchange(alice, mallory, True)  # Alice was served Mallory's key for Bob
    b = CodeExchange(bob, alice, False)
    response = b.respond(a.commit())
    reveal = a.reveal(response)
    with pytest.raises(veritree.VerificationError):
        b.finish(reveal)
    with pytest.raises(RuntimeError):
        _ = b.code


@given(st.integers(0, 31), st.integers(0, 7))
def test_tampered_commit_or_reveal_is_caught(byte: int, bit: int) -> None:
    alice, bob = account_key(), account_key()
    for tamper_commit in (True, False):
        a, b = CodeExchange(alice, bob, True), CodeExchange(bob, alice, False)
        commit = bytearray(a.commit())
        if tamper_commit:
            commit[1 + byte] ^= 1 << bit
        reveal = bytearray(a.reveal(b.respond(bytes(commit))))
        if not tamper_commit:
            reveal[1 + byte] ^= 1 << bit
        with pytest.raises(veritree.VerificationError):
            b.finish(bytes(reveal))


@given(st.integers(0, 31), st.integers(0, 7))
def test_tampered_response_changes_the_code(byte: int, bit: int) -> None:
    """Nothing commits to the responder's nonce; a change to it is caught
    by the people, as differing codes."""
    alice, bob = account_key(), account_key()
    a, b = CodeExchange(alice, bob, True, digits=10), CodeExchange(bob, alice, False, digits=10)
    response = bytearray(b.respond(a.commit()))
    response[1 + byte] ^= 1 << bit
    b.finish(a.reveal(bytes(response)))
    assert a.code != b.code


def malformed(message: bytes) -> list[bytes]:
    return [
        b"",
        message[:1],
        message[:-1],  # truncated
        message + b"\x00",  # padded
        message[1:],  # the body without its type byte
        bytes([0x00]) + message[1:],  # unknown types
        bytes([0x04]) + message[1:],
        bytes([0xFF]) + message[1:],
    ]


def at_step(step: str) -> tuple[CodeExchange, Callable[[bytes], object], bytes]:
    """A fresh exchange just before `step`: the side, its method, and the good message."""
    alice, bob = account_key(), account_key()
    a, b = CodeExchange(alice, bob, True), CodeExchange(bob, alice, False)
    commit = a.commit()
    if step == "respond":
        return b, b.respond, commit
    response = b.respond(commit)
    if step == "reveal":
        return a, a.reveal, response
    return b, b.finish, a.reveal(response)


@pytest.mark.parametrize("step", ["respond", "reveal", "finish"])
@pytest.mark.parametrize("case", range(8))
def test_malformed_messages_are_rejected(step: str, case: int) -> None:
    side, method, good = at_step(step)
    bad = malformed(good)[case]
    with pytest.raises(ValueError, match="message"):
        method(bad)
    with pytest.raises(RuntimeError, match="failed"):  # the exchange is over, even for the good message
        method(good)
    with pytest.raises(RuntimeError):
        _ = side.code


def test_wrong_message_type_names_both() -> None:
    alice, bob = account_key(), account_key()
    a, also_a = CodeExchange(alice, bob, True), CodeExchange(bob, alice, True)
    also_a.commit()
    with pytest.raises(ValueError, match="expected a RESPONSE message .* got COMMIT"):
        also_a.reveal(a.commit())  # both sides thought they initiate


def test_steps_run_once_in_order_by_the_right_role() -> None:
    alice, bob = account_key(), account_key()
    a, b = CodeExchange(alice, bob, True), CodeExchange(bob, alice, False)
    with pytest.raises(RuntimeError):
        _ = a.code
    with pytest.raises(RuntimeError, match="out of order"):
        a.reveal(b"\x02" + b"\x00" * 32)  # no reveal before committing
    with pytest.raises(RuntimeError, match="not a step of the responder"):
        b.commit()
    with pytest.raises(RuntimeError, match="not a step of the initiator"):
        a.respond(b"\x01" + b"\x00" * 32)
    commit = a.commit()
    with pytest.raises(RuntimeError, match="repeated"):
        a.commit()  # a second commitment would let the initiator choose later
    response = b.respond(commit)
    with pytest.raises(RuntimeError, match="repeated"):
        b.respond(commit)  # a second nonce for the same commitment
    reveal = a.reveal(response)
    with pytest.raises(RuntimeError):
        a.reveal(response)
    b.finish(reveal)
    with pytest.raises(RuntimeError):
        b.finish(reveal)
    assert a.code == b.code


def test_nonces_are_fresh() -> None:
    alice, bob = account_key(), account_key()
    commits = {CodeExchange(alice, bob, True).commit() for _ in range(50)}
    assert len(commits) == 50
    with pytest.raises(ValueError, match="32 bytes"):
        CodeExchange(alice, bob, True, random=lambda n: b"\x00" * (n - 1)).commit()


def test_constructor_checks() -> None:
    alice, bob = account_key(), account_key()
    for bad_key in (alice[:31], alice + b"\x00", b""):
        with pytest.raises(ValueError, match="32-byte account key"):
            CodeExchange(bad_key, bob, True)
        with pytest.raises(ValueError, match="32-byte account key"):
            CodeExchange(alice, bad_key, False)
    for digits in (codes.MIN_DIGITS - 1, codes.MAX_DIGITS + 1, True, 6.0):
        with pytest.raises(ValueError, match="digits"):
            CodeExchange(alice, bob, True, digits=digits)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CodeExchange("a" * 32, bob, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CodeExchange(alice, bob, 1)  # type: ignore[arg-type]


# --- public codes ----------------------------------------------------------


@given(keys)
def test_public_code_round_trip(key: bytes) -> None:
    code = public_code(key)
    groups = code.split(" ")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567 ")
    assert check_public_code(code, key)


def test_public_code_formula() -> None:
    key = account_key(b"\x03" * 32)
    digest = hashlib.sha256(b"veritree/ckv/public-code/v1\x00" + key).digest()
    assert public_code(key).replace(" ", "") == base64.b32encode(digest[:20]).decode()


def test_public_code_tolerates_spacing_and_case() -> None:
    key = account_key()
    plain = public_code(key).replace(" ", "")
    for variant in (plain, plain.lower(), "-".join(public_code(key).split()), f"  {plain[:7]}\t{plain[7:]}\n",
                    " ".join(plain), public_code(key).swapcase(), plain[:16] + "\u00a0" + plain[16:]):
        assert check_public_code(variant, key), variant


@given(keys, keys)
def test_public_code_of_another_key_is_false(a: bytes, b: bytes) -> None:
    if a != b:
        assert public_code(a) != public_code(b)
        assert not check_public_code(public_code(a), b)


def test_malformed_public_codes_raise() -> None:
    key = account_key()
    plain = public_code(key).replace(" ", "")
    for bad in ("", plain[:-1], plain + "A", plain[:-1] + "0", plain[:-1] + "1", plain[:-1] + "8",
                plain[:-1] + "=", plain + "====", plain[:-1] + "_", plain[:-2] + "\u00df",  # ß.upper() == "SS"
                plain[:-1] + "\u0131", plain[:-1] + "\uff21"):  # dotless i, fullwidth A
        with pytest.raises(ValueError):
            check_public_code(bad, key)
    with pytest.raises(TypeError):
        check_public_code(plain.encode(), key)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        public_code(key[:31])
