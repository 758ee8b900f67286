//! The tlog-tiles log against the in-memory log, across reopen, damage and locks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use veritree_core::notes::note;
use veritree_core::tiles::NoteCheckpoints;
use veritree_core::tiles::{path, CheckpointFormat, DirSource, TileLog, TileReader};
use veritree_core::{tree, verify, Error, Hash, MemoryLog, NodeSource, Suite};

fn signer() -> Box<dyn CheckpointFormat> {
    Box::new(NoteCheckpoints::signed_by(note::Signer::generate("example.com/log", note::ALG_ED25519).unwrap()))
}

fn read_only() -> Box<dyn CheckpointFormat> {
    Box::new(NoteCheckpoints::read_only())
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i} {}", "x".repeat((i % 50) as usize)).into_bytes()
}

fn build(dir: &Path, suite: Suite, batches: &[u64]) -> (TileLog, MemoryLog) {
    let mut tl = TileLog::create(dir, suite, "example.com/log", signer()).unwrap();
    let mut ml = MemoryLog::new(suite);
    let mut next = 0;
    for &b in batches {
        let es: Vec<Vec<u8>> = (next..next + b).map(entry).collect();
        assert_eq!(tl.extend(&es).unwrap(), next);
        for e in &es {
            ml.append(e);
        }
        next += b;
    }
    (tl, ml)
}

#[test]
fn tiles_serve_the_same_tree_as_memory() {
    for suite in Suite::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (tl, ml) = build(dir.path(), suite, &[1, 255, 1, 300, 70_000 - 557, 1000]);
        let n = tl.len();
        assert_eq!(n, 71_000);
        for size in [0, 1, 255, 256, 257, 65_536, 70_000, n] {
            assert_eq!(tl.root(size).unwrap(), ml.root(size).unwrap(), "size {size}");
        }
        for i in [0, 1, 255, 256, 65_535, 65_536, 70_999] {
            assert_eq!(tree::inclusion_proof(&tl, i, n).unwrap(), tree::inclusion_proof(&ml, i, n).unwrap());
            assert_eq!(tl.entry(i).unwrap(), entry(i));
        }
        assert_eq!(tree::consistency_proof(&tl, 300, n).unwrap(), tree::consistency_proof(&ml, 300, n).unwrap());
        // Reopening rebuilds the same edge and keeps extending where it stopped.
        drop(tl);
        let mut tl = TileLog::open(dir.path(), signer(), true).unwrap();
        assert_eq!(tl.root(n).unwrap(), ml.root(n).unwrap());
        tl.extend(&[entry(n)]).unwrap();
        let mut ml = ml;
        ml.append(&entry(n));
        assert_eq!(tl.root(n + 1).unwrap(), ml.root(n + 1).unwrap());
        let p = tree::inclusion_proof(&tl, 5, n + 1).unwrap();
        verify::verify_inclusion(suite, 5, n + 1, &ml.leaf_hash(5).unwrap(), &p, &ml.root(n + 1).unwrap()).unwrap();
    }
}

#[test]
fn layout_is_tlog_tiles() {
    let dir = tempfile::tempdir().unwrap();
    let (tl, _) = build(dir.path(), Suite::Rfc6962Sha256, &[70_000]);
    // The spec's example tree of 70,000 entries.
    for (level, n, w) in [(0, 272, 256), (0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)] {
        let p = dir.path().join(path::tile_path(level, n, w));
        assert_eq!(fs::metadata(&p).unwrap().len(), 32 * w, "{}", p.display());
    }
    assert!(dir.path().join("tile/entries/273.p/112").exists());
    let cp = fs::read_to_string(dir.path().join("checkpoint")).unwrap();
    assert!(cp.starts_with("example.com/log\n70000\n"));
    assert_eq!(cp, tl.checkpoint());
}

