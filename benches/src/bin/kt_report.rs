//! veritree's KEYTRANS directory against facebook's akd (0.13.0, WhatsApp v1
//! configuration), on the same labels and batches in one run.
//!
//!     cargo run --release -p veritree-benches --features peers --bin kt_report -- [N] [BATCH]
//!
//! N labels (`user0000000042`, 14 bytes) with 32-byte values are published in
//! batches of BATCH: one veritree log entry, or one akd epoch, per batch.
//! Then 200 random labels are looked up: veritree answers a first-contact
//! client's greatest-version search (the whole `SearchResponse`: signed tree
//! head, VRF proofs, value, opening and every proof), akd its `lookup` (the
//! `LookupProof` protobuf; akd's root hash reaches a client out of band and is
//! not counted). Last, 10 labels get 4 more versions in 4 more batches; akd
//! proves all 5 with one `key_history` (Complete), while veritree has no
//! history proof: a client learns the 5 versions with 5 fixed-version searches.
//! Both stores are in memory. veritree's `Directory` evaluates the VRF on
//! every core while publishing; akd runs with its default parallelism.

use std::time::Instant;

use akd::append_only_zks::AzksParallelismConfig;
use akd::ecvrf::HardCodedAkdVRF;
use akd::proto::specs::types::{HistoryProof, LookupProof};
use akd::storage::memory::AsyncInMemoryDatabase;
use akd::storage::StorageManager;
use akd::{AkdLabel, AkdValue, HistoryParams, HistoryVerificationParams, WhatsAppV1Configuration};
use ed25519_dalek::SigningKey;
use protobuf::Message;
use veritree_benches::{random_batch, random_indices, SplitMix64};
use veritree_core::kt::client::Client;
use veritree_core::kt::directory::Directory;
use veritree_core::kt::tree_head::{Configuration, Mode};
use veritree_core::vrf::VrfSecretKey;

/// Log entry `i` is published at `T0 + 1000 * i` ms.
const T0: u64 = 1_700_000_000_000;
const LOOKUPS: usize = 200;
const HISTORY_LABELS: usize = 10;
/// Versions of a history label at the end: the first and 4 updates.
const VERSIONS: u32 = 5;
const RECENT: usize = 4;

fn label(i: u64) -> Vec<u8> {
    format!("user{i:010}").into_bytes()
}

/// The 32-byte value of label `i`'s version `version` (0-based).
fn value(i: u64, version: u32) -> Vec<u8> {
    let mut rng = SplitMix64::new(i << 8 | u64::from(version));
    (0..4).flat_map(|_| rng.next_u64().to_le_bytes()).collect()
}

/// What both sides are asked to do.
struct Workload {
    n: u64,
    batch: u64,
    probes: Vec<u64>,
    history: Vec<u64>,
}

impl Workload {
    fn new(n: u64, batch: u64) -> Workload {
        let probes = random_indices(n, LOOKUPS, 0x100c);
        let history = random_batch(n, HISTORY_LABELS, 0x415);
        Workload { n, batch, probes, history }
    }

    /// The initial batches, as ranges of label indices.
    fn batches(&self) -> impl Iterator<Item = std::ops::Range<u64>> + '_ {
        (0..self.n).step_by(self.batch as usize).map(|s| s..(s + self.batch).min(self.n))
    }
}

/// Mean, least and greatest of some byte counts.
#[derive(Clone, Copy)]
struct Sizes {
    mean: f64,
    min: usize,
    max: usize,
}

impl Sizes {
    fn of(v: &[usize]) -> Sizes {
        let mean = v.iter().sum::<usize>() as f64 / v.len() as f64;
        Sizes { mean, min: *v.iter().min().unwrap(), max: *v.iter().max().unwrap() }
    }
}

/// One side's measurements; rates per second.
struct Side {
    publish: f64,
    /// Completing the VRF proofs publishing left for later (veritree), per second.
    proofs: Option<f64>,
    lookup: Sizes,
    lookup_serve: f64,
    lookup_verify: f64,
    /// veritree only: a returning client's search, at an unchanged tree head.
    lookup_returning: Option<Sizes>,
    /// Bytes for all 5 versions of a history label, and those per second.
    history: Sizes,
    history_serve: f64,
    history_verify: f64,
    /// A first-contact greatest-version lookup of a history label (its 5th version).
    latest: Sizes,
}

