//! Known-answer vectors for veritree's own verifier of facebook/akd proofs,
//! made by the real akd 0.13.0 (`WhatsAppV1Configuration`, in-memory store):
//!
//!     cargo run --release -p veritree-benches --features peers --bin akd_vectors -- tests/vectors/akd/akd-0.13.json
//!
//! A test-only generator: it builds one small directory over `EPOCHS` epochs,
//! takes lookup and history proofs, append-only proofs and WhatsApp-style
//! audit blobs as it goes (akd proves only at its latest epoch), and checks
//! every one with akd's own verifier, whose answer goes in the vectors as the
//! expected one. Then it flips bits of every proof (one at a time, every
//! `STRIDE`-th bit) and records the flips akd still accepts, so that veritree
//! can be held to at least akd's strictness, and knowingly stricter where akd
//! is lax. Last it forges a lookup and a history through the gap in akd's
//! `verify_nonmembership` (it never checks that the anchor node's child on the
//! label's side is not itself a prefix of the label, so an absent-looking
//! label can be anchored at the root) and asserts that akd accepts both:
//! veritree must reject them.
//!
//! The flips akd accepts are of three kinds (as of this output): bits 4-6 of
//! a `SiblingProof.direction` varint (akd keeps only its low nibble); the
//! label of a membership proof's topmost step, which akd never hashes (it is
//! the root's); and, in histories and audit blobs, a larger length prefix of
//! the message that ends the input (rust-protobuf stops at the input's end).
//!
//! All byte strings in the JSON are lowercase hex; proofs are the protobuf
//! encodings of `akd_core::proto::specs::types` messages.
//!
//! The output is deterministic: the labels and values come from fixed seeds,
//! `HardCodedAkdVRF` is a fixed VRF key, akd derives its commitment key from
//! that key, its ECVRF proofs are deterministic, and its append-only proofs
//! list nodes in tree order whatever the parallelism.
//!
//! The large append-only step of the issue (10^5 leaves) is not here: its
//! proof is ~7.5 MB; `akd_report` makes and verifies it in each run.

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use akd::append_only_zks::AzksParallelismConfig;
use akd::auditor::audit_verify;
use akd::ecvrf::HardCodedAkdVRF;
use akd::local_auditing::{AuditBlob, AuditBlobName};
use akd::proto::specs::types as pb;
use akd::storage::memory::AsyncInMemoryDatabase;
use akd::storage::StorageManager;
use akd::{
    AkdLabel, AkdValue, AppendOnlyProof, AzksElement, AzksValue, Configuration, Digest, Direction, HistoryParams,
    HistoryProof, HistoryVerificationParams, LookupProof, MembershipProof, NodeLabel, NonMembershipProof, VerifyResult,
    WhatsAppV1Configuration,
};
use protobuf::Message;
use rayon::prelude::*;
use serde_json::{json, Value};
use veritree_benches::SplitMix64;

type Wa = WhatsAppV1Configuration;
type AkdDirectory = akd::directory::Directory<Wa, AsyncInMemoryDatabase, HardCodedAkdVRF>;

const GENERATOR: &str =
    "cargo run --release -p veritree-benches --features peers --bin akd_vectors -- tests/vectors/akd/akd-0.13.json";

/// The main directory's last epoch.
const EPOCHS: u64 = 9;
/// Labels first published in epoch 1.
const FIRST: usize = 300;
/// Label 0 gets a new version in most epochs (8 by epoch 9): lookups see
/// versions 1 to 8, 8 being a marker version itself.
const DEEP: usize = 0;
/// Label 1's versions are published in epochs 1, 3, 6 and 9.
const SPAN: usize = 1;
/// Label 2 has versions 1 (epoch 1) and 2 (epoch 4) only: the forgeries' label.
const TWO: usize = 2;

/// Every `STRIDE`-th bit of each proof is flipped.
const STRIDE: usize = 7;
/// Audit verifications run at once while flipping (each spawns its own tasks).
const AUDIT_BATCH: usize = 16;


