//! The durable KEYTRANS directory: an append-only journal of what the log
//! published, replayed into memory on open.
//!
//! A directory's folder holds
//! - `journal`: `MAGIC ‖ format (u32 LE)`, a header record (`recent` and
//!   the encoded `Configuration`), then one record per log entry (its
//!   timestamp, the log's root before it, and every version it added:
//!   label, value, opening, VRF proof, search key) or per auditor tree head
//!   taken. Records are framed with their length and a checksum
//!   ([`crate::storage::records::frame`]) and their fields encoded like the draft's
//!   structures ([`super::wire`]);
//! - `lock`: held by the one process that has the directory open.
//!
//! The folder and its files are owner-only (0700, 0600) whatever the
//! umask: the journal holds every identifier, device set and commitment
//! opening. An empty folder a directory is created in is made owner-only;
//! an existing directory whose folder other users can reach is refused on
//! opening (tightening it silently would hide that it was exposed).
//!
//! Why a journal of inputs and not the trees: the log tree and the prefix
//! trees are functions of the entries, so one append-only file is the whole
//! durable state. A crash can leave only a prefix of the records and a
//! torn tail, which reopening cuts off. `publish` appends and fdatasyncs an
//! entry's record before it changes memory, so memory is never ahead of
//! the disk, and no acknowledged entry is lost. A failed append is cut
//! off again at once ([`crate::storage::records::FileRecords`]): a full disk fails that
//! publication, and the next one succeeds once there is room.
//!
//! Stored, not recomputed: the search key, since deriving it from the VRF
//! proof decompresses a curve point — measured here at 9.9 µs a version,
//! against 0.4 µs for the commitment's HMAC, which replay recomputes (see
//! `replay_costs` in the tests). The log's root before each entry is stored
//! too: replay checks it, so a journal that rebuilds into another tree (a
//! changed hash, a bug) is refused rather than served as a fork.
//! Secrets are never written: the keys are passed again on open, and the
//! stored configuration's public keys must be theirs.
//!
//! Cost (`reopen_time` in the tests, 2 cores): 187 journal bytes a version
//! with 20-byte labels and 32-byte values; reopening 10^5 labels took
//! 0.5 s, 10^6 labels (1000 entries) 10-12 s, most of it rebuilding the
//! prefix trees' versions.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::commitment::OPENING_LEN;
use super::tree_head::Configuration;
use super::wire::{Reader, Writer};
use crate::error::{damaged, invalid, io, not_found, Error, Result};
use crate::map::Key;
use crate::storage::posix::{
    check_private, create_dir, create_file, io_error, lock_exclusive, make_private, sync_dir, Modes,
};
use crate::storage::records::{cut_tail, frame, unframe, FileRecords};
use crate::storage::Records;
use crate::suite::Hash;
use crate::vrf::PROOF_LEN;

const MAGIC: &[u8; 12] = b"veritree kt\n";
const FORMAT: u32 = 1;
/// Bytes before the first record: the magic and the format.
const PREAMBLE: usize = 16;
const JOURNAL: &str = "journal";
const CREATING: &str = "journal.tmp";
const LOCK: &str = "lock";
const ENTRY: u8 = 1;
const AUDITOR_HEAD: u8 = 2;
const LABEL_MAX: u64 = 255;
const VALUE_MAX: u64 = u32::MAX as u64;

/// One version a log entry added, as the journal keeps it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Added {
    pub label: Vec<u8>,
    pub value: Vec<u8>,
    pub opening: [u8; OPENING_LEN],
    pub proof: [u8; PROOF_LEN],
    pub key: Key,
}

/// A record after the header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Entry {
        timestamp: u64,
        previous_root: Hash,
        added: Vec<Added>,
    },
    /// An encoded `AuditorTreeHead`.
    AuditorHead(Vec<u8>),
}