fn rate(count: usize, t: Instant) -> f64 {
    count as f64 / t.elapsed().as_secs_f64()
}

// ---- veritree -------------------------------------------------------------

fn veritree_directory() -> Directory {
    let signing = SigningKey::from_bytes(&[7; 32]);
    let vrf = VrfSecretKey::from_seed(&[8; 32]).unwrap();
    let config = Configuration {
        mode: Mode::ContactMonitoring,
        signature_public_key: signing.verifying_key().as_bytes().to_vec(),
        vrf_public_key: vrf.public_key().to_vec(),
        max_ahead: 60_000,
        max_behind: u64::MAX,
        reasonable_monitoring_window: 86_400_000,
        maximum_lifetime: None,
    };
    Directory::new(config, signing, vrf, RECENT).unwrap()
}

/// Stages `labels` at `version` and publishes them as the next log entry.
fn veritree_publish(d: &mut Directory, labels: impl Iterator<Item = u64>, version: u32) {
    for i in labels {
        assert_eq!(d.stage(&label(i), &value(i, version)).unwrap(), version);
    }
    d.publish(T0 + 1000 * d.size()).unwrap();
}

fn now(d: &Directory) -> u64 {
    T0 + 1000 * (d.size() - 1) + 5
}

/// One search each by `clients` (all on the same view) for `(label, version)`:
/// response sizes, responses/s and verifications/s. Checks every value.
fn veritree_searches(d: &Directory, clients: &[Client], asks: &[(u64, Option<u32>, u32)]) -> (Vec<usize>, f64, f64) {
    let requests: Vec<Vec<u8>> =
        asks.iter().zip(clients).map(|(&(i, v, _), c)| c.search_request(&label(i), v).unwrap()).collect();
    let t = Instant::now();
    let responses: Vec<Vec<u8>> = requests.iter().map(|r| d.search(r).unwrap()).collect();
    let serve = rate(asks.len(), t);
    let mut clients = clients.to_vec();
    let t = Instant::now();
    for (((c, req), resp), &(i, _, version)) in clients.iter_mut().zip(&requests).zip(&responses).zip(asks) {
        let found = c.verify_search(req, resp, now(d)).unwrap();
        assert_eq!((found.version, found.value), (version, value(i, version)));
    }
    let verify = rate(asks.len(), t);
    (responses.iter().map(Vec::len).collect(), serve, verify)
}

fn run_veritree(w: &Workload) -> Side {
    let mut d = veritree_directory();
    let t = Instant::now();
    for b in w.batches() {
        veritree_publish(&mut d, b, 0);
    }
    let publish = rate(w.n as usize, t);
    // The proofs publishing left for later, completed as a server does when idle.
    let t = Instant::now();
    while d.fill_proofs(1 << 14).unwrap() > 0 {}
    let proofs = rate(w.n as usize, t);

    let config = d.config().clone();
    let fresh = |k: usize| vec![Client::new(config.clone(), RECENT).unwrap(); k];
    let asks: Vec<_> = w.probes.iter().map(|&i| (i, None, 0)).collect();
    let (sizes, lookup_serve, lookup_verify) = veritree_searches(&d, &fresh(asks.len()), &asks);
    let lookup_returning = Some(Sizes::of(&veritree_searches(&d, &returning(&d, asks.len()), &asks).0));

    for version in 1..VERSIONS {
        veritree_publish(&mut d, w.history.iter().copied(), version);
    }
    while d.fill_proofs(1 << 14).unwrap() > 0 {}
    let each: Vec<_> = w.history.iter().flat_map(|&i| (0..VERSIONS).map(move |v| (i, Some(v), v))).collect();
    let (each_sizes, serve, verify) = veritree_searches(&d, &fresh(each.len()), &each);
    let history: Vec<usize> = each_sizes.chunks(VERSIONS as usize).map(|c| c.iter().sum()).collect();
    let latest: Vec<_> = w.history.iter().map(|&i| (i, None, VERSIONS - 1)).collect();
    let latest = veritree_searches(&d, &fresh(latest.len()), &latest).0;
    Side {
        publish,
        proofs: Some(proofs),
        lookup: Sizes::of(&sizes),
        lookup_serve,
        lookup_verify,
        lookup_returning,
        history: Sizes::of(&history),
        history_serve: serve / f64::from(VERSIONS),
        history_verify: verify / f64::from(VERSIONS),
        latest: Sizes::of(&latest),
    }
}

