//! The tlog-tiles log against the in-memory log, across reopen, damage and locks.

use std::fs;
use std::path::Path;

use veritree_core::checkpoint::NoteCheckpoints;
use veritree_core::tiles::{path, CheckpointFormat, TileLog};
use veritree_core::{note, tree, verify, Error, MemoryLog, NodeSource, Suite};

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
