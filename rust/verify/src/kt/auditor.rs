//! Third-party auditing (the draft's "Auditing"): for every log entry the
//! log sends an `AuditorUpdate` — the prefix-tree leaves it added, with a
//! lookup proof of them in the previous entry's tree — and the auditor
//! checks that the new tree is the old one plus exactly those leaves (no
//! value changed in place, nothing dropped) before it signs the new log root
//! in an `AuditorTreeHead` that clients then require.

use ed25519_dalek::SigningKey;

use super::log_tree::{LogEntry, LogTree};
use super::tree_head::{AuditorTreeHead, Configuration, Mode};
use super::wire::{Reader, Writer};
use crate::error::{failed, invalid, Result};
use crate::prefix::{prefix_proof_insert, prefix_proof_len, Key, MapSuite, ZERO};
use crate::suite::Hash;

/// Most leaves one update can add: its proof answers at most 255 lookups.
pub const MAX_ADDED: usize = 255;
/// The `PrefixProof` of no lookups: no results, no elements.
pub const EMPTY_PROOF: [u8; 3] = [0, 0, 0];

/// `AuditorUpdate`. `removed` is always empty here: this log never removes
/// leaves (it does not prune by maximum lifetime yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditorUpdate {
    pub timestamp: u64,
    /// `PrefixLeaf`s (search key, commitment), ascending by search key.
    pub added: Vec<(Key, Hash)>,
    /// Lookup of every added key in the previous entry's prefix tree.
    pub proof: Vec<u8>,
}

impl AuditorUpdate {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.added.len() > MAX_ADDED {
            return Err(invalid(format!("an auditor update adds at most {MAX_ADDED} leaves")));
        }
        let mut w = Writer::default();
        w.u64(self.timestamp);
        w.buf.extend_from_slice(&(self.added.len() as u16).to_be_bytes());
        for (k, c) in &self.added {
            w.fixed(k).fixed(c);
        }
        w.buf.extend_from_slice(&0u16.to_be_bytes());
        w.fixed(&self.proof);
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<AuditorUpdate> {
        let mut r = Reader::new(b, "AuditorUpdate");
        let timestamp = r.u64()?;
        let added = (0..r.u16()?).map(|_| Ok((r.array()?, r.array()?))).collect::<Result<_>>()?;
        if r.u16()? != 0 {
            return Err(invalid("AuditorUpdate removes leaves, which this auditor does not support"));
        }
        let proof = r.fixed(prefix_proof_len(r.rest())?)?.to_vec();
        r.finish()?;
        Ok(AuditorUpdate { timestamp, added, proof })
    }
}

/// A third-party auditor: it follows the log entry by entry from its start
/// and signs each state it has checked.
pub struct Auditor {
    config: Configuration,
    key: SigningKey,
    log: LogTree,
    prefix_root: Hash,
    last_timestamp: u64,
}

impl Auditor {
    /// An auditor for the log with `config` (third-party auditing mode,
    /// starting at entry 0, naming `key`'s public half).
    pub fn new(config: Configuration, key: SigningKey) -> Result<Auditor> {
        match &config.mode {
            Mode::ThirdPartyAuditing { auditor_start_pos: 0, auditor_public_key, .. }
                if auditor_public_key == key.verifying_key().as_bytes() => {}
            Mode::ThirdPartyAuditing { auditor_start_pos: 0, .. } => {
                return Err(invalid("the configuration names another auditor key"))
            }
            Mode::ThirdPartyAuditing { .. } => return Err(invalid("this auditor starts at the log's first entry")),
            _ => return Err(invalid("the log is not in third-party auditing mode")),
        }
        Ok(Auditor { config, key, log: LogTree::default(), prefix_root: ZERO, last_timestamp: 0 })
    }

    /// Log entries checked so far.
    pub fn size(&self) -> u64 {
        self.log.len()
    }

    /// Checks the update for the next log entry and signs the log it makes.
    /// A refused update leaves the auditor as it was.
    pub fn process(&mut self, update: &[u8]) -> Result<AuditorTreeHead> {
        let u = AuditorUpdate::from_bytes(update)?;
        if u.timestamp < self.last_timestamp {
            return Err(failed(format!("entry {} is older than the one before it", self.size())));
        }
        // Ascending, distinct and absent before: enforced by the insertion.
        // An entry that adds nothing has an empty proof and keeps the root.
        let (old, new) = if u.added.is_empty() {
            if u.proof != EMPTY_PROOF {
                return Err(failed("an update that adds nothing carries a non-empty proof"));
            }
            (self.prefix_root, self.prefix_root)
        } else {
            prefix_proof_insert(MapSuite::KeytransSha256, &u.added, &u.proof)?
        };
        if old != self.prefix_root {
            return Err(failed(format!("entry {}'s proof is not against the previous prefix tree", self.size())));
        }
        self.log.push(LogEntry { timestamp: u.timestamp, prefix_root: new }.leaf_value());
        self.prefix_root = new;
        self.last_timestamp = u.timestamp;
        let n = self.size();
        AuditorTreeHead::sign(&self.key, &self.config, u.timestamp, n, &self.log.root(n)?)
    }
}
