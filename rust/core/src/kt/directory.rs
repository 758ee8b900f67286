//! The Transparency Log's side: labels and their versions, staged updates
//! published as log entries (one prefix-tree version each, many labels per
//! entry), and answers to search, monitoring and distinguished-head
//! requests, each with the proof the algorithms record. Its data is a
//! [`Store`]: in memory, or in files that a publisher and any number of
//! reader processes share. (A directory of the first on-disk format, a
//! journal replayed into memory on opening, [`super::journal`], still opens.)

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::Path;

use ed25519_dalek::SigningKey;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::algorithms::{Params, Walker};
use super::auditor::{AuditorUpdate, EMPTY_PROOF, MAX_ADDED};
use super::combined::CombinedTreeProof;
use super::commitment::{commitment, complete_proof, search_key, search_key_gamma, update_value, OPENING_LEN};
use super::journal::{auditor_head_record, check_stored, entry_record, Added, Journal, Record};
use super::ladder;
use super::log_tree::LogEntry;
use super::messages::{
    DistinguishedRequest, FullTreeHead, LadderStep, MonitorRequest, OwnerInitRequest, OwnerInitResponse,
    OwnerMonitorRequest, ProofResponse, SearchRequest, SearchResponse, UpdateRequest, UpdateResponse,
};
use super::recorder::{Recorder, SearchKeys};
use super::search_tree::path_to;
use super::store::labels::{New, Version};
use super::store::{Store, Stored};
use super::tree_head::{AuditorTreeHead, Configuration, Mode, SignedHead, TreeHead};
use super::wire::Reader;
use crate::error::{damaged, invalid, Error, Result};
use crate::map::{Access, Key};
use crate::storage::{Objects, Records};
use crate::suite::Hash;
use crate::vrf::{VrfSecretKey, PROOF_LEN};

/// The algorithms report what the server's own data cannot prove (say, a
/// version that has expired) as a failed verification; to the server it is
/// a request it cannot answer.
fn refused(e: Error) -> Error {
    match e {
        Error::Verification(m) => Error::InvalidArgument(m),
        e => e,
    }
}

/// Most ladders one owner monitoring response gives; the owner asks again.
const OWNER_LADDERS: usize = 16;

/// The context of the key that derives commitment openings.
const OPENINGS: &str = "veritree 2026-12-05 KEYTRANS commitment openings";

/// A key directory's log: the combined tree and everything needed to prove
/// its answers.
pub struct Directory {
    config: Configuration,
    signing: SigningKey,
    vrf: VrfSecretKey,
    /// Derives each version's commitment opening (from the VRF key): the
    /// store keeps none, 16 bytes a version.
    openings: Zeroizing<[u8; 32]>,
    /// The log, the prefix trees (version `x + 1` belongs to log entry
    /// `x`) and the labels.
    store: Store,
    staged: Vec<(Vec<u8>, Vec<u8>)>,
    /// Versions staged per label.
    staged_count: HashMap<Vec<u8>, u32>,
    head: Option<TreeHead>,
    /// How many of the rightmost distinguished entries count as recent.
    recent: usize,
    /// Third-party auditing: the newest auditor head received.
    auditor_head: Option<AuditorTreeHead>,
    /// Where a directory of the first on-disk format journals what it publishes.
    journal: Option<Journal>,
}

impl Directory {
    /// An empty directory. `config` must carry the public halves of
    /// `signing` and `vrf`.
    pub fn new(config: Configuration, signing: SigningKey, vrf: VrfSecretKey, recent: usize) -> Result<Directory> {
        Directory::over(Store::memory()?, config, signing, vrf, recent)
    }

    fn over(
        store: Store,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
    ) -> Result<Directory> {
        if config.signature_public_key != signing.verifying_key().as_bytes() {
            return Err(invalid("the configuration's signature key is not the signing key's"));
        }
        if config.vrf_public_key != vrf.public_key() {
            return Err(invalid("the configuration's VRF key is not the VRF key's"));
        }
        if matches!(config.mode, Mode::ThirdPartyManagement { .. }) {
            return Err(invalid("third-party management is not supported yet"));
        }
        if config.maximum_lifetime.is_some_and(|l| l <= config.reasonable_monitoring_window) {
            return Err(invalid("the maximum lifetime must exceed the reasonable monitoring window"));
        }
        Ok(Directory {
            config,
            signing,
            openings: vrf.derive_secret(OPENINGS),
            vrf,
            store,
            staged: Vec::new(),
            staged_count: HashMap::new(),
            head: None,
            recent,
            auditor_head: None,
            journal: None,
        })
    }

    /// The directory kept in the folder `path` by its one publisher (a
    /// second gets a `Locked` error), reopened at its last publication, or
    /// created there if `create` is set and there is none. `config` and
    /// `recent` must be the ones it was created with; the keys are never
    /// stored. A folder of the first on-disk format (a journal) opens too.
    pub fn open(
        path: &Path,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
        create: bool,
    ) -> Result<Directory> {
        if Journal::exists(path) {
            return Directory::open_journal(path, config, signing, vrf, recent, false);
        }
        let store = if !Store::exists(path) && create {
            Store::create(path, &config.to_bytes()?, recent as u64)?
        } else {
            Directory::open_store(path, &config, recent, Access::Writer)?
        };
        let mut d = Directory::over(store, config, signing, vrf, recent)?;
        d.take_published()?;
        Ok(d)
    }

