//! Many proofs per call: generation and lockstep verification agree with the
//! one-at-a-time paths, and a bad proof fails only its own verdict.

use veritree_core::{tree, verify, Hash, MemoryLog, Suite};

#[test]
fn many_proofs_match_single_ones_and_fail_individually() {
    for suite in Suite::ALL {
        let mut log = MemoryLog::new(suite);
        let leaves: Vec<Hash> = (0..1000u64).map(|i| suite.leaf_hash(&i.to_le_bytes())).collect();
        log.extend_leaf_hashes(&leaves);
        let size = 997;
        let root = log.root(size).unwrap();
        let idx: Vec<u64> = (0..size).rev().step_by(3).chain([0, 996, 500]).collect();
        let (nodes, offsets) = tree::inclusion_proofs(&log, &idx, size).unwrap();
        for (k, &i) in idx.iter().enumerate() {
            let single = tree::inclusion_proof(&log, i, size).unwrap();
            assert_eq!(&nodes[offsets[k] as usize..offsets[k + 1] as usize], &single[..]);
        }
        let mut lv: Vec<Hash> = idx.iter().map(|&i| leaves[i as usize]).collect();
        let all = verify::verify_inclusions(suite, &idx, size, &lv, &nodes, &offsets, &root).unwrap();
        assert!(all.iter().all(|&ok| ok));

        // Tamper with one leaf, one proof node and one index: exactly those fail.
        lv[5][0] ^= 1;
        let mut bad_nodes = nodes.clone();
        bad_nodes[offsets[9] as usize][3] ^= 1;
        let mut bad_idx = idx.clone();
        bad_idx[20] = size; // past the end
        let got = verify::verify_inclusions(suite, &bad_idx, size, &lv, &bad_nodes, &offsets, &root).unwrap();
        for (k, ok) in got.iter().enumerate() {
            assert_eq!(*ok, ![5, 9, 20].contains(&k), "proof {k}");
        }
        // Proofs of the wrong length (nodes shifted between neighbours) fail.
        let mut shifted = offsets.clone();
        shifted[1] -= 1;
        let got = verify::verify_inclusions(suite, &idx, size, &lv, &nodes, &shifted, &root).unwrap();
        assert!(!got[0] && !got[1]);
        assert!(verify::verify_inclusions(suite, &idx, size, &lv, &nodes, &offsets[1..], &root).is_err());
    }
}

#[test]
fn large_batches_verify_across_threads_and_reject_tampering() {
    let suite = Suite::Blake3;
    let n = 1u64 << 14;
    let leaves: Vec<Hash> = (0..n).map(|i| suite.leaf_hash(&i.to_le_bytes())).collect();
    let mut log = MemoryLog::new(suite);
    log.extend_leaf_hashes(&leaves);
    let size = n - 3;
    let root = log.root(size).unwrap();
    // Dense on the left, sparse on the right: both threads get real work.
    let idx: Vec<u64> = (0..size).filter(|i| i % 3 == 0 || (i > &8000 && i % 7 == 0)).collect();
    let lv: Vec<Hash> = idx.iter().map(|&i| leaves[i as usize]).collect();
    let proof = tree::batch_inclusion_proof(&log, &idx, size).unwrap();
    verify::verify_batch_inclusion(suite, &idx, size, &lv, &proof, &root).unwrap();
    for k in [0, proof.len() / 2, proof.len() - 1] {
        let mut bad = proof.clone();
        bad[k][0] ^= 1;
        assert!(verify::verify_batch_inclusion(suite, &idx, size, &lv, &bad, &root).is_err());
    }
    let mut bad_leaves = lv.clone();
    bad_leaves[lv.len() - 1][5] ^= 1;
    assert!(verify::verify_batch_inclusion(suite, &idx, size, &bad_leaves, &proof, &root).is_err());
    assert!(verify::verify_batch_inclusion(suite, &idx, size, &lv, &proof[1..], &root).is_err());
    let mut padded = proof.clone();
    padded.push([0; 32]);
    assert!(verify::verify_batch_inclusion(suite, &idx, size, &lv, &padded, &root).is_err());
}