/// Lookups taken right after each epoch is published: (epoch, label index).
const LOOKUPS: &[(u64, usize)] = &[
    (1, DEEP),
    (1, 150),
    (2, DEEP),
    (2, 10),
    (3, DEEP),
    (3, SPAN),
    (3, 300),
    (4, DEEP),
    (4, TWO),
    (5, DEEP),
    (5, 14),
    (6, DEEP),
    (6, SPAN),
    (7, 10),
    (8, DEEP),
    (9, DEEP),
    (9, SPAN),
    (9, TWO),
    (9, 11),
    (9, 19),
    (9, 200),
    (9, 333),
];

/// Histories taken right after each epoch is published: (epoch, label index,
/// `None` for a complete history or `Some(n)` for the `n` most recent versions).
const HISTORIES: &[(u64, usize, Option<usize>)] = &[
    (3, SPAN, None),
    (5, DEEP, None),
    (9, DEEP, None),
    (9, DEEP, Some(1)),
    (9, DEEP, Some(2)),
    (9, DEEP, Some(3)),
    (9, SPAN, None),
    (9, SPAN, Some(2)),
    (9, TWO, None),
    // Fewer versions (3) than asked for: akd then wants the history to start at 1.
    (9, 12, Some(5)),
    (9, 200, None),
    // Published in the last epoch itself.
    (9, 333, None),
];

/// Append-only proofs asked of the directory: (start epoch, end epoch).
const APPEND_ONLY: &[(u64, u64)] = &[(3, 4), (2, 6), (8, 9)];

/// Label indices published in each epoch (index = epoch; epoch 0 is the empty
/// tree): a label's first publication is its version 1, each later one its
/// next version. Every epoch changes something, since akd makes no epoch of
/// an empty publish.
fn schedule() -> Vec<Vec<usize>> {
    let mut s = vec![Vec::new(); EPOCHS as usize + 1];
    s[1].extend(0..FIRST);
    for e in [2, 3, 4, 5, 6, 8, 9] {
        s[e].push(DEEP);
    }
    for e in [3, 6, 9] {
        s[e].push(SPAN);
    }
    s[4].push(TWO);
    // Versions 2, 3 and 4 of a few ordinary labels.
    s[2].extend(10..20);
    s[5].extend(10..15);
    s[7].extend(10..12);
    // New labels after the first epoch, one batch in the last.
    s[3].extend(FIRST..FIRST + 20);
    s[6].extend(FIRST + 20..FIRST + 30);
    s[9].extend(FIRST + 30..FIRST + 35);
    s
}

/// Label `i`: 4 to 32 random bytes, so that veritree sees more than one length.
fn label(i: usize) -> AkdLabel {
    let mut rng = SplitMix64::new(0xa4d0_0000 + i as u64);
    let len = 4 + rng.below(29) as usize;
    AkdLabel((0..len).map(|_| rng.next_u64() as u8).collect())
}

/// Label `i`'s value at `version`: 1 to 48 random bytes (never empty: akd
/// reads an empty value as a tombstone).
fn value(i: usize, version: u64) -> AkdValue {
    let mut rng = SplitMix64::new(0x7a1e_0000_0000 ^ ((i as u64) << 16) ^ version);
    let len = 1 + rng.below(48) as usize;
    AkdValue((0..len).map(|_| rng.next_u64() as u8).collect())
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        write!(s, "{b:02x}").unwrap();
    }
    s
}

fn result_json(r: &VerifyResult) -> Value {
    json!({"epoch": r.epoch, "version": r.version, "value": hex(&r.value)})
}

fn results_json(rs: &[VerifyResult]) -> Value {
    Value::Array(rs.iter().map(result_json).collect())
}

fn history_params(most_recent: Option<usize>) -> HistoryVerificationParams {
    let history_params = most_recent.map_or(HistoryParams::Complete, HistoryParams::MostRecent);
    HistoryVerificationParams::Default { history_params }
}

