//! Labels and their versions: an append-only file of version records and a
//! hash index from each label to its newest record.
//!
//! A version record holds what a proof about it needs that is not kept
//! elsewhere — the VRF proof, the value, and the slot of its leaf in the
//! prefix tree (which holds its search key and commitment) — and the offset
//! of the label's previous version, so a label's versions are a chain from
//! its newest record. The commitment opening is derived from the directory's
//! secret ([`Version::opening`] is `None`) unless it was made elsewhere (a
//! journal's), and the log entry that added a version follows from where
//! its record lies (each entry's records start where `log/starts` says).
//! Records are packed (no padding): every byte a record does not need costs
//! a byte per label version. Offset 0 is the file's magic, so 0 means "none".
//! A format-2 file (its own magic) keeps its layout ([`Layout::Aligned`]:
//! 8-byte aligned records that also hold the key, position and opening), read
//! and appended to as it is.
//!
//! The index is an open-addressing table (linear probing) of 16-byte slots:
//! the label's 64-bit keyed hash and its newest record's offset. It grows by
//! doubling into a new file (a new *generation*), from the slots alone.
//!
//! Readers in other processes see a published state: records and slots are
//! written before the head that publishes them, and a record past the
//! head's end of records is skipped by following its `prev` offset, so a
//! slot that already points at an unpublished version still leads to the
//! published one. Records are durable before any slot points at them, so a
//! crash (or a failed publication) is undone from the records past the
//! published end alone ([`Labels::undo`]).
//!
//! Why these files and not an embedded database: readers in many processes
//! must answer from one published state while the publisher writes, which
//! redb (one process per database) cannot serve, and every array here only
//! grows, so a head's lengths are a snapshot. Why a hash table and not a
//! second prefix tree keyed by the label's hash: measured by `kt_on_disk`
//! (veritree.bench), the index took 27 bytes a label at 10^7 labels, where
//! the prefix tree on disk takes ~96 bytes a key (`map_on_disk`) and more
//! with every version it keeps; a lookup is one or two cache misses, not a
//! walk of ~24 nodes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{damaged, invalid, Result};
use crate::kt::commitment::OPENING_LEN;
use crate::map::Key;
use crate::storage::slab::Slab;
use crate::vrf::PROOF_LEN;

/// The records file starts with this (and offset 0 is no record).
pub const RECORDS_MAGIC: &[u8; 16] = b"veritree labels3";
/// Format 2's records file (issue 18's first version), still read and
/// written in its own layout.
const RECORDS_MAGIC_2: &[u8; 16] = b"veritree labels\n";
/// A record: length (u32), version (u32; the top bit says an opening
/// follows the fixed part), the previous version's offset (u48), the leaf
/// slot (u32), the VRF proof, the label's length (u8); then the opening if
/// any, the label and the value.
const PROOF_AT: usize = 4 + 4 + 6 + 4;
/// Bytes of a record before its opening (if any) and label.
const FIXED: usize = PROOF_AT + PROOF_LEN + 1;
/// Format 2's record, 8-byte aligned: length (u32), version (u32), previous
/// version's offset (u64), position (u64), search key, VRF proof, opening,
/// the label's length (u8), the label, the value.
const PROOF_AT_2: usize = 4 + 4 + 8 + 8 + 32;
const FIXED_2: usize = PROOF_AT_2 + PROOF_LEN + OPENING_LEN + 1;
/// The version field's flag: an opening is stored.
const OPENING_STORED: u32 = 1 << 31;
/// Offsets (of the previous version) fit in 48 bits: 256 TiB of records.
const MAX_OFFSET: u64 = (1 << 48) - 1;
/// Most records in use a slot table of `cap` slots holds: 5/8 of them.
fn max_load(cap: usize) -> usize {
    cap / 8 * 5
}
const MIN_SLOTS: usize = 1 << 12;