#[test]
fn damage_is_detected_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let (tl, _) = build(dir.path(), Suite::Rfc6962Sha256, &[70_000]);
    drop(tl);
    // A flipped byte in a full tile in the middle of the log.
    let t = dir.path().join(path::tile_path(0, 100, 256));
    let mut b = fs::read(&t).unwrap();
    b[77] ^= 1;
    fs::write(&t, &b).unwrap();
    let tl = TileLog::open(dir.path(), read_only(), false).unwrap();
    assert!(matches!(tree::inclusion_proof(&tl, 100 * 256 + 3, 70_000), Err(Error::Storage(_))));
    assert!(matches!(tl.entry(100 * 256), Err(Error::Storage(_))));
    assert!(tree::inclusion_proof(&tl, 5, 70_000).is_ok(), "undamaged tiles still serve");
    // A truncated full tile.
    let t = dir.path().join(path::tile_path(0, 7, 256));
    fs::write(&t, &fs::read(&t).unwrap()[..100]).unwrap();
    assert!(matches!(tree::inclusion_proof(&tl, 7 * 256, 70_000), Err(Error::Storage(m)) if m.contains("truncated")));
    // A damaged edge tile stops the log from opening at all.
    let t = dir.path().join(path::tile_path(1, 1, 17));
    let mut b = fs::read(&t).unwrap();
    b[0] ^= 1;
    fs::write(&t, &b).unwrap();
    assert!(matches!(TileLog::open(dir.path(), read_only(), false), Err(Error::Storage(_))));
    // A damaged entry in a full bundle.
    let dir2 = tempfile::tempdir().unwrap();
    drop(build(dir2.path(), Suite::Blake3, &[600]));
    let bpath = dir2.path().join("tile/entries/001");
    let mut b = fs::read(&bpath).unwrap();
    b[5] ^= 1;
    fs::write(&bpath, &b).unwrap();
    let tl = TileLog::open(dir2.path(), read_only(), false).unwrap();
    assert!(matches!(tl.entry(256), Err(Error::Storage(_))));
    assert_eq!(tl.entry(0).unwrap(), entry(0));
}

#[test]
fn one_writer_at_a_time_and_readers_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let (mut tl, _) = build(dir.path(), Suite::Blake3, &[10]);
    assert!(
        matches!(TileLog::open(dir.path(), signer(), true), Err(Error::Storage(m)) if m.contains("another process"))
    );
    let mut reader = TileLog::open(dir.path(), read_only(), false).unwrap();
    assert_eq!(reader.len(), 10);
    assert!(reader.extend(&[b"x"]).is_err());
    tl.extend(&[b"more"]).unwrap();
    assert_eq!(TileLog::open(dir.path(), read_only(), false).unwrap().len(), 11);
    drop(tl);
    assert!(TileLog::open(dir.path(), signer(), true).is_ok());
}

#[test]
fn bad_input_and_missing_logs() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(TileLog::open(dir.path(), read_only(), false), Err(Error::Storage(m)) if m.contains("no log")));
    assert!(TileLog::create(dir.path(), Suite::Blake3, "has space", signer()).is_err());
    // The checkpoint key must be named after the origin.
    assert!(TileLog::create(dir.path(), Suite::Blake3, "other.example/log", signer()).is_err());
    let mut tl = TileLog::create(dir.path(), Suite::Blake3, "example.com/log", signer()).unwrap();
    assert!(tl.extend(&[vec![0u8; 70_000]]).is_err());
    assert_eq!(tl.len(), 0);
    assert!(TileLog::create(dir.path(), Suite::Blake3, "example.com/log", signer()).is_err());
    let good = tl.checkpoint().to_string();
    drop(tl);
    let damaged = |text: &str| {
        fs::write(dir.path().join("checkpoint"), text).unwrap();
        matches!(TileLog::open(dir.path(), read_only(), false), Err(Error::Storage(m)) if m.contains("checkpoint"))
    };
    assert!(damaged(&good.replacen("\n0\n", "\n00\n", 1)), "leading zero in the size");
    assert!(damaged(&good[..good.len() - 5]), "truncated signature");
    assert!(damaged("example.com/log\n0\nAAAA\n"), "no signature, short root");
    assert!(TileLog::open(dir.path(), read_only(), false).is_err());
    // Another origin's checkpoint (even well formed) is not this log's.
    let other = tempfile::tempdir().unwrap();
    let key = note::Signer::generate("other.example/log", note::ALG_ED25519).unwrap();
    let tl =
        TileLog::create(other.path(), Suite::Blake3, "other.example/log", Box::new(NoteCheckpoints::signed_by(key)))
            .unwrap();
    fs::write(dir.path().join("checkpoint"), tl.checkpoint()).unwrap();
    assert!(matches!(TileLog::open(dir.path(), read_only(), false), Err(Error::Storage(m)) if m.contains("origin")));
}

