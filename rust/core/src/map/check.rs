//! A full integrity check of one version: every node is re-read and
//! re-hashed, as `fsck` would. Node files carry no checksums of their own
//! (a commit would rewrite them), so this is how damage on disk is found.

use super::node::{bit, common_prefix, damaged_node, lift, Arena, Key, Node, NodeRef};
use crate::error::Result;
use crate::prefix::{MapSuite, ZERO};
use crate::suite::Hash;

/// Subtrees this many levels from the root or higher are checked in parallel.
const PAR_DEPTH: usize = 6;

/// What a checked subtree yields: its value at its own depth (a leaf's
/// hash), a key below it, and a branch's depth (leaves are never lifted).
struct Checked {
    hash: Hash,
    key: Key,
    depth: Option<usize>,
}

impl Checked {
    /// The subtree's value when it hangs at depth `at`.
    fn at(&self, suite: MapSuite, at: usize) -> Hash {
        match self.depth {
            None => self.hash,
            Some(d) => lift(suite, self.hash, &self.key, d, at),
        }
    }
}

/// Re-hashes the tree under `root` and compares every stored branch hash
/// and the resulting root with `expected`. Returns how many nodes it read.
pub(crate) fn check(suite: MapSuite, arena: &Arena, root: NodeRef, expected: &Hash) -> Result<u64> {
    let mut count = 0;
    let got = match root.node() {
        Node::Empty => ZERO,
        _ => subtree(suite, arena, root, 0, 0, &mut count)?.at(suite, 0),
    };
    if got != *expected {
        return Err(damaged_node("the root they hash to is not the version's root"));
    }
    Ok(count)
}

/// Checks the subtree at `node`, whose parent splits on bit `at - 1`
/// (`at` = 0 for the root); `level` counts branches above, for parallelism.
fn subtree(suite: MapSuite, arena: &Arena, node: NodeRef, at: usize, level: usize, count: &mut u64) -> Result<Checked> {
    *count += 1;
    match node.node() {
        Node::Empty => Err(damaged_node(format!("an empty child below depth {at}"))),
        Node::Leaf(l) => {
            let leaf = arena.leaf(l)?;
            Ok(Checked { hash: suite.leaf_hash(&leaf.key, &leaf.value), key: leaf.key, depth: None })
        }
        Node::Branch(_) | Node::Twig(_) => {
            // Checks the node, its references and its depth (not above `at`).
            let br = arena.inner(node, at)?.expect("an inner node");
            let stored = match node.node() {
                Node::Branch(b) => Some(arena.branch(b)?.hash),
                _ => None,
            };
            let depth = br.depth;
            let (left, right) = (br.left, br.right);
            let (l, r) = if level < PAR_DEPTH {
                let (mut cl, mut cr) = (0, 0);
                let (l, r) = rayon::join(
                    || subtree(suite, arena, left, depth + 1, level + 1, &mut cl),
                    || subtree(suite, arena, right, depth + 1, level + 1, &mut cr),
                );
                *count += cl + cr;
                (l?, r?)
            } else {
                (
                    subtree(suite, arena, left, depth + 1, level + 1, count)?,
                    subtree(suite, arena, right, depth + 1, level + 1, count)?,
                )
            };
            // Both sides share the branch's prefix and split on bit `depth`.
            let rep = arena.leaf(arena.rep(&br)?)?.key;
            if common_prefix(&l.key, &r.key) != depth || bit(&l.key, depth) || common_prefix(&rep, &l.key) < depth {
                return Err(damaged_node(format!("{:?} does not split its keys at bit {depth}", node.node())));
            }
            let hash = suite.parent_hash(&l.at(suite, depth + 1), &r.at(suite, depth + 1));
            if stored.is_some_and(|s| s != hash) {
                return Err(damaged_node(format!("{:?}'s stored hash is not the hash of its children", node.node())));
            }
            Ok(Checked { hash, key: l.key, depth: Some(depth) })
        }
    }
}
