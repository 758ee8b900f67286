//! IETF KEYTRANS (draft-ietf-keytrans-protocol), cipher suite
//! `KT_128_SHA256_Ed25519`: the building blocks of the combined tree. The
//! prefix tree is [`crate::map`] with suite `keytrans-sha256`; the VRF is
//! [`crate::vrf`].

pub mod algorithms;
pub mod auditor;
pub mod client;
pub mod combined;
pub mod commitment;
mod journal;
pub mod ladder;
pub mod log_tree;
pub mod messages;
pub mod search_tree;
pub mod server;
pub mod session;
pub mod tree_head;
pub mod wire;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod tests;