/// The record of a log entry at `timestamp`, made on a log whose root was
/// `previous_root` (zeros for the empty log).
pub(crate) fn entry_record(timestamp: u64, previous_root: &Hash, added: &[Added]) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    let count = u32::try_from(added.len()).map_err(|_| invalid("over 2^32 versions in one log entry"))?;
    w.u8(ENTRY).u64(timestamp).fixed(previous_root).u32(count);
    for a in added {
        w.vector(&a.label, LABEL_MAX)?.vector(&a.value, VALUE_MAX)?.fixed(&a.opening).fixed(&a.proof).fixed(&a.key);
    }
    Ok(w.buf)
}

/// The record of an auditor tree head taken (`head` encoded).
pub(crate) fn auditor_head_record(head: &[u8]) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.u8(AUDITOR_HEAD).vector(head, VALUE_MAX)?;
    Ok(w.buf)
}

impl Record {
    fn decode(payload: &[u8]) -> Result<Record> {
        let mut r = Reader::new(payload, "journal record");
        let record = match r.u8()? {
            ENTRY => {
                let (timestamp, previous_root, count) = (r.u64()?, r.array()?, r.u32()?);
                let added = (0..count).map(|_| Added::decode(&mut r)).collect::<Result<_>>()?;
                Record::Entry { timestamp, previous_root, added }
            }
            AUDITOR_HEAD => Record::AuditorHead(r.vector(VALUE_MAX)?.to_vec()),
            kind => return Err(invalid(format!("unknown record kind {kind}"))),
        };
        r.finish()?;
        Ok(record)
    }
}

impl Added {
    fn decode(r: &mut Reader<'_>) -> Result<Added> {
        Ok(Added {
            label: r.vector(LABEL_MAX)?.to_vec(),
            value: r.vector(VALUE_MAX)?.to_vec(),
            opening: r.array()?,
            proof: r.array()?,
            key: r.array()?,
        })
    }
}

fn header_record(config: &Configuration, recent: usize) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.u64(recent as u64);
    config.encode(&mut w)?;
    Ok(w.buf)
}

/// An open directory's journal: its records in any [`Records`] store (a
/// file in a folder, its lock held, on the POSIX backend).
pub(crate) struct Journal {
    dir: Option<PathBuf>,
    store: Box<dyn Records>,
    /// Why appends are refused: memory is out of step with what is durable.
    broken: Option<String>,
    _lock: Option<File>,
}

impl Journal {
    /// Opens the journal in `dir`, creating it if `create` is set and there
    /// is none (then `dir` must be missing or empty); returns it and its
    /// records. The stored configuration and `recent` must be the given
    /// ones. A torn last record is cut off.
    /// Whether `dir` holds a journal (a directory of this format).
    pub fn exists(dir: &Path) -> bool {
        dir.join(JOURNAL).exists()
    }

    pub fn open(dir: &Path, config: &Configuration, recent: usize, create: bool) -> Result<(Journal, Vec<Record>)> {
        let path = dir.join(JOURNAL);
        if !create && !path.exists() {
            return Err(not_found(format!(
                "no KEYTRANS directory at {} (pass create=True to make one)",
                dir.display()
            )));
        }
        create_dir(dir, Modes::PRIVATE.dir)?;
        // Locked before looking again: two creators cannot both write.
        let lock = lock_exclusive(&dir.join(LOCK), dir)?;
        if path.exists() {
            check_private(dir, "a KEYTRANS directory")?;
        } else {
            Self::create(dir, &header_record(config, recent)?)?;
        }
        let mut file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| io_error("open", &path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io_error("read", &path, e))?;
        let (records, end) = read(&bytes, &path, config, recent)?;
        // Cut off a torn last record so the next one follows committed data.
        cut_tail(&mut file, &path, end)?;
        let store = Box::new(FileRecords::new(file, path, end));
        Ok((Journal { dir: Some(dir.to_path_buf()), store, broken: None, _lock: Some(lock) }, records))
    }

