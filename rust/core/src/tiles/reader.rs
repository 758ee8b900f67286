//! Reading a tlog-tiles log from any source (a directory, HTTP through the
//! binding), with every tile authenticated before use.
//!
//! The right edge (the partial tile of each level) is checked against the
//! checkpoint root when the reader opens. A full tile is checked against its
//! hash in the tile above, and so on up to the edge: a flipped byte or a
//! truncated tile is reported, never served.
//!
//! A log may delete a partial tile (or partial entry bundle) once the full
//! tile exists (C2SP tlog-tiles, "Partial Tiles"), so a reader opened at an
//! older checkpoint whose partial tile cannot be fetched reads the full tile
//! instead and keeps its first `W` hashes (or entries). Those are checked
//! against the checkpoint root like the partial tile would have been. Where
//! neither can be read, the error names the partial tile.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use super::path::{bundle_path, tile_path, tile_width, TILE_HEIGHT, TILE_WIDTH};
use crate::compact::CompactRange;
use crate::error::{damaged, invalid, out_of_range, storage, Error, Result, StorageKind};
use crate::storage::{posix, Objects};
use crate::suite::{Hash, Suite};
use crate::tree::NodeSource;

/// Largest entry a bundle can hold (uint16 length prefix).
pub const MAX_ENTRY: usize = u16::MAX as usize;
/// Largest encoded entry bundle.
pub const MAX_BUNDLE: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY);
/// Verified full tiles kept in memory (16 KiB each with their inner levels).
const CACHE_TILES: usize = 4096;

/// Where tiles come from. Paths are tlog-tiles paths relative to the log
/// (`tile/0/000`, `tile/entries/x001/002.p/5`, `checkpoint`).
pub trait TileSource: Send + Sync {
    /// The resource at `path`, refusing to read more than `max_len` bytes.
    fn get(&self, path: &str, max_len: usize) -> Result<Vec<u8>>;
}

/// A store of objects (a tile log's own store) is a tile source.
impl<S: Objects + ?Sized> TileSource for std::sync::Arc<S> {
    fn get(&self, path: &str, max_len: usize) -> Result<Vec<u8>> {
        Objects::get(&**self, path, max_len)
    }
}

/// A log directory on the local filesystem.
pub struct DirSource {
    pub root: PathBuf,
}

impl TileSource for DirSource {
    fn get(&self, path: &str, max_len: usize) -> Result<Vec<u8>> {
        posix::read_bounded(&self.root.join(path), max_len as u64)
    }
}

/// A read view of a tlog-tiles log at one checkpointed size.
pub struct TileReader<S: TileSource> {
    source: S,
    suite: Suite,
    size: u64,
    /// `edge[L]`: the partial tile at tile level `L` (possibly empty).
    edge: Vec<Arc<Tile>>,
    /// The encoded partial entry bundle (empty when `size % 256 == 0`).
    bundle: Vec<u8>,
    cache: Mutex<TileCache>,
}

