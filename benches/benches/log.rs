//! Criterion benchmarks of veritree-core in both suites.
//!
//! Each group is one operation; each function in it is one implementation
//! (`veritree-<suite>`, or with `--features peers` also `rs_merkle-sha256` and
//! `ct_merkle-sha256`, next to veritree's `rfc6962-sha256` so the ratio is
//! visible); the parameter is a leaf count or a batch size. Throughput is set
//! in elements (leaves, nodes or proofs), so criterion prints elements/s.
//!
//! Every size is a power of two: only there does rs_merkle's tree (which
//! promotes an odd node instead of hashing it) have the RFC 9162 shape, so
//! only there do all implementations hash the same number of nodes.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use veritree_benches::{random_batch, random_indices, Entries, SplitMix64};
use veritree_core::{tree, verify, CompactRange, Hash, MemoryLog, Suite};

/// Leaves of the log that the proof benches read.
const LOG_SIZE: u64 = 1 << 20;
/// Proofs per iteration of the single-proof benches (random indices).
const PROOFS: usize = 1024;
/// (old, new) size pairs per iteration of the consistency benches.
const CONSISTENCY_PAIRS: usize = 256;
/// Leaves in each proof of the batch benches.
const BATCHES: [usize; 2] = [64, 1024];

fn name(suite: Suite) -> String {
    format!("veritree-{}", suite.name())
}

/// A suite's 2^20-leaf log, built once and shared by the proof benches.
struct Fixture {
    leaves: Vec<Hash>,
    log: MemoryLog,
    root: Hash,
}

fn fixture(suite: Suite) -> &'static Fixture {
    static FIXTURES: [OnceLock<Fixture>; Suite::ALL.len()] = [const { OnceLock::new() }; Suite::ALL.len()];
    let slot = Suite::ALL.iter().position(|&s| s == suite).expect("every suite is in ALL");
    FIXTURES[slot].get_or_init(|| {
        let leaves = Entries::new(LOG_SIZE as usize).leaf_hashes(suite);
        let mut log = MemoryLog::new(suite);
        log.extend_leaf_hashes(&leaves);
        let root = log.root(LOG_SIZE).expect("the log holds LOG_SIZE leaves");
        Fixture { leaves, log, root }
    })
}

/// The peers' trees over the same entries as veritree's SHA-256 fixture.
#[cfg(feature = "peers")]
mod peers {
    use std::sync::OnceLock;

    use veritree_benches::peers::{ct_build, rs_leaf_hashes, CtTree, RsTree};
    use veritree_benches::Entries;
    use veritree_core::Hash;

    use super::LOG_SIZE;

    pub struct Peers {
        pub entries: Entries,
        pub rs_leaves: Vec<Hash>,
        pub rs: RsTree,
        pub rs_root: Hash,
        pub ct: CtTree,
    }

    pub fn get() -> &'static Peers {
        static PEERS: OnceLock<Peers> = OnceLock::new();
        PEERS.get_or_init(|| {
            let entries = Entries::new(LOG_SIZE as usize);
            let rs_leaves = rs_leaf_hashes(&entries.items);
            let rs = RsTree::from_leaves(&rs_leaves);
            let rs_root = rs.root().expect("the tree is not empty");
            let ct = ct_build(&entries.items);
            Peers { entries, rs_leaves, rs, rs_root, ct }
        })
    }
}

/// The hashing limit: one cache-resident level through `Suite::hash_nodes`, on
/// one thread (as `veritree_core::hash_limit::node_hash_limit` measures per thread).
fn hash_nodes(c: &mut Criterion) {
    const NODES: usize = 1 << 11; // 128 KiB of children: stays in L2
    let mut g = c.benchmark_group("hash_nodes");
    g.throughput(Throughput::Elements(NODES as u64));
    for suite in Suite::ALL {
        let children = Entries::new(2 * NODES).leaf_hashes(suite);
        let mut out = vec![[0u8; 32]; NODES];
        g.bench_function(BenchmarkId::new(name(suite), NODES), |b| {
            b.iter(|| suite.hash_nodes(black_box(&children), &mut out))
        });
    }
    g.finish();
}

