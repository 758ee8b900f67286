//! Nodes of a prefix tree, stored in flat arenas.
//!
//! The tree is kept path-compressed: a [`Branch`] is a prefix shared by keys
//! on both of its sides, so every branch has two non-empty children. A
//! branch over two leaves is a [`Cherry`], stored without its hash or `rep`
//! (9 bytes, not 45): about 36% of the branches of random keys are cherries,
//! so this saves ~13 of 109 bytes per key, and a cherry's hash costs three
//! hashes to recompute when a proof or an update needs it. The
//! single-child parents of the KEYTRANS tree that sit between two branches
//! (a "chain") are not stored: their values follow from the branch below and
//! the prefix bits ([`Arena::lifted`]). A leaf sits right under its parent
//! branch, at the shallowest depth where its key is alone, so it never needs
//! lifting.
//!
//! Nodes are immutable once written: a new version copies the paths it
//! changes and shares everything else with older versions.

use bytemuck::{Pod, Zeroable};

use crate::error::{Error, Result};
pub use crate::prefix::{bit, common_prefix, key_cmp, lift, Key, Value};
use crate::prefix::{MapSuite, ZERO};
use crate::storage::slab::Slab;
use crate::suite::Hash;

/// A reference to a stored node: empty, or a slot of one kind's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub(crate) struct NodeRef(u32);

/// The top two bits of a [`NodeRef`] name the kind (`11` only in `EMPTY`).
const KIND_SHIFT: u32 = 30;
/// Largest slot index of any arena.
pub(crate) const MAX_SLOT: u32 = (1 << KIND_SHIFT) - 1;

/// The stored node kinds; each has its own arena (and node file on disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Branch = 0,
    Cherry = 1,
    Leaf = 2,
}

/// How many stored kinds there are: per-kind counts are `[_; KINDS]`,
/// indexed by `Kind as usize`.
pub(crate) const KINDS: usize = 3;

/// What a [`NodeRef`] points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    Empty,
    Leaf(u32),
    Branch(u32),
    Cherry(u32),
}

impl NodeRef {
    pub const EMPTY: NodeRef = NodeRef(u32::MAX);

    pub fn new(kind: Kind, slot: u32) -> NodeRef {
        debug_assert!(slot <= MAX_SLOT);
        NodeRef((kind as u32) << KIND_SHIFT | slot)
    }

    pub fn leaf(slot: u32) -> NodeRef {
        NodeRef::new(Kind::Leaf, slot)
    }

    pub fn node(self) -> Node {
        let slot = self.0 & MAX_SLOT;
        match self.0 >> KIND_SHIFT {
            0 => Node::Branch(slot),
            1 => Node::Cherry(slot),
            2 => Node::Leaf(slot),
            _ => Node::Empty,
        }
    }

    /// The kind and slot of a stored node (`None` for `EMPTY`).
    pub fn stored(self) -> Option<(Kind, u32)> {
        match self.node() {
            Node::Empty => None,
            Node::Leaf(s) => Some((Kind::Leaf, s)),
            Node::Branch(s) => Some((Kind::Branch, s)),
            Node::Cherry(s) => Some((Kind::Cherry, s)),
        }
    }

    pub fn is_leaf(self) -> bool {
        matches!(self.node(), Node::Leaf(_))
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

/// A branch whose children are both leaves (slots), hashed on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, packed)]
pub(crate) struct Cherry {
    pub left: u32,
    pub right: u32,
    pub depth: u8,
}

/// What every inner node (branch or cherry) has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inner {
    pub left: NodeRef,
    pub right: NodeRef,
    /// A leaf below, whose key's first `depth` bits are the node's prefix.
    pub rep: u32,
    pub depth: usize,
}

/// Every node of every retained version, with slots freed by pruning reused.
pub(crate) struct Arena {
    pub leaves: Slab<Leaf>,
    pub branches: Slab<Branch>,
    pub cherries: Slab<Cherry>,
    /// Freed slots per kind, highest first: taken from the end, lowest first.
    pub free: [Vec<u32>; KINDS],
    /// Reuse freed slots only once they are a quarter of their file (on disk).
    /// A freed slot sits alone in its page, and a commit writes whole pages:
    /// reusing slots one by one would write a page per node (measured: ~15x
    /// the bytes of appending). Waiting until free slots are dense bounds the
    /// files at 4/3 of the live nodes and writes ~4x the bytes of appending,
    /// only while reusing.
    pub lazy_reuse: bool,
}

impl Arena {
    pub fn new(leaves: Slab<Leaf>, branches: Slab<Branch>, cherries: Slab<Cherry>, lazy_reuse: bool) -> Arena {
        Arena { leaves, branches, cherries, free: Default::default(), lazy_reuse }
    }

