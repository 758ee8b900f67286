//! Tile integration: what appending entries adds to a tlog-tiles log —
//! full and partial hash tiles of every level, entry bundles, the new right
//! edge — computed from the old edge alone, with no I/O. The tile log
//! writes the result through its store.

use rayon::prelude::*;

use super::path::{bundle_path, tile_path, tile_width, TILE_HEIGHT, TILE_WIDTH};
use crate::suite::{Hash, Suite};

/// A partial tile or entry bundle on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Partial {
    /// The tile level; `None` for an entry bundle.
    pub level: Option<u32>,
    pub n: u64,
    pub width: u64,
}

impl Partial {
    pub fn path(&self) -> String {
        self.with_width(self.width)
    }

    pub fn full_path(&self) -> String {
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
    pub fn full_at(&self, size: u64) -> bool {
        tile_width(self.level.unwrap_or(0), self.n, size) == TILE_WIDTH
    }
}

/// What appending entries to a log of `size` adds.
pub(crate) struct Integrated {
    /// The new and changed tiles and bundles, by name.
    pub objects: Vec<(String, Vec<u8>)>,
    /// The partial tiles and bundle the new size's checkpoint refers to.
    pub partials: Vec<Partial>,
    /// The new right edge: the partial tile of each level.
    pub edge: Vec<Vec<Hash>>,
    /// The new partial entry bundle, encoded.
    pub bundle: Vec<u8>,
}

/// Appends `entries` (with their leaf hashes `leaves`) to a log of `size`
/// whose right edge is `edge` and partial bundle `bundle`.
pub(crate) fn integrate<T: AsRef<[u8]>>(
    suite: Suite,
    size: u64,
    edge: &[Vec<Hash>],
    bundle: &[u8],
    entries: &[T],
    leaves: &[Hash],
) -> Integrated {
    let mut out = Integrated { objects: Vec::new(), partials: Vec::new(), edge: Vec::new(), bundle: Vec::new() };
    out.bundle = bundles(size, bundle, entries, &mut out);
    let new_size = size + entries.len() as u64;
    out.edge = tiles(suite, size, edge, leaves, new_size, &mut out);
    out
}

/// The partial bundle with `entries` appended; adds every bundle they
/// complete and returns the new partial bundle.
fn bundles<T: AsRef<[u8]>>(size: u64, bundle: &[u8], entries: &[T], out: &mut Integrated) -> Vec<u8> {
    let mut n = size / TILE_WIDTH;
    let mut count = size % TILE_WIDTH;
    let mut bundle = bundle.to_vec();
    for e in entries {
        let e = e.as_ref();
        bundle.extend_from_slice(&(e.len() as u16).to_be_bytes());
        bundle.extend_from_slice(e);
        count += 1;
        if count == TILE_WIDTH {
            out.objects.push((bundle_path(n, TILE_WIDTH), std::mem::take(&mut bundle)));
            n += 1;
            count = 0;
        }
    }
    if count > 0 {
        let p = Partial { level: None, n, width: count };
        out.objects.push((p.path(), bundle.clone()));
        out.partials.push(p);
    }
    bundle
}

/// Adds `leaves` to the tiles of every level; returns the new right edge.
fn tiles(
    suite: Suite,
    size: u64,
    old_edge: &[Vec<Hash>],
    leaves: &[Hash],
    new_size: u64,
    out: &mut Integrated,
) -> Vec<Vec<Hash>> {
    let mut edge = Vec::new();
    let mut incoming = leaves.to_vec();
    let mut level = 0u32;
    while new_size.checked_shr(TILE_HEIGHT * level).unwrap_or(0) > 0 {
        // Hashes this tile level held before: full tiles, then the edge.
        let before = size.checked_shr(TILE_HEIGHT * level).unwrap_or(0);
        let mut row = old_edge.get(level as usize).cloned().unwrap_or_default();
        row.extend_from_slice(&incoming);
        let mut tile = before / TILE_WIDTH;
        let chunks = row.chunks_exact(TILE_WIDTH as usize);
        let rest = chunks.remainder().to_vec();
        let next: Vec<Hash> = row.par_chunks_exact(TILE_WIDTH as usize).map(|t| suite.perfect_root(t)).collect();
        for full in chunks {
            out.objects.push((tile_path(level, tile, TILE_WIDTH), full.as_flattened().to_vec()));
            tile += 1;
        }
        if !rest.is_empty() {
            // The new checkpoint refers to this partial tile, changed or not.
            let p = Partial { level: Some(level), n: tile, width: rest.len() as u64 };
            if !incoming.is_empty() {
                out.objects.push((p.path(), rest.as_flattened().to_vec()));
            }
            out.partials.push(p);
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
