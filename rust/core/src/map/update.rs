//! Applying a sorted batch of changes to a prefix tree: the new version's
//! nodes are built beside the old ones (path copying), hashed, then stored.
//!
//! A large batch is split along the existing tree into units that share no
//! node, each built and hashed on its own core into its own [`Chunk`]; the
//! few branches above the units ("frames") are made last. Within a unit,
//! hashing is deferred until the unit's shape is known, so branches of equal
//! height are hashed together (one SIMD batch for BLAKE3).

use rayon::prelude::*;

use super::node::{
    bit, common_prefix, damaged_node, key_cmp, lift, Arena, Branch, Key, Kind, Leaf, Node, NodeRef, Twig, TwigChild,
    Value, KINDS, MAX_SLOT, TWIG_MAX_NODES,
};
use crate::error::{invalid, Result};
use crate::prefix::{self, MapSuite, ZERO};
use crate::suite::Hash;

/// One change: an upsert (`key → value`) or a removal (no value).
pub(crate) trait Op: Sync + Sized {
    fn key(&self) -> &Key;
    fn value(&self) -> Option<&Value>;
    /// The new leaves `ops` make: every upsert makes exactly one, in key
    /// order, so a unit's upserts are its new leaves, uncopied.
    fn leaves(ops: &[Self]) -> &[Leaf];
}

impl Op for Leaf {
    fn key(&self) -> &Key {
        &self.key
    }
    fn value(&self) -> Option<&Value> {
        Some(&self.value)
    }
    fn leaves(ops: &[Leaf]) -> &[Leaf] {
        ops
    }
}

/// A removal.
impl Op for Key {
    fn key(&self) -> &Key {
        self
    }
    fn value(&self) -> Option<&Value> {
        None
    }
    fn leaves(_: &[Key]) -> &[Leaf] {
        &[]
    }
}

/// Batches at least this large are split into units built in parallel
/// (measured, 10^3 / 10^4 / 10^5 new keys into 10^6: 5.1 / 33-35 /
/// 177-190 ms a batch with 256, 7.8-8.5 / 36-43 / 240-258 ms with 8192).
pub(super) const PAR_MIN_OPS: usize = 256;
/// Units of at most this many ops warm their paths first ([`Arena::warm`]); a bigger one
/// (a batch of removals, which is never split) would evict what it warms
/// before the walk got there.
const WARM_MAX_OPS: usize = 1 << 12;

/// A node of the version being built: an existing one, or a new one in a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BRef {
    Old(NodeRef),
    NewLeaf(u32, u32),
    NewBranch(u32, u32),
}

const EMPTY: BRef = BRef::Old(NodeRef::EMPTY);

/// A branch of the version being built.
struct NewBranch {
    hash: Hash,
    left: BRef,
    right: BRef,
    /// A leaf below (always a leaf reference).
    rep: BRef,
    depth: u8,
}

/// The new nodes made by one unit (or by the frames above the units).
#[derive(Default)]
struct Chunk<'o> {
    /// The unit's upserts, which are its new leaves.
    leaves: &'o [Leaf],
    branches: Vec<NewBranch>,
    /// Old nodes this version no longer reaches.
    stale: Vec<NodeRef>,
    /// Old leaves whose values this chunk replaced.
    replaced: u64,
}

/// What a version change produced, ready to be stored.
pub(crate) struct Applied {
    pub root: NodeRef,
    pub hash: Hash,
    pub stale: Vec<NodeRef>,
    /// Upserts that replaced an existing key's value (the rest were inserts).
    pub replaced: u64,
    /// Freed slots the new nodes took, per kind: the last ones of the free
    /// lists, which stay listed until the version is durable.
    pub reused: [usize; KINDS],
}

