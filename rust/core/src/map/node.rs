//! Nodes of a prefix tree, stored in flat arenas.
//!
//! The tree is kept path-compressed: a [`Branch`] is a prefix shared by keys
//! on both of its sides, so every branch has two non-empty children. A
//! branch over a small subtree is a [`Twig`], stored without its hash or
//! `rep` (9 bytes, not 45), its value recomputed when a proof or an update
//! needs it: at most [`TWIG_MAX_NODES`] nodes are read to do so. Every new
//! version copies the paths it changes, and the bottom of each copied path
//! is such small subtrees, so twigs cut the bytes a version keeps per
//! changed key (a KEYTRANS directory of 10^7 labels added in entries of
//! 10^5: 302 bytes of tree a label with cherries only, 212 with twigs).
//! The
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
/// A twig's children use [`TwigChild`]'s own tags.
const KIND_SHIFT: u32 = 30;
/// Largest slot index of any arena.
pub(crate) const MAX_SLOT: u32 = (1 << KIND_SHIFT) - 1;

/// The stored node kinds; each has its own arena (and node file on disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Branch = 0,
    Twig = 1,
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
    Twig(u32),
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
            1 => Node::Twig(slot),
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
            Node::Twig(s) => Some((Kind::Twig, s)),
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

/// A branch over a small subtree, hashed on demand (see the module's notes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(C, packed)]
pub(crate) struct Twig {
    pub left: TwigChild,
    pub right: TwigChild,
    pub depth: u8,
}

/// Most nodes (the twig itself, twigs, branches and leaves below it) read
/// to recompute a twig's value: a new branch is stored as a twig when its
/// value costs no more. A twig over two leaves (a "cherry") costs 3. Larger
/// limits save more bytes and slow proofs: 11 against 5 saves 28 bytes a
/// label of a KEYTRANS directory's tree (5·10^5 labels in 100 entries) and
/// costs 8% of its search rate, no measurable update time (performance.md).
pub(crate) const TWIG_MAX_NODES: u32 = 11;

/// A twig's child: a [`NodeRef`] whose tag says leaf with `00`, so that a
/// twig over two leaves is the record of the older node files' "cherry"
/// (two leaf slots and a depth), which these files still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
#[repr(transparent)]
pub(crate) struct TwigChild(pub u32);

impl TwigChild {
    const LEAF: u32 = 0;
    const TWIG: u32 = 1;
    const BRANCH: u32 = 2;

    /// `node` (stored, not empty) as a twig's child.
    pub fn new(node: NodeRef) -> TwigChild {
        let (kind, slot) = node.stored().expect("a twig's children are stored nodes");
        let tag = match kind {
            Kind::Leaf => Self::LEAF,
            Kind::Twig => Self::TWIG,
            Kind::Branch => Self::BRANCH,
        };
        TwigChild(tag << KIND_SHIFT | slot)
    }

    /// The node it refers to (`None`: the unused tag, damage).
    pub fn node(self) -> Option<NodeRef> {
        let slot = self.0 & MAX_SLOT;
        let kind = match self.0 >> KIND_SHIFT {
            Self::LEAF => Kind::Leaf,
            Self::TWIG => Kind::Twig,
            Self::BRANCH => Kind::Branch,
            _ => return None,
        };
        Some(NodeRef::new(kind, slot))
    }
}

/// What every inner node (branch or twig) has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inner {
    pub left: NodeRef,
    pub right: NodeRef,
    /// A leaf below, whose key's first `depth` bits are the node's prefix:
    /// a branch's stored one, or a twig's left leaf; `None` for a twig whose
    /// left child is inner ([`Arena::rep`] finds it).
    pub rep: Option<u32>,
    pub depth: usize,
}

/// Twigs' values (at their own depths), their depths and leftmost leaves,
/// by slot, computed for one answer: its proofs walk many versions of the
/// tree, which share most nodes, so each twig beside their paths is hashed
/// once. Valid only while the arena is unchanged (an answer borrows it).
#[derive(Default)]
pub struct TwigCache(std::collections::HashMap<u32, (Hash, usize, u32)>);

/// Every node of every retained version, with slots freed by pruning reused.
pub(crate) struct Arena {
    pub leaves: Slab<Leaf>,
    pub branches: Slab<Branch>,
    pub twigs: Slab<Twig>,
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
    pub fn new(leaves: Slab<Leaf>, branches: Slab<Branch>, twigs: Slab<Twig>, lazy_reuse: bool) -> Arena {
        Arena { leaves, branches, twigs, free: Default::default(), lazy_reuse }
    }

    pub fn memory() -> Arena {
        Arena::new(Slab::memory(), Slab::memory(), Slab::memory(), false)
    }

