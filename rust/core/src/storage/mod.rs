//! The storage seam: the few kinds of store every engine writes through, an
//! in-memory backend, the POSIX backend, and the conformance suite every
//! backend must pass.
//!
//! - [`Objects`]: immutable named objects plus a *head* object replaced
//!   atomically and made durable after the objects it refers to — a tile
//!   log's tiles, bundles and checkpoint.
//! - [`Records`]: an append-only sequence of records, each durable when its
//!   append returns, none half-written after a failed one — the map's and
//!   the KEYTRANS directory's journals.
//! - [`slab`]: fixed-size records by slot, in a memory mapping — anonymous
//!   memory, or a file whose page cache is the node cache — the map's nodes.
//!
//! Backends: [`memory`] (tests, ephemeral logs) and the POSIX files of
//! [`posix`] and [`records`] (directories of files, fsync'd); the slab has
//! both inside it. A database backend gives the map's nodes a kind of their
//! own (see docs/design.md).

pub mod memory;
pub mod posix;
pub mod postgres;
pub mod records;
pub(crate) mod slab;

#[cfg(test)]
mod conformance;

use crate::error::Result;

/// Immutable named objects and a head that names what is published.
///
/// Names are relative paths of `/`-separated segments (`tile/0/x001/002`).
/// An object, once the head refers to it, never changes; objects written
/// after the last head may be rewritten (a write cut short leaves them).
pub trait Objects: Send + Sync {
    /// The object `name`, at most `max_len` bytes: `NotFound` if there is
    /// none, `Damaged` if it is longer.
    fn get(&self, name: &str, max_len: usize) -> Result<Vec<u8>>;
    /// Makes every object durable and visible under its name, replacing any
    /// unpublished object of the same name. On error, some may be written.
    fn put(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()>;
    /// Replaces the head object `name` whole and durably; call it after the
    /// `put` of everything the head refers to. On error the old head stays.
    fn put_head(&self, name: &str, data: &[u8]) -> Result<()>;
    /// Whether the object `name` is there.
    fn exists(&self, name: &str) -> Result<bool>;
    /// Deletes `name` if it is there (an object no head needs any more).
    fn delete(&self, name: &str) -> Result<()>;
    /// The names of the objects directly in the folder `prefix` (`a/b`
    /// lists `a/b/c`, not `a/b/c/d`), sorted; none if there is no such folder.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// How far this store (a replica) is behind the one it copies, in
    /// milliseconds: `None` where it is no replica.
    fn replica_lag_ms(&self) -> Result<Option<u64>> {
        Ok(None)
    }
}

/// A shared store is a store (a log and its reopening may share one).
impl<S: Objects + ?Sized> Objects for std::sync::Arc<S> {
    fn get(&self, name: &str, max_len: usize) -> Result<Vec<u8>> {
        (**self).get(name, max_len)
    }

    fn put(&self, objects: Vec<(String, Vec<u8>)>) -> Result<()> {
        (**self).put(objects)
    }

    fn put_head(&self, name: &str, data: &[u8]) -> Result<()> {
        (**self).put_head(name, data)
    }

    fn exists(&self, name: &str) -> Result<bool> {
        (**self).exists(name)
    }

    fn delete(&self, name: &str) -> Result<()> {
        (**self).delete(name)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        (**self).list(prefix)
    }

    fn replica_lag_ms(&self) -> Result<Option<u64>> {
        (**self).replica_lag_ms()
    }
}

/// An append-only sequence of records.
pub trait Records: Send + Sync {
    /// Appends `record`, durable when this returns. A failed append leaves
    /// the sequence as it was, and a later append may succeed.
    fn append(&mut self, record: &[u8]) -> Result<()>;

    /// Makes the next `n` appends fail as a full disk would (tests).
    #[cfg(test)]
    fn inject_faults(&mut self, n: u32);
}
