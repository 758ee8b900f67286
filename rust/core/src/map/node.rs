//! Nodes of a prefix tree, stored in flat arenas.
//!
//! The tree is kept path-compressed: a [`Branch`] is a prefix shared by keys
//! on both of its sides, so every branch has two non-empty children. The
//! single-child parents of the KEYTRANS tree that sit between two branches
//! (a "chain") are not stored: their values follow from the branch below and
//! the prefix bits ([`Arena::lifted`]). A leaf sits right under its parent
//! branch, at the shallowest depth where its key is alone, so it never needs
//! lifting.
//!
//! Nodes are immutable once written: a new version copies the paths it
//! changes and shares everything else with older versions.

use bytemuck::{Pod, Zeroable};

use super::hash::{MapSuite, ZERO};
use super::slab::Slab;
use crate::suite::Hash;

/// A 32-byte search key.
pub type Key = [u8; 32];
/// A 32-byte value (in KEYTRANS, a commitment).
pub type Value = [u8; 32];

/// A reference to a stored node: empty, a leaf slot or a branch slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub(crate) struct NodeRef(u32);

const LEAF_BIT: u32 = 1 << 31;
/// Largest slot index of either arena (one bit tags leaves, `u32::MAX` is empty).
pub(crate) const MAX_SLOT: u32 = LEAF_BIT - 2;

/// What a [`NodeRef`] points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Empty,
    Leaf(u32),
    Branch(u32),
}

impl NodeRef {
    pub const EMPTY: NodeRef = NodeRef(u32::MAX);

    pub fn leaf(slot: u32) -> NodeRef {
        debug_assert!(slot <= MAX_SLOT);
        NodeRef(slot | LEAF_BIT)
    }

    pub fn branch(slot: u32) -> NodeRef {
        debug_assert!(slot <= MAX_SLOT);
        NodeRef(slot)
    }

    pub fn node(self) -> Node {
        if self == NodeRef::EMPTY {
            Node::Empty
        } else if self.0 & LEAF_BIT != 0 {
            Node::Leaf(self.0 & !LEAF_BIT)
        } else {
            Node::Branch(self.0)
        }
    }
}

/// A stored key-value pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct Leaf {
    pub key: Key,
    pub value: Value,
}

/// A prefix shared by keys on both sides. Packed (45 bytes, not 48): it is
/// the record format of the on-disk node file, and bytes per key count there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, packed)]
pub(crate) struct Branch {
    /// The node's value at its own depth (before lifting through a chain).
    pub hash: Hash,
    pub left: NodeRef,
    pub right: NodeRef,
    /// A leaf below: its key's first `depth` bits are this branch's prefix.
    pub rep: u32,
    /// Bits of prefix; the children split on bit `depth`.
    pub depth: u8,
}

/// Bit `i` of a key, most significant bit of byte 0 first (KEYTRANS order).
#[inline]
pub(crate) fn bit(key: &Key, i: usize) -> bool {
    key[i / 8] & (0x80 >> (i % 8)) != 0
}

/// Length of the longest common prefix of two keys, in bits (256 if equal).
#[inline]
pub(crate) fn common_prefix(a: &Key, b: &Key) -> usize {
    for i in 0..4 {
        let x = u64::from_be_bytes(a[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        let y = u64::from_be_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        if x != y {
            return 64 * i + (x ^ y).leading_zeros() as usize;
        }
    }
    256
}

/// Lifts `hash`, the value of a node whose prefix is `key`'s first `from`
/// bits, up through the single-child parents to depth `to` (`to <= from`).
pub(crate) fn lift(suite: MapSuite, mut hash: Hash, key: &Key, from: usize, to: usize) -> Hash {
    for d in (to..from).rev() {
        hash = if bit(key, d) { suite.parent_hash(&ZERO, &hash) } else { suite.parent_hash(&hash, &ZERO) };
    }
    hash
}

/// Every node of every retained version, with slots freed by pruning reused.
pub(crate) struct Arena {
    pub leaves: Slab<Leaf>,
    pub branches: Slab<Branch>,
    /// Freed slots, highest first: they are taken from the end, lowest first.
    pub free_leaves: Vec<u32>,
    pub free_branches: Vec<u32>,
    /// Reuse freed slots only once they are a quarter of their file (on disk).
    /// A freed slot sits alone in its page, and a commit writes whole pages:
    /// reusing slots one by one would write a page per node (measured: ~15x
    /// the bytes of appending). Waiting until free slots are dense bounds the
    /// files at 4/3 of the live nodes and writes ~4x the bytes of appending,
    /// only while reusing.
    pub lazy_reuse: bool,
}

impl Arena {
    pub fn new(leaves: Slab<Leaf>, branches: Slab<Branch>, lazy_reuse: bool) -> Arena {
        Arena { leaves, branches, free_leaves: Vec::new(), free_branches: Vec::new(), lazy_reuse }
    }

    /// How many of `free` freed slots (of a file of `len`) an update may take.
    pub fn reusable(&self, free: usize, len: usize) -> usize {
        if self.lazy_reuse && free < len / 4 {
            0
        } else {
            free
        }
    }

    #[inline]
    pub fn leaf(&self, slot: u32) -> &Leaf {
        self.leaves.get(slot)
    }

    #[inline]
    pub fn branch(&self, slot: u32) -> &Branch {
        self.branches.get(slot)
    }

    /// The value of `node` when it hangs at depth `at` (its parent is at `at - 1`).
    pub fn lifted(&self, suite: MapSuite, node: NodeRef, at: usize) -> Hash {
        match node.node() {
            Node::Empty => ZERO,
            Node::Leaf(l) => {
                let leaf = self.leaf(l);
                suite.leaf_hash(&leaf.key, &leaf.value)
            }
            Node::Branch(b) => {
                let br = self.branch(b);
                lift(suite, br.hash, &self.leaf(br.rep).key, br.depth as usize, at)
            }
        }
    }

    /// Bytes held by the arenas (mapped capacity, not just live nodes).
    pub fn bytes(&self) -> usize {
        self.leaves.bytes() + self.branches.bytes() + (self.free_leaves.capacity() + self.free_branches.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_and_prefixes() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        assert_eq!(common_prefix(&a, &b), 256);
        b[31] = 1;
        assert_eq!(common_prefix(&a, &b), 255);
        assert!(bit(&b, 255) && !bit(&b, 254));
        a[0] = 0x80;
        assert_eq!(common_prefix(&a, &b), 0);
        assert!(bit(&a, 0));
        a[0] = 0;
        a[9] = 0x10;
        assert_eq!(common_prefix(&a, &b), 8 * 9 + 3);
    }

    #[test]
    fn node_refs_round_trip() {
        assert_eq!(NodeRef::EMPTY.node(), Node::Empty);
        assert_eq!(NodeRef::leaf(0).node(), Node::Leaf(0));
        assert_eq!(NodeRef::leaf(MAX_SLOT).node(), Node::Leaf(MAX_SLOT));
        assert_eq!(NodeRef::branch(MAX_SLOT).node(), Node::Branch(MAX_SLOT));
    }
}
