"""veritree: key transparency at internet scale.

Append-only Merkle logs (RFC 9162 shape) with inclusion, consistency and batch
proofs, and versioned sparse Merkle prefix trees (the IETF KEYTRANS prefix
tree) with multi-key proofs, built in a Rust core close to the speed of the
hash function. Verifying needs no log or map: only roots and proofs.

>>> import veritree
>>> log = veritree.Log(suite="rfc6962-sha256")
>>> log.extend([b"alice", b"bob"])
0
>>> proof = log.inclusion_proof(1)
>>> veritree.verify_inclusion(1, len(log), veritree.leaf_hash(b"bob"), proof, log.root())
"""

from veritree._native import (  # C2SP signed notes, checkpoints, cosignatures, tlog-proofs
    SUITES,
    ClockError,
    CompactRange,
    KtAuditor,
    KtClient,
    KtDirectory,
    KtFound,
    Log,
    LogBehindError,
    Map,
    StorageError,
    TileReader,
    VerificationError,
    VeritreeError,
    cosign_checkpoint,
    ecvrf_proof_to_hash,
    ecvrf_prove,
    ecvrf_public_key,
    ecvrf_verify,
    ed25519_public_key,
    ed25519_sign,
    ed25519_verify,
    format_checkpoint,
    format_tlog_proof,
    generate_cosigner_key,
    generate_note_key,
    hash_children,
    hash_limit,
    kt_update_request_values,
    leaf_hash,
    leaf_hashes,
    merkle_root,
    node_hash,
    open_note,
    sign_checkpoint,
    sign_note,
    verify_batch_inclusion,
    verify_checkpoint,
    verify_checkpoint_policy,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
    verify_prefix_proof,
    verify_tlog_proof,
)

__all__ = [
    "SUITES",
    "ClockError",
    "CompactRange",
    "KtAuditor",
    "KtClient",
    "KtDirectory",
    "KtFound",
    "Log",
    "LogBehindError",
    "Map",
    "StorageError",
    "TileReader",
    "VerificationError",
    "VeritreeError",
    "cosign_checkpoint",
    "ecvrf_proof_to_hash",
    "ecvrf_prove",
    "ecvrf_public_key",
    "ecvrf_verify",
    "ed25519_public_key",
    "ed25519_sign",
    "ed25519_verify",
    "format_checkpoint",
    "format_tlog_proof",
    "generate_cosigner_key",
    "generate_note_key",
    "hash_children",
    "hash_limit",
    "kt_update_request_values",
    "leaf_hash",
    "leaf_hashes",
    "merkle_root",
    "node_hash",
    "open_note",
    "sign_checkpoint",
    "sign_note",
    "verify_batch_inclusion",
    "verify_checkpoint",
    "verify_checkpoint_policy",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusions",
    "verify_prefix_proof",
    "verify_tlog_proof",
]
__version__ = "0.1.0"
