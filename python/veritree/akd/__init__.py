"""Verify facebook/akd, the key directory WhatsApp deploys (akd 0.13, ``WhatsAppV1Configuration``).

Lookup and key-history proofs, append-only proofs and WhatsApp's published audit blobs, as akd's protobuf
messages (``akd_core/src/proto/specs/types.proto``). Anything false or malformed raises
:class:`veritree.VerificationError`; :class:`ValueError` is only for arguments of the wrong type or length.

Sound where akd 0.13's own verifier is not: a non-membership proof must be anchored at the deepest node on
the label's path, so a directory holding the VRF key can neither serve an old version as current nor hide
the newest version from a "complete" history. Stricter where akd is lenient (one encoding per message, RFC
9381 VRF proofs, full 256-bit inserted leaves); every honest akd proof passes. See docs/akd.md.

>>> from veritree import akd
>>> akd.EMPTY_ROOT.hex()[:16]
'f48ded419214732a'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veritree._native import (
    akd_empty_root,
    akd_parse_blob_name,
    akd_verify_append_only,
    akd_verify_audit_blob,
    akd_verify_history,
    akd_verify_lookup,
)

BytesLike = bytes | bytearray | memoryview

__all__ = [
    "EMPTY_ROOT",
    "AuditStep",
    "Version",
    "parse_audit_blob_name",
    "verify_append_only",
    "verify_audit_blob",
    "verify_history",
    "verify_lookup",
]

EMPTY_ROOT: bytes = akd_empty_root()
"""The root hash of akd's empty tree (the directory before its first epoch)."""


@dataclass(frozen=True)
class Version:
    """One version of a label: the epoch it was published in, its number (from 1) and its value."""

    epoch: int
    version: int
    value: bytes


@dataclass(frozen=True)
class AuditStep:
    """One audited step: the epoch it publishes and the root hashes before and after it."""

    epoch: int
    previous_root: bytes
    current_root: bytes


def verify_lookup(
    vrf_public_key: BytesLike, root_hash: BytesLike, epoch: int, label: BytesLike, proof: BytesLike
) -> Version:
    """The version of `label` a ``LookupProof`` shows current at `epoch`, whose root hash is `root_hash`."""
    return Version(*akd_verify_lookup(vrf_public_key, root_hash, epoch, label, proof))


def verify_history(
    vrf_public_key: BytesLike,
    root_hash: BytesLike,
    epoch: int,
    label: BytesLike,
    proof: BytesLike,
    *,
    most_recent: int | None = None,
) -> list[Version]:
    """The versions of `label` a ``HistoryProof`` shows, newest first.

    `most_recent`: the proof was asked for at most that many versions (akd's ``HistoryParams::MostRecent``);
    None (the default) for the complete history, which must start at version 1."""
    return [Version(*v) for v in akd_verify_history(vrf_public_key, root_hash, epoch, label, proof, most_recent)]


def verify_append_only(root_hashes: Sequence[BytesLike], proof: BytesLike) -> None:
    """Checks an ``AppendOnlyProof`` over the root hashes of its start epoch and each epoch after it."""
    akd_verify_append_only(list(root_hashes), proof)


def parse_audit_blob_name(name: str) -> AuditStep:
    """The step an audit blob's name ``EPOCH/PREVIOUS_ROOT/CURRENT_ROOT`` states (nothing verified yet)."""
    return AuditStep(*akd_parse_blob_name(name))


def verify_audit_blob(name: str, blob: BytesLike) -> AuditStep:
    """Verifies a WhatsApp audit blob: `blob` is one ``SingleAppendOnlyProof`` from the previous root its
    `name` states to the current one, publishing the epoch the name states (the step's end epoch)."""
    return AuditStep(*akd_verify_audit_blob(name, blob))