#[test]
fn tiles_past_the_checkpoint_are_ignored() {
    // A crash after tiles were renamed but before the checkpoint: the log
    // reopens at the old checkpoint and overwrites the orphans.
    let dir = tempfile::tempdir().unwrap();
    let (tl, _) = build(dir.path(), Suite::Rfc6962Sha256, &[300]);
    let old_cp = tl.checkpoint().to_string();
    drop(tl);
    let mut tl = TileLog::open(dir.path(), signer(), true).unwrap();
    tl.extend(&(0..600).map(|i| vec![i as u8; 3]).collect::<Vec<_>>()).unwrap();
    drop(tl);
    fs::write(dir.path().join("checkpoint"), &old_cp).unwrap();
    fs::write(dir.path().join(".veritree/tmp/0"), b"half-written").unwrap();
    let mut tl = TileLog::open(dir.path(), signer(), true).unwrap();
    assert_eq!(tl.len(), 300);
    assert!(fs::read_dir(dir.path().join(".veritree/tmp")).unwrap().next().is_none());
    let es: Vec<Vec<u8>> = (300..900).map(entry).collect();
    tl.extend(&es).unwrap();
    let mut ml = MemoryLog::new(Suite::Rfc6962Sha256);
    for i in 0..900 {
        ml.append(&entry(i));
    }
    assert_eq!(tl.root(900).unwrap(), ml.root(900).unwrap());
    assert_eq!(tl.entry(700).unwrap(), entry(700));
    assert_eq!(tl.size(), 900);
}

#[test]
fn dedup_finds_first_indices_and_catches_up_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let suite = Suite::Rfc6962Sha256;
    let (mut tl, _) = build(dir.path(), suite, &[300]);
    assert!(tl.index_of(&suite.leaf_hash(&entry(5))).is_err(), "not enabled yet");
    tl.enable_dedup().unwrap(); // indexes the 300 entries already logged
    assert_eq!(tl.index_of(&suite.leaf_hash(&entry(5))).unwrap(), Some(5));
    tl.extend(&[entry(5), b"new".to_vec()]).unwrap();
    assert_eq!(tl.index_of(&suite.leaf_hash(&entry(5))).unwrap(), Some(5), "the first index wins");
    assert_eq!(tl.index_of(&suite.leaf_hash(b"new")).unwrap(), Some(301));
    assert_eq!(tl.index_of(&suite.leaf_hash(b"never logged")).unwrap(), None);
    drop(tl);
    // Entries logged while the index was not kept are indexed on the next enable.
    let mut tl = TileLog::open(dir.path(), signer(), true).unwrap();
    tl.extend(&[b"while off".to_vec()]).unwrap();
    tl.enable_dedup().unwrap();
    assert_eq!(tl.index_of(&suite.leaf_hash(b"while off")).unwrap(), Some(302));
}

/// The partial tiles (and partial bundle) a checkpoint of `size` refers to,
/// each with its full tile's path and whether that tile is full at `later`.
fn partials_of(size: u64, later: u64) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut level = 0u32;
    while size.checked_shr(8 * level).unwrap_or(0) > 0 {
        let n = (size >> (8 * level)) / 256;
        let w = path::tile_width(level, n, size);
        if w > 0 {
            let full = path::tile_width(level, n, later) == 256;
            out.push((path::tile_path(level, n, w), path::tile_path(level, n, 256), full));
        }
        level += 1;
    }
    let (n, w) = (size / 256, size % 256);
    if w > 0 {
        let full = path::tile_width(0, n, later) == 256;
        out.push((path::bundle_path(n, w), path::bundle_path(n, 256), full));
    }
    out
}

