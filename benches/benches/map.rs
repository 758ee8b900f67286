//! Criterion benchmarks of the sparse Merkle prefix tree (`veritree_core::map`)
//! in both map suites.
//!
//! Each group is one operation; each function in it is one suite
//! (`veritree-<suite>`); the parameter is the number of keys the operation
//! takes (keys built, keys in a batch, keys in one proof). Throughput is set in
//! elements (keys), so criterion prints keys/s. Keys and values are random
//! 32-byte strings from seeded generators, so every run measures the same work;
//! generating them is never timed.
//!
//! The peer comparison (jmt, monotree, sparse-merkle-tree) is the `map_report`
//! binary, not these benches.

use std::hint::black_box;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use veritree_benches::{random_batch, random_pairs};
use veritree_core::map::{verify_prefix_proof, Key, Map, MapSuite, Value, MAX_PROOF_KEYS};
use veritree_core::Hash;

/// Keys of the map that the batch, proof and verification benches use.
const MAP_KEYS: usize = 1_000_000;
/// Keys of each map the build bench makes from scratch.
const BUILD_KEYS: usize = 100_000;
/// New keys in each batch update of the shared map.
const BATCH_KEYS: usize = 1_000;
/// Single-key proofs per iteration of the 1-key benches (half of the keys present).
const SINGLE_PROOFS: usize = 256;
/// Keys in the multi-key proof: the most one `PrefixProof` answers.
const MULTI_KEYS: usize = MAX_PROOF_KEYS;

fn name(suite: MapSuite) -> String {
    format!("veritree-{}", suite.name())
}

/// `n` random keys and as many random values; the keys are distinct with
/// overwhelming probability (`Map::update` rejects a batch that is not).
fn random_entries(n: usize, seed: u64) -> (Vec<Key>, Vec<Value>) {
    random_pairs(n, seed).into_iter().unzip()
}

/// A suite's 10^6-key map, built once and shared by the batch, proof and
/// verification benches. The batch bench takes its keys out again after each
/// batch, so the map holds exactly `keys` (and has `root`) between benches.
struct Fixture {
    keys: Vec<Key>,
    values: Vec<Value>,
    root: Hash,
    map: Mutex<Map>,
}

fn fixture(suite: MapSuite) -> &'static Fixture {
    static FIXTURES: [OnceLock<Fixture>; MapSuite::ALL.len()] = [const { OnceLock::new() }; MapSuite::ALL.len()];
    let slot = MapSuite::ALL.iter().position(|&s| s == suite).expect("every suite is in ALL");
    FIXTURES[slot].get_or_init(|| {
        let (keys, values) = random_entries(MAP_KEYS, 0x6d61_7000 + slot as u64);
        let mut map = Map::new(suite);
        map.update(&keys, &values).expect("distinct random keys");
        let root = map.root(None).expect("the latest version is retained");
        Fixture { keys, values, root, map: Mutex::new(map) }
    })
}

/// The keys of one proof request and the value each holds in the fixture
/// (`None`: absent): present and absent keys alternate.
fn proof_request(f: &Fixture, n: usize, seed: u64) -> (Vec<Key>, Vec<Option<Value>>) {
    let present = random_batch(MAP_KEYS as u64, n.div_ceil(2), seed);
    let (absent, _) = random_entries(n / 2, seed ^ 0xab5e_0000);
    let mut keys = Vec::with_capacity(n);
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        if i % 2 == 0 {
            let at = present[i / 2] as usize;
            keys.push(f.keys[at]);
            values.push(Some(f.values[at]));
        } else {
            keys.push(absent[i / 2]);
            values.push(None);
        }
    }
    (keys, values)
}

