//! Prefix-tree proofs, differential: over a real map of 64 keys (pairs among
//! them share long prefixes), an honest proof of a few keys (present, absent
//! beside another key's leaf, absent under a missing child) is decoded and
//! tampered with as the input says (result types, depths and shown leaves
//! changed; results and elements dropped, repeated, swapped, changed or
//! added; claims and the request changed), then its bytes flipped or cut.
//! The engine's verifier and the reference written from the draft
//! (`prefix_reference`) must lead to the same root or both refuse; what
//! leads to the true root must be true; and inserting absent keys (what an
//! auditor does) must grow the tree the reference grows.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::map::Map;
use veritree_fuzz::prefix_reference::{self, Found, Proof};
use veritree_verify::prefix::{evaluate_prefix_proof, prefix_proof_inclusions, prefix_proof_insert, prefix_proof_len};
use veritree_verify::prefix::{Key, MapSuite, Value};
use veritree_verify::Hash;

/// Keys `0..PRESENT` are in the map; the others are absent (unless a flip
/// happens to give a present one).
const PRESENT: u8 = 64;
const SUITE: MapSuite = MapSuite::KeytransSha256;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn flip(mut k: Key, bit: usize) -> Key {
    k[bit / 8] ^= 0x80 >> (bit % 8);
    k
}

/// Present keys spread out, every fourth the one before with a bit flipped
/// (a pair under a shared prefix, its leaves as deep as depth 255, the
/// deepest a `PrefixProof` encodes); absent keys are present ones with one
/// bit flipped, shallow or deep.
fn key(i: u8) -> Key {
    if i >= PRESENT {
        return flip(key(i % PRESENT), usize::from(i).wrapping_mul(29) % 256);
    }
    if i % 4 == 3 {
        return flip(key(i - 1), [9, 17, 30, 47, 63, 64, 128, 254][usize::from(i / 4) % 8]);
    }
    let mut k = [0; 32];
    for (w, chunk) in k.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(u64::from(i) * 4 + w as u64 + 1).to_le_bytes());
    }
    k
}

fn value(i: u8) -> Value {
    [i ^ 0x5a; 32]
}

struct Honest {
    map: Map,
    root: Hash,
    model: BTreeMap<Key, Value>,
}

fn honest() -> &'static Honest {
    static H: OnceLock<Honest> = OnceLock::new();
    H.get_or_init(|| {
        let model: BTreeMap<Key, Value> = (0..PRESENT).map(|i| (key(i), value(i))).collect();
        let mut map = Map::new(SUITE);
        let (keys, values): (Vec<Key>, Vec<Value>) = model.iter().map(|(k, v)| (*k, *v)).unzip();
        map.update(&keys, &values).expect("an update");
        let root = map.root(None).expect("a root");
        let leaves: Vec<(Key, Hash)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(prefix_reference::root(&leaves), root, "the map's root is not the draft's");
        Honest { map, root, model }
    })
}

#[derive(Arbitrary, Debug)]
struct Case {
    asked: Vec<u8>,
    /// Ask in ascending key order (as an auditor's insertion needs).
    sorted: bool,
    edits: Vec<Edit>,
    flips: Vec<u16>,
    cut: Option<u16>,
}

#[derive(Arbitrary, Debug)]
enum Edit {
    /// 0 and 4 are no result type.
    Type {
        result: u8,
        to: u8,
    },
    Depth {
        result: u8,
        to: u8,
    },
    DepthBy {
        result: u8,
        by: i8,
    },
    /// Shows key `key`'s leaf (its true value, or another) as where a search ended.
    Shown {
        result: u8,
        key: u8,
        value: Option<u8>,
    },
    SwapResults(u8, u8),
    DropResult(u8),
    RepeatResult(u8),
    FlipElement {
        at: u8,
        byte: u8,
        bit: u8,
    },
    ZeroElement(u8),
    DropElement(u8),
    RepeatElement(u8),
    SwapElements(u8, u8),
    AddElement {
        at: u8,
        value: [u8; 32],
    },
    /// Claims key `which` holds key `value`'s value, or nothing.
    Claim {
        which: u8,
        value: Option<u8>,
    },
    Ask {
        at: u8,
        key: u8,
    },
    Unask(u8),
    SwapKeys(u8, u8),
}

fn pick<T>(v: &[T], i: u8) -> Option<usize> {
    (!v.is_empty()).then(|| usize::from(i) % v.len())
}

