//! veritree's akd verifier against akd 0.13.0's own (WhatsApp v1), same run,
//! on proofs the real akd directory made:
//!
//!   cargo run --release -p veritree-benches --features peers --bin akd_report -- [N] [LARGE] [BLOBS_DIR]
//!
//! N labels (default 10^4) published in one epoch, then 10 of them updated
//! in 4 more epochs; lookups and complete key histories verified from
//! their protobuf bytes (akd: parse, convert, verify; veritree: its own
//! decoder and verifier), with the floor veritree's VRF verifier sets (a
//! lookup is three VRF proofs). Then an append-only step inserting LARGE
//! leaves (default 10^5) into a tree of LARGE, and a chain of audit blobs
//! as WhatsApp publishes them (written to BLOBS_DIR if given, to time
//! `veritree akd-audit --source BLOBS_DIR` on). akd verifies a lookup or history on one
//! thread; veritree a lookup on one and a history's VRF proofs side by side
//! (also shown confined to one core). Both check append-only steps on every
//! core.

use std::time::Instant;

use akd::append_only_zks::AzksParallelismConfig;
use akd::ecvrf::HardCodedAkdVRF;
use akd::proto::specs::types as pb;
use akd::storage::memory::AsyncInMemoryDatabase;
use akd::storage::StorageManager;
use akd::{AkdLabel, AkdValue, HistoryParams, HistoryVerificationParams, WhatsAppV1Configuration};
use protobuf::Message;
use veritree_core::akd as ours;

type Wa = WhatsAppV1Configuration;
type AkdDirectory = akd::directory::Directory<Wa, AsyncInMemoryDatabase, HardCodedAkdVRF>;

fn label(i: u64) -> AkdLabel {
    AkdLabel(format!("user-{i}").into_bytes())
}

fn value(i: u64, version: u64) -> AkdValue {
    AkdValue(format!("key-{i}-{version}").into_bytes())
}

async fn directory() -> AkdDirectory {
    let storage = StorageManager::new_no_cache(AsyncInMemoryDatabase::new());
    AkdDirectory::new(storage, HardCodedAkdVRF {}, AzksParallelismConfig::default()).await.unwrap()
}

/// Publishes `labels` at `version`; the epoch's root hash.
async fn publish(d: &AkdDirectory, labels: impl Iterator<Item = u64>, version: u64) -> [u8; 32] {
    d.publish(labels.map(|i| (label(i), value(i, version))).collect()).await.unwrap().hash()
}

