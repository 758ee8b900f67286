//! The KEYTRANS prefix tree as a client sees it: how it hashes, its keys,
//! and the `PrefixProof` encoding with its verification. The engine that
//! builds versioned trees and writes proofs is `veritree-core`'s map.

mod hash;
mod key;
mod proof;

pub use hash::{Kind, MapSuite, ZERO};
pub use key::{bit, common_prefix, key_cmp, lift, Key, Value};
pub use proof::{
    encode_prefix_proof, evaluate_prefix_proof, hex, prefix_proof_inclusions, prefix_proof_insert, prefix_proof_len,
    sorted_request, verify_prefix_proof, Terminal, MAX_ELEMENTS, MAX_PROOF_KEYS,
};