/// One version of a label: its record, and what the store adds from the
/// prefix tree and the log ([`super::Store::versions`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub version: u32,
    /// The log entry that added it (set by the store).
    pub position: u64,
    /// Its search key (set by the store, from its leaf).
    pub key: Key,
    /// Its leaf's slot in the prefix tree (format 2 keeps the key instead).
    pub leaf: Option<u32>,
    /// The record's offset.
    pub offset: u64,
    pub proof: [u8; PROOF_LEN],
    /// The commitment opening, if stored (else the directory derives it).
    pub opening: Option<[u8; OPENING_LEN]>,
    pub value: Vec<u8>,
    /// Whether `proof` is whole (else it holds Gamma only: see
    /// [`LabelsHead::proved`]).
    pub proved: bool,
}

/// A published version whose VRF proof holds Gamma only: its record's
/// offset and end, and what completing the proof needs.
pub struct Unproved {
    pub offset: u64,
    pub end: u64,
    pub label: Vec<u8>,
    pub version: u32,
    pub gamma: [u8; 32],
}

/// A new version to add (its version number is the label's next).
pub struct New<'a> {
    pub label: &'a [u8],
    pub version: u32,
    pub key: Key,
    pub proof: [u8; PROOF_LEN],
    pub opening: [u8; OPENING_LEN],
    /// Whether the directory derives `opening` (then it is not stored).
    pub derived: bool,
    pub value: &'a [u8],
    /// The log entry that adds it (stored by format 2 only).
    pub position: u64,
}

/// What the head says of the labels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LabelsHead {
    /// Bytes of records published (the magic included).
    pub records: u64,
    /// Labels in the index.
    pub labels: u64,
    /// The index file's generation and its slots.
    pub generation: u64,
    pub slots: u64,
    /// Every record before this offset has its VRF proof whole; records
    /// from it on hold Gamma only (publishing leaves the rest for later).
    pub proved: u64,
}

impl LabelsHead {
    pub const LEN: usize = 40;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        let fields = [self.records, self.labels, self.generation, self.slots, self.proved];
        for (chunk, n) in out.chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&n.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8; Self::LEN]) -> LabelsHead {
        let n = |i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        LabelsHead { records: n(0), labels: n(1), generation: n(2), slots: n(3), proved: n(4) }
    }
}

/// Where the slabs of a new index generation come from (a file of the
/// directory, or anonymous memory).
pub type MakeIndex<'a> = &'a mut dyn FnMut(u64, usize) -> Result<Slab<u64>>;

pub struct Labels {
    layout: Layout,
    records: Slab<u8>,
    /// Two `u64` per slot: the label's hash, its newest record's offset.
    index: Slab<u64>,
    hash_key: [u8; 32],
    head: LabelsHead,
    /// Slots changed since the head, with their old contents (newest last).
    undo: Vec<(usize, [u64; 2])>,
    /// Whether every proof added since the head is whole.
    whole: bool,
}

fn bad(what: impl std::fmt::Display) -> crate::error::Error {
    damaged(format!("the label records are damaged: {what}"))
}

impl Labels {
    /// Labels over `records` and `index` at `head`; `hash_key` keys the index's hash.
    pub fn new(records: Slab<u8>, index: Slab<u64>, hash_key: [u8; 32], head: LabelsHead) -> Result<Labels> {
        if index.len() as u64 != head.slots * 2 || !head.slots.is_power_of_two() {
            return Err(bad(format!("an index of {} words for {} slots", index.len(), head.slots)));
        }
        let layout = match records.as_slice().get(..16) {
            Some(m) if m == RECORDS_MAGIC => Layout::Packed,
            Some(m) if m == RECORDS_MAGIC_2 => Layout::Aligned,
            _ => return Err(bad("no magic")),
        };
        Ok(Labels { layout, records, index, hash_key, head, undo: Vec::new(), whole: true })
    }

    /// A new, empty index of `MIN_SLOTS` slots and a records slab holding
    /// only the magic: their first head.
    pub fn create(records: &mut Slab<u8>, index: &mut Slab<u64>) -> Result<LabelsHead> {
        records.reserve(RECORDS_MAGIC.len())?;
        records.spare_mut(RECORDS_MAGIC.len()).copy_from_slice(RECORDS_MAGIC);
        records.grow(RECORDS_MAGIC.len());
        index.reserve(2 * MIN_SLOTS)?;
        index.spare_mut(2 * MIN_SLOTS).fill(0);
        index.grow(2 * MIN_SLOTS);
        let start = RECORDS_MAGIC.len() as u64;
        Ok(LabelsHead { records: start, labels: 0, generation: 0, slots: MIN_SLOTS as u64, proved: start })
    }

