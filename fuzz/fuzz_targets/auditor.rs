//! The third-party auditor's checks of `AuditorUpdate`s: an auditor that
//! followed a real auditing directory for some entries gets, in any order,
//! the next honest update, earlier and later ones replayed, another
//! directory's, honest ones tampered with (leaves dropped, repeated, swapped,
//! changed or added, a search key swapped with its commitment, another
//! update's proof, the timestamp moved, bytes flipped or cut) and arbitrary
//! bytes. Whatever it accepts must be an insertion of new leaves, ascending,
//! into the tree it held, at a timestamp not older than the last: the head it
//! signs is checked against a model that grows the tree with the draft's
//! reference (`prefix_reference`) and the log with its entries. The honest
//! next update yields exactly the honest head; a refused one changes nothing,
//! so the honest update still does afterwards.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use veritree_core::kt::directory::Directory;
use veritree_fuzz::{prefix_reference, T0};
use veritree_verify::kt::auditor::{Auditor, AuditorUpdate, EMPTY_PROOF};
use veritree_verify::kt::log_tree::{LogEntry, LogTree};
use veritree_verify::kt::tree_head::{AuditorTreeHead, Configuration, Mode};
use veritree_verify::vrf::VrfSecretKey;
use veritree_verify::Hash;

/// Entries of the audited directory.
const N: usize = 12;

struct Honest {
    config: Configuration,
    auditor_key: SigningKey,
    /// The audited directory's updates and the heads an honest auditor signs.
    updates: Vec<Vec<u8>>,
    heads: Vec<AuditorTreeHead>,
    /// Another directory's updates (other keys and labels, the same auditor).
    other: Vec<Vec<u8>>,
}

fn directory(seed: u8, auditor_key: &SigningKey) -> (Directory, Configuration) {
    let signing = SigningKey::from_bytes(&[seed; 32]);
    let vrf = || VrfSecretKey::from_seed(&[seed + 1; 32]).expect("a seed");
    let config = Configuration {
        mode: Mode::ThirdPartyAuditing {
            max_auditor_lag: 60_000,
            auditor_start_pos: 0,
            auditor_public_key: auditor_key.verifying_key().as_bytes().to_vec(),
        },
        signature_public_key: signing.verifying_key().as_bytes().to_vec(),
        vrf_public_key: vrf().public_key().to_vec(),
        max_ahead: 60_000,
        max_behind: 24 * 3600 * 1000,
        reasonable_monitoring_window: 10_000,
        maximum_lifetime: None,
    };
    let mut d = Directory::new(config.clone(), signing, vrf(), 4).expect("a directory");
    // Entries that add nothing, one version, several (one label twice);
    // two entries share a timestamp.
    for i in 0..N as u64 {
        for j in 0..[1, 0, 3, 1][i as usize % 4] {
            d.stage(format!("{seed}.user{}", (i + j) % 5).as_bytes(), format!("keys {i}.{j}").as_bytes()).unwrap();
        }
        d.publish(T0 + 1000 * i.min(N as u64 - 2)).unwrap();
    }
    (d, config)
}

fn honest() -> &'static Honest {
    static H: OnceLock<Honest> = OnceLock::new();
    H.get_or_init(|| {
        let auditor_key = SigningKey::from_bytes(&[30; 32]);
        let (mut d, config) = directory(7, &auditor_key);
        let updates: Vec<Vec<u8>> = (0..N as u64).map(|x| d.auditor_update(x).unwrap()).collect();
        let mut auditor = Auditor::new(config.clone(), auditor_key.clone()).unwrap();
        let heads: Vec<AuditorTreeHead> = updates.iter().map(|u| auditor.process(u).unwrap()).collect();
        // The directory takes the honest auditor's last head: the two agree.
        let mut w = veritree_verify::kt::wire::Writer::default();
        heads[N - 1].encode(&mut w).unwrap();
        d.set_auditor_head(&w.buf).expect("the directory takes the honest head");
        let (o, _) = directory(40, &auditor_key);
        let other = (0..N as u64).map(|x| o.auditor_update(x).unwrap()).collect();
        Honest { config, auditor_key, updates, heads, other }
    })
}