/// `k` copies of a client that has verified a search at the directory's
/// current size (of label `user0000000000`).
fn returning(d: &Directory, k: usize) -> Vec<Client> {
    let mut c = Client::new(d.config().clone(), RECENT).unwrap();
    let req = c.search_request(&label(0), None).unwrap();
    c.verify_search(&req, &d.search(&req).unwrap(), now(d)).unwrap();
    vec![c; k]
}

// ---- akd ------------------------------------------------------------------

type Wa = WhatsAppV1Configuration;
type AkdDirectory = akd::directory::Directory<Wa, AsyncInMemoryDatabase, HardCodedAkdVRF>;

fn akd_label(i: u64) -> AkdLabel {
    AkdLabel(label(i))
}

/// A proof's size as akd's protobuf message.
fn protobuf_len(m: &impl Message) -> usize {
    m.write_to_bytes().unwrap().len()
}

async fn akd_publish(d: &AkdDirectory, labels: impl Iterator<Item = u64>, version: u32) {
    let updates = labels.map(|i| (akd_label(i), AkdValue(value(i, version)))).collect();
    d.publish(updates).await.unwrap();
}

/// Lookups of `labels` (all at version `version`): proof sizes, lookups/s and
/// verifications/s.
async fn akd_lookups(d: &AkdDirectory, vrf_key: &[u8], labels: &[u64], version: u32) -> (Vec<usize>, f64, f64) {
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(labels.len());
    for &i in labels {
        proofs.push(d.lookup(akd_label(i)).await.unwrap());
    }
    let serve = rate(labels.len(), t);
    let sizes = proofs.iter().map(|(p, _)| protobuf_len(&LookupProof::from(p))).collect();
    let t = Instant::now();
    for ((p, head), &i) in proofs.into_iter().zip(labels) {
        let r = akd::client::lookup_verify::<Wa>(vrf_key, head.hash(), head.epoch(), akd_label(i), p).unwrap();
        assert_eq!(r.value.0, value(i, version));
    }
    (sizes, serve, rate(labels.len(), t))
}

/// Complete key histories of `labels`: proof sizes, histories/s, verifications/s.
async fn akd_histories(d: &AkdDirectory, vrf_key: &[u8], labels: &[u64]) -> (Vec<usize>, f64, f64) {
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(labels.len());
    for &i in labels {
        proofs.push(d.key_history(&akd_label(i), HistoryParams::Complete).await.unwrap());
    }
    let serve = rate(labels.len(), t);
    let sizes = proofs.iter().map(|(p, _)| protobuf_len(&HistoryProof::from(p))).collect();
    let params = HistoryVerificationParams::Default { history_params: HistoryParams::Complete };
    let t = Instant::now();
    for ((p, head), &i) in proofs.into_iter().zip(labels) {
        let r = akd::client::key_history_verify::<Wa>(vrf_key, head.hash(), head.epoch(), akd_label(i), p, params);
        let r = r.unwrap();
        assert_eq!(r.len(), VERSIONS as usize);
        assert_eq!(r[0].value.0, value(i, VERSIONS - 1));
    }
    (sizes, serve, rate(labels.len(), t))
}

async fn run_akd(w: &Workload) -> Side {
    let storage = StorageManager::new_no_cache(AsyncInMemoryDatabase::new());
    let d = AkdDirectory::new(storage, HardCodedAkdVRF {}, AzksParallelismConfig::default()).await.unwrap();
    let vrf_key = d.get_public_key().await.unwrap();
    let t = Instant::now();
    for b in w.batches() {
        akd_publish(&d, b, 0).await;
    }
    let publish = rate(w.n as usize, t);

    let (sizes, lookup_serve, lookup_verify) = akd_lookups(&d, vrf_key.as_bytes(), &w.probes, 0).await;
    for version in 1..VERSIONS {
        akd_publish(&d, w.history.iter().copied(), version).await;
    }
    let (history, history_serve, history_verify) = akd_histories(&d, vrf_key.as_bytes(), &w.history).await;
    let latest = akd_lookups(&d, vrf_key.as_bytes(), &w.history, VERSIONS - 1).await.0;
    Side {
        publish,
        proofs: None,
        lookup: Sizes::of(&sizes),
        lookup_serve,
        lookup_verify,
        lookup_returning: None,
        history: Sizes::of(&history),
        history_serve,
        history_verify,
        latest: Sizes::of(&latest),
    }
}

