//! Prefix-tree proofs, sound: over a real map of 200 keys, an honest proof
//! of a few keys (present and absent) is tampered as the input says (a byte
//! flipped, the proof cut, a claimed value changed, a presence claimed for an
//! absent key); whatever the verifier accepts against the true root must be
//! true. Arbitrary bytes as a proof never panic.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::map::Map;
use veritree_verify::prefix::{evaluate_prefix_proof, prefix_proof_inclusions, prefix_proof_len, Key, MapSuite, Value};
use veritree_verify::Hash;

const KEYS: u8 = 200;

fn key(i: u8) -> Key {
    let mut k = [0u8; 32];
    k[0] = i.wrapping_mul(37);
    k[1] = i;
    k
}

fn map() -> &'static (Map, Hash) {
    static MAP: OnceLock<(Map, Hash)> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = Map::new(MapSuite::KeytransSha256);
        let keys: Vec<Key> = (0..KEYS).map(key).collect();
        let values: Vec<Value> = (0..KEYS).map(|i| [i; 32]).collect();
        m.update(&keys, &values).expect("an update");
        let root = m.root(None).expect("a root");
        (m, root)
    })
}

#[derive(Arbitrary, Debug)]
struct Case {
    /// Keys asked: below KEYS present, above absent.
    asked: Vec<u8>,
    flips: Vec<(u16, u8)>,
    cut: Option<u16>,
    /// A claim changed: (which key, the value claimed, or absent).
    claim: Option<(u8, Option<[u8; 32]>)>,
    raw: Vec<u8>,
}

fn truth(k: &Key) -> Option<Value> {
    (k[0] == k[1].wrapping_mul(37) && k[1] < KEYS && k[2..] == [0; 30]).then(|| [k[1]; 32])
}

fuzz_target!(|case: Case| {
    let (m, root) = map();
    let suite = MapSuite::KeytransSha256;
    let _ = prefix_proof_len(&case.raw);
    let _ = prefix_proof_inclusions(&case.raw);
    let mut keys: Vec<Key> = case.asked.iter().take(8).map(|&i| key(i)).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return;
    }
    let _ = evaluate_prefix_proof(suite, &keys, &vec![None; keys.len()], &case.raw);
    let mut proof = m.prove(&keys, None).expect("an honest proof");
    let mut values: Vec<Option<Value>> = keys.iter().map(truth).collect();
    assert_eq!(evaluate_prefix_proof(suite, &keys, &values, &proof).ok(), Some(*root), "the honest proof verifies");
    for &(at, bit) in case.flips.iter().take(3) {
        if !proof.is_empty() {
            let n = at as usize % proof.len();
            proof[n] ^= 1 << (bit % 8);
        }
    }
    if let Some(cut) = case.cut {
        proof.truncate(cut as usize % (proof.len() + 1));
    }
    if let Some((which, value)) = case.claim {
        let n = which as usize % keys.len();
        values[n] = value;
    }
    if evaluate_prefix_proof(suite, &keys, &values, &proof).ok() == Some(*root) {
        for (k, v) in keys.iter().zip(&values) {
            assert_eq!(*v, truth(k), "a prefix proof accepted for a false claim");
        }
    }
});