impl<S: TileSource> TileReader<S> {
    /// Opens the tree of `size` leaves whose root is `root` (from a checkpoint
    /// the caller has verified): loads and checks the right edge. A partial
    /// tile or bundle the source cannot give is read from its full tile (see
    /// the module doc).
    pub fn open(source: S, suite: Suite, size: u64, root: &Hash) -> Result<Self> {
        let mut edge = Vec::new();
        // Where each edge tile was read from, for the error if they are damaged.
        let mut read = Vec::new();
        let mut level = 0u32;
        while size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
            let n = (size >> (TILE_HEIGHT * level)) / TILE_WIDTH;
            let w = tile_width(level, n, size);
            if w == 0 {
                edge.push(Vec::new());
            } else {
                let (hashes, from) = read_partial_tile(&source, level, n, w)?;
                edge.push(hashes);
                read.push(from);
            }
            level += 1;
        }
        let mut reader = TileReader::from_edge(source, suite, size, edge, Vec::new());
        if reader.compact_range().root() != *root {
            return Err(damaged(format!(
                "damaged log: the right-edge tiles ({}) do not hash to the checkpoint root of size {size}",
                read.join(", ")
            )));
        }
        // The bundle is checked against the level-0 tile only once that is
        // authenticated, so damage is blamed on the right file.
        let w = size % TILE_WIDTH;
        if w > 0 {
            let leaves = &reader.edge[0].levels[0];
            reader.bundle = read_partial_bundle(&reader.source, suite, size / TILE_WIDTH, w, leaves)?;
        }
        Ok(reader)
    }

    /// A reader over an edge the caller built itself (the writer, after an extend).
    pub(crate) fn from_edge(source: S, suite: Suite, size: u64, edge: Vec<Vec<Hash>>, bundle: Vec<u8>) -> Self {
        let edge = edge.into_iter().map(|row| Arc::new(Tile::new(suite, row))).collect();
        TileReader { source, suite, size, edge, bundle, cache: Mutex::new(TileCache::default()) }
    }

    /// The hashes of each partial tile of the right edge.
    pub(crate) fn edge(&self) -> Vec<Vec<Hash>> {
        self.edge.iter().map(|t| t.levels[0].clone()).collect()
    }

    pub(crate) fn bundle(&self) -> &[u8] {
        &self.bundle
    }

    /// Moves the view to a larger size whose edge the writer has just built.
    pub(crate) fn advance(&mut self, size: u64, edge: Vec<Vec<Hash>>, bundle: Vec<u8>) {
        self.edge = edge.into_iter().map(|row| Arc::new(Tile::new(self.suite, row))).collect();
        (self.size, self.bundle) = (size, bundle);
    }

    /// The compact range of the size, from the right edge alone.
    pub fn compact_range(&self) -> CompactRange {
        let mut hashes = Vec::new();
        for tile in self.edge.iter().rev() {
            // The partial tile's complete subtrees, largest first.
            let width = tile.levels[0].len();
            let mut off = 0;
            for b in (0..TILE_HEIGHT as usize).rev() {
                if width >> b & 1 == 1 {
                    hashes.push(tile.levels[b][off >> b]);
                    off += 1 << b;
                }
            }
        }
        CompactRange::from_parts(self.suite, self.size, hashes).expect("one subtree per set bit of size")
    }

    /// The authenticated tile `(level, n)`.
    fn tile(&self, level: u32, n: u64) -> Result<Arc<Tile>> {
        let width = tile_width(level, n, self.size);
        if width == 0 {
            return Err(out_of_range(format!("no tile {level}/{n} at size {}", self.size)));
        }
        if width < TILE_WIDTH {
            return Ok(self.edge[level as usize].clone());
        }
        if let Some(t) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(level, n) {
            return Ok(t);
        }
        let tile = Tile::new(self.suite, read_tile(&self.source, level, n, TILE_WIDTH)?);
        let parent = self.tile(level + 1, n / TILE_WIDTH)?;
        if tile.levels[TILE_HEIGHT as usize][0] != parent.levels[0][(n % TILE_WIDTH) as usize] {
            return Err(damaged(format!(
                "damaged tile {}: it does not hash to its parent",
                tile_path(level, n, TILE_WIDTH)
            )));
        }
        let t = Arc::new(tile);
        self.cache.lock().unwrap_or_else(PoisonError::into_inner).put(level, n, t.clone());
        Ok(t)
    }

    /// The entry at `index`, checked against its authenticated leaf hash.
    pub fn entry(&self, index: u64) -> Result<Vec<u8>> {
        if index >= self.size {
            return Err(out_of_range(format!("index {index} is not below the log size {}", self.size)));
        }
        let n = index / TILE_WIDTH;
        let w = tile_width(0, n, self.size);
        let path = bundle_path(n, w);
        let owned;
        let data = if w < TILE_WIDTH {
            &self.bundle
        } else {
            owned = fetch(&self.source, &path, MAX_BUNDLE)?;
            &owned
        };
        let entries = parse_bundle(data, w as usize).map_err(|e| damaged(format!("{path}: {e}")))?;
        let e = entries[(index % TILE_WIDTH) as usize];
        if self.suite.leaf_hash(e) != self.node(0, index)? {
            return Err(damaged(format!("damaged bundle {path}: entry {index} does not match its leaf hash")));
        }
        Ok(e.to_vec())
    }
}