// ---- report ---------------------------------------------------------------

fn row(metric: &str, ours: Option<f64>, peer: Option<f64>) {
    let cell = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |x| format!("{x:.1}"));
    let ratio = match (ours, peer) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "-".to_string(),
    };
    println!("  {metric:<58} {:>12} {:>12} {ratio:>8}", cell(ours), cell(peer));
}

fn size_row(metric: &str, ours: Option<Sizes>, peer: Option<Sizes>) {
    row(metric, ours.map(|s| s.mean), peer.map(|s| s.mean));
    let range = |s: Option<Sizes>| s.map_or_else(|| "-".to_string(), |s| format!("{}-{}", s.min, s.max));
    println!("  {:<58} {:>12} {:>12}", "    (min-max)", range(ours), range(peer));
}

fn report(w: &Workload, ours: &Side, peer: &Side) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("KEYTRANS directory: veritree vs akd 0.13.0 (WhatsAppV1Configuration), same run, {cores} cores");
    println!("  N = {} labels (14 bytes), 32-byte values, batches of {} (one log entry / epoch each)", w.n, w.batch);
    println!("  veritree's Directory evaluates the VRF on every core ({cores}) while publishing;");
    println!("  akd: AsyncInMemoryDatabase, no cache, HardCodedAkdVRF, default parallelism (AzksParallelismConfig)");
    println!("  sizes in bytes (veritree: whole SearchResponses; akd: protobuf proofs, root hash out of band)");
    println!("  ratio = veritree / akd, for sizes and for rates alike");
    println!();
    println!("  {:<58} {:>12} {:>12} {:>8}", "metric", "veritree", "akd", "ratio");
    row("publish, labels/s", Some(ours.publish), Some(peer.publish));
    let proofs = ours.proofs.expect("veritree completes its proofs");
    row("  then VRF proofs completed (veritree, when idle), labels/s", Some(proofs), None);
    let both = 1.0 / (1.0 / ours.publish + 1.0 / proofs);
    row("  publish and complete the proofs, labels/s", Some(both), Some(peer.publish));
    size_row(&format!("lookup of {LOOKUPS} random labels, first contact: bytes"), Some(ours.lookup), Some(peer.lookup));
    size_row("  same, returning client (veritree: head 'same'): bytes", ours.lookup_returning, None);
    row("  responses/s (akd: lookup proofs/s)", Some(ours.lookup_serve), Some(peer.lookup_serve));
    row("  verifications/s", Some(ours.lookup_verify), Some(peer.lookup_verify));
    size_row(
        &format!("history of {HISTORY_LABELS} labels, all {VERSIONS} versions: bytes"),
        Some(ours.history),
        Some(peer.history),
    );
    row("  histories served/s", Some(ours.history_serve), Some(peer.history_serve));
    row("  histories verified/s", Some(ours.history_verify), Some(peer.history_verify));
    size_row(
        &format!("  greatest-version lookup, those labels (version {VERSIONS}): bytes"),
        Some(ours.latest),
        Some(peer.latest),
    );
    println!();
    println!("  veritree has no history proof: its history row is the sum of {VERSIONS} fixed-version");
    println!("  SearchResponses (versions 0..{}), each to a first-contact client; akd's is one", VERSIONS - 1);
    println!("  key_history proof (HistoryParams::Complete). Versions count from 0 in veritree, 1 in akd.");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(100_000, |s| s.parse().expect("N is a number"));
    let batch: u64 = args.next().map_or(10_000, |s| s.parse().expect("BATCH is a number"));
    assert!(n >= HISTORY_LABELS as u64 && batch > 0, "N must be at least {HISTORY_LABELS} and BATCH positive");
    let w = Workload::new(n, batch);
    let ours = run_veritree(&w);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peer = runtime.block_on(run_akd(&w));
    report(&w, &ours, &peer);
}
