"""C2SP signed notes, checkpoints, cosignatures and tlog-proofs: the Go known
answer, policies, tampering, hostile input, the keygen CLI, and round trips."""

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import veritree
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import raises
from veritree import cli

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "note" / "signed_note_ed25519.json").read_text())
ORIGIN = "example.com/log"
ROOT = bytes(range(32))
EM = "\u2014"


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def lines_of(note: str) -> tuple[str, list[str]]:
    text, sigs = note.rsplit("\n\n", 1)
    return text + "\n", sigs.splitlines()


def join(text: str, sig_lines: list[str]) -> str:
    return text + "\n" + "".join(line + "\n" for line in sig_lines)


def tweak_sig(line: str, at: int) -> str:
    """The signature line with one bit of byte `at` of its decoded signature flipped."""
    head, sig = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(sig))
    raw[at] ^= 1
    return f"{head} {b64(bytes(raw))}"


@pytest.fixture(scope="module")
def log_key() -> tuple[str, str]:
    return veritree.generate_note_key(ORIGIN)


@pytest.fixture(scope="module")
def witnesses() -> list[tuple[str, str]]:
    return [veritree.generate_cosigner_key(f"witness{i}.example") for i in range(3)]


@pytest.fixture(scope="module")
def checkpoint(log_key: tuple[str, str]) -> str:
    return veritree.sign_checkpoint(ORIGIN, 42, ROOT, log_key[0])


# --- signed notes ---------------------------------------------------------------


def test_known_answer_byte_for_byte() -> None:
    assert veritree.sign_note(VECTOR["text"], [VECTOR["signer_key"]]) == VECTOR["signed_note"]
    assert veritree.open_note(VECTOR["signed_note"], [VECTOR["verifier_key"]]) == (VECTOR["text"], ["PeterNeumann"])
    assert veritree.open_note(VECTOR["signed_note"].encode(), [VECTOR["verifier_key"]])[0] == VECTOR["text"]


@pytest.mark.parametrize("bad", VECTOR["bad_verifier_keys"])
def test_known_bad_verifier_keys_are_refused(bad: str) -> None:
    with raises(ValueError, "verifier_keys[0]"):
        veritree.open_note(VECTOR["signed_note"], [bad])