/// Levels at the bottom of a tree where new branches may be twigs. The
/// levels above hold about `keys / 2^TWIG_LEVELS` nodes a version, so their
/// hashes cost a few bytes a key; every proof walks them, and recomputing
/// twigs there cost a quarter of the search rate of a KEYTRANS directory
/// (10^6 labels, twigs of up to 15 reads at every level: 7.5 k/s, 9.9 k/s without).
const TWIG_LEVELS: u32 = 10;

/// The shallowest depth of a new twig in a tree of about `keys` keys.
pub(crate) fn twig_from(keys: u64) -> usize {
    (u64::BITS - keys.leading_zeros()).saturating_sub(TWIG_LEVELS) as usize
}

/// Applies `ops` (sorted by key, unique, validated against the tree) to the
/// tree rooted at `root`, and stores the new nodes in `arena`; new branches
/// from depth `twig_from` on may be stored as twigs.
///
/// Every node read is checked ([`Arena::inner`], [`Arena::lifted`]): damage
/// on the paths the batch walks, or beside them, is a `Storage` error, and
/// the arena is left as it was.
pub(crate) fn apply<O: Op>(
    suite: MapSuite,
    arena: &mut Arena,
    root: NodeRef,
    ops: &[O],
    twig_from: usize,
) -> Result<Applied> {
    let plan = plan(arena, root, 0, ops)?;
    let mut units = Vec::new();
    plan.units(&mut units);
    let shared: &Arena = arena;
    let built: Vec<Result<(Chunk, BRef)>> = units
        .into_par_iter()
        .enumerate()
        .map(|(i, (node, pos, ops))| {
            let chunk = Chunk { leaves: O::leaves(ops), ..Chunk::default() };
            let mut b = Builder { suite, arena: shared, id: i as u32, chunk, made_leaves: 0 };
            // An upsert makes about one branch: no regrowing. Removals make few.
            if !b.chunk.leaves.is_empty() {
                b.chunk.branches.reserve_exact(ops.len());
            }
            if ops.len() <= WARM_MAX_OPS {
                shared.warm(node, pos, ops.iter().map(O::key));
            }
            let top = b.update(node, pos, ops)?;
            debug_assert_eq!(b.made_leaves, b.chunk.leaves.len());
            b.hash_all()?;
            Ok((b.chunk, top))
        })
        .collect();
    let (mut chunks, roots): (Vec<Chunk>, Vec<BRef>) =
        built.into_iter().collect::<Result<Vec<_>>>()?.into_iter().unzip();
    let mut frames = Frames { suite, arena: shared, chunks: &chunks, top: Chunk::default(), next_unit: 0 };
    let id = chunks.len() as u32;
    let top = frames.make(&plan, &roots, id)?;
    let hash = value_at(
        suite,
        shared,
        &|c| {
            if c == id {
                &frames.top
            } else {
                &frames.chunks[c as usize]
            }
        },
        top,
        0,
    )?;
    let top_chunk = frames.top;
    chunks.push(top_chunk);
    let stale = chunks.iter().flat_map(|c| c.stale.iter().copied()).collect();
    let replaced = chunks.iter().map(|c| c.replaced).sum();
    let (root, reused) = store(arena, &chunks, top, twig_from)?;
    Ok(Applied { root, hash, stale, replaced, reused })
}

/// How a batch is split: units built independently, joined by frame branches.
enum Plan<'o, O> {
    Unit(NodeRef, usize, &'o [O]),
    /// A branch at `depth` over two planned sides; `old` is the branch it replaces.
    Split {
        old: NodeRef,
        depth: usize,
        left: Box<Plan<'o, O>>,
        right: Box<Plan<'o, O>>,
    },
}

