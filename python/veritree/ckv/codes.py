"""Verification codes people compare to confirm they see each other's true
account keys, without trusting the directory.

Three kinds, for three situations:

* `safety_number` - Signal's 60-digit numeric fingerprint of two keys
  (libsignal ``NumericFingerprintGenerator``, version 0 hashing, 5200
  iterations of SHA-512). Static: the same two keys always give the same
  number, so it can be compared at leisure, with no exchange. An attacker
  may grind keys offline against it, which is why it is long: matching one
  30-digit half takes about 10^30 (2^100) keys, at 5200 hashes each.

* `CodeExchange` - a short authentication string (SAS), Vaudenay's SAS-MCA
  ("commit before reveal"). Two people who are talking (in person or on a
  call they recognise each other's voices on) exchange three small messages
  over any channel, even one a man in the middle controls, and then read a
  six-digit code to each other. The flow, initiator I and responder R, each
  holding its own account key and the key the directory gave it for the peer::

      I: n_I = 32 random bytes
      I -> R: COMMIT = 0x01 || SHA-256("veritree/ckv/sas/v1/commit\\0"
                                      || n_I || key_I || key_R)
      R: n_R = 32 random bytes (drawn only after COMMIT arrived)
      R -> I: RESPONSE = 0x02 || n_R
      I -> R: REVEAL   = 0x03 || n_I
      R: checks COMMIT against n_I, key_I, key_R as R sees them
      both: code = int(SHA-256("veritree/ckv/sas/v1/code\\0"
                               || n_I || n_R || key_I || key_R)) mod 10^digits

  Every message is exactly 33 bytes: a type byte and 32 bytes. Keys enter in
  role order (initiator's first), which both sides agree on, so the code does
  not depend on who computes it. I is bound to n_I before it sees n_R, and
  R picks a fresh n_R without learning n_I (the commitment hides it), so
  whoever sits in either seat cannot steer the code: a man in the middle
  running a separate exchange with each side, with its own keys in place of
  theirs, makes the two codes equal with probability 10^-digits per
  attempt, however much it computes. That guarantee needs an exchange to be used once and abandoned
  on any error, so a `CodeExchange` refuses to run a step twice or after a
  failure; the people must treat a failed or restarted exchange as suspect.
  Only account keys enter, so the code survives either side adding or
  removing devices that its account key signs.

* `public_code` - a code one person publishes (on a profile, a business
  card) for anyone to check against the key the directory serves. It is a
  160-bit hash of the account key in base32, so finding another key with the
  same code (second preimage) costs about 2^160 hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from enum import Enum

from veritree import VerificationError

ACCOUNT_KEY_SIZE = 32
"""An account key is an Ed25519 public key."""

# --- Signal-compatible safety numbers -------------------------------------

SAFETY_NUMBER_ITERATIONS = 5200
"""libsignal's iteration count for displayable fingerprints."""

SAFETY_NUMBER_DIGITS = 60
_SIGNAL_DJB_TYPE = 0x05  # the type byte libsignal puts before a 32-byte identity key


def _as_bytes(name: str, value: object) -> bytes:
    # bytes(int) would silently give zeros, and str has no single encoding here.
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _account_key(name: str, value: object) -> bytes:
    key = _as_bytes(name, value)
    if len(key) != ACCOUNT_KEY_SIZE:
        raise ValueError(f"{name} must be a {ACCOUNT_KEY_SIZE}-byte account key, got {len(key)} bytes")
    return key


def _signal_identity_key(name: str, value: object) -> bytes:
    """The 33-byte serialized form libsignal hashes: a 32-byte key gets the
    0x05 type byte, and an already serialized key must carry it."""
    key = _as_bytes(name, value)
    if len(key) == ACCOUNT_KEY_SIZE:
        return bytes([_SIGNAL_DJB_TYPE]) + key
    if len(key) == ACCOUNT_KEY_SIZE + 1 and key[0] == _SIGNAL_DJB_TYPE:
        return key
    raise ValueError(f"{name} must be a 32-byte key or a 33-byte key starting with 0x05, got {len(key)} bytes")


