//! The client's [`Source`] of the algorithms: a [`Consumer`] that reads a
//! `CombinedTreeProof` and checks it (the server's, the recorder that
//! writes one, is `veritree-core`'s `kt::recorder`). Both associate data
//! with log entries as the draft's "Combined Tree" proof rules say: a
//! timestamp or prefix root once per entry, never for entries the user
//! retained, `prefix_roots` for entries with a timestamp but no lookups, and
//! one batch inclusion proof for every entry with a timestamp.

use std::collections::BTreeMap;

use super::algorithms::Source;
use super::combined::CombinedTreeProof;
use super::log_tree::{self, LogEntry};
use super::search_tree::frontier;
use crate::error::{failed, invalid, Result};
use crate::prefix::{evaluate_prefix_proof, prefix_proof_inclusions, Key, MapSuite};
use crate::suite::Hash;

/// What a user keeps of the last tree it verified (the draft's retained
/// state for updating views): its size, the heads of its full subtrees, and
/// the entries on its frontier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct View {
    pub size: u64,
    pub heads: Vec<Hash>,
    /// Frontier entries, left to right: index, timestamp, prefix root.
    pub frontier: Vec<(u64, u64, Hash)>,
}

impl View {
    /// The newest entry's timestamp (None before any view).
    pub fn newest_timestamp(&self) -> Option<u64> {
        self.frontier.last().map(|f| f.1)
    }
}

/// Data associated with one entry so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Assoc {
    pub timestamp: Option<u64>,
    pub root: Option<Hash>,
    /// Part of the user's retained view: not in `timestamps`, not proven.
    pub retained: bool,
}

/// The entries associated by one run of the algorithms, on either side.
#[derive(Default)]
pub struct Entries(pub BTreeMap<u64, Assoc>);

impl Entries {
    pub fn retain(&mut self, view_frontier: impl IntoIterator<Item = (u64, u64, Hash)>) {
        for (x, t, r) in view_frontier {
            self.0.insert(x, Assoc { timestamp: Some(t), root: Some(r), retained: true });
        }
    }

    pub fn timestamp(&self, x: u64) -> Option<u64> {
        self.0.get(&x).and_then(|a| a.timestamp)
    }

    /// Entries that need a `prefix_roots` element, left to right.
    pub fn rootless(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().filter(|(_, a)| !a.retained && a.timestamp.is_some() && a.root.is_none()).map(|(&x, _)| x)
    }
}

/// What a verifier knows of a label's versions: search keys (from checked
/// VRF proofs) and the commitments of versions said to exist.
pub type LabelMaterial = BTreeMap<u32, (Key, Option<Hash>)>;

/// Reads a received proof for the algorithms and checks it.
pub struct Consumer<'a> {
    proof: &'a CombinedTreeProof,
    label: &'a LabelMaterial,
    n: u64,
    view: &'a View,
    also: Option<u64>,
    entries: Entries,
    next_timestamp: usize,
    next_proof: usize,
    open: Option<Series>,
}

/// A series of lookups being read: its entry, the proof's results, and the
/// search keys and expected values so far.
struct Series {
    entry: u64,
    results: Vec<bool>,
    keys: Vec<Key>,
    values: Vec<Option<Hash>>,
}

