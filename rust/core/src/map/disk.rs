//! The on-disk map: node files, and a journal of versions that says which
//! of their records are committed.
//!
//! A map directory holds
//! - `branches`, `cherries` and `leaves`: node records (45, 9 and 64 bytes)
//!   at their slot offsets, mapped into memory ([`super::slab`]);
//! - `journal`: a header naming the suite, then one checksummed record per
//!   update (root, counts, how many freed slots it reused, the nodes it made
//!   stale) or prune;
//! - `lock`: held by the one process that has the map open.
//!
//! The directory and its files are owner-only (0700, 0600) whatever the
//! umask; a directory a map is created in is made owner-only, and an
//! existing map's directory that other users can reach is refused.
//!
//! Commit order: an update writes its nodes into slots that no retained
//! version uses (freed ones or past the committed ends), makes the node files
//! durable (msync), then appends its record and fdatasyncs the journal. A
//! crash before the record is durable leaves the last version whole and the
//! new nodes unreferenced; a torn last record is cut off on reopening. A
//! failed write (a full disk, EIO) leaves the same, and the map takes the
//! next update in the same process ([`crate::storage::records::FileRecords`]). A
//! prune's record is durable before any slot it frees is written again.
//! Reopening replays the journal (no tree walk): free slots and stale lists
//! come back exactly as the allocator left them.
//!
//! Why our own files rather than an embedded store: nodes are fixed-size
//! and immutable once written, addressed by slot, so a B-tree's keys, pages
//! and copy-on-write add bytes and hashing-free work for nothing; the
//! in-memory engine runs unchanged over the mapping. Measured with
//! `map_store_report` (benches), 10^6 keys: merely storing the tree's node
//! records in redb took 5x the time of our whole durable build (sorting and
//! hashing included) and 2.5x the bytes (270 against 109 per key, before
//! cherries brought ours to about 96).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use super::node::{NodeRef, KINDS};
use crate::error::{damaged, invalid, not_found, Result};
use crate::prefix::MapSuite;
use crate::storage::posix::{
    check_private, create_dir, create_file, io_error, lock_exclusive, make_private, sync_dir, Modes,
};
use crate::storage::records::{cut_tail, unframe, FileRecords};
use crate::storage::Records;
use crate::suite::Hash;

const MAGIC: &[u8; 16] = b"veritree map v2\n";
/// The node files, in [`super::node::Kind`] order.
const NODE_FILES: [&str; KINDS] = ["branches", "cherries", "leaves"];
const HEADER: usize = 32;
const UPDATE: u8 = 1;
const PRUNE: u8 = 2;
/// Bytes of an update record before its stale list.
const UPDATE_FIXED: usize = 1 + 8 + 4 + 32 + 8 * (2 + 2 * KINDS);

/// One journal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Update {
        version: u64,
        root: NodeRef,
        hash: Hash,
        keys: u64,
        /// Committed lengths of the node files after this version, per kind.
        lens: [u64; KINDS],
        /// Freed slots this version took (from the end of the free lists).
        reused: [u64; KINDS],
        /// Nodes the previous version used and this one does not.
        stale: Vec<NodeRef>,
    },
    Prune {
        before: u64,
    },
}

impl Record {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Record::Update { version, root, hash, keys, lens, reused, stale } => {
                out.reserve(UPDATE_FIXED + 4 * stale.len());
                out.push(UPDATE);
                out.extend_from_slice(&version.to_le_bytes());
                out.extend_from_slice(bytemuck::bytes_of(root));
                out.extend_from_slice(hash);
                for n in std::iter::once(keys).chain(lens).chain(reused) {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                out.extend_from_slice(&(stale.len() as u64).to_le_bytes());
                out.extend_from_slice(bytemuck::cast_slice(stale));
            }
            Record::Prune { before } => {
                out.push(PRUNE);
                out.extend_from_slice(&before.to_le_bytes());
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Option<Record> {
        let u64_at = |i: usize| b.get(i..i + 8).map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")));
        match *b.first()? {
            PRUNE if b.len() == 9 => Some(Record::Prune { before: u64_at(1)? }),
            UPDATE if b.len() >= UPDATE_FIXED => {
                let n = usize::try_from(u64_at(UPDATE_FIXED - 8)?).ok()?;
                if b.len() != UPDATE_FIXED.checked_add(n.checked_mul(4)?)? {
                    return None;
                }
                let at = |i: usize| u64_at(45 + 8 * i);
                let counts = |from: usize| -> Option<[u64; KINDS]> {
                    let mut out = [0; KINDS];
                    for (k, n) in out.iter_mut().enumerate() {
                        *n = at(from + k)?;
                    }
                    Some(out)
                };
                Some(Record::Update {
                    version: u64_at(1)?,
                    root: bytemuck::pod_read_unaligned(&b[9..13]),
                    hash: b[13..45].try_into().expect("32 bytes"),
                    keys: at(0)?,
                    lens: counts(1)?,
                    reused: counts(1 + KINDS)?,
                    stale: b[UPDATE_FIXED..].chunks_exact(4).map(bytemuck::pod_read_unaligned).collect(),
                })
            }
            _ => None,
        }
    }
}

/// An open map directory (its lock held) and its journal.
pub(crate) struct Disk {
    journal: FileRecords,
    _lock: File,
}

/// What reopening found: the suite, the committed records, and the node
/// files (in [`super::node::Kind`] order).
pub(crate) struct Opened {
    pub disk: Disk,
    pub suite: MapSuite,
    pub records: Vec<Record>,
    pub files: [File; KINDS],
}

impl Disk {
    /// Opens the map at `dir`, creating it (with `suite`) if `create` is set
    /// and it does not exist yet.
    pub fn open(dir: &Path, suite: Option<MapSuite>, create: bool) -> Result<Opened> {
        let journal_path = dir.join("journal");
        if !create && !journal_path.exists() {
            return Err(not_found(format!("no map at {} (pass create=True to make one)", dir.display())));
        }
        create_dir(dir, Modes::PRIVATE.dir)?;
        // Locked before looking again: two creators cannot both write files.
        let lock = lock_exclusive(&dir.join("lock"), dir)?;
        if journal_path.exists() {
            check_private(dir, "a map")?;
        } else {
            Self::create(dir, suite.unwrap_or(MapSuite::KeytransSha256))?;
        }
        let mut journal = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&journal_path)
            .map_err(|e| io_error("open", &journal_path, e))?;
        let (found, records, end) = read_journal(&mut journal, &journal_path)?;
        if suite.is_some_and(|s| s != found) {
            return Err(invalid(format!(
                "the map at {} uses suite {}, not {}",
                dir.display(),
                found.name(),
                suite.expect("checked").name()
            )));
        }
        // Cut off a torn last record so the next one follows committed data.
        cut_tail(&mut journal, &journal_path, end)?;
        let node_file = |name: &str| {
            let p = dir.join(name);
            OpenOptions::new().read(true).write(true).open(&p).map_err(|e| io_error("open", &p, e))
        };
        let [b, c, l] = NODE_FILES.map(node_file);
        Ok(Opened {
            files: [b?, c?, l?],
            disk: Disk { journal: FileRecords::new(journal, journal_path, end), _lock: lock },
            suite: found,
            records,
        })
    }

