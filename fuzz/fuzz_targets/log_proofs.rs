//! Log proofs, differential and sound: over a real tree of up to 300 leaves,
//! an honest proof is tampered as the input says (a node flipped, dropped,
//! added, the index, sizes or leaf changed); the engine's inclusion and
//! consistency verifiers must agree with RFC 9162's algorithms written
//! plainly (`reference`), and no verifier may accept a claim that is false.
//! Batch proofs: the engine agrees with a reference built on RFC 9162's
//! audit paths, and accepts only the true leaves at the claimed indices.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_core::MemoryLog;
use veritree_fuzz::{leaves, reference};
use veritree_verify::{tree, verify, Hash, Suite};

#[derive(Arbitrary, Debug)]
struct Case {
    blake3: bool,
    size: u16,
    index: u16,
    old: u16,
    tamper: Vec<Tamper>,
    batch: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Tamper {
    Flip { node: u8, byte: u8, bit: u8 },
    Drop { node: u8 },
    Add { node: [u8; 32] },
    Index(u16),
    Size(u16),
    Leaf([u8; 32]),
}

fn apply(t: &[Tamper], proof: &mut Vec<Hash>, index: &mut u64, size: &mut u64, leaf: &mut Hash) {
    for t in t.iter().take(4) {
        match t {
            Tamper::Flip { node, byte, bit } if !proof.is_empty() => {
                let n = *node as usize % proof.len();
                proof[n][*byte as usize % 32] ^= 1 << (bit % 8);
            }
            Tamper::Drop { node } if !proof.is_empty() => {
                proof.remove(*node as usize % proof.len());
            }
            Tamper::Add { node } => proof.push(*node),
            Tamper::Index(i) => *index = u64::from(*i),
            Tamper::Size(s) => *size = u64::from(*s),
            Tamper::Leaf(l) => *leaf = *l,
            _ => {}
        }
    }
}

fuzz_target!(|case: Case| {
    let suite = if case.blake3 { Suite::Blake3 } else { Suite::Rfc6962Sha256 };
    let n = u64::from(case.size % 300) + 1;
    let all = leaves(suite, n);
    let root = reference::root(suite, &all);

    // Inclusion.
    let i = u64::from(case.index) % n;
    let mut proof = reference::path(suite, i as usize, &all);
    let (mut index, mut size, mut leaf) = (i, n, all[i as usize]);
    apply(&case.tamper, &mut proof, &mut index, &mut size, &mut leaf);
    let ours = verify::verify_inclusion(suite, index, size, &leaf, &proof, &root).is_ok();
    let rfc = reference::verify_inclusion(suite, index, size, &leaf, &proof, &root);
    assert_eq!(ours, rfc, "inclusion: the engine and RFC 9162 disagree");
    if ours && size == n {
        assert_eq!(leaf, all[index as usize], "an inclusion proof of a leaf the tree does not hold");
    }

    // Consistency.
    let m = u64::from(case.old) % n + 1;
    let mut proof = reference::consistency(suite, m as usize, &all);
    let (mut old, mut new, mut old_root) = (m, n, reference::root(suite, &all[..m as usize]));
    apply(&case.tamper, &mut proof, &mut old, &mut new, &mut old_root);
    let ours = verify::verify_consistency(suite, old, new, &old_root, &root, &proof).is_ok();
    if old > 0 {
        let rfc = reference::verify_consistency(suite, old, new, &old_root, &root, &proof);
        assert_eq!(ours, rfc, "consistency: the engine and RFC 9162 disagree");
    }
    if ours && new == n && old <= n && old > 0 {
        assert_eq!(old_root, reference::root(suite, &all[..old as usize]), "a consistency proof of a false old root");
    }

    // Batch inclusion: an honest proof, then the claimed leaves or indices tampered.
    let mut indices: Vec<u64> = case.batch.iter().take(16).map(|&i| u64::from(i) % n).collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.is_empty() {
        return;
    }
    let mut log = MemoryLog::new(suite);
    log.extend_leaf_hashes(&all);
    let mut proof = tree::batch_inclusion_proof(&log, &indices, n).expect("an honest batch proof");
    let mut claimed: Vec<Hash> = indices.iter().map(|&i| all[i as usize]).collect();
    assert!(verify::verify_batch_inclusion(suite, &indices, n, &claimed, &proof, &root).is_ok());
    let (mut first, mut size, mut leaf) = (indices[0], n, claimed[0]);
    apply(&case.tamper, &mut proof, &mut first, &mut size, &mut leaf);
    indices[0] = first;
    claimed[0] = leaf;
    let ours = verify::verify_batch_inclusion(suite, &indices, size, &claimed, &proof, &root).is_ok();
    let paths = reference::verify_batch_inclusion(suite, &indices, size, &claimed, &proof, &root);
    assert_eq!(ours, paths, "batch inclusion: the engine and the audit-path reference disagree");
    if ours && size == n {
        for (i, l) in indices.iter().zip(&claimed) {
            assert_eq!(*l, all[*i as usize], "a batch proof of a leaf the tree does not hold");
        }
    }
});
