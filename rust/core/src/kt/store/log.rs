//! The log tree's heads in one append-only array: leaf `j` appends its
//! value and the head of every complete subtree it closes, so head `i` of
//! level `k` lies at `stored(j) + k` for `j = (i + 1)·2^k − 1`, where
//! `stored(j) = 2j − popcount(j)` heads precede leaf `j`'s.

use crate::error::{damaged, out_of_range, Result};
use crate::storage::slab::Slab;
use crate::suite::Hash;
use crate::tree::HeadStore;

/// The most leaves the tree holds: its heads are addressed by `u32` slots
/// and `stored(MAX_LEAVES)` is 2^32 − 1. A count past it is damage, not a
/// tree (and would overflow `stored`).
pub const MAX_LEAVES: u64 = 1 << 31;

/// Heads stored before leaf `j`'s (`j` ≤ [`MAX_LEAVES`]).
pub fn stored(j: u64) -> u64 {
    2 * j - u64::from(j.count_ones())
}

pub struct Heads {
    slab: Slab<Hash>,
    leaves: u64,
}

impl Heads {
    /// The heads of a tree of `leaves` leaves, held by `slab`.
    pub fn new(slab: Slab<Hash>, leaves: u64) -> Heads {
        Heads { slab, leaves }
    }

    pub fn sync(&self) -> Result<()> {
        self.slab.sync()
    }

    /// A writer forgets leaves past `leaves` (their commit failed).
    pub fn truncate(&mut self, leaves: u64) {
        self.slab.truncate(stored(leaves) as usize);
        self.leaves = leaves;
    }

    /// The array, for a shared backend to ship or fill.
    pub(crate) fn slab_mut(&mut self) -> &mut Slab<Hash> {
        &mut self.slab
    }

    /// A follower takes the `leaves` leaves its shipped heads filled in.
    pub fn adopt(&mut self, leaves: u64) -> Result<()> {
        if self.slab.len() as u64 != stored(leaves) {
            return Err(damaged(format!("{} log tree heads, not the {} of {leaves} leaves", self.slab.len(), stored(leaves))));
        }
        self.leaves = leaves;
        Ok(())
    }

    /// A reader's view takes `leaves` leaves.
    pub fn refresh(&mut self, leaves: u64) -> Result<()> {
        self.slab.refresh(stored(leaves) as usize)?;
        self.leaves = leaves;
        Ok(())
    }
}

impl HeadStore for Heads {
    fn leaves(&self) -> u64 {
        self.leaves
    }

    fn get(&self, level: usize, index: u64) -> Hash {
        let j = ((index + 1) << level) - 1;
        *self.slab.get((stored(j) + level as u64) as u32).expect("a head of a leaf the tree holds")
    }

    fn append(&mut self, heads: &[Hash]) -> Result<()> {
        debug_assert_eq!(self.slab.len() as u64, stored(self.leaves));
        if self.leaves == MAX_LEAVES {
            return Err(out_of_range(format!("a directory's log holds at most {MAX_LEAVES} entries")));
        }
        self.slab.reserve(heads.len())?;
        for h in heads {
            self.slab.put(self.slab.len() as u32, *h);
        }
        self.leaves += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kt::log_tree::LogTree;

    #[test]
    fn heads_in_one_array_are_the_levels() {
        let mut memory = LogTree::default();
        let mut flat = LogTree::over(Heads::new(Slab::memory(), 0));
        for i in 0..300u64 {
            let leaf = crate::suite::Suite::Blake3.leaf_hash(&i.to_le_bytes());
            memory.push(leaf);
            flat.try_push(leaf).unwrap();
            assert_eq!(flat.store().slab.len() as u64, stored(i + 1));
            assert_eq!(flat.root(i + 1).unwrap(), memory.root(i + 1).unwrap());
        }
        for n in [1, 7, 64, 300] {
            assert_eq!(flat.prove(300, &[n - 1], n, None).unwrap(), memory.prove(300, &[n - 1], n, None).unwrap());
        }
        flat.store_mut().truncate(100);
        assert_eq!(flat.root(100).unwrap(), memory.root(100).unwrap());
        assert!(flat.root(101).is_err());
    }

    #[test]
    fn the_last_head_fits_its_u32_slot_and_a_full_tree_refuses_more() {
        // Leaf MAX_LEAVES − 1 closes 31 subtrees: its last head is slot 2^32 − 2.
        let last = MAX_LEAVES - 1;
        assert_eq!(stored(last) + u64::from(last.count_ones()), u64::from(u32::MAX) - 1);
        assert_eq!(stored(MAX_LEAVES), u64::from(u32::MAX));
        let mut full = Heads::new(Slab::memory(), MAX_LEAVES);
        let e = full.append(&[[0; 32]]).unwrap_err();
        assert!(e.to_string().contains("at most 2147483648 entries"), "{e}");
    }
}