async fn new_directory() -> AkdDirectory {
    let storage = StorageManager::new_no_cache(AsyncInMemoryDatabase::new());
    AkdDirectory::new(storage, HardCodedAkdVRF {}, AzksParallelismConfig::default()).await.unwrap()
}

// ---- verification from bytes, as a consumer of the vectors does -------------

/// A lookup proof checked by akd, from its protobuf bytes; `None` if it does
/// not decode or akd rejects it (a panic counts as a rejection).
fn verify_lookup(vrf: &[u8], label: &AkdLabel, epoch: u64, root: Digest, bytes: &[u8]) -> Option<VerifyResult> {
    catch_unwind(AssertUnwindSafe(|| {
        let proof = LookupProof::try_from(&pb::LookupProof::parse_from_bytes(bytes).ok()?).ok()?;
        akd::client::lookup_verify::<Wa>(vrf, root, epoch, label.clone(), proof).ok()
    }))
    .ok()
    .flatten()
}

fn verify_history(
    vrf: &[u8],
    label: &AkdLabel,
    epoch: u64,
    root: Digest,
    most_recent: Option<usize>,
    bytes: &[u8],
) -> Option<Vec<VerifyResult>> {
    catch_unwind(AssertUnwindSafe(|| {
        let proof = HistoryProof::try_from(&pb::HistoryProof::parse_from_bytes(bytes).ok()?).ok()?;
        let params = history_params(most_recent);
        akd::client::key_history_verify::<Wa>(vrf, root, epoch, label.clone(), proof, params).ok()
    }))
    .ok()
    .flatten()
}

/// An `AppendOnlyProof` over `roots` (one more root than steps), checked by
/// `akd::auditor::audit_verify`.
async fn verify_append_only(roots: Vec<Digest>, bytes: Vec<u8>) -> bool {
    let Ok(proto) = pb::AppendOnlyProof::parse_from_bytes(&bytes) else { return false };
    let Ok(proof) = AppendOnlyProof::try_from(&proto) else { return false };
    // audit_verify spawns tasks of its own; a panic anywhere in it is a rejection.
    tokio::spawn(async move { audit_verify::<Wa>(roots, proof).await.is_ok() }).await.unwrap_or(false)
}

/// An audit blob checked the way WhatsApp's auditor does: the name's epoch is
/// the step's end, and the proof is verified as the step from `epoch - 1`.
async fn verify_blob(name: AuditBlobName, data: Vec<u8>) -> bool {
    let Ok((end_epoch, previous, current, proof)) = (AuditBlob { name, data }).decode() else { return false };
    if end_epoch == 0 {
        return false;
    }
    let proof = AppendOnlyProof { proofs: vec![proof], epochs: vec![end_epoch - 1] };
    tokio::spawn(async move { audit_verify::<Wa>(vec![previous, current], proof).await.is_ok() }).await.unwrap_or(false)
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[bit / 8] ^= 1 << (bit % 8);
    b
}

fn flip_bits(len: usize) -> Vec<usize> {
    (0..8 * len).step_by(STRIDE).collect()
}

/// The accepted flips of one case as the JSON's `flips` entry.
fn flips_json(kind: &str, case: usize, tried: usize, accepted: Vec<(usize, Value)>) -> Value {
    let accepted: Vec<Value> =
        accepted.into_iter().map(|(bit, result)| json!({"bit": bit, "result": result})).collect();
    json!({"kind": kind, "case": case, "stride": STRIDE, "tried": tried, "accepted": accepted})
}

/// Runs async audit verifications of flipped copies of `bytes`, a batch at
/// a time; returns the accepted bits.
async fn accepted_audit_flips<F, Fut>(bytes: &[u8], verify: F) -> Vec<usize>
where
    F: Fn(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let mut accepted = Vec::new();
    for chunk in flip_bits(bytes.len()).chunks(AUDIT_BATCH) {
        let tasks: Vec<_> = chunk.iter().map(|&bit| (bit, tokio::spawn(verify(flip(bytes, bit))))).collect();
        for (bit, task) in tasks {
            if task.await.unwrap_or(false) {
                accepted.push(bit);
            }
        }
    }
    accepted
}