    /// The journal whose records are `found` in `store` (none: a new
    /// directory, whose header is appended now): the header record first,
    /// then the directory's records. The stored configuration and `recent`
    /// must be the given ones.
    pub fn over(
        mut store: Box<dyn Records>,
        found: Vec<Vec<u8>>,
        config: &Configuration,
        recent: usize,
    ) -> Result<(Journal, Vec<Record>)> {
        let bad = |what: String| damaged(format!("the journal is damaged: {what}"));
        let records = match found.split_first() {
            None => {
                store.append(&header_record(config, recent)?)?;
                Vec::new()
            }
            Some((header, rest)) => {
                check_header(header, "in its store", config, recent).map_err(|e| match e {
                    Error::InvalidArgument(_) => e,
                    e => bad(format!("a bad header ({e})")),
                })?;
                decode_all(rest.iter().map(Vec::as_slice), bad)?
            }
        };
        Ok((Journal { dir: None, store, broken: None, _lock: None }, records))
    }

    /// Writes the preamble and header, whole, as `dir/journal`: its
    /// existence marks a directory.
    fn create(dir: &Path, header: &[u8]) -> Result<()> {
        let stray = fs::read_dir(dir)
            .map_err(|e| io_error("list", dir, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .find(|name| name != LOCK && name != CREATING);
        if let Some(name) = stray {
            return Err(damaged(format!(
                "{} holds {name:?} but no KEYTRANS journal: create a directory in an empty folder",
                dir.display()
            )));
        }
        // An empty folder exposed nothing yet: it becomes owner-only.
        make_private(dir)?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT.to_le_bytes());
        bytes.extend_from_slice(&frame(header)?);
        let tmp = dir.join(CREATING);
        let mut f = create_file(&tmp, Modes::PRIVATE.file)?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(|e| io_error("write", &tmp, e))?;
        fs::rename(&tmp, dir.join(JOURNAL)).map_err(|e| io_error("rename", &tmp, e))?;
        sync_dir(dir)
    }

    /// The directory's folder, on the POSIX backend.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Refuses if an earlier failure stopped writes.
    pub fn writable(&self) -> Result<()> {
        match &self.broken {
            Some(why) => Err(io(why.clone())),
            None => Ok(()),
        }
    }

    /// Stops every later append: memory and the journal no longer agree.
    pub fn poison(&mut self, why: String) {
        self.broken = Some(why);
    }

    /// Appends a record and makes it durable; a failed append leaves the
    /// journal as it was, and the next one may succeed.
    pub fn append(&mut self, payload: &[u8]) -> Result<()> {
        self.writable()?;
        self.store.append(payload)
    }
}

/// Checks the preamble and header of a journal's `bytes` against the given
/// configuration; returns its records and the length of its whole part.
fn read(bytes: &[u8], path: &Path, config: &Configuration, recent: usize) -> Result<(Vec<Record>, u64)> {
    let bad = |what: String| damaged(format!("{} is damaged: {what}", path.display()));
    if bytes.len() < PREAMBLE || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a veritree KEYTRANS journal".into()));
    }
    let format = u32::from_le_bytes(bytes[MAGIC.len()..PREAMBLE].try_into().expect("4 bytes"));
    if format != FORMAT {
        return Err(damaged(format!(
            "{} is in journal format {format}; this version reads format {FORMAT}",
            path.display()
        )));
    }
    let (payloads, used) =
        unframe(&bytes[PREAMBLE..]).map_err(|at| bad(format!("a bad record at byte {}", PREAMBLE + at)))?;
    let (header, rest) = payloads.split_first().ok_or_else(|| bad("no header".into()))?;
    let folder = format!("at {}", path.parent().unwrap_or(path).display());
    check_header(header, &folder, config, recent).map_err(|e| match e {
        Error::InvalidArgument(_) => e,
        e => bad(format!("a bad header ({e})")),
    })?;
    let records = decode_all(rest.iter().copied(), bad)?;
    Ok((records, (PREAMBLE + used) as u64))
}

