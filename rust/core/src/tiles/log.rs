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

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dedup::DedupIndex;
use super::path::{bundle_path, tile_path, tile_width, TILE_HEIGHT, TILE_WIDTH};
use super::reader::{DirSource, TileReader, MAX_ENTRY};
use crate::compact::CompactRange;
use crate::error::{damaged, invalid, io, not_found, Result};
use crate::storage::posix::{self, Batch, Modes};
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
const MAX_SMALL_FILE: u64 = 1 << 20;
/// The last checkpoints whose partial tiles stay on disk even where the
/// full tile exists, for readers that have just fetched one of them.
const KEEP_GENERATIONS: u64 = 2;

/// A partial tile or entry bundle on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Partial {
    /// The tile level; `None` for an entry bundle.
    level: Option<u32>,
    n: u64,
    width: u64,
}

impl Partial {
    fn path(&self) -> String {
        self.with_width(self.width)
    }

    fn full_path(&self) -> String {
        self.with_width(TILE_WIDTH)
    }

    fn with_width(&self, width: u64) -> String {
        match self.level {
            Some(level) => tile_path(level, self.n, width),
            None => bundle_path(self.n, width),
        }
    }

    /// Whether the tile is full at `size` (its full tile was written before
    /// the checkpoint of that size).
    fn full_at(&self, size: u64) -> bool {
        tile_width(self.level.unwrap_or(0), self.n, size) == TILE_WIDTH
    }
}

/// A tlog-tiles log in a directory.
pub struct TileLog {
    dir: PathBuf,
    origin: String,
    checkpoint: String,
    reader: TileReader<DirSource>,
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

impl TileLog {
    /// Creates an empty log in `dir` (which must not hold one) and publishes
    /// its size-0 checkpoint.
    pub fn create(dir: &Path, suite: Suite, origin: &str, format: Box<dyn CheckpointFormat>) -> Result<TileLog> {
        check_origin(origin)?;
        // Sign the empty tree first: a key that cannot sign for this origin
        // fails before anything is written.
        format.sign(origin, 0, &suite.empty_root())?;
        if dir.join("checkpoint").exists() || dir.join(".veritree/config").exists() {
            return Err(invalid(format!("{} already holds a log", dir.display())));
        }
        for d in [dir.to_path_buf(), dir.join(".veritree"), dir.join(".veritree/tmp")] {
            posix::create_dir(&d, Modes::PRIVATE.dir)?;
        }
        let lock = posix::lock_exclusive(&dir.join(".veritree/lock"), dir)?;
        let config = format!("veritree tlog-tiles v1\nsuite {}\norigin {origin}\n", suite.name());
        posix::write_atomic(dir, ".veritree/config", config.as_bytes(), Modes::PRIVATE)?;
        let source = DirSource { root: dir.to_path_buf() };
        let mut log = TileLog {
            dir: dir.to_path_buf(),
            origin: origin.to_string(),
            checkpoint: String::new(),
            reader: TileReader::from_edge(source, suite, 0, Vec::new(), Vec::new()),
            format,
            writable: true,
            dedup: None,
            partials: BTreeMap::new(),
            generation: 0,
            _lock: Some(lock),
        };
        log.publish(Batch::new(log.modes()?), Vec::new())?;
        Ok(log)
    }

