//! The KEYTRANS log tree: left-balanced like RFC 9162's — the shape, the
//! decomposition into full subtrees, the folding and the levels are the
//! shared tree's ([`crate::tree`]) — hashed its own way ([`KtHasher`]),
//! with one batch proof that combines inclusion and consistency.
//!
//! A leaf's value is `SHA-256(LogEntry)`; a parent's is
//! `SHA-256(hc(left) ‖ hc(right))`, where `hc` prefixes 0x00 to a leaf's
//! value and 0x01 to a parent's. Proofs hold only heads of balanced
//! subtrees, in left-to-right order: the fewest that, with the proven
//! leaves and the full-subtree heads the verifier retained from an older
//! size, yield the root.

use sha2::{Digest, Sha256};

use super::wire::Writer;
use crate::error::{failed, invalid, Result};
use crate::suite::Hash;
pub use crate::tree::full_subtrees;
use crate::tree::{fold_heads, HeadStore, Levels, NodeHasher};

/// A log entry: when it was made (ms since the Unix epoch) and the prefix
/// tree's root after its changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct LogEntry {
    pub timestamp: u64,
    pub prefix_root: Hash,
}

impl LogEntry {
    /// The leaf value: the hash of the entry's TLS encoding.
    pub fn leaf_value(&self) -> Hash {
        let mut w = Writer::default();
        w.u64(self.timestamp).fixed(&self.prefix_root);
        Sha256::digest(&w.buf).into()
    }
}

/// The log tree's parent hashing: `SHA-256(hc(left) ‖ hc(right))`, where
/// `hc` prefixes 0x00 to a leaf's value and 0x01 to a parent's.
#[derive(Clone, Copy, Debug, Default)]
pub struct KtHasher;

impl NodeHasher for KtHasher {
    fn parent(&self, left: &Hash, right: &Hash, left_size: u64, right_size: u64) -> Hash {
        let kind = |size: u64| if size == 1 { 0x00u8 } else { 0x01 };
        Sha256::new()
            .chain_update([kind(left_size)])
            .chain_update(left)
            .chain_update([kind(right_size)])
            .chain_update(right)
            .finalize()
            .into()
    }
}

/// The root from the heads of the full subtrees (left to right).
fn fold(heads: &[(Hash, u64)]) -> Hash {
    fold_heads(&KtHasher, heads)
}

/// The root of a log of `n` leaves from its full subtrees' heads.
pub fn root_of_heads(n: u64, heads: &[Hash]) -> Result<Hash> {
    let sizes = full_subtrees(n);
    if n == 0 || sizes.len() != heads.len() {
        return Err(invalid(format!("{} heads for a log of {n} leaves", heads.len())));
    }
    Ok(fold(&heads.iter().copied().zip(sizes.into_iter().map(|s| s.1)).collect::<Vec<_>>()))
}

/// A log tree: every balanced subtree's head, by level, in memory or in a
/// [`HeadStore`] of the server's.
pub struct LogTree<S = Vec<Vec<Hash>>> {
    levels: Levels<KtHasher, S>,
}

impl Default for LogTree {
    fn default() -> LogTree {
        LogTree { levels: Levels::new(KtHasher) }
    }
}

impl LogTree {
    /// Appends a leaf value, completing the balanced subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.levels.push(leaf);
    }
}

impl<S: HeadStore> LogTree<S> {
    /// The log tree whose heads `store` holds.
    pub fn over(store: S) -> LogTree<S> {
        LogTree { levels: Levels::over(KtHasher, store) }
    }

    pub fn store(&self) -> &S {
        self.levels.store()
    }

    pub fn store_mut(&mut self) -> &mut S {
        self.levels.store_mut()
    }

    /// Appends a leaf value and the heads it completes to the store.
    pub fn try_push(&mut self, leaf: Hash) -> Result<()> {
        self.levels.try_push(leaf)
    }