impl<'o, O> Plan<'o, O> {
    fn units(&self, out: &mut Vec<(NodeRef, usize, &'o [O])>) {
        match self {
            Plan::Unit(n, pos, ops) => out.push((*n, *pos, ops)),
            Plan::Split { left, right, .. } => {
                left.units(out);
                right.units(out);
            }
        }
    }
}

/// Splits where the outcome's shape is certain: at an existing branch every
/// op falls under (so it stays a branch, both sides keeping keys), or, in an
/// empty subtree, at the first bit where the batch's keys differ. Removals
/// could empty a side, so batches of removals are never split. Each level
/// goes at least one bit deeper ([`Arena::inner`] checks), so a damaged
/// reference back up the tree cannot make it recurse without end.
fn plan<'o, O: Op>(arena: &Arena, node: NodeRef, pos: usize, ops: &'o [O]) -> Result<Plan<'o, O>> {
    let unit = Plan::Unit(node, pos, ops);
    if ops.len() < PAR_MIN_OPS || ops[0].value().is_none() {
        return Ok(unit);
    }
    let (first, last) = (ops[0].key(), ops[ops.len() - 1].key());
    let (depth, left, right) = match arena.inner(node, pos)? {
        Some(inner) => {
            let rep = &arena.leaf(arena.rep(&inner)?)?.key;
            if common_prefix(first, rep).min(common_prefix(last, rep)) < inner.depth {
                return Ok(unit);
            }
            (inner.depth, inner.left, inner.right)
        }
        None if node.is_leaf() => return Ok(unit),
        None => (common_prefix(first, last), NodeRef::EMPTY, NodeRef::EMPTY),
    };
    let split = ops.partition_point(|o| !bit(o.key(), depth));
    Ok(Plan::Split {
        old: node,
        depth,
        left: Box::new(plan(arena, left, depth + 1, &ops[..split])?),
        right: Box::new(plan(arena, right, depth + 1, &ops[split..])?),
    })
}

/// Builds one unit into its own chunk.
struct Builder<'a, 'o> {
    suite: MapSuite,
    arena: &'a Arena,
    id: u32,
    chunk: Chunk<'o>,
    made_leaves: usize,
}

impl Builder<'_, '_> {
    /// The subtree at depth `pos` that `node` becomes once `ops` (all under
    /// the prefix of `pos` bits) are applied. Each call goes at least one
    /// bit deeper than its caller's node, so it recurses at most 257 levels.
    fn update<O: Op>(&mut self, node: NodeRef, pos: usize, ops: &[O]) -> Result<BRef> {
        if ops.is_empty() {
            return Ok(BRef::Old(node));
        }
        let Some(br) = self.arena.inner(node, pos)? else {
            let Node::Leaf(l) = node.node() else { return self.fresh(pos, ops, None) };
            let key = self.arena.leaf(l)?.key;
            return match ops.binary_search_by(|o| key_cmp(o.key(), &key)) {
                Ok(i) => {
                    self.chunk.stale.push(node);
                    if ops[i].value().is_none() {
                        // Validated: the only key under a leaf is its own.
                        if ops.len() > 1 {
                            return Err(damaged_node("keys found in the map are not on their paths"));
                        }
                        return Ok(EMPTY);
                    }
                    self.chunk.replaced += 1;
                    self.fresh(pos, ops, None)
                }
                Err(_) if common_prefix(&key, ops[0].key()) < pos => {
                    Err(damaged_node(format!("leaf {l} is not on the path of its prefix")))
                }
                Err(_) => self.fresh(pos, ops, Some((node, key))),
            };
        };
        let depth = br.depth;
        if depth > pos {
            // The branch's prefix runs past the path: its leaf holds the
            // rest of it. (At `depth == pos` the path is the whole prefix,
            // which every op shares: reading the leaf would cost a cache
            // miss for nothing.)
            let rep_slot = self.arena.rep(&br)?;
            let rep = self.arena.leaf(rep_slot)?.key;
            let (first, last) = (ops[0].key(), ops[ops.len() - 1].key());
            let diverge = common_prefix(first, &rep).min(common_prefix(last, &rep));
            if diverge < pos {
                return Err(damaged_node(format!("{:?}'s leaf {rep_slot} is not on the path of its prefix", node.node())));
            }
            if diverge < depth {
                return self.diverge(node, ops, &rep, diverge);
            }
        }
        self.chunk.stale.push(node);
        let split = ops.partition_point(|o| !bit(o.key(), depth));
        let l = self.update(br.left, depth + 1, &ops[..split])?;
        let r = self.update(br.right, depth + 1, &ops[split..])?;
        self.make_branch(depth, l, r)
    }