impl<S: TileSource> NodeSource for TileReader<S> {
    fn suite(&self) -> Suite {
        self.suite
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// Tree level `level` lies in tile level `level / 8`, `r = level % 8`
    /// levels above that tile's hashes.
    fn node(&self, level: u32, index: u64) -> Result<Hash> {
        let (tl, r) = (level / TILE_HEIGHT, level % TILE_HEIGHT);
        let first = index.checked_shl(r).ok_or_else(|| out_of_range("node index overflows"))?;
        let tile = self.tile(tl, first / TILE_WIDTH)?;
        tile.levels[r as usize]
            .get(((first % TILE_WIDTH) >> r) as usize)
            .copied()
            .ok_or_else(|| out_of_range(format!("no complete subtree at level {level}, index {index}")))
    }
}

/// A tile's hashes and every complete subtree above them within the tile:
/// `levels[r][i]` is the root of hashes `[i << r, (i + 1) << r)`. Hashed once
/// when the tile is loaded, so a proof node is a lookup, not up to 127 hashes.
struct Tile {
    levels: Vec<Vec<Hash>>,
}

impl Tile {
    fn new(suite: Suite, hashes: Vec<Hash>) -> Tile {
        let mut levels = vec![hashes];
        while levels.len() <= TILE_HEIGHT as usize {
            let below = &levels[levels.len() - 1];
            let mut up = vec![[0u8; 32]; below.len() / 2];
            suite.hash_nodes(&below[..2 * up.len()], &mut up);
            levels.push(up);
        }
        Tile { levels }
    }
}

/// `source.get`, its error a storage error that names `path`.
fn fetch<S: TileSource>(source: &S, path: &str, max_len: usize) -> Result<Vec<u8>> {
    source.get(path, max_len).map_err(|e| {
        let (kind, msg) = match e {
            Error::Storage(e) => (e.kind, e.message),
            e => (StorageKind::Io, e.to_string()),
        };
        storage(kind, if msg.contains(path) { msg } else { format!("{path}: {msg}") })
    })
}

fn read_tile<S: TileSource>(source: &S, level: u32, n: u64, width: u64) -> Result<Vec<Hash>> {
    let path = tile_path(level, n, width);
    let data = fetch(source, &path, width as usize * 32)?;
    tile_hashes(&path, &data, width)
}

/// The `width` hashes of tile `path`, refusing a tile of another length.
fn tile_hashes(path: &str, data: &[u8], width: u64) -> Result<Vec<Hash>> {
    let want = width as usize * 32;
    if data.len() != want {
        return Err(damaged(format!("tile {path} is truncated: {} bytes, not {want}", data.len())));
    }
    Ok(data.as_chunks::<32>().0.to_vec())
}

/// The partial tile `(level, n)` of width `w`, or where the source cannot
/// give it (deleted once the full tile existed, or unreadable), the first `w`
/// hashes of the full tile; with the path they were read from. Authenticated
/// by the caller against the checkpoint root.
fn read_partial_tile<S: TileSource>(source: &S, level: u32, n: u64, w: u64) -> Result<(Vec<Hash>, String)> {
    let partial = tile_path(level, n, w);
    match source.get(&partial, w as usize * 32) {
        Ok(data) => Ok((tile_hashes(&partial, &data, w)?, partial)),
        Err(missing) => {
            let full = tile_path(level, n, TILE_WIDTH);
            let data = source
                .get(&full, TILE_WIDTH as usize * 32)
                .map_err(|e| neither(&format!("tile {partial}"), &missing, &full, &e))?;
            let mut hashes = tile_hashes(&full, &data, TILE_WIDTH)?;
            hashes.truncate(w as usize);
            Ok((hashes, format!("{full} (in place of {partial})")))
        }
    }
}

/// The partial bundle `n` of `w` entries, checked against the edge's leaf
/// hashes; or where the source cannot give it, the first `w` entries of the
/// full bundle, checked the same way.
fn read_partial_bundle<S: TileSource>(source: &S, suite: Suite, n: u64, w: u64, leaves: &[Hash]) -> Result<Vec<u8>> {
    let partial = bundle_path(n, w);
    match source.get(&partial, w as usize * (2 + MAX_ENTRY)) {
        Ok(data) => {
            check_bundle(suite, &data, leaves, &partial)?;
            Ok(data)
        }
        Err(missing) => {
            let full = bundle_path(n, TILE_WIDTH);
            let mut data = source
                .get(&full, MAX_BUNDLE)
                .map_err(|e| neither(&format!("bundle {partial}"), &missing, &full, &e))?;
            let label = format!("{full} (in place of {partial})");
            let entries = parse_bundle(&data, TILE_WIDTH as usize).map_err(|e| damaged(format!("{label}: {e}")))?;
            let len = entries[..w as usize].iter().map(|e| 2 + e.len()).sum();
            data.truncate(len);
            check_bundle(suite, &data, leaves, &label)?;
            Ok(data)
        }
    }
}

/// The error when neither a partial tile nor its full tile can be read: it
/// names the partial tile, which the checkpoint requires, with the kind of
/// the partial tile's failure (missing, damaged, unreadable).
fn neither(partial: &str, missing: &Error, full: &str, e: &Error) -> Error {
    let detail = |e: &Error| match e {
        Error::Storage(m) => m.message.clone(),
        e => e.to_string(),
    };
    storage(
        missing.storage_kind().unwrap_or(StorageKind::Damaged),
        format!(
            "{partial} cannot be read ({}), nor the full tile {full} in its place ({})",
            detail(missing),
            detail(e)
        ),
    )
}

/// Checks that a partial bundle holds exactly the entries of the edge's leaf hashes.
fn check_bundle(suite: Suite, data: &[u8], leaves: &[Hash], path: &str) -> Result<()> {
    let entries = parse_bundle(data, leaves.len()).map_err(|e| damaged(format!("{path}: {e}")))?;
    match entries.iter().zip(leaves).position(|(e, l)| suite.leaf_hash(e) != *l) {
        Some(i) => Err(damaged(format!("damaged bundle {path}: entry {i} does not match its leaf hash"))),
        None => Ok(()),
    }
}

/// Splits an entry bundle holding exactly `count` uint16-length-prefixed entries.
pub fn parse_bundle(data: &[u8], count: usize) -> Result<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(count.min(TILE_WIDTH as usize));
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

/// A bounded map of verified full tiles, evicting the oldest insert.
#[derive(Default)]
struct TileCache {
    map: HashMap<(u32, u64), Arc<Tile>>,
    order: VecDeque<(u32, u64)>,
}

impl TileCache {
    fn get(&self, level: u32, n: u64) -> Option<Arc<Tile>> {
        self.map.get(&(level, n)).cloned()
    }

    fn put(&mut self, level: u32, n: u64, t: Arc<Tile>) {
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
