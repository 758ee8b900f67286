//! A prefix tree's node files damaged on disk (rot, a bad copy): an honest
//! map of 400 keys in three versions (a fresh build, then updates that make
//! twigs over twigs) has bytes of its `branches`, `cherries` (twigs) and
//! `leaves` files changed as the input says, is opened and walked (lookups,
//! proofs, `check`, an update). Never a panic or an endless walk; and if
//! `check` accepts a version, every lookup in it gives the honest value.
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::map::{Key, Map, Value};

#[derive(Arbitrary, Debug)]
struct Case {
    damage: Vec<(u8, u32, u8)>,
}

const NODE_FILES: [&str; 3] = ["branches", "cherries", "leaves"];

struct Pristine {
    files: Vec<(&'static str, Vec<u8>)>,
    journal: Vec<u8>,
    /// Each version's keys and values.
    versions: Vec<BTreeMap<Key, Value>>,
    scratch: PathBuf,
    _dir: tempfile::TempDir,
}

/// 32 pseudo-random bytes from `seed` (splitmix64).
fn bytes(seed: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut x = seed;
    for chunk in out.chunks_exact_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn key(i: u32, narrow: bool) -> Key {
    let mut k = bytes(u64::from(i));
    if narrow {
        // Long shared prefixes: chains and deep twigs.
        k[..3].fill(0);
    }
    k
}

fn pristine() -> &'static Pristine {
    static P: OnceLock<Pristine> = OnceLock::new();
    P.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("map");
        let mut model = BTreeMap::new();
        let mut versions = Vec::new();
        let mut map = Map::open(&path, Some(veritree_core::map::MapSuite::KeytransSha256), true).unwrap();
        for (round, range) in [(0u8, 0..300u32), (1, 300..360), (2, 360..400)] {
            let keys: Vec<Key> = range.clone().map(|i| key(i, i % 3 == 0)).chain((0..20).map(|i| key(i * 7, i % 3 == 0))).collect();
            let keys: Vec<Key> = keys.into_iter().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            let values: Vec<Value> = keys.iter().map(|k| bytes(u64::from(k[31]) << 8 | u64::from(round))).collect();
            map.update(&keys, &values).unwrap();
            model.extend(keys.into_iter().zip(values));
            versions.push(model.clone());
        }
        drop(map);
        let read = |n: &str| std::fs::read(path.join(n)).unwrap();
        let files = NODE_FILES.iter().map(|&n| (n, read(n))).collect();
        let journal = read("journal");
        let scratch = dir.path().join("scratch");
        Pristine { files, journal, versions, scratch, _dir: dir }
    })
}

fuzz_target!(|case: Case| {
    let p = pristine();
    let _ = std::fs::remove_dir_all(&p.scratch);
    // Owner-only, as a map's folder and files must be.
    std::fs::DirBuilder::new().mode(0o700).create(&p.scratch).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(p.scratch.join(name)).unwrap();
        f.write_all(bytes).unwrap();
    };
    let mut files = p.files.clone();
    for (which, at, xor) in case.damage.iter().take(8) {
        let n = files.len();
        let (_, bytes) = &mut files[*which as usize % n];
        // Damage where the records are, mostly.
        let used = bytes.iter().rposition(|&b| b != 0).unwrap_or(0) + 1;
        let at = *at as usize % used;
        bytes[at] ^= xor;
    }
    for (name, bytes) in &files {
        write(name, bytes);
    }
    write("journal", &p.journal);
    let mut map = match Map::open(&p.scratch, None, false) {
        Ok(map) => map,
        Err(e) if case.damage.is_empty() => panic!("the undamaged map does not open: {e}"),
        Err(_) => return,
    };
    for (v, model) in p.versions.iter().enumerate() {
        let version = Some(v as u64 + 1);
        let checked = map.check(version).is_ok();
        for (k, want) in model.iter().step_by(37) {
            let got = map.get(k, version);
            if checked {
                assert_eq!(got.unwrap(), Some(*want), "check accepted version {version:?}");
            }
            let _ = map.prove(&[*k, key(9999, false)], version);
        }
    }
    let _ = map.update(&[key(5000, true), key(5001, false)], &[[1; 32], [2; 32]]);
    let _ = map.check(None);
});
