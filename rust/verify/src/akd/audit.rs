//! Append-only proofs and WhatsApp's audit blobs. A step from one epoch to
//! the next lists the subtrees that stayed as they were and the leaves
//! added; the verifier rebuilds both trees from them and compares roots.

use rayon::prelude::*;

use super::hashing::{child_digest, empty_child_digest, empty_root, leaf_value, parent, root_hash, Digest};
use super::messages::{AppendOnlyProof, Element, SingleAppendOnlyProof};
use crate::error::{failed, invalid, Result};

/// Below this many nodes a subtree is hashed on the calling thread.
const PARALLEL_MIN: usize = 1 << 12;

/// The root hash of the compressed binary trie holding `nodes` (each a
/// leaf or a whole subtree, by its label and value). No label may be a
/// prefix of another or repeat one (akd 0.13's rule, facebook/akd#495: a
/// subtree that would be split by an added leaf is an error).
pub fn tree_root(mut nodes: Vec<Element>) -> Result<Digest> {
    if nodes.is_empty() {
        return Ok(empty_root());
    }
    if let Some(bad) = nodes.iter().find(|e| e.label.len == 0) {
        return Err(failed(format!("an append-only proof holds a node of no bits ({:?})", bad.label)));
    }
    let key = |e: &Element| (e.label.val, e.label.len);
    if nodes.len() >= PARALLEL_MIN {
        nodes.par_sort_unstable_by_key(key);
    } else {
        nodes.sort_unstable_by_key(key);
    }
    // Sorted, a label that is a prefix of another sits just before one
    // that it is a prefix of.
    if nodes.windows(2).any(|w| w[0].label.is_prefix_of(&w[1].label)) {
        return Err(failed("an append-only proof holds a node under another (or twice): akd 0.13 refuses it"));
    }
    let split = nodes.partition_point(|e| !e.label.bit(0));
    let (left, right) = nodes.split_at(split);
    let (l, r) = rayon::join(|| side(left), || side(right));
    Ok(root_hash(&parent(&l, &r)))
}

/// What a run of sorted nodes under one side of a parent contributes to it.
fn side(nodes: &[Element]) -> Digest {
    match nodes {
        [] => empty_child_digest(),
        [one] => child_digest(&one.value, &one.label),
        [first, .., last] => {
            let len = first.label.common_prefix_len(&last.label);
            let split = nodes.partition_point(|e| !e.label.bit(len));
            let (left, right) = nodes.split_at(split);
            let (l, r) = if nodes.len() >= PARALLEL_MIN {
                rayon::join(|| side(left), || side(right))
            } else {
                (side(left), side(right))
            };
            child_digest(&parent(&l, &r), &first.label.prefix(len))
        }
    }
}

/// Checks one step: `start` is the root before, `end` after, `end_epoch`
/// the epoch the step publishes (inserted leaves are hashed with it).
pub fn verify_step(proof: &SingleAppendOnlyProof, start: &Digest, end: &Digest, end_epoch: u64) -> Result<()> {
    if let Some(e) = proof.inserted.iter().find(|e| e.label.len != 256) {
        return Err(failed(format!("an append-only step inserts a leaf of {} bits, not 256", e.label.len)));
    }
    let after: Vec<Element> = proof
        .unchanged_nodes
        .iter()
        .copied()
        .chain(proof.inserted.iter().map(|e| Element { label: e.label, value: leaf_value(&e.value, end_epoch) }))
        .collect();
    let (before, after) = rayon::join(|| tree_root(proof.unchanged_nodes.clone()), || tree_root(after));
    if before? != *start {
        return Err(failed(format!("append-only step to epoch {end_epoch}: the unchanged nodes do not make the previous root")));
    }
    if after? != *end {
        return Err(failed(format!("append-only step to epoch {end_epoch}: the unchanged and inserted nodes do not make the new root")));
    }
    Ok(())
}

/// Verifies an `AppendOnlyProof` (bytes) over `roots`, the root hashes of
/// its start epoch and of each epoch after it (one more than its steps).
pub fn verify_append_only(roots: &[Digest], proof: &[u8]) -> Result<()> {
    let p = AppendOnlyProof::decode(proof)?;
    if roots.is_empty() {
        return Err(invalid("an append-only proof needs at least one root hash"));
    }
    if p.proofs.len() != p.epochs.len() || p.proofs.len() != roots.len() - 1 {
        return Err(failed(format!(
            "an append-only proof of {} steps and {} epochs for {} root hashes",
            p.proofs.len(),
            p.epochs.len(),
            roots.len()
        )));
    }
    let first = p.epochs.first().copied().unwrap_or(0);
    if p.epochs.iter().enumerate().any(|(i, &e)| first.checked_add(i as u64) != Some(e) || e == u64::MAX) {
        return Err(failed("an append-only proof's epochs are not consecutive"));
    }
    p.proofs.par_iter().enumerate().try_for_each(|(i, step)| verify_step(step, &roots[i], &roots[i + 1], p.epochs[i] + 1))
}