/// Every file in a `.p/` folder under `dir`, as a path relative to it.
fn partial_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if p.parent().unwrap().extension().is_some_and(|x| x == "p") {
                out.push(p.strip_prefix(root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &dir.join("tile"), &mut out);
    out
}

fn open_at(dir: &Path, suite: Suite, size: u64, root: &Hash) -> veritree_core::Result<TileReader<DirSource>> {
    TileReader::open(DirSource { root: dir.to_path_buf() }, suite, size, root)
}

/// Checks the tree of one checkpoint from the tiles alone: entries, inclusion
/// against its root, consistency with `prev` and to the latest tree.
fn check_checkpoint(dir: &Path, suite: Suite, note: &str, prev: Option<(u64, Hash)>, tl: &TileLog, ml: &MemoryLog) {
    let (_, size, root) = read_only().read(note).unwrap();
    assert_eq!(root, ml.root(size).unwrap(), "size {size}");
    let r = open_at(dir, suite, size, &root).unwrap_or_else(|e| panic!("checkpoint of size {size}: {e}"));
    assert_eq!(r.compact_range().root(), root);
    for i in [0, size / 2, size.saturating_sub(1), size.saturating_sub(300)] {
        if i >= size {
            continue;
        }
        let e = r.entry(i).unwrap_or_else(|e| panic!("entry {i} at size {size}: {e}"));
        assert_eq!(e, entry(i));
        let p = tree::inclusion_proof(&r, i, size).unwrap();
        verify::verify_inclusion(suite, i, size, &suite.leaf_hash(&e), &p, &root).unwrap();
    }
    if let Some((old, old_root)) = prev {
        let p = tree::consistency_proof(&r, old, size).unwrap();
        verify::verify_consistency(suite, old, size, &old_root, &root, &p).unwrap();
    }
    let (last, last_root) = (tl.len(), tl.root(tl.len()).unwrap());
    let p = tree::consistency_proof(tl, size, last).unwrap();
    verify::verify_consistency(suite, size, last, &root, &last_root, &p).unwrap();
}

#[test]
fn every_published_checkpoint_stays_verifiable() {
    // Checkpoints inside partial tiles of levels 0, 1 and 2, crossing the
    // 256, 65,536 and 131,072 boundaries, and a restart of the writer.
    let sizes: &[u64] = &[
        1, 2, 255, 256, 257, 300, 511, 700, 1000, 65_000, 65_280, 65_535, 65_536, 65_537, 65_600, 66_000, 70_000,
        100_000, 131_071, 131_072, 131_073, 131_100, 131_500, 140_000, 140_001, 140_255, 140_256, 140_300,
    ];
    let reopen_at = [65_535, 131_072];
    let suite = Suite::Rfc6962Sha256;
    let dir = tempfile::tempdir().unwrap();
    let mut tl = TileLog::create(dir.path(), suite, "example.com/log", signer()).unwrap();
    let mut ml = MemoryLog::new(suite);
    let mut notes = vec![tl.checkpoint().to_string()];
    for &size in sizes {
        let es: Vec<Vec<u8>> = (tl.len()..size).map(entry).collect();
        tl.extend(&es).unwrap();
        for e in &es {
            ml.append(e);
        }
        notes.push(tl.checkpoint().to_string());
        if reopen_at.contains(&size) {
            drop(tl);
            tl = TileLog::open(dir.path(), signer(), true).unwrap();
        }
    }
    let last = tl.len();
    let mut prev = None;
    for note in &notes {
        check_checkpoint(dir.path(), suite, note, prev, &tl, &ml);
        let (_, size, root) = read_only().read(note).unwrap();
        prev = Some((size, root));
    }

    // Which partial tiles are still on disk: every one a checkpoint refers
    // to while its full tile does not exist, and every one of the last two
    // checkpoints; none of the others (the writer deleted them).
    let on_disk = partial_files(dir.path());
    let mut referenced: BTreeMap<String, (String, bool, usize)> = BTreeMap::new();
    for (g, note) in notes.iter().enumerate() {
        let (_, size, _) = read_only().read(note).unwrap();
        for (p, full, is_full) in partials_of(size, last) {
            referenced.insert(p, (full, is_full, g));
        }
    }
    let recent = notes.len() - 2;
    let mut deleted = 0;
    for (p, (full, is_full, g)) in &referenced {
        let exists = dir.path().join(p).exists();
        if !*is_full || *g >= recent {
            assert!(exists, "{p} is still needed, yet deleted");
        } else {
            assert!(!exists, "{p} should have been deleted: {full} exists and no recent checkpoint needs it");
            assert!(dir.path().join(full).exists());
            deleted += 1;
        }
    }
    assert!(deleted > 30, "readers of old checkpoints went through full tiles ({deleted} partials deleted)");
    for f in &on_disk {
        assert!(referenced.contains_key(f), "{f} was never published");
    }
    // Bounded: the level-2 tile's two partials, the level-1 and level-0 edge
    // tiles' own, and the last checkpoints' grace.
    assert!(on_disk.len() <= 16, "{on_disk:?}");
    for level in ["0", "1", "entries"] {
        let dirs: Vec<_> = fs::read_dir(dir.path().join("tile").join(level))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".p"))
            .collect();
        assert!(dirs.len() <= 2, "tile/{level}: emptied .p folders are removed: {dirs:?}");
    }
}

