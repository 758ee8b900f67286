//! What every log storage offers the layers above: the in-memory log and the
//! durable tile log (and later a database) behind one trait.

use crate::compact::CompactRange;
use crate::error::{invalid, out_of_range, Result};
use crate::log::MemoryLog;
use crate::suite::Hash;
use crate::tiles::TileLog;
use crate::tree::NodeSource;

pub trait LogStore: NodeSource + Send + Sync {
    /// Appends entries; returns the index of the first. A durable store
    /// returns only once the entries are durable.
    fn extend_entries(&mut self, entries: &[&[u8]]) -> Result<u64>;

    /// Appends precomputed leaf hashes; stores that keep entries refuse.
    fn extend_leaf_hashes(&mut self, leaves: &[Hash]) -> Result<u64>;

    /// The compact range of the first `size` leaves.
    fn compact_range(&self, size: u64) -> Result<CompactRange>;

    /// The entry at `index`, where the store keeps entries.
    fn entry(&self, index: u64) -> Result<Vec<u8>>;

    /// The signed checkpoint of the current size, where the store publishes one.
    fn checkpoint(&self) -> Option<&str>;

    /// The first index holding leaf hash `leaf`, where the store keeps a dedup index.
    fn index_of(&self, leaf: &Hash) -> Result<Option<u64>>;

    /// The leaf hash at `index`.
    fn leaf_hash(&self, index: u64) -> Result<Hash> {
        if index >= self.size() {
            return Err(out_of_range(format!("index {index} is not below the log size {}", self.size())));
        }
        self.node(0, index)
    }
}

impl LogStore for MemoryLog {
    fn extend_entries(&mut self, entries: &[&[u8]]) -> Result<u64> {
        let leaves = self.suite().leaf_hashes(entries);
        Ok(MemoryLog::extend_leaf_hashes(self, &leaves))
    }

    fn extend_leaf_hashes(&mut self, leaves: &[Hash]) -> Result<u64> {
        Ok(MemoryLog::extend_leaf_hashes(self, leaves))
    }

    fn compact_range(&self, size: u64) -> Result<CompactRange> {
        MemoryLog::compact_range(self, size)
    }

    fn entry(&self, _: u64) -> Result<Vec<u8>> {
        Err(invalid("an in-memory log keeps leaf hashes, not entries"))
    }

    fn checkpoint(&self) -> Option<&str> {
        None
    }

    fn index_of(&self, _: &Hash) -> Result<Option<u64>> {
        Err(invalid("an in-memory log keeps no dedup index; open a durable log with dedup=True"))
    }
}

impl<S: crate::storage::Objects + 'static> LogStore for TileLog<S> {
    fn extend_entries(&mut self, entries: &[&[u8]]) -> Result<u64> {
        self.extend(entries)
    }

    fn extend_leaf_hashes(&mut self, _: &[Hash]) -> Result<u64> {
        Err(invalid("a tile log stores entries: use extend, not extend_hashes"))
    }

    fn compact_range(&self, size: u64) -> Result<CompactRange> {
        if size != self.len() {
            return Err(invalid(format!("a tile log gives the compact range of its current size {} only", self.len())));
        }
        Ok(TileLog::compact_range(self))
    }

    fn entry(&self, index: u64) -> Result<Vec<u8>> {
        TileLog::entry(self, index)
    }

    fn checkpoint(&self) -> Option<&str> {
        Some(TileLog::checkpoint(self))
    }

    fn index_of(&self, leaf: &Hash) -> Result<Option<u64>> {
        TileLog::index_of(self, leaf)
    }
}
