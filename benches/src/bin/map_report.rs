//! One-shot comparison of veritree's sparse Merkle map with peer sparse Merkle
//! trees, all in memory, on the same random 32-byte keys and values:
//!
//!     cargo run --release -p veritree-benches --features peers --bin map_report -- [--json PATH] [--peer-budget S]
//!
//! Peers: penumbra-zone's `jmt` (SHA-256, its in-memory `MockTreeStore`),
//! nervos's `sparse-merkle-tree` (Blake2b, the only hasher it ships, with its
//! `DefaultStore`) and `monotree` (SHA-256, its `MemoryDB`). Each insertion is
//! one batch = one new version/root, in each crate's batch call.
//!
//! Cases: builds from scratch with 10^5 and 10^6 keys, then batches of 10^3
//! and 10^4 new keys into a 10^6-key tree. Every implementation runs in the
//! same process, alternating, on the same keys. The 10^5 build and the
//! batches are the best of three; the 10^6 build runs once. A peer runs the
//! 10^6 build only if its 10^5 build says it would finish within the budget
//! (default 120 s) and fit in memory; a peer without a 10^6-key tree takes the
//! batches into its 10^5-key tree instead, and veritree is then timed on a
//! 10^5-key tree too, so that every ratio compares the same base size.
//!
//! veritree runs on every core (its default) and, for a fair single-core
//! ratio, also in a one-thread rayon pool; the peers are single-threaded.
//! Builds are also reported against the node-hash limit of this machine
//! (`node_hash_limit`, measured in the same run), as node hashes per second:
//! the exact count of nodes in the prefix tree of the keys (leaves plus
//! parents, one-child chains included), and the estimate 2.44 x keys.

use std::hint::black_box;
use std::time::Instant;

use rayon::ThreadPool;
use serde_json::{json, Value};
use veritree_benches::random_pairs;
use veritree_core::hash_limit::node_hash_limit;
use veritree_core::map::{verify_prefix_proof, Key, Map, MapSuite};
use veritree_core::Suite;

const REPS: usize = 3;
const SMALL_BUILD: usize = 100_000;
const LARGE_BUILD: usize = 1_000_000;
const BATCHES: [usize; 2] = [1_000, 10_000];
/// Seconds per thread of each hashing-limit measurement.
const LIMIT_SECONDS: f64 = 0.5;
/// Expected prefix-tree nodes per random key: 1 leaf + 1/ln 2 parents.
const NODES_PER_KEY_ESTIMATE: f64 = 2.44;
/// A peer's 10^6 build is skipped when its extrapolated peak memory exceeds this.
const PEER_MEMORY_LIMIT: f64 = 14e9;

type Entry = (Key, [u8; 32]);

/// Nodes of the prefix tree over `keys`: one leaf per key plus one parent per
/// distinct prefix shared by two or more keys (the root and every branch and
/// one-child chain link above a split). For sorted keys with `lcp[i]` the
/// common-prefix length of neighbours i and i+1, the parents are
/// sum(max(0, lcp[i] - lcp[i-1])), taking lcp[-1] = -1.
fn prefix_tree_nodes(entries: &[Entry]) -> u64 {
    let mut keys: Vec<&Key> = entries.iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    let lcp = |a: &Key, b: &Key| -> i64 {
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if x != y {
                return (8 * i) as i64 + (x ^ y).leading_zeros() as i64;
            }
        }
        256
    };
    let mut prev = -1i64;
    let mut parents = 0u64;
    for w in keys.windows(2) {
        let c = lcp(w[0], w[1]);
        assert!(c < 256, "duplicate key among the random keys");
        parents += (c - prev).max(0) as u64;
        prev = c;
    }
    keys.len() as u64 + parents
}

/// Bytes of resident memory, and the peak since the last [`reset_peak`]
/// (Linux; zero elsewhere).
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb * 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One tree under test: each `insert` is one batch and makes one new version.
trait Tree {
    fn insert(&mut self, entries: &[Entry]);
    /// Panics unless `entries` are in the tree with their values.
    fn check(&mut self, entries: &[Entry]);
}

struct Ours {
    map: Map,
    /// Runs the updates in this pool (a one-thread pool for the 1t column).
    pool: Option<&'static ThreadPool>,
}