    /// A reader of the directory kept in `path`, which its publisher (any
    /// process) writes: it answers from the newest publication it read
    /// (see [`Self::refresh`]), never writes and takes no lock.
    pub fn open_reader(
        path: &Path,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
    ) -> Result<Directory> {
        if Journal::exists(path) {
            return Err(invalid(format!(
                "{} holds a directory of the first on-disk format (a journal replayed into memory), which has no \
                 readers; publish into a new directory to serve it from several processes",
                path.display()
            )));
        }
        let store = Directory::open_store(path, &config, recent, Access::Reader)?;
        let mut d = Directory::over(store, config, signing, vrf, recent)?;
        d.take_published()?;
        Ok(d)
    }

    fn open_store(path: &Path, config: &Configuration, recent: usize, access: Access) -> Result<Store> {
        let (store, stored) = Store::open(path, access)?;
        Directory::check_config(&stored, config, recent, &format!("at {}", path.display()))?;
        Ok(store)
    }

    fn check_config(stored: &Stored, config: &Configuration, recent: usize, whence: &str) -> Result<()> {
        let parsed = Configuration::from_bytes(&stored.config).map_err(|e| damaged(format!("its config: {e}")))?;
        check_stored(&parsed, stored.recent, whence, config, recent)
    }

    /// The directory kept in a shared store (a database: see
    /// `store::remote`), its local copy made in the folder `cache` (missing
    /// or empty; none: a private temporary folder, removed with it). As its publisher (the caller holds the store's lease), it
    /// is created there if `create` is set and there is none; with `reader`,
    /// a follower that answers from the newest publication it took (see
    /// [`Self::refresh`]) and never writes the store.
    #[allow(clippy::too_many_arguments)] // the keys and options every open takes, and the two modes
    pub fn open_shared(
        objects: Box<dyn Objects>,
        cache: Option<&Path>,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
        create: bool,
        reader: bool,
    ) -> Result<Directory> {
        let store = if create && !reader && !Store::shared_exists(&*objects)? {
            Store::create_shared(objects, cache, &config.to_bytes()?, recent as u64)?
        } else {
            let (store, stored) = Store::open_shared(objects, cache, !reader)?;
            Directory::check_config(&stored, &config, recent, "in the database")?;
            store
        };
        let mut d = Directory::over(store, config, signing, vrf, recent)?;
        d.take_published()?;
        Ok(d)
    }

    /// Takes the store's published state: its auditor head, and the tree
    /// head signed.
    fn take_published(&mut self) -> Result<()> {
        self.auditor_head = match self.store.auditor_head() {
            Some(h) => Some(AuditorTreeHead::decode(&mut Reader::new(h, "AuditorTreeHead"))?),
            None => None,
        };
        self.head = None;
        if self.size() > 0 {
            self.sign_head()?;
        }
        Ok(())
    }

    /// A reader moves to the newest publication, if there is one it has
    /// not read; returns whether it moved. (The publisher is always at
    /// its newest: nothing happens.)
    pub fn refresh(&mut self) -> Result<bool> {
        if !self.store.refresh()? {
            return Ok(false);
        }
        self.take_published()?;
        Ok(true)
    }

    /// Whether a reader has a newer publication to take ([`Self::refresh`]):
    /// lets callers answer from many threads and take `&mut` only then.
    pub fn stale(&self) -> Result<bool> {
        self.store.stale()
    }

    /// How far the database a follower reads (a replica) is behind its
    /// primary, in ms; `None` where it reads no replica.
    pub fn replica_lag_ms(&self) -> Result<Option<u64>> {
        self.store.replica_lag_ms()
    }

    /// Whether this is a reader of another process's directory.
    pub fn is_reader(&self) -> bool {
        self.store.is_reader()
    }

    /// The directory of the first on-disk format kept in the folder `path`
    /// (a journal replayed into memory): reopened with every entry whose
    /// `publish` returned, or created there if `create` is set and there is
    /// none.
    pub fn open_journal(
        path: &Path,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
        create: bool,
    ) -> Result<Directory> {
        let d = Directory::new(config, signing, vrf, recent)?;
        let (journal, records) = Journal::open(path, &d.config, recent, create)?;
        d.with_journal(journal, records, &format!("in {}", path.display()))
    }

    /// The directory whose journal's records are `found` in `store` (a
    /// backend of the storage seam; none found: a new directory), reopened
    /// with every entry whose `publish` returned.
    pub fn open_over(
        store: Box<dyn Records>,
        found: Vec<Vec<u8>>,
        config: Configuration,
        signing: SigningKey,
        vrf: VrfSecretKey,
        recent: usize,
    ) -> Result<Directory> {
        let d = Directory::new(config, signing, vrf, recent)?;
        let (journal, records) = Journal::over(store, found, &d.config, recent)?;
        d.with_journal(journal, records, "in its store")
    }

    /// Replays `records` and keeps `journal` for what is published next.
    fn with_journal(mut self, journal: Journal, records: Vec<Record>, whence: &str) -> Result<Directory> {
        for (i, record) in records.into_iter().enumerate() {
            self.replay(record)
                .map_err(|e| damaged(format!("record {} of the journal {whence} does not replay: {e}", i + 1)))?;
        }
        if self.size() > 0 {
            self.sign_head()?;
        }
        self.journal = Some(journal);
        Ok(self)
    }