def test_spec_example() -> None:
    vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
    note = (
        "This is an example message.\n\n"
        f"{EM} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert veritree.open_note(note, [vkey]) == ("This is an example message.\n", ["example.com/foo"])


def test_generated_keys_have_the_go_text_form() -> None:
    for gen, alg in [(veritree.generate_note_key, 1), (veritree.generate_cosigner_key, 4)]:
        skey, vkey = gen("example.com/k")
        _, _, name, kid, seed = skey.split("+", 4)
        vname, vkid, pub = vkey.split("+", 2)
        assert (name, kid) == (vname, vkid) == ("example.com/k", vkid)
        assert len(kid) == 8 and int(kid, 16) >= 0
        assert base64.b64decode(seed)[0] == base64.b64decode(pub)[0] == alg
        assert len(base64.b64decode(seed)) == len(base64.b64decode(pub)) == 33
    assert veritree.generate_note_key("a")[0] != veritree.generate_note_key("a")[0]


def test_a_signer_keys_verifier_key_is_the_one_generated_with_it() -> None:
    for gen in (veritree.generate_note_key, veritree.generate_cosigner_key):
        skey, vkey = gen("example.com/k")
        assert veritree.note_verifier_key(skey) == vkey
    for bad in ("", "PRIVATE+KEY+example.com/k", veritree.generate_note_key("x")[1], "PRIVATE+KEY+a+00000000+AAAA"):
        with pytest.raises(ValueError):
            veritree.note_verifier_key(bad)


def test_multiple_signatures_and_unknown_signers() -> None:
    a, b, c = (veritree.generate_note_key(n) for n in ("a.example", "b.example", "c.example"))
    text = "line one\n\nline three after a blank line\n"
    note = veritree.sign_note(text, [a[0], b[0]])
    assert len(lines_of(note)[1]) == 2
    assert veritree.open_note(note, [a[1], b[1]]) == (text, ["a.example", "b.example"])
    assert veritree.open_note(note, [b[1], c[1]]) == (text, ["b.example"])
    # Same name, other key (so another key ID): unknown, ignored.
    a2 = veritree.generate_note_key("a.example")
    assert veritree.open_note(note, [a2[1], b[1]]) == (text, ["b.example"])
    with raises(veritree.VerificationError, "no signature by any of the 2 given keys", "a.example"):
        veritree.open_note(note, [a2[1], c[1]])
    # A signature line from a stranger added to the note changes nothing.
    stranger = lines_of(veritree.sign_note(text, [c[0]]))[1]
    assert veritree.open_note(join(text, lines_of(note)[1] + stranger), [a[1]]) == (text, ["a.example"])


def test_a_failing_known_signature_rejects_the_whole_note() -> None:
    a, b = veritree.generate_note_key("a.example"), veritree.generate_note_key("b.example")
    text, sigs = lines_of(veritree.sign_note("hello\n", [a[0], b[0]]))
    bad = join(text, [sigs[0], tweak_sig(sigs[1], 10)])
    with raises(veritree.VerificationError, "signature line 2", "b.example", "does not verify"):
        veritree.open_note(bad, [a[1], b[1]])
    # Without b's key the bad line is just unknown.
    assert veritree.open_note(bad, [a[1]]) == (text, ["a.example"])
    with raises(veritree.VerificationError, "does not verify"):
        veritree.open_note(join("hellO\n", sigs), [a[1]])
    # A duplicated line verifies and the key is named once.
    assert veritree.open_note(join(text, [sigs[0], sigs[0]]), [a[1]]) == (text, ["a.example"])


def test_sign_note_refuses_bad_input() -> None:
    a = veritree.generate_note_key("a.example")
    w = veritree.generate_cosigner_key("w.example")
    for text, words in [
        ("no final newline", ["newline"]),
        ("", ["newline"]),
        ("tab\there\n", ["0x09"]),
        ("nul\0\n", ["0x00"]),
        ("x" * (1 << 20) + "\n", ["bytes"]),
    ]:
        with raises(ValueError, *words):
            veritree.sign_note(text, [a[0]])
    with raises(ValueError, "no signer keys"):
        veritree.sign_note("x\n", [])
    with raises(ValueError, "twice"):
        veritree.sign_note("x\n", [a[0], a[0]])
    with raises(ValueError, "0x04"):
        veritree.sign_note("x\n", [w[0]])
    with raises(TypeError, "not a single str"):
        veritree.sign_note("x\n", a[0])
    with raises(TypeError, "signer_keys[0] must be a str"):
        veritree.sign_note("x\n", [b"bytes"])


def _good_note() -> tuple[str, str, str]:
    skey, vkey = veritree.generate_note_key("a.example")
    note = veritree.sign_note("text\n", [skey])
    return note, vkey, lines_of(note)[1][0]


_NOTE, _VKEY, _LINE = _good_note()
_SIG = _LINE.rsplit(" ", 1)[1]

HOSTILE_NOTES = {
    "empty": ("", "no blank line"),
    "text only": ("text\n", "no blank line"),
    "truncated after blank line": ("text\n\n", "no signature lines"),
    "truncated mid line": (_NOTE[:-10], "end with a newline"),
    "no final newline": (_NOTE[:-1], "end with a newline"),
    "trailing blank line": (_NOTE + "\n", "no signature lines"),
    "missing blank line": (_NOTE.replace("\n\n", "\n"), "no blank line"),
    "hyphen not em dash": (_NOTE.replace(EM, "-"), "em dash"),
    "no space after dash": (_NOTE.replace(EM + " ", EM), "em dash"),
    "no signature": (f"text\n\n{EM} a.example\n", "no space"),
    "empty name": (f"text\n\n{EM}  {_SIG}\n", "key name is empty"),
    "plus in name": (_NOTE.replace(" a.example ", " a+example "), "'+'"),
    "no-break space in name": (_NOTE.replace(" a.example ", " a\u00a0example "), "U+00A0"),
    "bad base64": (_NOTE.replace(_SIG, "!" + _SIG[1:]), "base64"),
    "base64 without padding": (_NOTE.replace(_SIG, _SIG.rstrip("=")), "base64"),
    "signature too short": (f"text\n\n{EM} a.example AAAAAA==\n", "4 bytes"),
    "carriage return": (_NOTE.replace("\n", "\r\n"), "0x0d"),
    "nul in text": ("te\0xt" + _NOTE[4:], "0x00"),
    "escape in signature line": (_NOTE.replace("a.example", "a.\x1bexample"), "0x1b"),
    "101 signatures": ("text\n\n" + (_LINE + "\n") * 101, "101 signature lines"),
    "huge": ("x" * (1 << 20) + _NOTE, "bytes; at most"),
}


@pytest.mark.parametrize("note, word", HOSTILE_NOTES.values(), ids=HOSTILE_NOTES.keys())
def test_hostile_notes(note: str, word: str) -> None:
    with raises(ValueError, word):
        veritree.open_note(note, [_VKEY])


@pytest.mark.parametrize("blob", [b"te\xffxt\n\n", b"\xe2\x80", b"\xed\xa0\x80\n\n"])
def test_hostile_note_bytes(blob: bytes) -> None:
    with raises(ValueError, "UTF-8"):
        veritree.open_note(blob, [_VKEY])


def test_lone_surrogates_are_refused() -> None:
    with raises(ValueError, "surrogate"):
        veritree.open_note("text\ud800\n\n" + _LINE + "\n", [_VKEY])


def test_note_signature_limits() -> None:
    sixteen = "text\n\n" + (_LINE + "\n") * 16
    assert veritree.open_note(sixteen, [_VKEY]) == ("text\n", ["a.example"])
    hundred = "text\n\n" + (_LINE + "\n") * 100
    assert veritree.open_note(hundred, [_VKEY])[0] == "text\n"


_NAME, _KID, _PUB = _VKEY.split("+", 2)
_RAW = base64.b64decode(_PUB)

HOSTILE_VKEYS = {
    "empty": ("", "must be <name>"),
    "name only": (_NAME, "must be <name>"),
    "no key": (f"{_NAME}+{_KID}", "must be <name>"),
    "empty name": (f"+{_KID}+{_PUB}", "empty"),
    "space in name": (f"a b+{_KID}+{_PUB}", "U+0020"),
    "short id": (f"{_NAME}+{_KID[:7]}+{_PUB}", "8 lowercase hex"),
    "non-hex id": (f"{_NAME}+zzzzzzzz+{_PUB}", "8 lowercase hex"),
    "wrong id": (f"{_NAME}+{int(_KID, 16) ^ 1:08x}+{_PUB}", "does not match"),
    "bad base64": (f"{_NAME}+{_KID}+{_PUB[1:]}", "base64"),
    "empty key": (f"{_NAME}+{_KID}+", "empty"),
    "short key": (f"{_NAME}+{_KID}+{b64(_RAW[:-1])}", "31 bytes"),
    "long key": (f"{_NAME}+{_KID}+{b64(_RAW + b'x')}", "33 bytes"),
    "unknown type": (f"{_NAME}+{_KID}+{b64(bytes([2]) + _RAW[1:])}", "0x02"),
    "signer key": (veritree.generate_note_key("x")[0], "signer (private) key"),
}


@pytest.mark.parametrize("vkey, word", HOSTILE_VKEYS.values(), ids=HOSTILE_VKEYS.keys())
def test_hostile_verifier_keys(vkey: str, word: str) -> None:
    with raises(ValueError, "verifier_keys[1]", word):
        veritree.open_note(_NOTE, [_VKEY, vkey])


def test_hostile_signer_keys_never_echo_the_secret() -> None:
    skey, _ = veritree.generate_note_key("example.com/k")
    _, _, name, kid, seed = skey.split("+", 4)
    raw = base64.b64decode(seed)
    cases = {
        "no prefix": (skey[len("PRIVATE+KEY+") :], "PRIVATE+KEY+"),
        "lowercase prefix": ("private+key+" + skey[12:], "PRIVATE+KEY+"),
        "truncated": (f"PRIVATE+KEY+{name}", "must be PRIVATE"),
        "other name": (f"PRIVATE+KEY+other+{kid}+{seed}", "does not match"),
        "bad base64": (f"PRIVATE+KEY+{name}+{kid}+{seed[1:]}", "base64"),
        "short seed": (f"PRIVATE+KEY+{name}+{kid}+{b64(raw[:-1])}", "31 bytes"),
        "unknown type": (f"PRIVATE+KEY+{name}+{kid}+{b64(bytes([9]) + raw[1:])}", "0x09"),
        "verifier key": (veritree.generate_note_key("x")[1], "PRIVATE+KEY+"),
    }
    for bad, word in cases.values():
        with raises(ValueError, "signer_keys[0]", word) as info:
            veritree.sign_note("x\n", [bad])
        assert seed not in str(info.value) and seed[1:] not in str(info.value)
        with raises(ValueError, "signer_key", word) as info:
            veritree.sign_checkpoint(ORIGIN, 1, ROOT, bad)
        assert seed[1:] not in str(info.value)
    # A signer key where a verifier key belongs is refused without quoting it.
    with raises(ValueError, "signer (private) key") as info:
        veritree.open_note(_NOTE, [skey])
    assert seed not in str(info.value)


# --- checkpoints ----------------------------------------------------------------


def test_checkpoint_round_trip(log_key: tuple[str, str], checkpoint: str) -> None:
    text = veritree.format_checkpoint(ORIGIN, 42, ROOT)
    assert text == f"{ORIGIN}\n42\n{b64(ROOT)}\n"
    assert checkpoint.startswith(text + "\n" + EM + " " + ORIGIN + " ")
    assert veritree.verify_checkpoint(checkpoint, [log_key[1]]) == (ORIGIN, 42, ROOT)
    ext = veritree.sign_checkpoint(ORIGIN, 0, ROOT, log_key[0], extensions=["ext line"])
    assert lines_of(ext)[0] == f"{ORIGIN}\n0\n{b64(ROOT)}\next line\n"
    assert veritree.verify_checkpoint(ext, [log_key[1]]) == (ORIGIN, 0, ROOT)
    assert veritree.open_note(checkpoint, [log_key[1]]) == (text, [ORIGIN])


def test_checkpoint_needs_the_origin_key(log_key: tuple[str, str], checkpoint: str) -> None:
    other = veritree.generate_note_key("example.com/other")
    with raises(ValueError, "must be the same"):
        veritree.sign_checkpoint(ORIGIN, 1, ROOT, other[0])
    text = veritree.format_checkpoint(ORIGIN, 1, ROOT)
    by_other = veritree.sign_note(text, [other[0]])
    with raises(veritree.VerificationError, "no log key has that name"):
        veritree.verify_checkpoint(by_other, [other[1]])
    with raises(veritree.VerificationError, "no signature"):
        veritree.verify_checkpoint(checkpoint, [veritree.generate_note_key(ORIGIN)[1]])
    body, sigs = lines_of(checkpoint)
    with raises(veritree.VerificationError, "does not verify"):
        veritree.verify_checkpoint(join(body.replace("\n42\n", "\n43\n"), sigs), [log_key[1]])


HOSTILE_CHECKPOINTS = {
    "two lines": ("o\n1\n", "three lines"),
    "empty origin": (f"\n1\n{b64(ROOT)}\n", "origin"),
    "leading zero": (f"o\n042\n{b64(ROOT)}\n", "leading zeros"),
    "double zero": (f"o\n00\n{b64(ROOT)}\n", "leading zeros"),
    "plus sign": (f"o\n+1\n{b64(ROOT)}\n", "decimal"),
    "negative": (f"o\n-1\n{b64(ROOT)}\n", "decimal"),
    "hex size": (f"o\n0x10\n{b64(ROOT)}\n", "decimal"),
    "2^64": (f"o\n{2**64}\n{b64(ROOT)}\n", "64 bits"),
    "short root": (f"o\n1\n{b64(ROOT[:31])}\n", "31 bytes"),
    "long root": (f"o\n1\n{b64(ROOT + b'x')}\n", "33 bytes"),
    "hex root": (f"o\n1\n{ROOT.hex()}\n", "48 bytes"),
    "bad base64 root": (f"o\n1\n*{b64(ROOT)[1:]}\n", "base64"),
    "unpadded root": (f"o\n1\n{b64(ROOT).rstrip('=')}\n", "base64"),
    "empty extension": (f"o\n1\n{b64(ROOT)}\next\n\n", "extension line 5 is empty"),
}


@pytest.mark.parametrize("text, word", HOSTILE_CHECKPOINTS.values(), ids=HOSTILE_CHECKPOINTS.keys())
def test_hostile_checkpoints(text: str, word: str) -> None:
    skey, vkey = veritree.generate_note_key("o")
    note = veritree.sign_note(text, [skey])
    assert veritree.open_note(note, [vkey])[0] == text, "a well-formed note..."
    with raises(ValueError, word):
        veritree.verify_checkpoint(note, [vkey])  # ...that is not a checkpoint
    with raises(ValueError, word):
        veritree.cosign_checkpoint(note, veritree.generate_cosigner_key("w")[0], 1)


def test_format_checkpoint_refuses_bad_fields() -> None:
    for args, kwargs, exc, word in [
        (("", 1, ROOT), {}, ValueError, "origin is empty"),
        (("a\nb", 1, ROOT), {}, ValueError, "newline"),
        (("a\tb", 1, ROOT), {}, ValueError, "0x09"),
        (("o", 1, ROOT[:31]), {}, ValueError, "root must be 32 bytes"),
        (("o", 1, ROOT), {"extensions": [""]}, ValueError, "extension line 1 is empty"),
        (("o", 1, ROOT), {"extensions": ["a\nb"]}, ValueError, "newline"),
        (("o", -1, ROOT), {}, OverflowError, ""),
        (("o", 2**64, ROOT), {}, OverflowError, ""),
    ]:
        with raises(exc, word):
            veritree.format_checkpoint(*args, **kwargs)


# --- cosignatures ---------------------------------------------------------------


def cosigned(note: str, witnesses: list[tuple[str, str]], which: list[int]) -> str:
    for t, i in enumerate(which):
        note = veritree.cosign_checkpoint(note, witnesses[i][0], 1_700_000_000 + t)
    return note


def test_cosignature_line_format(checkpoint: str, witnesses: list[tuple[str, str]]) -> None:
    note = veritree.cosign_checkpoint(checkpoint, witnesses[0][0], 1_679_315_147)
    body, sigs = lines_of(note)
    assert lines_of(checkpoint) == (body, sigs[:1])
    name, sig = sigs[1].removeprefix(EM + " ").split(" ")
    raw = base64.b64decode(sig)
    assert name == "witness0.example"
    assert raw[:4].hex() == witnesses[0][1].split("+")[1]
    assert int.from_bytes(raw[4:12], "big") == 1_679_315_147 and len(raw) == 4 + 8 + 64
    # A default timestamp is now; cosigning again replaces the witness's line.
    again = veritree.cosign_checkpoint(note, witnesses[0][0])
    assert len(lines_of(again)[1]) == 2 and again != note


def test_k_of_n_policy(log_key: tuple[str, str], checkpoint: str, witnesses: list[tuple[str, str]]) -> None:
    wkeys = [w[1] for w in witnesses]
    note = cosigned(checkpoint, witnesses, [2, 0])
    for k in (0, 1, 2):
        assert veritree.verify_checkpoint_policy(note, [log_key[1]], wkeys, k) == (ORIGIN, 42, ROOT)
    with raises(veritree.VerificationError, "has 2 valid cosignatures", "needs 3"):
        veritree.verify_checkpoint_policy(note, [log_key[1]], wkeys, 3)
    with raises(ValueError, "asks for 4", "only 3 witness keys"):
        veritree.verify_checkpoint_policy(note, [log_key[1]], wkeys, 4)
    with raises(ValueError, "k must be non-negative"):
        veritree.verify_checkpoint_policy(note, [log_key[1]], wkeys, -1)
    # Witness signatures do not stand in for the log's.
    with raises(veritree.VerificationError, "no valid signature by that log's key"):
        veritree.verify_checkpoint_policy(note, [veritree.generate_note_key(ORIGIN)[1]], wkeys, 2)
    with raises(ValueError, "no log keys"):
        veritree.verify_checkpoint_policy(note, [], wkeys, 1)
    # The log alone, k = 0.
    assert veritree.verify_checkpoint_policy(checkpoint, [log_key[1]], [], 0) == (ORIGIN, 42, ROOT)


def test_duplicate_witness_signatures_count_once(
    log_key: tuple[str, str], checkpoint: str, witnesses: list[tuple[str, str]]
) -> None:
    wkeys = [w[1] for w in witnesses]
    note = cosigned(checkpoint, witnesses, [1])
    body, sigs = lines_of(note)
    doubled = join(body, sigs + [sigs[1]])
    assert veritree.verify_checkpoint_policy(doubled, [log_key[1]], wkeys, 1) == (ORIGIN, 42, ROOT)
    with raises(veritree.VerificationError, "has 1 valid cosignatures"):
        veritree.verify_checkpoint_policy(doubled, [log_key[1]], wkeys, 2)
    # Two lines by the same witness at different times still count once.
    later = lines_of(veritree.cosign_checkpoint(checkpoint, witnesses[1][0], 1_800_000_000))[1][1]
    with raises(veritree.VerificationError, "has 1 valid cosignatures"):
        veritree.verify_checkpoint_policy(join(body, sigs + [later]), [log_key[1]], wkeys, 2)
    # The same key listed twice cannot make n or k bigger.
    with raises(ValueError, "given twice"):
        veritree.verify_checkpoint_policy(note, [log_key[1]], [wkeys[1], wkeys[1]], 2)
    with raises(ValueError, "given twice"):
        veritree.verify_checkpoint_policy(note, [log_key[1]], [log_key[1]], 1)


def test_tampered_cosignatures(log_key: tuple[str, str], checkpoint: str, witnesses: list[tuple[str, str]]) -> None:
    wkeys = [w[1] for w in witnesses]
    body, sigs = lines_of(cosigned(checkpoint, witnesses, [0, 1]))
    for at, word in [(4 + 7, "does not verify"), (4 + 30, "does not verify")]:  # timestamp, signature
        bad = join(body, [sigs[0], tweak_sig(sigs[1], at), sigs[2]])
        with raises(veritree.VerificationError, "signature line 2", "witness0.example", word):
            veritree.verify_checkpoint_policy(bad, [log_key[1]], wkeys, 1)
        # Ignored when that witness is not in the policy.
        assert veritree.verify_checkpoint_policy(bad, [log_key[1]], wkeys[1:], 1) == (ORIGIN, 42, ROOT)
    # A timestamp of 2^63 (sign bit set) is refused even before the signature is checked.
    name, sig = sigs[1].removeprefix(EM + " ").split(" ")
    raw = bytearray(base64.b64decode(sig))
    raw[4] |= 0x80
    with raises(veritree.VerificationError, "exceeds 2^63 - 1"):
        veritree.verify_checkpoint_policy(join(body, [sigs[0], f"{EM} {name} {b64(bytes(raw))}"]), [log_key[1]], wkeys, 1)
    # Wrong length.
    with raises(veritree.VerificationError, "72 bytes"):
        veritree.verify_checkpoint_policy(join(body, [sigs[0], f"{EM} {name} {b64(bytes(raw[:-1]))}"]), [log_key[1]], wkeys, 1)
    # A cosignature of another checkpoint moved over.
    other = veritree.sign_checkpoint(ORIGIN, 43, ROOT, log_key[0])
    moved = lines_of(veritree.cosign_checkpoint(other, witnesses[0][0], 5))[1][1]
    with raises(veritree.VerificationError, "does not verify"):
        veritree.verify_checkpoint_policy(join(body, [sigs[0], moved]), [log_key[1]], wkeys, 1)


def test_cosign_refuses_bad_input(log_key: tuple[str, str], checkpoint: str, witnesses: list[tuple[str, str]]) -> None:
    w = witnesses[0][0]
    assert veritree.cosign_checkpoint(checkpoint, w, 2**63 - 1)
    assert veritree.cosign_checkpoint(checkpoint, w, 0)
    for ts in (-1, 2**63, 2**64):
        with raises(ValueError, "timestamp must be in [0, 2**63)"):
            veritree.cosign_checkpoint(checkpoint, w, ts)
    with raises(ValueError, "type 0x04"):
        veritree.cosign_checkpoint(checkpoint, log_key[0], 1)
    with raises(ValueError, "no blank line"):
        veritree.cosign_checkpoint("not a note", w, 1)


def test_witness_limit_of_signatures(log_key: tuple[str, str], checkpoint: str) -> None:
    many = [veritree.generate_cosigner_key(f"w{i}") for i in range(99)]
    note = cosigned(checkpoint, many, list(range(99)))
    assert len(lines_of(note)[1]) == 100
    assert veritree.verify_checkpoint_policy(note, [log_key[1]], [w[1] for w in many], 99) == (ORIGIN, 42, ROOT)
    with raises(ValueError, "at most 100 signatures"):
        veritree.cosign_checkpoint(note, veritree.generate_cosigner_key("w100")[0], 1)


# --- tlog-proofs ----------------------------------------------------------------


@pytest.fixture(scope="module")
def logged(log_key: tuple[str, str], witnesses: list[tuple[str, str]]) -> tuple[veritree.Log, str]:
    log = veritree.Log()
    log.extend([b"entry %d" % i for i in range(13)])
    cp = veritree.sign_checkpoint(ORIGIN, len(log), log.root(), log_key[0])
    return log, cosigned(cp, witnesses, [0, 1])


def test_tlog_proof_round_trip(
    log_key: tuple[str, str], witnesses: list[tuple[str, str]], logged: tuple[veritree.Log, str]
) -> None:
    log, cp = logged
    wkeys = [w[1] for w in witnesses]
    for i in range(len(log)):
        extra = b"extra %d" % i if i % 2 else None
        text = veritree.format_tlog_proof(i, log.inclusion_proof(i), cp, extra=extra)
        head = "c2sp.org/tlog-proof@v1\n" + (f"extra {b64(extra)}\n" if extra else "") + f"index {i}\n"
        assert text == head + "".join(b64(h) + "\n" for h in log.inclusion_proof(i)) + "\n" + cp
        want = (ORIGIN, 13, log.root(), i)
        assert veritree.verify_tlog_proof(text, log.leaf_hash(i), [log_key[1]], wkeys, 2) == want
        assert veritree.verify_tlog_proof(text.encode(), log.leaf_hash(i), [log_key[1]]) == want
    one = veritree.Log()
    one.append(b"only")
    cp1 = veritree.sign_checkpoint(ORIGIN, 1, one.root(), log_key[0])
    text = veritree.format_tlog_proof(0, [], cp1)
    assert text == f"c2sp.org/tlog-proof@v1\nindex 0\n\n{cp1}"
    assert veritree.verify_tlog_proof(text, one.leaf_hash(0), [log_key[1]]) == (ORIGIN, 1, one.root(), 0)


def test_tlog_proof_tampering(
    log_key: tuple[str, str], witnesses: list[tuple[str, str]], logged: tuple[veritree.Log, str]
) -> None:
    log, cp = logged
    wkeys = [w[1] for w in witnesses]
    proof, leaf = log.inclusion_proof(5), log.leaf_hash(5)

    def check(index: int = 5, proof: list[bytes] = proof, cp: str = cp, leaf: bytes = leaf, k: int = 2) -> object:
        return veritree.verify_tlog_proof(veritree.format_tlog_proof(index, proof, cp), leaf, [log_key[1]], wkeys, k)

    assert check() == (ORIGIN, 13, log.root(), 5)
    VE = veritree.VerificationError
    with raises(VE, "does not lead to the root"):
        check(leaf=log.leaf_hash(6))
    with raises(VE, "does not lead to the root"):
        check(proof=[proof[0], bytes(32)] + proof[2:])
    with raises(VE, "root"):
        check(index=4)
    with raises(VE, "not below the tree size 13"):
        check(index=13)
    with raises(VE, "shorter"):
        check(proof=proof[:-1])
    with raises(VE, "longer"):
        check(proof=proof + [bytes(32)])
    with raises(VE, "needs 3"):
        check(k=3)
    body, sigs = lines_of(cp)
    with raises(VE, "does not verify"):
        check(cp=join(body.replace("\n13\n", "\n14\n"), sigs))
    with raises(VE, "does not verify"):
        check(cp=join(body, [sigs[0], tweak_sig(sigs[1], 8), sigs[2]]))
    with raises(VE, "has 1 valid"):
        check(cp=join(body, sigs[:2]))
    # A proof against another log's checkpoint.
    other = veritree.generate_note_key("example.com/other")
    with raises(VE, "no log key has that name"):
        veritree.verify_tlog_proof(
            veritree.format_tlog_proof(5, proof, veritree.sign_checkpoint("example.com/other", 13, log.root(), other[0])),
            leaf,
            [log_key[1]],
        )
    with raises(ValueError, "leaf_hash must be 32 bytes"):
        check(leaf=leaf[:31])
    with raises(ValueError, "k must be non-negative"):
        check(k=-1)


def _hostile_proofs() -> tuple[dict[str, tuple[str, str]], str, bytes]:
    skey, vkey = veritree.generate_note_key(ORIGIN)
    log = veritree.Log()
    log.extend([b"a", b"b", b"c", b"d", b"e"])
    cp = veritree.sign_checkpoint(ORIGIN, 5, log.root(), skey)
    hs = "".join(b64(h) + "\n" for h in log.inclusion_proof(2))
    head = "c2sp.org/tlog-proof@v1\n"
    cases = {
        "empty": ("", "ends before its header"),
        "wrong header": (f"c2sp.org/tlog-proof@v2\nindex 2\n{hs}\n{cp}", "must start with"),
        "header with CR": (f"c2sp.org/tlog-proof@v1\r\nindex 2\n{hs}\n{cp}", "must start with"),
        "no index": (f"{head}{hs}\n{cp}", "index <N>"),
        "index leading zero": (f"{head}index 02\n{hs}\n{cp}", "leading zeros"),
        "index negative": (f"{head}index -2\n{hs}\n{cp}", "decimal"),
        "index two spaces": (f"{head}index  2\n{hs}\n{cp}", "decimal"),
        "index 2^64": (f"{head}index {2**64}\n{hs}\n{cp}", "64 bits"),
        "extra bad base64": (f"{head}extra ***\nindex 2\n{hs}\n{cp}", "extra"),
        "extra after index": (f"{head}index 2\nextra AA==\n{hs}\n{cp}", "line 3"),
        "short hash": (f"{head}index 2\n{b64(bytes(31))}\n\n{cp}", "31 bytes"),
        "long hash": (f"{head}index 2\n{b64(bytes(33))}\n\n{cp}", "33 bytes"),
        "hex hash": (f"{head}index 2\n{bytes(32).hex()}\n\n{cp}", "48 bytes"),
        "bad base64 hash": (f"{head}index 2\n*{b64(bytes(32))[1:]}\n\n{cp}", "base64"),
        "65 hashes": (f"{head}index 2\n" + (b64(bytes(32)) + "\n") * 65 + f"\n{cp}", "more than 64"),
        "truncated before blank": (f"{head}index 2\n{hs}", "ends before the blank line"),
        "truncated checkpoint": (f"{head}index 2\n{hs}\n{cp[:-5]}", "end with a newline"),
        "no checkpoint": (f"{head}index 2\n{hs}\n", "checkpoint"),
        "unsigned checkpoint": (f"{head}index 2\n{hs}\n{lines_of(cp)[0]}", "checkpoint"),
        "checkpoint leading zero": (f"{head}index 2\n{hs}\n{cp.replace(chr(10) + '5' + chr(10), chr(10) + '05' + chr(10), 1)}", "leading zeros"),
        "control character": (f"{head}index 2\n{hs}\n{cp.replace(ORIGIN, ORIGIN + chr(7), 1)}", "0x07"),
        "huge": (f"{head}index 2\n{hs}\n" + "x" * (2 << 20) + cp, "bytes; at most"),
    }
    return cases, vkey, log.leaf_hash(2)


HOSTILE_PROOFS, _PROOF_VKEY, _PROOF_LEAF = _hostile_proofs()


@pytest.mark.parametrize("text, word", HOSTILE_PROOFS.values(), ids=HOSTILE_PROOFS.keys())
def test_hostile_tlog_proofs(text: str, word: str) -> None:
    with raises(ValueError, word):
        veritree.verify_tlog_proof(text, _PROOF_LEAF, [_PROOF_VKEY])


def test_format_tlog_proof_refuses_bad_input(logged: tuple[veritree.Log, str]) -> None:
    log, cp = logged
    proof = log.inclusion_proof(3)
    with raises(ValueError, "proof[1] must be 32 bytes"):
        veritree.format_tlog_proof(3, [proof[0], proof[1][:31]], cp)
    with raises(TypeError, "not a single bytes"):
        veritree.format_tlog_proof(3, b"".join(proof), cp)
    with raises(ValueError, "at most 64"):
        veritree.format_tlog_proof(3, [bytes(32)] * 65, cp)
    with raises(ValueError, "checkpoint"):
        veritree.format_tlog_proof(3, proof, lines_of(cp)[0])
    with raises(TypeError, "extra must be bytes-like"):
        veritree.format_tlog_proof(3, proof, cp, extra="text")
    # Empty extra data is kept as an empty extra line.
    assert "\nextra \nindex 3\n" in veritree.format_tlog_proof(3, proof, cp, extra=b"")


# --- keygen CLI -----------------------------------------------------------------


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_keygen_writes_0600_key_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0)  # even with a permissive umask the key file is 0600
    try:
        assert cli.main(["keygen", "example.com/log"]) == 0
    finally:
        os.umask(old)
    key, pub = tmp_path / "example.com_log.key", tmp_path / "example.com_log.pub"
    assert _mode(key) == 0o600
    vkey = capsys.readouterr().out.strip()
    skey = key.read_text()
    assert pub.read_text() == vkey and "PRIVATE" not in vkey and skey.startswith("PRIVATE+KEY+example.com/log+")
    note = veritree.sign_checkpoint("example.com/log", 1, ROOT, skey)
    assert veritree.verify_checkpoint(note, [pub.read_text()]) == ("example.com/log", 1, ROOT)

    # Refuses to overwrite, and leaves both files as they were.
    assert cli.main(["keygen", "example.com/log"]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and skey not in err
    assert key.read_text() == skey and pub.read_text() == vkey
    pub.unlink()
    assert cli.main(["keygen", "example.com/log"]) == 1
    assert key.read_text() == skey and not pub.exists()

    # --out and --cosigner.
    assert cli.main(["keygen", "witness.example", "--out", str(tmp_path / "w"), "--cosigner"]) == 0
    wv = capsys.readouterr().out.strip()
    assert (tmp_path / "w.pub").read_text() == wv and _mode(tmp_path / "w.key") == 0o600
    assert base64.b64decode(wv.split("+", 2)[2])[0] == 4
    assert veritree.cosign_checkpoint(note, (tmp_path / "w.key").read_text(), 1)

    # A bad name is refused before any file is made.
    assert cli.main(["keygen", "bad name", "--out", str(tmp_path / "bad")]) == 2
    assert "U+0020" in capsys.readouterr().err and not list(tmp_path.glob("bad*"))


def test_keygen_refuses_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "k.key").symlink_to(tmp_path / "elsewhere")
    assert cli.main(["keygen", "k", "--out", str(tmp_path / "k")]) == 1
    assert not (tmp_path / "elsewhere").exists() and not (tmp_path / "k.pub").exists()