impl Tree for Ours {
    fn insert(&mut self, entries: &[Entry]) {
        let map = &mut self.map;
        // Our API takes keys and values apart; the split is timed with us.
        let (keys, values): (Vec<Key>, Vec<Key>) = entries.iter().copied().unzip();
        match self.pool {
            Some(p) => p.install(|| map.update(&keys, &values)),
            None => map.update(&keys, &values),
        }
        .expect("distinct 32-byte keys");
    }

    fn check(&mut self, entries: &[Entry]) {
        let root = self.map.root(None).expect("the latest version");
        for chunk in entries.chunks(255) {
            let keys: Vec<Key> = chunk.iter().map(|e| e.0).collect();
            let values: Vec<_> = chunk.iter().map(|e| Some(e.1)).collect();
            let proof = self.map.prove(&keys, None).expect("1..=255 keys");
            verify_prefix_proof(self.map.suite(), &root, &keys, &values, &proof).expect("a proof of our own keys");
        }
        // And one absent key, proved absent.
        let absent = random_pairs(1, 0xab5e47)[0].0;
        let proof = self.map.prove(&[absent], None).expect("one key");
        verify_prefix_proof(self.map.suite(), &root, &[absent], &[None], &proof).expect("a non-inclusion proof");
    }
}

/// penumbra-zone's Jellyfish Merkle tree (SHA-256) over its in-memory mock
/// store: `put_value_set` computes a version's nodes, and the node batch is
/// then written to the store, as the crate's own tests do.
struct Jmt {
    store: jmt::mock::MockTreeStore,
    next_version: u64,
}

impl Tree for Jmt {
    fn insert(&mut self, entries: &[Entry]) {
        let tree = jmt::Sha256Jmt::new(&self.store);
        let values = entries.iter().map(|(k, v)| (jmt::KeyHash(*k), Some(v.to_vec())));
        let (_root, batch) = tree.put_value_set(values, self.next_version).expect("jmt put_value_set");
        self.store.write_tree_update_batch(batch).expect("jmt write batch");
        self.next_version += 1;
    }

    fn check(&mut self, entries: &[Entry]) {
        let tree = jmt::Sha256Jmt::new(&self.store);
        for (k, v) in entries {
            let got = tree.get(jmt::KeyHash(*k), self.next_version - 1).expect("jmt get");
            assert_eq!(got.as_deref(), Some(&v[..]), "jmt lost a key");
        }
    }
}

/// nervos's sparse Merkle tree with its Blake2b hasher and `DefaultStore`
/// (default features: the plain 256-level tree, not the `trie` variant).
type SmtTree = sparse_merkle_tree::SparseMerkleTree<
    sparse_merkle_tree::blake2b::Blake2bHasher,
    sparse_merkle_tree::H256,
    sparse_merkle_tree::default_store::DefaultStore<sparse_merkle_tree::H256>,
>;

struct Smt(SmtTree);

impl Tree for Smt {
    fn insert(&mut self, entries: &[Entry]) {
        let leaves = entries.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        self.0.update_all(leaves).expect("smt update_all");
    }

    fn check(&mut self, entries: &[Entry]) {
        for (k, v) in entries {
            let got: [u8; 32] = self.0.get(&(*k).into()).expect("smt get").into();
            assert_eq!(&got, v, "sparse-merkle-tree lost a key");
        }
    }
}

/// monotree with SHA-256 and its HashMap database; `inserts` is its batch call.
struct Mono {
    tree: monotree::Monotree<monotree::database::MemoryDB, monotree::hasher::Sha2>,
    root: Option<monotree::Hash>,
}

impl Tree for Mono {
    fn insert(&mut self, entries: &[Entry]) {
        let (keys, leaves): (Vec<_>, Vec<_>) = entries.iter().copied().unzip();
        self.root = self.tree.inserts(self.root.as_ref(), &keys, &leaves).expect("monotree inserts");
    }

    fn check(&mut self, entries: &[Entry]) {
        for (k, v) in entries {
            let got = self.tree.get(self.root.as_ref(), k).expect("monotree get");
            assert_eq!(got.as_ref(), Some(v), "monotree lost a key");
        }
    }
}

/// An implementation: a name for the table and a constructor of empty trees.
struct Imp {
    name: &'static str,
    hash: &'static str,
    peer: bool,
    /// The node-hash limit its builds are compared with (veritree only).
    limit: Option<f64>,
    new: Box<dyn Fn() -> Box<dyn Tree>>,
}

/// One case: seconds per implementation (None where it did not run).
struct Case {
    name: String,
    keys: usize,
    base: usize,
    reps: usize,
    seconds: Vec<Option<f64>>,
    /// For builds: exact prefix-tree node count.
    nodes: Option<u64>,
}

