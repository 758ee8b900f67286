//! The one error type of the core; the binding maps each variant to a Python exception.

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An argument is malformed: wrong length, unsorted indices, unknown suite, ...
    #[error("{0}")]
    InvalidArgument(String),
    /// An index or size lies outside the tree it refers to.
    #[error("{0}")]
    OutOfRange(String),
    /// Stored data is missing, damaged, locked or cannot be read or written.
    #[error("storage: {0}")]
    Storage(StorageError),
    /// A proof, root or signature does not check out. Nothing forged passes.
    #[error("verification failed: {0}")]
    Verification(String),
    /// The local clock and the log's timestamps disagree by more than the
    /// configuration allows, in the direction that is the clock's fault (the
    /// log looks ahead of it): not evidence against the log.
    #[error("clock: {0}")]
    Clock(String),
    /// A request names a tree larger than the log serves. `head` is the
    /// log's current signed head (a `SignedHead` encoding): signed by the
    /// log and smaller than a head it signed before, it proves a rollback.
    #[error("{message}")]
    Behind { message: String, head: Vec<u8> },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What went wrong with stored data: what a caller may do about it differs
/// (create the store, restore it from a copy, retry once the disk has room,
/// wait for the other writer, stop using a closed object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// There is no such store, file or resource.
    NotFound,
    /// It is there but is not what was written: truncated, flipped, foreign.
    Damaged,
    /// Reading or writing failed (a full disk, EIO, a quota, permissions).
    Io,
    /// Another writer holds it.
    Locked,
    /// The object was closed.
    Closed,
}

/// A storage failure: its kind, and a message naming what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    pub kind: StorageKind,
    pub message: String,
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message, so `m.contains(..)` reads as it did when it was a string.
impl std::ops::Deref for StorageError {
    type Target = str;

    fn deref(&self) -> &str {
        &self.message
    }
}

/// One constructor per kind of error.
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

pub fn out_of_range(msg: impl Into<String>) -> Error {
    Error::OutOfRange(msg.into())
}

pub fn failed(msg: impl Into<String>) -> Error {
    Error::Verification(msg.into())
}

pub fn clock(msg: impl Into<String>) -> Error {
    Error::Clock(msg.into())
}

pub fn storage(kind: StorageKind, msg: impl Into<String>) -> Error {
    Error::Storage(StorageError { kind, message: msg.into() })
}

pub fn not_found(msg: impl Into<String>) -> Error {
    storage(StorageKind::NotFound, msg)
}

pub fn damaged(msg: impl Into<String>) -> Error {
    storage(StorageKind::Damaged, msg)
}

pub fn io(msg: impl Into<String>) -> Error {
    storage(StorageKind::Io, msg)
}

pub fn locked(msg: impl Into<String>) -> Error {
    storage(StorageKind::Locked, msg)
}

pub fn closed(msg: impl Into<String>) -> Error {
    storage(StorageKind::Closed, msg)
}

impl Error {
    /// The kind of a storage error (None for the other errors).
    pub fn storage_kind(&self) -> Option<StorageKind> {
        match self {
            Error::Storage(e) => Some(e.kind),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_constructor_makes_its_kind() {
        let kinds = [
            (not_found("a"), StorageKind::NotFound),
            (damaged("b"), StorageKind::Damaged),
            (io("c"), StorageKind::Io),
            (locked("d"), StorageKind::Locked),
            (closed("e"), StorageKind::Closed),
        ];
        for (e, kind) in kinds {
            assert_eq!(e.storage_kind(), Some(kind));
            assert!(matches!(&e, Error::Storage(m) if m.len() == 1), "the message reads as a string");
        }
        assert_eq!(damaged("torn tile").to_string(), "storage: torn tile");
        assert_eq!(invalid("x").storage_kind(), None);
        assert!(matches!(failed("x"), Error::Verification(_)) && matches!(clock("x"), Error::Clock(_)));
        assert!(matches!(out_of_range("x"), Error::OutOfRange(_)));
    }
}