/// One audited step: the epoch it publishes and the roots on either side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuditStep {
    pub epoch: u64,
    pub previous_root: Digest,
    pub current_root: Digest,
}

/// Parses an audit blob's name, `EPOCH/PREVIOUS_ROOT/CURRENT_ROOT`: the
/// epoch the step publishes (decimal, from 1, no leading zeros) and two
/// roots in lowercase hex.
pub fn parse_blob_name(name: &str) -> Result<AuditStep> {
    let bad = || failed(format!("an audit blob name is EPOCH/PREVIOUS_ROOT/CURRENT_ROOT, not {name:?}"));
    let mut parts = name.split('/');
    let (Some(epoch), Some(previous), Some(current), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if epoch.is_empty() || epoch.starts_with('0') || !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let epoch: u64 = epoch.parse().map_err(|_| bad())?;
    let root = |hex: &str| -> Result<Digest> {
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(out)
    };
    Ok(AuditStep { epoch, previous_root: root(previous)?, current_root: root(current)? })
}

/// Verifies a WhatsApp audit blob: its name gives the step, its content is
/// one `SingleAppendOnlyProof` from the previous root to the current one.
pub fn verify_audit_blob(name: &str, blob: &[u8]) -> Result<AuditStep> {
    let step = parse_blob_name(name)?;
    let proof = SingleAppendOnlyProof::decode(blob)?;
    verify_step(&proof, &step.previous_root, &step.current_root, step.epoch)?;
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::akd::hashing::hash;
    use crate::akd::label::NodeLabel;

    fn label(bits: &str) -> NodeLabel {
        let mut l = NodeLabel { val: [0; 32], len: bits.len() as u32 };
        for (i, b) in bits.bytes().enumerate() {
            if b == b'1' {
                l.val[i / 8] |= 0x80 >> (i % 8);
            }
        }
        l
    }

    fn el(bits: &str, v: u8) -> Element {
        Element { label: label(bits), value: hash(&[v]) }
    }

    /// The trie built node by node, as the reference: a set's node is its
    /// one element or the branch at the set's common prefix.
    fn reference(nodes: &[Element]) -> Digest {
        fn sub(nodes: &[&Element], depth: u32) -> Digest {
            match nodes {
                [] => empty_child_digest(),
                [one] => child_digest(&one.value, &one.label),
                _ => {
                    let mut len = depth;
                    while nodes.iter().all(|e| e.label.bit(len) == nodes[0].label.bit(len)) {
                        len += 1;
                    }
                    let (l, r): (Vec<&Element>, Vec<&Element>) = nodes.iter().partition(|e| !e.label.bit(len));
                    child_digest(&parent(&sub(&l, len + 1), &sub(&r, len + 1)), &nodes[0].label.prefix(len))
                }
            }
        }
        let (l, r): (Vec<&Element>, Vec<&Element>) = nodes.iter().partition(|e| !e.label.bit(0));
        root_hash(&parent(&sub(&l, 1), &sub(&r, 1)))
    }

    #[test]
    fn the_trie_matches_a_node_by_node_reference() {
        let sets = [
            vec![el("0", 1)],
            vec![el("1", 1)],
            vec![el("00", 1), el("01", 2)],
            vec![el("0010", 1), el("0011", 2), el("1", 3), el("01", 4)],
            vec![el("110", 1), el("111", 2), el("10", 3)],
        ];
        for set in &sets {
            let mut shuffled = set.clone();
            shuffled.reverse();
            assert_eq!(tree_root(shuffled).unwrap(), reference(set));
        }
        assert_eq!(tree_root(vec![]).unwrap(), empty_root());
    }

    #[test]
    fn a_node_under_another_or_twice_is_refused() {
        for set in [vec![el("0", 1), el("01", 2)], vec![el("01", 1), el("01", 2)], vec![el("", 1)]] {
            assert!(tree_root(set).is_err());
        }
    }

    #[test]
    fn blob_names_are_parsed_strictly() {
        let r = "ab".repeat(32);
        let step = parse_blob_name(&format!("7/{r}/{}", "00".repeat(32))).unwrap();
        assert_eq!((step.epoch, step.previous_root, step.current_root), (7, [0xab; 32], [0; 32]));
        for bad in [
            format!("07/{r}/{r}"),
            format!("+7/{r}/{r}"),
            format!("7/{r}/{r}/x"),
            format!("7/{r}"),
            format!("7/{}/{r}", r.to_uppercase()),
            format!("7/{}/{r}", &r[2..]),
            format!("18446744073709551616/{r}/{r}"),
            format!("0/{r}/{r}"),
        ] {
            assert!(parse_blob_name(&bad).is_err(), "{bad}");
        }
    }
}
