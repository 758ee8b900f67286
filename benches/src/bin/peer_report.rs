//! One-shot comparison of veritree with rs_merkle and ct-merkle, all SHA-256,
//! for the Python report:
//!
//!     cargo run --release -p veritree-benches --features peers --bin peer_report -- out.json
//!
//! Prints a table and, given a path, writes the same numbers as JSON there.
//! Every timing is the best of three. The peers run on one thread, so veritree
//! is timed twice: on every core (its default) and in a one-thread rayon pool.
//! N is a power of two: there rs_merkle's tree has the RFC 9162 shape, so all
//! three hash the same number of nodes (rs_merkle's root still differs: it
//! hashes nodes without the 0x01 prefix).

use std::hint::black_box;
use std::time::Instant;

use rayon::ThreadPool;
use serde_json::{json, Value};
use veritree_benches::peers::{ct_build, rs_leaf_hashes, RsTree};
use veritree_benches::{random_indices, Entries};
use veritree_core::hash_limit::node_hash_limit;
use veritree_core::{tree, verify, Hash, MemoryLog, Suite};

const LOG2_N: u32 = 20;
const N: usize = 1 << LOG2_N;
const PROOFS: usize = 10_000;
const REPS: usize = 3;
const SUITE: Suite = Suite::Rfc6962Sha256;
/// Seconds per thread of each hashing-limit measurement.
const LIMIT_SECONDS: f64 = 0.5;

/// Seconds of the fastest of [`REPS`] runs of `f`; its result (a whole tree,
/// say) is dropped untimed.
fn best_of<T>(mut f: impl FnMut() -> T) -> f64 {
    (0..REPS)
        .map(|_| {
            let start = Instant::now();
            let out = black_box(f());
            let t = start.elapsed().as_secs_f64();
            drop(out);
            t
        })
        .fold(f64::INFINITY, f64::min)
}

/// One operation's best times; `None` where a peer cannot do it.
struct Row {
    op: &'static str,
    items: usize,
    veritree: f64,
    veritree_1t: f64,
    rs_merkle: Option<f64>,
    ct_merkle: Option<f64>,
}

impl Row {
    /// Times veritree's `f` on every core and on one thread.
    fn veritree<T>(op: &'static str, items: usize, one: &ThreadPool, mut f: impl FnMut() -> T + Send) -> Row {
        let veritree = best_of(&mut f);
        let veritree_1t = one.install(|| best_of(&mut f));
        Row { op, items, veritree, veritree_1t, rs_merkle: None, ct_merkle: None }
    }

    /// How many times faster `base` is than `peer`.
    fn speedup(base: f64, peer: Option<f64>) -> Option<f64> {
        peer.map(|p| p / base)
    }

    fn json(&self) -> Value {
        json!({
            "op": self.op,
            "items": self.items,
            "seconds": {
                "veritree": self.veritree,
                "veritree_1t": self.veritree_1t,
                "rs_merkle": self.rs_merkle,
                "ct_merkle": self.ct_merkle,
            },
            "speedup": {
                "rs_merkle": Row::speedup(self.veritree, self.rs_merkle),
                "ct_merkle": Row::speedup(self.veritree, self.ct_merkle),
            },
            "speedup_1t": {
                "rs_merkle": Row::speedup(self.veritree_1t, self.rs_merkle),
                "ct_merkle": Row::speedup(self.veritree_1t, self.ct_merkle),
            },
        })
    }
}

fn ms(t: Option<f64>) -> String {
    t.map_or("-".into(), |t| format!("{:.2} ms", t * 1e3))
}

fn times(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.1}x"))
}

