//! IETF KEYTRANS (draft-ietf-keytrans-protocol), cipher suite
//! `KT_128_SHA256_Ed25519`, as a client and an auditor see it: the wire
//! format and messages, the log tree and search trees, the algorithms, the
//! client's verification and state, and third-party auditing. The prefix
//! tree's proofs are [`crate::prefix`] with suite `keytrans-sha256`; the VRF
//! is [`crate::vrf`]. The directory that serves all this is
//! `veritree-core`'s `kt`.

pub mod algorithms;
pub mod auditor;
pub mod client;
pub mod combined;
pub mod commitment;
pub mod ladder;
pub mod log_tree;
pub mod messages;
pub mod search_tree;
pub mod session;
pub mod tree_head;
pub mod wire;