/// The records of `payloads` (after the header), each checked.
fn decode_all<'a>(payloads: impl Iterator<Item = &'a [u8]>, bad: impl Fn(String) -> Error) -> Result<Vec<Record>> {
    payloads
        .enumerate()
        .map(|(i, p)| Record::decode(p).map_err(|e| bad(format!("record {} is malformed ({e})", i + 1))))
        .collect()
}

/// Refuses (InvalidArgument) a configuration or `recent` other than the
/// stored ones; an undecodable header is a Storage error.
/// `whence` says where the directory is ("at DIR"), for the refusals.
fn check_header(header: &[u8], whence: &str, config: &Configuration, recent: usize) -> Result<()> {
    let mut r = Reader::new(header, "journal header");
    let parsed = r.u64().and_then(|n| Ok((n, Configuration::decode(&mut r)?))).and_then(|h| r.finish().map(|()| h));
    let (stored_recent, stored) = parsed.map_err(|e| damaged(e.to_string()))?;
    check_stored(&stored, stored_recent, whence, config, recent)
}

/// Refuses (InvalidArgument) a configuration or `recent` other than a
/// directory's stored ones, naming what differs.
pub(crate) fn check_stored(
    stored: &Configuration,
    stored_recent: u64,
    whence: &str,
    config: &Configuration,
    recent: usize,
) -> Result<()> {
    let differ = differences(stored, config);
    if !differ.is_empty() {
        return Err(invalid(format!(
            "the KEYTRANS directory {whence} was created with another configuration ({} differ); open it with the \
             keys and options it was created with",
            differ.join(", ")
        )));
    }
    if stored_recent != recent as u64 {
        return Err(invalid(format!(
            "the KEYTRANS directory {whence} was created with recent={stored_recent}, not {recent}"
        )));
    }
    Ok(())
}

/// The fields in which two configurations differ, named for an error.
fn differences(a: &Configuration, b: &Configuration) -> Vec<&'static str> {
    [
        (a.mode != b.mode, "deployment mode or auditor"),
        (a.signature_public_key != b.signature_public_key, "signing key"),
        (a.vrf_public_key != b.vrf_public_key, "VRF key"),
        (a.max_ahead != b.max_ahead, "max_ahead"),
        (a.max_behind != b.max_behind, "max_behind"),
        (a.reasonable_monitoring_window != b.reasonable_monitoring_window, "reasonable_monitoring_window"),
        (a.maximum_lifetime != b.maximum_lifetime, "maximum_lifetime"),
    ]
    .into_iter()
    .filter_map(|(differs, name)| differs.then_some(name))
    .collect()
}

#[cfg(test)]
impl Journal {
    /// Makes the next `n` appends fail as on a full disk.
    pub(crate) fn inject_faults(&mut self, n: u32) {
        self.store.inject_faults(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_strictly() {
        let added =
            Added { label: b"alice".to_vec(), value: vec![7; 300], opening: [1; 16], proof: [2; 80], key: [3; 32] };
        let entry = entry_record(1_000, &[4; 32], std::slice::from_ref(&added)).unwrap();
        let head = auditor_head_record(b"a head").unwrap();
        let expected = [
            Record::Entry { timestamp: 1_000, previous_root: [4; 32], added: vec![added] },
            Record::AuditorHead(b"a head".to_vec()),
        ];
        for (bytes, record) in [entry, head].into_iter().zip(expected) {
            assert_eq!(Record::decode(&bytes).unwrap(), record);
            assert!(Record::decode(&bytes[..bytes.len() - 1]).is_err(), "truncated");
            assert!(Record::decode(&[&bytes[..], &[0]].concat()).is_err(), "a trailing byte");
        }
        assert!(Record::decode(&[3]).is_err_and(|e| e.to_string().contains("kind 3")));
    }
}
