//! Tiles and entry bundles of any size and content: an honest tlog-tiles log
//! of up to 1,000 entries whose objects are damaged as the input says (bits
//! flipped, cut, lengthened, removed) is opened and read whole; every read
//! gives the honest bytes or an error, never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::storage::memory::MemoryObjects;
use veritree_core::storage::Objects;
use veritree_core::tiles::{NoteCheckpoints, TileLog, TileReader};
use veritree_verify::{Hash, NodeSource, Signer, Suite};

#[derive(Arbitrary, Debug)]
struct Case {
    entries: u16,
    damage: Vec<(u8, Damage)>,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Flip(u16),
    Cut(u16),
    Extend(Vec<u8>),
    Remove,
}

/// Sizes around tile edges; each log's objects and root, made once.
const SIZES: [u64; 6] = [1, 255, 256, 257, 513, 1000];

fn entries(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

fn honest() -> &'static Vec<(Vec<(String, Vec<u8>)>, Hash)> {
    static LOGS: OnceLock<Vec<(Vec<(String, Vec<u8>)>, Hash)>> = OnceLock::new();
    LOGS.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let signer = Signer::parse(
                    "PRIVATE+KEY+example.com/log+35ef7f0c+Aapsv124G8j8wDYN1RQe1b0XzcwvxMy7eG6r5wuInQhi",
                )
                .expect("the fixed key");
                let mut log = TileLog::create(dir.path(), Suite::Rfc6962Sha256, "example.com/log",
                                              Box::new(NoteCheckpoints::signed_by(signer)))
                    .expect("a log");
                log.extend(&entries(n)).expect("entries");
                let root = log.root(n).expect("a root");
                let mut objects = Vec::new();
                let mut folders = vec![dir.path().join("tile")];
                while let Some(f) = folders.pop() {
                    for e in std::fs::read_dir(&f).expect("a folder").flatten() {
                        let path = e.path();
                        if path.is_dir() {
                            folders.push(path);
                        } else {
                            let name = path.strip_prefix(dir.path()).expect("inside").to_string_lossy().into_owned();
                            objects.push((name, std::fs::read(&path).expect("a tile")));
                        }
                    }
                }
                (objects, root)
            })
            .collect()
    })
}

fuzz_target!(|case: Case| {
    let which = case.entries as usize % SIZES.len();
    let n = SIZES[which];
    let (objects, root) = &honest()[which];
    let entries = entries(n);
    let store = Arc::new(MemoryObjects::new());
    store.put(objects.clone()).expect("a put");
    let names: Vec<String> = objects.iter().map(|(name, _)| name.clone()).collect();
    for (which, d) in case.damage.iter().take(3) {
        if names.is_empty() {
            break;
        }
        let name = &names[*which as usize % names.len()];
        let Ok(mut data) = store.get(name, 1 << 20) else { continue };
        match d {
            Damage::Flip(bit) if !data.is_empty() => {
                let b = *bit as usize % (data.len() * 8);
                data[b / 8] ^= 1 << (b % 8);
            }
            Damage::Cut(len) => data.truncate(*len as usize % (data.len() + 1)),
            Damage::Extend(more) => data.extend_from_slice(more),
            Damage::Remove => {
                store.delete(name).expect("a delete");
                continue;
            }
            _ => {}
        }
        store.put(vec![(name.clone(), data)]).expect("a put");
    }
    let Ok(reader) = TileReader::open(store.clone(), Suite::Rfc6962Sha256, n, root) else { return };
    // Entries across the log, and at its right edge (a partial tile and bundle).
    for i in (0..n).step_by((n as usize / 48).max(1)).chain(n.saturating_sub(3)..n) {
        if let Ok(e) = reader.entry(i) {
            assert_eq!(e, entries[i as usize], "a damaged bundle read as an entry");
        }
        if let Ok(h) = reader.node(0, i) {
            assert_eq!(h, Suite::Rfc6962Sha256.leaf_hash(&entries[i as usize]), "a damaged tile read as a leaf hash");
        }
    }
});