#[test]
fn a_partial_deleted_as_the_spec_allows_is_read_from_the_full_tile() {
    let suite = Suite::Rfc6962Sha256;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (mut tl, _) = build(d, suite, &[300]);
    let note = tl.checkpoint().to_string();
    let (_, size, root) = read_only().read(&note).unwrap();
    tl.extend(&(300..65_540).map(entry).collect::<Vec<_>>()).unwrap();
    // The checkpoint of 300 is one of the last two: its partials are kept.
    let partials = ["tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"];
    for p in partials {
        assert!(d.join(p).exists(), "{p}");
    }
    let bytes = |p: &str| fs::read(d.join(p)).unwrap();
    let saved: Vec<Vec<u8>> = ["tile/0/001", "tile/1/000", "tile/entries/001"].iter().map(|p| bytes(p)).collect();
    for p in partials {
        fs::remove_file(d.join(p)).unwrap();
    }
    let r = open_at(d, suite, size, &root).unwrap();
    assert_eq!(r.entry(299).unwrap(), entry(299));
    assert_eq!(r.entry(256).unwrap(), entry(256));
    let p = tree::inclusion_proof(&r, 299, 300).unwrap();
    verify::verify_inclusion(suite, 299, 300, &suite.leaf_hash(&entry(299)), &p, &root).unwrap();
    let p = tree::consistency_proof(&tl, 300, 65_540).unwrap();
    verify::verify_consistency(suite, 300, 65_540, &root, &tl.root(65_540).unwrap(), &p).unwrap();

    let storage_err = |want: &str| match open_at(d, suite, size, &root) {
        Err(Error::Storage(m)) => assert!(m.contains(want), "{m:?} should name {want}"),
        Err(e) => panic!("{e:?} is not a storage error"),
        Ok(_) => panic!("damage at {want} was served"),
    };
    let restore = || {
        for (p, b) in ["tile/0/001", "tile/1/000", "tile/entries/001"].iter().zip(&saved) {
            fs::write(d.join(p), b).unwrap();
        }
    };
    // A flipped byte in the part of a full tile that stands in for the partial.
    for (full, at) in [("tile/0/001", 40 * 32 + 5), ("tile/1/000", 7)] {
        let mut b = bytes(full);
        b[at] ^= 1;
        fs::write(d.join(full), &b).unwrap();
        storage_err(full);
        restore();
    }
    // A flipped byte beyond the first 44 hashes is not part of the tree of 300.
    let mut b = bytes("tile/0/001");
    b[100 * 32] ^= 1;
    fs::write(d.join("tile/0/001"), &b).unwrap();
    assert!(open_at(d, suite, size, &root).is_ok());
    restore();
    // Truncated and oversized full tiles, a damaged full bundle.
    fs::write(d.join("tile/0/001"), &saved[0][..8000]).unwrap();
    storage_err("tile/0/001");
    restore();
    fs::write(d.join("tile/1/000"), [&saved[1][..], b"x"].concat()).unwrap();
    storage_err("tile/1/000");
    restore();
    let mut b = bytes("tile/entries/001");
    b[20] ^= 1;
    fs::write(d.join("tile/entries/001"), &b).unwrap();
    storage_err("tile/entries/001");
    restore();
    fs::write(d.join("tile/entries/001"), &saved[2][..saved[2].len() - 1]).unwrap();
    storage_err("tile/entries/001");
    restore();
    // Neither the partial nor the full tile: the error names the partial.
    fs::remove_file(d.join("tile/1/000")).unwrap();
    storage_err("tile/1/000.p/1");
    restore();
    assert!(open_at(d, suite, size, &root).is_ok());
    // The wrong root is refused, naming the tiles read.
    let mut bad = root;
    bad[0] ^= 1;
    assert!(
        matches!(open_at(d, suite, size, &bad), Err(Error::Storage(m)) if m.contains("tile/0/001 (in place of tile/0/001.p/44)"))
    );
}

