//! Shared inputs for the Rust benches, so that the criterion benches and the
//! `peer_report` binary measure exactly the same work: deterministic entries,
//! their leaf hashes and seeded random indices. With the `peers` feature it
//! also holds the peer crates' tree builders.

use std::collections::BTreeSet;

use veritree_core::{Hash, Suite};

/// SplitMix64: a tiny seedable generator, good enough to pick indices.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 32 random bytes.
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for w in b.chunks_exact_mut(8) {
            w.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        b
    }

    /// A value in `[0, n)` (multiply-shift: no modulo bias worth speaking of).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// `n` distinct 32-byte log entries.
pub struct Entries {
    pub items: Vec<[u8; 32]>,
}

impl Entries {
    pub fn new(n: usize) -> Self {
        let mut rng = SplitMix64::new(0x5eed);
        Entries { items: (0..n).map(|_| rng.bytes32()).collect() }
    }

    /// The entries' leaf hashes under `suite` (hashed on every core).
    pub fn leaf_hashes(&self, suite: Suite) -> Vec<Hash> {
        suite.leaf_hashes(&self.items)
    }
}

/// `n` random (key, value) pairs for the prefix tree benches; the keys are
/// distinct with overwhelming probability.
pub fn random_pairs(n: usize, seed: u64) -> Vec<([u8; 32], [u8; 32])> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| (rng.bytes32(), rng.bytes32())).collect()
}

/// `count` indices drawn uniformly from `[0, size)`, repeats allowed.
pub fn random_indices(size: u64, count: usize, seed: u64) -> Vec<u64> {
    let mut rng = SplitMix64::new(seed);
    (0..count).map(|_| rng.below(size)).collect()
}

/// `count` distinct indices from `[0, size)`, increasing, as batch proofs take them.
pub fn random_batch(size: u64, count: usize, seed: u64) -> Vec<u64> {
    assert!(count as u64 <= size, "cannot draw {count} distinct indices below {size}");
    let mut rng = SplitMix64::new(seed);
    let mut set = BTreeSet::new();
    while set.len() < count {
        set.insert(rng.below(size));
    }
    set.into_iter().collect()
}

/// The peer crates, set up the way their documentation shows, with SHA-256.
#[cfg(feature = "peers")]
pub mod peers {
    use veritree_core::Hash;

    /// rs_merkle's tree: nodes are SHA-256(l ‖ r) with no domain prefixes, and
    /// an odd node is promoted rather than hashed, so its roots differ from
    /// RFC 9162's except in shape at powers of two. It takes leaf hashes.
    pub type RsTree = rs_merkle::MerkleTree<rs_merkle::algorithms::Sha256>;

    /// ct-merkle's RFC 6962 tree over 32-byte entries: it hashes each entry
    /// itself (SHA-256(0x00 ‖ entry)), so its roots equal veritree's
    /// `rfc6962-sha256` roots of the same entries.
    pub type CtTree = ct_merkle::CtMerkleTree<sha2::Sha256, [u8; 32]>;

    /// rs_merkle's leaf hash of an entry, as its documentation computes leaves.
    pub fn rs_leaf_hashes(entries: &[[u8; 32]]) -> Vec<Hash> {
        use rs_merkle::Hasher;
        entries.iter().map(|e| rs_merkle::algorithms::Sha256::hash(e)).collect()
    }

    /// ct-merkle has no bulk constructor: entries are pushed one by one, and
    /// each push rehashes the new leaf's path to the root.
    pub fn ct_build(entries: &[[u8; 32]]) -> CtTree {
        let mut tree = CtTree::new();
        for e in entries {
            tree.push(*e);
        }
        tree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_distinct_increasing_and_in_range() {
        let b = random_batch(100, 100, 7);
        assert_eq!(b, (0..100).collect::<Vec<_>>());
        let b = random_batch(1 << 20, 1024, 7);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        assert!(b.iter().all(|&i| i < 1 << 20));
    }

    #[test]
    fn entry_leaf_hashes_are_per_entry() {
        let e = Entries::new(5);
        assert_eq!(e.leaf_hashes(Suite::Blake3)[3], Suite::Blake3.leaf_hash(&e.items[3]));
    }

    /// The peers compute what the benches say they compute: ct-merkle's roots
    /// are veritree's RFC 9162 roots, and both peers' proofs verify.
    #[cfg(feature = "peers")]
    #[test]
    fn peers_agree_with_veritree() {
        use veritree_core::MemoryLog;
        for n in [1, 2, 3, 7, 64, 1000] {
            let entries = Entries::new(n);
            let mut log = MemoryLog::new(Suite::Rfc6962Sha256);
            log.extend_leaf_hashes(&entries.leaf_hashes(Suite::Rfc6962Sha256));
            let ct = peers::ct_build(&entries.items);
            let ct_root = ct.root();
            assert_eq!(ct_root.as_bytes().as_slice(), log.root(n as u64).unwrap());

            let rs_leaves = peers::rs_leaf_hashes(&entries.items);
            let rs = peers::RsTree::from_leaves(&rs_leaves);
            let rs_root = rs.root().unwrap();
            for i in random_indices(n as u64, 10, 1) {
                let i = i as usize;
                ct_root.verify_inclusion(&entries.items[i], i, &ct.prove_inclusion(i)).unwrap();
                assert!(rs.proof(&[i]).verify(rs_root, &[i], &rs_leaves[i..=i], n));
            }
        }
    }
}
