//! A versioned sparse Merkle prefix tree over 256-bit keys: the KEYTRANS
//! prefix tree, with batch updates, lookups and multi-key proofs at any
//! retained version.

mod hash;
mod node;
mod proof;
mod update;

use std::collections::{BTreeMap, VecDeque};

use rayon::prelude::*;

pub use hash::{MapSuite, ZERO};
pub use node::{Key, Value};
pub use proof::{verify_prefix_proof, MAX_PROOF_KEYS};

use node::{bit, Arena, Leaf, Node, NodeRef};
use proof::hex;
use update::{apply, Op};

use crate::error::{invalid, Result};
use crate::mem::reserve_huge;
use crate::suite::Hash;

/// One published state of the map.
#[derive(Clone, Copy, Debug)]
struct Version {
    root: NodeRef,
    hash: Hash,
    keys: u64,
}

/// An in-memory versioned prefix tree. Version 0 is the empty map; each
/// update or removal makes the next version.
pub struct Map {
    suite: MapSuite,
    arena: Arena,
    /// Retained versions, oldest first; `versions[i]` is version `oldest + i`.
    versions: VecDeque<Version>,
    oldest: u64,
    /// Nodes that version `v` stopped using (still used by `v - 1`).
    stale: BTreeMap<u64, Vec<NodeRef>>,
}

impl Map {
    pub fn new(suite: MapSuite) -> Map {
        let empty = Version { root: NodeRef::EMPTY, hash: ZERO, keys: 0 };
        Map { suite, arena: Arena::default(), versions: VecDeque::from([empty]), oldest: 0, stale: BTreeMap::new() }
    }

    pub fn suite(&self) -> MapSuite {
        self.suite
    }

    /// The latest version.
    pub fn version(&self) -> u64 {
        self.oldest + self.versions.len() as u64 - 1
    }

    /// The oldest version still retained.
    pub fn oldest_version(&self) -> u64 {
        self.oldest
    }

    fn at(&self, version: Option<u64>) -> Result<&Version> {
        let v = version.unwrap_or(self.version());
        if v < self.oldest || v > self.version() {
            return Err(invalid(format!(
                "version {v} is not retained (versions {}..={} are)",
                self.oldest,
                self.version()
            )));
        }
        Ok(&self.versions[(v - self.oldest) as usize])
    }

    /// The root value at `version` (default: the latest).
    pub fn root(&self, version: Option<u64>) -> Result<Hash> {
        Ok(self.at(version)?.hash)
    }

    /// How many keys the map holds at `version`.
    pub fn len(&self, version: Option<u64>) -> Result<u64> {
        Ok(self.at(version)?.keys)
    }

    /// The value of `key` at `version`, if it has one.
    pub fn get(&self, key: &Key, version: Option<u64>) -> Result<Option<Value>> {
        Ok(self.find(self.at(version)?.root, key).map(|l| l.value))
    }

    fn find(&self, mut node: NodeRef, key: &Key) -> Option<&Leaf> {
        loop {
            match node.node() {
                Node::Empty => return None,
                Node::Leaf(l) => return Some(self.arena.leaf(l)).filter(|leaf| leaf.key == *key),
                Node::Branch(b) => {
                    let br = self.arena.branch(b);
                    node = if bit(key, br.depth as usize) { br.right } else { br.left };
                }
            }
        }
    }

    /// Sets `keys[i] → values[i]` — inserting new keys, replacing the values
    /// of existing ones — as one new version, which it returns.
    pub fn update(&mut self, keys: &[Key], values: &[Value]) -> Result<u64> {
        if keys.len() != values.len() {
            return Err(invalid(format!("{} keys but {} values", keys.len(), values.len())));
        }
        let mut ops = Vec::new();
        reserve_huge(&mut ops, keys.len());
        ops.par_extend(keys.par_iter().zip(values).map(|(key, value)| Leaf { key: *key, value: *value }));
        ops.par_sort_unstable_by(|a, b| a.key.cmp(&b.key));
        check_unique(&ops)?;
        self.publish(&ops, ops.len() as u64, 0)
    }

    /// Removes `keys` (each must be present) as one new version, which it returns.
    pub fn remove(&mut self, keys: &[Key]) -> Result<u64> {
        let mut ops = keys.to_vec();
        ops.par_sort_unstable();
        check_unique(&ops)?;
        let root = self.at(None)?.root;
        if let Some(k) = ops.iter().find(|k| self.find(root, k).is_none()) {
            return Err(invalid(format!("key {} is not in the map", hex(k))));
        }
        self.publish(&ops, 0, ops.len() as u64)
    }

    fn publish<O: Op>(&mut self, ops: &[O], added: u64, removed: u64) -> Result<u64> {
        let latest = *self.at(None)?;
        let applied = apply(self.suite, &mut self.arena, latest.root, ops)?;
        let version = self.version() + 1;
        let keys = latest.keys + added - applied.replaced - removed;
        self.versions.push_back(Version { root: applied.root, hash: applied.hash, keys });
        if !applied.stale.is_empty() {
            self.stale.insert(version, applied.stale);
        }
        Ok(version)
    }

    /// The `PrefixProof` for `keys` (1 to 255 of them, present or not) at `version`.
    pub fn prove(&self, keys: &[Key], version: Option<u64>) -> Result<Vec<u8>> {
        proof::prove(self.suite, &self.arena, self.at(version)?.root, keys)
    }

    /// Forgets every version before `before`, freeing the nodes only they used.
    pub fn prune(&mut self, before: u64) -> Result<()> {
        if before > self.version() {
            return Err(invalid(format!("cannot prune up to version {before}: the latest is {}", self.version())));
        }
        while self.oldest < before {
            self.versions.pop_front();
            self.oldest += 1;
        }
        // Nodes dropped by version v were used by versions before v only.
        let keep = self.stale.split_off(&(before + 1));
        for (_, nodes) in std::mem::replace(&mut self.stale, keep) {
            for n in nodes {
                match n.node() {
                    Node::Leaf(l) => self.arena.free_leaves.push(l),
                    Node::Branch(b) => self.arena.free_branches.push(b),
                    Node::Empty => {}
                }
            }
        }
        Ok(())
    }

    /// Bytes of node storage held (arena capacity).
    pub fn memory_bytes(&self) -> usize {
        self.arena.bytes()
    }
}

fn check_unique<O: Op>(sorted: &[O]) -> Result<()> {
    match sorted.windows(2).find(|w| w[0].key() == w[1].key()) {
        Some(w) => Err(invalid(format!("duplicate key {} in one batch", hex(w[0].key())))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