    pub fn memory() -> Arena {
        Arena::new(Slab::memory(), Slab::memory(), Slab::memory(), false)
    }

    /// Records in use, per kind.
    pub fn lens(&self) -> [usize; KINDS] {
        [self.branches.len(), self.cherries.len(), self.leaves.len()]
    }

    /// How many freed slots of `kind` an update may take.
    pub fn reusable(&self, kind: Kind) -> usize {
        let free = self.free[kind as usize].len();
        if self.lazy_reuse && free < self.lens()[kind as usize] / 4 {
            0
        } else {
            free
        }
    }

    #[inline]
    pub fn leaf(&self, slot: u32) -> Result<&Leaf> {
        self.leaves.get(slot).ok_or_else(|| past_end("leaf", slot))
    }

    #[inline]
    pub fn branch(&self, slot: u32) -> Result<&Branch> {
        self.branches.get(slot).ok_or_else(|| past_end("branch", slot))
    }

    #[inline]
    pub fn cherry(&self, slot: u32) -> Result<&Cherry> {
        self.cherries.get(slot).ok_or_else(|| past_end("cherry", slot))
    }

    /// The children, prefix and a leaf below `node`, an inner node hanging
    /// at depth `at` (`None` for a leaf or an empty node).
    ///
    /// Everything a walk relies on is checked here, so a damaged node file
    /// gives an error, never a panic or an endless walk: the node is in its
    /// file; its children are stored nodes (a branch has two non-empty
    /// sides; the empty reference and the unused kind tag are damage); its
    /// leaf slots are in the leaf file; and its depth is at least `at`. A
    /// walk passes `at` = the parent's depth + 1, so depths strictly grow
    /// along it, and as a depth is a byte (< 256), no walk takes more than
    /// 256 steps through inner nodes — a reference back to an ancestor or
    /// to the node itself is refused at the first step.
    ///
    /// Always inlined: a lookup is a loop over this (measured: the call
    /// alone cost ~10% of a `get` on a 10^6-key map).
    #[inline(always)]
    pub fn inner(&self, node: NodeRef, at: usize) -> Result<Option<Inner>> {
        let inner = match node.node() {
            Node::Branch(b) => {
                let br = self.branch(b)?;
                let (left, right, rep) = (br.left, br.right, br.rep);
                if left.stored().is_none() || right.stored().is_none() || rep as usize >= self.leaves.len() {
                    return Err(bad_references(node, left.0, right.0, rep));
                }
                Inner { left, right, rep, depth: br.depth as usize }
            }
            Node::Cherry(c) => {
                let ch = *self.cherry(c)?;
                let (left, right) = (ch.left, ch.right);
                if left.max(right) as usize >= self.leaves.len() {
                    return Err(bad_references(node, left, right, left));
                }
                Inner { left: NodeRef::leaf(left), right: NodeRef::leaf(right), rep: left, depth: ch.depth as usize }
            }
            Node::Leaf(_) | Node::Empty => return Ok(None),
        };
        check_depth(node, inner.depth, at)?;
        Ok(Some(inner))
    }

    /// Starts loading `node`'s record into the cache (a hint).
    #[inline]
    pub fn prefetch(&self, node: NodeRef) {
        match node.node() {
            Node::Leaf(l) => self.leaves.prefetch(l),
            Node::Branch(b) => self.branches.prefetch(b),
            Node::Cherry(c) => self.cherries.prefetch(c),
            Node::Empty => {}
        }
    }

    /// Starts loading every node that walks for `keys` from `node` (at
    /// depth `pos`) will read, and their siblings. A walk for many keys is
    /// depth first, so each of its cache misses would wait for the one
    /// before; here all the keys' paths go down together, a level a round,
    /// and a round's misses overlap. Reads only what earlier rounds asked for.
    pub fn warm<'k>(&self, node: NodeRef, pos: usize, keys: impl Iterator<Item = &'k Key>) {
        let mut at: Vec<(NodeRef, usize, &Key)> = keys.map(|k| (node, pos, k)).collect();
        self.prefetch(node);
        while !at.is_empty() {
            at.retain_mut(|(node, pos, key)| {
                // Damage (an error here) is left for the walk to report.
                let Ok(Some(inner)) = self.inner(*node, *pos) else { return false };
                if inner.depth > *pos {
                    self.leaves.prefetch(inner.rep);
                }
                let (next, other) =
                    if bit(key, inner.depth) { (inner.right, inner.left) } else { (inner.left, inner.right) };
                self.prefetch(next);
                self.prefetch(other);
                (*node, *pos) = (next, inner.depth + 1);
                true
            });
        }
    }