    fn hash(&self, label: &[u8]) -> u64 {
        let h = blake3::keyed_hash(&self.hash_key, label);
        // 0 marks an empty slot's hash nowhere, but keep it out anyway.
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")).max(1)
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        let w = &self.index.as_slice()[i];
        // SAFETY: `w` is an aligned u64 inside the index mapping and lives
        // as long as `&self`. The one writer (this process, or another that
        // maps the same file) changes slot words only through atomics, and
        // this process never writes a reader's private mapping.
        unsafe { AtomicU64::from_ptr(std::ptr::from_ref(w).cast_mut()) }
    }

    fn slot(&self, s: usize) -> (u64, u64) {
        // The offset first: the writer stores the hash before the offset.
        let offset = self.word(2 * s + 1).load(Ordering::Acquire);
        (self.word(2 * s).load(Ordering::Relaxed), offset)
    }

    fn set_slot(&mut self, s: usize, hash: u64, offset: u64) {
        self.word(2 * s).store(hash, Ordering::Relaxed);
        self.word(2 * s + 1).store(offset, Ordering::Release);
    }

    /// `len` bytes at `offset` of the records file, published or not (a
    /// reader's mapping may end before a record the writer just added).
    fn read(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>> {
        let at = usize::try_from(offset).map_err(|_| bad("an offset past memory"))?;
        match self.records.mapped().get(at..at.saturating_add(len)) {
            Some(b) => Ok(Cow::Borrowed(b)),
            None => {
                let mut buf = vec![0; len];
                self.records.read_at(at, &mut buf)?;
                Ok(Cow::Owned(buf))
            }
        }
    }

    /// The record at `offset` (published or not).
    fn record(&self, offset: u64) -> Result<Cow<'_, [u8]>> {
        let l = self.layout;
        if offset < RECORDS_MAGIC.len() as u64 || (l == Layout::Aligned && !offset.is_multiple_of(8)) {
            return Err(bad(format!("no record at {offset}")));
        }
        let len = u32::from_le_bytes(self.read(offset, 4)?[..].try_into().expect("4 bytes")) as usize;
        if len < l.fixed() {
            return Err(bad(format!("no record at {offset}")));
        }
        let r = self.read(offset, len)?;
        if l.label_at(&r) + r[l.fixed() - 1] as usize > len {
            return Err(bad(format!("a label past the record at {offset}")));
        }
        Ok(r)
    }

    fn prev(&self, record: &[u8]) -> u64 {
        let mut b = [0; 8];
        match self.layout {
            Layout::Packed => b[..6].copy_from_slice(&record[8..14]),
            Layout::Aligned => b.copy_from_slice(&record[8..16]),
        }
        u64::from_le_bytes(b)
    }

