//! Index math of the left-balanced (RFC 9162) Merkle tree and proof
//! construction over any store of complete subtrees.
//!
//! A tree of `size` leaves is split at `k`, the largest power of two below
//! `size`; the left part is a perfect subtree and the right part recurses. Every
//! node a proof needs is therefore either a *complete* subtree — `2^level`
//! leaves starting at a multiple of `2^level` — or a right-edge range
//! `[begin, size)`, whose hash folds the complete subtrees of its binary
//! decomposition. A [`NodeSource`] only has to serve complete subtrees.

use crate::error::{out_of_range, Result};
use crate::suite::{Hash, Suite};

/// A store that can return the hash of any complete subtree it holds.
pub trait NodeSource {
    fn suite(&self) -> Suite;
    /// Number of leaves.
    fn size(&self) -> u64;
    /// The hash of leaves `[index << level, (index + 1) << level)`, which must
    /// lie within `[0, size())`.
    fn node(&self, level: u32, index: u64) -> Result<Hash>;
}

/// How a tree hashes a parent from its two children, given how many leaves
/// each covers. The RFC 9162 suites ignore the counts; the KEYTRANS log
/// tree tells a leaf child from a parent child. Both share this module's
/// tree shape, decomposition and folding.
pub trait NodeHasher {
    fn parent(&self, left: &Hash, right: &Hash, left_leaves: u64, right_leaves: u64) -> Hash;
}

impl NodeHasher for Suite {
    fn parent(&self, left: &Hash, right: &Hash, _: u64, _: u64) -> Hash {
        self.node_hash(left, right)
    }
}

/// The full subtrees of a tree of `n` leaves, left to right: `(start, size)`
/// for each one bit of `n`, largest first.
pub fn full_subtrees(n: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut start = 0;
    for bit in (0..64).rev() {
        let size = 1u64 << bit;
        if n & size != 0 {
            out.push((start, size));
            start += size;
        }
    }
    out
}

/// The root of a tree from the heads of its full subtrees, left to right,
/// each with its leaf count (at least one head), folded from the right.
pub fn fold_heads<H: NodeHasher + ?Sized>(hasher: &H, heads: &[(Hash, u64)]) -> Hash {
    let (mut acc, mut size) = *heads.last().expect("a non-empty tree");
    for &(h, s) in heads.iter().rev().skip(1) {
        acc = hasher.parent(&h, &acc, s, size);
        size += s;
    }
    acc
}

/// A tree that grows a leaf at a time and keeps every complete subtree's
/// hash, level by level: `levels[k][i]` heads the leaves `[i·2^k, (i+1)·2^k)`.
/// (The in-memory log of `veritree-core` keeps the same levels, built a
/// batch at a time in parallel.)
pub struct Levels<H, S = Vec<Vec<Hash>>> {
    hasher: H,
    store: S,
}

/// Where [`Levels`] keeps its heads: in memory (`levels[k][i]`), or in a
/// file the server crate maps.
pub trait HeadStore {
    /// Leaves held.
    fn leaves(&self) -> u64;
    /// Head `index` of level `level` (one the store holds).
    fn get(&self, level: usize, index: u64) -> Hash;
    /// Appends the heads a new leaf completes: `heads[k]` is its level-`k`
    /// head (`heads[0]` the leaf).
    fn append(&mut self, heads: &[Hash]) -> Result<()>;
}

impl HeadStore for Vec<Vec<Hash>> {
    fn leaves(&self) -> u64 {
        self.first().map_or(0, |l| l.len() as u64)
    }

    fn get(&self, level: usize, index: u64) -> Hash {
        self[level][index as usize]
    }

    fn append(&mut self, heads: &[Hash]) -> Result<()> {
        if self.len() < heads.len() {
            self.resize(heads.len(), Vec::new());
        }
        for (level, h) in self.iter_mut().zip(heads) {
            level.push(*h);
        }
        Ok(())
    }
}

impl<H: NodeHasher> Levels<H> {
    pub fn new(hasher: H) -> Levels<H> {
        Levels { hasher, store: Vec::new() }
    }

    /// Appends a leaf hash, completing the subtrees it closes.
    pub fn push(&mut self, leaf: Hash) {
        self.try_push(leaf).expect("memory takes every head");
    }
}

