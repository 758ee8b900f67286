//! An on-disk map's journal (`journal`: a header, then checksummed records
//! of updates and prunes) replayed from damaged bytes, beside honest node
//! files. The honest map has five versions, a prune, and updates after it
//! that reuse freed slots. The journal is damaged in its file (bits flipped,
//! cut, bytes added: what rot and torn writes do, which the checksums and
//! the torn-tail rule meet), or in its records' fields, which are then
//! framed again with a valid checksum (a version number, root, count, node
//! file length, reused count or stale node changed; records dropped,
//! repeated, swapped or added: what only a bug or someone at the disk
//! does). The map opens or refuses; opened, it is looked up, proved,
//! checked, updated and pruned without a panic or an endless walk, and:
//! - a version whose `check` passes and whose root is its honest root reads
//!   as it was;
//! - after damage to the file only, the versions are the honest history's
//!   up to some point, with their honest roots, and an update makes a
//!   version that checks. (A length rotted in any record reads as a torn
//!   tail: the records from there on are cut, kept aside in `journal.cut-N`,
//!   and versions the lost prune had dropped come back, failing `check`
//!   where their slots were reused.)
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::map::{Key, Map, MapSuite, Value};
use veritree_verify::Hash;

const NODE_FILES: [&str; 3] = ["branches", "cherries", "leaves"];
/// The journal's header: magic, suite, padding.
const HEADER: usize = 32;
/// A record's checksum: the first bytes of its payload's BLAKE3 hash.
const SUM: usize = 16;

struct Pristine {
    files: Vec<(&'static str, Vec<u8>)>,
    header: Vec<u8>,
    records: Vec<Vec<u8>>,
    /// Each version's contents and root (version 0: the empty map).
    versions: Vec<(BTreeMap<Key, Value>, Hash)>,
    /// The oldest version the honest map retains.
    oldest: u64,
    /// Keys looked up: a sample of every version's, and absent ones.
    sample: Vec<Key>,
    scratch: PathBuf,
    _dir: tempfile::TempDir,
}

fn key(i: u64) -> Key {
    let mut k = [0u8; 32];
    for (w, chunk) in k.chunks_exact_mut(8).enumerate() {
        let mut z = i.wrapping_mul(4).wrapping_add(w as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    k
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out.extend_from_slice(&blake3::hash(payload).as_bytes()[..SUM]);
    out
}

/// The payloads of a journal's whole records after its header.
fn unframe(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as usize;
        out.push(b[4..4 + len].to_vec());
        b = &b[4 + len + SUM..];
    }
    assert!(b.is_empty(), "an honest journal holds whole records");
    out
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        // In memory where there is a tmpfs: an update's fsyncs then cost
        // nothing. Checks run on this thread: parallel ones only switch threads.
        let dir = tempfile::tempdir_in("/dev/shm").or_else(|_| tempfile::tempdir()).unwrap();
        std::env::set_var("RAYON_NUM_THREADS", "1");
        let path = dir.path().join("map");
        let mut map = Map::open(&path, Some(MapSuite::KeytransSha256), true).unwrap();
        let mut model = BTreeMap::new();
        let mut versions = vec![(model.clone(), map.root(None).unwrap())];
        let update = |map: &mut Map, model: &mut BTreeMap<Key, Value>, keys: std::ops::Range<u64>, round: u8| {
            let keys: Vec<Key> = keys.map(key).collect();
            let values: Vec<Value> = keys.iter().map(|k| [k[0] ^ round; 32]).collect();
            map.update(&keys, &values).unwrap();
            model.extend(keys.into_iter().zip(values));
        };
        update(&mut map, &mut model, 0..48, 1);
        versions.push((model.clone(), map.root(None).unwrap()));
        update(&mut map, &mut model, 42..54, 2);
        versions.push((model.clone(), map.root(None).unwrap()));
        let gone: Vec<Key> = (0..40).step_by(5).map(key).collect();
        map.remove(&gone).unwrap();
        for k in &gone {
            model.remove(k);
        }
        versions.push((model.clone(), map.root(None).unwrap()));
        // The next updates take the slots only versions 1 and 2 used.
        map.prune(3).unwrap();
        update(&mut map, &mut model, 50..60, 3);
        versions.push((model.clone(), map.root(None).unwrap()));
        update(&mut map, &mut model, 1..7, 4);
        versions.push((model.clone(), map.root(None).unwrap()));
        drop(map);
        let read = |n: &str| std::fs::read(path.join(n)).unwrap();
        let files = NODE_FILES.iter().map(|&n| (n, read(n))).collect();
        let journal = read("journal");
        let records = unframe(&journal[HEADER..]);
        assert_eq!(records.len(), 6, "five updates and a prune");
        let sample = (0..64).step_by(3).map(key).chain((1000..1004).map(key)).collect();
        let scratch = dir.path().join("scratch");
        Pristine { files, header: journal[..HEADER].to_vec(), records, versions, oldest: 3, sample, scratch, _dir: dir }
    })
}