    /// A record's label (`record` checked whole).
    fn label_of<'r>(&self, record: &'r [u8]) -> &'r [u8] {
        let at = self.layout.label_at(record);
        &record[at..at + record[self.layout.fixed() - 1] as usize]
    }

    /// Where the record after `record` (at `offset`) starts.
    fn after(&self, offset: u64, record: &[u8]) -> u64 {
        self.layout.padded(offset + record.len() as u64)
    }

    /// Where a record's VRF proof lies in it.
    pub(crate) fn proof_at(&self) -> usize {
        self.layout.proof_at()
    }

    /// The slot of `label` (holding it, or the empty one where it goes) and
    /// its newest record's offset, even if unpublished (0: none).
    fn find(&self, label: &[u8], hash: u64) -> Result<(usize, u64)> {
        let mask = self.head.slots as usize - 1;
        let mut s = hash as usize & mask;
        for _ in 0..self.head.slots {
            let (h, offset) = self.slot(s);
            if offset == 0 {
                return Ok((s, 0));
            }
            if h == hash && self.label_of(&self.record(offset)?) == label {
                return Ok((s, offset));
            }
            s = (s + 1) & mask;
        }
        Err(bad("a full index"))
    }

    /// The newest published record of `label`.
    fn newest(&self, label: &[u8]) -> Result<u64> {
        let (_, mut offset) = self.find(label, self.hash(label))?;
        // Versions the head does not publish yet are skipped.
        while offset >= self.head.records {
            offset = self.prev(&self.record(offset)?);
        }
        Ok(offset)
    }

    /// The published versions of `label`, oldest first (none: not a label).
    pub fn versions(&self, label: &[u8]) -> Result<Vec<Version>> {
        let mut out = Vec::new();
        let mut offset = self.newest(label)?;
        while offset != 0 {
            let r = self.record(offset)?;
            let prev = self.prev(&r);
            if prev >= offset {
                return Err(bad(format!("the record at {offset} follows a newer one")));
            }
            out.push(Version { proved: offset < self.head.proved, ..self.layout.decode(&r, offset)? });
            offset = prev;
        }
        out.reverse();
        if out.iter().enumerate().any(|(i, v)| v.version as usize != i) {
            return Err(bad("a label's versions out of order"));
        }
        Ok(out)
    }

    /// The records in the byte range `[start, end)` (one log entry's), with
    /// their labels.
    pub fn between(&self, start: u64, end: u64) -> Result<Vec<(Vec<u8>, Version)>> {
        let mut out = Vec::new();
        let mut at = start;
        while at < end {
            let r = self.record(at)?;
            out.push((self.label_of(&r).to_vec(), self.layout.decode(&r, at)?));
            at = self.after(at, &r);
        }
        Ok(out)
    }

    /// How many published versions `label` has.
    pub fn count(&self, label: &[u8]) -> Result<u32> {
        match self.newest(label)? {
            0 => Ok(0),
            offset => Ok(self.layout.decode(&self.record(offset)?, offset)?.version + 1),
        }
    }

    /// Appends records for `new` (each one its label's next version, in
    /// order), their leaf slots still unset, and returns their offsets:
    /// nothing points at them yet. `whole`: whether the records' proofs are
    /// whole (else Gamma only). On error, [`Self::undo`] forgets them.
    pub fn append(&mut self, new: &[New<'_>], whole: bool) -> Result<Vec<u64>> {
        self.whole = whole && self.whole;
        // Each record's offset and its label's record before it (published,
        // or earlier in this batch), checked to be the version before.
        let mut prevs: Vec<u64> = Vec::with_capacity(new.len());
        let mut offsets: Vec<u64> = Vec::with_capacity(new.len());
        let mut in_batch: HashMap<&[u8], (u64, u32)> = HashMap::new();
        let start = self.records.len() as u64;
        let mut end = start;
        for n in new {
            let (prev, next) = match in_batch.get(n.label) {
                Some(&(offset, version)) => (offset, version + 1),
                None => match self.find(n.label, self.hash(n.label))?.1 {
                    0 => (0, 0),
                    offset => (offset, self.layout.decode(&self.record(offset)?, offset)?.version + 1),
                },
            };
            if n.version != next {
                return Err(invalid(format!("version {} of a label whose next version is {next}", n.version)));
            }
            in_batch.insert(n.label, (end, n.version));
            prevs.push(prev);
            offsets.push(end);
            end = self.layout.padded(end + self.layout.len(n) as u64);
        }
        if end > MAX_OFFSET {
            return Err(invalid("the label records would pass 256 TiB"));
        }
        let bytes = (end - start) as usize;
        self.records.reserve(bytes)?;
        let spare = self.records.spare_mut(bytes);
        let mut at = 0;
        for (n, &prev) in new.iter().zip(&prevs) {
            at += self.layout.encode(n, prev, &mut spare[at..]);
        }
        self.records.grow(bytes);
        Ok(offsets)
    }

    /// Sets the leaf slots of the records [`Self::append`] made for `new`
    /// (at `offsets`), makes them durable, and points the index at them,
    /// published with the next head; the slots are made durable by
    /// [`Self::sync`]. On error, [`Self::undo`] takes it all back.
    pub fn index(&mut self, new: &[New<'_>], offsets: &[u64], leaves: &[u32], make_index: MakeIndex<'_>) -> Result<()> {
        if leaves.len() != new.len() || offsets.len() != new.len() {
            return Err(invalid(format!("{} versions, {} offsets, {} leaves", new.len(), offsets.len(), leaves.len())));
        }
        if self.layout == Layout::Packed {
            for (&offset, leaf) in offsets.iter().zip(leaves) {
                self.records.write_at(offset as usize + 14, &leaf.to_le_bytes());
            }
        }
        self.records.sync()?;
        let fresh = new.iter().filter(|n| n.version == 0).count();
        self.grow_index(fresh, make_index)?;
        for (n, &offset) in new.iter().zip(offsets) {
            let hash = self.hash(n.label);
            let (slot, _) = self.find(n.label, hash)?;
            self.undo.push((slot, [self.word(2 * slot).load(Ordering::Relaxed), self.word(2 * slot + 1).load(Ordering::Relaxed)]));
            self.set_slot(slot, hash, offset);
        }
        Ok(())
    }

    /// Doubles the index (a new generation, from the slots alone) until it
    /// takes `fresh` more labels.
    fn grow_index(&mut self, fresh: usize, make_index: MakeIndex<'_>) -> Result<()> {
        let need = self.head.labels as usize + fresh;
        let mut slots = self.head.slots as usize;
        while need > max_load(slots) {
            slots *= 2;
        }
        if slots == self.head.slots as usize {
            return Ok(());
        }
        let generation = self.head.generation + 1;
        let mut index = make_index(generation, slots)?;
        index.reserve(2 * slots)?;
        index.spare_mut(2 * slots).fill(0);
        let mask = slots - 1;
        let words = index.spare_mut(2 * slots);
        for s in 0..self.head.slots as usize {
            let (hash, offset) = self.slot(s);
            if offset == 0 {
                continue;
            }
            let mut t = hash as usize & mask;
            while words[2 * t + 1] != 0 {
                t = (t + 1) & mask;
            }
            words[2 * t] = hash;
            words[2 * t + 1] = offset;
        }
        index.grow(2 * slots);
        index.sync()?;
        self.index = index;
        self.head.generation = generation;
        self.head.slots = slots as u64;
        // Nothing in the old generation was changed since the head: the
        // undo list belongs to the new one from here.
        debug_assert!(self.undo.is_empty());
        Ok(())
    }

    /// Makes the slots durable and takes everything added as published:
    /// `labels` is the count the head will carry.
    pub fn sync(&self) -> Result<()> {
        self.index.sync()
    }

    /// The head that publishes what was added (after [`Self::sync`]).
    pub fn next_head(&self, fresh: u64) -> LabelsHead {
        let records = self.records.len() as u64;
        // Whole proofs right after whole ones keep every proof whole.
        let proved = if self.whole && self.head.proved == self.head.records { records } else { self.head.proved };
        LabelsHead { records, labels: self.head.labels + fresh, proved, ..self.head }
    }

    /// Published records whose proofs hold Gamma only, oldest first, at most `max`.
    pub fn unproved(&self, max: usize) -> Result<Vec<Unproved>> {
        let mut out = Vec::new();
        let mut at = self.head.proved;
        while at < self.head.records && out.len() < max {
            let r = self.record(at)?;
            let end = self.after(at, &r);
            let v = self.layout.decode(&r, at)?;
            let gamma = v.proof[..32].try_into().expect("32 bytes");
            out.push(Unproved { offset: at, end, label: self.label_of(&r).to_vec(), version: v.version, gamma });
            at = end;
        }
        Ok(out)
    }

    /// Writes whole proofs into published records (the publisher, past
    /// `proved`, which no reader takes proofs from), durably.
    pub fn set_proofs(&mut self, proofs: &[(u64, [u8; PROOF_LEN])]) -> Result<()> {
        for (offset, proof) in proofs {
            let at = *offset as usize + self.proof_at();
            self.records.write_at(at, proof);
        }
        self.records.sync()
    }

    /// Takes `head` (the one stored) as published.
    pub fn published(&mut self, head: LabelsHead) {
        self.head = head;
        self.undo.clear();
        self.whole = true;
    }

    /// Undoes what was added since the head (a publication that failed).
    pub fn undo(&mut self) {
        self.undo_to(self.head.records);
    }

    fn undo_to(&mut self, records: u64) {
        self.whole = true;
        while let Some((slot, [hash, offset])) = self.undo.pop() {
            self.set_slot(slot, hash, offset);
        }
        self.records.truncate(records as usize);
    }

    /// After a crash: slots that point at records past the head's end are
    /// set back to the label's published newest record (or emptied). Such
    /// records are whole (durable before any slot pointed at them) and lie
    /// from the end on; the first that does not parse ends them (the file
    /// grows in zeroed blocks). Returns how many slots were set back.
    pub fn recover(&mut self) -> Result<usize> {
        let published = self.head.records;
        let mut orphans = Vec::new();
        let mut at = published;
        while let Ok(r) = self.record(at) {
            orphans.push(self.label_of(&r).to_vec());
            at = self.after(at, &r);
        }
        let mut fixed = 0;
        for label in orphans {
            let hash = self.hash(&label);
            let (slot, mut offset) = self.find(&label, hash)?;
            if offset < published {
                continue;
            }
            while offset >= published {
                offset = self.prev(&self.record(offset)?);
            }
            self.set_slot(slot, if offset == 0 { 0 } else { hash }, offset);
            fixed += 1;
        }
        self.index.sync()?;
        Ok(fixed)
    }

    /// A reader moves to `head` (it maps more records, or another index
    /// generation given as `index`).
    pub fn refresh(&mut self, head: LabelsHead, index: Option<Slab<u64>>) -> Result<()> {
        self.records.refresh(usize::try_from(head.records).map_err(|_| bad("records past memory"))?)?;
        match index {
            Some(i) => self.index = i,
            None => self.index.refresh((head.slots * 2) as usize)?,
        }
        self.head = head;
        Ok(())
    }

    /// The records, for a shared backend to ship or fill.
    pub(crate) fn records_mut(&mut self) -> &mut Slab<u8> {
        &mut self.records
    }

    /// A follower takes in the records a shipped delta appended, from the
    /// head's end to `end`: each becomes its label's newest version, checked
    /// to follow the one before. Returns how many labels are new; the caller
    /// publishes the next head.
    pub fn index_shipped(&mut self, end: u64, make_index: MakeIndex<'_>) -> Result<u64> {
        let mut shipped = Vec::new();
        let mut at = self.head.records;
        while at < end {
            let r = self.record(at)?;
            shipped.push((at, self.label_of(&r).to_vec(), self.prev(&r), self.layout.decode(&r, at)?.version));
            at = self.after(at, &r);
        }
        if at != end {
            return Err(bad(format!("shipped records end at {at}, not at {end}")));
        }
        let fresh = shipped.iter().filter(|s| s.2 == 0).count();
        self.grow_index(fresh, make_index)?;
        for (offset, label, prev, version) in shipped {
            let hash = self.hash(&label);
            let (slot, newest) = self.find(&label, hash)?;
            let follows = match newest {
                0 => version == 0,
                n => self.layout.decode(&self.record(n)?, n)?.version.checked_add(1) == Some(version),
            };
            if newest != prev || !follows {
                return Err(bad(format!("the shipped record at {offset} does not follow its label's newest")));
            }
            self.undo.push((slot, [self.word(2 * slot).load(Ordering::Relaxed), newest]));
            self.set_slot(slot, hash, offset);
        }
        Ok(fresh as u64)
    }

    /// The head as it stands (a grown index's generation and slots in it).
    pub fn head(&self) -> LabelsHead {
        self.head
    }

    pub fn records_len(&self) -> usize {
        self.records.len()
    }
}

/// How a records file lays its records out: format 3's, packed, or format
/// 2's, 8-byte aligned with the search key, position and opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Packed,
    Aligned,
}