impl<H: NodeHasher, S: HeadStore> Levels<H, S> {
    /// Levels kept in `store`.
    pub fn over(hasher: H, store: S) -> Levels<H, S> {
        Levels { hasher, store }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    pub fn len(&self) -> u64 {
        self.store.leaves()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf hash and the heads of the subtrees it closes.
    pub fn try_push(&mut self, leaf: Hash) -> Result<()> {
        let index = self.len();
        let mut heads = vec![leaf];
        // Leaf `index` closes one subtree per trailing one bit of its index.
        for k in 0..index.trailing_ones() as usize {
            let left = self.store.get(k, (index >> k) - 1);
            heads.push(self.hasher.parent(&left, &heads[k], 1 << k, 1 << k));
        }
        self.store.append(&heads)
    }

    /// The head of the complete subtree `[start, start + size)` (`size` a
    /// power of two dividing `start`, within the tree).
    pub fn head(&self, start: u64, size: u64) -> Hash {
        let k = size.trailing_zeros() as usize;
        self.store.get(k, start >> k)
    }

    /// The heads of the full subtrees of the first `n` leaves.
    pub fn full_subtree_heads(&self, n: u64) -> Vec<Hash> {
        full_subtrees(n).into_iter().map(|(s, z)| self.head(s, z)).collect()
    }

    /// The root of the first `n` leaves (`1 <= n <= len`).
    pub fn root(&self, n: u64) -> Result<Hash> {
        if n == 0 || n > self.len() {
            return Err(out_of_range(format!("no root of size {n} in a tree of {}", self.len())));
        }
        let heads: Vec<(Hash, u64)> = full_subtrees(n).into_iter().map(|(s, z)| (self.head(s, z), z)).collect();
        Ok(fold_heads(&self.hasher, &heads))
    }

    pub fn hasher(&self) -> &H {
        &self.hasher
    }
}

/// The largest power of two strictly below `n` (`n >= 2`): RFC 9162's split point `k`.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `[begin, end)` where `begin` is a multiple of the largest
/// power of two not above `end - begin` (true of every node of an RFC 9162 tree).
pub fn range_hash<S: NodeSource + ?Sized>(src: &S, begin: u64, end: u64) -> Result<Hash> {
    debug_assert!(begin < end);
    let len = end - begin;
    // The complete subtrees of the decomposition, peeled off from the right
    // (smallest first) and folded as they come: no buffer needed.
    let mut level = len.trailing_zeros();
    let mut pos = end - (1 << level);
    let mut acc = src.node(level, pos >> level)?;
    let suite = src.suite();
    let mut rest = len & !(1u64 << level);
    while rest != 0 {
        level = rest.trailing_zeros();
        pos -= 1 << level;
        acc = suite.node_hash(&src.node(level, pos >> level)?, &acc);
        rest &= !(1u64 << level);
    }
    Ok(acc)
}

/// The root of the first `size` leaves.
pub fn root_at<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Hash> {
    check_size(src, size)?;
    if size == 0 {
        return Ok(src.suite().empty_root());
    }
    range_hash(src, 0, size)
}

/// The ranges whose hashes prove that complete subtree `(level, index)` is in the
/// tree of `size` leaves, bottom up (the order RFC 9162 proofs use).
fn path_ranges(level: u32, index: u64, size: u64) -> impl Iterator<Item = (u64, u64)> {
    let last = (size - 1) >> level;
    let inner = 64 - (index ^ last).leading_zeros();
    // Below `inner` the path and the right edge differ: every sibling exists,
    // and the one right of the path may be the incomplete right-edge range.
    let below = (0..inner).map(move |l| {
        let sib = (index >> l) ^ 1;
        (sib << (l + level), ((sib + 1) << (l + level)).min(size))
    });
    // From `inner` up the path runs along the right edge: only left siblings exist.
    let above = (inner..64 - level)
        .map(move |l| (l, index >> l))
        .take_while(|&(_, node)| node != 0)
        .filter(|&(_, node)| node & 1 == 1)
        .map(move |(l, node)| {
            let begin = (node - 1) << (l + level);
            (begin, begin + (1 << (l + level)))
        });
    below.chain(above)
}

fn push_hashes<S: NodeSource + ?Sized>(
    src: &S,
    ranges: impl Iterator<Item = (u64, u64)>,
    out: &mut Vec<Hash>,
) -> Result<()> {
    for (b, e) in ranges {
        out.push(range_hash(src, b, e)?);
    }
    Ok(())
}

fn check_size<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<()> {
    if size > src.size() {
        return Err(out_of_range(format!("size {size} is beyond the log size {}", src.size())));
    }
    Ok(())
}

fn check_index(index: u64, size: u64) -> Result<()> {
    if index >= size {
        return Err(out_of_range(format!("index {index} is not below the tree size {size}")));
    }
    Ok(())
}

/// RFC 9162 §2.1.3 inclusion proof of leaf `index` in the tree of `size` leaves.
pub fn inclusion_proof<S: NodeSource + ?Sized>(src: &S, index: u64, size: u64) -> Result<Vec<Hash>> {
    check_size(src, size)?;
    check_index(index, size)?;
    let mut out = Vec::with_capacity(64);
    push_hashes(src, path_ranges(0, index, size), &mut out)?;
    Ok(out)
}

/// Many inclusion proofs in the tree of `size` leaves, on every core: all nodes
/// back to back, and offsets such that proof `i` is `nodes[offsets[i]..offsets[i + 1]]`.
pub fn inclusion_proofs<S: NodeSource + Sync + ?Sized>(
    src: &S,
    indices: &[u64],
    size: u64,
) -> Result<(Vec<Hash>, Vec<u64>)> {
    use rayon::prelude::*;
    check_size(src, size)?;
    let parts = indices
        .par_chunks(1024)
        .map(|chunk| {
            let mut nodes = Vec::with_capacity(chunk.len() * 64);
            let mut ends = Vec::with_capacity(chunk.len());
            for &i in chunk {
                check_index(i, size)?;
                push_hashes(src, path_ranges(0, i, size), &mut nodes)?;
                ends.push(nodes.len() as u64);
            }
            Ok((nodes, ends))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut nodes = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
    let mut offsets = Vec::with_capacity(indices.len() + 1);
    offsets.push(0);
    for (n, ends) in parts {
        let base = nodes.len() as u64;
        offsets.extend(ends.iter().map(|e| e + base));
        nodes.extend_from_slice(&n);
    }
    Ok((nodes, offsets))
}

/// RFC 9162 §2.1.4 consistency proof between sizes `old` and `new` (`old <= new`).
pub fn consistency_proof<S: NodeSource + ?Sized>(src: &S, old: u64, new: u64) -> Result<Vec<Hash>> {
    check_size(src, new)?;
    if old > new {
        return Err(out_of_range(format!("old size {old} is beyond the new size {new}")));
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // The old tree's rightmost complete subtree, then its path in the new tree.
    let level = old.trailing_zeros();
    let index = (old - 1) >> level;
    let own = (index != 0).then_some((index << level, (index + 1) << level));
    let mut out = Vec::with_capacity(65);
    push_hashes(src, own.into_iter().chain(path_ranges(level, index, new)), &mut out)?;
    Ok(out)
}

/// Checks that batch indices are strictly increasing and below `size`.
pub fn check_batch_indices(indices: &[u64], size: u64) -> Result<()> {
    use crate::error::invalid;
    if indices.is_empty() {
        return Err(invalid("a batch needs at least one index"));
    }
    for w in indices.windows(2) {
        if w[0] >= w[1] {
            return Err(invalid(format!(
                "batch indices must be strictly increasing (no duplicates); got {} then {}",
                w[0], w[1]
            )));
        }
    }
    check_index(indices[indices.len() - 1], size)
}

/// The ranges a batch proof for sorted, distinct `indices` consists of: every
/// maximal subtree containing none of them, depth-first left to right. Shared
/// path nodes are therefore sent once, and none the verifier can compute.
pub(crate) fn batch_ranges(begin: u64, end: u64, indices: &[u64], out: &mut Vec<(u64, u64)>) {
    if indices.is_empty() {
        out.push((begin, end));
        return;
    }
    if end - begin == 1 {
        return;
    }
    let mid = begin + split_point(end - begin);
    let s = indices.partition_point(|&i| i < mid);
    batch_ranges(begin, mid, &indices[..s], out);
    batch_ranges(mid, end, &indices[s..], out);
}

/// Batch inclusion proof for strictly increasing `indices` in the tree of `size`.
pub fn batch_inclusion_proof<S: NodeSource + ?Sized>(src: &S, indices: &[u64], size: u64) -> Result<Vec<Hash>> {
    check_size(src, size)?;
    check_batch_indices(indices, size)?;
    let mut ranges = Vec::new();
    batch_ranges(0, size, indices, &mut ranges);
    let mut out = Vec::with_capacity(ranges.len());
    push_hashes(src, ranges.into_iter(), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(1 << 40), 1 << 39);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }

    #[test]
    fn path_lengths_match_rfc() {
        // RFC 9162 example tree of 7 leaves: leaf 0 has a 3-node path, leaf 6 a 2-node one.
        let path = |i, n| path_ranges(0, i, n).collect::<Vec<_>>();
        assert_eq!(path(0, 7), vec![(1, 2), (2, 4), (4, 7)]);
        assert_eq!(path(6, 7), vec![(4, 6), (0, 4)]);
        assert_eq!(path(3, 4), vec![(2, 3), (0, 2)]);
        assert!(path(0, 1).is_empty());
    }

    /// The shared levels and fold give RFC 9162 roots for a suite, at every
    /// size: the same tree code serves the KEYTRANS log tree's own hashing.
    #[test]
    fn levels_fold_to_the_definition() {
        fn reference(suite: Suite, leaves: &[Hash]) -> Hash {
            if leaves.len() == 1 {
                return leaves[0];
            }
            let k = split_point(leaves.len() as u64) as usize;
            suite.node_hash(&reference(suite, &leaves[..k]), &reference(suite, &leaves[k..]))
        }
        for suite in Suite::ALL {
            let leaves: Vec<Hash> = (0..70u64).map(|i| suite.leaf_hash(&i.to_be_bytes())).collect();
            let mut levels = Levels::new(suite);
            for (n, leaf) in leaves.iter().enumerate() {
                levels.push(*leaf);
                assert_eq!(levels.root(n as u64 + 1).unwrap(), reference(suite, &leaves[..=n]), "size {}", n + 1);
            }
            assert_eq!(full_subtrees(70), [(0, 64), (64, 4), (68, 2)]);
            assert!(levels.root(0).is_err() && levels.root(71).is_err());
        }
    }
}
