//! Compact ranges: the O(log n) hashes that summarise leaves `[0, size)`, enough
//! to keep appending and to compute the root without the leaves themselves.

use crate::error::{invalid, Result};
use crate::suite::{Hash, Suite};

/// The complete subtrees covering `[0, size)`, one per set bit of `size`,
/// largest (leftmost) first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactRange {
    suite: Suite,
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    pub fn new(suite: Suite) -> Self {
        CompactRange { suite, size: 0, hashes: Vec::new() }
    }

    /// Rebuilds a range from its size and hashes (as [`CompactRange::hashes`] gave them).
    pub fn from_parts(suite: Suite, size: u64, hashes: Vec<Hash>) -> Result<Self> {
        if hashes.len() != size.count_ones() as usize {
            return Err(invalid(format!(
                "a compact range of size {size} has {} hashes, not {}",
                size.count_ones(),
                hashes.len()
            )));
        }
        Ok(CompactRange { suite, size, hashes })
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf: Hash) -> Result<()> {
        self.push_subtree(0, leaf)
    }

    /// Appends many leaf hashes. The new leaves split into aligned complete
    /// subtrees whose roots are computed in cache-sized blocks on every core.
    pub fn extend(&mut self, leaves: &[Hash]) -> Result<()> {
        let end = self.size.checked_add(leaves.len() as u64).ok_or_else(|| invalid("compact range size overflows"))?;
        let mut pos = self.size;
        let mut rest = leaves;
        while pos < end {
            let align = if pos == 0 { 63 } else { pos.trailing_zeros() };
            let level = align.min(63 - (end - pos).leading_zeros());
            let (chunk, tail) = rest.split_at(1 << level);
            self.push_subtree(level, self.suite.perfect_root(chunk))?;
            pos += 1 << level;
            rest = tail;
        }
        Ok(())
    }

    /// Appends the complete subtree of `2^level` leaves whose root is `hash`;
    /// `size` must be a multiple of `2^level`.
    pub fn push_subtree(&mut self, level: u32, hash: Hash) -> Result<()> {
        if level > 63 || self.size & ((1u64 << level) - 1) != 0 {
            return Err(invalid(format!("a subtree of level {level} cannot follow {} leaves", self.size)));
        }
        self.size.checked_add(1 << level).ok_or_else(|| invalid("compact range size overflows"))?;
        // Merge with equal-sized neighbours, like carrying in binary addition.
        let mut hash = hash;
        let mut level = level;
        while level < 64 && self.size >> level & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit of size");
            hash = self.suite.node_hash(&left, &hash);
            self.size -= 1 << level;
            level += 1;
        }
        self.size += 1 << level;
        self.hashes.push(hash);
        Ok(())
    }

    /// The root of `[0, size)`.
    pub fn root(&self) -> Hash {
        let Some((last, rest)) = self.hashes.split_last() else {
            return self.suite.empty_root();
        };
        rest.iter().rev().fold(*last, |acc, h| self.suite.node_hash(h, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_misaligned_subtrees_and_bad_parts() {
        let mut cr = CompactRange::new(Suite::Blake3);
        cr.append([1; 32]).unwrap();
        assert!(cr.push_subtree(1, [2; 32]).is_err());
        assert!(CompactRange::from_parts(Suite::Blake3, 3, vec![[0; 32]]).is_err());
    }
}