# --- properties -----------------------------------------------------------------

# Key names: no Unicode spaces (Zs, Zl, Zp and the Cc ones), no control characters, no '+'.
_NAME_CHARS = st.characters(exclude_categories=("Zs", "Zl", "Zp", "Cc", "Cs"), exclude_characters="+")


@settings(max_examples=60)
@given(
    origin=st.text(_NAME_CHARS, min_size=1, max_size=40),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    ts=st.integers(0, 2**63 - 1),
)
def test_checkpoint_round_trips(origin: str, size: int, root: bytes, ts: int) -> None:
    skey, vkey = veritree.generate_note_key(origin)
    wkey, wvkey = veritree.generate_cosigner_key(origin + ".witness")
    note = veritree.sign_checkpoint(origin, size, root, skey)
    assert veritree.verify_checkpoint(note, [vkey]) == (origin, size, root)
    note = veritree.cosign_checkpoint(note, wkey, ts)
    assert veritree.verify_checkpoint_policy(note, [vkey], [wvkey], 1) == (origin, size, root)
    assert veritree.open_note(note, [wvkey]) == (veritree.format_checkpoint(origin, size, root), [origin + ".witness"])


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(s: str) -> None:
    for call in (
        lambda: veritree.open_note(s + "\n\n" + _LINE + "\n", [_VKEY]),
        lambda: veritree.open_note(s, [_VKEY]),
        lambda: veritree.verify_tlog_proof(s, _PROOF_LEAF, [_PROOF_VKEY]),
        lambda: veritree.verify_checkpoint(s, [_PROOF_VKEY]),
    ):
        try:
            call()
        except (ValueError, veritree.VerificationError):
            pass


