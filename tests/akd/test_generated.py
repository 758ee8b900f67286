"""veritree.akd against proofs the real akd 0.13 crate made (tests/vectors/akd/akd-0.13.json, written by
benches/src/bin/akd_vectors.rs): every good proof verifies to akd's own result; a bit flipped anywhere is
refused or read as akd reads it; the forgeries akd 0.13 accepts are refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from veritree import VerificationError, akd

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "akd" / "akd-0.13.json").read_text())
KEY = bytes.fromhex(VECTORS["vrf_public_key"])
ROOTS = [bytes.fromhex(r) for r in VECTORS["roots"]]


def version(v: dict[str, Any]) -> akd.Version:
    return akd.Version(v["epoch"], v["version"], bytes.fromhex(v["value"]))


def check_lookup(case: dict[str, Any], proof: bytes) -> akd.Version:
    return akd.verify_lookup(KEY, bytes.fromhex(case["root"]), case["epoch"], bytes.fromhex(case["label"]), proof)


def check_history(case: dict[str, Any], proof: bytes) -> list[akd.Version]:
    root, label = bytes.fromhex(case["root"]), bytes.fromhex(case["label"])
    return akd.verify_history(KEY, root, case["epoch"], label, proof, most_recent=case["most_recent"])


def check_append_only(case: dict[str, Any], proof: bytes) -> None:
    akd.verify_append_only([bytes.fromhex(r) for r in case["roots"]], proof)


def check_blob(case: dict[str, Any], proof: bytes) -> akd.AuditStep:
    return akd.verify_audit_blob(case["name"], proof)


CHECKS: dict[str, Callable[[dict[str, Any], bytes], object]] = {
    "lookup": check_lookup,
    "history": check_history,
    "append_only": check_append_only,
    "blob": check_blob,
}
KINDS = {"lookup": "lookups", "history": "histories", "append_only": "append_only", "blob": "blobs"}


def proof_of(kind: str, case: dict[str, Any]) -> bytes:
    return bytes.fromhex(case["blob" if kind == "blob" else "proof"])


def test_the_vectors_cover_what_they_should() -> None:
    lookups, histories = VECTORS["lookups"], VECTORS["histories"]
    assert {c["expect"]["version"] for c in lookups} >= {1, 2, 3, 4}
    assert {c["most_recent"] for c in histories} >= {None, 1, 2, 3}
    assert max(len(c["expect"]) for c in histories) >= 5
    assert len(VECTORS["blobs"]) == len(ROOTS) - 1
    assert {f["kind"] for f in VECTORS["forged"]} == {"lookup", "history"}


@pytest.mark.parametrize("case", VECTORS["lookups"], ids=lambda c: f"v{c['expect']['version']}")
def test_akds_lookups_verify_to_akds_result(case: dict[str, Any]) -> None:
    assert check_lookup(case, proof_of("lookup", case)) == version(case["expect"])


@pytest.mark.parametrize("case", VECTORS["histories"], ids=lambda c: f"{len(c['expect'])}-of-{c['most_recent']}")
def test_akds_histories_verify_to_akds_result(case: dict[str, Any]) -> None:
    assert check_history(case, proof_of("history", case)) == [version(v) for v in case["expect"]]


@pytest.mark.parametrize("case", VECTORS["append_only"], ids=lambda c: f"{c['start_epoch']}-{c['end_epoch']}")
def test_akds_append_only_proofs_verify(case: dict[str, Any]) -> None:
    check_append_only(case, proof_of("append_only", case))
    roots = [bytes.fromhex(r) for r in case["roots"]]
    with pytest.raises(VerificationError):  # the same proof for a step that ends elsewhere
        akd.verify_append_only(roots[:-1] + [roots[0]], proof_of("append_only", case))


def test_the_published_chain_of_blobs_verifies_step_by_step() -> None:
    steps = [akd.verify_audit_blob(b["name"], bytes.fromhex(b["blob"])) for b in VECTORS["blobs"]]
    assert [s.epoch for s in steps] == list(range(1, len(ROOTS)))
    assert steps[0].previous_root == akd.EMPTY_ROOT == ROOTS[0]
    assert all(a.current_root == b.previous_root for a, b in zip(steps, steps[1:]))
    assert [s.current_root for s in steps] == ROOTS[1:]


@pytest.mark.parametrize("flips", VECTORS["flips"], ids=lambda f: f"{f['kind']}-{f['case']}")
def test_a_flipped_bit_is_refused_or_read_as_akd_reads_it(flips: dict[str, Any]) -> None:
    """Where akd refuses, veritree refuses; where akd accepts a flip, veritree refuses it or returns akd's
    result (it is stricter: one encoding per message)."""
    kind = flips["kind"]
    case = VECTORS[KINDS[kind]][flips["case"]]
    good = proof_of(kind, case)
    accepted = {a["bit"]: a["result"] for a in flips["accepted"]}
    for bit in range(0, 8 * len(good), flips["stride"]):
        bad = bytearray(good)
        bad[bit // 8] ^= 1 << (bit % 8)
        try:
            result = CHECKS[kind](case, bytes(bad))
        except VerificationError:
            continue
        assert bit in accepted, f"bit {bit}: veritree accepts what akd refuses"
        if kind == "lookup":
            assert result == version(accepted[bit])
        elif kind == "history":
            assert result == [version(v) for v in accepted[bit]]


@pytest.mark.parametrize("case", VECTORS["forged"], ids=lambda c: str(c["kind"]))
def test_the_forgeries_akd_accepts_are_refused(case: dict[str, Any]) -> None:
    """A directory holding the VRF key anchors a non-membership proof at the root: akd 0.13 accepts a lookup
    serving version 1 while version 2 exists, and a complete history hiding version 2."""
    assert case["akd_result"], "akd accepted the forgery when the vectors were made"
    with pytest.raises(VerificationError, match="anchored above the label's deepest node"):
        CHECKS[case["kind"]](case, proof_of(case["kind"], case))
