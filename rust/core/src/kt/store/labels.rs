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
//! Records are packed (no padding, lengths and the version as varints, the
//! previous version's offset only where there is one): every byte a record
//! does not need costs a byte per label version. Offset 0 is the file's
//! magic, so 0 means "none". A format-2 file (its own magic) keeps its
//! layout ([`Layout::Aligned`]: 8-byte aligned records that also hold the
//! key, position and opening), read and appended to as it is.
//!
//! The index is an open-addressing table (linear probing) of 8-byte slots:
//! the newest record's offset (48 bits) and the top 16 bits of the label's
//! 64-bit keyed hash, which spare most record reads on a probe (format 2:
//! 16-byte slots, the whole hash and the offset). It grows by doubling into
//! a new file (a new *generation*), rebuilt from one pass over the records:
//! a slot keeps too little of the hash to move it, and half of a slot's
//! bytes are ~13 bytes a label at 10^7 labels.
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

/// The records file starts with this (and offset 0 is no record). Format 3
/// (`veritree labels3`, fixed-size fields and 16-byte slots) lived for a
/// day on the development branch and is not read.
pub const RECORDS_MAGIC: &[u8; 16] = b"veritree labels4";
/// Format 2's records file (issue 18's first version), still read and
/// written in its own layout.
const RECORDS_MAGIC_2: &[u8; 16] = b"veritree labels\n";
/// A record: its length (a varint, counting itself), a tag (a varint: the
/// version, then a bit saying a previous version's offset follows, then a
/// bit saying an opening is stored), the previous version's offset (u48, if
/// any), the leaf slot (u32), the VRF proof, the label's length (u8); then
/// the opening (if stored), the label and the value.
const TAG_PREV: u64 = 2;
const TAG_OPENING: u64 = 1;
/// Bytes of a record besides its varints, previous offset, opening, label
/// and value.
const FIXED: usize = 4 + PROOF_LEN + 1;
/// The longest record: lengths are u32 varints.
const MAX_RECORD: u64 = u32::MAX as u64;
/// Format 2's record, 8-byte aligned: length (u32), version (u32), previous
/// version's offset (u64), position (u64), search key, VRF proof, opening,
/// the label's length (u8), the label, the value.
const PROOF_AT_2: usize = 4 + 4 + 8 + 8 + 32;
const FIXED_2: usize = PROOF_AT_2 + PROOF_LEN + OPENING_LEN + 1;
/// Offsets (of the previous version, in a slot) fit in 48 bits: 256 TiB of records.
const MAX_OFFSET: u64 = (1 << 48) - 1;
const OFFSET_BITS: u32 = 48;
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

/// A published version whose VRF proof holds Gamma only: where its proof
/// lies, where its record ends, and what completing the proof needs.
pub struct Unproved {
    /// Where its proof lies in the records file.
    pub proof_at: u64,
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
    /// The slots ([`Layout::slot_words`] words each).
    index: Slab<u64>,
    hash_key: [u8; 32],
    head: LabelsHead,
    /// Slots changed since the head, with their old words (newest last).
    undo: Vec<(usize, [u64; 2])>,
    /// Whether every proof added since the head is whole.
    whole: bool,
}

fn bad(what: impl std::fmt::Display) -> crate::error::Error {
    damaged(format!("the label records are damaged: {what}"))
}

/// Words of the index `head` describes beside `records` (by its format).
pub fn index_words(records: &Slab<u8>, head: &LabelsHead) -> Result<u64> {
    words(&Layout::of(records)?, head)
}

/// Words of the index `head` describes; one no index is (slots not a power
/// of two or past memory, more labels than its load allows) is damage.
fn words(layout: &Layout, head: &LabelsHead) -> Result<u64> {
    let LabelsHead { slots, labels, .. } = *head;
    slots
        .checked_mul(layout.slot_words() as u64)
        .filter(|_| slots.is_power_of_two() && usize::try_from(slots).is_ok_and(|s| labels <= max_load(s) as u64))
        .ok_or_else(|| bad(format!("an index of {slots} slots holding {labels} labels")))
}