#[derive(Arbitrary, Debug)]
struct Case {
    /// Honest updates the auditor processed before the steps.
    start: u8,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// The honest update after the last one accepted.
    Next,
    Replay(u8),
    Other(u8),
    /// Honest update `x` (`None`: the next one) tampered with.
    Tampered {
        x: Option<u8>,
        edits: Vec<Edit>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Timestamp(u64),
    TimestampBy(i16),
    SwapLeaves(u8, u8),
    DropLeaf(u8),
    RepeatLeaf(u8),
    /// A leaf's search key and commitment swapped.
    SwapFields(u8),
    FlipKey {
        leaf: u8,
        bit: u8,
    },
    FlipCommitment {
        leaf: u8,
        bit: u8,
    },
    AddLeaf {
        at: u8,
        key: [u8; 32],
        commitment: [u8; 32],
    },
    /// A leaf of another honest update, or of the other directory's.
    LeafFrom {
        leaf: u8,
        x: u8,
        other: bool,
    },
    ProofFrom {
        x: u8,
        other: bool,
    },
    FlipProof {
        at: u16,
        bit: u8,
    },
    CutProof(u16),
    /// In the encoded update.
    FlipByte {
        at: u16,
        bit: u8,
    },
    Cut(u16),
}

fn pick<T>(v: &[T], i: u8) -> Option<usize> {
    (!v.is_empty()).then(|| usize::from(i) % v.len())
}

fn decoded(h: &Honest, x: u8, other: bool) -> AuditorUpdate {
    let from = if other { &h.other } else { &h.updates };
    AuditorUpdate::from_bytes(&from[usize::from(x) % N]).expect("an honest update decodes")
}

/// Honest update `x` with `edits`, encoded.
fn tampered(h: &Honest, x: usize, edits: &[Edit]) -> Vec<u8> {
    let mut u = AuditorUpdate::from_bytes(&h.updates[x]).expect("an honest update decodes");
    let mut byte_edits = Vec::new();
    for e in edits.iter().take(4) {
        let a = &mut u.added;
        match *e {
            Edit::Timestamp(t) => u.timestamp = t,
            Edit::TimestampBy(by) => u.timestamp = u.timestamp.wrapping_add_signed(i64::from(by)),
            Edit::SwapLeaves(i, j) => {
                if let (Some(i), Some(j)) = (pick(a, i), pick(a, j)) {
                    a.swap(i, j);
                }
            }
            Edit::DropLeaf(i) => {
                if let Some(i) = pick(a, i) {
                    a.remove(i);
                }
            }
            Edit::RepeatLeaf(i) => {
                if let Some(i) = pick(a, i) {
                    a.insert(i, a[i]);
                }
            }
            Edit::SwapFields(i) => {
                if let Some(i) = pick(a, i) {
                    a[i] = (a[i].1, a[i].0);
                }
            }
            Edit::FlipKey { leaf, bit } => {
                if let Some(i) = pick(a, leaf) {
                    a[i].0[usize::from(bit) / 8] ^= 0x80 >> (bit % 8);
                }
            }
            Edit::FlipCommitment { leaf, bit } => {
                if let Some(i) = pick(a, leaf) {
                    a[i].1[usize::from(bit) / 8] ^= 0x80 >> (bit % 8);
                }
            }
            Edit::AddLeaf { at, key, commitment } => a.insert(usize::from(at) % (a.len() + 1), (key, commitment)),
            Edit::LeafFrom { leaf, x, other } => {
                let from = decoded(h, x, other).added;
                if let (Some(i), Some(j)) = (pick(a, leaf), pick(&from, leaf)) {
                    a[i] = from[j];
                }
            }
            Edit::ProofFrom { x, other } => u.proof = decoded(h, x, other).proof,
            Edit::FlipProof { at, bit } => {
                if !u.proof.is_empty() {
                    let i = usize::from(at) % u.proof.len();
                    u.proof[i] ^= 1 << (bit % 8);
                }
            }
            Edit::CutProof(len) => u.proof.truncate(usize::from(len) % (u.proof.len() + 1)),
            Edit::FlipByte { .. } | Edit::Cut(_) => byte_edits.push(e),
        }
    }
    let mut bytes = u.to_bytes().expect("at most 255 leaves");
    for e in byte_edits {
        match *e {
            Edit::FlipByte { at, bit } => {
                if !bytes.is_empty() {
                    let i = usize::from(at) % bytes.len();
                    bytes[i] ^= 1 << (bit % 8);
                }
            }
            Edit::Cut(len) => bytes.truncate(usize::from(len) % (bytes.len() + 1)),
            _ => unreachable!("only byte edits"),
        }
    }
    bytes
}

/// What the auditor has accepted: the prefix tree's leaves, the log's
/// entries, and whether that is the honest state after `x` updates.
struct Model {
    leaves: BTreeMap<[u8; 32], Hash>,
    entries: Vec<Hash>,
    last: u64,
    synced: Option<usize>,
}

impl Model {
    /// Checks an accepted update and the head signed for it against what
    /// the model makes of it, and takes it.
    fn accept(&mut self, h: &Honest, bytes: &[u8], head: &AuditorTreeHead) {
        let u = AuditorUpdate::from_bytes(bytes).expect("an accepted update decodes");
        assert!(u.timestamp >= self.last, "an entry older than the one before it accepted");
        assert!(u.added.windows(2).all(|w| w[0].0 < w[1].0), "leaves accepted out of order or twice");
        assert!(u.added.iter().all(|l| !self.leaves.contains_key(&l.0)), "a leaf accepted over an existing one");
        if u.added.is_empty() {
            assert_eq!(u.proof, EMPTY_PROOF, "an empty update accepted with a proof");
        }
        self.leaves.extend(u.added.iter().copied());
        let leaves: Vec<([u8; 32], Hash)> = self.leaves.iter().map(|(k, v)| (*k, *v)).collect();
        let prefix_root = prefix_reference::root(&leaves);
        self.entries.push(LogEntry { timestamp: u.timestamp, prefix_root }.leaf_value());
        let mut log = LogTree::default();
        self.entries.iter().for_each(|e| log.push(*e));
        let n = self.entries.len() as u64;
        assert_eq!((head.timestamp, head.tree_size), (u.timestamp, n), "a head for another entry");
        head.verify(&h.config, &log.root(n).unwrap()).expect("the head signs the log the accepted updates make");
        self.synced = match self.synced {
            Some(x) if x < N => {
                let honest = AuditorUpdate::from_bytes(&h.updates[x]).expect("an honest update decodes");
                let same = (honest.timestamp, &honest.added) == (u.timestamp, &u.added);
                if same {
                    assert_eq!(head, &h.heads[x], "the honest update's head");
                }
                same.then_some(x + 1)
            }
            _ => None,
        };
        self.last = u.timestamp;
    }
}

fuzz_target!(|case: Case| {
    let h = honest();
    let mut auditor = Auditor::new(h.config.clone(), h.auditor_key.clone()).unwrap();
    let mut model = Model { leaves: BTreeMap::new(), entries: Vec::new(), last: 0, synced: Some(0) };
    for x in 0..usize::from(case.start) % (N + 1) {
        let head = auditor.process(&h.updates[x]).expect("an honest update");
        model.accept(h, &h.updates[x], &head);
    }
    for step in case.steps.iter().take(6) {
        let next = model.synced.filter(|&x| x < N);
        let bytes = match step {
            Step::Next => match next {
                Some(x) => h.updates[x].clone(),
                None => continue,
            },
            Step::Replay(x) => h.updates[usize::from(*x) % N].clone(),
            Step::Other(x) => h.other[usize::from(*x) % N].clone(),
            Step::Tampered { x, edits } => match x.map(|x| usize::from(x) % N).or(next) {
                Some(x) => tampered(h, x, edits),
                None => continue,
            },
            Step::Raw(b) => b.clone(),
        };
        let size = auditor.size();
        match auditor.process(&bytes) {
            Ok(head) => model.accept(h, &bytes, &head),
            Err(e) if matches!(step, Step::Next) => panic!("the honest next update refused: {e}"),
            Err(_) => assert_eq!(auditor.size(), size, "a refused update changed the auditor"),
        }
    }
    if let Some(x) = model.synced.filter(|&x| x < N) {
        let head = auditor.process(&h.updates[x]).expect("the honest update after refused ones");
        assert_eq!(head, h.heads[x], "the honest update's head after refused ones");
    }
});
