//! Lookups and key histories: akd 0.13's checks, plus the ones its
//! verifier lacks (a non-membership proof must be anchored at the deepest
//! node on the label's path; a path's labels must descend along the label).

use super::hashing::{child_digest, commitment, leaf_value, parent, root_hash, stale_commitment, vrf_input, Digest};
use super::label::NodeLabel;
use super::markers;
use super::messages::{HistoryProof, LookupProof, MembershipProof, NonMembershipProof};
use rayon::prelude::*;

use crate::error::{failed, Result};
use crate::vrf::PublicKey;

/// A version of a label as a proof shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// The epoch the version was published in.
    pub epoch: u64,
    pub version: u64,
    pub value: Vec<u8>,
}

/// The tree label of a label's version: the first half of the VRF output,
/// once the VRF proof checks under the directory's key.
fn vrf_label(key: &PublicKey, label: &[u8], fresh: bool, version: u64, proof: &[u8]) -> Result<NodeLabel> {
    let output = key.verify(&vrf_input(label, fresh, version), proof)?;
    Ok(NodeLabel::full(output[..32].try_into().expect("64-byte output")))
}

fn expect_label(proof_label: &NodeLabel, vrf: &NodeLabel, what: &str) -> Result<()> {
    if proof_label != vrf {
        return Err(failed(format!("{what}: the proof is for another node than the VRF names")));
    }
    Ok(())
}

/// The root hash a membership proof leads to. The path must descend: each
/// parent's label a strict prefix of its child's, the child on the side
/// its next bit says, the sibling on the other side (or the empty
/// placeholder, which only the root may have), and the root at the top.
fn membership_root(proof: &MembershipProof) -> Result<Digest> {
    let (mut label, mut value) = (proof.label, proof.hash_val);
    for level in proof.sibling_proofs.iter().rev() {
        let p = level.label;
        if !p.is_strict_prefix_of(&label) {
            return Err(failed("a membership proof's path does not descend along the node's label"));
        }
        let right = label.bit(p.len);
        if level.left == right {
            return Err(failed("a membership proof's direction disagrees with the node's label"));
        }
        let s = &level.sibling;
        let placed = if s.label.is_empty_placeholder() {
            p == NodeLabel::ROOT
        } else {
            p.is_strict_prefix_of(&s.label) && s.label.bit(p.len) != right
        };
        if !placed {
            return Err(failed("a membership proof's sibling is not on the other side of its parent"));
        }
        let (node, sibling) = (child_digest(&value, &label), child_digest(&s.value, &s.label));
        value = if right { parent(&sibling, &node) } else { parent(&node, &sibling) };
        label = p;
    }
    if label != NodeLabel::ROOT {
        return Err(failed("a membership proof's path does not start at the root"));
    }
    Ok(root_hash(&value))
}

fn verify_present(root: &Digest, proof: &MembershipProof, what: &str) -> Result<()> {
    if membership_root(proof)? != *root {
        return Err(failed(format!("{what}: the membership proof does not lead to the root hash")));
    }
    Ok(())
}