#[test]
fn a_missing_partial_whose_full_tile_does_not_exist_is_an_error_naming_it() {
    let suite = Suite::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (tl, _) = build(d, suite, &[300]);
    let (_, size, root) = read_only().read(tl.checkpoint()).unwrap();
    drop(tl);
    for p in ["tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/001.p/44"] {
        let saved = fs::read(d.join(p)).unwrap();
        fs::remove_file(d.join(p)).unwrap();
        assert!(matches!(open_at(d, suite, size, &root), Err(Error::Storage(m)) if m.contains(p)), "{p}");
        assert!(matches!(TileLog::open(d, read_only(), false), Err(Error::Storage(m)) if m.contains(p)), "{p}");
        // An oversized partial is no better.
        fs::write(d.join(p), [&saved[..], &[0u8; 32]].concat()).unwrap();
        assert!(matches!(open_at(d, suite, size, &root), Err(Error::Storage(m)) if m.contains(p)), "{p}");
        fs::write(d.join(p), &saved).unwrap();
        assert!(open_at(d, suite, size, &root).is_ok());
    }
    // A truncated partial is reported, naming it.
    let p = "tile/0/001.p/44";
    let saved = fs::read(d.join(p)).unwrap();
    fs::write(d.join(p), &saved[..40]).unwrap();
    assert!(matches!(open_at(d, suite, size, &root), Err(Error::Storage(m)) if m.contains(p)));
}

#[test]
fn the_writer_deletes_partials_once_full_also_after_a_restart() {
    let suite = Suite::Blake3;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exists = |p: &str| d.join(p).exists();
    let (mut tl, _) = build(d, suite, &[100, 50]);
    assert!(exists("tile/0/000.p/100") && exists("tile/0/000.p/150"));
    let more = |tl: &mut TileLog, n: u64| {
        let from = tl.len();
        tl.extend(&(from..from + n).map(entry).collect::<Vec<_>>()).unwrap();
    };
    more(&mut tl, 116); // 266: tile 0 is full
    assert!(!exists("tile/0/000.p/100"), "full tile, and no recent checkpoint needs it");
    assert!(!exists("tile/entries/000.p/100"));
    assert!(exists("tile/0/000.p/150"), "the checkpoint before the last one still needs it");
    // A restart while tile/0/000.p/150 is in its grace: the new process finds it.
    drop(tl);
    let mut tl = TileLog::open(d, signer(), true).unwrap();
    more(&mut tl, 1);
    assert!(exists("tile/0/000.p/150"), "grace counts from the checkpoint found at open");
    more(&mut tl, 1);
    assert!(!exists("tile/0/000.p/150") && !exists("tile/entries/000.p/150"));
    assert!(!exists("tile/0/000.p") && !exists("tile/entries/000.p"), "emptied folders go too");
    // Partials of a tile not full yet all stay, across restarts.
    for _ in 0..3 {
        more(&mut tl, 10);
        drop(tl);
        tl = TileLog::open(d, signer(), true).unwrap();
    }
    let n = tl.len(); // 298
    let p = |w: u64| format!("tile/0/001.p/{w}");
    for w in [10, 11, 12, 22, 32, 42] {
        assert!(exists(&p(w)), "{}", p(w));
    }
    // Read-only opens delete nothing; the writer's next checkpoints after the
    // tile fills delete them all, leftovers of earlier processes included.
    more(&mut tl, 512 - n + 5);
    drop(TileLog::open(d, read_only(), false).unwrap());
    more(&mut tl, 1);
    more(&mut tl, 1);
    let left: Vec<String> = partial_files(d);
    assert!(left.iter().all(|f| !f.starts_with("tile/0/001.p") && !f.starts_with("tile/entries/001.p")), "{left:?}");
    // The level-1 tile is not full: its partials of widths 1 and 2 stay.
    assert!(exists("tile/1/000.p/1") && exists("tile/1/000.p/2"));
}

