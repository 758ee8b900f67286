//! Proof verification. A verifier holds no log: only sizes, roots and proofs.

use rayon::prelude::*;

use crate::error::{failed, invalid, Error, Result};
use crate::suite::{Hash, Suite};
use crate::tree::{check_batch_indices, split_point};

/// The root that an RFC 9162 §2.1.3.2 inclusion proof implies for `leaf` at
/// `index` in a tree of `size` leaves.
pub fn root_from_inclusion_proof(suite: Suite, index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Result<Hash> {
    if index >= size {
        return Err(failed(format!("index {index} is not below the tree size {size}")));
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if snode == 0 {
            return Err(failed("inclusion proof is longer than the tree is deep"));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = suite.node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = suite.node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(failed("inclusion proof is shorter than the path to the root"));
    }
    Ok(r)
}

/// Verifies an RFC 9162 inclusion proof.
pub fn verify_inclusion(suite: Suite, index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<()> {
    let got = root_from_inclusion_proof(suite, index, size, leaf, proof)?;
    if &got != root {
        return Err(failed("inclusion proof does not lead to the root"));
    }
    Ok(())
}

/// Verifies many inclusion proofs against one root, on every core.
///
/// `proofs` holds the proof nodes back to back; proof `i` is
/// `proofs[offsets[i]..offsets[i + 1]]`. Returns one verdict per proof.
/// Proofs are walked in lockstep groups so that each step hashes one node of
/// every proof in the group with the suite's many-input path.
pub fn verify_inclusions(
    suite: Suite,
    indices: &[u64],
    size: u64,
    leaves: &[Hash],
    proofs: &[Hash],
    offsets: &[u64],
    root: &Hash,
) -> Result<Vec<bool>> {
    if leaves.len() != indices.len() || offsets.len() != indices.len() + 1 {
        return Err(invalid(format!(
            "need as many leaf hashes as indices and one more offset: {} indices, {} leaf hashes, {} offsets",
            indices.len(),
            leaves.len(),
            offsets.len()
        )));
    }
    if offsets[0] != 0 || offsets[indices.len()] != proofs.len() as u64 || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(invalid("offsets must rise from 0 to the number of proof nodes"));
    }
    let mut verdicts = vec![false; indices.len()];
    verdicts.par_chunks_mut(LOCKSTEP).enumerate().for_each(|(g, out)| {
        let start = g * LOCKSTEP;
        let lanes = (start..start + out.len()).map(|i| {
            let proof = &proofs[offsets[i] as usize..offsets[i + 1] as usize];
            Lane::new(indices[i], size, leaves[i], proof)
        });
        verify_lockstep(suite, lanes, root, out);
    });
    Ok(verdicts)
}

/// Proofs walked together by [`verify_inclusions`].
const LOCKSTEP: usize = 64;

/// One inclusion proof part-way through RFC 9162's verification loop.
struct Lane<'a> {
    fnode: u64,
    snode: u64,
    r: Hash,
    proof: &'a [Hash],
    failed: bool,
}

impl<'a> Lane<'a> {
    fn new(index: u64, size: u64, leaf: Hash, proof: &'a [Hash]) -> Self {
        let failed = index >= size;
        Lane { fnode: index, snode: size.wrapping_sub(1), r: leaf, proof, failed }
    }

    /// Writes the next node's children into `pair` and advances the indices,
    /// or returns false when the walk is over.
    fn step(&mut self, pair: &mut [Hash]) -> bool {
        let Some((p, rest)) = self.proof.split_first() else {
            return false;
        };
        if self.failed || self.snode == 0 {
            self.failed = true;
            return false;
        }
        self.proof = rest;
        if self.fnode & 1 == 1 || self.fnode == self.snode {
            (pair[0], pair[1]) = (*p, self.r);
            while self.fnode & 1 == 0 && self.fnode != 0 {
                self.fnode >>= 1;
                self.snode >>= 1;
            }
        } else {
            (pair[0], pair[1]) = (self.r, *p);
        }
        self.fnode >>= 1;
        self.snode >>= 1;
        true
    }

    fn verdict(&self, root: &Hash) -> bool {
        !self.failed && self.proof.is_empty() && self.snode == 0 && &self.r == root
    }
}

fn verify_lockstep<'a>(suite: Suite, lanes: impl Iterator<Item = Lane<'a>>, root: &Hash, out: &mut [bool]) {
    let mut lanes: Vec<Lane<'a>> = lanes.collect();
    let mut active: Vec<usize> = (0..lanes.len()).collect();
    let mut children = vec![[0u8; 32]; 2 * lanes.len()];
    let mut hashed = vec![[0u8; 32]; lanes.len()];
    while !active.is_empty() {
        active.retain(|&i| lanes[i].step(&mut children[2 * i..2 * i + 2]));
        // Pack the stepping lanes' pairs together, hash them in one call, scatter back.
        for (k, &i) in active.iter().enumerate() {
            children.copy_within(2 * i..2 * i + 2, 2 * k);
        }
        suite.hash_nodes(&children[..2 * active.len()], &mut hashed[..active.len()]);
        for (k, &i) in active.iter().enumerate() {
            lanes[i].r = hashed[k];
        }
    }
    for (o, lane) in out.iter_mut().zip(&lanes) {
        *o = lane.verdict(root);
    }
}