// ---- the cases ----------------------------------------------------------------

struct LookupCase {
    label: AkdLabel,
    epoch: u64,
    root: Digest,
    proof: Vec<u8>,
    expect: VerifyResult,
}

struct HistoryCase {
    label: AkdLabel,
    epoch: u64,
    root: Digest,
    proof: Vec<u8>,
    most_recent: Option<usize>,
    expect: Vec<VerifyResult>,
}

struct AppendOnlyCase {
    start: u64,
    end: u64,
    roots: Vec<Digest>,
    proof: Vec<u8>,
}

struct BlobCase {
    name: AuditBlobName,
    blob: Vec<u8>,
}

fn parent_value(left: AzksElement, right: AzksElement) -> AzksValue {
    Wa::compute_parent_hash_from_children(
        &left.value,
        &left.label.value::<Wa>(),
        &right.value,
        &right.label.value::<Wa>(),
    )
}

/// The root's two children at the epoch of `proof` (any honest membership
/// proof): its topmost sibling and the node the path came up through, found
/// by replaying the proof's hashing up to the level below the root.
fn root_children(proof: &MembershipProof) -> [AzksElement; 2] {
    let mut node = AzksElement { label: proof.label, value: proof.hash_val };
    for (i, step) in proof.sibling_proofs.iter().enumerate().rev() {
        let sibling = step.siblings[0];
        let [left, right] = match step.direction {
            Direction::Left => [node, sibling],
            Direction::Right => [sibling, node],
        };
        if i == 0 {
            assert_eq!(step.label, NodeLabel::root(), "a membership proof's first step is the root's");
            return [left, right];
        }
        node = AzksElement { label: step.label, value: parent_value(left, right) };
    }
    panic!("a membership proof without siblings has no root children to show");
}

/// A non-membership proof of `label` anchored at the root: accepted by akd
/// 0.13 whether or not `label` is in the tree, since akd checks only that the
/// root is a prefix of the label and that the children hash to the root.
fn nonmembership_at_root(label: NodeLabel, children: [AzksElement; 2], root: Digest) -> NonMembershipProof {
    let root_value = parent_value(children[0], children[1]);
    assert_eq!(Wa::compute_root_hash_from_val(&root_value), root, "the replayed root children hash to the root");
    NonMembershipProof {
        label,
        longest_prefix: NodeLabel::root(),
        longest_prefix_children: children,
        longest_prefix_membership_proof: MembershipProof {
            label: NodeLabel::root(),
            hash_val: root_value,
            sibling_proofs: vec![],
        },
    }
}

struct Forged {
    lookup: LookupProof,
    history: HistoryProof,
}