    /// `ops` leave the prefix of `node` (whose leaf's key is `rep`) at bit
    /// `diverge`: a new branch there, the old node below it on one side.
    /// Left side first: new leaves are made in key order.
    fn diverge<O: Op>(&mut self, node: NodeRef, ops: &[O], rep: &Key, diverge: usize) -> Result<BRef> {
        let split = ops.partition_point(|o| !bit(o.key(), diverge));
        let (l, r) = (&ops[..split], &ops[split..]);
        let (l, r) = if bit(rep, diverge) {
            let fresh = self.fresh(diverge + 1, l, None)?;
            (fresh, self.update(node, diverge + 1, r)?)
        } else {
            let kept = self.update(node, diverge + 1, l)?;
            (kept, self.fresh(diverge + 1, r, None)?)
        };
        self.make_branch(diverge, l, r)
    }

    /// [`Self::build`], for a walk that reached a place with no key of
    /// `ops`: removals (validated by lookups, which found their keys) must
    /// not end there, so on a damaged tree they are an error here.
    fn fresh<O: Op>(&mut self, pos: usize, ops: &[O], extra: Option<(NodeRef, Key)>) -> Result<BRef> {
        if ops.first().is_some_and(|o| o.value().is_none()) {
            return Err(damaged_node("keys found in the map are not on their paths"));
        }
        Ok(self.build(pos, ops, extra))
    }

    /// A new subtree at depth `pos` holding the upserts `ops` and, if given,
    /// an existing leaf (whose key is not among them and shares their first
    /// `pos` bits). Reads nothing from the arena, so nothing can fail.
    fn build<O: Op>(&mut self, pos: usize, ops: &[O], extra: Option<(NodeRef, Key)>) -> BRef {
        match (ops.len(), extra) {
            (0, None) => return EMPTY,
            (0, Some((leaf, _))) => return BRef::Old(leaf),
            (1, None) => return self.new_leaf(&ops[0]),
            _ => {}
        }
        let mut first = ops.first().map(|o| o.key());
        let mut last = ops.last().map(|o| o.key());
        if let Some((_, k)) = &extra {
            first = first.filter(|f| *f < k).or(Some(k));
            last = last.filter(|l| *l > k).or(Some(k));
        }
        let depth = common_prefix(first.expect("two keys"), last.expect("two keys"));
        debug_assert!(depth >= pos && depth < 256);
        let split = ops.partition_point(|o| !bit(o.key(), depth));
        let (le, re) = match extra {
            Some((_, k)) if bit(&k, depth) => (None, extra),
            _ => (extra, None),
        };
        let l = self.build(depth + 1, &ops[..split], le);
        let r = self.build(depth + 1, &ops[split..], re);
        // Both sides hold a key: the first and last keys differ at `depth`.
        // The left one is a leaf (new, or `extra`) or a new branch.
        debug_assert!(l != EMPTY && r != EMPTY);
        let rep = match l {
            BRef::NewBranch(_, i) => self.chunk.branches[i as usize].rep,
            _ => l,
        };
        self.push_branch(depth, l, r, rep)
    }

    fn new_leaf<O: Op>(&mut self, op: &O) -> BRef {
        debug_assert!(op.value().is_some(), "validated: removals only meet existing leaves");
        debug_assert_eq!(&self.chunk.leaves[self.made_leaves].key, op.key());
        self.made_leaves += 1;
        BRef::NewLeaf(self.id, self.made_leaves as u32 - 1)
    }