    pub fn len(&self) -> u64 {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The head of the balanced subtree `[start, start + size)`.
    fn head(&self, start: u64, size: u64) -> Hash {
        self.levels.head(start, size)
    }

    /// The root of the first `n` leaves (`1 <= n <= len`).
    pub fn root(&self, n: u64) -> Result<Hash> {
        if n == 0 || n > self.len() {
            return Err(invalid(format!("no root of size {n} in a log of {}", self.len())));
        }
        self.levels.root(n)
    }

    /// The heads of the full subtrees of size `n`, which a client retains.
    pub fn full_subtree_heads(&self, n: u64) -> Vec<Hash> {
        self.levels.full_subtree_heads(n)
    }

    /// The batch proof for size `n`: the leaves `proven` (sorted, distinct)
    /// are known to the verifier, as are the full-subtree heads of size
    /// `retained` (0 for none, at most `n`). With `also` (at most `n`), the
    /// proof also yields the root at that size (an auditor's tree head).
    pub fn prove(&self, n: u64, proven: &[u64], retained: u64, also: Option<u64>) -> Result<Vec<Hash>> {
        let known = Known::new(n, proven, retained, also)?;
        if n > self.len() {
            return Err(invalid(format!("no proof of size {n} in a log of {}", self.len())));
        }
        let mut out = Vec::new();
        for (s, z) in full_subtrees(n) {
            self.prove_range(&known, s, z, &mut out);
        }
        Ok(out)
    }

    fn prove_range(&self, known: &Known, start: u64, size: u64, out: &mut Vec<Hash>) {
        match known.status(start, size) {
            Status::Known => {}
            Status::Opaque => out.push(self.head(start, size)),
            Status::Split => {
                self.prove_range(known, start, size / 2, out);
                self.prove_range(known, start + size / 2, size / 2, out);
            }
        }
    }
}

/// What the verifier knows of a balanced subtree.
enum Status {
    /// A proven leaf, or a retained head holding no proven leaf.
    Known,
    /// Nothing: its head is a proof element.
    Opaque,
    /// Something inside: both halves are visited.
    Split,
}

/// The proven leaves and retained full subtrees of one proof, and the full
/// subtrees of a second size whose root the proof must also yield.
struct Known<'a> {
    proven: &'a [u64],
    retained: Vec<(u64, u64)>,
    also: Vec<(u64, u64)>,
}

impl<'a> Known<'a> {
    fn new(n: u64, proven: &'a [u64], retained: u64, also: Option<u64>) -> Result<Known<'a>> {
        if n == 0 {
            return Err(invalid("a proof needs a log of at least one entry"));
        }
        if retained > n {
            return Err(invalid(format!("retained size {retained} exceeds the log size {n}")));
        }
        if proven.windows(2).any(|w| w[0] >= w[1]) || proven.last().is_some_and(|&l| l >= n) {
            return Err(invalid(format!("proven leaves must be strictly increasing and below {n}")));
        }
        if also.is_some_and(|a| a == 0 || a > n) {
            return Err(invalid(format!("a second root of size {} in a log of {n}", also.unwrap_or(0))));
        }
        Ok(Known { proven, retained: full_subtrees(retained), also: full_subtrees(also.unwrap_or(0)) })
    }

    fn has_proven(&self, start: u64, size: u64) -> bool {
        let i = self.proven.partition_point(|&p| p < start);
        self.proven.get(i).is_some_and(|&p| p < start + size)
    }

    fn is_retained(&self, start: u64, size: u64) -> bool {
        self.retained.contains(&(start, size))
    }

    /// Whether a retained subtree lies within this one (balanced subtrees
    /// nest or are disjoint; one that holds this one is being recomputed).
    fn holds_retained(&self, start: u64, size: u64) -> bool {
        self.retained.iter().any(|&(s, z)| start <= s && s + z <= start + size)
    }

    /// Whether a full subtree of the second size lies strictly inside this one.
    fn holds_also(&self, start: u64, size: u64) -> bool {
        self.also.iter().any(|&(s, z)| z < size && start <= s && s + z <= start + size)
    }

    fn status(&self, start: u64, size: u64) -> Status {
        let proven = self.has_proven(start, size);
        let opened = self.holds_also(start, size);
        if (size == 1 && proven) || (!proven && !opened && self.is_retained(start, size)) {
            Status::Known
        } else if !proven && !opened && !self.holds_retained(start, size) {
            Status::Opaque
        } else {
            Status::Split
        }
    }
}

/// What a verified batch proof yields: the root, the full-subtree heads to
/// retain, and the root at the second size asked for.
pub struct Verified {
    pub root: Hash,
    pub heads: Vec<Hash>,
    pub also_root: Option<Hash>,
}

/// Checks a batch proof for size `n` and returns the root, with the new
/// full-subtree heads to retain. `proven` pairs leaf indices (sorted,
/// distinct) with their values; `retained` holds the full-subtree heads of
/// size `retained_size`. A retained head that the proven leaves recompute
/// must match, as the draft requires. With `also`, the root at that size too.
pub fn verify(
    n: u64,
    proven: &[(u64, Hash)],
    retained_size: u64,
    retained: &[Hash],
    elements: &[Hash],
    also: Option<u64>,
) -> Result<Verified> {
    let indices: Vec<u64> = proven.iter().map(|p| p.0).collect();
    let known = Known::new(n, &indices, retained_size, also)?;
    if retained.len() != known.retained.len() {
        return Err(invalid(format!(
            "a log of {retained_size} entries has {} full subtrees, not {}",
            known.retained.len(),
            retained.len()
        )));
    }
    let mut v = Verifier { known: &known, proven, retained, elements, next: 0, also_heads: Vec::new() };
    let heads: Vec<(Hash, u64)> =
        full_subtrees(n).into_iter().map(|(s, z)| Ok((v.range(s, z)?, z))).collect::<Result<_>>()?;
    if v.next != elements.len() {
        return Err(failed(format!("the proof has {} elements, {} unused", elements.len(), elements.len() - v.next)));
    }
    let also_root = also.map(|_| {
        v.also_heads.sort_unstable_by_key(|h| h.0);
        fold(&v.also_heads.iter().map(|&(_, h, z)| (h, z)).collect::<Vec<_>>())
    });
    Ok(Verified { root: fold(&heads), heads: heads.into_iter().map(|h| h.0).collect(), also_root })
}

struct Verifier<'a> {
    known: &'a Known<'a>,
    proven: &'a [(u64, Hash)],
    retained: &'a [Hash],
    elements: &'a [Hash],
    next: usize,
    /// Heads of the second size's full subtrees: (start, head, size).
    also_heads: Vec<(u64, Hash, u64)>,
}

