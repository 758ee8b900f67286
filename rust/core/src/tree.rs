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

/// The largest power of two strictly below `n` (`n >= 2`): RFC 9162's split point `k`.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The hash of leaves `[begin, end)` where `begin` is a multiple of the largest
/// power of two not above `end - begin` (true of every node of an RFC 9162 tree).
pub fn range_hash<S: NodeSource + ?Sized>(src: &S, begin: u64, end: u64) -> Result<Hash> {
    debug_assert!(begin < end);
    let suite = src.suite();
    let len = end - begin;
    // Complete subtrees of the decomposition, largest first, folded from the right.
    let mut parts = [[0u8; 32]; 64];
    let mut n = 0;
    let mut pos = begin;
    for level in (0..64u32).rev().filter(|l| len >> l & 1 == 1) {
        parts[n] = src.node(level, pos >> level)?;
        pos += 1 << level;
        n += 1;
    }
    let mut acc = parts[n - 1];
    for p in parts[..n - 1].iter().rev() {
        acc = suite.node_hash(p, &acc);
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
fn path_ranges(level: u32, index: u64, size: u64) -> Vec<(u64, u64)> {
    let last = (size - 1) >> level;
    let inner = 64 - (index ^ last).leading_zeros();
    let mut out = Vec::with_capacity(64);
    // Below `inner` the path and the right edge differ: every sibling exists,
    // and the one right of the path may be the incomplete right-edge range.
    for l in 0..inner {
        let sib = (index >> l) ^ 1;
        let begin = sib << (l + level);
        let end = ((sib + 1) << (l + level)).min(size);
        out.push((begin, end));
    }
    // From `inner` up the path runs along the right edge: only left siblings exist.
    for l in inner..64 - level {
        let node = index >> l;
        if node == 0 {
            break;
        }
        if node & 1 == 1 {
            let begin = (node - 1) << (l + level);
            out.push((begin, begin + (1 << (l + level))));
        }
    }
    out
}

fn hashes_of<S: NodeSource + ?Sized>(src: &S, ranges: &[(u64, u64)]) -> Result<Vec<Hash>> {
    ranges.iter().map(|&(b, e)| range_hash(src, b, e)).collect()
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
    hashes_of(src, &path_ranges(0, index, size))
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
    let mut ranges = Vec::with_capacity(65);
    if index != 0 {
        ranges.push((index << level, (index + 1) << level));
    }
    ranges.extend(path_ranges(level, index, new));
    hashes_of(src, &ranges)
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
    hashes_of(src, &ranges)
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
        assert_eq!(path_ranges(0, 0, 7), vec![(1, 2), (2, 4), (4, 7)]);
        assert_eq!(path_ranges(0, 6, 7), vec![(4, 6), (0, 4)]);
        assert_eq!(path_ranges(0, 3, 4), vec![(2, 3), (0, 2)]);
        assert!(path_ranges(0, 0, 1).is_empty());
    }
}