impl Layout {
    /// Bytes of a record before its opening (if any) and label.
    fn fixed(self) -> usize {
        match self {
            Layout::Packed => FIXED,
            Layout::Aligned => FIXED_2,
        }
    }

    fn proof_at(self) -> usize {
        match self {
            Layout::Packed => PROOF_AT,
            Layout::Aligned => PROOF_AT_2,
        }
    }

    /// Where a record's label starts (after a stored opening, in format 3).
    fn label_at(self, record: &[u8]) -> usize {
        let flags = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
        match self {
            Layout::Packed if flags & OPENING_STORED != 0 => FIXED + OPENING_LEN,
            _ => self.fixed(),
        }
    }

    /// Where a record that ends at `end` lets the next one start.
    fn padded(self, end: u64) -> u64 {
        match self {
            Layout::Packed => end,
            Layout::Aligned => end.next_multiple_of(8),
        }
    }

    /// Bytes of `n`'s record (before any padding).
    fn len(self, n: &New<'_>) -> usize {
        let opening = match self {
            Layout::Packed if n.derived => 0,
            Layout::Packed => OPENING_LEN,
            Layout::Aligned => 0,
        };
        self.fixed() + opening + n.label.len() + n.value.len()
    }

    /// Writes `n`'s record (its leaf slot unset) into `out`; returns the
    /// bytes it takes, padding included.
    fn encode(self, n: &New<'_>, prev: u64, out: &mut [u8]) -> usize {
        let len = self.len(n);
        let padded = self.padded(len as u64) as usize;
        let out = &mut out[..padded];
        out[..4].copy_from_slice(&(len as u32).to_le_bytes());
        let fixed = self.fixed();
        let mut at = fixed;
        match self {
            Layout::Packed => {
                let flag = if n.derived { 0 } else { OPENING_STORED };
                out[4..8].copy_from_slice(&(n.version | flag).to_le_bytes());
                out[8..14].copy_from_slice(&prev.to_le_bytes()[..6]);
                out[14..PROOF_AT].fill(0);
                if !n.derived {
                    out[at..at + OPENING_LEN].copy_from_slice(&n.opening);
                    at += OPENING_LEN;
                }
            }
            Layout::Aligned => {
                out[4..8].copy_from_slice(&n.version.to_le_bytes());
                out[8..16].copy_from_slice(&prev.to_le_bytes());
                out[16..24].copy_from_slice(&n.position.to_le_bytes());
                out[24..PROOF_AT_2].copy_from_slice(&n.key);
                out[PROOF_AT_2 + PROOF_LEN..fixed - 1].copy_from_slice(&n.opening);
            }
        }
        let proof_at = self.proof_at();
        out[proof_at..proof_at + PROOF_LEN].copy_from_slice(&n.proof);
        out[fixed - 1] = n.label.len() as u8;
        out[at..at + n.label.len()].copy_from_slice(n.label);
        out[at + n.label.len()..len].copy_from_slice(n.value);
        out[len..].fill(0);
        padded
    }