/// Checks that the 256-bit `label` is not in the tree. The anchor must be
/// the deepest node on the label's path: a prefix of the label whose
/// children each lie on their own side, the one on the label's side being
/// the empty placeholder or a node that is not a prefix of the label. akd
/// 0.13 checks only that the children differ from the label, so a proof
/// anchored higher up (at the root, say) hides a label that is there.
fn verify_absent(root: &Digest, proof: &NonMembershipProof, what: &str) -> Result<()> {
    let anchor = proof.longest_prefix;
    if !anchor.is_strict_prefix_of(&proof.label) {
        return Err(failed(format!("{what}: the non-membership proof's anchor is not a prefix of the label")));
    }
    for (side, child) in proof.children.iter().enumerate() {
        let placed = if child.label.is_empty_placeholder() {
            anchor == NodeLabel::ROOT
        } else {
            anchor.is_strict_prefix_of(&child.label) && child.label.bit(anchor.len) == (side == 1)
        };
        if !placed {
            return Err(failed(format!("{what}: a child of the non-membership proof's anchor is not on its side")));
        }
    }
    let toward = &proof.children[usize::from(proof.label.bit(anchor.len))];
    if !toward.label.is_empty_placeholder() && toward.label.is_prefix_of(&proof.label) {
        return Err(failed(format!(
            "{what}: the non-membership proof is anchored above the label's deepest node (the label may be present)"
        )));
    }
    let [left, right] = &proof.children;
    let value = parent(&child_digest(&left.value, &left.label), &child_digest(&right.value, &right.label));
    let anchored = &proof.longest_prefix_membership_proof;
    if anchored.label != anchor || anchored.hash_val != value {
        return Err(failed(format!("{what}: the non-membership proof's anchor is not the node its children make")));
    }
    verify_present(root, anchored, what)
}

/// Verifies a lookup proof (`LookupProof` bytes) for `label` against the
/// root hash of `epoch`: the version's value, that its version is at or
/// after its marker, and that it was not retired by a newer version.
pub fn verify_lookup(key: &[u8], root: &Digest, epoch: u64, label: &[u8], proof: &[u8]) -> Result<Version> {
    let p = LookupProof::decode(proof)?;
    if p.version == 0 || p.version > epoch {
        return Err(failed(format!("a lookup of version {} at epoch {epoch}", p.version)));
    }
    if p.epoch == 0 || p.epoch > epoch {
        return Err(failed(format!("a lookup of a version published at epoch {} seen at epoch {epoch}", p.epoch)));
    }
    let key = PublicKey::decode(key)?;
    // Checked in turn: side by side on two threads measured no faster
    // (akd_report), each check being a VRF proof (~65 us) and a path.
    let fresh = vrf_label(&key, label, true, p.version, p.existence_vrf_proof)?;
    expect_label(&p.existence_proof.label, &fresh, "lookup existence")?;
    if p.existence_proof.hash_val != leaf_value(&commitment(p.value, p.commitment_nonce), p.epoch) {
        return Err(failed("lookup existence: the value and opening do not make the leaf"));
    }
    verify_present(root, &p.existence_proof, "lookup existence")?;
    // At a power of two the marker is the version itself: the same VRF
    // input, and (from akd) the same proof, already checked above.
    let marker_version = markers::power_below(p.version);
    let marker = if marker_version == p.version && p.marker_vrf_proof == p.existence_vrf_proof {
        fresh
    } else {
        vrf_label(&key, label, true, marker_version, p.marker_vrf_proof)?
    };
    expect_label(&p.marker_proof.label, &marker, "lookup marker")?;
    verify_present(root, &p.marker_proof, "lookup marker")?;
    let stale = vrf_label(&key, label, false, p.version, p.freshness_vrf_proof)?;
    expect_label(&p.freshness_proof.label, &stale, "lookup freshness")?;
    verify_absent(root, &p.freshness_proof, "lookup freshness")?;
    Ok(Version { epoch: p.epoch, version: p.version, value: p.value.to_vec() })
}

