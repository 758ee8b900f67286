//! A durable log stored as C2SP tlog-tiles: the directory *is* the published
//! log, servable by any static web server.
//!
//! Layout under the log directory:
//! - `checkpoint` — the signed checkpoint, written last on every extend;
//! - `tile/<L>/<N>[.p/<W>]` — hash tiles; `tile/entries/<N>[.p/<W>]` — entry bundles;
//! - `.veritree/` — our own: `config` (suite, origin), `lock`, `tmp/`.
//!
//! Private by default, public by the operator's choice: a new log's
//! directory is owner-only (0700), and its tiles, bundles and checkpoint get
//! owner-only modes plus whatever read bits the log's directory grants group
//! and others when they are written — `chmod 755 DIR` (and `chmod -R go+rX`
//! for what is there) publishes the log to a web server running as another
//! user. The log's content is public by design, so an open directory is
//! not refused, unlike the map's and the KEYTRANS directory's. `.veritree/`
//! stays owner-only whatever the directory's mode.
//!
//! The writer keeps only the right edge in memory (the partial tile of each
//! level and the partial entry bundle): memory does not grow with the log.
//! Every tile read back is authenticated up to the checkpoint root before use.
//!
//! Partial tiles (`.p/<W>`, hash tiles of every level and entry bundles) are
//! what a reader at an older checkpoint needs, so the writer follows C2SP
//! tlog-tiles ("Logs MUST serve partial tiles corresponding to tree sizes for
//! which a checkpoint was produced, but MAY delete any partial tile once the
//! corresponding full tile is either available ..."):
//! - a partial tile is never deleted while its full tile does not exist;
//! - once it does, the partial is deleted, but only when none of the last
//!   [`KEEP_GENERATIONS`] checkpoints refers to it: a reader that has just
//!   fetched a recent checkpoint still finds its partial tiles. Readers of
//!   older checkpoints read the full tile in its place (`TileReader::open`).
//!
//! Deletion is best effort (a leftover partial tile is harmless). Only the
//! one incomplete tile of each level can gain partial tiles, so the writer
//! tracks at most 255 of them per level (plus those still in their grace).
//! After a reopen, the partial tiles found beside each level's edge tile and
//! the tile before it are tracked too, and deleted once their tile is full.
//! Partial tiles of older tiles left by a process that stopped within
//! [`KEEP_GENERATIONS`] checkpoints of completing them are not looked for.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use super::dedup::DedupIndex;
use super::integrate::{integrate, Partial};
use super::path::{TILE_HEIGHT, TILE_WIDTH};
use super::reader::{TileReader, MAX_ENTRY};
use crate::compact::CompactRange;
use crate::error::{damaged, invalid, io, not_found, Result};
use crate::storage::posix::{self, DirObjects, Modes};
use crate::storage::Objects;
use crate::suite::{Hash, Suite};
use crate::tree::{self, NodeSource};

/// How a log's checkpoints are written and read back. The notes layer
/// supplies it ([`super::NoteCheckpoints`]): storage knows nothing of
/// signed notes, so layers depend in one direction only.
pub trait CheckpointFormat: Send + Sync {
    /// The signed checkpoint note for a tree head.
    fn sign(&self, origin: &str, size: u64, root: &Hash) -> Result<String>;
    /// The origin, size and root of a checkpoint note, its form checked (its
    /// signatures are a verifier's business: the writer trusts its own file).
    fn read(&self, note: &str) -> Result<(String, u64, Hash)>;
}

/// Largest checkpoint or config file we read.
const MAX_SMALL_FILE: usize = 1 << 20;
/// The log's own configuration (suite, origin), beside its tiles.
const CONFIG: &str = ".veritree/config";
/// The last checkpoints whose partial tiles stay on disk even where the
/// full tile exists, for readers that have just fetched one of them.
const KEEP_GENERATIONS: u64 = 2;

/// A tlog-tiles log in a store of [`Objects`]: by default the files of a
/// directory ([`DirObjects`]).
pub struct TileLog<S: Objects = DirObjects> {
    store: Arc<S>,
    origin: String,
    checkpoint: String,
    reader: TileReader<Arc<S>>,
    format: Box<dyn CheckpointFormat>,
    writable: bool,
    dedup: Option<DedupIndex>,
    /// Partial tiles on disk, each with the last checkpoint generation that
    /// refers to it (see the module doc for when they are deleted).
    partials: BTreeMap<Partial, u64>,
    /// Checkpoints published by this process (0: the one found at open).
    generation: u64,
    _lock: Option<File>,
}