    /// Opens an existing log, for writing (taking the writer lock) or
    /// read-only. Checks the right edge against the checkpoint.
    pub fn open(dir: &Path, format: Box<dyn CheckpointFormat>, writable: bool) -> Result<TileLog> {
        let config_path = dir.join(".veritree/config");
        if !config_path.exists() {
            return Err(not_found(format!("no log at {}", dir.display())));
        }
        let lock = if writable { Some(posix::lock_exclusive(&dir.join(".veritree/lock"), dir)?) } else { None };
        let (suite, origin) = parse_config(&posix::read_bounded(&config_path, MAX_SMALL_FILE)?)?;
        let note = posix::read_bounded(&dir.join("checkpoint"), MAX_SMALL_FILE)?;
        let checkpoint = String::from_utf8(note).map_err(|_| damaged("checkpoint is not UTF-8"))?;
        let (cp_origin, size, root) =
            format.read(&checkpoint).map_err(|e| damaged(format!("damaged checkpoint: {e}")))?;
        if cp_origin != origin {
            return Err(damaged(format!("checkpoint origin {cp_origin:?} is not the log's origin {origin:?}")));
        }
        let reader = TileReader::open(DirSource { root: dir.to_path_buf() }, suite, size, &root)?;
        let partials = if writable { leftover_partials(dir, size) } else { BTreeMap::new() };
        let log = TileLog {
            dir: dir.to_path_buf(),
            origin,
            checkpoint,
            reader,
            format,
            writable,
            dedup: None,
            partials,
            generation: 0,
            _lock: lock,
        };
        if log.writable {
            clear_tmp(&dir.join(".veritree/tmp"))?;
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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
        let mut batch = Batch::new(self.modes()?);
        let mut partial_files = Vec::new();
        let bundle = self.stage_bundles(entries, &mut batch, &mut partial_files);
        let new_size = first + entries.len() as u64;
        let edge = self.stage_tiles(&leaves, new_size, &mut batch, &mut partial_files);
        let old = (self.reader.edge(), self.reader.bundle().to_vec());
        self.reader.advance(new_size, edge, bundle);
        if let Err(e) = self.publish(batch, partial_files) {
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

    /// Keeps an on-disk index from leaf hash to index (`.veritree/dedup.redb`),
    /// bringing it up to date with the log first.
    pub fn enable_dedup(&mut self) -> Result<()> {
        let index = DedupIndex::open(&self.dir.join(".veritree/dedup.redb"))?;
        self.index(&index, self.len(), &[])?;
        self.dedup = Some(index);
        Ok(())
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

    /// The partial bundle with `entries` appended; stages every bundle they
    /// complete and returns the new partial bundle.
    fn stage_bundles<T: AsRef<[u8]>>(&self, entries: &[T], batch: &mut Batch, partials: &mut Vec<Partial>) -> Vec<u8> {
        let mut n = self.len() / TILE_WIDTH;
        let mut count = self.len() % TILE_WIDTH;
        let mut bundle = self.reader.bundle().to_vec();
        for e in entries {
            let e = e.as_ref();
            bundle.extend_from_slice(&(e.len() as u16).to_be_bytes());
            bundle.extend_from_slice(e);
            count += 1;
            if count == TILE_WIDTH {
                batch.add(bundle_path(n, TILE_WIDTH), std::mem::take(&mut bundle));
                n += 1;
                count = 0;
            }
        }
        if count > 0 {
            let p = Partial { level: None, n, width: count };
            batch.add(p.path(), bundle.clone());
            partials.push(p);
        }
        bundle
    }

    /// Adds `leaves` to the tiles of every level; returns the new right edge.
    fn stage_tiles(
        &self,
        leaves: &[Hash],
        new_size: u64,
        batch: &mut Batch,
        partials: &mut Vec<Partial>,
    ) -> Vec<Vec<Hash>> {
        let mut edge = Vec::new();
        let old_edge = self.reader.edge();
        let mut incoming = leaves.to_vec();
        let mut level = 0u32;
        while new_size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
            // Hashes this tile level held before: full tiles, then the edge.
            let before = self.len().checked_shr(TILE_HEIGHT * level).unwrap_or(0);
            let mut row = old_edge.get(level as usize).cloned().unwrap_or_default();
            row.extend_from_slice(&incoming);
            let mut tile = before / TILE_WIDTH;
            let chunks = row.chunks_exact(TILE_WIDTH as usize);
            let rest = chunks.remainder().to_vec();
            let suite = self.reader.suite();
            let next: Vec<Hash> = row.par_chunks_exact(TILE_WIDTH as usize).map(|t| suite.perfect_root(t)).collect();
            for full in chunks {
                batch.add(tile_path(level, tile, TILE_WIDTH), full.as_flattened().to_vec());
                tile += 1;
            }
            if !rest.is_empty() {
                // The new checkpoint refers to this partial tile, changed or not.
                let p = Partial { level: Some(level), n: tile, width: rest.len() as u64 };
                if !incoming.is_empty() {
                    batch.add(p.path(), rest.as_flattened().to_vec());
                }
                partials.push(p);
            }
            debug_assert_eq!(rest.len() as u64, tile_width(level, tile, new_size));
            edge.push(rest);
            incoming = next;
            level += 1;
        }
        while edge.last().is_some_and(Vec::is_empty) {
            edge.pop();
        }
        edge
    }

    /// The modes of new files: owner-only plus the read bits the log's
    /// directory grants now (see the module doc).
    fn modes(&self) -> Result<Modes> {
        let mode = fs::metadata(&self.dir).map_err(|e| posix::io_error("stat", &self.dir, e))?.permissions().mode();
        Ok(Modes::readable_as(mode))
    }

    /// Writes the staged files, then the checkpoint for `self.size`.
    fn publish(&mut self, batch: Batch, partial_files: Vec<Partial>) -> Result<()> {
        let root = self.reader.compact_range().root();
        let note = self.format.sign(&self.origin, self.len(), &root)?;
        if self.format.read(&note)? != (self.origin.clone(), self.len(), root) {
            return Err(invalid("the checkpoint format signed a different tree head"));
        }
        let modes = batch.modes();
        batch.commit(&self.dir)?;
        posix::write_atomic(&self.dir, "checkpoint", note.as_bytes(), modes)?;
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
        let mut dirs = BTreeSet::new();
        for p in done {
            self.partials.remove(&p);
            // The full tile was written before the checkpoint that made it
            // full; should it be gone all the same, the partial stays.
            if self.dir.join(p.full_path()).is_file() {
                // Best effort: a leftover partial tile is harmless.
                let _ = fs::remove_file(self.dir.join(p.path()));
                dirs.insert(self.dir.join(format!("{}.p", p.full_path())));
            }
        }
        for d in dirs {
            // Fails, as it should, while the folder still holds a file.
            let _ = fs::remove_dir(d);
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

impl NodeSource for TileLog {
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

fn check_origin(origin: &str) -> Result<()> {
    if origin.is_empty() || origin.contains(|c: char| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(invalid(format!("origin {origin:?} must be non-empty, without spaces, '+' or control characters")));
    }
    Ok(())
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

/// The partial tiles on disk of each level's edge tile at `size` and of the
/// tile before it (the last tile to have become full), so the writer deletes
/// them once their tile is full, as if this process had written them.
fn leftover_partials(dir: &Path, size: u64) -> BTreeMap<Partial, u64> {
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
            let Ok(files) = fs::read_dir(dir.join(format!("{full}.p"))) else { continue };
            for f in files.flatten() {
                let name = f.file_name();
                let Some(width) = name.to_str().and_then(|s| s.parse::<u64>().ok().filter(|w| w.to_string() == s))
                else {
                    continue;
                };
                if (1..TILE_WIDTH).contains(&width) {
                    found.insert(Partial { level, n, width }, 0);
                }
            }
        }
    }
    found
}

fn clear_tmp(tmp: &Path) -> Result<()> {
    for e in fs::read_dir(tmp).map_err(|e| posix::io_error("read", tmp, e))? {
        let p = e.map_err(|e| posix::io_error("read", tmp, e))?.path();
        fs::remove_file(&p).map_err(|e| posix::io_error("remove", &p, e))?;
    }
    Ok(())
}
