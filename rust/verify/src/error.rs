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
    /// Stored data is missing, damaged, locked or cannot be written.
    #[error("storage: {0}")]
    Storage(String),
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

pub fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

pub fn out_of_range(msg: impl Into<String>) -> Error {
    Error::OutOfRange(msg.into())
}

pub fn failed(msg: impl Into<String>) -> Error {
    Error::Verification(msg.into())
}