    /// The journal, for tests that break it.
    #[cfg(test)]
    pub(crate) fn journal_mut(&mut self) -> Option<&mut Journal> {
        self.journal.as_mut()
    }

    /// The folder of an on-disk directory.
    pub fn path(&self) -> Option<&Path> {
        self.store.path().or_else(|| self.journal.as_ref().and_then(Journal::dir))
    }

    /// Redoes a journal record (no VRF, no signature: the caller signs the
    /// last head).
    fn replay(&mut self, record: Record) -> Result<()> {
        match record {
            Record::Entry { timestamp, previous_root, added } => {
                self.check_timestamp(timestamp)?;
                if previous_root != self.root()? {
                    return Err(invalid("the log's root before the entry is not the recorded one"));
                }
                let versions = self.number(added.iter().map(|a| a.label.as_slice()))?;
                let commitments = Self::commitments(&added, &versions)?;
                // A journal's proofs are whole.
                self.apply(timestamp, &added, &versions, &commitments, true)
            }
            Record::AuditorHead(head) => {
                self.auditor_head = Some(self.check_auditor_head(&head)?);
                self.store.commit(0, Some(head))
            }
        }
    }

    pub fn config(&self) -> &Configuration {
        &self.config
    }

    /// Updates staged for the next log entry.
    pub fn staged(&self) -> usize {
        self.staged.len()
    }

    /// Log entries published so far.
    pub fn size(&self) -> u64 {
        self.store.size()
    }

    /// The published log entries.
    pub fn entries(&self) -> &[LogEntry] {
        self.store.entries()
    }

    /// The greatest version of `label` (published), if any.
    pub fn greatest_version(&self, label: &[u8]) -> Result<Option<u32>> {
        Ok(self.store.labels.count(label)?.checked_sub(1))
    }

