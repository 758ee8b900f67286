//! Where a KEYTRANS directory keeps its data: the prefix tree (the map), the
//! log tree's heads, the log entries, and the labels' version records —
//! every one an array of records in anonymous memory (a directory in
//! memory) or in files (a directory on disk, format 2), and a small *head*
//! that says how much of each is published.
//!
//! A directory's folder holds
//! - `config`: `CONFIG_MAGIC ‖ recent (u64 LE) ‖ label hash key (32) ‖
//!   Configuration`, written once when the directory is made;
//! - `head`: `HEAD_MAGIC ‖ serial ‖ entries ‖ map head ‖ labels head ‖
//!   auditor head (u32 length ‖ bytes) ‖ SHA-256 of all before`, replaced
//!   whole (written aside, fsync'd, renamed, the folder fsync'd) by every
//!   publication;
//! - `map/`: the prefix tree's node and version files ([`Map::in_files`]);
//! - `log/heads`, `log/entries`, `log/starts`: the log tree's heads
//!   ([`log`]), each entry's timestamp and prefix root, and where each
//!   entry's version records start;
//! - `labels/records`, `labels/index-<generation>` ([`labels`]);
//! - `lock`: held by the one publisher.
//!
//! Commit order: records, then slots, nodes, heads and entries are made
//! durable (msync), then the head is replaced. Everything past a head is
//! unreferenced by it: a crash or a failed write leaves the last head whole,
//! and the publisher undoes the rest ([`Store::reset`], and on opening
//! [`labels::Labels::recover`]). Opening reads the config and the head: no
//! replay. Memory holds the batch being published; the files' pages are the
//! kernel's page cache, which it drops as it needs.
//!
//! Readers ([`Access::Reader`]) map the same files read-only, in any number
//! of processes, take no lock, and answer from the head they last read:
//! every array only grows past it, so a head's data never changes under them.

pub mod labels;
pub mod log;
mod remote;

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::log_tree::{LogEntry, LogTree};
use crate::error::{damaged, io, not_found, Result, StorageKind};
use crate::map::{Access, Key, Map, MapHead, MapSuite};
use crate::storage::posix::{
    check_private, create_dir, io_error, lock_exclusive, make_private, read_bounded, sync_dir, Modes,
};
use crate::storage::slab::Slab;
use crate::suite::Hash;
use labels::{Labels, LabelsHead, New, Version};
use log::{stored, Heads};

const CONFIG_MAGIC: &[u8; 16] = b"veritree kt v3\n\0";
/// Format 2's (version records with their search keys, openings and
/// positions, 8-byte aligned): still opened, and written in its layout.
const CONFIG_MAGIC_2: &[u8; 16] = b"veritree kt v2\n\0";
const HEAD_MAGIC: &[u8; 16] = b"veritree kt head";
const CONFIG_MAX: u64 = 1 << 16;
const HEAD_MAX: u64 = 1 << 16;
const FILES: [&str; 5] = ["log/heads", "log/entries", "log/starts", "labels/records", "labels/index-0"];

/// A published state: what the head file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Heads written so far (a reader re-reads when it changes).
    pub serial: u64,
    pub entries: u64,
    pub map: MapHead,
    pub labels: LabelsHead,
    /// The newest auditor tree head taken, encoded.
    pub auditor: Option<Vec<u8>>,
}

impl Head {
    fn encode(&self) -> Vec<u8> {
        let mut out = HEAD_MAGIC.to_vec();
        out.extend_from_slice(&self.serial.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&self.map.encode());
        out.extend_from_slice(&self.labels.encode());
        let auditor = self.auditor.as_deref().unwrap_or_default();
        out.extend_from_slice(&(auditor.len() as u32).to_le_bytes());
        out.extend_from_slice(auditor);
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }

    fn decode(b: &[u8]) -> Result<Head> {
        let bad = || damaged("the directory's head is damaged");
        let fixed = 16 + 16 + MapHead::LEN + LabelsHead::LEN + 4;
        if b.len() < fixed + 32 || &b[..16] != HEAD_MAGIC {
            return Err(bad());
        }
        let (body, sum) = b.split_at(b.len() - 32);
        if Sha256::digest(body)[..] != sum[..] {
            return Err(bad());
        }
        let u64_at = |i: usize| u64::from_le_bytes(body[i..i + 8].try_into().expect("8 bytes"));
        let map = MapHead::decode(body[32..32 + MapHead::LEN].try_into().expect("map head"));
        let at = 32 + MapHead::LEN;
        let labels = LabelsHead::decode(body[at..at + LabelsHead::LEN].try_into().expect("labels head"));
        let n = u32::from_le_bytes(body[fixed - 4..fixed].try_into().expect("4 bytes")) as usize;
        if body.len() != fixed + n {
            return Err(bad());
        }
        // Counts no directory reaches: past the log's capacity, or a serial
        // or index generation the next publication could not add one to.
        let (serial, entries) = (u64_at(16), u64_at(24));
        if entries > log::MAX_LEAVES || serial == u64::MAX || labels.generation == u64::MAX {
            return Err(bad());
        }
        let auditor = (n > 0).then(|| body[fixed..].to_vec());
        Ok(Head { serial, entries, map, labels, auditor })
    }
}

/// What a directory's `config` file holds.
pub struct Stored {
    /// The encoded `Configuration`.
    pub config: Vec<u8>,
    pub recent: u64,
}

struct Files {
    dir: PathBuf,
    access: Access,
    _lock: Option<File>,
    /// A reader's stamp of the head file it last read (see [`stamp`]), and when.
    read: Option<(Stamp, Instant)>,
}

/// What tells a replaced head file from the one read: every publication
/// renames a new file over it (a new inode, new times). One `stat` per
/// answer instead of reading and checking the head; and since an inode
/// number may come back within one tick of the file times' clock, the head
/// is read again at least every `REREAD`.
type Stamp = (u64, i64, i64, i64, i64);
const REREAD: Duration = Duration::from_millis(100);

fn stamp(path: &Path) -> Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path).map_err(|e| io_error("stat", path, e))?;
    Ok((m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()))
}

pub struct Store {
    pub map: Map,
    pub log: LogTree<Heads>,
    entries: Slab<LogEntry>,
    /// Where each entry's version records start.
    starts: Slab<u64>,
    pub labels: Labels,
    /// The last head published (or read, by a reader).
    head: Head,
    files: Option<Files>,
    /// The shared store a directory in a database is shipped to or followed from.
    remote: Option<remote::Remote>,
}

fn open_file(path: &Path, access: Access, create: bool) -> Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(access == Access::Writer).mode(Modes::PRIVATE.file);
    if create {
        o.create_new(true);
    }
    let f = o.open(path).map_err(|e| io_error("open", path, e))?;
    if create {
        // The umask may have taken bits away; the mode is the store's choice.
        f.set_permissions(Permissions::from_mode(Modes::PRIVATE.file)).map_err(|e| io_error("chmod", path, e))?;
    }
    Ok(f)
}

fn slab<T: bytemuck::Pod>(file: File, len: u64, access: Access) -> Result<Slab<T>> {
    let len = usize::try_from(len).map_err(|_| damaged("a directory head past this machine's memory"))?;
    match access {
        Access::Writer => Slab::file(file, len),
        Access::Reader => Slab::view(file, len),
    }
}

fn index_name(generation: u64) -> String {
    format!("labels/index-{generation}")
}

/// Replaces `dir/name` whole and durably.
fn replace(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(Modes::PRIVATE.file)
        .open(&tmp)
        .map_err(|e| io_error("create", &tmp, e))?;
    f.set_permissions(Permissions::from_mode(Modes::PRIVATE.file)).map_err(|e| io_error("chmod", &tmp, e))?;
    let written = f.write_all(data).and_then(|()| f.sync_data()).and_then(|()| fs::rename(&tmp, dir.join(name)));
    if let Err(e) = written {
        // A full disk must not stay full of our leftovers.
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", &tmp, e));
    }
    sync_dir(dir)
}