    /// The value of `node` when it hangs at depth `at` (its parent is at `at - 1`).
    pub fn lifted(&self, suite: MapSuite, node: NodeRef, at: usize) -> Result<Hash> {
        Ok(match node.node() {
            Node::Empty => ZERO,
            Node::Leaf(l) => {
                let leaf = self.leaf(l)?;
                suite.leaf_hash(&leaf.key, &leaf.value)
            }
            Node::Branch(b) => {
                let br = self.branch(b)?;
                let depth = check_depth(node, br.depth as usize, at)?;
                if depth == at {
                    // No chain to lift through: the leaf (a cache miss) is not needed.
                    return Ok(br.hash);
                }
                lift(suite, br.hash, &self.leaf(br.rep)?.key, depth, at)
            }
            Node::Cherry(c) => {
                let ch = *self.cherry(c)?;
                let depth = check_depth(node, ch.depth as usize, at)?;
                let (l, r) = (self.leaf(ch.left)?, self.leaf(ch.right)?);
                let hash = suite.parent_hash(&suite.leaf_hash(&l.key, &l.value), &suite.leaf_hash(&r.key, &r.value));
                lift(suite, hash, &l.key, depth, at)
            }
        })
    }

    /// Forgets the records past `lens` (per kind), written by an update
    /// that did not become a version.
    pub fn truncate(&mut self, lens: [usize; KINDS]) {
        self.branches.truncate(lens[Kind::Branch as usize]);
        self.cherries.truncate(lens[Kind::Cherry as usize]);
        self.leaves.truncate(lens[Kind::Leaf as usize]);
    }

    /// Views of another process's node files take the records in use `lens`.
    pub fn refresh(&mut self, lens: [usize; KINDS]) -> Result<()> {
        self.branches.refresh(lens[Kind::Branch as usize])?;
        self.cherries.refresh(lens[Kind::Cherry as usize])?;
        self.leaves.refresh(lens[Kind::Leaf as usize])
    }

    /// Makes every node written so far durable (a no-op in memory).
    pub fn sync(&self) -> Result<()> {
        self.leaves.sync()?;
        self.branches.sync()?;
        self.cherries.sync()
    }

    /// Bytes held by the arenas (mapped capacity, not just live nodes).
    pub fn bytes(&self) -> usize {
        let free: usize = self.free.iter().map(|f| f.capacity() * 4).sum();
        self.leaves.bytes() + self.branches.bytes() + self.cherries.bytes() + free
    }
}

/// The error for node files whose contents cannot be the tree a version
/// refers to. [`crate::map::Map::check`] finds all such damage; walks find
/// what lies on their paths.
#[cold]
pub(crate) fn damaged_node(what: impl std::fmt::Display) -> Error {
    crate::error::damaged(format!("damaged node file: {what}"))
}

// The error paths of the checks below are out of line, so the checks cost
// a compare and a not-taken branch each in the walks that inline them.

#[cold]
#[inline(never)]
fn past_end(what: &str, slot: u32) -> Error {
    damaged_node(format!("a {what} reference ({slot}) past the end of its file"))
}

#[cold]
#[inline(never)]
fn bad_references(node: NodeRef, left: u32, right: u32, rep: u32) -> Error {
    damaged_node(format!("{:?} refers to {left:#010x} and {right:#010x}, leaf {rep}", node.node()))
}

#[cold]
#[inline(never)]
fn too_shallow(node: NodeRef, depth: usize, at: usize) -> Error {
    damaged_node(format!("{:?} at depth {depth} hangs below depth {at}", node.node()))
}

/// `depth` (an inner node's) if the node may hang at depth `at`: a node
/// splits on a bit at or below the depth where it hangs.
#[inline]
fn check_depth(node: NodeRef, depth: usize, at: usize) -> Result<usize> {
    if depth < at {
        return Err(too_shallow(node, depth, at));
    }
    Ok(depth)
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
        for (x, y) in [(a, b), (b, a), (a, a), ([0xFF; 32], a)] {
            assert_eq!(key_cmp(&x, &y), x.cmp(&y));
        }
    }

    #[test]
    fn node_refs_round_trip() {
        assert_eq!(NodeRef::EMPTY.node(), Node::Empty);
        assert_eq!(NodeRef::leaf(0).node(), Node::Leaf(0));
        assert_eq!(NodeRef::leaf(MAX_SLOT).node(), Node::Leaf(MAX_SLOT));
        assert_eq!(NodeRef::new(Kind::Branch, MAX_SLOT).node(), Node::Branch(MAX_SLOT));
        assert_eq!(NodeRef::new(Kind::Cherry, 0).node(), Node::Cherry(0));
        assert_eq!(NodeRef::new(Kind::Cherry, 7).stored(), Some((Kind::Cherry, 7)));
        assert_eq!(NodeRef::EMPTY.stored(), None);
    }
}