impl<'a> Consumer<'a> {
    /// A consumer of `proof` for a log of `n` entries, by a user holding
    /// `view` (its size is what the user advertised; 0 for none); `also`
    /// names an auditor's tree size whose root the proof must also yield.
    pub fn new(
        proof: &'a CombinedTreeProof,
        label: &'a LabelMaterial,
        n: u64,
        view: &'a View,
        also: Option<u64>,
    ) -> Consumer<'a> {
        let mut entries = Entries::default();
        entries.retain(view.frontier.iter().copied());
        Consumer { proof, label, n, view, also, entries, next_timestamp: 0, next_proof: 0, open: None }
    }

    /// Checks what is left — every element used, timestamps monotonic, the
    /// batch inclusion proof — and returns the log root, the new view, and
    /// the root at the auditor's size if one was asked for.
    pub fn finish(self) -> Result<(Hash, View, Option<Hash>)> {
        let p = self.proof;
        if self.next_timestamp != p.timestamps.len() || self.next_proof != p.prefix_proofs.len() {
            return Err(failed(format!(
                "the proof carries {} timestamps and {} prefix proofs; the algorithms used {} and {}",
                p.timestamps.len(),
                p.prefix_proofs.len(),
                self.next_timestamp,
                self.next_proof
            )));
        }
        let mut entries = self.entries;
        let rootless: Vec<u64> = entries.rootless().collect();
        if rootless.len() != p.prefix_roots.len() {
            return Err(failed(format!("{} prefix roots, not the {} expected", p.prefix_roots.len(), rootless.len())));
        }
        for (x, r) in rootless.into_iter().zip(&p.prefix_roots) {
            entries.0.get_mut(&x).expect("associated").root = Some(*r);
        }
        let mut last = 0;
        for (&x, a) in &entries.0 {
            let t = a.timestamp.expect("every associated entry has a timestamp");
            if t < last {
                return Err(failed(format!("entry {x}'s timestamp {t} is older than one to its left")));
            }
            last = t;
        }
        let proven: Vec<(u64, Hash)> = entries
            .0
            .iter()
            .filter(|(_, a)| !a.retained)
            .map(|(&x, a)| {
                let entry = LogEntry { timestamp: a.timestamp.expect("set"), prefix_root: a.root.expect("set") };
                (x, entry.leaf_value())
            })
            .collect();
        let log_tree::Verified { root, heads, also_root } =
            log_tree::verify(self.n, &proven, self.view.size, &self.view.heads, &p.inclusion, self.also)?;
        let frontier = frontier(self.n)
            .into_iter()
            .map(|x| {
                let a = entries.0.get(&x).ok_or_else(|| failed(format!("frontier entry {x} was never shown")))?;
                Ok((x, a.timestamp.expect("set"), a.root.expect("set")))
            })
            .collect::<Result<_>>()?;
        Ok((root, View { size: self.n, heads, frontier }, also_root))
    }
}

impl Source for Consumer<'_> {
    fn timestamp(&mut self, x: u64) -> Result<u64> {
        if let Some(t) = self.entries.timestamp(x) {
            return Ok(t);
        }
        if x >= self.n {
            return Err(invalid(format!("entry {x} is past the log's {} entries", self.n)));
        }
        let t = *self
            .proof
            .timestamps
            .get(self.next_timestamp)
            .ok_or_else(|| failed("the proof has fewer timestamps than the algorithms need"))?;
        self.next_timestamp += 1;
        self.entries.0.entry(x).or_default().timestamp = Some(t);
        Ok(t)
    }

    fn open(&mut self, x: u64) -> Result<()> {
        let proof = self
            .proof
            .prefix_proofs
            .get(self.next_proof)
            .ok_or_else(|| failed("the proof has fewer prefix proofs than the algorithms need"))?;
        self.next_proof += 1;
        let results = prefix_proof_inclusions(proof)?;
        self.timestamp(x)?;
        self.open = Some(Series { entry: x, results, keys: Vec::new(), values: Vec::new() });
        Ok(())
    }

    fn lookup(&mut self, version: u32) -> Result<bool> {
        let Series { entry: x, results, keys, values } =
            self.open.as_mut().expect("lookups happen between open and close");
        let present = *results
            .get(keys.len())
            .ok_or_else(|| failed(format!("entry {x}'s prefix proof answers fewer lookups than its ladder makes")))?;
        let (key, commitment) =
            self.label.get(&version).ok_or_else(|| failed(format!("no VRF proof was given for version {version}")))?;
        let value = match (present, commitment) {
            (true, Some(c)) => Some(*c),
            (true, None) => return Err(failed(format!("version {version} is in entry {x} but has no commitment"))),
            (false, _) => None,
        };
        keys.push(*key);
        values.push(value);
        Ok(present)
    }

    fn exhausted(&self) -> bool {
        self.next_proof == self.proof.prefix_proofs.len()
    }

    fn close(&mut self) -> Result<()> {
        let Series { entry: x, results, keys, values } = self.open.take().expect("close follows open");
        if results.len() != keys.len() {
            return Err(failed(format!("entry {x}'s prefix proof answers more lookups than its ladder makes")));
        }
        let index = self.next_proof - 1;
        let root = evaluate_prefix_proof(MapSuite::KeytransSha256, &keys, &values, &self.proof.prefix_proofs[index])?;
        let a = self.entries.0.entry(x).or_default();
        match a.root {
            Some(r) if r != root => {
                let whose = if a.retained { "the retained root" } else { "another proof's root" };
                Err(failed(format!("entry {x}'s prefix proof leads to a root other than {whose}")))
            }
            _ => {
                a.root = Some(root);
                Ok(())
            }
        }
    }
}