/// Verifies an RFC 9162 §2.1.4.2 consistency proof from `old_size` to `new_size`.
pub fn verify_consistency(
    suite: Suite,
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<()> {
    if old_size > new_size {
        return Err(failed(format!("old size {old_size} is beyond the new size {new_size}")));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(failed("a proof between equal sizes must be empty"));
        }
        if old_root != new_root {
            return Err(failed("equal sizes but different roots"));
        }
        return Ok(());
    }
    if old_size == 0 {
        // The empty tree is a prefix of every tree.
        if !proof.is_empty() {
            return Err(failed("a proof from the empty tree must be empty"));
        }
        return Ok(());
    }
    if proof.is_empty() {
        return Err(failed("consistency proof is empty"));
    }
    // When the old tree is a complete subtree of the new one, its root starts the path.
    let (seed, rest) = if old_size.is_power_of_two() { (old_root, proof) } else { (&proof[0], &proof[1..]) };
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if snode == 0 {
            return Err(failed("consistency proof is longer than the tree is deep"));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = suite.node_hash(c, &fr);
            sr = suite.node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = suite.node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(failed("consistency proof is shorter than the path to the root"));
    }
    if &fr != old_root {
        return Err(failed("consistency proof does not lead to the old root"));
    }
    if &sr != new_root {
        return Err(failed("consistency proof does not lead to the new root"));
    }
    Ok(())
}

/// The root that a batch inclusion proof implies (see `tree::batch_ranges` for its layout).
pub fn root_from_batch_proof(
    suite: Suite,
    indices: &[u64],
    size: u64,
    leaves: &[Hash],
    proof: &[Hash],
) -> Result<Hash> {
    if leaves.len() != indices.len() {
        return Err(invalid(format!("{} indices but {} leaf hashes", indices.len(), leaves.len())));
    }
    // Unsorted or duplicate indices are a caller's mistake; an index past the
    // size is a claim the proof cannot back.
    check_batch_indices(indices, size).map_err(|e| match e {
        Error::OutOfRange(msg) => failed(msg),
        other => other,
    })?;
    let need = batch_node_count(0, size, indices);
    if proof.len() != need {
        return Err(failed(format!("batch proof has {} nodes, needs {need}", proof.len())));
    }
    Ok(batch_root(suite, 0, size, indices, leaves, proof))
}

/// How many proof nodes the subtree `[begin, end)` takes (see `tree::batch_ranges`).
fn batch_node_count(begin: u64, end: u64, indices: &[u64]) -> usize {
    if indices.is_empty() {
        return 1;
    }
    if end - begin == 1 {
        return 0;
    }
    let mid = begin + split_point(end - begin);
    let s = indices.partition_point(|&i| i < mid);
    batch_node_count(begin, mid, &indices[..s]) + batch_node_count(mid, end, &indices[s..])
}

/// Subtrees with at least this many indices on each side verify their halves
/// on separate threads.
const BATCH_PAR_MIN: usize = 256;

/// The root of `[begin, end)` from its leaves and exactly its share of the proof.
fn batch_root(suite: Suite, begin: u64, end: u64, indices: &[u64], leaves: &[Hash], proof: &[Hash]) -> Hash {
    if indices.len() < 2 * BATCH_PAR_MIN || end - begin == 1 {
        return batch_root_seq(suite, begin, end, indices, leaves, &mut proof.iter());
    }
    let mid = begin + split_point(end - begin);
    let s = indices.partition_point(|&i| i < mid);
    let (li, ri) = indices.split_at(s);
    let (ll, rl) = leaves.split_at(s);
    if li.len().min(ri.len()) < BATCH_PAR_MIN {
        return batch_root_seq(suite, begin, end, indices, leaves, &mut proof.iter());
    }
    // Counting the left half's nodes (no hashing) tells where the right half's start.
    let (lp, rp) = proof.split_at(batch_node_count(begin, mid, li));
    let (left, right) =
        rayon::join(|| batch_root(suite, begin, mid, li, ll, lp), || batch_root(suite, mid, end, ri, rl, rp));
    suite.node_hash(&left, &right)
}

/// [`batch_root`] on this thread, taking proof nodes in order. The caller has
/// checked that the proof holds exactly the nodes needed.
fn batch_root_seq(
    suite: Suite,
    begin: u64,
    end: u64,
    indices: &[u64],
    leaves: &[Hash],
    nodes: &mut std::slice::Iter<'_, Hash>,
) -> Hash {
    if indices.is_empty() {
        return *nodes.next().expect("node count checked before the walk");
    }
    if end - begin == 1 {
        // Indices are distinct and within [begin, end): exactly one, at begin.
        return leaves[0];
    }
    let mid = begin + split_point(end - begin);
    let s = indices.partition_point(|&i| i < mid);
    let left = batch_root_seq(suite, begin, mid, &indices[..s], &leaves[..s], nodes);
    let right = batch_root_seq(suite, mid, end, &indices[s..], &leaves[s..], nodes);
    suite.node_hash(&left, &right)
}

/// Verifies a batch inclusion proof for strictly increasing `indices`.
pub fn verify_batch_inclusion(
    suite: Suite,
    indices: &[u64],
    size: u64,
    leaves: &[Hash],
    proof: &[Hash],
    root: &Hash,
) -> Result<()> {
    if &root_from_batch_proof(suite, indices, size, leaves, proof)? != root {
        return Err(failed("batch proof does not lead to the root"));
    }
    Ok(())
}