impl Labels {
    /// Labels over `records` and `index` at `head`; `hash_key` keys the index's hash.
    pub fn new(records: Slab<u8>, index: Slab<u64>, hash_key: [u8; 32], head: LabelsHead) -> Result<Labels> {
        let layout = Layout::of(&records)?;
        if words(&layout, &head)? != index.len() as u64 {
            return Err(bad(format!("an index of {} words for {} slots", index.len(), head.slots)));
        }
        Ok(Labels { layout, records, index, hash_key, head, undo: Vec::new(), whole: true })
    }

    /// Words of the index `head` describes.
    pub fn index_words(&self, head: &LabelsHead) -> Result<usize> {
        usize::try_from(words(&self.layout, head)?).map_err(|_| bad("an index past memory"))
    }

    /// A new, empty index of `MIN_SLOTS` slots and a records slab holding
    /// only the magic: their first head.
    pub fn create(records: &mut Slab<u8>, index: &mut Slab<u64>) -> Result<LabelsHead> {
        records.reserve(RECORDS_MAGIC.len())?;
        records.spare_mut(RECORDS_MAGIC.len()).copy_from_slice(RECORDS_MAGIC);
        records.grow(RECORDS_MAGIC.len());
        index.reserve(MIN_SLOTS)?;
        index.spare_mut(MIN_SLOTS).fill(0);
        index.grow(MIN_SLOTS);
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

    /// What a slot keeps of `hash`: the top bits (format 2: all of it).
    fn check(&self, hash: u64) -> u64 {
        match self.layout {
            Layout::Packed => hash >> OFFSET_BITS,
            Layout::Aligned => hash,
        }
    }

    /// Slot `s`: what it keeps of its label's hash, and its offset (0: empty).
    fn slot(&self, s: usize) -> (u64, u64) {
        match self.layout {
            Layout::Packed => {
                let w = self.word(s).load(Ordering::Acquire);
                (w >> OFFSET_BITS, w & MAX_OFFSET)
            }
            Layout::Aligned => {
                // The offset first: the writer stores the hash before the offset.
                let offset = self.word(2 * s + 1).load(Ordering::Acquire);
                (self.word(2 * s).load(Ordering::Relaxed), offset)
            }
        }
    }

    /// Slot `s`'s words (the second is format 2's only).
    fn words(&self, s: usize) -> [u64; 2] {
        match self.layout {
            Layout::Packed => [self.word(s).load(Ordering::Relaxed), 0],
            Layout::Aligned => [self.word(2 * s).load(Ordering::Relaxed), self.word(2 * s + 1).load(Ordering::Relaxed)],
        }
    }

    fn set_words(&mut self, s: usize, [a, b]: [u64; 2]) {
        match self.layout {
            Layout::Packed => self.word(s).store(a, Ordering::Release),
            Layout::Aligned => {
                self.word(2 * s).store(a, Ordering::Relaxed);
                self.word(2 * s + 1).store(b, Ordering::Release);
            }
        }
    }

    /// The words of a slot pointing at `offset` (0: empty) for the label of `hash`.
    fn slot_of(&self, hash: u64, offset: u64) -> [u64; 2] {
        match self.layout {
            Layout::Packed if offset == 0 => [0, 0],
            Layout::Packed => [self.check(hash) << OFFSET_BITS | offset, 0],
            Layout::Aligned => [hash, offset],
        }
    }

    /// Points slot `s` at `offset` (0: empties it) for the label of `hash`.
    fn set_slot(&mut self, s: usize, hash: u64, offset: u64) {
        self.set_words(s, self.slot_of(hash, offset));
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

    /// The record at `offset` (published or not), checked to hold its fields.
    fn record(&self, offset: u64) -> Result<Cow<'_, [u8]>> {
        let l = self.layout;
        if offset < RECORDS_MAGIC.len() as u64 || (l == Layout::Aligned && !offset.is_multiple_of(8)) {
            return Err(bad(format!("no record at {offset}")));
        }
        let len = match l {
            Layout::Packed => {
                // A record is longer than its length's longest varint.
                let head = self.read(offset, 5)?;
                varint(&head).map(|(len, _)| len).filter(|&len| len <= MAX_RECORD)
            }
            Layout::Aligned => Some(u64::from(u32::from_le_bytes(self.read(offset, 4)?[..].try_into().expect("4 bytes")))),
        };
        let r = match len {
            Some(len) if len as usize >= l.fixed() => self.read(offset, len as usize)?,
            _ => return Err(bad(format!("no record at {offset}"))),
        };
        l.fields(&r).map_err(|_| bad(format!("a record at {offset} with its fields past its end")))?;
        Ok(r)
    }

    fn prev(&self, record: &[u8]) -> u64 {
        self.layout.fields(record).expect("a checked record").prev
    }

    /// A record's label (`record` checked whole).
    fn label_of<'r>(&self, record: &'r [u8]) -> &'r [u8] {
        let f = self.layout.fields(record).expect("a checked record");
        &record[f.label..f.value]
    }

    /// Where the record after `record` (at `offset`) starts.
    fn after(&self, offset: u64, record: &[u8]) -> u64 {
        self.layout.padded(offset + record.len() as u64)
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
            if h == self.check(hash) && self.label_of(&self.record(offset)?) == label {
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
            end = self.layout.padded(end + self.layout.len(n, prev) as u64);
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
                let at = offset + self.layout.fields(&self.record(offset)?)?.leaf_at as u64;
                self.records.write_at(at as usize, &leaf.to_le_bytes());
            }
        }
        self.records.sync()?;
        let fresh = new.iter().filter(|n| n.version == 0).count();
        self.grow_index(fresh, make_index)?;
        for (n, &offset) in new.iter().zip(offsets) {
            let hash = self.hash(n.label);
            let (slot, _) = self.find(n.label, hash)?;
            self.undo.push((slot, self.words(slot)));
            self.set_slot(slot, hash, offset);
        }
        Ok(())
    }

    /// Doubles the index (a new generation) until it takes `fresh` more
    /// labels. A slot keeps too little of its label's hash to move it, so
    /// one pass over the records finds each label's newest (the record its
    /// slot points at) and its hash.
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
        let words = self.layout.slot_words();
        let mut index = make_index(generation, slots)?;
        index.reserve(words * slots)?;
        let new = index.spare_mut(words * slots);
        new.fill(0);
        let (old_mask, mask) = (self.head.slots as usize - 1, slots - 1);
        let end = self.records.len() as u64;
        let mut at = RECORDS_MAGIC.len() as u64;
        let mut moved = 0u64;
        while at < end {
            let r = self.record(at)?;
            let hash = self.hash(self.label_of(&r));
            let mut s = hash as usize & old_mask;
            let mut newest = false;
            for _ in 0..=old_mask {
                match self.slot(s).1 {
                    0 => break,
                    o if o == at => {
                        newest = true;
                        break;
                    }
                    _ => s = (s + 1) & old_mask,
                }
            }
            if newest {
                let mut t = hash as usize & mask;
                while new[words * t..words * t + words].iter().any(|&w| w != 0) {
                    t = (t + 1) & mask;
                }
                new[words * t..words * t + words].copy_from_slice(&self.slot_of(hash, at)[..words]);
                moved += 1;
            }
            at = self.after(at, &r);
        }
        if moved != self.head.labels {
            return Err(bad(format!("{moved} labels' newest records found for an index of {}", self.head.labels)));
        }
        index.grow(words * slots);
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
            let proof_at = at + self.layout.fields(&r)?.proof_at as u64;
            out.push(Unproved { proof_at, end, label: self.label_of(&r).to_vec(), version: v.version, gamma });
            at = end;
        }
        Ok(out)
    }

    /// Writes whole proofs into published records (the publisher, past
    /// `proved`, which no reader takes proofs from), durably: each where
    /// [`Unproved::proof_at`] says.
    pub fn set_proofs(&mut self, proofs: &[(u64, [u8; PROOF_LEN])]) -> Result<()> {
        for (at, proof) in proofs {
            self.records.write_at(*at as usize, proof);
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
        while let Some((slot, words)) = self.undo.pop() {
            self.set_words(slot, words);
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
            None => self.index.refresh(self.index_words(&head)?)?,
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
            self.undo.push((slot, self.words(slot)));
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

/// How a records file lays its records out: packed (format 4), or format
/// 2's, 8-byte aligned with the search key, position and opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Packed,
    Aligned,
}

/// Where a record's fields lie in it (byte indexes), and what its header says.
struct Fields {
    version: u32,
    prev: u64,
    leaf_at: usize,
    proof_at: usize,
    /// The stored opening's start, if any.
    opening: Option<usize>,
    label: usize,
    /// Where the value starts (the label ends); it runs to the record's end.
    value: usize,
}

/// A LEB128 varint at the start of `b`, and its length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// Writes `n` as a LEB128 varint at the start of `out`; returns its length.
fn put_varint(mut n: u64, out: &mut [u8]) -> usize {
    let mut i = 0;
    while n >= 0x80 {
        out[i] = n as u8 | 0x80;
        n >>= 7;
        i += 1;
    }
    out[i] = n as u8;
    i + 1
}

fn varint_len(n: u64) -> usize {
    (64 - n.max(1).leading_zeros() as usize).div_ceil(7)
}

impl Layout {
    fn of(records: &Slab<u8>) -> Result<Layout> {
        match records.as_slice().get(..16) {
            Some(m) if m == RECORDS_MAGIC => Ok(Layout::Packed),
            Some(m) if m == RECORDS_MAGIC_2 => Ok(Layout::Aligned),
            _ => Err(bad("no magic this version reads")),
        }
    }

    /// Index words a slot takes.
    fn slot_words(self) -> usize {
        match self {
            Layout::Packed => 1,
            Layout::Aligned => 2,
        }
    }

    /// The fewest bytes a record takes.
    fn fixed(self) -> usize {
        match self {
            Layout::Packed => 2 + FIXED,
            Layout::Aligned => FIXED_2,
        }
    }

    /// The fields of `r`, a record's bytes (its length checked by the caller).
    fn fields(self, r: &[u8]) -> Result<Fields> {
        let short = || bad("a record's fields past its end");
        match self {
            Layout::Packed => {
                let (_, len_len) = varint(r).ok_or_else(short)?;
                let (tag, tag_len) = varint(&r[len_len..]).ok_or_else(short)?;
                let version = u32::try_from(tag >> 2).map_err(|_| bad("a version past 2^32"))?;
                let mut at = len_len + tag_len;
                let prev = if tag & TAG_PREV != 0 {
                    let b = r.get(at..at + 6).ok_or_else(short)?;
                    at += 6;
                    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], 0, 0])
                } else {
                    0
                };
                let (leaf_at, proof_at) = (at, at + 4);
                let label_len = *r.get(proof_at + PROOF_LEN).ok_or_else(short)? as usize;
                let opening = (tag & TAG_OPENING != 0).then_some(proof_at + PROOF_LEN + 1);
                let label = proof_at + PROOF_LEN + 1 + if opening.is_some() { OPENING_LEN } else { 0 };
                let value = label + label_len;
                if value > r.len() {
                    return Err(short());
                }
                Ok(Fields { version, prev, leaf_at, proof_at, opening, label, value })
            }
            Layout::Aligned => {
                let label = FIXED_2;
                let value = label + *r.get(FIXED_2 - 1).ok_or_else(short)? as usize;
                if value > r.len() {
                    return Err(short());
                }
                Ok(Fields {
                    version: u32::from_le_bytes(r[4..8].try_into().expect("4 bytes")),
                    prev: u64::from_le_bytes(r[8..16].try_into().expect("8 bytes")),
                    leaf_at: 0,
                    proof_at: PROOF_AT_2,
                    opening: Some(PROOF_AT_2 + PROOF_LEN),
                    label,
                    value,
                })
            }
        }
    }

    /// Where a record that ends at `end` lets the next one start.
    fn padded(self, end: u64) -> u64 {
        match self {
            Layout::Packed => end,
            Layout::Aligned => end.next_multiple_of(8),
        }
    }

    /// `n`'s record's tag (format 4), whose previous version is at `prev`.
    fn tag(n: &New<'_>, prev: u64) -> u64 {
        u64::from(n.version) << 2 | if prev != 0 { TAG_PREV } else { 0 } | if n.derived { 0 } else { TAG_OPENING }
    }

    /// Bytes of `n`'s record (before any padding), its previous version at `prev`.
    fn len(self, n: &New<'_>, prev: u64) -> usize {
        match self {
            Layout::Packed => {
                let opening = if n.derived { 0 } else { OPENING_LEN };
                let prev = if prev != 0 { 6 } else { 0 };
                let body = varint_len(Self::tag(n, prev as u64)) + prev + FIXED + opening + n.label.len() + n.value.len();
                // The length counts its own bytes.
                let mut len = body + 1;
                while varint_len(len as u64) + body != len {
                    len += 1;
                }
                len
            }
            Layout::Aligned => FIXED_2 + n.label.len() + n.value.len(),
        }
    }

    /// Writes `n`'s record (its leaf slot unset) into `out`; returns the
    /// bytes it takes, padding included.
    fn encode(self, n: &New<'_>, prev: u64, out: &mut [u8]) -> usize {
        let len = self.len(n, prev);
        let padded = self.padded(len as u64) as usize;
        let out = &mut out[..padded];
        let mut at = match self {
            Layout::Packed => {
                let mut at = put_varint(len as u64, out);
                at += put_varint(Self::tag(n, prev), &mut out[at..]);
                if prev != 0 {
                    out[at..at + 6].copy_from_slice(&prev.to_le_bytes()[..6]);
                    at += 6;
                }
                out[at..at + 4].fill(0);
                at += 4;
                at
            }
            Layout::Aligned => {
                out[..4].copy_from_slice(&(len as u32).to_le_bytes());
                out[4..8].copy_from_slice(&n.version.to_le_bytes());
                out[8..16].copy_from_slice(&prev.to_le_bytes());
                out[16..24].copy_from_slice(&n.position.to_le_bytes());
                out[24..PROOF_AT_2].copy_from_slice(&n.key);
                PROOF_AT_2
            }
        };
        out[at..at + PROOF_LEN].copy_from_slice(&n.proof);
        at += PROOF_LEN;
        let opening_at = match self {
            Layout::Packed => at + 1,
            Layout::Aligned => at,
        };
        if self == Layout::Aligned || !n.derived {
            out[opening_at..opening_at + OPENING_LEN].copy_from_slice(&n.opening);
        }
        let label_len_at = match self {
            Layout::Packed => at,
            Layout::Aligned => at + OPENING_LEN,
        };
        out[label_len_at] = n.label.len() as u8;
        let label = match self {
            Layout::Packed if n.derived => at + 1,
            _ => at + 1 + OPENING_LEN,
        };
        out[label..label + n.label.len()].copy_from_slice(n.label);
        out[label + n.label.len()..len].copy_from_slice(n.value);
        out[len..].fill(0);
        padded
    }

    /// The record at `offset` (checked whole by [`Labels::record`]); the
    /// store sets a format-4 record's search key and position.
    fn decode(self, r: &[u8], offset: u64) -> Result<Version> {
        let f = self.fields(r)?;
        let v = Version {
            version: f.version,
            position: 0,
            key: [0; 32],
            leaf: None,
            offset,
            proof: r[f.proof_at..f.proof_at + PROOF_LEN].try_into().expect("80 bytes"),
            opening: f.opening.map(|o| r[o..o + OPENING_LEN].try_into().expect("16 bytes")),
            value: r[f.value..].to_vec(),
            proved: false,
        };
        Ok(match self {
            Layout::Packed => Version { leaf: Some(u32::from_le_bytes(r[f.leaf_at..f.proof_at].try_into().expect("4 bytes"))), ..v },
            Layout::Aligned => Version {
                position: u64::from_le_bytes(r[16..24].try_into().expect("8 bytes")),
                key: r[24..PROOF_AT_2].try_into().expect("32 bytes"),
                ..v
            },
        })
    }
}
