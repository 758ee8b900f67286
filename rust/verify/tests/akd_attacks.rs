//! veritree's akd verifier against a synthetic directory: a compressed trie
//! built here from chosen leaves, proofs made from it the way akd 0.13 makes
//! them (`akd/src/append_only_zks.rs`: membership paths from the root, a
//! non-membership proof anchored at the deepest node on the label's path),
//! labels from a VRF key held here. It reaches what the real akd cannot in a
//! test: versions past 2^32 (past markers at the skiplist's 2^16 and 2^32),
//! versions and epochs at u64::MAX; and it forges what a directory holding
//! the VRF key could serve.

use veritree_verify::akd::hashing::{
    child_digest, commitment, hash, label_hash, leaf_value, parent, root_hash, stale_commitment, vrf_input, Digest,
};
use veritree_verify::akd::label::NodeLabel;
use veritree_verify::akd::{self, markers};
use veritree_verify::vrf::VrfSecretKey;

// ---- protobuf, as akd writes it ------------------------------------------------

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, n: u64, b: &[u8]) {
    varint(out, n << 3 | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_varint(out: &mut Vec<u8>, n: u64, v: u64) {
    varint(out, n << 3);
    varint(out, v);
}

fn enc_label(l: &NodeLabel) -> Vec<u8> {
    let end = l.val.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let mut out = vec![];
    put_bytes(&mut out, 1, &l.val[..end]);
    put_varint(&mut out, 2, u64::from(l.len));
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct El {
    label: NodeLabel,
    value: Digest,
}

fn enc_el(e: &El) -> Vec<u8> {
    let mut out = vec![];
    put_bytes(&mut out, 1, &enc_label(&e.label));
    put_bytes(&mut out, 2, &e.value);
    out
}

/// A membership proof: the node, its value, and (parent, sibling, node is
/// the right child) from the root down.
#[derive(Clone)]
struct Membership {
    label: NodeLabel,
    value: Digest,
    path: Vec<(NodeLabel, El, bool)>,
}

fn enc_membership(m: &Membership) -> Vec<u8> {
    let mut out = vec![];
    put_bytes(&mut out, 1, &enc_label(&m.label));
    put_bytes(&mut out, 2, &m.value);
    for (p, s, right) in &m.path {
        let mut sp = vec![];
        put_bytes(&mut sp, 1, &enc_label(p));
        put_bytes(&mut sp, 2, &enc_el(s));
        put_varint(&mut sp, 3, u64::from(*right));
        put_bytes(&mut out, 3, &sp);
    }
    out
}

#[derive(Clone)]
struct NonMembership {
    label: NodeLabel,
    anchor: NodeLabel,
    children: [El; 2],
    anchored: Membership,
}

fn enc_nonmembership(n: &NonMembership) -> Vec<u8> {
    let mut out = vec![];
    put_bytes(&mut out, 1, &enc_label(&n.label));
    put_bytes(&mut out, 2, &enc_label(&n.anchor));
    for c in &n.children {
        put_bytes(&mut out, 3, &enc_el(c));
    }
    put_bytes(&mut out, 4, &enc_membership(&n.anchored));
    out
}

// ---- the trie --------------------------------------------------------------------

fn empty_el() -> El {
    let mut h = blake3::Hasher::new();
    h.update(&hash(&[0]));
    h.update(&label_hash(&NodeLabel::EMPTY));
    El { label: NodeLabel::EMPTY, value: *h.finalize().as_bytes() }
}

fn cd(e: &El) -> Digest {
    child_digest(&e.value, &e.label)
}

/// A compressed binary trie of 256-bit leaves (label, leaf value).
struct Tree {
    leaves: Vec<El>,
}

impl Tree {
    fn new(mut leaves: Vec<El>) -> Tree {
        leaves.sort_by_key(|e| e.label.val);
        leaves.dedup_by_key(|e| e.label.val);
        Tree { leaves }
    }

    fn split(set: &[El], at: u32) -> (&[El], &[El]) {
        set.split_at(set.partition_point(|e| !e.label.bit(at)))
    }

    /// The node a non-empty run of sorted leaves makes.
    fn node(set: &[El]) -> El {
        match set {
            [one] => *one,
            [first, .., last] => {
                let len = first.label.common_prefix_len(&last.label);
                let (l, r) = Self::split(set, len);
                El { label: first.label.prefix(len), value: parent(&cd(&Self::node(l)), &cd(&Self::node(r))) }
            }
            [] => unreachable!(),
        }
    }

    fn side(set: &[El]) -> El {
        if set.is_empty() {
            empty_el()
        } else {
            Self::node(set)
        }
    }

    fn root_children(&self) -> [El; 2] {
        let (l, r) = Self::split(&self.leaves, 0);
        [Self::side(l), Self::side(r)]
    }

    fn root_value(&self) -> Digest {
        if self.leaves.is_empty() {
            return hash(&[0]);
        }
        let [l, r] = self.root_children();
        parent(&cd(&l), &cd(&r))
    }

    fn root(&self) -> Digest {
        root_hash(&self.root_value())
    }

    /// Walks from the root along `target`: the nodes passed (label, value,
    /// children) while each is a prefix of it; the path to each.
    fn walk(&self, target: &NodeLabel) -> Vec<(Membership, [El; 2])> {
        let mut out =
            vec![(Membership { label: NodeLabel::ROOT, value: self.root_value(), path: vec![] }, self.root_children())];
        let mut set: &[El] = &self.leaves;
        let mut at = 0;
        loop {
            let (m, children) = out.last().unwrap().clone();
            let right = target.bit(at);
            let (l, r) = Self::split(set, at);
            let next = if right { r } else { l };
            let child = children[usize::from(right)];
            if next.is_empty() || !child.label.is_prefix_of(target) {
                return out;
            }
            let mut path = m.path.clone();
            path.push((m.label, children[usize::from(!right)], right));
            let mc = Membership { label: child.label, value: child.value, path };
            if child.label == *target || child.label.len == 256 {
                out.push((mc, [empty_el(); 2]));
                return out;
            }
            let (cl, cr) = Self::split(next, child.label.len);
            out.push((mc, [Self::node(cl), Self::node(cr)]));
            set = next;
            at = child.label.len;
        }
    }

    fn membership(&self, target: &NodeLabel) -> Membership {
        let (m, _) = self.walk(target).pop().unwrap();
        assert_eq!(m.label, *target, "not in the tree");
        m
    }

    fn nonmembership(&self, target: &NodeLabel) -> NonMembership {
        let walk = self.walk(target);
        let (anchored, children) = walk.last().unwrap().clone();
        assert!(anchored.label != *target, "in the tree");
        NonMembership { label: *target, anchor: anchored.label, children, anchored }
    }
}

// ---- a directory's label ------------------------------------------------------------

struct Directory {
    key: VrfSecretKey,
    leaves: Vec<El>,
}

const LABEL: &[u8] = b"alice";

fn value_of(version: u64) -> Vec<u8> {
    format!("key of version {version}").into_bytes()
}

fn nonce_of(version: u64) -> Vec<u8> {
    hash(&version.to_be_bytes()).to_vec()
}

impl Directory {
    fn new() -> Directory {
        let key = VrfSecretKey::from_seed(&[7; 32]).unwrap();
        // Other users' leaves, so that the label's nodes are not alone.
        let leaves = (0..40u64)
            .map(|i| El { label: NodeLabel::full(hash(&i.to_le_bytes())), value: hash(&[i as u8, 1]) })
            .collect();
        Directory { key, leaves }
    }

    fn vrf(&self, fresh: bool, version: u64) -> (NodeLabel, Vec<u8>) {
        let (proof, output) = self.key.prove_with_output(&vrf_input(LABEL, fresh, version));
        (NodeLabel::full(output[..32].try_into().unwrap()), proof.to_vec())
    }

    /// Publishes `version` at `epoch`: its fresh leaf, and the previous
    /// version's stale one (unless `retire` is false: a directory that cheats).
    fn publish(&mut self, version: u64, epoch: u64, retire: bool) {
        let (fresh, _) = self.vrf(true, version);
        let c = commitment(&value_of(version), &nonce_of(version));
        self.leaves.push(El { label: fresh, value: leaf_value(&c, epoch) });
        if retire && version > 1 {
            let (stale, _) = self.vrf(false, version - 1);
            self.leaves.push(El { label: stale, value: leaf_value(&stale_commitment(), epoch) });
        }
    }

    /// A marker version's fresh leaf alone (its value is not checked).
    fn marker(&mut self, version: u64) {
        let (fresh, _) = self.vrf(true, version);
        self.leaves.push(El { label: fresh, value: hash(&version.to_be_bytes()) });
    }

    fn tree(&self) -> Tree {
        Tree::new(self.leaves.clone())
    }

    fn lookup(&self, version: u64, epoch_of: u64) -> Vec<u8> {
        let t = self.tree();
        let (fresh, fresh_proof) = self.vrf(true, version);
        let (marker, marker_proof) = self.vrf(true, markers::power_below(version));
        let (stale, stale_proof) = self.vrf(false, version);
        let mut out = vec![];
        put_varint(&mut out, 1, epoch_of);
        put_bytes(&mut out, 2, &value_of(version));
        put_varint(&mut out, 3, version);
        put_bytes(&mut out, 4, &fresh_proof);
        put_bytes(&mut out, 5, &enc_membership(&t.membership(&fresh)));
        put_bytes(&mut out, 6, &marker_proof);
        put_bytes(&mut out, 7, &enc_membership(&t.membership(&marker)));
        put_bytes(&mut out, 8, &stale_proof);
        put_bytes(&mut out, 9, &enc_nonmembership(&t.nonmembership(&stale)));
        put_bytes(&mut out, 10, &nonce_of(version));
        out
    }

    /// A history of `versions` (newest first, with their epochs) at `epoch`.
    fn history(&self, versions: &[(u64, u64)], epoch: u64) -> Vec<u8> {
        let t = self.tree();
        let mut out = vec![];
        for &(v, e) in versions {
            let (fresh, fresh_proof) = self.vrf(true, v);
            let mut u = vec![];
            put_varint(&mut u, 1, e);
            put_bytes(&mut u, 2, &value_of(v));
            put_varint(&mut u, 3, v);
            put_bytes(&mut u, 4, &fresh_proof);
            put_bytes(&mut u, 5, &enc_membership(&t.membership(&fresh)));
            if v > 1 {
                let (stale, stale_proof) = self.vrf(false, v - 1);
                put_bytes(&mut u, 6, &stale_proof);
                put_bytes(&mut u, 7, &enc_membership(&t.membership(&stale)));
            }
            put_bytes(&mut u, 8, &nonce_of(v));
            put_bytes(&mut out, 1, &u);
        }
        let (start, end) = (versions.last().unwrap().0, versions[0].0);
        for v in markers::past(start) {
            let (l, p) = self.vrf(true, v);
            put_bytes(&mut out, 2, &p);
            put_bytes(&mut out, 3, &enc_membership(&t.membership(&l)));
        }
        for v in markers::future(end, epoch) {
            let (l, p) = self.vrf(true, v);
            put_bytes(&mut out, 4, &p);
            put_bytes(&mut out, 5, &enc_nonmembership(&t.nonmembership(&l)));
        }
        out
    }
}

// ---- the cases ------------------------------------------------------------------------

/// Versions past 2^16 and past 2^32, the epoch just below u64::MAX: the
/// past markers start at the skiplist's 2^16 or 2^32, the future ones run
/// up to 2^63.
#[test]
fn versions_past_the_skiplists_top_entries_verify_with_their_markers() {
    for top in [1u64 << 16, 1 << 32] {
        let mut d = Directory::new();
        let s = top + 5;
        let epoch = u64::MAX - 1;
        let past = markers::past(s);
        assert_eq!(past, vec![top, top + 4]);
        for &v in &past {
            d.marker(v);
        }
        let epochs = [s + 10, s + 20, u64::MAX - 2];
        for (i, &e) in epochs.iter().enumerate() {
            d.publish(s + i as u64, e, true);
        }
        let root = d.tree().root();
        let key = d.key.public_key();
        let shown = [(s + 2, epochs[2]), (s + 1, epochs[1]), (s, epochs[0])];
        let h = d.history(&shown, epoch);
        let vs = akd::verify_history(&key, &root, epoch, LABEL, &h, Some(3)).unwrap();
        assert_eq!(vs.iter().map(|v| (v.version, v.epoch)).collect::<Vec<_>>(), shown);
        // Past 2^16 the skiplist's 2^32 ends the future markers; past 2^32, 2^63 does.
        let last = if top == 1 << 16 { 1 << 32 } else { 1 << 63 };
        assert_eq!(markers::future(s + 2, epoch).last(), Some(&last));
        let v = akd::verify_lookup(&key, &root, epoch, LABEL, &d.lookup(s + 2, epochs[2])).unwrap();
        assert_eq!((v.version, v.epoch, v.value), (s + 2, epochs[2], value_of(s + 2)));
        // The same proof is not a complete history, nor the 4 or 2 most recent versions.
        assert!(akd::verify_history(&key, &root, epoch, LABEL, &h, None).is_err());
        assert!(akd::verify_history(&key, &root, epoch, LABEL, &h, Some(4)).is_err());
        assert!(akd::verify_history(&key, &root, epoch, LABEL, &h, Some(2)).is_err());
    }
}

/// Version u64::MAX at epoch u64::MAX: its marker is 2^63.
#[test]
fn version_u64_max_at_epoch_u64_max_verifies() {
    let mut d = Directory::new();
    for v in markers::past(u64::MAX) {
        d.marker(v);
    }
    d.publish(u64::MAX, u64::MAX, true);
    let root = d.tree().root();
    let key = d.key.public_key();
    let v = akd::verify_lookup(&key, &root, u64::MAX, LABEL, &d.lookup(u64::MAX, u64::MAX)).unwrap();
    assert_eq!(v.version, u64::MAX);
    let h = d.history(&[(u64::MAX, u64::MAX)], u64::MAX);
    assert_eq!(akd::verify_history(&key, &root, u64::MAX, LABEL, &h, Some(1)).unwrap().len(), 1);
    // Seen an epoch earlier, the version is from the future.
    assert!(akd::verify_lookup(&key, &root, u64::MAX - 1, LABEL, &d.lookup(u64::MAX, u64::MAX)).is_err());
}

/// A tree of one leaf (the root's one child) and a tree where the label's
/// nodes are all there is: lookups and complete histories verify, absent
/// labels anchored at the root beside the empty placeholder.
#[test]
fn the_smallest_trees_verify() {
    let mut d = Directory::new();
    d.leaves.clear();
    d.publish(1, 1, true);
    let key = d.key.public_key();
    assert_eq!(d.tree().leaves.len(), 1);
    for epoch in [1, 2, 3, 1 << 40, u64::MAX] {
        let root = d.tree().root();
        assert_eq!(akd::verify_lookup(&key, &root, epoch, LABEL, &d.lookup(1, 1)).unwrap().version, 1);
        let h = d.history(&[(1, 1)], epoch);
        assert_eq!(akd::verify_history(&key, &root, epoch, LABEL, &h, None).unwrap().len(), 1);
    }
    for v in 2..=9u64 {
        d.publish(v, v, true);
        let root = d.tree().root();
        assert_eq!(akd::verify_lookup(&key, &root, v, LABEL, &d.lookup(v, v)).unwrap().version, v);
        let all: Vec<(u64, u64)> = (1..=v).rev().map(|x| (x, x)).collect();
        assert_eq!(akd::verify_history(&key, &root, v, LABEL, &d.history(&all, v), None).unwrap().len() as u64, v);
    }
}

/// A directory that publishes version 3 without retiring version 2 can
/// serve version 2 as current (akd's model: the owner's history shows the
/// missing retirement), but no history of its hides version 3 or passes
/// without the retirement.
#[test]
fn a_cheating_directory_is_caught_by_the_history() {
    let mut d = Directory::new();
    d.publish(1, 1, true);
    d.publish(2, 2, true);
    d.publish(3, 3, false);
    let root = d.tree().root();
    let key = d.key.public_key();
    assert_eq!(akd::verify_lookup(&key, &root, 3, LABEL, &d.lookup(2, 2)).unwrap().version, 2);
    assert_eq!(akd::verify_lookup(&key, &root, 3, LABEL, &d.lookup(3, 3)).unwrap().version, 3);
    // A history of versions 2 and 1 must prove version 3 absent: anchored
    // at any of fresh(3)'s ancestors (each akd 0.13 accepts), it is refused.
    let (fresh3, fresh3_proof) = d.vrf(true, 3);
    let t = d.tree();
    let walk = t.walk(&fresh3);
    assert_eq!(walk.last().unwrap().0.label, fresh3, "version 3 is in the tree");
    for (anchored, children) in &walk[..walk.len() - 1] {
        let forged =
            NonMembership { label: fresh3, anchor: anchored.label, children: *children, anchored: anchored.clone() };
        let mut h = d.history(&[(2, 2), (1, 1)], 2);
        assert!(markers::future(2, 3) == vec![3] && markers::future(2, 2).is_empty());
        put_bytes(&mut h, 4, &fresh3_proof);
        put_bytes(&mut h, 5, &enc_nonmembership(&forged));
        let err = akd::verify_history(&key, &root, 3, LABEL, &h, None).unwrap_err().to_string();
        assert!(err.contains("anchored above"), "anchored at {} bits: {err}", anchored.label.len);
    }
}

/// Version 2 served as current while version 3 (which retired it) is in
/// the tree: its stale label "proven" absent from any ancestor of the
/// stale leaf (akd 0.13 accepts each) is refused; only the honest anchor,
/// which cannot exist, would do.
#[test]
fn a_retired_version_cannot_be_served_as_current() {
    let mut d = Directory::new();
    d.publish(1, 1, true);
    d.publish(2, 2, true);
    d.publish(3, 3, true);
    let (t, key) = (d.tree(), d.key.public_key());
    let root = t.root();
    let honest = d.lookup(3, 3);
    assert_eq!(akd::verify_lookup(&key, &root, 3, LABEL, &honest).unwrap().version, 3);
    let (stale2, stale2_proof) = d.vrf(false, 2);
    let walk = t.walk(&stale2);
    assert_eq!(walk.last().unwrap().0.label, stale2, "version 2 is retired");
    for (anchored, children) in &walk[..walk.len() - 1] {
        let forged =
            NonMembership { label: stale2, anchor: anchored.label, children: *children, anchored: anchored.clone() };
        let (fresh2, fresh2_proof) = d.vrf(true, 2);
        let mut p = vec![];
        put_varint(&mut p, 1, 2);
        put_bytes(&mut p, 2, &value_of(2));
        put_varint(&mut p, 3, 2);
        put_bytes(&mut p, 4, &fresh2_proof);
        put_bytes(&mut p, 5, &enc_membership(&t.membership(&fresh2)));
        put_bytes(&mut p, 6, &fresh2_proof);
        put_bytes(&mut p, 7, &enc_membership(&t.membership(&fresh2)));
        put_bytes(&mut p, 8, &stale2_proof);
        put_bytes(&mut p, 9, &enc_nonmembership(&forged));
        put_bytes(&mut p, 10, &nonce_of(2));
        let err = akd::verify_lookup(&key, &root, 3, LABEL, &p).unwrap_err().to_string();
        assert!(err.contains("anchored above"), "anchored at {} bits: {err}", anchored.label.len);
    }
}

/// Versions and epochs at the edges, with the marker counts right but the
/// proofs made for other versions: refused, never a panic (marker versions
/// of u64::MAX, a version past the epoch, version 0, most_recent 0).
#[test]
fn versions_and_epochs_at_the_edges_are_refused_without_panics() {
    let mut d = Directory::new();
    d.publish(1, 1, true);
    let (root, key) = (d.tree().root(), d.key.public_key());
    let lookup = |version: u64, epoch_of: u64| {
        let mut p = d.lookup(1, 1);
        // Rewrite the epoch and version varints at the front (1 byte each).
        assert_eq!(&p[..2], &[0x08, 0x01]);
        let mut front = vec![];
        put_varint(&mut front, 1, epoch_of);
        p.splice(..2, front);
        let at = p.windows(2).position(|w| w == [0x18, 0x01]).unwrap();
        let mut v = vec![];
        put_varint(&mut v, 3, version);
        p.splice(at..at + 2, v);
        p
    };
    for (version, epoch_of, epoch) in
        [(0, 1, 1), (1, 0, 1), (2, 1, 1), (1, 2, 1), (u64::MAX, u64::MAX, u64::MAX), (1 << 63, 1, u64::MAX), (1, 1, 0)]
    {
        assert!(
            akd::verify_lookup(&key, &root, epoch, LABEL, &lookup(version, epoch_of)).is_err(),
            "{version} {epoch_of} {epoch}"
        );
    }
    assert_eq!(akd::verify_lookup(&key, &root, 1, LABEL, &lookup(1, 1)).unwrap().version, 1);
    let h = d.history(&[(1, 1)], 1);
    for (epoch, most_recent) in [(0, None), (1, Some(0)), (u64::MAX, None), (u64::MAX, Some(u64::MAX))] {
        assert!(akd::verify_history(&key, &root, epoch, LABEL, &h, most_recent).is_err(), "{epoch} {most_recent:?}");
    }
    assert_eq!(akd::verify_history(&key, &root, 1, LABEL, &h, Some(u64::MAX)).unwrap().len(), 1);
    // A history of the last two versions below u64::MAX, with as many
    // (wrong) marker proofs as the counts ask: refused by the VRF.
    let mut h = vec![];
    for v in [u64::MAX, u64::MAX - 1] {
        let (l, p) = d.vrf(true, v);
        let mut u = vec![];
        put_varint(&mut u, 1, 1);
        put_bytes(&mut u, 2, b"x");
        put_varint(&mut u, 3, v);
        put_bytes(&mut u, 4, &p);
        put_bytes(&mut u, 5, &enc_membership(&Membership { label: l, value: [0; 32], path: vec![] }));
        put_bytes(&mut u, 6, &p);
        put_bytes(&mut u, 7, &enc_membership(&Membership { label: l, value: [0; 32], path: vec![] }));
        put_bytes(&mut u, 8, b"");
        put_bytes(&mut h, 1, &u);
    }
    for _ in markers::past(u64::MAX - 1) {
        put_bytes(&mut h, 2, &[0; 80]);
        put_bytes(&mut h, 3, &enc_membership(&Membership { label: NodeLabel::ROOT, value: [0; 32], path: vec![] }));
    }
    assert!(markers::future(u64::MAX, u64::MAX).is_empty());
    let err = akd::verify_history(&key, &root, u64::MAX, LABEL, &h, Some(2)).unwrap_err().to_string();
    assert!(!err.contains("must prove") && !err.contains("versions"), "{err}");
}