    /// Records in use, per kind.
    pub fn lens(&self) -> [usize; KINDS] {
        [self.branches.len(), self.twigs.len(), self.leaves.len()]
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
    pub fn twig(&self, slot: u32) -> Result<&Twig> {
        self.twigs.get(slot).ok_or_else(|| past_end("twig", slot))
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
                Inner { left, right, rep: Some(rep), depth: br.depth as usize }
            }
            Node::Twig(t) => {
                let tw = *self.twig(t)?;
                let (Some(left), Some(right)) = (tw.left.node(), tw.right.node()) else {
                    return Err(bad_references(node, tw.left.0, tw.right.0, 0));
                };
                let rep = match left.node() {
                    Node::Leaf(l) => Some(l),
                    _ => None,
                };
                // A leaf child must be in the leaf file; an inner one is
                // checked where it is read.
                if [left, right].iter().any(|c| matches!(c.node(), Node::Leaf(l) if l as usize >= self.leaves.len())) {
                    return Err(bad_references(node, tw.left.0, tw.right.0, 0));
                }
                Inner { left, right, rep, depth: tw.depth as usize }
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
            Node::Twig(t) => self.twigs.prefetch(t),
            Node::Empty => {}
        }
    }

    /// Starts loading every node that walks for `keys` from `node` (at
    /// depth `pos`) will read, their siblings, and the nodes below sibling
    /// twigs (whose values are recomputed from them; prefetching them took
    /// the search rate of a KEYTRANS directory from 0.79x to 0.88x of one
    /// without twigs, where prefetching lifted branches' leaves too did not help). A walk for many keys
    /// is depth first, so each of its cache misses would wait for the one
    /// before; here all the keys' paths go down together, a level a round,
    /// and a round's misses overlap. Reads only what earlier rounds asked for.
    pub fn warm<'k>(&self, node: NodeRef, pos: usize, keys: impl Iterator<Item = &'k Key>) {
        let mut at: Vec<(NodeRef, usize, &Key)> = keys.map(|k| (node, pos, k)).collect();
        // Sibling twigs (and twigs below them) prefetched the round before.
        let mut values: Vec<(NodeRef, usize)> = Vec::new();
        self.prefetch(node);
        while !at.is_empty() || !values.is_empty() {
            for (value, pos) in std::mem::take(&mut values) {
                let Ok(Some(inner)) = self.inner(value, pos) else { continue };
                if let Node::Twig(_) = value.node() {
                    for child in [inner.left, inner.right] {
                        self.prefetch(child);
                        if let Node::Twig(_) = child.node() {
                            values.push((child, inner.depth + 1));
                        }
                    }
                }
            }
            at.retain_mut(|(node, pos, key)| {
                // Damage (an error here) is left for the walk to report.
                let Ok(Some(inner)) = self.inner(*node, *pos) else { return false };
                if let Some(rep) = inner.rep.filter(|_| inner.depth > *pos) {
                    self.leaves.prefetch(rep);
                }
                let (next, other) =
                    if bit(key, inner.depth) { (inner.right, inner.left) } else { (inner.left, inner.right) };
                self.prefetch(next);
                self.prefetch(other);
                if let Node::Twig(_) = other.node() {
                    values.push((other, inner.depth + 1));
                }
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
            Node::Twig(_) => {
                let mut budget = TWIG_MAX_NODES;
                let (hash, depth, rep) = self.twig_hash(suite, node, at, &mut budget)?;
                lift(suite, hash, &self.leaf(rep)?.key, depth, at)
            }
        })
    }

    /// [`Self::lifted`], taking twigs' values from `cache` (and keeping the
    /// ones it computes there).
    pub fn lifted_cached(&self, suite: MapSuite, node: NodeRef, at: usize, cache: &mut TwigCache) -> Result<Hash> {
        let Node::Twig(t) = node.node() else { return self.lifted(suite, node, at) };
        let (hash, depth, rep) = match cache.0.get(&t) {
            Some(&known) => known,
            None => {
                let mut budget = TWIG_MAX_NODES;
                let known = self.twig_hash(suite, node, at, &mut budget)?;
                cache.0.insert(t, known);
                known
            }
        };
        check_depth(node, depth, at)?;
        Ok(lift(suite, hash, &self.leaf(rep)?.key, depth, at))
    }

    /// Twig `node`'s value at its own depth, that depth, and its leftmost
    /// leaf, reading at most `budget` nodes: a twig was made only if its
    /// value costs at most [`TWIG_MAX_NODES`], so more is damage (a damaged
    /// file could otherwise make one twig's value cost 2^256 reads).
    fn twig_hash(&self, suite: MapSuite, node: NodeRef, at: usize, budget: &mut u32) -> Result<(Hash, usize, u32)> {
        let inner = self.inner(node, at)?.expect("a twig");
        let visit = |budget: &mut u32| {
            *budget = budget.checked_sub(1).ok_or_else(|| damaged_node(format!("{:?} costs more than a twig may", node.node())))?;
            Ok::<(), Error>(())
        };
        visit(budget)?;
        let at = inner.depth + 1;
        let side = |child: NodeRef, budget: &mut u32| -> Result<(Hash, u32)> {
            visit(budget)?;
            Ok(match child.node() {
                Node::Twig(_) => {
                    // Its own visit was counted above.
                    *budget += 1;
                    let (hash, depth, rep) = self.twig_hash(suite, child, at, budget)?;
                    (lift(suite, hash, &self.leaf(rep)?.key, depth, at), rep)
                }
                Node::Leaf(l) => (self.lifted(suite, child, at)?, l),
                _ => {
                    let rep = self.inner(child, at)?.and_then(|i| i.rep).expect("a branch");
                    (self.lifted(suite, child, at)?, rep)
                }
            })
        };
        let (left, rep) = side(inner.left, budget)?;
        let (right, _) = side(inner.right, budget)?;
        Ok((suite.parent_hash(&left, &right), inner.depth, rep))
    }

    /// A leaf below `inner` (the one [`Inner::rep`] names, or the leftmost).
    pub fn rep(&self, inner: &Inner) -> Result<u32> {
        if let Some(rep) = inner.rep {
            return Ok(rep);
        }
        let (mut node, mut at) = (inner.left, inner.depth + 1);
        // Depths grow at every step ([`Self::inner`] checks): at most 256.
        loop {
            match self.inner(node, at)? {
                Some(Inner { rep: Some(rep), .. }) => return Ok(rep),
                Some(i) => (node, at) = (i.left, i.depth + 1),
                None => match node.node() {
                    Node::Leaf(l) => return Ok(l),
                    _ => return Err(damaged_node("an empty child")),
                },
            }
        }
    }

    /// How many nodes recomputing the value of `node` (hanging at depth
    /// `at`) reads: 1 for a stored hash or a leaf, `None` past
    /// [`TWIG_MAX_NODES`].
    pub fn cost(&self, node: NodeRef, at: usize) -> Result<Option<u32>> {
        let mut left = TWIG_MAX_NODES;
        Ok(self.count(node, at, &mut left)?.then_some(TWIG_MAX_NODES - left))
    }

    /// Takes the nodes recomputing `node`'s value reads from `left`: false
    /// if they are more (it stops there, so damage cannot make it long).
    fn count(&self, node: NodeRef, at: usize, left: &mut u32) -> Result<bool> {
        let Some(rest) = left.checked_sub(1) else { return Ok(false) };
        *left = rest;
        let Node::Twig(_) = node.node() else { return Ok(true) };
        let inner = self.inner(node, at)?.expect("a twig");
        Ok(self.count(inner.left, inner.depth + 1, left)? && self.count(inner.right, inner.depth + 1, left)?)
    }

    /// Forgets the records past `lens` (per kind), written by an update
    /// that did not become a version.
    pub fn truncate(&mut self, lens: [usize; KINDS]) {
        self.branches.truncate(lens[Kind::Branch as usize]);
        self.twigs.truncate(lens[Kind::Twig as usize]);
        self.leaves.truncate(lens[Kind::Leaf as usize]);
    }

    /// Views of another process's node files take the records in use `lens`.
    pub fn refresh(&mut self, lens: [usize; KINDS]) -> Result<()> {
        self.branches.refresh(lens[Kind::Branch as usize])?;
        self.twigs.refresh(lens[Kind::Twig as usize])?;
        self.leaves.refresh(lens[Kind::Leaf as usize])
    }

    /// Makes every node written so far durable (a no-op in memory).
    pub fn sync(&self) -> Result<()> {
        self.leaves.sync()?;
        self.branches.sync()?;
        self.twigs.sync()
    }

    /// Bytes held by the arenas (mapped capacity, not just live nodes).
    pub fn bytes(&self) -> usize {
        let free: usize = self.free.iter().map(|f| f.capacity() * 4).sum();
        self.leaves.bytes() + self.branches.bytes() + self.twigs.bytes() + free
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
        assert_eq!(NodeRef::new(Kind::Twig, 0).node(), Node::Twig(0));
        assert_eq!(NodeRef::new(Kind::Twig, 7).stored(), Some((Kind::Twig, 7)));
        assert_eq!(NodeRef::EMPTY.stored(), None);
        for node in [NodeRef::leaf(0), NodeRef::leaf(MAX_SLOT), NodeRef::new(Kind::Twig, 3), NodeRef::new(Kind::Branch, 9)] {
            assert_eq!(TwigChild::new(node).node(), Some(node));
        }
        // A cherry's leaf slots are a twig's leaf children.
        assert_eq!(TwigChild(5).node(), Some(NodeRef::leaf(5)));
        assert_eq!(TwigChild(u32::MAX).node(), None);
    }
}
