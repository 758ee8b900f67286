//! Writing multi-key `PrefixProof`s from the engine's tree: the walk that
//! finds each key's terminal and the sibling values beside the search
//! paths. The encoding and its verification are `veritree-verify`'s
//! ([`crate::prefix`]).

use super::node::{Arena, Node, NodeRef, TwigCache};
use crate::error::Result;
use crate::prefix::{bit, encode_prefix_proof, sorted_request, Key, MapSuite, Terminal, ZERO};
use crate::suite::Hash;

struct Prover<'a> {
    suite: MapSuite,
    arena: &'a Arena,
    twigs: &'a mut TwigCache,
    results: Vec<Option<(Terminal, usize)>>,
    elements: Vec<Hash>,
}

/// The `PrefixProof` for `keys` in the tree rooted at `root`, with twigs'
/// values from `twigs`.
pub(crate) fn prove(
    suite: MapSuite,
    arena: &Arena,
    root: NodeRef,
    keys: &[Key],
    twigs: &mut TwigCache,
) -> Result<Vec<u8>> {
    let sorted = sorted_request(keys)?;
    let mut p = Prover { suite, arena, twigs, results: vec![None; keys.len()], elements: Vec::new() };
    arena.warm(root, 0, sorted.iter().map(|(k, _)| k));
    p.walk(root, 0, &sorted)?;
    let results: Vec<(Terminal, usize)> =
        p.results.into_iter().map(|r| r.expect("every key reaches a terminal")).collect();
    encode_prefix_proof(keys, &results, &p.elements)
}

impl Prover<'_> {
    fn end(&mut self, items: &[(Key, usize)], terminal: impl Fn(&Key) -> Terminal, depth: usize) {
        for (k, i) in items {
            self.results[*i] = Some((terminal(k), depth));
        }
    }

    /// Records the terminals of `items` (sorted, non-empty) under `node`,
    /// which hangs at depth `pos`, and the elements beside their paths.
    /// Each call goes one bit deeper, and [`Arena::inner`] refuses a node
    /// whose depth is above `pos`, so a damaged tree cannot make it recurse
    /// more than 257 levels.
    fn walk(&mut self, node: NodeRef, pos: usize, items: &[(Key, usize)]) -> Result<()> {
        let Some(br) = self.arena.inner(node, pos)? else {
            match node.node() {
                Node::Leaf(l) => {
                    let leaf = *self.arena.leaf(l)?;
                    let t = |k: &Key| {
                        if *k == leaf.key {
                            Terminal::Inclusion
                        } else {
                            Terminal::OtherLeaf(leaf.key, leaf.value)
                        }
                    };
                    self.end(items, t, pos);
                }
                _ => self.end(items, |_| Terminal::StandIn, pos),
            }
            return Ok(());
        };
        let split = items.partition_point(|(k, _)| !bit(k, pos));
        let sides = [&items[..split], &items[split..]];
        if pos < br.depth {
            // A single-child parent: the branch's side continues, the
            // other side is a stand-in.
            let on = bit(&self.arena.leaf(self.arena.rep(&br)?)?.key, pos) as usize;
            for (side, its) in sides.into_iter().enumerate() {
                match (side == on, its.is_empty()) {
                    (true, false) => self.walk(node, pos + 1, its)?,
                    (true, true) => self.elements.push(self.arena.lifted_cached(self.suite, node, pos + 1, self.twigs)?),
                    (false, false) => self.end(its, |_| Terminal::StandIn, pos + 1),
                    (false, true) => self.elements.push(ZERO),
                }
            }
        } else {
            for (child, its) in [br.left, br.right].into_iter().zip(sides) {
                if its.is_empty() {
                    self.elements.push(self.arena.lifted_cached(self.suite, child, pos + 1, self.twigs)?);
                } else {
                    self.walk(child, pos + 1, its)?;
                }
            }
        }
        Ok(())
    }
}