/// The two forgeries against label `TWO` (versions 1 and 2) at the directory's
/// latest epoch, from its honest complete history: a lookup serving version 1
/// as current, and a complete history that stops at version 1.
fn forge(honest: &HistoryProof, epoch: u64, root: Digest) -> Forged {
    let [v2, v1] = &honest.update_proofs[..] else { panic!("label TWO has exactly versions 2 and 1") };
    assert_eq!((v2.version, v1.version), (2, 1));
    let children = root_children(&v1.existence_proof);
    let stale_v1 = v2.previous_version_proof.as_ref().expect("version 2 retires version 1").label;

    // Version 1 is its own marker version, so its existence proof doubles as
    // the marker proof; its stale label, which exists, is "shown" absent.
    let lookup = LookupProof {
        epoch: v1.epoch,
        value: v1.value.clone(),
        version: v1.version,
        existence_vrf_proof: v1.existence_vrf_proof.clone(),
        existence_proof: v1.existence_proof.clone(),
        marker_vrf_proof: v1.existence_vrf_proof.clone(),
        marker_proof: v1.existence_proof.clone(),
        freshness_vrf_proof: v2.previous_version_vrf_proof.clone().expect("version 2 proves version 1's stale label"),
        freshness_proof: nonmembership_at_root(stale_v1, children, root),
        commitment_nonce: v1.commitment_nonce.clone(),
    };

    // A history ending at version 1 must show future marker versions absent:
    // version 2 (which exists) is anchored at the root, the others really are
    // absent and their honest proofs are taken from the honest history, which
    // ends at version 2 and so proves the same later markers.
    let (_, honest_markers) = akd_core::utils::get_marker_versions(1, 2, epoch);
    let (past, markers) = akd_core::utils::get_marker_versions(1, 1, epoch);
    assert!(past.is_empty());
    let mut future_marker_vrf_proofs = Vec::new();
    let mut non_existence_of_future_marker_proofs = Vec::new();
    for version in markers {
        if version == 2 {
            future_marker_vrf_proofs.push(v2.existence_vrf_proof.clone());
            non_existence_of_future_marker_proofs.push(nonmembership_at_root(v2.existence_proof.label, children, root));
        } else {
            let k = honest_markers.iter().position(|&v| v == version).expect("a later marker is in the honest history");
            future_marker_vrf_proofs.push(honest.future_marker_vrf_proofs[k].clone());
            non_existence_of_future_marker_proofs.push(honest.non_existence_of_future_marker_proofs[k].clone());
        }
    }
    let history = HistoryProof {
        update_proofs: vec![v1.clone()],
        past_marker_vrf_proofs: vec![],
        existence_of_past_marker_proofs: vec![],
        future_marker_vrf_proofs,
        non_existence_of_future_marker_proofs,
    };
    Forged { lookup, history }
}

/// What building the main directory produced.
struct Built {
    vrf: Vec<u8>,
    roots: Vec<Digest>,
    lookups: Vec<LookupCase>,
    histories: Vec<HistoryCase>,
    append_only: Vec<AppendOnlyCase>,
    blobs: Vec<BlobCase>,
    forged: Vec<Value>,
}

async fn build() -> Built {
    let d = new_directory().await;
    let vrf = d.get_public_key().await.unwrap().as_bytes().to_vec();
    let empty = d.get_epoch_hash().await.unwrap();
    assert_eq!(empty.epoch(), 0);
    let mut roots = vec![empty.hash()];
    let mut versions = vec![0u64; FIRST + 35];
    let mut built = Built {
        vrf,
        roots: vec![],
        lookups: vec![],
        histories: vec![],
        append_only: vec![],
        blobs: vec![],
        forged: vec![],
    };
    let vrf = built.vrf.clone();

    for (epoch, labels) in schedule().into_iter().enumerate().skip(1) {
        let epoch = epoch as u64;
        let updates = labels
            .iter()
            .map(|&i| {
                versions[i] += 1;
                (label(i), value(i, versions[i]))
            })
            .collect();
        let head = d.publish(updates).await.unwrap();
        assert_eq!(head.epoch(), epoch);
        let root = head.hash();
        roots.push(root);

        for &(_, i) in LOOKUPS.iter().filter(|(e, _)| *e == epoch) {
            let (proof, head) = d.lookup(label(i)).await.unwrap();
            assert_eq!(head.hash(), root);
            let proof = pb::LookupProof::from(&proof).write_to_bytes().unwrap();
            let expect = verify_lookup(&vrf, &label(i), epoch, root, &proof).expect("akd verifies its own lookup");
            assert_eq!((expect.version, &expect.value), (versions[i], &value(i, versions[i])));
            built.lookups.push(LookupCase { label: label(i), epoch, root, proof, expect });
        }

        for &(_, i, most_recent) in HISTORIES.iter().filter(|(e, _, _)| *e == epoch) {
            let params = most_recent.map_or(HistoryParams::Complete, HistoryParams::MostRecent);
            let (proof, head) = d.key_history(&label(i), params).await.unwrap();
            assert_eq!(head.hash(), root);
            let bytes = pb::HistoryProof::from(&proof).write_to_bytes().unwrap();
            let expect = verify_history(&vrf, &label(i), epoch, root, most_recent, &bytes)
                .expect("akd verifies its own history");
            let shown = most_recent.map_or(versions[i], |n| (n as u64).min(versions[i]));
            assert_eq!(expect.len() as u64, shown);
            assert_eq!(expect[0].value, value(i, versions[i]));
            if i == TWO && epoch == EPOCHS && most_recent.is_none() {
                built.forged = forgeries(&vrf, &proof, epoch, root);
            }
            built.histories.push(HistoryCase { label: label(i), epoch, root, proof: bytes, most_recent, expect });
        }

        // The audit blob of the step that made this epoch, named by its end.
        let step = d.audit(epoch - 1, epoch).await.unwrap();
        let [single] = &step.proofs[..] else { panic!("one step, one proof") };
        let name = AuditBlobName { epoch, previous_hash: roots[epoch as usize - 1], current_hash: root };
        let blob = pb::SingleAppendOnlyProof::from(single).write_to_bytes().unwrap();
        assert!(verify_blob(name, blob.clone()).await, "akd verifies its own audit blob");
        built.blobs.push(BlobCase { name, blob });

        for &(start, _) in APPEND_ONLY.iter().filter(|(_, end)| *end == epoch) {
            let proof = d.audit(start, epoch).await.unwrap();
            let proof = pb::AppendOnlyProof::from(&proof).write_to_bytes().unwrap();
            let case_roots = roots[start as usize..=epoch as usize].to_vec();
            assert!(verify_append_only(case_roots.clone(), proof.clone()).await, "akd verifies its own audit");
            built.append_only.push(AppendOnlyCase { start, end: epoch, roots: case_roots, proof });
        }
    }
    assert!(!built.forged.is_empty(), "the forgeries were built");
    built.roots = roots;
    built
}

