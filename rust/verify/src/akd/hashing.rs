//! akd's `WhatsAppV1Configuration`: unkeyed BLAKE3 everywhere, lengths as
//! 8-byte big-endian prefixes, epochs and versions as 8-byte big-endian.

use super::label::NodeLabel;

pub type Digest = [u8; 32];

pub fn hash(data: &[u8]) -> Digest {
    *blake3::hash(data).as_bytes()
}

fn hash2(a: &[u8], b: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(a);
    h.update(b);
    *h.finalize().as_bytes()
}

/// A label's hash: H(its length as 4 bytes big-endian ‖ its 32 bytes).
pub fn label_hash(label: &NodeLabel) -> Digest {
    let mut bytes = [0u8; 36];
    bytes[..4].copy_from_slice(&label.len.to_be_bytes());
    bytes[4..].copy_from_slice(&label.val);
    hash(&bytes)
}

/// The value a node contributes to its parent: H(value ‖ H(label)). A
/// parent's value is H(left's ‖ right's).
pub fn child_digest(value: &Digest, label: &NodeLabel) -> Digest {
    hash2(value, &label_hash(label))
}

pub fn parent(left: &Digest, right: &Digest) -> Digest {
    hash2(left, right)
}

/// The published root hash from the root node's value.
pub fn root_hash(root_value: &Digest) -> Digest {
    hash2(root_value, &label_hash(&NodeLabel::ROOT))
}

/// The value of the root of a tree never written to: H(0x00).
pub fn empty_root_value() -> Digest {
    hash(&[0])
}

/// The root hash of the empty tree.
pub fn empty_root() -> Digest {
    root_hash(&empty_root_value())
}

/// What a missing child contributes: the empty node's value,
/// H(H(0x00) ‖ H(empty label)), under the empty label.
pub fn empty_child_digest() -> Digest {
    let empty_value = hash2(&hash(&[0]), &label_hash(&NodeLabel::EMPTY));
    child_digest(&empty_value, &NodeLabel::EMPTY)
}

/// A leaf's value: its commitment hashed with the epoch it was written in.
pub fn leaf_value(commitment: &Digest, epoch: u64) -> Digest {
    hash2(commitment, &epoch.to_be_bytes())
}

/// The commitment to a value under its opening (nonce): H(len ‖ value ‖ len ‖ nonce).
pub fn commitment(value: &[u8], nonce: &[u8]) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&(value.len() as u64).to_be_bytes());
    h.update(value);
    h.update(&(nonce.len() as u64).to_be_bytes());
    h.update(nonce);
    *h.finalize().as_bytes()
}

/// The commitment a stale (retired) version's leaf holds: H(0x00).
pub fn stale_commitment() -> Digest {
    hash(&[0])
}

/// The VRF input for a label's version, fresh or stale:
/// H(len ‖ label ‖ freshness ‖ version).
pub fn vrf_input(label: &[u8], fresh: bool, version: u64) -> Digest {
    let mut h = blake3::Hasher::new();
    h.update(&(label.len() as u64).to_be_bytes());
    h.update(label);
    h.update(&[u8::from(fresh)]);
    h.update(&version.to_be_bytes());
    *h.finalize().as_bytes()
}
