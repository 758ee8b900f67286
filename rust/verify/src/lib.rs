//! veritree-verify: what a key-transparency client links.
//!
//! Hash suites, the left-balanced tree's math and proofs over any
//! [`NodeSource`], verification that needs no log, compact ranges, C2SP
//! signed notes (checkpoints, cosignatures, tlog-proofs) and the ECVRF.
//! No filesystem, memory mapping or database: the engines over storage
//! live in `veritree-core`, which builds on this crate.

pub mod akd;
pub mod compact;
pub mod error;
pub mod kt;
pub mod notes;
pub mod prefix;
pub mod suite;
pub mod tree;
pub mod verify;
pub mod vrf;

pub use compact::CompactRange;
pub use error::{Error, Result};
pub use notes::checkpoint::Checkpoint;
pub use notes::note::{Note, Signer, Verifier};
pub use notes::tlog_proof::TlogProof;
pub use suite::{Hash, Suite};
pub use tree::NodeSource;