/// The forgeries as the JSON's `forged` entries, each accepted by akd.
fn forgeries(vrf: &[u8], honest: &HistoryProof, epoch: u64, root: Digest) -> Vec<Value> {
    let forged = forge(honest, epoch, root);
    let l = label(TWO);

    let lookup = pb::LookupProof::from(&forged.lookup).write_to_bytes().unwrap();
    let r = verify_lookup(vrf, &l, epoch, root, &lookup).expect("akd 0.13 accepts the forged lookup");
    assert_eq!((r.version, &r.value), (1, &value(TWO, 1)), "the forged lookup serves version 1 as current");

    let history = pb::HistoryProof::from(&forged.history).write_to_bytes().unwrap();
    let rs = verify_history(vrf, &l, epoch, root, None, &history).expect("akd 0.13 accepts the forged history");
    assert_eq!(rs.len(), 1, "the forged history hides version 2");

    vec![
        json!({
            "kind": "lookup", "label": hex(&l), "epoch": epoch, "root": hex(&root), "proof": hex(&lookup),
            "most_recent": null, "akd_result": result_json(&r),
            "note": "serves version 1 while version 2 exists: the freshness proof anchors the existing stale label of version 1 at the root",
        }),
        json!({
            "kind": "history", "label": hex(&l), "epoch": epoch, "root": hex(&root), "proof": hex(&history),
            "most_recent": null, "akd_result": results_json(&rs),
            "note": "a complete history hiding version 2: the future marker 2, which exists, is anchored at the root",
        }),
    ]
}

// ---- output -------------------------------------------------------------------