    /// A branch splitting on bit `depth`; an empty side makes it collapse
    /// into the other side.
    fn make_branch(&mut self, depth: usize, l: BRef, r: BRef) -> Result<BRef> {
        if l == EMPTY {
            return Ok(r);
        }
        if r == EMPTY {
            return Ok(l);
        }
        let rep = rep_leaf(self.arena, &|_| &self.chunk, l)?;
        Ok(self.push_branch(depth, l, r, rep))
    }

    fn push_branch(&mut self, depth: usize, l: BRef, r: BRef, rep: BRef) -> BRef {
        self.chunk.branches.push(NewBranch { hash: ZERO, left: l, right: r, rep, depth: depth as u8 });
        BRef::NewBranch(self.id, self.chunk.branches.len() as u32 - 1)
    }

    /// Hashes every new branch of the chunk, children before parents; all
    /// branches of one height go through the suite's batch hashing together.
    fn hash_all(&mut self) -> Result<()> {
        let (suite, arena) = (self.suite, self.arena);
        // A leaf is laid out as its hash input: key, then value.
        let pairs: &[Hash] = bytemuck::cast_slice(self.chunk.leaves);
        let mut leaf_hashes = vec![ZERO; self.chunk.leaves.len()];
        suite.hash_many(prefix::Kind::Leaf, pairs, &mut leaf_hashes);
        // Creation order puts children first, so heights come out in one pass.
        let mut height = vec![0u16; self.chunk.branches.len()];
        let mut levels: Vec<Vec<u32>> = Vec::new();
        for (i, b) in self.chunk.branches.iter().enumerate() {
            let h = |c: BRef| match c {
                BRef::NewBranch(_, j) => height[j as usize],
                _ => 0,
            };
            let hi = 1 + h(b.left).max(h(b.right));
            height[i] = hi;
            if levels.len() < hi as usize {
                levels.resize_with(hi as usize, Vec::new);
            }
            levels[hi as usize - 1].push(i as u32);
        }
        let mut inputs = Vec::new();
        let mut out = Vec::new();
        for level in levels {
            inputs.clear();
            for &i in &level {
                let b = &self.chunk.branches[i as usize];
                let at = b.depth as usize + 1;
                for c in [b.left, b.right] {
                    inputs.push(match c {
                        BRef::NewLeaf(_, j) => leaf_hashes[j as usize],
                        _ => value_at(suite, arena, &|_| &self.chunk, c, at)?,
                    });
                }
            }
            out.clear();
            out.resize(level.len(), ZERO);
            suite.hash_many(prefix::Kind::Parent, &inputs, &mut out);
            for (&i, h) in level.iter().zip(&out) {
                self.chunk.branches[i as usize].hash = *h;
            }
        }
        Ok(())
    }
}

/// Builds the frame branches above the units, hashing each as it is made.
struct Frames<'a, 'o> {
    suite: MapSuite,
    arena: &'a Arena,
    chunks: &'a [Chunk<'o>],
    top: Chunk<'o>,
    next_unit: usize,
}

impl Frames<'_, '_> {
    fn make<O>(&mut self, plan: &Plan<'_, O>, roots: &[BRef], id: u32) -> Result<BRef> {
        match plan {
            Plan::Unit(..) => {
                self.next_unit += 1;
                Ok(roots[self.next_unit - 1])
            }
            Plan::Split { old, depth, left, right } => {
                let l = self.make(left, roots, id)?;
                let r = self.make(right, roots, id)?;
                if *old != NodeRef::EMPTY {
                    self.top.stale.push(*old);
                }
                let chunks = self.chunks;
                let top = &self.top;
                let get = |c: u32| if c == id { top } else { &chunks[c as usize] };
                let at = depth + 1;
                let hash = self.suite.parent_hash(
                    &value_at(self.suite, self.arena, &get, l, at)?,
                    &value_at(self.suite, self.arena, &get, r, at)?,
                );
                let rep = rep_leaf(self.arena, &get, l)?;
                self.top.branches.push(NewBranch { hash, left: l, right: r, rep, depth: *depth as u8 });
                Ok(BRef::NewBranch(id, self.top.branches.len() as u32 - 1))
            }
        }
    }
}

