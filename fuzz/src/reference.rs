//! RFC 9162's Merkle tree hash, audit paths and proof verification, written
//! from the RFC's text as plainly as it reads, and batch inclusion proofs
//! built on its audit paths: a second implementation that the engines'
//! verifiers must agree with.

use std::collections::{BTreeMap, BTreeSet};

use veritree_verify::{Hash, Suite};

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
pub fn root(suite: Suite, leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => suite.empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            suite.node_hash(&root(suite, &leaves[..k]), &root(suite, &leaves[k..]))
        }
    }
}

/// PATH(m, D[n]) (RFC 9162 §2.1.3.1).
pub fn path(suite: Suite, m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(suite, m, &leaves[..k]);
        p.push(root(suite, &leaves[k..]));
        p
    } else {
        let mut p = path(suite, m - k, &leaves[k..]);
        p.push(root(suite, &leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]) (RFC 9162 §2.1.4.1).
pub fn consistency(suite: Suite, m: usize, leaves: &[Hash]) -> Vec<Hash> {
    fn subproof(suite: Suite, m: usize, d: &[Hash], whole: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if whole { Vec::new() } else { vec![root(suite, d)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = subproof(suite, m, &d[..k], whole);
            p.push(root(suite, &d[k..]));
            p
        } else {
            let mut p = subproof(suite, m - k, &d[k..], false);
            p.push(root(suite, &d[..k]));
            p
        }
    }
    subproof(suite, m, leaves, true)
}

/// RFC 9162 §2.1.3.2: verifies an inclusion proof.
pub fn verify_inclusion(suite: Suite, index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = suite.node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = suite.node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: verifies a consistency proof (0 < first).
pub fn verify_consistency(suite: Suite, first: u64, second: u64, first_hash: &Hash, second_hash: &Hash, proof: &[Hash]) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_hash == second_hash;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path = proof.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_hash);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = suite.node_hash(c, &fr);
            sr = suite.node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = suite.node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_hash && sr == *second_hash && s == 0
}

/// The subtrees, as leaf ranges `[begin, end)`, whose hashes PATH(m, D[n])
/// lists for leaf `m` of `[begin, end)`, bottom up.
fn path_ranges(m: u64, begin: u64, end: u64) -> Vec<(u64, u64)> {
    if end - begin <= 1 {
        return Vec::new();
    }
    let mid = begin + split((end - begin) as usize) as u64;
    let (mut p, sibling) =
        if m < mid { (path_ranges(m, begin, mid), (mid, end)) } else { (path_ranges(m, mid, end), (begin, mid)) };
    p.push(sibling);
    p
}

/// Verifies a batch inclusion proof: the hashes, left to right, of the
/// subtrees on the audit paths (PATH above) of the leaves at `indices` that
/// hold none of those leaves, which is all a verifier cannot compute.
pub fn verify_batch_inclusion(
    suite: Suite,
    indices: &[u64],
    size: u64,
    leaves: &[Hash],
    proof: &[Hash],
    root: &Hash,
) -> bool {
    let increasing = indices.windows(2).all(|w| w[0] < w[1]);
    if indices.is_empty() || indices.len() != leaves.len() || !increasing || indices[indices.len() - 1] >= size {
        return false;
    }
    let holds_none = |r: &(u64, u64)| !indices.iter().any(|&i| r.0 <= i && i < r.1);
    let needed: BTreeSet<(u64, u64)> =
        indices.iter().flat_map(|&i| path_ranges(i, 0, size)).filter(holds_none).collect();
    if needed.len() != proof.len() {
        return false;
    }
    // The ranges do not overlap: ordered by where they begin, they go left to right.
    let mut known: BTreeMap<(u64, u64), Hash> = needed.into_iter().zip(proof.iter().copied()).collect();
    known.extend(indices.iter().zip(leaves).map(|(&i, l)| ((i, i + 1), *l)));
    fn mth(suite: Suite, begin: u64, end: u64, known: &BTreeMap<(u64, u64), Hash>) -> Option<Hash> {
        if let Some(h) = known.get(&(begin, end)) {
            return Some(*h);
        }
        if end - begin == 1 {
            return None;
        }
        let mid = begin + split((end - begin) as usize) as u64;
        Some(suite.node_hash(&mth(suite, begin, mid, known)?, &mth(suite, mid, end, known)?))
    }
    mth(suite, 0, size, &known) == Some(*root)
}
