//! Verifying facebook/akd, the key directory WhatsApp deploys, in its
//! `WhatsAppV1Configuration` (akd 0.13): lookup and key-history proofs,
//! append-only proofs and WhatsApp's audit blobs.
//!
//! Sound where akd 0.13's own verifier is not: a non-membership proof must
//! be anchored at the deepest node on the label's path, so a directory
//! holding the VRF key cannot serve an old version as current or hide the
//! newest one from a history ([`lookup`]). Stricter where it is lenient:
//! messages have one encoding ([`wire`]), VRF proofs are RFC 9381's
//! ([`crate::vrf`]: a non-canonical Gamma or key, or s past the group
//! order, is refused where akd reduces it), and inserted leaves are full
//! 256-bit labels.

pub mod audit;
pub mod hashing;
pub mod label;
pub mod lookup;
pub mod markers;
pub mod messages;
pub mod wire;

pub use audit::{parse_blob_name, verify_append_only, verify_audit_blob, verify_step, AuditStep};
pub use hashing::empty_root;
pub use lookup::{verify_history, verify_lookup, Version};
