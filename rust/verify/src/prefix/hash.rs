//! How a prefix tree hashes its leaves and parents.
//!
//! - `keytrans-sha256` (IETF KEYTRANS): leaf `SHA-256(0x02 ‖ key ‖ value)`,
//!   parent `SHA-256(0x03 ‖ left ‖ right)`; 65-byte inputs, two blocks each.
//! - `blake3`: the same shape with keyed BLAKE3, one key for leaves and one for
//!   parents, so every input is exactly one 64-byte block and many of them go
//!   through BLAKE3's SIMD `hash_many` at once.
//!
//! A missing child is the all-zero stand-in [`ZERO`], as the draft says.

use std::sync::OnceLock;

use crate::error::{invalid, Result};
use crate::suite::{blake3_key_words, blake3_pair, blake3_pairs, sha256_prefixed, Hash};

/// The stand-in value of a missing node, and the root of the empty map.
pub const ZERO: Hash = [0; 32];

/// The hash functions of one prefix-tree flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapSuite {
    /// IETF KEYTRANS `KT_128_SHA256_*`: SHA-256 with 0x02 / 0x03 prefixes.
    KeytransSha256,
    /// Keyed BLAKE3 with separate leaf and parent keys; 64-byte inputs.
    Blake3,
}

/// Whether a hash input is a leaf (`key ‖ value`) or a parent (`left ‖ right`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Leaf,
    Parent,
}

impl MapSuite {
    pub const ALL: [MapSuite; 2] = [MapSuite::KeytransSha256, MapSuite::Blake3];

    /// The suite's name as the Python API spells it.
    pub fn name(self) -> &'static str {
        match self {
            MapSuite::KeytransSha256 => "keytrans-sha256",
            MapSuite::Blake3 => "blake3",
        }
    }

    /// The suite's byte in an on-disk map's journal header.
    pub fn id(self) -> u8 {
        match self {
            MapSuite::KeytransSha256 => 1,
            MapSuite::Blake3 => 2,
        }
    }

    pub fn from_id(id: u8) -> Option<MapSuite> {
        MapSuite::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn from_name(name: &str) -> Result<MapSuite> {
        MapSuite::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| {
            let known: Vec<_> = MapSuite::ALL.iter().map(|s| s.name()).collect();
            invalid(format!("unknown map suite {name:?}; known suites: {}", known.join(", ")))
        })
    }

    /// The value of the leaf holding `key → value`.
    pub fn leaf_hash(self, key: &Hash, value: &Hash) -> Hash {
        self.hash(Kind::Leaf, key, value)
    }

    /// The value of a parent from its children's values (a missing child is [`ZERO`]).
    pub fn parent_hash(self, left: &Hash, right: &Hash) -> Hash {
        self.hash(Kind::Parent, left, right)
    }

    pub fn hash(self, kind: Kind, a: &Hash, b: &Hash) -> Hash {
        match self {
            MapSuite::KeytransSha256 => sha256_prefixed(sha256_prefix(kind), a, b),
            MapSuite::Blake3 => blake3_pair(blake3_key(kind), a, b),
        }
    }

    /// `out[i] = hash(kind, pairs[2i], pairs[2i+1])` for a whole batch.
    pub fn hash_many(self, kind: Kind, pairs: &[Hash], out: &mut [Hash]) {
        assert_eq!(pairs.len(), 2 * out.len(), "hash_many: two inputs per output");
        match self {
            MapSuite::KeytransSha256 => {
                // SHA-NI hashes one message at a time: nothing to gain from lanes.
                let prefix = sha256_prefix(kind);
                for (p, o) in pairs.chunks_exact(2).zip(out.iter_mut()) {
                    *o = sha256_prefixed(prefix, &p[0], &p[1]);
                }
            }
            MapSuite::Blake3 => blake3_pairs(blake3_key(kind), pairs, out),
        }
    }
}

fn sha256_prefix(kind: Kind) -> u8 {
    match kind {
        Kind::Leaf => 0x02,
        Kind::Parent => 0x03,
    }
}

fn blake3_key(kind: Kind) -> &'static [u32; 8] {
    static KEYS: OnceLock<[[u32; 8]; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [
            blake3_key_words(&blake3::derive_key("veritree 2026-11 blake3 map leaf", &[])),
            blake3_key_words(&blake3::derive_key("veritree 2026-11 blake3 map node", &[])),
        ]
    });
    match kind {
        Kind::Leaf => &keys[0],
        Kind::Parent => &keys[1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn keytrans_sha256_matches_digest() {
        let (a, b) = ([7u8; 32], [9u8; 32]);
        for (kind, prefix) in [(Kind::Leaf, 2u8), (Kind::Parent, 3u8)] {
            let want: Hash = Sha256::new().chain_update([prefix]).chain_update(a).chain_update(b).finalize().into();
            assert_eq!(MapSuite::KeytransSha256.hash(kind, &a, &b), want);
        }
    }

    #[test]
    fn blake3_matches_keyed_hash_and_batches_agree() {
        for (kind, ctx) in
            [(Kind::Leaf, "veritree 2026-11 blake3 map leaf"), (Kind::Parent, "veritree 2026-11 blake3 map node")]
        {
            let key = blake3::derive_key(ctx, &[]);
            let pairs: Vec<Hash> = (0..70u8).map(|i| [i; 32]).collect();
            let mut out = vec![ZERO; 35];
            MapSuite::Blake3.hash_many(kind, &pairs, &mut out);
            for (p, o) in pairs.chunks_exact(2).zip(&out) {
                let want = blake3::keyed_hash(&key, p.as_flattened());
                assert_eq!(o, want.as_bytes());
                assert_eq!(&MapSuite::Blake3.hash(kind, &p[0], &p[1]), want.as_bytes());
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in MapSuite::ALL {
            assert_eq!(MapSuite::from_name(s.name()).unwrap(), s);
        }
        assert!(MapSuite::from_name("rfc6962-sha256").is_err());
    }
}
