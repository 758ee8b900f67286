//! The KEYTRANS prefix tree and its `PrefixProof` (draft-ietf-keytrans-protocol,
//! "Prefix Tree" and "Tree Proofs"), written from the draft's text as plainly
//! as it reads, for `KT_128_SHA256_*`: a second implementation that the
//! engine's verifier must agree with. It works on tree positions (a key's
//! first `depth` bits) and sets of them, where the engine walks the keys'
//! paths once; it is slow and does not need to be fast.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];
pub type Key = [u8; 32];

/// The stand-in value of a missing node.
const ZERO: Hash = [0; 32];

/// `leaf.value = Hash(0x02 || vrf_output || commitment)`.
pub fn leaf(key: &Key, value: &Hash) -> Hash {
    Sha256::new().chain_update([2]).chain_update(key).chain_update(value).finalize().into()
}

/// `parent.value = Hash(0x03 || left || right)`.
pub fn parent(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([3]).chain_update(left).chain_update(right).finalize().into()
}

/// Bit `i` of a key, the first byte's most significant bit first.
fn bit(key: &Key, i: usize) -> bool {
    key[i / 8] >> (7 - i % 8) & 1 == 1
}

/// A node of the tree: the first `depth` bits of the keys under it (as a
/// key's words, the bits past `depth` zero). Ordered by those bits first,
/// positions none of which is a prefix of another go left to right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Position {
    bits: [u64; 4],
    depth: usize,
}

impl Position {
    const ROOT: Position = Position { bits: [0; 4], depth: 0 };

    fn of(key: &Key, depth: usize) -> Position {
        let word = |w: usize| u64::from_be_bytes(key[8 * w..8 * w + 8].try_into().expect("8 bytes"));
        Position { bits: [word(0), word(1), word(2), word(3)], depth: 256 }.prefix(depth)
    }

    /// The ancestor at `depth` (at most this one's).
    fn prefix(&self, depth: usize) -> Position {
        let mut p = Position { bits: self.bits, depth };
        for (w, bits) in p.bits.iter_mut().enumerate() {
            let kept = depth.saturating_sub(64 * w).min(64);
            *bits &= if kept == 0 { 0 } else { u64::MAX << (64 - kept) };
        }
        p
    }

    fn child(&self, right: bool) -> Position {
        let mut c = *self;
        if right {
            c.bits[self.depth / 64] |= 1 << (63 - self.depth % 64);
        }
        c.depth += 1;
        c
    }
}

/// The root of the tree holding `leaves` (distinct keys): a search goes left
/// on a 0 bit and right on a 1 until it is alone, and a leaf sits there.
pub fn root(leaves: &[(Key, Hash)]) -> Hash {
    fn node(depth: usize, leaves: &[&(Key, Hash)]) -> Hash {
        match leaves {
            [] => ZERO,
            [(k, v)] => leaf(k, v),
            _ => {
                let (right, left): (Vec<_>, Vec<_>) = leaves.iter().partition(|l| bit(&l.0, depth));
                parent(&node(depth + 1, &left), &node(depth + 1, &right))
            }
        }
    }
    let all: Vec<&(Key, Hash)> = leaves.iter().collect();
    assert!(all.iter().map(|l| l.0).collect::<BTreeSet<_>>().len() == all.len(), "distinct keys");
    node(0, &all)
}

/// One `PrefixSearchResult`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    Inclusion,
    NonInclusionLeaf(Key, Hash),
    NonInclusionParent,
    /// A result type the draft does not define (0, or 4 and up): only
    /// written, to tamper with a proof.
    Other(u8),
}

/// A decoded `PrefixProof`: (result, depth) per search, and the elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub results: Vec<(Found, u8)>,
    pub elements: Vec<Hash>,
}