fn main() {
    let out_path = std::env::args().nth(1);
    let threads = rayon::current_num_threads();
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a one-thread pool");

    let entries = Entries::new(N);
    let leaves = entries.leaf_hashes(SUITE);
    let rs_leaves = rs_leaf_hashes(&entries.items);
    let indices: Vec<usize> = random_indices(N as u64, PROOFS, 1).into_iter().map(|i| i as usize).collect();

    // The trees the proof rows read, checked against each other first: ct-merkle
    // is RFC 6962, so its root must be veritree's.
    let mut log = MemoryLog::new(SUITE);
    log.extend_leaf_hashes(&leaves);
    let root = log.root(N as u64).expect("N leaves were appended");
    let rs = RsTree::from_leaves(&rs_leaves);
    let rs_root = rs.root().expect("the tree is not empty");
    let ct = ct_build(&entries.items);
    let ct_root = ct.root();
    assert_eq!(ct_root.as_bytes().as_slice(), root, "ct-merkle and veritree disagree on the RFC 6962 root");

    let mut rows = Vec::new();

    // Build and root from leaf hashes. ct-merkle only takes entries, so it has
    // no entry here. The trees are returned so that freeing them is not timed.
    let mut build = Row::veritree("build from leaf hashes", N, &one, || {
        let mut log = MemoryLog::new(SUITE);
        log.extend_leaf_hashes(&leaves);
        let root = log.root(N as u64);
        (log, root)
    });
    build.rs_merkle = Some(best_of(|| {
        let tree = RsTree::from_leaves(&rs_leaves);
        let root = tree.root();
        (tree, root)
    }));
    rows.push(build);

    // Build and root from entries: leaf hashing included, which every peer can do.
    let mut build_entries = Row::veritree("build from entries", N, &one, || {
        let mut log = MemoryLog::new(SUITE);
        log.extend_leaf_hashes(&entries.leaf_hashes(SUITE));
        let root = log.root(N as u64);
        (log, root)
    });
    build_entries.rs_merkle = Some(best_of(|| {
        let tree = RsTree::from_leaves(&rs_leaf_hashes(&entries.items));
        let root = tree.root();
        (tree, root)
    }));
    build_entries.ct_merkle = Some(best_of(|| {
        let tree = ct_build(&entries.items);
        let root = tree.root();
        (tree, root)
    }));
    rows.push(build_entries);

    // Inclusion proofs for the same random indices. veritree has no bulk proof
    // call, so both of its columns are the same single-threaded loop.
    let prove = || -> Vec<Vec<Hash>> {
        indices.iter().map(|&i| tree::inclusion_proof(&log, i as u64, N as u64).expect("index below N")).collect()
    };
    let mut proofs_row = Row::veritree("inclusion proofs", PROOFS, &one, prove);
    proofs_row.rs_merkle = Some(best_of(|| indices.iter().map(|&i| rs.proof(&[i])).collect::<Vec<_>>()));
    proofs_row.ct_merkle = Some(best_of(|| indices.iter().map(|&i| ct.prove_inclusion(i)).collect::<Vec<_>>()));
    rows.push(proofs_row);

    // Verification: veritree's bulk call (on every core unless in the one-thread
    // pool) against a loop over each peer's verifier.
    let proofs = prove();
    let flat: Vec<Hash> = proofs.concat();
    let offsets: Vec<u64> = std::iter::once(0)
        .chain(proofs.iter().scan(0u64, |end, p| {
            *end += p.len() as u64;
            Some(*end)
        }))
        .collect();
    let (u64_indices, proof_leaves): (Vec<u64>, Vec<Hash>) = indices.iter().map(|&i| (i as u64, leaves[i])).unzip();
    let verdicts = verify::verify_inclusions(SUITE, &u64_indices, N as u64, &proof_leaves, &flat, &offsets, &root)
        .expect("well-formed inputs");
    assert!(verdicts.iter().all(|&ok| ok), "a veritree proof failed to verify");
    let mut verify_row = Row::veritree("verify inclusion proofs", PROOFS, &one, || {
        verify::verify_inclusions(SUITE, &u64_indices, N as u64, &proof_leaves, &flat, &offsets, &root)
    });
    let rs_proofs: Vec<_> = indices.iter().map(|&i| rs.proof(&[i])).collect();
    let rs_verify = || indices.iter().zip(&rs_proofs).all(|(&i, p)| p.verify(rs_root, &[i], &rs_leaves[i..=i], N));
    assert!(rs_verify(), "an rs_merkle proof failed to verify");
    verify_row.rs_merkle = Some(best_of(rs_verify));
    let ct_proofs: Vec<_> = indices.iter().map(|&i| ct.prove_inclusion(i)).collect();
    let ct_verify =
        || indices.iter().zip(&ct_proofs).all(|(&i, p)| ct_root.verify_inclusion(&entries.items[i], i, p).is_ok());
    assert!(ct_verify(), "a ct-merkle proof failed to verify");
    verify_row.ct_merkle = Some(best_of(ct_verify));
    rows.push(verify_row);

    // How close the build from leaf hashes comes to the machine's hashing limit:
    // a build of N leaves hashes N - 1 nodes.
    // The limit is a rate: best of three is the highest.
    let best_limit =
        || (0..REPS).map(|_| node_hash_limit(SUITE, LIMIT_SECONDS).expect("a valid duration")).fold(0.0, f64::max);
    let limit = best_limit();
    let limit_1t = one.install(best_limit);
    let build_rate = (N - 1) as f64 / rows[0].veritree;
    let build_rate_1t = (N - 1) as f64 / rows[0].veritree_1t;

    println!("veritree vs peers: SHA-256, N = 2^{LOG2_N} leaves, {PROOFS} random proofs, best of {REPS}");
    println!("veritree on {threads} threads and on 1 (1t); peers are single-threaded\n");
    println!(
        "{:<24} {:>8} {:>11} {:>11} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8}",
        "operation",
        "items",
        "veritree",
        "veritree 1t",
        "rs_merkle",
        "ct-merkle",
        "vs rs",
        "vs ct",
        "1t vs rs",
        "1t vs ct"
    );
    for r in &rows {
        println!(
            "{:<24} {:>8} {:>11} {:>11} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8}",
            r.op,
            r.items,
            ms(Some(r.veritree)),
            ms(Some(r.veritree_1t)),
            ms(r.rs_merkle),
            ms(r.ct_merkle),
            times(Row::speedup(r.veritree, r.rs_merkle)),
            times(Row::speedup(r.veritree, r.ct_merkle)),
            times(Row::speedup(r.veritree_1t, r.rs_merkle)),
            times(Row::speedup(r.veritree_1t, r.ct_merkle)),
        );
    }
    println!("\nSHA-256 node-hash limit: {:.2} M/s on {threads} threads, {:.2} M/s on 1", limit / 1e6, limit_1t / 1e6);
    println!(
        "veritree build from leaf hashes: {:.2} M nodes/s = {:.0}% of the limit on {threads} threads, \
         {:.2} M nodes/s = {:.0}% on 1",
        build_rate / 1e6,
        100.0 * build_rate / limit,
        build_rate_1t / 1e6,
        100.0 * build_rate_1t / limit_1t
    );

    if let Some(path) = out_path {
        let report = json!({
            "suite": SUITE.name(),
            "n": N,
            "proofs": PROOFS,
            "reps": REPS,
            "threads": threads,
            "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
            "hash_limit_nodes_per_s": { "all_threads": limit, "one_thread": limit_1t },
            "build_nodes_per_s": { "all_threads": build_rate, "one_thread": build_rate_1t },
            "build_fraction_of_limit": { "all_threads": build_rate / limit, "one_thread": build_rate_1t / limit_1t },
        });
        let text = serde_json::to_string_pretty(&report).expect("plain numbers and strings serialise");
        std::fs::write(&path, text + "\n").unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        println!("wrote {path}");
    }
}