/// Verifies a key-history proof (`HistoryProof` bytes) for `label` against
/// the root hash of `epoch`; `most_recent`: the proof was asked for at most
/// that many versions (None: the complete history). Newest first.
pub fn verify_history(
    key: &[u8],
    root: &Digest,
    epoch: u64,
    label: &[u8],
    proof: &[u8],
    most_recent: Option<u64>,
) -> Result<Vec<Version>> {
    let p = HistoryProof::decode(proof)?;
    let updates = &p.update_proofs;
    let (Some(newest), Some(oldest)) = (updates.first(), updates.last()) else {
        return Err(failed("a key history with no versions"));
    };
    if updates.windows(2).any(|w| w[1].version.checked_add(1) != Some(w[0].version)) {
        return Err(failed("a key history's versions are not consecutive, newest first"));
    }
    let (start, end) = (oldest.version, newest.version);
    if start == 0 || end > epoch {
        return Err(failed(format!("a key history of versions {start} to {end} at epoch {epoch}")));
    }
    let shown = updates.len() as u64;
    match most_recent {
        None if start != 1 => return Err(failed("a complete key history does not start at version 1")),
        Some(n) if shown > n || (shown < n && start != 1) => {
            return Err(failed(format!("a key history of the {n} most recent versions shows {shown} from version {start}")));
        }
        _ => {}
    }
    let (past, future) = (markers::past(start), markers::future(end, epoch));
    if p.past_marker_vrf_proofs.len() != past.len() || p.existence_of_past_marker_proofs.len() != past.len() {
        return Err(failed(format!("a key history must prove {} past markers", past.len())));
    }
    if p.future_marker_vrf_proofs.len() != future.len() || p.non_existence_of_future_marker_proofs.len() != future.len()
    {
        return Err(failed(format!("a key history must prove {} future markers absent", future.len())));
    }
    let mut later_epoch = epoch;
    for u in updates {
        if u.epoch == 0 || u.epoch > later_epoch {
            return Err(failed("a key history's epochs do not decrease with its versions"));
        }
        later_epoch = u.epoch;
    }
    let key = PublicKey::decode(key)?;
    // Every version and marker is checked on its own (a VRF proof and a
    // path or two each): side by side, which pays for long histories only
    // (a thread's wake-up costs about a VRF proof on the VMs measured), the
    // first failure in order reported.
    let versions: Vec<Result<Version>> = updates
        .par_iter()
        .map(|u| {
            let fresh = vrf_label(&key, label, true, u.version, u.existence_vrf_proof)?;
            expect_label(&u.existence_proof.label, &fresh, "history existence")?;
            if u.existence_proof.hash_val != leaf_value(&commitment(u.value, u.commitment_nonce), u.epoch) {
                return Err(failed(format!("history: version {}'s value and opening do not make the leaf", u.version)));
            }
            verify_present(root, &u.existence_proof, "history existence")?;
            match (u.version, u.previous_version_vrf_proof, &u.previous_version_proof) {
                (1, None, None) => {}
                (1, _, _) => return Err(failed("history: version 1 has no previous version to retire")),
                (v, Some(vrf_proof), Some(previous)) => {
                    let stale = vrf_label(&key, label, false, v - 1, vrf_proof)?;
                    expect_label(&previous.label, &stale, "history retirement")?;
                    if previous.hash_val != leaf_value(&stale_commitment(), u.epoch) {
                        return Err(failed(format!("history: version {} was not retired when {v} was published", v - 1)));
                    }
                    verify_present(root, previous, "history retirement")?;
                }
                (v, _, _) => return Err(failed(format!("history: version {v} lacks the proof that it retired {}", v - 1))),
            }
            Ok(Version { epoch: u.epoch, version: u.version, value: u.value.to_vec() })
        })
        .collect();
    let past_checked: Vec<Result<()>> = past
        .par_iter()
        .zip(&p.past_marker_vrf_proofs)
        .zip(&p.existence_of_past_marker_proofs)
        .map(|((&v, vrf_proof), proof)| {
            let marker = vrf_label(&key, label, true, v, vrf_proof)?;
            expect_label(&proof.label, &marker, "history past marker")?;
            verify_present(root, proof, "history past marker")
        })
        .collect();
    let future_checked: Vec<Result<()>> = future
        .par_iter()
        .zip(&p.future_marker_vrf_proofs)
        .zip(&p.non_existence_of_future_marker_proofs)
        .map(|((&v, vrf_proof), proof)| {
            let marker = vrf_label(&key, label, true, v, vrf_proof)?;
            expect_label(&proof.label, &marker, "history future marker")?;
            verify_absent(root, proof, &format!("history: version {v} must not exist yet"))
        })
        .collect();
    let versions = versions.into_iter().collect::<Result<Vec<Version>>>()?;
    past_checked.into_iter().chain(future_checked).collect::<Result<()>>()?;
    Ok(versions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::akd::messages::Element;

    const PUBLISHED: &str = include_str!("../../../../tests/vectors/akd/akd-published-whatsapp_v1.json");

    fn field(name: &str) -> Vec<u8> {
        let start = PUBLISHED.find(&format!("\"{name}\": \"")).unwrap() + name.len() + 5;
        let end = start + PUBLISHED[start..].find('"').unwrap();
        (start..end).step_by(2).map(|i| u8::from_str_radix(&PUBLISHED[i..i + 2], 16).unwrap()).collect()
    }

    /// The root's two children, replayed from a membership proof's path.
    fn root_children(proof: &MembershipProof) -> [Element; 2] {
        let (mut label, mut value) = (proof.label, proof.hash_val);
        for level in proof.sibling_proofs[1..].iter().rev() {
            let (node, sibling) = (child_digest(&value, &label), child_digest(&level.sibling.value, &level.sibling.label));
            value = if level.left { parent(&node, &sibling) } else { parent(&sibling, &node) };
            label = level.label;
        }
        let top = &proof.sibling_proofs[0];
        let on_path = Element { label, value };
        if top.left { [on_path, top.sibling] } else { [top.sibling, on_path] }
    }

    /// The forgery akd 0.13 accepts: a non-membership proof for a node that
    /// is in the tree, anchored at the root. Everything akd checks holds
    /// (children differ from the label, the anchor is a prefix of it and
    /// their common prefix, the anchor's hash and path check out); only the
    /// deepest-node rule refuses it.
    #[test]
    fn a_non_membership_proof_anchored_above_the_label_is_refused() {
        let root: Digest = field("root").try_into().unwrap();
        let history = field("history_complete");
        let h = HistoryProof::decode(&history).unwrap();
        // Version 2's stale node is in the tree: version 3 retired it.
        let present = h.update_proofs[0].previous_version_proof.clone().unwrap();
        verify_present(&root, &present, "stale version 2").unwrap();
        let children = root_children(&present);
        let forged = NonMembershipProof {
            label: present.label,
            longest_prefix: NodeLabel::ROOT,
            children,
            longest_prefix_membership_proof: MembershipProof {
                label: NodeLabel::ROOT,
                hash_val: parent(
                    &child_digest(&children[0].value, &children[0].label),
                    &child_digest(&children[1].value, &children[1].label),
                ),
                sibling_proofs: vec![],
            },
        };
        assert!(children.iter().all(|c| c.label != forged.label));
        verify_present(&root, &forged.longest_prefix_membership_proof, "the root").unwrap();
        let err = verify_absent(&root, &forged, "forged").unwrap_err().to_string();
        assert!(err.contains("anchored above the label's deepest node"), "{err}");
    }

    #[test]
    fn a_path_that_does_not_descend_along_the_label_is_refused() {
        let root: Digest = field("root").try_into().unwrap();
        let history = field("history_complete");
        let h = HistoryProof::decode(&history).unwrap();
        let good = h.update_proofs[0].existence_proof.clone();
        verify_present(&root, &good, "good").unwrap();
        let mut flipped = good.clone();
        flipped.sibling_proofs[1].left = !flipped.sibling_proofs[1].left;
        assert!(membership_root(&flipped).unwrap_err().to_string().contains("direction"));
        let mut headless = good.clone();
        headless.sibling_proofs.remove(0);
        assert!(membership_root(&headless).unwrap_err().to_string().contains("start at the root"));
        let mut swapped = good;
        swapped.sibling_proofs.swap(1, 2);
        assert!(membership_root(&swapped).is_err());
    }
}
