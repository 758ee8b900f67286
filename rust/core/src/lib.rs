//! veritree-core: the engine under veritree's key transparency.
//!
//! Append-only Merkle logs (RFC 9162 shape) with inclusion, consistency and
//! batch proofs, compact ranges, and verification that needs no log. Hashing
//! is pluggable per [`Suite`]. This crate knows nothing of Python.

pub mod checkpoint;
pub mod compact;
pub mod cosignature;
pub mod error;
mod fsio;
pub mod kt;
pub mod log;
pub mod map;
mod mem;
pub mod note;
pub mod store;
pub mod suite;
pub mod throughput;
pub mod tiles;
pub mod tlog_proof;
pub mod tree;
pub mod verify;
pub mod vrf;

pub use checkpoint::Checkpoint;
pub use compact::CompactRange;
pub use error::{Error, Result};
pub use log::MemoryLog;
pub use note::{Note, Signer, Verifier};
pub use store::LogStore;
pub use suite::{Hash, Suite};
pub use tlog_proof::TlogProof;
pub use tree::NodeSource;