NOTES_FUZZ = """
import random, veritree as v
rng = random.Random(99)
sk, vk = v.generate_note_key("example.com/log")
wk, wvk = v.generate_cosigner_key("w.example")
cp = v.cosign_checkpoint(v.sign_checkpoint("example.com/log", 3, bytes(32), sk), wk, 5)
proof = v.format_tlog_proof(1, [bytes(32)] * 2, cp)
pool = [0, 1, 3, -1, 2**63, 2**64, None, "", "x\\n", "a b", sk, vk, wk, wvk, cp, proof, cp[:-3], proof[::2],
        b"", bytes(32), b"x" * 31, [], [sk], [vk], [wvk], [vk, wvk], [sk, sk], [b"x"], ["\\u2014"], [0],
        "\\ud800", object(), ("a",), "PRIVATE+KEY+a+00000000+", "a+00000000+BAAAAA=="]
names = ["generate_note_key", "generate_cosigner_key", "sign_note", "open_note", "format_checkpoint",
         "sign_checkpoint", "verify_checkpoint", "cosign_checkpoint", "verify_checkpoint_policy",
         "format_tlog_proof", "verify_tlog_proof"]
calls = 0
for _ in range(20000):
    f = getattr(v, rng.choice(names))
    try:
        f(*[rng.choice(pool) for _ in range(rng.randrange(6))])
    except Exception:
        pass
    calls += 1
print("survived", calls)
"""


def test_random_arguments_never_crash_the_interpreter() -> None:
    """Random arguments to every note entry point, in a child: Python exceptions only, no panic or crash."""
    done = subprocess.run([sys.executable, "-c", NOTES_FUZZ], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "survived 20000" in done.stdout
