//! akd's published WhatsApp v1 test vectors (facebook/akd
//! examples/src/test_vectors/whatsapp_v1.yaml), and tampered copies of them.

use serde_json::Value;
use veritree_verify::akd::{self, Version};

const PUBLISHED: &str = include_str!("../../../tests/vectors/akd/akd-published-whatsapp_v1.json");

struct Case {
    key: Vec<u8>,
    root: [u8; 32],
    epoch: u64,
    label: Vec<u8>,
    lookup: Vec<u8>,
    recent: Vec<u8>,
    complete: Vec<u8>,
}

fn case() -> Case {
    let v: Value = serde_json::from_str(PUBLISHED).unwrap();
    let hex = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    Case {
        key: hex("vrf_public_key"),
        root: hex("root").try_into().unwrap(),
        epoch: v["epoch"].as_u64().unwrap(),
        label: hex("label"),
        lookup: hex("lookup_proof"),
        recent: hex("history_most_recent_1"),
        complete: hex("history_complete"),
    }
}

#[test]
fn the_published_lookup_and_histories_verify() {
    let c = case();
    let found = akd::verify_lookup(&c.key, &c.root, c.epoch, &c.label, &c.lookup).unwrap();
    let history = akd::verify_history(&c.key, &c.root, c.epoch, &c.label, &c.complete, None).unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0], found, "the newest version is the one a lookup finds");
    assert!(history.windows(2).all(|w| w[0].version == w[1].version + 1 && w[0].epoch > w[1].epoch));
    assert_eq!(history[2].version, 1);
    let recent = akd::verify_history(&c.key, &c.root, c.epoch, &c.label, &c.recent, Some(1)).unwrap();
    assert_eq!(recent, vec![found.clone()]);
    // Asked for more than one version, a single one (not from version 1) is too few.
    assert!(akd::verify_history(&c.key, &c.root, c.epoch, &c.label, &c.recent, Some(2)).is_err());
    // A history of the most recent version is not a complete history.
    assert!(akd::verify_history(&c.key, &c.root, c.epoch, &c.label, &c.recent, None).is_err());
    let _: Version = found;
}

#[test]
fn the_published_proofs_do_not_verify_for_anything_else() {
    let c = case();
    let mut other_root = c.root;
    other_root[0] ^= 1;
    let mut other_key = c.key.clone();
    other_key[0] ^= 1;
    assert!(akd::verify_lookup(&c.key, &other_root, c.epoch, &c.label, &c.lookup).is_err());
    assert!(akd::verify_lookup(&other_key, &c.root, c.epoch, &c.label, &c.lookup).is_err());
    assert!(akd::verify_lookup(&c.key, &c.root, c.epoch, b"17", &c.lookup).is_err());
    assert!(akd::verify_history(&c.key, &c.root, c.epoch, b"17", &c.complete, None).is_err());
    // The same root seen at epoch 490 asks for version 256 to be proven absent too.
    assert!(akd::verify_history(&c.key, &c.root, c.epoch * 10, &c.label, &c.complete, None).is_err());
}

#[test]
fn every_truncation_of_a_published_proof_is_refused() {
    let c = case();
    for n in 0..c.lookup.len() {
        assert!(akd::verify_lookup(&c.key, &c.root, c.epoch, &c.label, &c.lookup[..n]).is_err(), "cut at {n}");
    }
}

#[test]
fn every_bit_flip_of_the_published_lookup_is_refused() {
    // Every byte matters in an honest lookup: hashes, labels, VRF proofs
    // and the field tags (a flipped tag is an unknown field or wire type).
    let c = case();
    for bit in 0..c.lookup.len() * 8 {
        let mut p = c.lookup.clone();
        p[bit / 8] ^= 1 << (bit % 8);
        if let Ok(v) = akd::verify_lookup(&c.key, &c.root, c.epoch, &c.label, &p) {
            panic!("bit {bit} flipped still verifies: {v:?}");
        }
    }
}

#[test]
fn the_empty_trees_root_is_akds() {
    // akd: H(H(0x00) ‖ H(root label)), the root of a directory before its first epoch.
    assert_eq!(
        hex::encode(akd::empty_root()),
        hex::encode(blake3::hash(&[blake3::hash(&[0]).as_bytes().as_slice(), blake3::hash(&[0u8; 36]).as_bytes()].concat()).as_bytes())
    );
}