/// The tile log writes through the storage seam: over the in-memory backend
/// it is the same log as over files — same roots, entries and proofs, every
/// checkpoint readable, partial tiles kept and deleted alike — and it
/// reopens from the store alone.
#[test]
fn a_tile_log_over_the_memory_backend_is_the_same_log() {
    use std::sync::Arc;
    use veritree_core::storage::memory::MemoryObjects;
    use veritree_core::storage::Objects;

    let suite = Suite::Rfc6962Sha256;
    let store = Arc::new(MemoryObjects::new());
    let dir = tempfile::tempdir().unwrap();
    let mut on_disk = TileLog::create(dir.path(), suite, "example.com/log", signer()).unwrap();
    let mut in_memory = TileLog::create_in(store.clone(), None, suite, "example.com/log", signer()).unwrap();
    let mut sizes = Vec::new();
    let mut next = 0;
    for b in [3u64, 300, 1, 65_536, 700] {
        let es: Vec<Vec<u8>> = (next..next + b).map(entry).collect();
        assert_eq!(in_memory.extend(&es).unwrap(), on_disk.extend(&es).unwrap());
        next += b;
        sizes.push((next, in_memory.root(next).unwrap()));
        assert_eq!(in_memory.root(next).unwrap(), on_disk.root(next).unwrap());
    }
    // The same partial tiles are kept: every published size stays readable.
    let names = |prefix: &str| store.list(prefix).unwrap();
    let files = |prefix: &str| {
        let mut v: Vec<String> = fs::read_dir(dir.path().join(prefix))
            .map(|d| d.flatten().map(|e| format!("{prefix}/{}", e.file_name().to_str().unwrap())).collect())
            .unwrap_or_default();
        v.retain(|n| !dir.path().join(n).is_dir());
        v.sort();
        v
    };
    for folder in ["tile/0/000.p", "tile/0/001.p", "tile/0/259.p", "tile/1/000.p", "tile/1/001.p", "tile/entries/259.p"]
    {
        assert_eq!(names(folder), files(folder), "{folder}");
    }
    drop(in_memory);
    let reopened = TileLog::open_in(store.clone(), None, read_only(), false).unwrap();
    assert_eq!(reopened.len(), next);
    for (size, root) in sizes {
        assert_eq!(reopened.root(size).unwrap(), root);
    }
    let p = tree::inclusion_proof(&reopened, 66_000, next).unwrap();
    assert_eq!(p, tree::inclusion_proof(&on_disk, 66_000, next).unwrap());
    assert!(!names("tile/0/259.p").is_empty(), "the checkpoint's partial tile is there");
    assert_eq!(reopened.entry(66_539).unwrap(), entry(66_539));
}

/// A key that cannot sign for the origin, or a malformed origin, is refused
/// before the log's folder is made: nothing is left behind.
#[test]
fn a_log_that_cannot_be_signed_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    // signer() signs for "example.com/log", not for this origin.
    assert!(TileLog::create(&dir, Suite::Rfc6962Sha256, "example.com/other", signer()).is_err());
    assert!(TileLog::create(&dir, Suite::Rfc6962Sha256, "bad origin", signer()).is_err());
    assert!(!dir.exists(), "the refused log made its folder");
    assert!(TileLog::create(&dir, Suite::Rfc6962Sha256, "example.com/log", signer()).is_ok());
}