/// The leaf reference standing for `r`'s prefix (checked to be in the leaf
/// file: [`store`] turns it into a slot).
fn rep_leaf<'c>(arena: &Arena, chunk: &dyn Fn(u32) -> &'c Chunk<'c>, r: BRef) -> Result<BRef> {
    Ok(match r {
        // Only the references are needed here: `n`'s depth is checked
        // where its value is taken ([`value_at`]).
        BRef::Old(n) => match arena.inner(n, 0)? {
            Some(inner) => BRef::Old(NodeRef::leaf(arena.rep(&inner)?)),
            None => r,
        },
        BRef::NewLeaf(..) => r,
        BRef::NewBranch(c, i) => chunk(c).branches[i as usize].rep,
    })
}

fn leaf_of<'c>(arena: &'c Arena, chunk: &dyn Fn(u32) -> &'c Chunk<'c>, r: BRef) -> Result<&'c Leaf> {
    match r {
        BRef::Old(n) => match n.node() {
            Node::Leaf(l) => arena.leaf(l),
            _ => unreachable!("rep references are leaves"),
        },
        BRef::NewLeaf(c, i) => Ok(&chunk(c).leaves[i as usize]),
        BRef::NewBranch(..) => unreachable!("rep references are leaves"),
    }
}

/// The value of `r` hanging at depth `at`.
fn value_at<'c>(
    suite: MapSuite,
    arena: &'c Arena,
    chunk: &dyn Fn(u32) -> &'c Chunk<'c>,
    r: BRef,
    at: usize,
) -> Result<Hash> {
    Ok(match r {
        BRef::Old(n) => arena.lifted(suite, n, at)?,
        BRef::NewLeaf(..) => {
            let l = leaf_of(arena, chunk, r)?;
            suite.leaf_hash(&l.key, &l.value)
        }
        BRef::NewBranch(c, i) => {
            let b = &chunk(c).branches[i as usize];
            let key = &leaf_of(arena, chunk, b.rep)?.key;
            lift(suite, b.hash, key, b.depth as usize, at)
        }
    })
}

