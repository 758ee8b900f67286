//! Optional deduplication: an on-disk index from leaf hash to the first index
//! holding it, so a writer can find an entry without keeping every hash in
//! memory.
//!
//! A redb B-tree (ACID, crash-safe) in `.veritree/dedup.redb`. It trails the
//! log: it is updated after each checkpoint and records how many entries it
//! covers, so after a crash the log re-indexes the gap from its level-0 tiles.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use redb::{Database, ReadableTable, TableDefinition};

use crate::error::{damaged, io, Error, Result};
use crate::storage::posix::Modes;
use crate::suite::Hash;

const INDEX: TableDefinition<&[u8], u64> = TableDefinition::new("leaf_hash_to_index");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const INDEXED: &str = "indexed_size";

fn db_error(e: impl std::fmt::Display) -> Error {
    io(format!("dedup index: {e}"))
}

pub struct DedupIndex {
    db: Database,
}

impl DedupIndex {
    pub fn open(path: &Path) -> Result<DedupIndex> {
        let db = Database::create(path).map_err(db_error)?;
        // Owner-only like everything under `.veritree/`, whatever the umask.
        fs::set_permissions(path, fs::Permissions::from_mode(Modes::PRIVATE.file))
            .map_err(|e| crate::storage::posix::io_error("chmod", path, e))?;
        let w = db.begin_write().map_err(db_error)?;
        w.open_table(INDEX).map_err(db_error)?;
        w.open_table(META).map_err(db_error)?;
        w.commit().map_err(db_error)?;
        Ok(DedupIndex { db })
    }

    /// How many leading entries of the log the index covers.
    pub fn indexed_size(&self) -> Result<u64> {
        let r = self.db.begin_read().map_err(db_error)?;
        let meta = r.open_table(META).map_err(db_error)?;
        Ok(meta.get(INDEXED).map_err(db_error)?.map_or(0, |v| v.value()))
    }

    /// Indexes `leaves`, the log's entries from `first` on. A hash already
    /// present keeps its earlier index.
    pub fn add(&self, first: u64, leaves: &[Hash]) -> Result<()> {
        if self.indexed_size()? != first {
            return Err(damaged("dedup index: entries must be indexed in order"));
        }
        let w = self.db.begin_write().map_err(db_error)?;
        {
            let mut index = w.open_table(INDEX).map_err(db_error)?;
            for (i, leaf) in leaves.iter().enumerate() {
                if index.get(leaf.as_slice()).map_err(db_error)?.is_none() {
                    index.insert(leaf.as_slice(), first + i as u64).map_err(db_error)?;
                }
            }
            let mut meta = w.open_table(META).map_err(db_error)?;
            meta.insert(INDEXED, first + leaves.len() as u64).map_err(db_error)?;
        }
        w.commit().map_err(db_error)
    }

    /// The first index whose leaf hash is `leaf`.
    pub fn get(&self, leaf: &Hash) -> Result<Option<u64>> {
        let r = self.db.begin_read().map_err(db_error)?;
        let index = r.open_table(INDEX).map_err(db_error)?;
        Ok(index.get(leaf.as_slice()).map_err(db_error)?.map(|v| v.value()))
    }
}