/// Times `f` once; whatever it returns is dropped untimed.
fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = black_box(f());
    (start.elapsed().as_secs_f64(), out)
}

fn min_opt(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.min(b)))
}

fn rate(keys: usize, s: Option<f64>) -> Option<f64> {
    s.map(|s| keys as f64 / s)
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn main() {
    let mut json_path = None;
    let mut budget = 120.0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json_path = Some(args.next().expect("--json takes a path")),
            "--peer-budget" => {
                budget = args.next().and_then(|s| s.parse().ok()).expect("--peer-budget takes seconds");
            }
            other => panic!("unknown argument {other:?} (use --json PATH, --peer-budget SECONDS)"),
        }
    }

    let threads = rayon::current_num_threads();
    let one: &'static ThreadPool =
        Box::leak(Box::new(rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool")));

    // The hashing limits: SHA-256 of 65-byte inputs (RFC 6962's node hash has
    // KEYTRANS's shape: a prefix byte and two hashes) and keyed BLAKE3 of
    // 64-byte inputs, as the map's two suites hash. Best of three.
    let best_limit =
        |s: Suite| (0..REPS).map(|_| node_hash_limit(s, LIMIT_SECONDS).expect("valid")).fold(0.0, f64::max);
    let limit_sha = best_limit(Suite::Rfc6962Sha256);
    let limit_b3 = best_limit(Suite::Blake3);
    let limit_sha_1t = one.install(|| best_limit(Suite::Rfc6962Sha256));

    let ours = |suite: MapSuite, pool: Option<&'static ThreadPool>| -> Box<dyn Fn() -> Box<dyn Tree>> {
        Box::new(move || Box::new(Ours { map: Map::new(suite), pool }) as Box<dyn Tree>)
    };
    let imps = [
        Imp {
            name: "veritree",
            hash: "keytrans-sha256",
            peer: false,
            limit: Some(limit_sha),
            new: ours(MapSuite::KeytransSha256, None),
        },
        Imp { name: "veritree", hash: "blake3", peer: false, limit: Some(limit_b3), new: ours(MapSuite::Blake3, None) },
        Imp {
            name: "veritree 1t",
            hash: "keytrans-sha256",
            peer: false,
            limit: Some(limit_sha_1t),
            new: ours(MapSuite::KeytransSha256, Some(one)),
        },
        Imp {
            name: "jmt",
            hash: "sha256",
            peer: true,
            limit: None,
            new: Box::new(|| Box::new(Jmt { store: jmt::mock::MockTreeStore::default(), next_version: 0 })),
        },
        Imp {
            name: "sparse-merkle-tree",
            hash: "blake2b",
            peer: true,
            limit: None,
            new: Box::new(|| Box::new(Smt(SmtTree::default()))),
        },
        Imp {
            name: "monotree",
            hash: "sha256",
            peer: true,
            limit: None,
            new: Box::new(|| {
                Box::new(Mono { tree: monotree::Monotree::new("unused: in memory"), root: None }) as Box<dyn Tree>
            }),
        },
    ];
    let n_imps = imps.len();
    let mut cases: Vec<Case> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // Build 10^5, best of three, alternating; the last tree of each is kept
    // as a base for the batches.
    let small = random_pairs(SMALL_BUILD, 1);
    let sample: Vec<Entry> = small.iter().step_by(SMALL_BUILD / 1000).copied().collect();
    let mut small_trees: Vec<Option<Box<dyn Tree>>> = (0..n_imps).map(|_| None).collect();
    let mut small_mem = vec![0.0f64; n_imps];
    let mut best = vec![None; n_imps];
    for rep in 0..REPS {
        for (i, imp) in imps.iter().enumerate() {
            small_trees[i] = None; // freed untimed
            let (before, _) = rss();
            reset_peak();
            let mut t = (imp.new)();
            let (s, ()) = time(|| t.insert(&small));
            small_mem[i] = small_mem[i].max(rss().1 - before);
            best[i] = min_opt(best[i], s);
            if rep == 0 {
                t.check(&sample);
            }
            eprintln!("build {SMALL_BUILD}: {} {} rep {rep}: {s:.3} s", imp.name, imp.hash);
            small_trees[i] = Some(t);
        }
    }
    cases.push(Case {
        name: format!("build {SMALL_BUILD}"),
        keys: SMALL_BUILD,
        base: 0,
        reps: REPS,
        seconds: best.clone(),
        nodes: Some(prefix_tree_nodes(&small)),
    });

    // Build 10^6 once each; a peer only where its 10^5 build predicts it fits
    // (n log n growth: x10 keys, x1.2 for the deeper tree).
    let large = random_pairs(LARGE_BUILD, 2);
    let sample: Vec<Entry> = large.iter().step_by(LARGE_BUILD / 1000).copied().collect();
    let mut large_trees: Vec<Option<Box<dyn Tree>>> = (0..n_imps).map(|_| None).collect();
    let mut large_s = vec![None; n_imps];
    let scale = (LARGE_BUILD / SMALL_BUILD) as f64 * 1.2;
    for (i, imp) in imps.iter().enumerate() {
        let (est_s, est_mem) = (best[i].unwrap_or(0.0) * scale, small_mem[i] * scale);
        if imp.peer && (est_s > budget || est_mem > PEER_MEMORY_LIMIT) {
            let note = format!(
                "{}: no {LARGE_BUILD}-key build (its {SMALL_BUILD}-key build predicts ~{est_s:.0} s and ~{:.1} GB; \
                 budget {budget:.0} s, {:.0} GB); its batches go into its {SMALL_BUILD}-key tree",
                imp.name,
                est_mem / 1e9,
                PEER_MEMORY_LIMIT / 1e9
            );
            eprintln!("{note}");
            notes.push(note);
            continue;
        }
        let mut t = (imp.new)();
        let (s, ()) = time(|| t.insert(&large));
        t.check(&sample);
        eprintln!("build {LARGE_BUILD}: {} {}: {s:.3} s", imp.name, imp.hash);
        large_s[i] = Some(s);
        large_trees[i] = Some(t);
    }
    cases.push(Case {
        name: format!("build {LARGE_BUILD}"),
        keys: LARGE_BUILD,
        base: 0,
        reps: 1,
        seconds: large_s.clone(),
        nodes: Some(prefix_tree_nodes(&large)),
    });
    drop(large);
    drop(small);

    // Batches of new keys: into each implementation's 10^6-key tree, or into
    // its 10^5-key tree where it has none (veritree into both then).
    let need_small_base = imps.iter().enumerate().any(|(i, imp)| imp.peer && large_trees[i].is_none());
    for (bi, &batch) in BATCHES.iter().enumerate() {
        let mut bases = vec![LARGE_BUILD];
        if need_small_base {
            bases.push(SMALL_BUILD);
        }
        for base in bases {
            let mut best = vec![None; n_imps];
            for rep in 0..REPS {
                let entries = random_pairs(batch, 1000 + (bi * REPS + rep) as u64 + base as u64);
                for (i, imp) in imps.iter().enumerate() {
                    let tree = if base == LARGE_BUILD {
                        large_trees[i].as_mut()
                    } else if imp.peer && large_trees[i].is_some() {
                        None // this peer's batches were timed on the 10^6-key tree
                    } else {
                        small_trees[i].as_mut()
                    };
                    let Some(tree) = tree else { continue };
                    let (s, ()) = time(|| tree.insert(&entries));
                    if rep == 0 {
                        tree.check(&entries[..entries.len().min(300)]);
                    }
                    best[i] = min_opt(best[i], s);
                }
            }
            cases.push(Case {
                name: format!("batch {batch} into {base}"),
                keys: batch,
                base,
                reps: REPS,
                seconds: best,
                nodes: None,
            });
        }
    }

    // Report.
    let ours_sha = 0; // index of veritree keytrans-sha256 (all cores)
    let ours_b3 = 1;
    let ours_1t = 2;
    println!("veritree map vs peer sparse Merkle trees: random 32-byte keys and values, in memory");
    println!(
        "veritree on {threads} threads (and 1t: one thread); peers single-threaded; \
         {SMALL_BUILD}-key builds and batches best of {REPS}, {LARGE_BUILD}-key builds once\n"
    );
    println!(
        "{:<26} {:<20} {:<16} {:>10} {:>13} {:>10} {:>10} {:>10}",
        "case", "implementation", "hash", "seconds", "keys/s", "sha/peer", "b3/peer", "1t/peer"
    );
    let mut json_cases = Vec::new();
    for c in &cases {
        let mut rows = Vec::new();
        for (i, imp) in imps.iter().enumerate() {
            let Some(s) = c.seconds[i] else { continue };
            let r = c.keys as f64 / s;
            let ratio = |o: usize| -> Option<f64> { rate(c.keys, c.seconds[o]).map(|x| x / r) };
            let fmt = |x: Option<f64>| x.filter(|_| imp.peer).map_or("".into(), |x| format!("{x:.1}x"));
            println!(
                "{:<26} {:<20} {:<16} {:>10.4} {:>13} {:>10} {:>10} {:>10}",
                c.name,
                imp.name,
                imp.hash,
                s,
                human(r),
                fmt(ratio(ours_sha)),
                fmt(ratio(ours_b3)),
                fmt(ratio(ours_1t))
            );
            let mut row = json!({
                "implementation": imp.name,
                "hash": imp.hash,
                "peer": imp.peer,
                "seconds": s,
                "keys_per_s": r,
            });
            if imp.peer {
                row["speedup"] = json!({
                    "veritree_keytrans_sha256": ratio(ours_sha),
                    "veritree_blake3": ratio(ours_b3),
                    "veritree_keytrans_sha256_1t": ratio(ours_1t),
                });
            }
            if let (Some(nodes), Some(limit)) = (c.nodes, imp.limit) {
                row["node_hashes_per_s"] = json!(nodes as f64 / s);
                row["limit_node_hashes_per_s"] = json!(limit);
                row["fraction_of_limit"] = json!(nodes as f64 / s / limit);
                row["fraction_of_limit_estimate_2_44"] = json!(NODES_PER_KEY_ESTIMATE * r / limit);
            }
            rows.push(row);
        }
        json_cases.push(json!({
            "case": c.name, "keys": c.keys, "base_keys": c.base, "reps": c.reps,
            "prefix_tree_nodes": c.nodes, "rows": rows,
        }));
    }

    println!(
        "\nhashing limit (node hashes/s, measured now): keytrans-sha256 {} on {threads} threads, {} on 1; \
         blake3 {} on {threads}",
        human(limit_sha),
        human(limit_sha_1t),
        human(limit_b3)
    );
    println!(
        "fraction = exact prefix-tree nodes hashed per second / limit; \
         est. 2.44x = the estimate 2.44 x keys/s / limit"
    );
    println!(
        "{:<14} {:>10} {:<28} {:>10} {:>10} {:>10} {:>9} {:>10}",
        "build", "nodes/key", "veritree", "keys/s", "nodes/s", "limit", "fraction", "est. 2.44x"
    );
    for c in cases.iter().filter(|c| c.nodes.is_some()) {
        let nodes = c.nodes.unwrap_or(0);
        for (i, imp) in imps.iter().enumerate() {
            let (Some(s), Some(limit)) = (c.seconds[i], imp.limit) else {
                continue;
            };
            let r = c.keys as f64 / s;
            println!(
                "{:<14} {:>10.3} {:<28} {:>10} {:>10} {:>10} {:>8.0}% {:>9.0}%",
                c.name,
                nodes as f64 / c.keys as f64,
                format!("{} {}", imp.name, imp.hash),
                human(r),
                human(nodes as f64 / s),
                human(limit),
                100.0 * nodes as f64 / s / limit,
                100.0 * NODES_PER_KEY_ESTIMATE * r / limit
            );
        }
    }
    println!("\nmemory, peak RSS growth of a {SMALL_BUILD}-key build (approximate):");
    for (imp, m) in imps.iter().zip(&small_mem) {
        println!("  {:<20} {:<16} {:>8.0} bytes/key", imp.name, imp.hash, m / SMALL_BUILD as f64);
    }
    for n in &notes {
        println!("note: {n}");
    }

    if let Some(path) = json_path {
        let report = json!({
            "threads": threads,
            "reps": REPS,
            "peer_budget_s": budget,
            "hash_limit_node_hashes_per_s": {
                "keytrans_sha256": limit_sha, "keytrans_sha256_1t": limit_sha_1t, "blake3": limit_b3,
            },
            "memory_bytes_per_key_small_build": imps.iter().zip(&small_mem)
                .map(|(imp, m)| json!({"implementation": imp.name, "hash": imp.hash, "bytes_per_key": m / SMALL_BUILD as f64}))
                .collect::<Vec<Value>>(),
            "cases": json_cases,
            "notes": notes,
        });
        let text = serde_json::to_string_pretty(&report).expect("plain numbers and strings serialise");
        std::fs::write(&path, text + "\n").unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        println!("wrote {path}");
    }
}