fn apply(e: &Edit, p: &mut Proof, keys: &mut Vec<Key>, values: &mut Vec<Option<Value>>) {
    let (r, el) = (&mut p.results, &mut p.elements);
    match *e {
        Edit::Type { result, to } => {
            if let Some(i) = pick(r, result) {
                r[i].0 = match to % 5 {
                    1 => Found::Inclusion,
                    2 => Found::NonInclusionLeaf(key(0), value(0)),
                    3 => Found::NonInclusionParent,
                    t => Found::Other(t),
                };
            }
        }
        Edit::Depth { result, to } => {
            if let Some(i) = pick(r, result) {
                r[i].1 = to;
            }
        }
        Edit::DepthBy { result, by } => {
            if let Some(i) = pick(r, result) {
                r[i].1 = r[i].1.wrapping_add_signed(by);
            }
        }
        Edit::Shown { result, key: k, value: v } => {
            if let Some(i) = pick(r, result) {
                let shown = key(k);
                let held = honest().model.get(&shown).copied().unwrap_or(value(k));
                r[i].0 = Found::NonInclusionLeaf(shown, v.map_or(held, value));
            }
        }
        Edit::SwapResults(a, b) => {
            if let (Some(a), Some(b)) = (pick(r, a), pick(r, b)) {
                r.swap(a, b);
            }
        }
        Edit::DropResult(i) => {
            if let Some(i) = pick(r, i) {
                r.remove(i);
            }
        }
        Edit::RepeatResult(i) => {
            if let Some(i) = pick(r, i).filter(|_| r.len() < 255) {
                r.insert(i, r[i].clone());
            }
        }
        Edit::FlipElement { at, byte, bit } => {
            if let Some(i) = pick(el, at) {
                el[i][usize::from(byte) % 32] ^= 1 << (bit % 8);
            }
        }
        Edit::ZeroElement(i) => {
            if let Some(i) = pick(el, i) {
                el[i] = [0; 32];
            }
        }
        Edit::DropElement(i) => {
            if let Some(i) = pick(el, i) {
                el.remove(i);
            }
        }
        Edit::RepeatElement(i) => {
            if let Some(i) = pick(el, i) {
                el.insert(i, el[i]);
            }
        }
        Edit::SwapElements(a, b) => {
            if let (Some(a), Some(b)) = (pick(el, a), pick(el, b)) {
                el.swap(a, b);
            }
        }
        Edit::AddElement { at, value } => el.insert(usize::from(at) % (el.len() + 1), value),
        Edit::Claim { which, value: v } => {
            if let Some(i) = pick(values, which) {
                values[i] = v.map(|v| honest().model.get(&key(v)).copied().unwrap_or(value(v)));
            }
        }
        Edit::Ask { at, key: k } => {
            let at = usize::from(at) % (keys.len() + 1);
            keys.insert(at, key(k));
            values.insert(at, honest().model.get(&key(k)).copied());
        }
        Edit::Unask(i) => {
            if let Some(i) = pick(keys, i) {
                keys.remove(i);
                values.remove(i);
            }
        }
        Edit::SwapKeys(a, b) => {
            if let (Some(a), Some(b)) = (pick(keys, a), pick(keys, b)) {
                keys.swap(a, b);
                values.swap(a, b);
            }
        }
    }
}

fuzz_target!(|case: Case| {
    let h = honest();
    let mut keys: Vec<Key> = Vec::new();
    for k in case.asked.iter().take(8).map(|&i| key(i)) {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    if keys.is_empty() {
        return;
    }
    if case.sorted {
        keys.sort_unstable();
    }
    let mut values: Vec<Option<Value>> = keys.iter().map(|k| h.model.get(k).copied()).collect();
    let bytes = h.map.prove(&keys, None).expect("an honest proof");
    assert_eq!(
        prefix_reference::evaluate(&keys, &values, &bytes),
        Some(h.root),
        "the reference refuses an honest proof"
    );
    let mut proof = Proof::decode(&bytes).expect("the reference decodes an honest proof");
    for e in case.edits.iter().take(4) {
        apply(e, &mut proof, &mut keys, &mut values);
    }
    let mut bytes = proof.encode();
    for f in case.flips.iter().take(2) {
        let bit = usize::from(*f) % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
    if let Some(cut) = case.cut {
        bytes.truncate(usize::from(cut) % (bytes.len() + 1));
    }

    // Decoding: the engine's readers and the reference's agree on what is a proof.
    let decoded = Proof::decode(&bytes);
    let inclusions = decoded.as_ref().map(|p| p.results.iter().map(|r| r.0 == Found::Inclusion).collect::<Vec<_>>());
    assert_eq!(prefix_proof_inclusions(&bytes).ok(), inclusions, "decoding: the engine and the draft disagree");
    assert_eq!(prefix_proof_len(&bytes).ok() == Some(bytes.len()), decoded.is_some(), "a proof's length");

    // Verification.
    let ours = evaluate_prefix_proof(SUITE, &keys, &values, &bytes).ok();
    let draft = prefix_reference::evaluate(&keys, &values, &bytes);
    assert_eq!(ours, draft, "verification: the engine and the draft disagree");
    if ours == Some(h.root) {
        for (k, v) in keys.iter().zip(&values) {
            assert_eq!(*v, h.model.get(k).copied(), "a prefix proof accepted for a false claim");
        }
    }

    // Insertion of the asked keys, as absent ones, with new values.
    let leaves: Vec<(Key, Value)> = keys.iter().zip(0u8..).map(|(k, i)| (*k, [0xe0 | i; 32])).collect();
    let absent = prefix_reference::evaluate(&keys, &vec![None; keys.len()], &bytes);
    match prefix_proof_insert(SUITE, &leaves, &bytes) {
        Ok((old, new)) => {
            assert_eq!(Some(old), absent, "an insertion from a proof the draft does not accept");
            if old == h.root {
                let mut grown: Vec<(Key, Hash)> = h.model.iter().map(|(k, v)| (*k, *v)).collect();
                grown.extend(&leaves);
                assert_eq!(new, prefix_reference::root(&grown), "an insertion grew another tree");
            }
        }
        Err(_) => assert!(
            absent.is_none() || !keys.windows(2).all(|w| w[0] < w[1]),
            "an insertion refused though the proof shows its keys absent, in order"
        ),
    }
});
