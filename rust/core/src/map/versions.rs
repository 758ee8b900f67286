//! A map's published versions: in memory (an in-memory map, or one whose
//! journal rebuilds them on opening), or in a file of fixed-size records
//! beside the node files (a map whose owner commits it, read by other
//! processes too).

use std::collections::VecDeque;

use bytemuck::{Pod, Zeroable};

use super::node::NodeRef;
use crate::error::Result;
use crate::prefix::ZERO;
use crate::storage::slab::Slab;
use crate::suite::Hash;

/// One published state of the map, as the versions file stores it.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C)]
pub(crate) struct Version {
    pub hash: Hash,
    pub keys: u64,
    pub root: NodeRef,
    _pad: u32,
}

impl Version {
    pub const EMPTY: Version = Version { hash: ZERO, keys: 0, root: NodeRef::EMPTY, _pad: 0 };

    pub fn new(root: NodeRef, hash: Hash, keys: u64) -> Version {
        Version { hash, keys, root, _pad: 0 }
    }
}

pub(crate) enum Versions {
    /// Retained versions, oldest first: `[i]` is version `oldest + i`.
    Memory(VecDeque<Version>),
    /// Every version ever made, version `v` at slot `v` (pruning forgets
    /// none: a reader in another process may still be walking it).
    File(Slab<Version>),
}

impl Versions {
    pub fn memory() -> Versions {
        Versions::Memory(VecDeque::from([Version::EMPTY]))
    }

    /// Versions held, from `oldest` on.
    pub fn count(&self, oldest: u64) -> u64 {
        match self {
            Versions::Memory(v) => v.len() as u64,
            Versions::File(s) => s.len() as u64 - oldest,
        }
    }

    /// Version `v`, which is held (`oldest <= v`, within [`Self::count`]).
    pub fn get(&self, v: u64, oldest: u64) -> Version {
        match self {
            Versions::Memory(vs) => vs[(v - oldest) as usize],
            Versions::File(s) => *s.get(v as u32).expect("a held version"),
        }
    }

    pub fn push(&mut self, version: Version) -> Result<()> {
        match self {
            Versions::Memory(v) => v.push_back(version),
            Versions::File(s) => {
                s.reserve(1)?;
                s.put(s.len() as u32, version);
            }
        }
        Ok(())
    }

    /// Drops the oldest retained version from memory (a file keeps it).
    pub fn pop_oldest(&mut self) {
        if let Versions::Memory(v) = self {
            v.pop_front();
        }
    }
}