impl Store {
    /// An empty store in anonymous memory.
    pub fn memory() -> Result<Store> {
        let (mut records, mut index) = (Slab::memory(), Slab::memory());
        let labels_head = Labels::create(&mut records, &mut index)?;
        let mut hash_key = [0; 32];
        rand_core::OsRng.fill_bytes(&mut hash_key);
        let head = Head { labels: labels_head, ..Head::default() };
        Ok(Store {
            map: Map::new(MapSuite::KeytransSha256),
            log: LogTree::over(Heads::new(Slab::memory(), 0)),
            entries: Slab::memory(),
            starts: Slab::memory(),
            labels: Labels::new(records, index, hash_key, labels_head)?,
            head,
            files: None,
            remote: None,
        })
    }

    /// Whether `dir` holds a directory of this format.
    pub fn exists(dir: &Path) -> bool {
        dir.join("config").exists()
    }

    /// A new, empty directory in `dir` (missing, or an empty folder).
    pub fn create(dir: &Path, config: &[u8], recent: u64) -> Result<Store> {
        create_dir(dir, Modes::PRIVATE.dir)?;
        let lock = lock_exclusive(&dir.join("lock"), dir)?;
        let stray = fs::read_dir(dir).map_err(|e| io_error("list", dir, e))?.flatten().find(|e| e.file_name() != "lock");
        if let Some(e) = stray {
            return Err(io(format!(
                "{} holds no key directory but is not empty ({} is there); create one in an empty or missing folder",
                dir.display(),
                e.file_name().to_string_lossy()
            )));
        }
        make_private(dir)?;
        for sub in ["map", "log", "labels"] {
            create_dir(&dir.join(sub), Modes::PRIVATE.dir)?;
        }
        let [heads, entries, starts, records, index] = FILES.map(|f| open_file(&dir.join(f), Access::Writer, true));
        let (mut records, mut index) = (Slab::file(records?, 0)?, Slab::file(index?, 0)?);
        let labels_head = Labels::create(&mut records, &mut index)?;
        records.sync()?;
        index.sync()?;
        let map = Map::in_files(&dir.join("map"), MapSuite::KeytransSha256, None, Access::Writer)?;
        map.sync()?;
        let mut hash_key = [0; 32];
        rand_core::OsRng.fill_bytes(&mut hash_key);
        let head = Head { serial: 1, entries: 0, map: map.head(), labels: labels_head, auditor: None };
        for sub in ["map", "log", "labels"] {
            sync_dir(&dir.join(sub))?;
        }
        replace(dir, "head", &head.encode())?;
        // The config appears last: its existence marks a directory.
        let mut c = CONFIG_MAGIC.to_vec();
        c.extend_from_slice(&recent.to_le_bytes());
        c.extend_from_slice(&hash_key);
        c.extend_from_slice(config);
        replace(dir, "config", &c)?;
        Ok(Store {
            map,
            log: LogTree::over(Heads::new(Slab::file(heads?, 0)?, 0)),
            entries: Slab::file(entries?, 0)?,
            starts: Slab::file(starts?, 0)?,
            labels: Labels::new(records, index, hash_key, labels_head)?,
            head,
            files: Some(Files { dir: dir.to_path_buf(), access: Access::Writer, _lock: Some(lock), read: None }),
            remote: None,
        })
    }

