"""veritree: key transparency at internet scale.

Append-only Merkle logs (RFC 9162 shape) with inclusion, consistency and batch
proofs, built in a Rust core close to the speed of the hash function. Verifying
needs no log: only sizes, roots and proofs.

>>> import veritree
>>> log = veritree.Log(suite="rfc6962-sha256")
>>> log.extend([b"alice", b"bob"])
0
>>> proof = log.inclusion_proof(1)
>>> veritree.verify_inclusion(1, len(log), veritree.leaf_hash(b"bob"), proof, log.root())
"""

from veritree._native import (
    SUITES,
    CompactRange,
    Log,
    VerificationError,
    VeritreeError,
    hash_children,
    hash_limit,
    leaf_hash,
    leaf_hashes,
    merkle_root,
    node_hash,
    verify_batch_inclusion,
    verify_consistency,
    verify_inclusion,
    verify_inclusions,
)

__all__ = [
    "SUITES",
    "CompactRange",
    "Log",
    "VerificationError",
    "VeritreeError",
    "hash_children",
    "hash_limit",
    "leaf_hash",
    "leaf_hashes",
    "merkle_root",
    "node_hash",
    "verify_batch_inclusion",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusions",
]
__version__ = "0.1.0"
