//! Why the on-disk map keeps its nodes in files of its own rather than in an
//! embedded store: the same tree's node records written durably both ways.
//!
//!     cargo run --release -p veritree-benches --features peers --bin map_store_report -- [KEYS] [DIR]
//!
//! veritree: `Map::open` + one `update` of KEYS random keys — sorting,
//! hashing, node writes and the durable commit. redb: only storing that
//! tree's node records (one 64-byte leaf per key, KEYS - 1 branches of 45
//! bytes, keyed by slot) in one durable write transaction, no hashing at
//! all. Then 100,000 random lookups each: `Map::get` (a root-to-leaf walk)
//! against one redb `get` of a leaf record.

use std::path::{Path, PathBuf};
use std::time::Instant;

use redb::{Database, TableDefinition};
use veritree_benches::SplitMix64;
use veritree_core::map::{Key, Map, MapSuite};

const LEAVES: TableDefinition<u32, &[u8; 64]> = TableDefinition::new("leaves");
const BRANCHES: TableDefinition<u32, &[u8; 45]> = TableDefinition::new("branches");
const LOOKUPS: usize = 100_000;

fn keys(n: usize, seed: u64) -> Vec<Key> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|_| {
            let mut k = [0u8; 32];
            for w in k.chunks_exact_mut(8) {
                w.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            k
        })
        .collect()
}

/// Bytes allocated to the files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().blocks() * 512).sum()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().expect("KEYS is a number"));
    let root = PathBuf::from(args.next().unwrap_or_else(|| "map-store-report".into()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let (ks, vs) = (keys(n, 1), keys(n, 2));
    let probes: Vec<usize> = {
        let mut rng = SplitMix64::new(3);
        (0..LOOKUPS).map(|_| (rng.next_u64() % n as u64) as usize).collect()
    };

    let ours_dir = root.join("veritree");
    let t = Instant::now();
    let mut map = Map::open(&ours_dir, Some(MapSuite::KeytransSha256), true).unwrap();
    map.update(&ks, &vs).unwrap();
    let ours_s = t.elapsed().as_secs_f64();
    let ours_bytes = disk_bytes(&ours_dir);
    let t = Instant::now();
    for &i in &probes {
        assert_eq!(map.get(&ks[i], None).unwrap(), Some(vs[i]));
    }
    let ours_get = LOOKUPS as f64 / t.elapsed().as_secs_f64();
    drop(map);

    let redb_path = root.join("nodes.redb");
    let t = Instant::now();
    let db = Database::create(&redb_path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut leaves = tx.open_table(LEAVES).unwrap();
        let mut leaf = [0u8; 64];
        for (i, (k, v)) in ks.iter().zip(&vs).enumerate() {
            leaf[..32].copy_from_slice(k);
            leaf[32..].copy_from_slice(v);
            leaves.insert(i as u32, &leaf).unwrap();
        }
        let mut branches = tx.open_table(BRANCHES).unwrap();
        let mut branch = [0u8; 45];
        for (i, k) in ks.iter().enumerate().take(n.saturating_sub(1)) {
            branch[..32].copy_from_slice(k); // stands in for the hash
            branch[32..36].copy_from_slice(&(i as u32).to_le_bytes());
            branches.insert(i as u32, &branch).unwrap();
        }
    }
    tx.commit().unwrap();
    let redb_s = t.elapsed().as_secs_f64();
    let redb_bytes = std::fs::metadata(&redb_path).unwrap().len();
    let t = Instant::now();
    let rx = db.begin_read().unwrap();
    let leaves = rx.open_table(LEAVES).unwrap();
    for &i in &probes {
        assert_eq!(leaves.get(i as u32).unwrap().unwrap().value()[..32], ks[i]);
    }
    let redb_get = LOOKUPS as f64 / t.elapsed().as_secs_f64();

    println!("{n} keys, durable:");
    println!(
        "  veritree map (sort + hash + write + commit): {ours_s:8.2} s  {:6.1} bytes/key  {:>10.0} lookups/s",
        ours_bytes as f64 / n as f64,
        ours_get
    );
    println!(
        "  redb, node records only (write + commit):   {redb_s:8.2} s  {:6.1} bytes/key  {:>10.0} lookups/s",
        redb_bytes as f64 / n as f64,
        redb_get
    );
    println!(
        "  redb / veritree: {:.1}x the time, {:.1}x the bytes",
        redb_s / ours_s,
        redb_bytes as f64 / ours_bytes as f64
    );
    let _ = std::fs::remove_dir_all(&root);
}