    /// The record at `offset` (checked whole by [`Labels::record`]); the
    /// store sets a format-3 record's search key and position.
    fn decode(self, r: &[u8], offset: u64) -> Result<Version> {
        let flags = u32::from_le_bytes(r[4..8].try_into().expect("4 bytes"));
        let at = self.label_at(r);
        let value = r.get(at + r[self.fixed() - 1] as usize..).ok_or_else(|| bad("a label past its record"))?;
        let proof_at = self.proof_at();
        let proof = r[proof_at..proof_at + PROOF_LEN].try_into().expect("80 bytes");
        let v = Version {
            version: flags & !OPENING_STORED,
            position: 0,
            key: [0; 32],
            leaf: None,
            offset,
            proof,
            opening: None,
            value: value.to_vec(),
            proved: false,
        };
        Ok(match self {
            Layout::Packed => Version {
                leaf: Some(u32::from_le_bytes(r[14..PROOF_AT].try_into().expect("4 bytes"))),
                opening: (flags & OPENING_STORED != 0).then(|| r[FIXED..at].try_into().expect("16 bytes")),
                ..v
            },
            Layout::Aligned => Version {
                version: flags,
                position: u64::from_le_bytes(r[16..24].try_into().expect("8 bytes")),
                key: r[24..PROOF_AT_2].try_into().expect("32 bytes"),
                opening: Some(r[PROOF_AT_2 + PROOF_LEN..FIXED_2 - 1].try_into().expect("16 bytes")),
                ..v
            },
        })
    }
}