/// A log with its root from scratch: veritree's `MemoryLog::extend_leaf_hashes`
/// and rs_merkle's `from_leaves` take leaf hashes; ct-merkle takes entries and
/// hashes the leaves itself, so it is compared with veritree's `-entries` run,
/// which hashes them too. Each tree is returned so that freeing it is not timed.
fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    for log2 in [16, 20] {
        let n = 1usize << log2;
        let entries = Entries::new(n);
        g.throughput(Throughput::Elements(n as u64));
        for suite in Suite::ALL {
            let leaves = entries.leaf_hashes(suite);
            g.bench_function(BenchmarkId::new(name(suite), n), |b| {
                b.iter_with_large_drop(|| {
                    let mut log = MemoryLog::new(suite);
                    log.extend_leaf_hashes(&leaves);
                    black_box(log.root(n as u64)).expect("n leaves were appended");
                    log
                })
            });
        }
        let sha = Suite::Rfc6962Sha256;
        g.bench_function(BenchmarkId::new(format!("{}-entries", name(sha)), n), |b| {
            b.iter_with_large_drop(|| {
                let mut log = MemoryLog::new(sha);
                log.extend_leaf_hashes(&entries.leaf_hashes(sha));
                black_box(log.root(n as u64)).expect("n leaves were appended");
                log
            })
        });
        #[cfg(feature = "peers")]
        {
            use veritree_benches::peers::{ct_build, rs_leaf_hashes, RsTree};
            let rs_leaves = rs_leaf_hashes(&entries.items);
            g.bench_function(BenchmarkId::new("rs_merkle-sha256", n), |b| {
                b.iter_with_large_drop(|| {
                    let tree = RsTree::from_leaves(&rs_leaves);
                    black_box(tree.root()).expect("the tree is not empty");
                    tree
                })
            });
            g.bench_function(BenchmarkId::new("ct_merkle-sha256-entries", n), |b| {
                b.iter_with_large_drop(|| {
                    let tree = ct_build(&entries.items);
                    black_box(tree.root());
                    tree
                })
            });
        }
    }
    g.finish();
}

/// The root of 2^20 leaf hashes through a compact range, keeping no tree.
fn compact_range(c: &mut Criterion) {
    let n = 1usize << 20;
    let entries = Entries::new(n);
    let mut g = c.benchmark_group("compact_range_extend");
    g.throughput(Throughput::Elements(n as u64));
    for suite in Suite::ALL {
        let leaves = entries.leaf_hashes(suite);
        g.bench_function(BenchmarkId::new(name(suite), n), |b| {
            b.iter(|| {
                let mut cr = CompactRange::new(suite);
                cr.extend(&leaves).expect("2^20 leaves do not overflow");
                cr.root()
            })
        });
    }
    g.finish();
}

