//! veritree's akd verifier on arbitrary bytes (the first selects what they
//! are): a lookup or key-history proof against akd's published vector
//! (tests/vectors/akd), an append-only proof and an audit blob against the
//! generated chain (no panic: any valid step verifies). Nothing panics, and a lookup or complete history that
//! verifies shows exactly what the honest proof shows: every part of one
//! is bound (VRF proofs are unique, paths are fixed by the tree, values by
//! their commitments), so a different answer would be a forgery.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use veritree_verify::akd::{self, Version};

const PUBLISHED: &str = include_str!("../../tests/vectors/akd/akd-published-whatsapp_v1.json");
const GENERATED: &str = include_str!("../../tests/vectors/akd/akd-0.13.json");

/// A string field's hex value, the first after `after` (no JSON parser
/// needed for these two files' flat fields).
fn hex_field(text: &str, name: &str, after: usize) -> Vec<u8> {
    let key = format!("\"{name}\": \"");
    let start = after + text[after..].find(&key).expect("field") + key.len();
    let end = start + text[start..].find('"').expect("end");
    (start..end).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

struct Honest {
    key: Vec<u8>,
    root: [u8; 32],
    label: Vec<u8>,
    lookup: Version,
    history: Vec<Version>,
    chain: Vec<[u8; 32]>,
}

fn honest() -> &'static Honest {
    static H: OnceLock<Honest> = OnceLock::new();
    H.get_or_init(|| {
        let key = hex_field(PUBLISHED, "vrf_public_key", 0);
        let root: [u8; 32] = hex_field(PUBLISHED, "root", 0).try_into().unwrap();
        let label = hex_field(PUBLISHED, "label", 0);
        let lookup = akd::verify_lookup(&key, &root, 49, &label, &hex_field(PUBLISHED, "lookup_proof", 0)).unwrap();
        let history =
            akd::verify_history(&key, &root, 49, &label, &hex_field(PUBLISHED, "history_complete", 0), None).unwrap();
        let roots = GENERATED.find("\"roots\": [").expect("roots");
        let list = &GENERATED[roots + 10..roots + GENERATED[roots..].find(']').unwrap()];
        let chain = list
            .split(',')
            .map(|r| {
                let r = r.trim().trim_matches('"');
                let b: Vec<u8> = (0..64).step_by(2).map(|i| u8::from_str_radix(&r[i..i + 2], 16).unwrap()).collect();
                b.try_into().unwrap()
            })
            .collect();
        Honest { key, root, label, lookup, history, chain }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = honest();
    let Some((&kind, rest)) = data.split_first() else { return };
    match kind % 4 {
        0 => {
            if let Ok(v) = akd::verify_lookup(&h.key, &h.root, 49, &h.label, rest) {
                assert_eq!(v, h.lookup, "a lookup verified with another answer");
            }
        }
        1 => {
            let most_recent = (kind / 4 % 4 != 0).then_some(u64::from(kind / 4 % 4));
            if let Ok(vs) = akd::verify_history(&h.key, &h.root, 49, &h.label, rest, most_recent) {
                let n = vs.len();
                assert_eq!(vs[..], h.history[..n], "a history verified with other versions");
                assert!(most_recent.is_some() || n == h.history.len(), "a complete history lost versions");
            }
        }
        2 => {
            let start = usize::from(kind / 4) % (h.chain.len() - 1);
            let _ = akd::verify_append_only(&h.chain[start..], rest);
            let _ = akd::verify_append_only(&h.chain[start..start + 2], rest);
        }
        _ => {
            let (name, blob) = rest.split_at(rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()));
            if let Ok(name) = std::str::from_utf8(name) {
                // Any valid step verifies: no answer to compare with.
                let _ = akd::verify_audit_blob(name, blob.get(1..).unwrap_or_default());
            }
        }
    }
});