def _fingerprint_half(identifier: bytes, key: bytes, iterations: int) -> str:
    """One party's 30 digits: iterated SHA-512, then six 5-byte big-endian
    numbers mod 100000 (libsignal ``get_fingerprint`` and ``get_encoded_string``)."""
    digest = hashlib.sha512(b"\x00\x00" + key + identifier + key).digest()
    for _ in range(iterations - 1):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))


def safety_number(
    local_id: bytes,
    local_key: bytes,
    remote_id: bytes,
    remote_key: bytes,
    *,
    iterations: int = SAFETY_NUMBER_ITERATIONS,
) -> str:
    """The 60-digit safety number of two (identifier, key) pairs, as libsignal
    displays it; both parties get the same digits, since the halves are sorted.

    Keys are 32-byte account keys (the 0x05 type byte is added, as libsignal
    does) or 33-byte serialized identity keys. Note that our account keys are
    Ed25519 points where Signal's are X25519, so a number made here matches
    Signal's only for the same bytes, not for the same person's Signal key."""
    local_id = _as_bytes("local_id", local_id)
    remote_id = _as_bytes("remote_id", remote_id)
    local = _signal_identity_key("local_key", local_key)
    remote = _signal_identity_key("remote_key", remote_key)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError("iterations must be a positive integer")
    halves = sorted((_fingerprint_half(local_id, local, iterations), _fingerprint_half(remote_id, remote, iterations)))
    return halves[0] + halves[1]


def format_safety_number(number: str) -> str:
    """Twelve space-separated groups of five digits, the way people read them out."""
    if len(number) != SAFETY_NUMBER_DIGITS or not (number.isascii() and number.isdigit()):
        raise ValueError(f"a safety number is {SAFETY_NUMBER_DIGITS} ASCII digits")
    return " ".join(number[i:i + 5] for i in range(0, SAFETY_NUMBER_DIGITS, 5))


# --- SAS-MCA short codes ---------------------------------------------------

NONCE_SIZE = 32
MESSAGE_SIZE = 1 + NONCE_SIZE
"""Every exchange message: one type byte, then 32 bytes."""

MIN_DIGITS = 6
MAX_DIGITS = 10
DEFAULT_DIGITS = 6

COMMIT, RESPONSE, REVEAL = 0x01, 0x02, 0x03
_MESSAGE_NAMES = {COMMIT: "COMMIT", RESPONSE: "RESPONSE", REVEAL: "REVEAL"}
_COMMIT_DOMAIN = b"veritree/ckv/sas/v1/commit\x00"
_CODE_DOMAIN = b"veritree/ckv/sas/v1/code\x00"


def sas_commitment(initiator_nonce: bytes, initiator_key: bytes, responder_key: bytes) -> bytes:
    """The 32 bytes the initiator commits to before it may see the responder's nonce."""
    nonce = _nonce("initiator_nonce", initiator_nonce)
    keys = _account_key("initiator_key", initiator_key) + _account_key("responder_key", responder_key)
    return hashlib.sha256(_COMMIT_DOMAIN + nonce + keys).digest()


def sas_code(
    initiator_nonce: bytes,
    responder_nonce: bytes,
    initiator_key: bytes,
    responder_key: bytes,
    digits: int = DEFAULT_DIGITS,
) -> str:
    """The short code both sides compute once they hold both nonces; exposed
    so the formula can be checked, not to skip the exchange's checks."""
    nonces = _nonce("initiator_nonce", initiator_nonce) + _nonce("responder_nonce", responder_nonce)
    keys = _account_key("initiator_key", initiator_key) + _account_key("responder_key", responder_key)
    digits = _digits(digits)
    # A 256-bit number mod at most 10^10: the bias is below 2^-220.
    value = int.from_bytes(hashlib.sha256(_CODE_DOMAIN + nonces + keys).digest(), "big") % 10**digits
    return f"{value:0{digits}d}"