/// The kind each new branch is stored as: a twig if it lies at depth
/// `twig_from` or below and recomputing its value reads at most
/// [`TWIG_MAX_NODES`] nodes (children are made before their parents, and
/// the frames' chunk comes last, so one pass decides).
fn kinds(arena: &Arena, chunks: &[Chunk<'_>], twig_from: usize) -> Result<Vec<Vec<Kind>>> {
    let mut costs: Vec<Vec<u32>> = Vec::with_capacity(chunks.len());
    let mut kinds = Vec::with_capacity(chunks.len());
    for c in chunks {
        let (mut cost, mut kind) = (Vec::with_capacity(c.branches.len()), Vec::with_capacity(c.branches.len()));
        for b in &c.branches {
            let mut total = 1;
            for child in [b.left, b.right] {
                total += match child {
                    BRef::NewLeaf(..) => 1,
                    BRef::NewBranch(ci, i) if ci as usize == costs.len() => cost[i as usize],
                    BRef::NewBranch(ci, i) => costs[ci as usize][i as usize],
                    // Past the limit is as good as any number past it.
                    BRef::Old(n) => arena.cost(n, b.depth as usize + 1)?.unwrap_or(TWIG_MAX_NODES + 1),
                };
            }
            let twig = total <= TWIG_MAX_NODES && b.depth as usize >= twig_from;
            kind.push(if twig { Kind::Twig } else { Kind::Branch });
            // As a child, a branch costs one read: its stored hash.
            cost.push(if twig { total } else { 1 });
        }
        costs.push(cost);
        kinds.push(kind);
    }
    Ok(kinds)
}

/// Moves every chunk's nodes into the arena (reusing freed slots first) and
/// returns the stored reference of `top`.
fn store(arena: &mut Arena, chunks: &[Chunk<'_>], top: BRef, twig_from: usize) -> Result<(NodeRef, [usize; KINDS])> {
    let kinds = kinds(arena, chunks, twig_from)?;
    let mut need = [0usize; KINDS];
    for (c, kinds) in chunks.iter().zip(&kinds) {
        need[Kind::Leaf as usize] += c.leaves.len();
        for &kind in kinds {
            need[kind as usize] += 1;
        }
    }
    let lens = arena.lens();
    let mut reusable = [0usize; KINDS];
    for kind in [Kind::Branch, Kind::Twig, Kind::Leaf] {
        let k = kind as usize;
        reusable[k] = arena.reusable(kind).min(need[k]);
        if lens[k] + need[k] - reusable[k] > MAX_SLOT as usize + 1 {
            return Err(invalid("the map would exceed 2^30 nodes of one kind"));
        }
    }
    // Room first: a failed reserve leaves the arena as it was.
    arena.branches.reserve(need[Kind::Branch as usize] - reusable[Kind::Branch as usize])?;
    arena.twigs.reserve(need[Kind::Twig as usize] - reusable[Kind::Twig as usize])?;
    arena.leaves.reserve(need[Kind::Leaf as usize] - reusable[Kind::Leaf as usize])?;
    // Slots: freed ones first (from the end of the free list, which the
    // caller shortens once the version is durable), then fresh ones past
    // the end, in increasing order.
    let mut end = lens;
    let mut taken = [0usize; KINDS];
    let mut take = |kind: Kind| -> u32 {
        let k = kind as usize;
        if taken[k] < reusable[k] {
            taken[k] += 1;
            arena.free[k][arena.free[k].len() - taken[k]]
        } else {
            end[k] += 1;
            end[k] as u32 - 1
        }
    };
    let leaf_refs: Vec<Vec<NodeRef>> =
        chunks.iter().map(|c| c.leaves.iter().map(|_| NodeRef::leaf(take(Kind::Leaf))).collect()).collect();
    let branch_refs: Vec<Vec<NodeRef>> =
        kinds.iter().map(|kinds| kinds.iter().map(|&kind| NodeRef::new(kind, take(kind))).collect()).collect();
    let resolve = |r: BRef| match r {
        BRef::Old(n) => n,
        BRef::NewLeaf(c, i) => leaf_refs[c as usize][i as usize],
        BRef::NewBranch(c, i) => branch_refs[c as usize][i as usize],
    };
    let leaf_slot = |r: BRef| match resolve(r).node() {
        Node::Leaf(l) => l,
        _ => unreachable!("a leaf reference"),
    };
    for (ci, c) in chunks.iter().enumerate() {
        for (leaf, r) in c.leaves.iter().zip(&leaf_refs[ci]) {
            arena.leaves.put(r.stored().expect("stored").1, *leaf);
        }
        for (b, r) in c.branches.iter().zip(&branch_refs[ci]) {
            match r.node() {
                Node::Twig(slot) => {
                    let (left, right) = (TwigChild::new(resolve(b.left)), TwigChild::new(resolve(b.right)));
                    arena.twigs.put(slot, Twig { left, right, depth: b.depth });
                }
                Node::Branch(slot) => {
                    let (left, right, rep) = (resolve(b.left), resolve(b.right), leaf_slot(b.rep));
                    arena.branches.put(slot, Branch { hash: b.hash, left, right, rep, depth: b.depth });
                }
                _ => unreachable!("new branches are stored as branches or twigs"),
            }
        }
    }
    Ok((resolve(top), taken))
}
