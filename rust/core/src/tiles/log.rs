//! A durable log stored as C2SP tlog-tiles: the directory *is* the published
//! log, servable by any static web server.
//!
//! Layout under the log directory:
//! - `checkpoint` — the signed checkpoint, written last on every extend;
//! - `tile/<L>/<N>[.p/<W>]` — hash tiles; `tile/entries/<N>[.p/<W>]` — entry bundles;
//! - `.veritree/` — our own: `config` (suite, origin), `lock`, `tmp/`.
//!
//! The writer keeps only the right edge in memory (the partial tile of each
//! level and the partial entry bundle): memory does not grow with the log.
//! Every tile read back is authenticated up to the checkpoint root before use.

use std::collections::{HashMap, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use base64::Engine;

use super::fsio::{self, Batch};
use super::path::{bundle_path, tile_path, tile_width, TILE_HEIGHT, TILE_WIDTH};
use crate::compact::CompactRange;
use crate::error::{invalid, out_of_range, Error, Result};
use crate::suite::{Hash, Suite};
use crate::tree::{self, NodeSource};

/// Turns a checkpoint body (`origin\nsize\nroot\n`) into a signed note.
pub type SignFn = Box<dyn Fn(&str) -> Result<String> + Send + Sync>;

/// Largest entry a bundle can hold (uint16 length prefix).
pub const MAX_ENTRY: usize = u16::MAX as usize;
/// Largest checkpoint or config file we read.
const MAX_SMALL_FILE: u64 = 1 << 20;
/// Verified tiles kept in memory for reads (8 KiB each).
const CACHE_TILES: usize = 4096;
/// Checkpoint generations whose partial tiles stay on disk for readers.
const KEEP_GENERATIONS: usize = 2;

fn storage(msg: impl Into<String>) -> Error {
    Error::Storage(msg.into())
}

/// A tlog-tiles log in a directory.
pub struct TileLog {
    dir: PathBuf,
    suite: Suite,
    origin: String,
    size: u64,
    checkpoint: String,
    /// `edge[L]`: the hashes of the partial tile at tile level `L`.
    edge: Vec<Vec<Hash>>,
    /// The encoded partial entry bundle.
    bundle: Vec<u8>,
    sign: Option<SignFn>,
    cache: Mutex<TileCache>,
    /// Partial files written per checkpoint, oldest first (pruned as the log grows).
    partials: VecDeque<Vec<String>>,
    _lock: Option<File>,
}

impl TileLog {
    /// Creates an empty log in `dir` (which must not hold one) and publishes
    /// its size-0 checkpoint.
    pub fn create(dir: &Path, suite: Suite, origin: &str, sign: SignFn) -> Result<TileLog> {
        check_origin(origin)?;
        if dir.join("checkpoint").exists() || dir.join(".veritree/config").exists() {
            return Err(invalid(format!("{} already holds a log", dir.display())));
        }
        fs::create_dir_all(dir.join(".veritree/tmp")).map_err(|e| fsio::io_error("create", dir, e))?;
        let lock = fsio::lock_exclusive(&dir.join(".veritree/lock"))?;
        let config = format!("veritree tlog-tiles v1\nsuite {}\norigin {origin}\n", suite.name());
        fsio::write_atomic(dir, ".veritree/config", config.as_bytes())?;
        let mut log = TileLog {
            dir: dir.to_path_buf(),
            suite,
            origin: origin.to_string(),
            size: 0,
            checkpoint: String::new(),
            edge: Vec::new(),
            bundle: Vec::new(),
            sign: Some(sign),
            cache: Mutex::new(TileCache::default()),
            partials: VecDeque::new(),
            _lock: Some(lock),
        };
        log.publish(Batch::default(), Vec::new())?;
        Ok(log)
    }

    /// Opens an existing log: for writing when `sign` is given (taking the
    /// writer lock), else read-only. Checks the right edge against the checkpoint.
    pub fn open(dir: &Path, sign: Option<SignFn>) -> Result<TileLog> {
        let config_path = dir.join(".veritree/config");
        if !config_path.exists() {
            return Err(storage(format!("no log at {}", dir.display())));
        }
        let lock = match sign {
            Some(_) => Some(fsio::lock_exclusive(&dir.join(".veritree/lock"))?),
            None => None,
        };
        let (suite, origin) = parse_config(&fsio::read_bounded(&config_path, MAX_SMALL_FILE)?)?;
        let note = fsio::read_bounded(&dir.join("checkpoint"), MAX_SMALL_FILE)?;
        let checkpoint = String::from_utf8(note).map_err(|_| storage("checkpoint is not UTF-8"))?;
        let (cp_origin, size, root) = parse_checkpoint_body(&checkpoint)?;
        if cp_origin != origin {
            return Err(storage(format!("checkpoint origin {cp_origin:?} is not the log's origin {origin:?}")));
        }
        let mut log = TileLog {
            dir: dir.to_path_buf(),
            suite,
            origin,
            size,
            checkpoint,
            edge: Vec::new(),
            bundle: Vec::new(),
            sign,
            cache: Mutex::new(TileCache::default()),
            partials: VecDeque::new(),
            _lock: lock,
        };
        log.load_edge()?;
        if log.compact_range().root() != root {
            return Err(storage("damaged log: the right-edge tiles do not hash to the checkpoint root"));
        }
        if log.sign.is_some() {
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
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// The signed checkpoint note of the current size.
    pub fn checkpoint(&self) -> &str {
        &self.checkpoint
    }

    /// Appends entries; returns the index of the first. When this returns, the
    /// entries, their tiles and a checkpoint covering them are on disk.
    pub fn extend<T: AsRef<[u8]> + Sync>(&mut self, entries: &[T]) -> Result<u64> {
        if self.sign.is_none() {
            return Err(invalid("the log is open read-only"));
        }
        if let Some((i, e)) = entries.iter().enumerate().find(|(_, e)| e.as_ref().len() > MAX_ENTRY) {
            return Err(invalid(format!("entry {i} is {} bytes; tlog-tiles entries hold at most {MAX_ENTRY}", e.as_ref().len())));
        }
        let first = self.size;
        if entries.is_empty() {
            return Ok(first);
        }
        let leaves = self.suite.leaf_hashes(entries);
        let mut batch = Batch::default();
        let mut partial_files = Vec::new();
        self.stage_bundles(entries, &mut batch, &mut partial_files);
        let new_size = first + entries.len() as u64;
        let edge = self.stage_tiles(leaves, new_size, &mut batch, &mut partial_files);
        let old = (std::mem::replace(&mut self.edge, edge), self.size);
        self.size = new_size;
        if let Err(e) = self.publish(batch, partial_files) {
            // Nothing was published: the on-disk checkpoint still says `old`.
            (self.edge, self.size) = old;
            return Err(e);
        }
        Ok(first)
    }

    /// Appends entries to the partial bundle, staging every bundle they complete.
    fn stage_bundles<T: AsRef<[u8]>>(&mut self, entries: &[T], batch: &mut Batch, partials: &mut Vec<String>) {
        let mut n = self.size / TILE_WIDTH;
        let mut count = self.size % TILE_WIDTH;
        let mut bundle = std::mem::take(&mut self.bundle);
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
            let p = bundle_path(n, count);
            batch.add(p.clone(), bundle.clone());
            partials.push(p);
        }
        self.bundle = bundle;
    }

    /// Adds `leaves` to the tiles of every level; returns the new right edge.
    fn stage_tiles(&self, leaves: Vec<Hash>, new_size: u64, batch: &mut Batch, partials: &mut Vec<String>) -> Vec<Vec<Hash>> {
        let mut edge = Vec::new();
        let mut incoming = leaves;
        let mut level = 0u32;
        while new_size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
            // Hashes this tile level held before: full tiles, then the edge.
            let before = self.size.checked_shr(TILE_HEIGHT * level).unwrap_or(0);
            let mut row = self.edge.get(level as usize).cloned().unwrap_or_default();
            row.extend_from_slice(&incoming);
            let mut tile = before / TILE_WIDTH;
            let mut next = Vec::new();
            let mut chunks = row.chunks_exact(TILE_WIDTH as usize);
            for full in &mut chunks {
                batch.add(tile_path(level, tile, TILE_WIDTH), full.as_flattened().to_vec());
                next.push(self.suite.perfect_root(full));
                tile += 1;
            }
            let rest = chunks.remainder().to_vec();
            if !rest.is_empty() {
                // The new checkpoint refers to this partial tile, changed or not.
                let p = tile_path(level, tile, rest.len() as u64);
                if !incoming.is_empty() {
                    batch.add(p.clone(), rest.as_flattened().to_vec());
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

    /// Writes the staged files, then the checkpoint for `self.size`.
    fn publish(&mut self, batch: Batch, partial_files: Vec<String>) -> Result<()> {
        let sign = self.sign.as_ref().ok_or_else(|| invalid("the log is open read-only"))?;
        let root = self.compact_range().root();
        let body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(root)
        );
        let note = sign(&body)?;
        if !note.starts_with(&body) {
            return Err(invalid("the signer must return the checkpoint body followed by its signatures"));
        }
        batch.commit(&self.dir)?;
        fsio::write_atomic(&self.dir, "checkpoint", note.as_bytes())?;
        self.checkpoint = note;
        self.prune_partials(partial_files);
        Ok(())
    }

    /// Deletes partial tiles older than [`KEEP_GENERATIONS`] checkpoints, so a
    /// reader that just fetched a recent checkpoint still finds its tiles.
    fn prune_partials(&mut self, current: Vec<String>) {
        self.partials.push_back(current);
        while self.partials.len() > KEEP_GENERATIONS {
            let old = self.partials.pop_front().unwrap_or_default();
            for p in old {
                if !self.partials.iter().any(|g| g.contains(&p)) {
                    // Best effort: a leftover partial tile is harmless.
                    let _ = fs::remove_file(self.dir.join(p));
                }
            }
        }
    }

    /// Reads the partial tiles and bundle of the current size.
    fn load_edge(&mut self) -> Result<()> {
        let mut edge = Vec::new();
        let mut level = 0u32;
        while self.size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
            let n = (self.size >> (TILE_HEIGHT * level)) / TILE_WIDTH;
            let w = tile_width(level, n, self.size);
            edge.push(if w == 0 { Vec::new() } else { self.read_tile_file(level, n, w)? });
            level += 1;
        }
        self.edge = edge;
        let w = self.size % TILE_WIDTH;
        if w > 0 {
            let path = self.dir.join(bundle_path(self.size / TILE_WIDTH, w));
            let data = fsio::read_bounded(&path, w * (2 + MAX_ENTRY as u64))?;
            let entries = parse_bundle(&data, w as usize).map_err(|e| storage(format!("{}: {e}", path.display())))?;
            for (i, e) in entries.iter().enumerate() {
                if self.suite.leaf_hash(e) != self.edge[0][i] {
                    return Err(storage(format!("{}: entry {i} does not match its leaf hash", path.display())));
                }
            }
            self.bundle = data;
        }
        Ok(())
    }

    fn read_tile_file(&self, level: u32, n: u64, width: u64) -> Result<Vec<Hash>> {
        let path = self.dir.join(tile_path(level, n, width));
        let data = fsio::read_exact_len(&path, width as usize * 32)?;
        Ok(data.as_chunks::<32>().0.to_vec())
    }

    /// The compact range of the current size, from the right edge alone.
    pub fn compact_range(&self) -> CompactRange {
        let mut hashes = Vec::new();
        for level in (0..self.edge.len() as u32).rev() {
            let row = &self.edge[level as usize];
            let mut off = 0;
            for b in (0..TILE_HEIGHT).rev() {
                if row.len() >> b & 1 == 1 {
                    hashes.push(self.suite.perfect_root(&row[off..off + (1 << b)]));
                    off += 1 << b;
                }
            }
        }
        CompactRange::from_parts(self.suite, self.size, hashes).expect("one subtree per set bit of size")
    }

    /// The hashes of tile `(level, n)` as of the current size, authenticated:
    /// a full tile must hash to its entry in the tile above, whose own chain
    /// ends at the edge (checked against the checkpoint when the log opened).
    fn tile(&self, level: u32, n: u64) -> Result<std::sync::Arc<Vec<Hash>>> {
        let width = tile_width(level, n, self.size);
        if width == 0 {
            return Err(out_of_range(format!("no tile {level}/{n} at size {}", self.size)));
        }
        if width < TILE_WIDTH {
            return Ok(std::sync::Arc::new(self.edge[level as usize].clone()));
        }
        if let Some(t) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(level, n) {
            return Ok(t);
        }
        let hashes = self.read_tile_file(level, n, TILE_WIDTH)?;
        let parent = self.tile(level + 1, n / TILE_WIDTH)?;
        if self.suite.perfect_root(&hashes) != parent[(n % TILE_WIDTH) as usize] {
            return Err(storage(format!("damaged tile {}: it does not hash to its parent", tile_path(level, n, TILE_WIDTH))));
        }
        let t = std::sync::Arc::new(hashes);
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).put(level, n, t.clone());
        Ok(t)
    }

    /// The entry at `index`, checked against its leaf hash.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>> {
        if index >= self.size {
            return Err(out_of_range(format!("index {index} is not below the log size {}", self.size)));
        }
        let n = index / TILE_WIDTH;
        let w = tile_width(0, n, self.size);
        let data = if w < TILE_WIDTH {
            self.bundle.clone()
        } else {
            fsio::read_bounded(&self.dir.join(bundle_path(n, w)), w * (2 + MAX_ENTRY as u64))?
        };
        let entries = parse_bundle(&data, w as usize).map_err(|e| storage(format!("{}: {e}", bundle_path(n, w))))?;
        let e = entries[(index % TILE_WIDTH) as usize].to_vec();
        if self.suite.leaf_hash(&e) != self.node(0, index)? {
            return Err(storage(format!("damaged bundle {}: entry {index} does not match its leaf hash", bundle_path(n, w))));
        }
        Ok(e)
    }

    /// The root at `size` (any size up to the current one).
    pub fn root(&self, size: u64) -> Result<Hash> {
        tree::root_at(self, size)
    }
}

impl NodeSource for TileLog {
    fn suite(&self) -> Suite {
        self.suite
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// Tree level `level` lies in tile level `level / 8`; a node `r = level % 8`
    /// levels above a tile's hashes is the root of `2^r` of them.
    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        let (tl, r) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
        let first = index << r;
        let tile = self.tile(tl, first / TILE_WIDTH)?;
        let off = (first % TILE_WIDTH) as usize;
        let part = tile
            .get(off..off + (1 << r))
            .ok_or_else(|| out_of_range(format!("no complete subtree at level {level}, index {index}")))?;
        Ok(self.suite.perfect_root(part))
    }
}

/// A bounded map of verified full tiles, evicting the oldest insert.
#[derive(Default)]
struct TileCache {
    map: HashMap<(u32, u64), std::sync::Arc<Vec<Hash>>>,
    order: VecDeque<(u32, u64)>,
}

impl TileCache {
    fn get(&self, level: u32, n: u64) -> Option<std::sync::Arc<Vec<Hash>>> {
        self.map.get(&(level, n)).cloned()
    }

    fn put(&mut self, level: u32, n: u64, t: std::sync::Arc<Vec<Hash>>) {
        if self.map.insert((level, n), t).is_none() {
            self.order.push_back((level, n));
        }
        while self.order.len() > CACHE_TILES {
            if let Some(k) = self.order.pop_front() {
                self.map.remove(&k);
            }
        }
    }
}

/// Splits an entry bundle holding exactly `count` uint16-length-prefixed entries.
pub fn parse_bundle(data: &[u8], count: usize) -> Result<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(count);
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(|| invalid("truncated entry length"))?;
        let len = u16::from_be_bytes(*len) as usize;
        let e = tail.get(..len).ok_or_else(|| invalid("truncated entry"))?;
        out.push(e);
        rest = &tail[len..];
    }
    if out.len() != count {
        return Err(invalid(format!("bundle holds {} entries, expected {count}", out.len())));
    }
    Ok(out)
}

