//! The server's [`Source`] of the algorithms: a [`Recorder`] that answers
//! from the directory's own log and prefix tree and writes the
//! `CombinedTreeProof` a client's `Consumer` checks, associating data with
//! log entries as the draft's "Combined Tree" proof rules say.

use super::algorithms::Source;
use super::combined::CombinedTreeProof;
use super::log_tree::{LogEntry, LogTree};
use super::search_tree::frontier;
use super::session::Entries;
use crate::error::{invalid, Result};
use crate::map::{Key, Map, TwigCache};
use crate::tree::HeadStore;

/// The search key of a version of one label, as the server derives it, and
/// the log entry that added the version (`None`: no such version).
pub type SearchKeys<'a> = &'a dyn Fn(u32) -> Result<(Key, Option<u64>)>;

/// Answers the algorithms from the server's data and records the proof.
pub struct Recorder<'a, S: HeadStore> {
    log: &'a LogTree<S>,
    entries_data: &'a [LogEntry],
    map: &'a Map,
    /// The prefix tree version of each entry: entry x is map version x + 1.
    keys: Option<SearchKeys<'a>>,
    n: u64,
    retained: u64,
    /// The auditor's tree size, whose root the inclusion proof also yields.
    also: Option<u64>,
    entries: Entries,
    open: Option<(u64, Vec<Key>)>,
    proof: CombinedTreeProof,
    /// The proofs' versions share most twigs: each is hashed once.
    twigs: TwigCache,
}

impl<'a, S: HeadStore> Recorder<'a, S> {
    /// A recorder for a log of `n` entries and a user that retained a view
    /// of `last` entries; `keys` gives the searched label's search keys.
    pub fn new(
        log: &'a LogTree<S>,
        entries_data: &'a [LogEntry],
        map: &'a Map,
        n: u64,
        last: Option<u64>,
        keys: Option<SearchKeys<'a>>,
        also: Option<u64>,
    ) -> Recorder<'a, S> {
        let mut entries = Entries::default();
        if let Some(last) = last.filter(|&l| l > 0) {
            entries.retain(frontier(last).into_iter().map(|x| {
                let e = entries_data[x as usize];
                (x, e.timestamp, e.prefix_root)
            }));
        }
        Recorder {
            log,
            entries_data,
            map,
            keys,
            n,
            retained: last.unwrap_or(0),
            also,
            entries,
            open: None,
            proof: CombinedTreeProof::default(),
            twigs: TwigCache::default(),
        }
    }

    /// The finished proof: prefix roots and the batch inclusion proof.
    pub fn finish(mut self) -> Result<CombinedTreeProof> {
        let rootless: Vec<u64> = self.entries.rootless().collect();
        self.proof.prefix_roots = rootless.iter().map(|&x| self.entries_data[x as usize].prefix_root).collect();
        let proven: Vec<u64> =
            self.entries.0.iter().filter(|(_, a)| !a.retained && a.timestamp.is_some()).map(|(&x, _)| x).collect();
        self.proof.inclusion = self.log.prove(self.n, &proven, self.retained, self.also)?;
        Ok(self.proof)
    }
}

impl<S: HeadStore> Source for Recorder<'_, S> {
    fn timestamp(&mut self, x: u64) -> Result<u64> {
        if let Some(t) = self.entries.timestamp(x) {
            return Ok(t);
        }
        let t = self.entries_data[x as usize].timestamp;
        self.entries.0.entry(x).or_default().timestamp = Some(t);
        self.proof.timestamps.push(t);
        Ok(t)
    }

    fn open(&mut self, x: u64) -> Result<()> {
        // An entry with lookups needs its timestamp for its leaf value.
        self.timestamp(x)?;
        self.open = Some((x, Vec::new()));
        Ok(())
    }

    fn lookup(&mut self, version: u32) -> Result<bool> {
        let keys = self.keys.ok_or_else(|| invalid("a lookup in a request without a label"))?;
        let (x, lookups) = self.open.as_mut().expect("lookups happen between open and close");
        let (key, added) = keys(version)?;
        lookups.push(key);
        // Entries only add keys: entry x's tree holds a version iff an entry
        // up to x added it (the proof, made from the tree, shows the same;
        // a tree walk here would cost a cache miss a level).
        Ok(added.is_some_and(|a| a <= *x))
    }

    fn exhausted(&self) -> bool {
        false
    }

    fn close(&mut self) -> Result<()> {
        let (x, lookups) = self.open.take().expect("close follows open");
        self.proof.prefix_proofs.push(self.map.prove_with(&lookups, Some(x + 1), &mut self.twigs)?);
        let root = self.entries_data[x as usize].prefix_root;
        self.entries.0.entry(x).or_default().root = Some(root);
        Ok(())
    }
}
