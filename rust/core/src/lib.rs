//! veritree-core: the engines over storage, built on `veritree-verify`.
//!
//! The in-memory log, the C2SP tlog-tiles log, the versioned prefix tree
//! (in memory and on disk) and the KEYTRANS directory built on them. The
//! client side — hash suites, tree math, verification, signed notes, VRF —
//! is `veritree-verify`, re-exported here so one import serves both. This
//! crate knows nothing of Python.

pub use veritree_verify::{akd, compact, error, notes, prefix, suite, tree, verify, vrf};

pub mod hash_limit;
pub mod kt;
pub mod log;
pub mod map;
pub mod storage;
pub mod tiles;

pub use log::LogStore;
pub use log::MemoryLog;
pub use veritree_verify::{
    Checkpoint, CompactRange, Error, Hash, NodeSource, Note, Result, Signer, Suite, TlogProof, Verifier,
};
