"""A slow, plain reference for ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03).

Written from the text of RFC 9381 (sections 5.1-5.5) and RFC 8032 (5.1.2-5.1.3)
for differential tests against the native implementation. Everything is
Python integers. The twisted Edwards addition law is complete on edwards25519
(d is not a square), so one formula covers doubling, the identity and
inverses, and there are no special cases to get wrong. Points are kept in
extended coordinates only to skip inversions; affine_add() is the textbook law
and the tests check add() against it. Speed and side channels do not matter
here; readability does.
"""

from __future__ import annotations

import hashlib

Affine = tuple[int, int]  # (x, y)
Point = tuple[int, int, int, int]  # extended (X, Y, Z, T): x = X/Z, y = Y/Z, x*y = T/Z

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493  # order of the base point
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p
COFACTOR = 8
SUITE = b"\x03"
C_LEN = 16  # challenge length in bytes (RFC 9381 5.5: cLen = 16)
IDENTITY: Point = (0, 1, 1, 0)


def _on_curve(pt: Affine) -> bool:
    """-x^2 + y^2 = 1 + d x^2 y^2 (mod p)."""
    x, y = pt
    return (-x * x + y * y - 1 - D * x * x * y * y) % P == 0


def affine_add(p1: Affine, p2: Affine) -> Affine:
    """The textbook Edwards addition law (a = -1); the definition that add() must match."""
    x1, y1 = p1
    x2, y2 = p2
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P
    return (x3, y3)


def from_affine(pt: Affine) -> Point:
    x, y = pt
    return (x, y, 1, x * y % P)


def to_affine(pt: Point) -> Affine:
    x, y, z, _ = pt
    zinv = pow(z, -1, P)
    return (x * zinv % P, y * zinv % P)


def add(p1: Point, p2: Point) -> Point:
    """RFC 8032 5.1.4 addition in extended coordinates; complete, so it also doubles.

    Used instead of affine_add only because it needs no inversion (about 5x faster)."""
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * D * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(pt: Point) -> Point:
    x, y, z, t = pt
    return (-x % P, y, z, -t % P)


def same(p1: Point, p2: Point) -> bool:
    """Projective equality: X1/Z1 == X2/Z2 and Y1/Z1 == Y2/Z2."""
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def mul(k: int, pt: Point) -> Point:
    """k * pt by double-and-add; k >= 0."""
    assert k >= 0
    acc = IDENTITY
    while k:
        if k & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        k >>= 1
    return acc