    /// The directory in `dir`, as its publisher (the lock taken: a second
    /// publisher gets a `Locked` error) or a reader (no lock, no writes).
    pub fn open(dir: &Path, access: Access) -> Result<(Store, Stored)> {
        if !Store::exists(dir) {
            return Err(not_found(format!("no KEYTRANS directory at {} (pass create=True to make one)", dir.display())));
        }
        check_private(dir, "a key directory")?;
        let lock = match access {
            Access::Writer => Some(lock_exclusive(&dir.join("lock"), dir)?),
            Access::Reader => None,
        };
        let c = read_bounded(&dir.join("config"), CONFIG_MAX)?;
        if c.len() < 56 || (&c[..16] != CONFIG_MAGIC && &c[..16] != CONFIG_MAGIC_2) {
            return Err(damaged(format!("{} holds no directory config this version reads", dir.display())));
        }
        let recent = u64::from_le_bytes(c[16..24].try_into().expect("8 bytes"));
        let hash_key: [u8; 32] = c[24..56].try_into().expect("32 bytes");
        let file = |name: &str| open_file(&dir.join(name), access, false);
        let mut tries = 0;
        let (head, index, read) = loop {
            // Stamped before it is read: a head replaced in between reads as changed.
            let read = stamp(&dir.join("head"))?;
            let head = Head::decode(&read_bounded(&dir.join("head"), HEAD_MAX)?)?;
            // A reader may find the index generation its head names already
            // removed by the publisher: a newer head names another.
            match file(&index_name(head.labels.generation)) {
                Ok(f) => break (head, f, read),
                Err(e) if e.storage_kind() == Some(StorageKind::NotFound) && access == Access::Reader && tries < 3 => {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let map = Map::in_files(&dir.join("map"), MapSuite::KeytransSha256, Some(head.map), access)?;
        let heads = Heads::new(slab(file("log/heads")?, stored(head.entries), access)?, head.entries);
        let records = slab(file("labels/records")?, head.labels.records, access)?;
        let index = slab(index, labels::index_words(&records, &head.labels)?, access)?;
        let mut store = Store {
            map,
            log: LogTree::over(heads),
            entries: slab(file("log/entries")?, head.entries, access)?,
            starts: slab(file("log/starts")?, head.entries, access)?,
            labels: Labels::new(records, index, hash_key, head.labels)?,
            head,
            files: Some(Files { dir: dir.to_path_buf(), access, _lock: lock, read: Some((read, Instant::now())) }),
            remote: None,
        };
        store.check_head()?;
        if access == Access::Writer {
            store.labels.recover()?;
            store.remove_old_indexes()?;
        }
        Ok((store, Stored { config: c[56..].to_vec(), recent }))
    }

    /// The head's counts agree with each other (a damaged or foreign head
    /// is refused, not served).
    fn check_head(&self) -> Result<()> {
        if self.head.map.version() != self.head.entries {
            return Err(damaged(format!(
                "the directory's head says {} entries but {} prefix tree versions",
                self.head.entries,
                self.head.map.version()
            )));
        }
        Ok(())
    }

    /// Index generations other than the head's (a crash during a growth,
    /// or a reader that held an old one) are removed.
    fn remove_old_indexes(&self) -> Result<()> {
        let Some(files) = &self.files else { return Ok(()) };
        let keep = index_name(self.head.labels.generation);
        let labels = files.dir.join("labels");
        for e in fs::read_dir(&labels).map_err(|e| io_error("list", &labels, e))?.flatten() {
            let name = format!("labels/{}", e.file_name().to_string_lossy());
            if name.starts_with("labels/index-") && name != keep {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    pub fn path(&self) -> Option<&Path> {
        self.files.as_ref().map(|f| f.dir.as_path())
    }

    /// Whether this store only follows a publisher (a reader of its files,
    /// or a follower of a shared store).
    pub fn is_reader(&self) -> bool {
        self.is_follower() || self.files.as_ref().is_some_and(|f| f.access == Access::Reader)
    }

    /// Published entries.
    pub fn size(&self) -> u64 {
        self.head.entries
    }

    pub fn entries(&self) -> &[LogEntry] {
        &self.entries.as_slice()[..self.head.entries as usize]
    }

    /// The newest auditor tree head published, encoded.
    pub fn auditor_head(&self) -> Option<&[u8]> {
        self.head.auditor.as_deref()
    }

    /// The published versions of `label`, oldest first (none: not a
    /// label), with their search keys and positions (openings stay as stored).
    pub fn versions(&self, label: &[u8]) -> Result<Vec<Version>> {
        let mut versions = self.labels.versions(label)?;
        for v in &mut versions {
            self.complete(v)?;
        }
        Ok(versions)
    }

    /// The version records of entry `x` with their labels, completed as by
    /// [`Self::versions`].
    pub fn versions_of_entry(&self, x: u64) -> Result<Vec<(Vec<u8>, Version)>> {
        let (start, end) = self.records_of(x);
        let mut versions = self.labels.between(start, end)?;
        for (_, v) in &mut versions {
            self.complete(v)?;
        }
        Ok(versions)
    }

    /// Sets a format-3 record's search key (its leaf's) and position (the
    /// entry whose records hold it); format 2's records hold both.
    fn complete(&self, v: &mut Version) -> Result<()> {
        let Some(leaf) = v.leaf else { return Ok(()) };
        v.key = self.map.leaf(leaf)?.0;
        let starts = self.starts.as_slice();
        let starts = &starts[..starts.len().min(self.head.entries as usize)];
        v.position = (starts.partition_point(|&s| s <= v.offset) as u64)
            .checked_sub(1)
            .ok_or_else(|| damaged(format!("a version record at {} before the first entry's", v.offset)))?;
        Ok(())
    }

    /// The byte range of entry `x`'s version records.
    pub fn records_of(&self, x: u64) -> (u64, u64) {
        let starts = self.starts.as_slice();
        let end = starts.get(x as usize + 1).copied().unwrap_or(self.head.labels.records);
        (starts[x as usize], end)
    }

    /// Adds log entry `size()` at `timestamp`: the versions `new`, their
    /// search keys set to `commitments` in the prefix tree; published by
    /// [`Self::commit`]. `whole` says whether their VRF proofs are whole
    /// (else they hold Gamma only, and [`Self::set_proofs`] completes them).
    /// On error nothing changes.
    pub fn add(&mut self, timestamp: u64, new: &[New<'_>], commitments: &[Hash], whole: bool) -> Result<()> {
        let mut make_index = self.index_maker();
        let keys: Vec<Key> = new.iter().map(|n| n.key).collect();
        let start = self.labels.records_len() as u64;
        let added = (|| -> Result<()> {
            // Records first (unreferenced), then the tree, whose leaf slots
            // the records name, then the index that makes them found.
            let offsets = self.labels.append(new, whole)?;
            self.map.update(&keys, commitments)?;
            let leaves = self.map.leaf_slots(&keys)?;
            let leaves: Vec<u32> = leaves
                .into_iter()
                .map(|l| l.ok_or_else(|| damaged("a key just added is not in the prefix tree")))
                .collect::<Result<_>>()?;
            self.labels.index(new, &offsets, &leaves, &mut make_index)?;
            let entry = LogEntry { timestamp, prefix_root: self.map.root(None)? };
            self.log.try_push(entry.leaf_value())?;
            self.entries.reserve(1)?;
            self.entries.put(self.entries.len() as u32, entry);
            self.starts.reserve(1)?;
            self.starts.put(self.starts.len() as u32, start);
            Ok(())
        })();
        if added.is_err() {
            self.reset()?;
        }
        added
    }

    /// Where a new generation of the label index goes: a new file of the
    /// directory, or anonymous memory.
    fn index_maker(&self) -> impl FnMut(u64, usize) -> Result<Slab<u64>> {
        let files = self.files.as_ref().map(|f| f.dir.clone());
        move |generation: u64, _slots: usize| -> Result<Slab<u64>> {
            match &files {
                Some(dir) => Slab::file(open_file(&dir.join(index_name(generation)), Access::Writer, true)?, 0),
                None => Ok(Slab::memory()),
            }
        }
    }

    /// Publishes what was added since the last head, with `auditor` as the
    /// auditor tree head (durable on disk when this returns). On error the
    /// last head stays, and what was added is undone.
    pub fn commit(&mut self, fresh_labels: u64, auditor: Option<Vec<u8>>) -> Result<()> {
        let head = Head {
            serial: self.head.serial + 1,
            entries: self.entries.len() as u64,
            map: self.map.head(),
            labels: self.labels.next_head(fresh_labels),
            auditor,
        };
        if let Err(e) = self.ship(&head, &[]) {
            self.reset()?;
            return Err(e);
        }
        self.publish_local(head)
    }

    /// Makes `head` the local head: durable in files, then taken. On error
    /// the last head stays, and what was added is undone.
    fn publish_local(&mut self, head: Head) -> Result<()> {
        if let Err(e) = self.write_head(&head) {
            if self.remote.is_some() && !self.is_follower() {
                self.shipped_but_failed(&e);
            }
            self.reset()?;
            return Err(e);
        }
        if let Some(old) = (self.head.labels.generation != head.labels.generation).then_some(self.head.labels.generation)
        {
            if let Some(f) = &self.files {
                let _ = fs::remove_file(f.dir.join(index_name(old)));
            }
        }
        self.labels.published(head.labels);
        self.head = head;
        self.check_head()
    }

    /// Writes the completed VRF `proofs` (at their records' offsets) and
    /// publishes that every proof before `end` is whole.
    pub fn set_proofs(&mut self, proofs: &[(u64, [u8; crate::vrf::PROOF_LEN])], end: u64) -> Result<()> {
        self.labels.set_proofs(proofs)?;
        let head = Head { serial: self.head.serial + 1, labels: LabelsHead { proved: end, ..self.head.labels }, ..self.head.clone() };
        self.ship(&head, proofs)?;
        if let Some(files) = &self.files {
            if let Err(e) = replace(&files.dir, "head", &head.encode()) {
                if self.remote.is_some() {
                    // The remote took the publication: this copy is behind it now.
                    self.shipped_but_failed(&e);
                }
                return Err(e);
            }
        }
        self.labels.published(head.labels);
        self.head = head;
        Ok(())
    }

    fn write_head(&self, head: &Head) -> Result<()> {
        let Some(files) = &self.files else { return Ok(()) };
        self.labels.sync()?;
        self.map.sync()?;
        self.log.store().sync()?;
        self.entries.sync()?;
        self.starts.sync()?;
        replace(&files.dir, "head", &head.encode())
    }

    /// Goes back to the last head (a publication that failed).
    pub fn reset(&mut self) -> Result<()> {
        self.labels.undo();
        // An in-memory map has no heads: a failed update changed nothing.
        if self.files.is_some() {
            self.map.reset(&self.head.map)?;
        }
        self.log.store_mut().truncate(self.head.entries);
        self.entries.truncate(self.head.entries as usize);
        self.starts.truncate(self.head.entries as usize);
        Ok(())
    }

    /// Whether a reader's head is older than the newest (reads the head file;
    /// the publisher's and an in-memory store's never are).
    pub fn stale(&self) -> Result<bool> {
        if self.remote.is_some() {
            return Ok(self.follower_stale());
        }
        let Some(files) = self.files.as_ref().filter(|f| f.access == Access::Reader) else { return Ok(false) };
        Ok(match files.read {
            Some((read, at)) => at.elapsed() > REREAD || read != stamp(&files.dir.join("head"))?,
            None => true,
        })
    }

    /// A reader takes the newest head, if it changed; returns whether it did.
    pub fn refresh(&mut self) -> Result<bool> {
        if self.remote.is_some() {
            return if self.is_follower() { self.follow() } else { Ok(false) };
        }
        let Some(files) = self.files.as_ref().filter(|f| f.access == Access::Reader) else { return Ok(false) };
        let dir = files.dir.clone();
        let mut tries = 0;
        let (head, index) = loop {
            let read = stamp(&dir.join("head"))?;
            let head = Head::decode(&read_bounded(&dir.join("head"), HEAD_MAX)?)?;
            if let Some(f) = self.files.as_mut() {
                f.read = Some((read, Instant::now()));
            }
            if head.serial == self.head.serial {
                return Ok(false);
            }
            if head.labels.generation == self.head.labels.generation {
                break (head, None);
            }
            // The publisher removes an index generation once a newer head names
            // another: one gone before it could be opened means a newer head.
            match open_file(&dir.join(index_name(head.labels.generation)), Access::Reader, false) {
                Ok(f) => {
                    let index = Slab::view(f, self.labels.index_words(&head.labels)?)?;
                    break (head, Some(index));
                }
                Err(e) if e.storage_kind() == Some(StorageKind::NotFound) && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        };
        self.map.reset(&head.map)?;
        self.log.store_mut().refresh(head.entries)?;
        self.entries.refresh(head.entries as usize)?;
        self.starts.refresh(head.entries as usize)?;
        self.labels.refresh(head.labels, index)?;
        self.head = head;
        self.check_head()?;
        Ok(true)
    }
}