impl TileLog<DirObjects> {
    /// Creates an empty log in the directory `dir` (which must not hold
    /// one) and publishes its size-0 checkpoint.
    pub fn create(dir: &Path, suite: Suite, origin: &str, format: Box<dyn CheckpointFormat>) -> Result<TileLog> {
        // Before the folders are made: a bad origin or key writes nothing.
        check_new(suite, origin, &*format)?;
        if dir.join("checkpoint").exists() || dir.join(CONFIG).exists() {
            return Err(invalid(format!("{} already holds a log", dir.display())));
        }
        for d in [dir.to_path_buf(), dir.join(".veritree"), dir.join(".veritree/tmp")] {
            posix::create_dir(&d, Modes::PRIVATE.dir)?;
        }
        let lock = posix::lock_exclusive(&dir.join(".veritree/lock"), dir)?;
        TileLog::create_in(DirObjects::new(dir), Some(lock), suite, origin, format)
    }

    /// Opens the log in the directory `dir`, for writing (taking the writer
    /// lock) or read-only. Checks the right edge against the checkpoint.
    pub fn open(dir: &Path, format: Box<dyn CheckpointFormat>, writable: bool) -> Result<TileLog> {
        if !dir.join(CONFIG).exists() {
            return Err(not_found(format!("no log at {}", dir.display())));
        }
        let lock = if writable { Some(posix::lock_exclusive(&dir.join(".veritree/lock"), dir)?) } else { None };
        let log = TileLog::open_in(DirObjects::new(dir), lock, format, writable)?;
        if writable {
            // Made again if missing: copies and git drop empty folders.
            let tmp = dir.join(".veritree/tmp");
            posix::create_dir(&tmp, Modes::PRIVATE.dir)?;
            clear_tmp(&tmp)?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        self.store.root()
    }

    /// Keeps an on-disk index from leaf hash to index (`.veritree/dedup.redb`),
    /// bringing it up to date with the log first.
    pub fn enable_dedup(&mut self) -> Result<()> {
        let index = DedupIndex::open(&self.dir().join(".veritree/dedup.redb"))?;
        self.index(&index, self.len(), &[])?;
        self.dedup = Some(index);
        Ok(())
    }
}

impl<S: Objects> TileLog<S> {
    /// Creates an empty log in `store`, which must hold none, and publishes
    /// its size-0 checkpoint. `lock`, if any, is held as long as the log.
    pub fn create_in(
        store: S,
        lock: Option<File>,
        suite: Suite,
        origin: &str,
        format: Box<dyn CheckpointFormat>,
    ) -> Result<TileLog<S>> {
        check_new(suite, origin, &*format)?;
        for name in ["checkpoint", CONFIG] {
            if store.exists(name)? {
                return Err(invalid(format!("the store already holds a log ({name})")));
            }
        }
        let config = format!("veritree tlog-tiles v1\nsuite {}\norigin {origin}\n", suite.name());
        store.put_head(CONFIG, config.as_bytes())?;
        let store = Arc::new(store);
        let mut log = TileLog {
            store: store.clone(),
            origin: origin.to_string(),
            checkpoint: String::new(),
            reader: TileReader::from_edge(store, suite, 0, Vec::new(), Vec::new()),
            format,
            writable: true,
            dedup: None,
            partials: BTreeMap::new(),
            generation: 0,
            _lock: lock,
        };
        log.publish(Vec::new(), Vec::new())?;
        Ok(log)
    }