#[derive(Arbitrary, Debug)]
struct Case {
    damage: Vec<Damage>,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    /// A field of a record changed, the record framed again.
    Field {
        record: u8,
        field: Field,
        to: Num,
    },
    FlipPayload {
        record: u8,
        at: u16,
        bit: u8,
    },
    Drop(u8),
    Repeat(u8),
    Swap(u8, u8),
    Add {
        at: u8,
        payload: Vec<u8>,
    },
    AddPrune {
        at: u8,
        before: u8,
    },
    /// In the journal file as written: framing and checksums included.
    FlipFile {
        at: u32,
        bit: u8,
    },
    CutFile(u32),
    Extend(Vec<u8>),
}

/// An update record's fields (a prune's `before` lies where `Version` does).
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Field {
    Version,
    Root,
    Keys,
    Len(u8),
    Reused(u8),
    StaleCount,
    Stale(u8),
}

impl Field {
    /// Offset and width in an update record's payload: tag, version, root
    /// (a node reference), hash, keys, 3 node file lengths, 3 reused counts,
    /// the stale list's length, then its node references.
    fn at(self) -> (usize, usize) {
        match self {
            Field::Version => (1, 8),
            Field::Root => (9, 4),
            Field::Keys => (45, 8),
            Field::Len(k) => (53 + 8 * usize::from(k % 3), 8),
            Field::Reused(k) => (77 + 8 * usize::from(k % 3), 8),
            Field::StaleCount => (101, 8),
            Field::Stale(i) => (109 + 4 * usize::from(i), 4),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    By(i8),
    Set(u64),
    /// `2^exp + by`: where sizes times record lengths overflow.
    Pow2 {
        exp: u8,
        by: i8,
    },
    /// A node reference: its kind (the top two bits) and slot.
    Node {
        kind: u8,
        slot: u16,
    },
}

impl Num {
    fn apply(self, old: u64) -> u64 {
        match self {
            Num::By(by) => old.wrapping_add_signed(i64::from(by)),
            Num::Set(n) => n,
            Num::Pow2 { exp, by } => (1u64 << (exp % 64)).wrapping_add_signed(i64::from(by)),
            Num::Node { kind, slot } => u64::from(kind % 4) << 30 | u64::from(slot),
        }
    }
}

fn pick<T>(v: &[T], i: u8) -> Option<usize> {
    (!v.is_empty()).then(|| usize::from(i) % v.len())
}

/// The journal the damage makes, and whether any of it was to the file only.
fn damaged(p: &Pristine, damage: &[Damage]) -> (Vec<u8>, bool) {
    let mut records = p.records.clone();
    let mut in_file = Vec::new();
    for d in damage.iter().take(4) {
        match *d {
            Damage::Field { record, field, to } => {
                if let Some(r) = pick(&records, record) {
                    let (at, width) = field.at();
                    let r = &mut records[r];
                    if at + width <= r.len() {
                        let mut old = [0u8; 8];
                        old[..width].copy_from_slice(&r[at..at + width]);
                        let new = to.apply(u64::from_le_bytes(old)).to_le_bytes();
                        r[at..at + width].copy_from_slice(&new[..width]);
                    }
                }
            }
            Damage::FlipPayload { record, at, bit } => {
                if let Some(r) = pick(&records, record) {
                    let r = &mut records[r];
                    if !r.is_empty() {
                        let at = usize::from(at) % r.len();
                        r[at] ^= 1 << (bit % 8);
                    }
                }
            }
            Damage::Drop(r) => {
                if let Some(r) = pick(&records, r) {
                    records.remove(r);
                }
            }
            Damage::Repeat(r) => {
                if let Some(r) = pick(&records, r) {
                    records.insert(r, records[r].clone());
                }
            }
            Damage::Swap(a, b) => {
                if let (Some(a), Some(b)) = (pick(&records, a), pick(&records, b)) {
                    records.swap(a, b);
                }
            }
            Damage::Add { at, ref payload } => records.insert(usize::from(at) % (records.len() + 1), payload.clone()),
            Damage::AddPrune { at, before } => {
                let mut prune = vec![2];
                prune.extend_from_slice(&u64::from(before % 8).to_le_bytes());
                records.insert(usize::from(at) % (records.len() + 1), prune);
            }
            Damage::FlipFile { .. } | Damage::CutFile(_) | Damage::Extend(_) => in_file.push(d),
        }
    }
    let only_file = in_file.len() == damage.len().min(4);
    let mut journal = p.header.clone();
    records.iter().for_each(|r| journal.extend(frame(r)));
    for d in in_file {
        match d {
            Damage::FlipFile { at, bit } => {
                if !journal.is_empty() {
                    let at = *at as usize % journal.len();
                    journal[at] ^= 1 << (bit % 8);
                }
            }
            Damage::CutFile(len) => journal.truncate(*len as usize % (journal.len() + 1)),
            Damage::Extend(more) => journal.extend_from_slice(more),
            _ => unreachable!("only damage to the file"),
        }
    }
    (journal, only_file)
}

fuzz_target!(|case: Case| {
    let p = pristine();
    let (journal, only_file) = damaged(p, &case.damage);
    let _ = std::fs::remove_dir_all(&p.scratch);
    // Owner-only, as a map's folder and files must be.
    std::fs::DirBuilder::new().mode(0o700).create(&p.scratch).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let mut f =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p.scratch.join(name)).unwrap();
        f.write_all(bytes).unwrap();
    };
    for (name, bytes) in &p.files {
        write(name, bytes);
    }
    write("journal", &journal);
    let mut map = match Map::open(&p.scratch, None, false) {
        Ok(map) => map,
        Err(e) if case.damage.is_empty() => panic!("the undamaged map does not open: {e}"),
        Err(_) => return,
    };
    let latest = map.version();
    if case.damage.is_empty() {
        assert_eq!((map.oldest_version(), latest), (p.oldest, p.versions.len() as u64 - 1), "the undamaged map");
    }
    if only_file {
        assert!(latest < p.versions.len() as u64, "versions the honest map never made");
    }
    for v in map.oldest_version()..=latest {
        let root = map.root(Some(v)).unwrap();
        let honest = p.versions.get(v as usize);
        if only_file {
            assert_eq!(Some(root), honest.map(|h| h.1), "version {v}'s root after damage to the file only");
        }
        let checked = map.check(Some(v)).is_ok();
        for k in &p.sample {
            let got = map.get(k, Some(v));
            if let Some((contents, _)) = honest.filter(|h| checked && h.1 == root) {
                assert_eq!(got.unwrap(), contents.get(k).copied(), "version {v} checked");
            }
        }
        let _ = map.prove(&p.sample[..3], Some(v));
    }
    let checked = map.check(None).is_ok();
    let updated = map.update(&[key(2000), key(3)], &[[7; 32], [8; 32]]);
    if only_file && checked {
        updated.expect("an update of a version that checks");
        map.check(None).expect("the version an update of a checked version makes");
    }
    let _ = map.prune(map.version());
    let _ = map.get(&key(2000), None);
});