fn check_origin(origin: &str) -> Result<()> {
    if origin.is_empty() || origin.contains(|c: char| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(invalid(format!("origin {origin:?} must be non-empty, without spaces, '+' or control characters")));
    }
    Ok(())
}

fn parse_config(data: &[u8]) -> Result<(Suite, String)> {
    let text = std::str::from_utf8(data).map_err(|_| storage("config is not UTF-8"))?;
    let mut lines = text.lines();
    let bad = || storage("damaged .veritree/config");
    if lines.next() != Some("veritree tlog-tiles v1") {
        return Err(bad());
    }
    let suite = lines.next().and_then(|l| l.strip_prefix("suite ")).ok_or_else(bad)?;
    let origin = lines.next().and_then(|l| l.strip_prefix("origin ")).ok_or_else(bad)?;
    Ok((Suite::from_name(suite)?, origin.to_string()))
}

/// The origin, size and root of a checkpoint note (signatures are the
/// verifier's business; the writer trusts its own file but checks its form).
fn parse_checkpoint_body(note: &str) -> Result<(String, u64, Hash)> {
    let mut lines = note.split('\n');
    let bad = |what: &str| storage(format!("damaged checkpoint: {what}"));
    let origin = lines.next().filter(|l| !l.is_empty()).ok_or_else(|| bad("no origin"))?;
    let size_line = lines.next().ok_or_else(|| bad("no size"))?;
    if size_line.is_empty() || (size_line.len() > 1 && size_line.starts_with('0')) {
        return Err(bad("malformed size"));
    }
    let size: u64 = size_line.parse().map_err(|_| bad("malformed size"))?;
    let root = lines
        .next()
        .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
        .and_then(|b| Hash::try_from(b).ok())
        .ok_or_else(|| bad("malformed root"))?;
    Ok((origin.to_string(), size, root))
}

fn clear_tmp(tmp: &Path) -> Result<()> {
    for e in fs::read_dir(tmp).map_err(|e| fsio::io_error("read", tmp, e))? {
        let p = e.map_err(|e| fsio::io_error("read", tmp, e))?.path();
        fs::remove_file(&p).map_err(|e| fsio::io_error("remove", &p, e))?;
    }
    Ok(())
}