    /// The value of the greatest published version of `label`, if any: what
    /// a service checks a new version against before staging it.
    pub fn value(&self, label: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.store.labels.versions(label)?.pop().map(|v| v.value))
    }

    /// Refuses writes to a reader.
    fn writable(&self) -> Result<()> {
        if self.is_reader() {
            return Err(invalid("a reader of the directory does not publish: its publisher does"));
        }
        Ok(())
    }

    /// Queues a new version of `label` for the next log entry; returns the
    /// version it will have.
    pub fn stage(&mut self, label: &[u8], value: &[u8]) -> Result<u32> {
        self.writable()?;
        if label.len() > 255 {
            return Err(invalid("a label is at most 255 bytes"));
        }
        let published = u64::from(self.store.labels.count(label)?);
        let queued = self.staged_count.get(label).copied().unwrap_or(0);
        let version = u32::try_from(published + u64::from(queued))
            .ok()
            .filter(|&v| v < u32::MAX)
            .ok_or_else(|| invalid("a label has at most 2^32 - 1 versions"))?;
        self.staged.push((label.to_vec(), value.to_vec()));
        *self.staged_count.entry(label.to_vec()).or_default() += 1;
        Ok(version)
    }

    fn auditing(&self) -> bool {
        matches!(self.config.mode, Mode::ThirdPartyAuditing { .. })
    }

    fn check_timestamp(&self, timestamp: u64) -> Result<()> {
        if self.entries().last().is_some_and(|e| timestamp < e.timestamp) {
            return Err(invalid("a log entry's timestamp cannot be older than the one before it"));
        }
        Ok(())
    }

    /// Publishes every staged update as one log entry at `timestamp` (ms
    /// since the epoch, not older than the last entry); returns its index.
    /// With a third-party auditor, whose updates hold at most 255 leaves,
    /// larger batches become several entries (the last one's index returns).
    /// An on-disk directory's entries are durable when this returns.
    ///
    /// An error leaves the updates not yet published staged, in order (so
    /// the versions `stage` returned still hold): with an auditor, entries
    /// made before the error stay published.
    pub fn publish(&mut self, timestamp: u64) -> Result<u64> {
        self.writable()?;
        self.check_timestamp(timestamp)?;
        let per_entry = if self.auditing() { MAX_ADDED } else { usize::MAX };
        loop {
            let n = self.staged.len().min(per_entry);
            let position = self.publish_entry(timestamp, n)?;
            self.unstage(n);
            if self.staged.is_empty() {
                return Ok(position);
            }
        }
    }

    /// Takes the first `n` staged updates, now published, off the queue.
    fn unstage(&mut self, n: usize) {
        for (label, _) in self.staged.drain(..n) {
            if let Entry::Occupied(mut count) = self.staged_count.entry(label) {
                *count.get_mut() -= 1;
                if *count.get() == 0 {
                    count.remove();
                }
            }
        }
    }

    /// Publishes the first `n` staged updates as one log entry: makes their
    /// versions, journals them, then changes memory. A failure before the
    /// journal has the entry changes nothing; one after it stops writes
    /// (memory is behind the journal) until the directory is reopened.
    fn publish_entry(&mut self, timestamp: u64, n: usize) -> Result<u64> {
        if let Some(journal) = &self.journal {
            journal.writable()?;
        }
        let position = self.size();
        let (added, versions, commitments) = self.versions_of(&self.staged[..n])?;
        let previous_root = self.root()?;
        if let Some(journal) = &mut self.journal {
            journal.append(&entry_record(timestamp, &previous_root, &added)?)?;
        }
        let whole = self.journal.is_some();
        let applied = self.apply(timestamp, &added, &versions, &commitments, whole).and_then(|()| self.sign_head());
        if let (Err(e), Some(journal)) = (&applied, &mut self.journal) {
            journal
                .poison(format!("log entry {position} is journaled but was not applied ({e}); reopen the directory"));
        }
        applied.map(|()| position)
    }

    /// The versions a batch of staged updates makes: each with its search
    /// key, VRF proof and derived opening, its number and its commitment.
    fn versions_of(&self, batch: &[(Vec<u8>, Vec<u8>)]) -> Result<(Vec<Added>, Vec<u32>, Vec<Hash>)> {
        let versions = self.number(batch.iter().map(|(l, _)| l.as_slice()))?;
        // The VRF dominates publishing: every core evaluates it.
        let vrf = &self.vrf;
        let journaled = self.journal.is_some();
        let added: Vec<Added> = batch
            .par_iter()
            .zip(&versions)
            .map(|((label, value), &version)| {
                // A journal keeps whole proofs; the store's rest follows
                // (`fill_proofs`), off the publishing path.
                let (key, proof) = match journaled {
                    true => search_key(vrf, label, version)?,
                    false => {
                        let (key, gamma) = search_key_gamma(vrf, label, version)?;
                        let mut proof = [0; PROOF_LEN];
                        proof[..32].copy_from_slice(&gamma);
                        (key, proof)
                    }
                };
                let opening = self.opening(label, version);
                Ok(Added { label: label.clone(), value: value.clone(), opening, proof, key })
            })
            .collect::<Result<_>>()?;
        let commitments = Self::commitments(&added, &versions)?;
        Ok((added, versions, commitments))
    }

    /// Writes an entry of `updates` but not the head that would publish it:
    /// what a crash just before the head's rename leaves.
    #[cfg(test)]
    pub(crate) fn unpublished_entry(&mut self, timestamp: u64, updates: &[(&[u8], &[u8])]) {
        let batch: Vec<(Vec<u8>, Vec<u8>)> = updates.iter().map(|(l, v)| (l.to_vec(), v.to_vec())).collect();
        let (added, versions, commitments) = self.versions_of(&batch).unwrap();
        self.add_entry(timestamp, &added, &versions, &commitments, false).unwrap();
    }

    /// Bytes of version records published (the file's magic included).
    #[cfg(test)]
    pub(crate) fn record_bytes(&self) -> u64 {
        self.store.labels.head().records
    }

    /// Publishes version `value` of `label` with `opening` (not the derived
    /// one): what replaying a journal written with random openings does.
    #[cfg(test)]
    pub(crate) fn publish_with_opening(&mut self, timestamp: u64, label: &[u8], value: &[u8], opening: [u8; OPENING_LEN]) {
        let (mut added, versions, _) = self.versions_of(&[(label.to_vec(), value.to_vec())]).unwrap();
        added[0].opening = opening;
        let commitments = Self::commitments(&added, &versions).unwrap();
        self.apply(timestamp, &added, &versions, &commitments, false).and_then(|()| self.sign_head()).unwrap();
    }

    /// The version numbers a batch of updates to `labels` takes: each
    /// label's next ones after its published versions, in order.
    fn number<'a>(&self, labels: impl Iterator<Item = &'a [u8]>) -> Result<Vec<u32>> {
        let mut next: HashMap<&[u8], u32> = HashMap::new();
        labels
            .map(|l| {
                let n = match next.entry(l) {
                    Entry::Occupied(n) => n.into_mut(),
                    Entry::Vacant(n) => n.insert(self.store.labels.count(l)?),
                };
                *n += 1;
                Ok(*n - 1)
            })
            .collect()
    }

    /// The commitments of versions `versions` (numbered as by `number`).
    fn commitments(added: &[Added], versions: &[u32]) -> Result<Vec<Hash>> {
        added
            .par_iter()
            .zip(versions)
            .map(|(a, &version)| commitment(&a.opening, &a.label, version, &update_value(&a.value)?))
            .collect()
    }

    /// The log's root (zeros while it is empty).
    fn root(&self) -> Result<Hash> {
        match self.size() {
            0 => Ok([0; 32]),
            n => self.store.log.root(n),
        }
    }

    /// Adds a log entry at `timestamp` holding `added` (versions
    /// `versions`, with their commitments) and publishes it: durable on disk
    /// when this returns. A failure changes nothing.
    /// `whole`: whether the proofs are whole (else Gamma only).
    fn apply(&mut self, timestamp: u64, added: &[Added], versions: &[u32], commitments: &[Hash], whole: bool) -> Result<()> {
        self.add_entry(timestamp, added, versions, commitments, whole)?;
        let fresh = versions.iter().filter(|&&v| v == 0).count() as u64;
        let auditor = self.store.auditor_head().map(<[u8]>::to_vec);
        self.store.commit(fresh, auditor)
    }

    /// Adds the entry to the store, unpublished; a failure changes nothing.
    fn add_entry(
        &mut self,
        timestamp: u64,
        added: &[Added],
        versions: &[u32],
        commitments: &[Hash],
        whole: bool,
    ) -> Result<()> {
        let position = self.size();
        let new: Vec<New<'_>> = added
            .iter()
            .zip(versions)
            .map(|(a, &version)| New {
                label: &a.label,
                version,
                key: a.key,
                proof: a.proof,
                opening: a.opening,
                // A journal's older entries hold random openings: stored.
                derived: a.opening == self.opening(&a.label, version),
                value: &a.value,
                position,
            })
            .collect();
        self.store.add(timestamp, &new, commitments, whole)?;
        if let Err(e) = self.prune_expired(timestamp) {
            self.store.reset()?;
            return Err(e);
        }
        Ok(())
    }

    fn sign_head(&mut self) -> Result<()> {
        let n = self.size();
        self.head = Some(TreeHead::sign(&self.signing, &self.config, n, &self.store.log.root(n)?)?);
        Ok(())
    }

    /// Drops the prefix trees of expired entries: no algorithm looks into
    /// them (the draft's maximum lifetime). Their timestamps and roots stay,
    /// for searches that pass over them. With an auditor, the tree before
    /// the first live entry stays too: that entry's `AuditorUpdate` proves
    /// its new leaves absent from it.
    fn prune_expired(&mut self, newest: u64) -> Result<()> {
        let Some(lifetime) = self.config.maximum_lifetime else { return Ok(()) };
        let first_live = self.entries().partition_point(|e| newest.saturating_sub(e.timestamp) >= lifetime) as u64;
        // Entry x's tree is map version x + 1.
        self.store.map.prune(if self.auditing() { first_live } else { first_live + 1 })
    }

    /// The oldest log entry whose prefix tree is still kept.
    pub fn oldest_tree(&self) -> u64 {
        self.store.map.oldest_version().saturating_sub(1)
    }

    fn params(&self) -> Result<Params> {
        if self.size() == 0 {
            return Err(invalid("the log has no entries yet"));
        }
        let c = &self.config;
        Ok(Params { n: self.size(), rmw: c.reasonable_monitoring_window, maximum_lifetime: c.maximum_lifetime })
    }

    /// The `AuditorUpdate` of entry `x`, for the third-party auditor.
    pub fn auditor_update(&self, x: u64) -> Result<Vec<u8>> {
        if !self.auditing() || x >= self.size() {
            return Err(invalid(format!("no auditor update for entry {x} (auditing mode, {} entries)", self.size())));
        }
        let mut added = self
            .store
            .versions_of_entry(x)?
            .into_iter()
            .map(|(label, v)| Ok((v.key, self.commitment_of(&label, &v)?)))
            .collect::<Result<Vec<(Key, Hash)>>>()?;
        added.sort_unstable_by_key(|a| a.0);
        let proof = if added.is_empty() {
            EMPTY_PROOF.to_vec()
        } else {
            let keys: Vec<Key> = added.iter().map(|a| a.0).collect();
            self.store.map.prove(&keys, Some(x))?
        };
        AuditorUpdate { timestamp: self.entries()[x as usize].timestamp, added, proof }.to_bytes()
    }

    /// Takes the auditor's signed head (an encoded `AuditorTreeHead`) to
    /// serve with later tree heads; it must sign this log's root at its size.
    /// An on-disk directory journals it first.
    pub fn set_auditor_head(&mut self, head: &[u8]) -> Result<()> {
        let parsed = self.check_auditor_head(head)?;
        if self.auditor_head.as_ref() == Some(&parsed) {
            return Ok(());
        }
        self.writable()?;
        if let Some(journal) = &mut self.journal {
            journal.append(&auditor_head_record(head)?)?;
        }
        self.store.commit(0, Some(head.to_vec()))?;
        self.auditor_head = Some(parsed);
        Ok(())
    }

    /// Decodes an auditor head and checks that it fits this log.
    fn check_auditor_head(&self, head: &[u8]) -> Result<AuditorTreeHead> {
        let mut r = Reader::new(head, "AuditorTreeHead");
        let head = AuditorTreeHead::decode(&mut r)?;
        r.finish()?;
        let n = head.tree_size;
        if n == 0 || n > self.size() || self.auditor_head.as_ref().is_some_and(|h| n < h.tree_size) {
            return Err(invalid(format!("an auditor head of {n} entries does not fit a log of {}", self.size())));
        }
        if self.entries()[n as usize - 1].timestamp != head.timestamp {
            return Err(invalid("the auditor head's timestamp is not its last entry's"));
        }
        head.verify(&self.config, &self.store.log.root(n)?)?;
        Ok(head)
    }

    /// The current signed head with the root it signs (an error before the
    /// first entry): what a refusal to a user ahead of the log carries.
    fn signed_head(&self) -> Result<SignedHead> {
        let head = self.head.as_ref().ok_or_else(|| invalid("the log has no entries yet"))?;
        Ok(SignedHead {
            tree_size: head.tree_size,
            root: self.store.log.root(head.tree_size)?,
            signature: head.signature.clone(),
        })
    }

    fn full_tree_head(&self, last: Option<u64>) -> Result<FullTreeHead> {
        let n = self.size();
        match last {
            _ if n == 0 => Err(invalid("the log has no entries yet")),
            Some(0) => Err(invalid("a user cannot have seen a log of 0 entries")),
            Some(l) if l > n => Err(Error::Behind {
                message: format!("the user claims {l} entries; the log has {n}"),
                head: self.signed_head()?.to_bytes()?,
            }),
            Some(l) if l == n => Ok(FullTreeHead::Same),
            _ if self.auditing() && self.auditor_head.is_none() => Err(invalid("the log has no auditor tree head yet")),
            _ => Ok(FullTreeHead::Updated {
                head: self.head.clone().expect("published"),
                auditor: self.auditor_head.clone(),
            }),
        }
    }

    /// The auditor size a response's inclusion proof must also cover.
    fn also(head: &FullTreeHead) -> Option<u64> {
        match head {
            FullTreeHead::Updated { auditor: Some(a), .. } => Some(a.tree_size),
            _ => None,
        }
    }

    /// The search key of any version of `label` (computed for versions
    /// that do not exist) and the entry that added it (`None`: none did).
    fn key_of(&self, versions: &[Version], label: &[u8], version: u32) -> Result<(Key, Option<u64>)> {
        match versions.get(version as usize) {
            Some(v) => Ok((v.key, Some(v.position))),
            None => Ok((search_key(&self.vrf, label, version)?.0, None)),
        }
    }

    /// The VRF proof of `v`, a version of `label`: stored once
    /// [`Self::fill_proofs`] reached it, else made here (the same bytes:
    /// the proof is deterministic).
    fn proof_of(&self, label: &[u8], v: &Version) -> Result<[u8; PROOF_LEN]> {
        match v.proved {
            true => Ok(v.proof),
            false => complete_proof(&self.vrf, label, v.version, v.proof[..32].try_into().expect("32 bytes")),
        }
    }

    /// Completes the VRF proofs of up to `max` published versions whose
    /// proofs publishing left for later (it computes only their search keys
    /// and Gamma, under half the work), oldest first, and publishes them;
    /// returns how many it completed (0: none is left). Until then, answers
    /// compute a missing proof themselves.
    pub fn fill_proofs(&mut self, max: usize) -> Result<usize> {
        self.writable()?;
        let pending = self.store.labels.unproved(max)?;
        let Some(end) = pending.last().map(|u| u.end) else { return Ok(0) };
        let vrf = &self.vrf;
        let proofs = pending
            .par_iter()
            .map(|u| Ok((u.proof_at, complete_proof(vrf, &u.label, u.version, &u.gamma)?)))
            .collect::<Result<Vec<_>>>()?;
        self.store.set_proofs(&proofs, end)?;
        Ok(proofs.len())
    }

    /// The published versions of `label`, oldest first: none for a label
    /// the log does not hold.
    fn versions(&self, label: &[u8]) -> Result<Vec<Version>> {
        self.store.versions(label)
    }

    /// The commitment opening of version `version` of `label`, as this
    /// directory derives it: a keyed hash, so only the key's holder can
    /// tell one before it is served, and what one reveals says nothing of
    /// another.
    pub(crate) fn opening(&self, label: &[u8], version: u32) -> [u8; OPENING_LEN] {
        let mut h = blake3::Hasher::new_keyed(&self.openings);
        h.update(&(label.len() as u32).to_be_bytes()).update(label).update(&version.to_be_bytes());
        h.finalize().as_bytes()[..OPENING_LEN].try_into().expect("16 bytes")
    }

    /// The opening of `v`, a version of `label`: stored, or derived.
    fn opening_of(&self, label: &[u8], v: &Version) -> [u8; OPENING_LEN] {
        v.opening.unwrap_or_else(|| self.opening(label, v.version))
    }

    /// The commitment of `v`, a version of `label`.
    fn commitment_of(&self, label: &[u8], v: &Version) -> Result<Hash> {
        commitment(&self.opening_of(label, v), label, v.version, &update_value(&v.value)?)
    }

    /// Runs `algorithm` for a user who saw `last` entries, after updating
    /// its view, and records the proof: the one way every answer is made.
    fn record<T>(
        &self,
        last: Option<u64>,
        keys: Option<SearchKeys<'_>>,
        head: &FullTreeHead,
        algorithm: impl FnOnce(&mut Walker<'_>) -> Result<T>,
    ) -> Result<(T, CombinedTreeProof)> {
        let params = self.params()?;
        let s = &self.store;
        let mut rec = Recorder::new(&s.log, s.entries(), &s.map, params.n, last, keys, Self::also(head));
        let mut w = Walker::new(&mut rec, params);
        w.update_view(last)?;
        let out = algorithm(&mut w).map_err(refused)?;
        Ok((out, rec.finish()?))
    }

    /// Answers a `SearchRequest`.
    pub fn search(&self, request: &[u8]) -> Result<Vec<u8>> {
        let req = SearchRequest::from_bytes(request)?;
        let full_tree_head = self.full_tree_head(req.last)?;
        let versions = self.versions(&req.label)?;
        let greatest = (versions.len() as u32).checked_sub(1).ok_or_else(|| invalid("no such label"))?;
        let t = req.version.unwrap_or(greatest);
        let target = versions.get(t as usize).ok_or_else(|| invalid(format!("the label has no version {t}")))?;
        // Every lookup of either search is a version of this ladder: the
        // VRF of a version that does not exist is evaluated once, here.
        let ladder: Vec<(u32, Key, LadderStep)> = ladder::base(t)
            .into_iter()
            .map(|v| {
                Ok(match versions.get(v as usize) {
                    Some(s) => {
                        let commitment = if v != t { Some(self.commitment_of(&req.label, s)?) } else { None };
                        (v, s.key, LadderStep { proof: self.proof_of(&req.label, s)?, commitment })
                    }
                    None => {
                        let (key, proof) = search_key(&self.vrf, &req.label, v)?;
                        (v, key, LadderStep { proof, commitment: None })
                    }
                })
            })
            .collect::<Result<_>>()?;
        let keys = |v: u32| match ladder.iter().find(|l| l.0 == v) {
            Some(l) => Ok((l.1, versions.get(v as usize).map(|s| s.position))),
            None => self.key_of(&versions, &req.label, v),
        };
        let (_, search) = self.record(req.last, Some(&keys), &full_tree_head, |w| match req.version {
            None => w.greatest_version(t),
            Some(_) => w.fixed_version(t),
        })?;
        let response = SearchResponse {
            full_tree_head,
            version: req.version.is_none().then_some(t),
            opening: self.opening_of(&req.label, target),
            value: target.value.clone(),
            binary_ladder: ladder.into_iter().map(|l| l.2).collect(),
            search,
        };
        response.to_bytes()
    }

    /// Answers a `ContactMonitorRequest`.
    pub fn monitor(&self, request: &[u8]) -> Result<Vec<u8>> {
        let req = MonitorRequest::from_bytes(request)?;
        let params = self.params()?;
        let full_tree_head = self.full_tree_head(req.last)?;
        let versions = self.versions(&req.label)?;
        if versions.is_empty() {
            return Err(invalid("no such label"));
        }
        self.check_monitor_map(&versions, &req.entries, params.n)?;
        let keys = |v: u32| self.key_of(&versions, &req.label, v);
        let mut map = req.entries.iter().copied().collect();
        let (_, proof) = self.record(req.last, Some(&keys), &full_tree_head, |w| w.contact_monitor(&mut map))?;
        ProofResponse { full_tree_head, proof }.to_bytes()
    }

    /// The draft's checks of a monitoring map: ascending positions, no
    /// version twice, each position on the direct path of the entry that
    /// added its version.
    fn check_monitor_map(&self, versions: &[Version], entries: &[(u64, u32)], n: u64) -> Result<()> {
        let positions_ascend = entries.windows(2).all(|w| w[0].0 < w[1].0);
        let mut seen: Vec<u32> = entries.iter().map(|e| e.1).collect();
        seen.sort_unstable();
        if !positions_ascend || seen.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("monitoring entries must ascend by position, without repeated versions"));
        }
        for &(pos, version) in entries {
            let first =
                versions.get(version as usize).ok_or_else(|| invalid(format!("no version {version}")))?.position;
            let on_path = pos == first || (pos > first && pos < n && path_to(first, n).contains(&pos));
            if !on_path {
                return Err(invalid(format!("position {pos} is not on the direct path of version {version}'s entry")));
            }
        }
        Ok(())
    }

    /// The greatest version of a label's `versions` at entry `x`.
    fn greatest_at(versions: &[Version], x: u64) -> Option<u32> {
        (versions.partition_point(|v| v.position <= x) as u32).checked_sub(1)
    }

    /// Answers an `OwnerInitRequest`: the label's greatest version at the
    /// entries owner initialization inspects, with full ladders there.
    pub fn owner_init(&self, request: &[u8]) -> Result<Vec<u8>> {
        let req = OwnerInitRequest::from_bytes(request)?;
        let full_tree_head = self.full_tree_head(req.last)?;
        let versions = self.versions(&req.label)?;
        let keys = |v: u32| self.key_of(&versions, &req.label, v);
        let (greatest, init) = self.record(req.last, Some(&keys), &full_tree_head, |w| {
            let entries = w.owner_entries(req.start)?;
            let greatest: Vec<u32> = entries.iter().map_while(|&x| Self::greatest_at(&versions, x)).collect();
            w.owner_init(req.start, &greatest)?;
            Ok(greatest)
        })?;
        let mut looked_up: Vec<u32> = greatest.iter().flat_map(|&g| ladder::base(g)).chain([0]).collect();
        looked_up.sort_unstable();
        looked_up.dedup();
        let newest = greatest.first().copied();
        let binary_ladder = looked_up
            .into_iter()
            .map(|v| {
                Ok(match versions.get(v as usize).filter(|_| newest.is_some_and(|g| v <= g)) {
                    Some(s) => {
                        LadderStep { proof: self.proof_of(&req.label, s)?, commitment: Some(self.commitment_of(&req.label, s)?) }
                    }
                    None => LadderStep { proof: search_key(&self.vrf, &req.label, v)?.1, commitment: None },
                })
            })
            .collect::<Result<_>>()?;
        OwnerInitResponse { full_tree_head, greatest_versions: greatest, binary_ladder, init }.to_bytes()
    }

    /// Answers an `OwnerMonitorRequest`: contact monitoring of the owner's
    /// map, then ladders at the distinguished entries right of `start`, up
    /// to the first holding a version the owner does not know of, at most
    /// `OWNER_LADDERS` of them.
    pub fn owner_monitor(&self, request: &[u8]) -> Result<Vec<u8>> {
        let req = OwnerMonitorRequest::from_bytes(request)?;
        let params = self.params()?;
        let full_tree_head = self.full_tree_head(req.last)?;
        let versions = self.versions(&req.label)?;
        self.check_monitor_map(&versions, &req.entries, params.n)?;
        if req.start >= params.n {
            return Err(invalid(format!("start {} is past the log's {} entries", req.start, params.n)));
        }
        let greatest = (versions.len() as u32).checked_sub(1);
        let at_start = Self::greatest_at(&versions, req.start);
        if req.greatest_version > greatest || at_start > req.greatest_version {
            return Err(invalid("greatest_version does not fit the label's versions"));
        }
        let keys = |v: u32| self.key_of(&versions, &req.label, v);
        let expected = |x: u64| Self::greatest_at(&versions, x).min(req.greatest_version);
        let mut ladders = 0;
        let mut stop = |x: u64| {
            ladders += 1;
            ladders > OWNER_LADDERS || Self::greatest_at(&versions, x) > req.greatest_version
        };
        let mut map = req.entries.iter().copied().collect();
        let (_, proof) = self.record(req.last, Some(&keys), &full_tree_head, |w| {
            w.contact_monitor(&mut map)?;
            w.owner_monitor(req.start, &expected, &mut stop)
        })?;
        ProofResponse { full_tree_head, proof }.to_bytes()
    }

    /// Answers an `UpdateRequest` from a label's owner.
    ///
    /// With new values and the label's current greatest version, the values
    /// are staged for the next log entry (versions are published in
    /// batches, not one entry per request) and `None` returns; the owner
    /// asks again after publication. With an older greatest version, the
    /// answer is the draft's `UpdateResponse` for the first entry that
    /// added versions since, listing their values (the request's values
    /// are then disregarded, as the draft says).
    pub fn update(&mut self, request: &[u8]) -> Result<Option<Vec<u8>>> {
        let req = UpdateRequest::from_bytes(request)?;
        let greatest = self.greatest_version(&req.label)?;
        let pending = self.staged_count.get(&req.label).copied().unwrap_or(0);
        if req.greatest_version > greatest {
            return Err(invalid("no version of the label is that great"));
        }
        if req.greatest_version == greatest {
            if req.values.is_empty() {
                return Err(invalid("no version of the label is newer than that, and no values to add"));
            }
            if pending > 0 {
                let mut waiting = self.staged.iter().filter(|(label, _)| *label == req.label).map(|(_, v)| v);
                if pending as usize == req.values.len() && waiting.by_ref().eq(&req.values) {
                    // The same request again (its answer was lost): it
                    // waits for the entry its values already wait for.
                    return Ok(None);
                }
                return Err(invalid("other versions of the label are already waiting for the next log entry"));
            }
            for value in &req.values {
                self.stage(&req.label, value)?;
            }
            return Ok(None);
        }
        self.answer_update(&req).map(Some)
    }

    fn answer_update(&self, req: &UpdateRequest) -> Result<Vec<u8>> {
        let full_tree_head = self.full_tree_head(req.last)?;
        let versions = self.versions(&req.label)?;
        let next = req.greatest_version.map_or(0, |g| g as usize + 1);
        let p = versions[next].position;
        let new: Vec<u32> =
            (next..versions.len()).take_while(|&v| versions[v].position == p).map(|v| v as u32).collect();
        let settled = req.greatest_version.map_or(0, |g| versions[g as usize].position);
        let g_new = *new.last().expect("at least the first");
        // The owner knows the VRF outputs of the previous ladder (or of
        // version 0, from owner initialization).
        let known = req.greatest_version.map_or(vec![0], ladder::base);
        let mut looked_up: Vec<u32> = ladder::base(g_new).into_iter().chain(new.iter().copied()).collect();
        looked_up.sort_unstable();
        looked_up.dedup();
        looked_up.retain(|v| !known.contains(v));
        let binary_ladder = looked_up
            .into_iter()
            .map(|v| {
                Ok(match versions.get(v as usize) {
                    Some(s) => LadderStep {
                        proof: self.proof_of(&req.label, s)?,
                        commitment: match req.greatest_version.is_some_and(|g| v < g) {
                            true => Some(self.commitment_of(&req.label, s)?),
                            false => None,
                        },
                    },
                    None => LadderStep { proof: search_key(&self.vrf, &req.label, v)?.1, commitment: None },
                })
            })
            .collect::<Result<_>>()?;
        let keys = |v: u32| self.key_of(&versions, &req.label, v);
        let (_, update) = self.record(req.last, Some(&keys), &full_tree_head, |w| {
            w.update_label(p, req.greatest_version, settled, &new)
        })?;
        UpdateResponse {
            full_tree_head,
            position: p,
            values: new.iter().map(|&v| versions[v as usize].value.clone()).collect(),
            openings: new.iter().map(|&v| self.opening_of(&req.label, &versions[v as usize])).collect(),
            binary_ladder,
            update,
        }
        .to_bytes()
    }

    /// Answers a `DistinguishedRequest`.
    pub fn distinguished(&self, request: &[u8]) -> Result<Vec<u8>> {
        let req = DistinguishedRequest::from_bytes(request)?;
        let full_tree_head = self.full_tree_head(req.last)?;
        let (_, proof) =
            self.record(req.last, None, &full_tree_head, |w| w.walk_distinguished(req.stop, self.recent))?;
        ProofResponse { full_tree_head, proof }.to_bytes()
    }
}