/// Per second, running `f` over `items` until at least `min_s` has passed.
fn rate<T>(items: &[T], min_s: f64, mut f: impl FnMut(&T)) -> f64 {
    let (t, mut n) = (Instant::now(), 0usize);
    while n == 0 || t.elapsed().as_secs_f64() < min_s {
        items.iter().for_each(&mut f);
        n += items.len();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn row(what: &str, ours: f64, peer: f64, unit: &str) {
    println!("  {what:<54} {ours:>11.1} {peer:>11.1} {:>7.2}x  {unit}", ours / peer);
}

struct Proofs {
    key: Vec<u8>,
    root: [u8; 32],
    epoch: u64,
    lookups: Vec<(u64, Vec<u8>)>,
    histories: Vec<(u64, Vec<u8>)>,
}

async fn proofs(n: u64) -> Proofs {
    let d = directory().await;
    publish(&d, 0..n, 1).await;
    for version in 2..=5 {
        publish(&d, 0..10, version).await;
    }
    let head = d.get_epoch_hash().await.unwrap();
    let key = d.get_public_key().await.unwrap().as_bytes().to_vec();
    let step = (n / 1000).max(1);
    let mut lookups = Vec::new();
    // Labels 0..10 are at version 5, the rest at version 1 (a power of
    // two: its marker is itself, one VRF proof fewer to check).
    for i in (10..n).step_by(step as usize).chain(0..10) {
        let (p, _) = d.lookup(label(i)).await.unwrap();
        lookups.push((i, pb::LookupProof::from(&p).write_to_bytes().unwrap()));
    }
    let mut histories = Vec::new();
    for i in (0..10).chain((10..n).step_by((n / 100).max(1) as usize)) {
        let (p, _) = d.key_history(&label(i), HistoryParams::Complete).await.unwrap();
        histories.push((i, pb::HistoryProof::from(&p).write_to_bytes().unwrap()));
    }
    Proofs { key, root: head.hash(), epoch: head.epoch(), lookups, histories }
}

fn lookups_and_histories(p: &Proofs) {
    let akd_lookup = |(i, bytes): &(u64, Vec<u8>)| {
        let msg = pb::LookupProof::parse_from_bytes(bytes).unwrap();
        let proof = akd::LookupProof::try_from(&msg).unwrap();
        let r = akd::client::lookup_verify::<Wa>(&p.key, p.root, p.epoch, label(*i), proof).unwrap();
        assert!(r.version >= 1);
    };
    let our_lookup = |(i, bytes): &(u64, Vec<u8>)| {
        let v = ours::verify_lookup(&p.key, &p.root, p.epoch, &label(*i), bytes).unwrap();
        assert!(v.version >= 1);
    };
    let (at_one, at_five): (Vec<_>, Vec<_>) = p.lookups.iter().cloned().partition(|(i, _)| *i >= 10);
    let akd_lookups = rate(&at_five, 2.0, akd_lookup);
    row("lookups verified/s, version 5 (from protobuf bytes)", rate(&at_five, 2.0, our_lookup), akd_lookups, "");
    row("lookups verified/s, version 1 (marker = version)", rate(&at_one, 2.0, our_lookup), rate(&at_one, 2.0, akd_lookup), "");
    let params = HistoryVerificationParams::Default { history_params: HistoryParams::Complete };
    let akd_history = |(i, bytes): &(u64, Vec<u8>)| {
        let msg = pb::HistoryProof::parse_from_bytes(bytes).unwrap();
        let proof = akd::HistoryProof::try_from(&msg).unwrap();
        akd::client::key_history_verify::<Wa>(&p.key, p.root, p.epoch, label(*i), proof, params).unwrap();
    };
    let our_history = |(i, bytes): &(u64, Vec<u8>)| {
        ours::verify_history(&p.key, &p.root, p.epoch, &label(*i), bytes, None).unwrap();
    };
    let akd_histories = rate(&p.histories, 2.0, akd_history);
    row("complete histories verified/s (10 of 5 versions, rest 1)", rate(&p.histories, 2.0, our_history), akd_histories, "");
    row("  veritree on one core", one_core(|| rate(&p.histories, 2.0, our_history)), akd_histories, "");
    // The floor: a lookup is three VRF proofs; veritree's RFC 9381
    // verifier alone bounds how far ahead of akd a lookup can be.
    let vrfs: Vec<(Vec<u8>, Vec<u8>)> = p
        .lookups
        .iter()
        .map(|(i, bytes)| {
            let d = ours::messages::LookupProof::decode(bytes).unwrap();
            (ours::hashing::vrf_input(&label(*i), true, d.version).to_vec(), d.existence_vrf_proof.to_vec())
        })
        .collect();
    let vrf_rate = rate(&vrfs, 2.0, |(alpha, pi)| {
        veritree_core::vrf::verify(&p.key, alpha, pi).unwrap();
    });
    println!(
        "  VRF proofs verified/s (veritree): {vrf_rate:.0}; three a lookup of version 5: at most {:.2}x akd's",
        vrf_rate / 3.0 / akd_lookups
    );
    // The decoder choice: veritree's strict reader against the protobuf
    // crate's generated code plus akd's conversion, decoding alone.
    let our_decode = |(_, bytes): &(u64, Vec<u8>)| {
        std::hint::black_box(ours::messages::LookupProof::decode(bytes).unwrap());
    };
    let akd_decode = |(_, bytes): &(u64, Vec<u8>)| {
        let msg = pb::LookupProof::parse_from_bytes(bytes).unwrap();
        std::hint::black_box(akd::LookupProof::try_from(&msg).unwrap());
    };
    row("lookup proofs decoded/s (decoding alone)", rate(&p.lookups, 1.0, our_decode), rate(&p.lookups, 1.0, akd_decode), "");
}

/// `f` with veritree's parallel checks confined to one thread (akd's
/// lookup and history verification use one).
fn one_core(f: impl FnOnce() -> f64 + Send) -> f64 {
    rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(f)
}

/// An append-only step inserting `n` leaves into a tree of `n`.
async fn large_step(n: u64) {
    let d = directory().await;
    let r1 = publish(&d, 0..n, 1).await;
    let r2 = publish(&d, n..2 * n, 1).await;
    let proof = d.audit(1, 2).await.unwrap();
    let bytes = pb::AppendOnlyProof::from(&proof).write_to_bytes().unwrap();
    let (inserted, unchanged) = (proof.proofs[0].inserted.len(), proof.proofs[0].unchanged_nodes.len());
    let roots = [r1, r2];
    let (mut ours_s, mut akd_s) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        ours::verify_append_only(&roots, &bytes).unwrap();
        ours_s = ours_s.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let msg = pb::AppendOnlyProof::parse_from_bytes(&bytes).unwrap();
        akd::auditor::audit_verify::<Wa>(roots.to_vec(), akd::AppendOnlyProof::try_from(&msg).unwrap()).await.unwrap();
        akd_s = akd_s.min(t.elapsed().as_secs_f64());
    }
    println!("  append-only step: {inserted} leaves inserted, {unchanged} subtrees unchanged, {} bytes", bytes.len());
    row("append-only steps verified/s (best of 3)", 1.0 / ours_s, 1.0 / akd_s, "");
    row("  as leaves inserted/s", inserted as f64 / ours_s, inserted as f64 / akd_s, "");
}

/// Audit blobs of `epochs` steps of `per_epoch` new labels each, named as
/// WhatsApp names them (the step's end epoch first).
async fn audit_chain(epochs: u64, per_epoch: u64, out: Option<&std::path::Path>) {
    let d = directory().await;
    let mut roots = vec![ours::empty_root()];
    for e in 0..epochs {
        roots.push(publish(&d, e * per_epoch..(e + 1) * per_epoch, 1).await);
    }
    let proof = d.audit(0, epochs).await.unwrap();
    let blobs: Vec<(String, Vec<u8>)> = proof
        .proofs
        .iter()
        .zip(&proof.epochs)
        .map(|(step, &start)| {
            let s = start as usize;
            let name = format!("{}/{}/{}", start + 1, hex(&roots[s]), hex(&roots[s + 1]));
            (name, pb::SingleAppendOnlyProof::from(step).write_to_bytes().unwrap())
        })
        .collect();
    // For timing `veritree akd-audit` on a folder of the same blobs.
    if let Some(dir) = out {
        for (name, blob) in &blobs {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, blob).unwrap();
        }
    }
    let runtime = tokio::runtime::Handle::current();
    let ours_rate = rate(&blobs, 2.0, |(name, blob)| {
        ours::verify_audit_blob(name, blob).unwrap();
    });
    let akd_rate = rate(&blobs, 2.0, |(name, blob)| {
        let step = ours::parse_blob_name(name).unwrap();
        let msg = pb::SingleAppendOnlyProof::parse_from_bytes(blob).unwrap();
        let proof = akd::AppendOnlyProof {
            proofs: vec![akd::SingleAppendOnlyProof::try_from(&msg).unwrap()],
            epochs: vec![step.epoch - 1],
        };
        let check = akd::auditor::audit_verify::<Wa>(vec![step.previous_root, step.current_root], proof);
        tokio::task::block_in_place(|| runtime.block_on(check)).unwrap();
    });
    row(&format!("audit blobs verified/s ({epochs} epochs of {per_epoch} leaves)"), ours_rate, akd_rate, "epochs/s");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (n, large) = (number(0, 10_000), number(1, 100_000));
    let blobs_dir = args.get(2).map(std::path::PathBuf::from);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("akd verification: veritree vs akd 0.13.0 (WhatsAppV1Configuration), same run, {cores} cores");
    println!("  {:<54} {:>11} {:>11} {:>8}", "metric", "veritree", "akd", "ratio");
    let p = proofs(n).await;
    println!("  {} labels; proofs at epoch {}", n, p.epoch);
    lookups_and_histories(&p);
    large_step(large).await;
    audit_chain(50, 1000, blobs_dir.as_deref()).await;
}