impl Verifier<'_> {
    fn range(&mut self, start: u64, size: u64) -> Result<Hash> {
        let h = self.resolve(start, size)?;
        if self.known.also.contains(&(start, size)) {
            self.also_heads.push((start, h, size));
        }
        Ok(h)
    }

    fn resolve(&mut self, start: u64, size: u64) -> Result<Hash> {
        let retained = self.known.retained.iter().position(|&r| r == (start, size)).map(|i| self.retained[i]);
        match self.known.status(start, size) {
            Status::Known if size == 1 && self.known.has_proven(start, 1) => {
                let h = self.proven[self.proven.partition_point(|p| p.0 < start)].1;
                if retained.is_some_and(|old| old != h) {
                    return Err(failed(format!("the retained value of leaf {start} does not match")));
                }
                Ok(h)
            }
            Status::Known => Ok(retained.expect("known and not proven: retained")),
            Status::Opaque => {
                let h = *self.elements.get(self.next).ok_or_else(|| failed("the proof has too few elements"))?;
                self.next += 1;
                Ok(h)
            }
            Status::Split => {
                let l = self.range(start, size / 2)?;
                let r = self.range(start + size / 2, size / 2)?;
                let h = KtHasher.parent(&l, &r, size / 2, size / 2);
                if retained.is_some_and(|old| old != h) {
                    return Err(failed(format!(
                        "the retained head of leaves {start}..{} does not match",
                        start + size
                    )));
                }
                Ok(h)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Hash {
        LogEntry { timestamp: 1_000 + i, prefix_root: [i as u8; 32] }.leaf_value()
    }

    fn tree(n: u64) -> LogTree {
        let mut t = LogTree::default();
        for i in 0..n {
            t.push(leaf(i));
        }
        t
    }

    /// The definition: split at the largest power of two below the size.
    fn reference_root(leaves: &[Hash]) -> Hash {
        fn go(l: &[Hash]) -> (Hash, bool) {
            if l.len() == 1 {
                return (l[0], true);
            }
            let k = l.len().next_power_of_two() / 2;
            let ((a, al), (b, bl)) = (go(&l[..k]), go(&l[k..]));
            let mut h = Sha256::new();
            h.update([u8::from(!al)]);
            h.update(a);
            h.update([u8::from(!bl)]);
            h.update(b);
            (h.finalize().into(), false)
        }
        go(leaves).0
    }

    #[test]
    fn roots_from_full_subtree_heads() {
        let t = tree(77);
        for n in 1..=77 {
            assert_eq!(root_of_heads(n, &t.full_subtree_heads(n)).unwrap(), t.root(n).unwrap());
        }
        assert!(root_of_heads(3, &t.full_subtree_heads(2)).is_err());
        assert!(root_of_heads(0, &[]).is_err());
    }

    #[test]
    fn roots_match_the_definition() {
        let t = tree(70);
        let leaves: Vec<Hash> = (0..70).map(leaf).collect();
        for n in 1..=70 {
            assert_eq!(t.root(n).unwrap(), reference_root(&leaves[..n as usize]), "n = {n}");
        }
        let entry: Hash = Sha256::digest([&1000u64.to_be_bytes()[..], &[0; 32]].concat()).into();
        assert_eq!(leaf(0), entry);
        assert!(t.root(0).is_err() && t.root(71).is_err());
    }

    #[test]
    fn the_drafts_figures_and_worked_example() {
        let t = tree(13);
        let h = |s: u64, z: u64| t.head(s, z);
        // Inclusion of leaf 2 in 6 leaves: heads of 0..2, leaf 3, 4..6.
        assert_eq!(t.prove(6, &[2], 0, None).unwrap(), [h(0, 2), h(3, 1), h(4, 2)]);
        // Consistency from 5 to 7 leaves: leaves 5 and 6.
        assert_eq!(t.prove(7, &[], 5, None).unwrap(), [h(5, 1), h(6, 1)]);
        // The worked CombinedTreeProof: 13 entries, 0..4 retained, leaves 7,
        // 11 and 12 computed: heads of 4..6, leaf 6, 8..10 and leaf 10.
        let proof = t.prove(13, &[7, 11, 12], 4, None).unwrap();
        assert_eq!(proof, [h(4, 2), h(6, 1), h(8, 2), h(10, 1)]);
        let proven = [(7, leaf(7)), (11, leaf(11)), (12, leaf(12))];
        let Verified { root, heads, .. } = verify(13, &proven, 4, &t.full_subtree_heads(4), &proof, None).unwrap();
        assert_eq!(root, t.root(13).unwrap());
        assert_eq!(heads, t.full_subtree_heads(13));
    }

    #[test]
    fn every_proof_verifies_and_every_tampering_fails() {
        let t = tree(40);
        let mut seed = 5u64;
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for n in 1..=40u64 {
            for _ in 0..6 {
                let retained = next(n + 1);
                let mut proven: Vec<u64> = (0..next(4)).map(|_| next(n)).collect();
                proven.sort_unstable();
                proven.dedup();
                // Sometimes the root at a second size too (an auditor's head).
                let also = (next(2) == 0).then(|| 1 + next(n));
                let proof = t.prove(n, &proven, retained, also).unwrap();
                let pairs: Vec<(u64, Hash)> = proven.iter().map(|&i| (i, leaf(i))).collect();
                let old = t.full_subtree_heads(retained);
                let v = verify(n, &pairs, retained, &old, &proof, also).unwrap();
                assert_eq!((v.root, v.heads), (t.root(n).unwrap(), t.full_subtree_heads(n)));
                assert_eq!(v.also_root, also.map(|a| t.root(a).unwrap()));
                let root = v.root;
                // Any changed element, a missing or an extra one: refused or another root.
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][0] ^= 1;
                    assert!(verify(n, &pairs, retained, &old, &bad, also).map_or(true, |r| r.root != root));
                }
                assert!(verify(n, &pairs, retained, &old, &[proof.clone(), vec![[0; 32]]].concat(), also).is_err());
                if let Some((_, short)) = proof.split_last() {
                    assert!(verify(n, &pairs, retained, &old, short, also).is_err());
                }
                // A wrong proven value, or a wrong retained head.
                if let Some(p) = pairs.first() {
                    let mut wrong = pairs.clone();
                    wrong[0].1 = leaf(p.0 + 100);
                    assert!(verify(n, &wrong, retained, &old, &proof, also).map_or(true, |r| r.root != root));
                }
                if !old.is_empty() {
                    let mut wrong = old.clone();
                    wrong[0][5] ^= 1;
                    assert!(verify(n, &pairs, retained, &wrong, &proof, also).map_or(true, |r| r.root != root));
                }
            }
        }
    }

    /// A retained head that proven leaves recompute must match (the draft's
    /// MUST): otherwise the root would come out right while the verifier's
    /// retained state was wrong.
    #[test]
    fn recomputed_retained_heads_are_checked() {
        let t = tree(8);
        let proof = t.prove(8, &[1], 4, None).unwrap();
        let mut old = t.full_subtree_heads(4);
        assert!(verify(8, &[(1, leaf(1))], 4, &old, &proof, None).is_ok());
        old[0][0] ^= 1;
        assert!(
            verify(8, &[(1, leaf(1))], 4, &old, &proof, None).is_err_and(|e| e.to_string().contains("retained head"))
        );
        // A retained single leaf that is also proven.
        let proof = t.prove(8, &[4], 5, None).unwrap();
        let mut old = t.full_subtree_heads(5);
        old[1][0] ^= 1;
        assert!(verify(8, &[(4, leaf(4))], 5, &old, &proof, None).is_err_and(|e| e.to_string().contains("leaf 4")));
    }

    #[test]
    fn bad_arguments() {
        let t = tree(8);
        assert!(t.prove(9, &[], 0, None).is_err());
        assert!(t.prove(8, &[3, 3], 0, None).is_err());
        assert!(t.prove(8, &[8], 0, None).is_err());
        assert!(t.prove(8, &[], 9, None).is_err());
        assert!(t.prove(0, &[], 0, None).is_err());
        assert!(verify(8, &[], 5, &[[0; 32]], &[], None).is_err(), "5 has two full subtrees");
    }
}