async fn flips(b: &Built) -> Vec<Value> {
    let mut out = Vec::new();
    let vrf = &b.vrf;
    for (k, c) in b.lookups.iter().enumerate() {
        let bits = flip_bits(c.proof.len());
        let accepted: Vec<(usize, Value)> = bits
            .par_iter()
            .filter_map(|&bit| {
                verify_lookup(vrf, &c.label, c.epoch, c.root, &flip(&c.proof, bit)).map(|r| (bit, result_json(&r)))
            })
            .collect();
        out.push(flips_json("lookup", k, bits.len(), accepted));
    }
    for (k, c) in b.histories.iter().enumerate() {
        let bits = flip_bits(c.proof.len());
        let accepted: Vec<(usize, Value)> = bits
            .par_iter()
            .filter_map(|&bit| {
                verify_history(vrf, &c.label, c.epoch, c.root, c.most_recent, &flip(&c.proof, bit))
                    .map(|r| (bit, results_json(&r)))
            })
            .collect();
        out.push(flips_json("history", k, bits.len(), accepted));
    }
    for (k, c) in b.append_only.iter().enumerate() {
        let roots = c.roots.clone();
        let accepted = accepted_audit_flips(&c.proof, |p| verify_append_only(roots.clone(), p)).await;
        let accepted = accepted.into_iter().map(|bit| (bit, Value::Null)).collect();
        out.push(flips_json("append_only", k, flip_bits(c.proof.len()).len(), accepted));
    }
    for (k, c) in b.blobs.iter().enumerate() {
        let name = c.name;
        let accepted = accepted_audit_flips(&c.blob, |p| verify_blob(name, p)).await;
        let accepted = accepted.into_iter().map(|bit| (bit, Value::Null)).collect();
        out.push(flips_json("blob", k, flip_bits(c.blob.len()).len(), accepted));
    }
    out
}

async fn run(out: &Path) {
    let t = Instant::now();
    let b = build().await;
    eprintln!("directory, proofs and forgeries: {:.1} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    // Flipped proofs make some akd code panic; those count as rejections and
    // their messages would only bury the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let flips = flips(&b).await;
    std::panic::set_hook(hook);
    eprintln!("flips: {:.1} s", t.elapsed().as_secs_f64());


    let lookups: Vec<Value> = b
        .lookups
        .iter()
        .map(|c| {
            json!({"label": hex(&c.label), "epoch": c.epoch, "root": hex(&c.root), "proof": hex(&c.proof),
                   "expect": result_json(&c.expect)})
        })
        .collect();
    let histories: Vec<Value> = b
        .histories
        .iter()
        .map(|c| {
            json!({"label": hex(&c.label), "epoch": c.epoch, "root": hex(&c.root), "proof": hex(&c.proof),
                   "most_recent": c.most_recent, "expect": results_json(&c.expect)})
        })
        .collect();
    let append_only: Vec<Value> = b
        .append_only
        .iter()
        .map(|c| {
            json!({"start_epoch": c.start, "end_epoch": c.end, "roots": c.roots.iter().map(|r| hex(r)).collect::<Vec<_>>(),
                   "proof": hex(&c.proof)})
        })
        .collect();
    let blobs: Vec<Value> = b.blobs.iter().map(|c| json!({"name": c.name.to_string(), "blob": hex(&c.blob)})).collect();

    let vectors = json!({
        "generator": GENERATOR,
        "akd_version": "0.13.0",
        "configuration": "whatsapp_v1",
        "vrf_public_key": hex(&b.vrf),
        "roots": b.roots.iter().map(|r| hex(r)).collect::<Vec<_>>(),
        "lookups": lookups,
        "histories": histories,
        "append_only": append_only,
        "blobs": blobs,
        "flips": flips,
        "forged": b.forged,
    });
    std::fs::write(out, serde_json::to_string_pretty(&vectors).unwrap() + "\n").unwrap();

    let accepted = |kind: &str| -> (usize, usize) {
        vectors["flips"].as_array().unwrap().iter().filter(|f| f["kind"] == kind).fold((0, 0), |(t, a), f| {
            (t + f["tried"].as_u64().unwrap() as usize, a + f["accepted"].as_array().unwrap().len())
        })
    };
    for kind in ["lookup", "history", "append_only", "blob"] {
        let (tried, acc) = accepted(kind);
        eprintln!("{kind}: {acc} of {tried} flips accepted by akd");
    }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: akd_vectors OUT.json"));
    let t = Instant::now();
    tokio::runtime::Runtime::new().unwrap().block_on(run(&out));
    eprintln!("wrote {} in {:.1} s", out.display(), t.elapsed().as_secs_f64());
}