/// One map from scratch: a fresh `Map` and one update of 10^5 random keys
/// (the bulk build path). Fresh keys each iteration; the map is dropped
/// outside the timing.
fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("map build");
    g.throughput(Throughput::Elements(BUILD_KEYS as u64));
    for suite in MapSuite::ALL {
        // The root depends on the key set alone, not on the order of the batch.
        let (keys, values) = random_entries(BUILD_KEYS, 1);
        let mut forward = Map::new(suite);
        forward.update(&keys, &values).expect("distinct random keys");
        let mut backward = Map::new(suite);
        let (rk, rv): (Vec<Key>, Vec<Value>) = keys.iter().rev().zip(values.iter().rev()).unzip();
        backward.update(&rk, &rv).expect("distinct random keys");
        assert_eq!(forward.root(None).unwrap(), backward.root(None).unwrap(), "the build depends on key order");
        assert_eq!(forward.len(None).unwrap(), BUILD_KEYS as u64);

        let mut seed = 2;
        g.bench_function(BenchmarkId::new(name(suite), BUILD_KEYS), |b| {
            b.iter_batched(
                || {
                    seed += 1;
                    random_entries(BUILD_KEYS, seed)
                },
                |(keys, values)| {
                    let mut map = Map::new(suite);
                    map.update(&keys, &values).expect("distinct random keys");
                    black_box(map.root(None).expect("the latest version is retained"));
                    map
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// A batch of 10^3 random new keys into the 10^6-key map. Only the update is
/// timed; after it the batch's keys are removed and the old versions pruned
/// (untimed), so every batch meets a map of exactly 10^6 keys and no growing
/// history of retained versions.
fn batch(c: &mut Criterion) {
    let mut g = c.benchmark_group("map batch");
    g.throughput(Throughput::Elements(BATCH_KEYS as u64));
    for suite in MapSuite::ALL {
        let f = fixture(suite);
        let mut map = f.map.lock().expect("no bench panicked holding the map");
        let mut seed = 1 << 32;
        g.bench_function(BenchmarkId::new(name(suite), BATCH_KEYS), |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    seed += 1;
                    let (keys, values) = random_entries(BATCH_KEYS, seed);
                    let start = Instant::now();
                    black_box(map.update(&keys, &values).expect("new distinct keys"));
                    timed += start.elapsed();
                    map.remove(&keys).expect("the batch's keys are present");
                    let latest = map.version();
                    map.prune(latest).expect("the latest version is retained");
                }
                timed
            })
        });
        assert_eq!(map.root(None).unwrap(), f.root, "the batches were not taken out again");
        assert_eq!(map.len(None).unwrap(), MAP_KEYS as u64);
    }
    g.finish();
}

/// Proofs on the 10^6-key map, half of the keys present and half absent:
/// 256 single-key proofs, or one proof of 255 keys. Throughput counts keys
/// proven. Then the verification of the same proofs against the root.
fn prove(c: &mut Criterion) {
    type Request = (Vec<Key>, Vec<Option<Value>>);
    // Per suite: the 1-key requests (one key of a mixed list each) and the 255-key request.
    let requests = |f: &Fixture| -> (Vec<Request>, Request) {
        let (keys, values) = proof_request(f, SINGLE_PROOFS, 10);
        let singles = keys.into_iter().zip(values).map(|(k, v)| (vec![k], vec![v])).collect();
        (singles, proof_request(f, MULTI_KEYS, 11))
    };

    let mut g = c.benchmark_group("map prove");
    for suite in MapSuite::ALL {
        let f = fixture(suite);
        let map = f.map.lock().expect("no bench panicked holding the map");
        let (singles, (keys, _)) = requests(f);
        g.throughput(Throughput::Elements(SINGLE_PROOFS as u64));
        g.bench_function(BenchmarkId::new(name(suite), 1), |b| {
            b.iter(|| {
                for (k, _) in &singles {
                    black_box(map.prove(k, None).expect("one key"));
                }
            })
        });
        g.throughput(Throughput::Elements(MULTI_KEYS as u64));
        g.bench_function(BenchmarkId::new(name(suite), MULTI_KEYS), |b| {
            b.iter(|| map.prove(&keys, None).expect("255 distinct keys"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("map verify");
    for suite in MapSuite::ALL {
        let f = fixture(suite);
        let map = f.map.lock().expect("no bench panicked holding the map");
        let (singles, (keys, values)) = requests(f);
        let proofs: Vec<Vec<u8>> = singles.iter().map(|(k, _)| map.prove(k, None).expect("one key")).collect();
        drop(map);
        let run =
            || singles.iter().zip(&proofs).all(|((k, v), p)| verify_prefix_proof(suite, &f.root, k, v, p).is_ok());
        assert!(run(), "a single-key proof failed to verify");
        assert!(
            singles.iter().zip(&proofs).any(|((k, _), p)| verify_prefix_proof(suite, &f.root, k, &[None], p).is_err()),
            "no single-key proof was of a present key"
        );
        g.throughput(Throughput::Elements(SINGLE_PROOFS as u64));
        g.bench_function(BenchmarkId::new(name(suite), 1), |b| b.iter(run));

        let map = f.map.lock().expect("no bench panicked holding the map");
        let proof = map.prove(&keys, None).expect("255 distinct keys");
        drop(map);
        let run = || verify_prefix_proof(suite, &f.root, &keys, &values, &proof).is_ok();
        assert!(run(), "the 255-key proof failed to verify");
        let mut wrong = values.clone();
        wrong[0] = None;
        assert!(verify_prefix_proof(suite, &f.root, &keys, &wrong, &proof).is_err(), "a wrong value verified");
        g.throughput(Throughput::Elements(MULTI_KEYS as u64));
        g.bench_function(BenchmarkId::new(name(suite), MULTI_KEYS), |b| b.iter(run));
    }
    g.finish();
}

/// Modest sampling, so that the whole run takes minutes on two cores.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = build, batch, prove
}
criterion_main!(benches);