    fn create(dir: &Path, suite: MapSuite) -> Result<()> {
        make_private(dir)?;
        for name in NODE_FILES {
            let p = dir.join(name);
            create_file(&p, Modes::PRIVATE.file)?.sync_all().map_err(|e| io_error("create", &p, e))?;
        }
        // The journal appears last, whole: its existence marks a map.
        let mut header = [0u8; HEADER];
        header[..16].copy_from_slice(MAGIC);
        header[16] = suite.id();
        let tmp = dir.join("journal.tmp");
        let mut f = create_file(&tmp, Modes::PRIVATE.file)?;
        f.write_all(&header).and_then(|()| f.sync_all()).map_err(|e| io_error("write", &tmp, e))?;
        fs::rename(&tmp, dir.join("journal")).map_err(|e| io_error("rename", &tmp, e))?;
        sync_dir(dir)
    }

    /// Appends `record` and makes it durable; a failed append leaves the
    /// journal as it was.
    pub fn append(&mut self, record: &Record) -> Result<()> {
        self.journal.append(&record.encode())
    }

    /// Makes the next `n` appends fail as on a full disk.
    #[cfg(test)]
    pub fn inject_faults(&mut self, n: u32) {
        self.journal.inject_faults(n);
    }
}

/// The committed record counts of the node files, per kind.
pub(crate) fn committed_lens(records: &[Record]) -> Result<[usize; KINDS]> {
    let lens = records
        .iter()
        .rev()
        .find_map(|r| match r {
            Record::Update { lens, .. } => Some(*lens),
            Record::Prune { .. } => None,
        })
        .unwrap_or_default();
    let mut out = [0; KINDS];
    for (o, n) in out.iter_mut().zip(lens) {
        *o = usize::try_from(n).map_err(|_| damaged("node count too large"))?;
    }
    Ok(out)
}

/// Reads the header and every whole record; returns the suite, the records
/// and the offset just past the last good one. A bad record that is not the
/// last thing in the file is damage, not a torn write.
fn read_journal(f: &mut File, path: &Path) -> Result<(MapSuite, Vec<Record>, u64)> {
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).map_err(|e| io_error("read", path, e))?;
    let bad = |what: &str| damaged(format!("{} is damaged: {what}", path.display()));
    if bytes.len() < HEADER || &bytes[..16] != MAGIC {
        if bytes.starts_with(b"veritree map v") {
            return Err(damaged(format!(
                "{} holds a map in an older format ({}); rebuild it with this version",
                path.display(),
                String::from_utf8_lossy(&bytes[9..bytes.len().min(15)])
            )));
        }
        return Err(bad("not a veritree map journal"));
    }
    let suite = MapSuite::from_id(bytes[16]).ok_or_else(|| bad("unknown suite"))?;
    let (payloads, used) =
        unframe(&bytes[HEADER..]).map_err(|at| bad(&format!("a bad record at byte {}", HEADER + at)))?;
    let records = payloads
        .into_iter()
        .map(|p| Record::decode(p).ok_or_else(|| bad("a malformed record")))
        .collect::<Result<Vec<_>>>()?;
    Ok((suite, records, (HEADER + used) as u64))
}

#[cfg(test)]
mod tests {
    use super::super::node::Kind;
    use super::*;

    #[test]
    fn records_round_trip_and_reject_bad_lengths() {
        let update = Record::Update {
            version: 7,
            root: NodeRef::leaf(3),
            hash: [9; 32],
            keys: 11,
            lens: [12, 13, 14],
            reused: [1, 2, 3],
            stale: vec![NodeRef::new(Kind::Branch, 5), NodeRef::new(Kind::Twig, 4), NodeRef::leaf(6)],
        };
        for r in [update, Record::Prune { before: 4 }] {
            let b = r.encode();
            assert_eq!(Record::decode(&b), Some(r.clone()));
            assert_eq!(Record::decode(&b[..b.len() - 1]), None);
            let mut padded = b.clone();
            padded.push(0);
            assert_eq!(Record::decode(&padded), None);
        }
        assert_eq!(Record::decode(&[3, 0, 0]), None);
        assert_eq!(Record::decode(&[]), None);
    }
}