def _nonce(name: str, value: object) -> bytes:
    nonce = _as_bytes(name, value)
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"{name} must be {NONCE_SIZE} bytes, got {len(nonce)}")
    return nonce


def _digits(digits: object) -> int:
    if isinstance(digits, bool) or not isinstance(digits, int) or not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValueError(f"digits must be an integer from {MIN_DIGITS} to {MAX_DIGITS}")
    return digits


def _parse(message: object, expected: int) -> bytes:
    """The 32-byte body of a message of the expected type; anything else is a ValueError."""
    data = _as_bytes("message", message)
    if len(data) != MESSAGE_SIZE:
        raise ValueError(f"a {_MESSAGE_NAMES[expected]} message is {MESSAGE_SIZE} bytes, got {len(data)}")
    if data[0] != expected:
        got = _MESSAGE_NAMES.get(data[0], f"unknown type 0x{data[0]:02x}")
        raise ValueError(f"expected a {_MESSAGE_NAMES[expected]} message (type 0x{expected:02x}), got {got}")
    return data[1:]


class _Step(Enum):
    START = "start"
    COMMITTED = "committed"  # initiator: COMMIT sent
    RESPONDED = "responded"  # responder: RESPONSE sent
    DONE = "done"
    FAILED = "failed"


class CodeExchange:
    """One side of one SAS-MCA exchange (see the module docstring).

    Initiator: ``commit()``, then ``reveal(response)``. Responder:
    ``respond(commit)``, then ``finish(reveal)``. Then ``code`` holds the digits
    to read out. Malformed messages raise ValueError, a reveal that does not
    open the commitment raises `veritree.VerificationError`, and a step out of
    order raises RuntimeError; any of them ends the exchange for good, since
    retrying with the same nonce would let an attacker try twice.

    ``random`` draws the nonce; replace it only in tests."""

    def __init__(
        self,
        my_account_key: bytes,
        peer_account_key: bytes,
        initiator: bool,
        *,
        digits: int = DEFAULT_DIGITS,
        random: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        mine = _account_key("my_account_key", my_account_key)
        peer = _account_key("peer_account_key", peer_account_key)
        if not isinstance(initiator, bool):
            raise TypeError("initiator must be a bool")
        self.initiator = initiator
        self.digits = _digits(digits)
        self._initiator_key, self._responder_key = (mine, peer) if initiator else (peer, mine)
        self._random = random
        self._step = _Step.START
        self._nonce = b""
        self._commitment = b""
        self._code: str | None = None

    def _enter(self, role_is_initiator: bool, step: _Step, method: str) -> None:
        if self.initiator != role_is_initiator:
            role = "initiator" if self.initiator else "responder"
            raise RuntimeError(f"{method}() is not a step of the {role}")
        if self._step is _Step.FAILED:
            raise RuntimeError("this exchange failed; start a new one")
        if self._step is not step:
            raise RuntimeError(f"{method}() out of order or repeated (exchange is at {self._step.value!r})")

    def _fresh_nonce(self) -> bytes:
        nonce = self._random(NONCE_SIZE)
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_SIZE:
            raise ValueError(f"random must return {NONCE_SIZE} bytes")
        return nonce

    def commit(self) -> bytes:
        """Initiator, step 1: the COMMIT message."""
        self._enter(True, _Step.START, "commit")
        try:
            self._nonce = self._fresh_nonce()
            commitment = sas_commitment(self._nonce, self._initiator_key, self._responder_key)
        except BaseException:
            self._step = _Step.FAILED
            raise
        self._step = _Step.COMMITTED
        return bytes([COMMIT]) + commitment

    def respond(self, commit: bytes) -> bytes:
        """Responder, step 2: takes COMMIT and returns RESPONSE, with a nonce
        drawn only now, after the initiator is bound."""
        self._enter(False, _Step.START, "respond")
        try:
            self._commitment = _parse(commit, COMMIT)
            self._nonce = self._fresh_nonce()
        except BaseException:
            self._step = _Step.FAILED
            raise
        self._step = _Step.RESPONDED
        return bytes([RESPONSE]) + self._nonce

    def reveal(self, response: bytes) -> bytes:
        """Initiator, step 3: takes RESPONSE and returns REVEAL; the code is ready."""
        self._enter(True, _Step.COMMITTED, "reveal")
        try:
            responder_nonce = _parse(response, RESPONSE)
            self._code = sas_code(self._nonce, responder_nonce, self._initiator_key, self._responder_key, self.digits)
        except BaseException:
            self._step = _Step.FAILED
            raise
        self._step = _Step.DONE
        return bytes([REVEAL]) + self._nonce

    def finish(self, reveal: bytes) -> None:
        """Responder, step 4: takes REVEAL and checks it opens the commitment
        for the keys this side sees; the code is ready."""
        self._enter(False, _Step.RESPONDED, "finish")
        try:
            initiator_nonce = _parse(reveal, REVEAL)
            expected = sas_commitment(initiator_nonce, self._initiator_key, self._responder_key)
            if not hmac.compare_digest(expected, self._commitment):
                raise VerificationError(
                    "REVEAL does not open the COMMIT for these account keys: "
                    "a changed message or a key substituted in the middle"
                )
            self._code = sas_code(initiator_nonce, self._nonce, self._initiator_key, self._responder_key, self.digits)
        except BaseException:
            self._step = _Step.FAILED
            raise
        self._step = _Step.DONE

    @property
    def code(self) -> str:
        """The digits to compare aloud; only once this side's last step succeeded."""
        if self._code is None or self._step is not _Step.DONE:
            raise RuntimeError("the exchange has not completed")
        return self._code


# --- Public verification codes ---------------------------------------------

PUBLIC_CODE_BITS = 160
_PUBLIC_CODE_DOMAIN = b"veritree/ckv/public-code/v1\x00"
_PUBLIC_CODE_CHARS = PUBLIC_CODE_BITS // 5  # 32 base32 characters, no padding
_PUBLIC_CODE_GROUP = 4
_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _public_code_chars(account_key: bytes) -> str:
    key = _account_key("account_key", account_key)
    digest = hashlib.sha256(_PUBLIC_CODE_DOMAIN + key).digest()[: PUBLIC_CODE_BITS // 8]
    return base64.b32encode(digest).decode("ascii")


def public_code(account_key: bytes) -> str:
    """The account's public verification code: 160 bits of a domain-separated
    SHA-256 of the key, as eight groups of four RFC 4648 base32 characters
    (A-Z, 2-7: no 0/O or 1/I to confuse)."""
    chars = _public_code_chars(account_key)
    return " ".join(chars[i:i + _PUBLIC_CODE_GROUP] for i in range(0, _PUBLIC_CODE_CHARS, _PUBLIC_CODE_GROUP))


def check_public_code(code: str, account_key: bytes) -> bool:
    """Whether `code` is `account_key`'s public code. Spaces, other
    whitespace and hyphens anywhere, and either case, are accepted; anything
    else that is not exactly 32 base32 characters raises ValueError, so a
    garbled code is not mistaken for a mismatch."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a str, not {type(code).__name__}")
    chars = []
    for ch in code:
        if ch.isspace() or ch == "-":
            continue
        # Check before upper(): "ß".upper() == "SS" and "ı".upper() == "I".
        if not ch.isascii() or ch.upper() not in _BASE32:
            raise ValueError(f"public code contains {ch!r}; only A-Z and 2-7 are used")
        chars.append(ch.upper())
    if len(chars) != _PUBLIC_CODE_CHARS:
        raise ValueError(f"a public code has {_PUBLIC_CODE_CHARS} characters, got {len(chars)}")
    return hmac.compare_digest("".join(chars), _public_code_chars(account_key))