/// Single inclusion proofs of random leaves of the 2^20 log, generated and
/// verified one at a time on one thread (as the peers do).
fn inclusion(c: &mut Criterion) {
    let indices = random_indices(LOG_SIZE, PROOFS, 1);

    let mut g = c.benchmark_group("inclusion_proof");
    g.throughput(Throughput::Elements(PROOFS as u64));
    for suite in Suite::ALL {
        let f = fixture(suite);
        g.bench_function(BenchmarkId::new(name(suite), LOG_SIZE), |b| {
            b.iter(|| {
                for &i in &indices {
                    black_box(tree::inclusion_proof(&f.log, i, LOG_SIZE).expect("index below the size"));
                }
            })
        });
    }
    #[cfg(feature = "peers")]
    {
        let p = peers::get();
        g.bench_function(BenchmarkId::new("rs_merkle-sha256", LOG_SIZE), |b| {
            b.iter(|| {
                for &i in &indices {
                    black_box(p.rs.proof(&[i as usize]));
                }
            })
        });
        g.bench_function(BenchmarkId::new("ct_merkle-sha256", LOG_SIZE), |b| {
            b.iter(|| {
                for &i in &indices {
                    black_box(p.ct.prove_inclusion(i as usize));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify_inclusion");
    g.throughput(Throughput::Elements(PROOFS as u64));
    for suite in Suite::ALL {
        let f = fixture(suite);
        let proofs: Vec<Vec<Hash>> = indices
            .iter()
            .map(|&i| tree::inclusion_proof(&f.log, i, LOG_SIZE).expect("index below the size"))
            .collect();
        let run = || {
            indices.iter().zip(&proofs).all(|(&i, proof)| {
                verify::verify_inclusion(suite, i, LOG_SIZE, &f.leaves[i as usize], proof, &f.root).is_ok()
            })
        };
        assert!(run(), "a veritree inclusion proof failed to verify");
        g.bench_function(BenchmarkId::new(name(suite), LOG_SIZE), |b| b.iter(run));
    }
    #[cfg(feature = "peers")]
    {
        let p = peers::get();
        let rs_proofs: Vec<_> = indices.iter().map(|&i| p.rs.proof(&[i as usize])).collect();
        let run = || {
            indices.iter().zip(&rs_proofs).all(|(&i, proof)| {
                let i = i as usize;
                proof.verify(p.rs_root, &[i], &p.rs_leaves[i..=i], LOG_SIZE as usize)
            })
        };
        assert!(run(), "an rs_merkle inclusion proof failed to verify");
        g.bench_function(BenchmarkId::new("rs_merkle-sha256", LOG_SIZE), |b| b.iter(run));
        let ct_root = p.ct.root();
        let ct_proofs: Vec<_> = indices.iter().map(|&i| p.ct.prove_inclusion(i as usize)).collect();
        let run = || {
            indices.iter().zip(&ct_proofs).all(|(&i, proof)| {
                let i = i as usize;
                ct_root.verify_inclusion(&p.entries.items[i], i, proof).is_ok()
            })
        };
        assert!(run(), "a ct-merkle inclusion proof failed to verify");
        g.bench_function(BenchmarkId::new("ct_merkle-sha256", LOG_SIZE), |b| b.iter(run));
    }
    g.finish();
}

/// Consistency proofs between random pairs of sizes up to 2^20.
fn consistency(c: &mut Criterion) {
    let mut rng = SplitMix64::new(2);
    let pairs: Vec<(u64, u64)> = (0..CONSISTENCY_PAIRS)
        .map(|_| {
            let old = 1 + rng.below(LOG_SIZE);
            (old, old + rng.below(LOG_SIZE - old + 1))
        })
        .collect();

    let mut g = c.benchmark_group("consistency_proof");
    g.throughput(Throughput::Elements(CONSISTENCY_PAIRS as u64));
    for suite in Suite::ALL {
        let log = &fixture(suite).log;
        g.bench_function(BenchmarkId::new(name(suite), LOG_SIZE), |b| {
            b.iter(|| {
                for &(old, new) in &pairs {
                    black_box(tree::consistency_proof(log, old, new).expect("sizes within the log"));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("verify_consistency");
    g.throughput(Throughput::Elements(CONSISTENCY_PAIRS as u64));
    for suite in Suite::ALL {
        let log = &fixture(suite).log;
        // (old root, new root, proof) per pair.
        let cases: Vec<(Hash, Hash, Vec<Hash>)> = pairs
            .iter()
            .map(|&(old, new)| {
                let proof = tree::consistency_proof(log, old, new).expect("sizes within the log");
                (log.root(old).expect("old size"), log.root(new).expect("new size"), proof)
            })
            .collect();
        let run = || {
            pairs.iter().zip(&cases).all(|(&(old, new), (old_root, new_root, proof))| {
                verify::verify_consistency(suite, old, new, old_root, new_root, proof).is_ok()
            })
        };
        assert!(run(), "a consistency proof failed to verify");
        g.bench_function(BenchmarkId::new(name(suite), LOG_SIZE), |b| b.iter(run));
    }
    g.finish();
}

/// One proof for a batch of random leaves of the 2^20 log; throughput counts
/// leaves proven. rs_merkle's multiproofs are the peer equivalent.
fn batch(c: &mut Criterion) {
    let batches: Vec<Vec<u64>> = BATCHES.iter().map(|&k| random_batch(LOG_SIZE, k, 3)).collect();

    let mut g = c.benchmark_group("batch_inclusion_proof");
    for indices in &batches {
        g.throughput(Throughput::Elements(indices.len() as u64));
        for suite in Suite::ALL {
            let log = &fixture(suite).log;
            g.bench_function(BenchmarkId::new(name(suite), indices.len()), |b| {
                b.iter(|| tree::batch_inclusion_proof(log, indices, LOG_SIZE).expect("sorted indices below the size"))
            });
        }
        #[cfg(feature = "peers")]
        {
            let p = peers::get();
            let usize_indices: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
            g.bench_function(BenchmarkId::new("rs_merkle-sha256", indices.len()), |b| {
                b.iter(|| p.rs.proof(&usize_indices))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("verify_batch_inclusion");
    for indices in &batches {
        g.throughput(Throughput::Elements(indices.len() as u64));
        for suite in Suite::ALL {
            let f = fixture(suite);
            let proof = tree::batch_inclusion_proof(&f.log, indices, LOG_SIZE).expect("sorted indices below the size");
            let leaves: Vec<Hash> = indices.iter().map(|&i| f.leaves[i as usize]).collect();
            let run = || verify::verify_batch_inclusion(suite, indices, LOG_SIZE, &leaves, &proof, &f.root).is_ok();
            assert!(run(), "a veritree batch proof failed to verify");
            g.bench_function(BenchmarkId::new(name(suite), indices.len()), |b| b.iter(run));
        }
        #[cfg(feature = "peers")]
        {
            let p = peers::get();
            let usize_indices: Vec<usize> = indices.iter().map(|&i| i as usize).collect();
            let proof = p.rs.proof(&usize_indices);
            let leaves: Vec<Hash> = usize_indices.iter().map(|&i| p.rs_leaves[i]).collect();
            let run = || proof.verify(p.rs_root, &usize_indices, &leaves, LOG_SIZE as usize);
            assert!(run(), "an rs_merkle multiproof failed to verify");
            g.bench_function(BenchmarkId::new("rs_merkle-sha256", indices.len()), |b| b.iter(run));
        }
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
    targets = hash_nodes, build, compact_range, inclusion, consistency, batch
}
criterion_main!(benches);