impl Proof {
    /// The bytes, as the draft's TLS presentation language lays them out
    /// (at most 255 results and 65,535 elements).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![u8::try_from(self.results.len()).expect("at most 255 results")];
        for (found, depth) in &self.results {
            match found {
                Found::Inclusion => out.push(1),
                Found::NonInclusionLeaf(k, v) => {
                    out.push(2);
                    out.extend_from_slice(k);
                    out.extend_from_slice(v);
                }
                Found::NonInclusionParent => out.push(3),
                Found::Other(t) => out.push(*t),
            }
            out.push(*depth);
        }
        out.extend_from_slice(&u16::try_from(self.elements.len()).expect("at most 65,535 elements").to_be_bytes());
        for e in &self.elements {
            out.extend_from_slice(e);
        }
        out
    }

    /// Reads a `PrefixProof`; `None` unless the bytes are exactly one.
    pub fn decode(mut b: &[u8]) -> Option<Proof> {
        let mut results = Vec::new();
        for _ in 0..take(&mut b, 1)?[0] {
            let found = match take(&mut b, 1)?[0] {
                1 => Found::Inclusion,
                2 => Found::NonInclusionLeaf(take32(&mut b)?, take32(&mut b)?),
                3 => Found::NonInclusionParent,
                _ => return None,
            };
            results.push((found, take(&mut b, 1)?[0]));
        }
        let count = u16::from_be_bytes(take(&mut b, 2)?.try_into().ok()?);
        let elements = (0..count).map(|_| take32(&mut b)).collect::<Option<Vec<_>>>()?;
        b.is_empty().then_some(Proof { results, elements })
    }
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, rest) = (b.get(..n)?, b.get(n..)?);
    *b = rest;
    Some(head)
}

fn take32(b: &mut &[u8]) -> Option<[u8; 32]> {
    take(b, 32)?.try_into().ok()
}

/// The root `proof` leads to if each `keys[i]` holds `values[i]` (`None`:
/// holds nothing), or `None` if it is not a proof of that: a well-formed
/// request (1 to 255 distinct keys, one result each), each search ending
/// where its result says and as it says, no search passing through a node
/// where another ends, and exactly the elements the draft asks for, left to
/// right.
pub fn evaluate(keys: &[Key], values: &[Option<Hash>], proof: &[u8]) -> Option<Hash> {
    let proof = Proof::decode(proof)?;
    let distinct: BTreeSet<&Key> = keys.iter().collect();
    let n = keys.len();
    if n == 0 || n > 255 || distinct.len() != n || values.len() != n || proof.results.len() != n {
        return None;
    }
    // Where each search ended, and that node's value.
    let mut terminals: BTreeMap<Position, Hash> = BTreeMap::new();
    for ((key, value), (found, depth)) in keys.iter().zip(values).zip(&proof.results) {
        let at = Position::of(key, *depth as usize);
        let node = match (found, value) {
            (Found::Inclusion, Some(v)) => leaf(key, v),
            // Another key's leaf, on this key's path.
            (Found::NonInclusionLeaf(k, v), None) if k != key && Position::of(k, at.depth) == at => leaf(k, v),
            (Found::NonInclusionParent, None) => ZERO,
            _ => return None,
        };
        if terminals.insert(at, node).is_some_and(|other| other != node) {
            return None;
        }
    }
    // The nodes the searches went through: every proper prefix of where one ended.
    let path: BTreeSet<Position> = terminals.keys().flat_map(|t| (0..t.depth).map(|d| t.prefix(d))).collect();
    if terminals.keys().any(|t| path.contains(t)) {
        return None;
    }
    // The elements: the children of path nodes that no search reached. No
    // one of them is a prefix of another, so sorting puts them left to right.
    let mut needed: Vec<Position> = path
        .iter()
        .flat_map(|p| [p.child(false), p.child(true)])
        .filter(|c| !path.contains(c) && !terminals.contains_key(c))
        .collect();
    needed.sort();
    if needed.len() != proof.elements.len() {
        return None;
    }
    let mut known: BTreeMap<Position, Hash> = terminals;
    known.extend(needed.into_iter().zip(proof.elements));
    // Hash up from the deepest path node to the root.
    let mut upward: Vec<&Position> = path.iter().collect();
    upward.sort_by_key(|p| std::cmp::Reverse(p.depth));
    for p in upward {
        let value = parent(&known[&p.child(false)], &known[&p.child(true)]);
        known.insert(*p, value);
    }
    known.get(&Position::ROOT).copied()
}
