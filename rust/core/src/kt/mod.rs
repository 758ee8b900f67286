//! The KEYTRANS directory: the server side of IETF KEYTRANS, built on the
//! prefix tree ([`crate::map`]) and the log tree. What a client needs — the
//! wire format, messages, algorithms, client and auditor — is
//! `veritree-verify`'s `kt`, re-exported here.

pub use veritree_verify::kt::{
    algorithms, auditor, client, combined, commitment, ladder, log_tree, messages, search_tree, session, tree_head,
    wire,
};

pub mod directory;
mod journal;
pub mod recorder;
pub(crate) mod store;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod journal_tests;
#[cfg(test)]
mod store_tests;
#[cfg(test)]
mod shared_tests;
#[cfg(test)]
mod tests;