    /// Opens the log in `store`, for writing or read-only. Checks the right
    /// edge against the checkpoint.
    pub fn open_in(
        store: S,
        lock: Option<File>,
        format: Box<dyn CheckpointFormat>,
        writable: bool,
    ) -> Result<TileLog<S>> {
        let (suite, origin) = parse_config(&store.get(CONFIG, MAX_SMALL_FILE)?)?;
        let note = store.get("checkpoint", MAX_SMALL_FILE)?;
        let checkpoint = String::from_utf8(note).map_err(|_| damaged("checkpoint is not UTF-8"))?;
        let (cp_origin, size, root) =
            format.read(&checkpoint).map_err(|e| damaged(format!("damaged checkpoint: {e}")))?;
        if cp_origin != origin {
            return Err(damaged(format!("checkpoint origin {cp_origin:?} is not the log's origin {origin:?}")));
        }
        let store = Arc::new(store);
        let reader = TileReader::open(store.clone(), suite, size, &root)?;
        let partials = if writable { leftover_partials(&*store, size)? } else { BTreeMap::new() };
        Ok(TileLog {
            store,
            origin,
            checkpoint,
            reader,
            format,
            writable,
            dedup: None,
            partials,
            generation: 0,
            _lock: lock,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of entries covered by the checkpoint.
    pub fn len(&self) -> u64 {
        self.reader.size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The signed checkpoint note of the current size.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// Appends entries; returns the index of the first. When this returns, the
    /// entries, their tiles and a checkpoint covering them are on disk.
    pub fn extend<T: AsRef<[u8]> + Sync>(&mut self, entries: &[T]) -> Result<u64> {
        if !self.writable {
            return Err(invalid("the log is open read-only"));
        }
        if let Some((i, e)) = entries.iter().enumerate().find(|(_, e)| e.as_ref().len() > MAX_ENTRY) {
            return Err(invalid(format!(
                "entry {i} is {} bytes; tlog-tiles entries hold at most {MAX_ENTRY}",
                e.as_ref().len()
            )));
        }
        let first = self.len();
        if entries.is_empty() {
            return Ok(first);
        }
        let suite = self.reader.suite();
        let leaves = suite.leaf_hashes(entries);
        let old = (self.reader.edge(), self.reader.bundle().to_vec());
        let new = integrate(suite, first, &old.0, &old.1, entries, &leaves);
        let new_size = first + entries.len() as u64;
        self.reader.advance(new_size, new.edge, new.bundle);
        if let Err(e) = self.publish(new.objects, new.partials) {
            // Nothing was published: the on-disk checkpoint still says `first`.
            self.reader.advance(first, old.0, old.1);
            return Err(e);
        }
        if let Some(d) = &self.dedup {
            self.index(d, first, &leaves)
                .map_err(|e| io(format!("the entries were logged, but updating the dedup index failed: {e}")))?;
        }
        Ok(first)
    }

    /// Brings `index` up to the log's size: `fresh` are the leaf hashes
    /// from `first` on; any gap before them (an index opened late, or an
    /// update that failed, as on a full disk) is read back from the tiles,
    /// so one failure never stops the index for good.
    fn index(&self, index: &DedupIndex, first: u64, fresh: &[Hash]) -> Result<()> {
        const CHUNK: u64 = 1 << 16;
        let mut done = index.indexed_size()?;
        if done > first {
            return Err(damaged("the dedup index covers more entries than the log holds"));
        }
        while done < first {
            let end = (done + CHUNK).min(first);
            let leaves = (done..end).map(|i| self.node(0, i)).collect::<Result<Vec<_>>>()?;
            index.add(done, &leaves)?;
            done = end;
        }
        index.add(first, fresh)
    }

    /// The first index holding an entry with leaf hash `leaf`, if any
    /// (needs [`TileLog::enable_dedup`]).
    pub fn index_of(&self, leaf: &Hash) -> Result<Option<u64>> {
        let d = self.dedup.as_ref().ok_or_else(|| invalid("deduplication is not enabled for this log"))?;
        Ok(d.get(leaf)?.filter(|&i| i < self.len()))
    }

    /// Writes the new tiles and bundles, then the checkpoint for `self.size`.
    fn publish(&mut self, objects: Vec<(String, Vec<u8>)>, partial_files: Vec<Partial>) -> Result<()> {
        let root = self.reader.compact_range().root();
        let note = self.format.sign(&self.origin, self.len(), &root)?;
        if self.format.read(&note)? != (self.origin.clone(), self.len(), root) {
            return Err(invalid("the checkpoint format signed a different tree head"));
        }
        self.store.put(objects)?;
        self.store.put_head("checkpoint", note.as_bytes())?;
        self.checkpoint = note;
        self.prune_partials(partial_files);
        Ok(())
    }

    /// Records the partial tiles the new checkpoint refers to, and deletes
    /// those whose full tile exists and that none of the last
    /// [`KEEP_GENERATIONS`] checkpoints refers to (best effort).
    fn prune_partials(&mut self, current: Vec<Partial>) {
        self.generation += 1;
        for p in current {
            self.partials.insert(p, self.generation);
        }
        let (size, generation) = (self.len(), self.generation);
        let done: Vec<Partial> = self
            .partials
            .iter()
            .filter(|&(p, &last)| last + KEEP_GENERATIONS <= generation && p.full_at(size))
            .map(|(p, _)| *p)
            .collect();
        for p in done {
            self.partials.remove(&p);
            // The full tile was written before the checkpoint that made it
            // full; should it be gone all the same, the partial stays.
            if self.store.exists(&p.full_path()).unwrap_or(false) {
                // Best effort: a leftover partial tile is harmless.
                let _ = self.store.delete(&p.path());
            }
        }
    }

    /// The compact range of the current size.
    pub fn compact_range(&self) -> CompactRange {
        self.reader.compact_range()
    }

    /// The entry at `index`, checked against its leaf hash.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>> {
        self.reader.entry(index)
    }

    /// The root at `size` (any size up to the current one).
    pub fn root(&self, size: u64) -> Result<Hash> {
        tree::root_at(self, size)
    }
}

impl<S: Objects> NodeSource for TileLog<S> {
    fn suite(&self) -> Suite {
        self.reader.suite()
    }

    fn size(&self) -> u64 {
        self.reader.size()
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        self.reader.node(level, index)
    }
}

/// Refuses a new log's origin or checkpoint format before anything is
/// written: a malformed origin, or a key that cannot sign the empty tree
/// for it.
fn check_new(suite: Suite, origin: &str, format: &dyn CheckpointFormat) -> Result<()> {
    if origin.is_empty() || origin.contains(|c: char| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(invalid(format!("origin {origin:?} must be non-empty, without spaces, '+' or control characters")));
    }
    format.sign(origin, 0, &suite.empty_root()).map(drop)
}

fn parse_config(data: &[u8]) -> Result<(Suite, String)> {
    let text = std::str::from_utf8(data).map_err(|_| damaged("config is not UTF-8"))?;
    let mut lines = text.lines();
    let bad = || damaged("damaged .veritree/config");
    if lines.next() != Some("veritree tlog-tiles v1") {
        return Err(bad());
    }
    let suite = lines.next().and_then(|l| l.strip_prefix("suite ")).ok_or_else(bad)?;
    let origin = lines.next().and_then(|l| l.strip_prefix("origin ")).ok_or_else(bad)?;
    Ok((Suite::from_name(suite)?, origin.to_string()))
}

/// The partial tiles in the store of each level's edge tile at `size` and of
/// the tile before it (the last tile to have become full), so the writer
/// deletes them once their tile is full, as if this process had written them.
fn leftover_partials<S: Objects + ?Sized>(store: &S, size: u64) -> Result<BTreeMap<Partial, u64>> {
    let mut tiles = vec![(None, size / TILE_WIDTH)];
    let mut level = 0u32;
    while size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
        tiles.push((Some(level), (size >> (TILE_HEIGHT * level)) / TILE_WIDTH));
        level += 1;
    }
    let mut found = BTreeMap::new();
    for (level, edge) in tiles {
        for n in [Some(edge), edge.checked_sub(1)].into_iter().flatten() {
            let full = Partial { level, n, width: TILE_WIDTH }.full_path();
            for name in store.list(&format!("{full}.p"))? {
                let last = name.rsplit('/').next().unwrap_or_default();
                let Some(width) = last.parse::<u64>().ok().filter(|w| w.to_string() == last) else {
                    continue;
                };
                if (1..TILE_WIDTH).contains(&width) {
                    found.insert(Partial { level, n, width }, 0);
                }
            }
        }
    }
    Ok(found)
}

fn clear_tmp(tmp: &Path) -> Result<()> {
    for e in fs::read_dir(tmp).map_err(|e| posix::io_error("read", tmp, e))? {
        let p = e.map_err(|e| posix::io_error("read", tmp, e))?.path();
        fs::remove_file(&p).map_err(|e| posix::io_error("remove", &p, e))?;
    }
    Ok(())
}