def _recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 5.1.3 steps 2-4: the x with that parity on the curve, or None."""
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, -1, P) % P  # v is never 0: -1/d is not a square
    x = pow(x2, (P + 3) // 8, P)
    if x * x % P != x2:
        x = x * SQRT_M1 % P
        if x * x % P != x2:
            return None
    if x == 0 and sign == 1:
        return None  # x = 0 has no negative: the encoding is non-canonical
    if x & 1 != sign:
        x = P - x
    return x


def _base_point() -> Point:
    """RFC 8032 5.1: B has y = 4/5 and even ("positive") x."""
    y = 4 * pow(5, -1, P) % P
    x = _recover_x(y, 0)
    assert x is not None and _on_curve((x, y))
    return from_affine((x, y))


B = _base_point()
assert not same(B, IDENTITY) and same(mul(Q, B), IDENTITY)


def encode(pt: Point) -> bytes:
    """RFC 8032 5.1.2: y little-endian, top bit = low bit of x."""
    x, y = to_affine(pt)
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(s: bytes) -> Point | None:
    """RFC 8032 5.1.3; None for y >= p, non-squares and x = 0 with the sign bit set."""
    if len(s) != 32:
        return None
    n = int.from_bytes(s, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P:
        return None
    x = _recover_x(y, sign)
    if x is None:
        return None
    assert _on_curve((x, y))
    return from_affine((x, y))


def sha512(*parts: bytes) -> bytes:
    return hashlib.sha512(b"".join(parts)).digest()


def expand_secret(sk: bytes) -> tuple[int, bytes]:
    """RFC 8032 5.1.5: clamped low half of SHA-512(seed) as x; the high half is the nonce prefix."""
    assert len(sk) == 32
    h = sha512(sk)
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    return int.from_bytes(a, "little"), h[32:]


def public_key(sk: bytes) -> bytes:
    """Y = x*B, encoded."""
    x, _ = expand_secret(sk)
    return encode(mul(x, B))


def encode_to_curve(pk: bytes, alpha: bytes) -> tuple[bytes, int]:
    """RFC 9381 5.4.1.1 try-and-increment; returns (encoded H, the ctr that worked).

    The salt is the public key string as given (PK_string)."""
    for ctr in range(256):
        hash_string = sha512(SUITE, b"\x01", pk, alpha, bytes([ctr]), b"\x00")
        h = decode(hash_string[:32])
        if h is not None:
            return encode(mul(COFACTOR, h)), ctr
    raise ValueError("no valid point in 256 tries")  # probability about 2^-256


def _challenge(*points: Point) -> int:
    """RFC 9381 5.4.3: first cLen bytes of SHA-512(suite || 0x02 || points || 0x00), little-endian."""
    c_string = sha512(SUITE, b"\x02", *(encode(pt) for pt in points), b"\x00")
    return int.from_bytes(c_string[:C_LEN], "little")


def _decode_proof(proof: bytes) -> tuple[Point, int, int] | None:
    """RFC 9381 5.4.4: Gamma must decode, s must be below q."""
    if len(proof) != 32 + C_LEN + 32:
        return None
    gamma = decode(proof[:32])
    c = int.from_bytes(proof[32 : 32 + C_LEN], "little")
    s = int.from_bytes(proof[32 + C_LEN :], "little")
    if gamma is None or s >= Q:
        return None
    return gamma, c, s


def prove(sk: bytes, alpha: bytes) -> bytes:
    """RFC 9381 5.1, with the nonce of 5.4.2.2."""
    x, prefix = expand_secret(sk)
    y = mul(x, B)
    pk = encode(y)
    h_string, _ = encode_to_curve(pk, alpha)
    h = decode(h_string)
    assert h is not None
    gamma = mul(x, h)
    k = int.from_bytes(sha512(prefix, h_string), "little") % Q
    c = _challenge(y, h, gamma, mul(k, B), mul(k, h))
    s = (k + c * x) % Q
    return encode(gamma) + c.to_bytes(C_LEN, "little") + s.to_bytes(32, "little")


def proof_to_hash(proof: bytes) -> bytes | None:
    """RFC 9381 5.2: SHA-512(suite || 0x03 || encode(8*Gamma) || 0x00); None if the proof does not decode."""
    decoded = _decode_proof(proof)
    if decoded is None:
        return None
    gamma = decoded[0]
    return sha512(SUITE, b"\x03", encode(mul(COFACTOR, gamma)), b"\x00")


def validate_key(pk: bytes) -> Point | None:
    """RFC 9381 5.4.5: the key must decode and must not have small order (8*Y != identity)."""
    y = decode(pk)
    if y is None or same(mul(COFACTOR, y), IDENTITY):
        return None
    return y


def verify(pk: bytes, alpha: bytes, proof: bytes, *, check_key: bool = True) -> bytes | None:
    """RFC 9381 5.3: beta if the proof is valid, else None.

    check_key=False skips ECVRF_validate_key (the RFC's validate_key flag) so
    tests can show that forged proofs under small-order keys would otherwise pass."""
    y = validate_key(pk) if check_key else decode(pk)
    if y is None:
        return None
    decoded = _decode_proof(proof)
    if decoded is None:
        return None
    gamma, c, s = decoded
    h = decode(encode_to_curve(pk, alpha)[0])
    assert h is not None
    u = add(mul(s, B), neg(mul(c, y)))
    v = add(mul(s, h), neg(mul(c, gamma)))
    if _challenge(y, h, gamma, u, v) != c:
        return None
    return proof_to_hash(proof)


def small_order_points() -> list[Point]:
    """The 8-torsion subgroup, found rather than hard-coded.

    q*P lies in the torsion subgroup for any point P; the first such point of
    order exactly 8 generates all eight."""
    for yy in range(2, 1000):
        pt = decode(yy.to_bytes(32, "little"))
        if pt is None:
            continue
        t = mul(Q, pt)
        if not same(mul(4, t), IDENTITY):
            points = [mul(i, t) for i in range(8)]
            assert len({encode(pt) for pt in points}) == 8
            assert all(same(mul(8, pt), IDENTITY) for pt in points)
            return points
    raise AssertionError("no point of order 8 found")


def forge_small_order_proof(pk: bytes, alpha: bytes) -> bytes:
    """A proof that passes the verification equations under a small-order key.

    With Y of order n | 8 and Gamma = identity, U = s*B - c*Y depends on c only
    through c mod n: guess j = c mod n, compute c, retry until the guess holds.
    Only ECVRF_validate_key stops this (and beta would not depend on alpha)."""
    y = decode(pk)
    assert y is not None and same(mul(COFACTOR, y), IDENTITY)
    h = decode(encode_to_curve(pk, alpha)[0])
    assert h is not None
    for s in range(1, 1000):
        sb, v = mul(s, B), mul(s, h)
        for j in range(8):
            u = add(sb, neg(mul(j, y)))
            c = _challenge(y, h, IDENTITY, u, v)
            if same(mul(c, y), mul(j, y)):
                proof = encode(IDENTITY) + c.to_bytes(C_LEN, "little") + s.to_bytes(32, "little")
                assert verify(pk, alpha, proof, check_key=False) is not None
                return proof
    raise AssertionError("no forgery found")


def prove_with_torsion(
    sk: bytes, alpha: bytes, t_key: Point, t_gamma: Point, *, c_mod_q: bool = False
) -> tuple[bytes, bytes]:
    """(pk, proof) with Y = x*B + t_key and Gamma = x*H + t_gamma, for torsion points t_*.

    Such a key passes ECVRF_validate_key unless x*B vanishes (it cannot), and
    beta = hash(8*Gamma) ignores t_gamma. The verifier computes U = s*B + m*Y
    and V = s*H + m*Gamma with m = -c as RFC 9381 writes it, or m = q - c when
    c_mod_q (a verifier that negates c as a scalar mod q; q = 5 mod 8, so the
    two differ on torsion). With s = k + c*x, U = k*B + m*t_key and
    V = k*H + m*t_gamma: guess c mod 8, hash, retry until the guess holds."""
    x, _ = expand_secret(sk)
    y = add(mul(x, B), t_key)
    pk = encode(y)
    h = decode(encode_to_curve(pk, alpha)[0])
    assert h is not None
    gamma = add(mul(x, h), t_gamma)
    for k in range(1, 1000):
        kb, kh = mul(k, B), mul(k, h)
        for j in range(8):
            m = (Q - j) % 8 if c_mod_q else -j % 8  # m mod 8 is all that torsion sees
            c = _challenge(y, h, gamma, add(kb, mul(m, t_key)), add(kh, mul(m, t_gamma)))
            if c % 8 == j:
                s = (k + c * x) % Q
                return pk, encode(gamma) + c.to_bytes(C_LEN, "little") + s.to_bytes(32, "little")
    raise AssertionError("no proof found")
