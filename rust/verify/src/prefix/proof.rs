//! Multi-key proofs in the KEYTRANS `PrefixProof` encoding:
//!
//! ```text
//! struct { uint8 result_type; [PrefixLeaf leaf if nonInclusionLeaf]; uint8 depth; } PrefixSearchResult
//! struct { PrefixSearchResult results<0..2^8-1>; HashValue elements<0..2^16-1>; } PrefixProof
//! ```
//!
//! (vector bounds count elements, as the draft defines). `results` follow the
//! order the keys were asked in; `elements` are the fewest node values that
//! rebuild the root from the terminal nodes: the siblings of the search paths
//! that lie on no search path, left to right, a missing node as all zeros.

use super::hash::{MapSuite, ZERO};
use super::key::{bit, common_prefix, Key, Value};
use crate::error::{failed, invalid, Result};
use crate::suite::Hash;

/// Most keys one `PrefixProof` can answer (its results vector has a one-byte length).
pub const MAX_PROOF_KEYS: usize = 255;
/// Most sibling values one `PrefixProof` can carry (a two-byte count).
pub const MAX_ELEMENTS: usize = u16::MAX as usize;

const INCLUSION: u8 = 1;
const NON_INCLUSION_LEAF: u8 = 2;
const NON_INCLUSION_PARENT: u8 = 3;

/// Where one search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Terminal {
    Inclusion,
    /// A leaf for another key.
    OtherLeaf(Key, Value),
    /// The all-zero stand-in for a parent's missing child.
    StandIn,
}

/// Checks a batch of keys for a proof: 1 to 255 keys, no duplicates. Returns
/// them sorted, each with its position in the request.
pub fn sorted_request(keys: &[Key]) -> Result<Vec<(Key, usize)>> {
    if keys.is_empty() || keys.len() > MAX_PROOF_KEYS {
        return Err(invalid(format!("a prefix proof covers 1 to {MAX_PROOF_KEYS} keys, not {}", keys.len())));
    }
    let mut sorted: Vec<(Key, usize)> = keys.iter().copied().zip(0..).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(invalid(format!("duplicate key {} in one request", hex(&w[0].0))));
    }
    Ok(sorted)
}

/// Encodes a `PrefixProof`: each key's terminal and depth, in request
/// order, then the sibling values (what a prover found walking its tree).
pub fn encode_prefix_proof(keys: &[Key], results: &[(Terminal, usize)], elements: &[Hash]) -> Result<Vec<u8>> {
    if elements.len() > MAX_ELEMENTS {
        return Err(invalid(format!(
            "the proof needs {} elements; PrefixProof holds at most {MAX_ELEMENTS}",
            elements.len()
        )));
    }
    let mut out = Vec::with_capacity(1 + keys.len() * 2 + 2 + 32 * elements.len());
    out.push(keys.len() as u8);
    for ((terminal, depth), key) in results.iter().zip(keys) {
        let depth = u8::try_from(*depth)
            .map_err(|_| invalid(format!("key {} ends at depth 256, which PrefixProof cannot encode", hex(key))))?;
        match terminal {
            Terminal::Inclusion => out.push(INCLUSION),
            Terminal::OtherLeaf(k, v) => {
                out.push(NON_INCLUSION_LEAF);
                out.extend_from_slice(k);
                out.extend_from_slice(v);
            }
            Terminal::StandIn => out.push(NON_INCLUSION_PARENT),
        }
        out.push(depth);
    }
    out.extend_from_slice(&(elements.len() as u16).to_be_bytes());
    for e in elements {
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Which searches of a `PrefixProof` end in inclusion, in request order: a
/// verifier that learns presence from the proof itself (as a KEYTRANS
/// binary ladder does) reads it here, then evaluates the proof with the
/// values it expects.
pub fn prefix_proof_inclusions(proof: &[u8]) -> Result<Vec<bool>> {
    Ok(decode(proof)?.0.iter().map(|f| f.terminal == Terminal::Inclusion).collect())
}

/// A decoded search result.
struct Found {
    terminal: Terminal,
    depth: usize,
}

/// Reads a `PrefixProof`, strictly: no short reads, no trailing bytes.
fn decode(proof: &[u8]) -> Result<(Vec<Found>, Vec<Hash>)> {
    let mut r = Reader(proof);
    let n = r.u8()? as usize;
    let mut results = Vec::with_capacity(n);
    for i in 0..n {
        let terminal = match r.u8()? {
            INCLUSION => Terminal::Inclusion,
            NON_INCLUSION_LEAF => Terminal::OtherLeaf(r.hash()?, r.hash()?),
            NON_INCLUSION_PARENT => Terminal::StandIn,
            t => return Err(failed(format!("result {i} has unknown type {t}"))),
        };
        results.push(Found { terminal, depth: r.u8()? as usize });
    }
    let count = u16::from_be_bytes([r.u8()?, r.u8()?]) as usize;
    if r.0.len() != 32 * count {
        return Err(failed(format!(
            "the proof declares {count} elements but holds {} bytes after the count",
            r.0.len()
        )));
    }
    let elements = r.0.chunks_exact(32).map(|c| c.try_into().expect("32-byte chunks")).collect();
    Ok((results, elements))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.0.len() < n {
            return Err(failed("the proof is truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn hash(&mut self) -> Result<Hash> {
        Ok(self.take(32)?.try_into().expect("took 32 bytes"))
    }
}

/// Checks that `proof` shows, against `root`, each `keys[i]` holding
/// `values[i]` (or, for `None`, holding nothing).
pub fn verify_prefix_proof(
    suite: MapSuite,
    root: &Hash,
    keys: &[Key],
    values: &[Option<Value>],
    proof: &[u8],
) -> Result<()> {
    if evaluate_prefix_proof(suite, keys, values, proof)? != *root {
        return Err(failed("the proof does not lead to the root"));
    }
    Ok(())
}

/// The root that `proof` leads to if each `keys[i]` holds `values[i]` (or,
/// for `None`, nothing): KEYTRANS clients evaluate proofs to candidate
/// roots and check those against the log instead.
pub fn evaluate_prefix_proof(suite: MapSuite, keys: &[Key], values: &[Option<Value>], proof: &[u8]) -> Result<Hash> {
    if keys.len() != values.len() {
        return Err(invalid(format!("{} keys but {} values", keys.len(), values.len())));
    }
    let sorted = sorted_request(keys)?;
    let (results, elements) = decode(proof)?;
    if results.len() != keys.len() {
        return Err(failed(format!("the proof answers {} searches, not {}", results.len(), keys.len())));
    }
    // Each key's terminal node value, checked against what the caller expects.
    let mut items: Vec<(Key, usize, Hash)> = Vec::with_capacity(keys.len());
    for (key, i) in sorted {
        let Found { terminal, depth } = &results[i];
        let value = match (terminal, &values[i]) {
            (Terminal::Inclusion, Some(v)) => suite.leaf_hash(&key, v),
            (Terminal::OtherLeaf(k, v), None) => {
                if *k == key || common_prefix(k, &key) < *depth {
                    return Err(failed(format!("result {i}: the leaf shown is not beside key {}", hex(&key))));
                }
                suite.leaf_hash(k, v)
            }
            (Terminal::StandIn, None) => ZERO,
            (Terminal::Inclusion, None) => return Err(failed(format!("result {i} shows key {} present", hex(&key)))),
            (_, Some(_)) => return Err(failed(format!("result {i} shows key {} absent", hex(&key)))),
        };
        items.push((key, *depth, value));
    }
    let mut elements = elements.into_iter();
    let got = rebuild(suite, 0, &items, &mut |_, its| Ok(its[0].2), &mut elements)?;
    if elements.next().is_some() {
        return Err(failed("the proof has unused elements"));
    }
    Ok(got)
}

/// The roots before and after inserting `leaves` (keys sorted ascending,
/// none present) into the tree that `proof` — a lookup of exactly those
/// keys, in that order — shows: what a KEYTRANS auditor computes from an
/// `AuditorUpdate`. Each insertion lands where its search ended, beside the
/// leaf found there, if any.
pub fn prefix_proof_insert(suite: MapSuite, leaves: &[(Key, Value)], proof: &[u8]) -> Result<(Hash, Hash)> {
    if leaves.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(failed("the inserted leaves are not in ascending key order without repeats"));
    }
    let keys: Vec<Key> = leaves.iter().map(|l| l.0).collect();
    let old = evaluate_prefix_proof(suite, &keys, &vec![None; keys.len()], proof)?;
    let (results, elements) = decode(proof)?;
    // Already checked by `evaluate`.
    let items: Vec<Landing> = leaves
        .iter()
        .zip(&results)
        .map(|(l, f)| match f.terminal {
            Terminal::OtherLeaf(k, v) => (l.0, f.depth, Some((k, v))),
            _ => (l.0, f.depth, None),
        })
        .collect();
    let value_of = |k: &Key| leaves[keys.binary_search(k).expect("an inserted key")].1;
    let mut grown = |pos: usize, its: &[Landing]| {
        let mut placed: Vec<(Key, Value)> = its.iter().map(|it| (it.0, value_of(&it.0))).collect();
        placed.extend(its[0].2);
        placed.sort_unstable_by_key(|l| l.0);
        Ok(subtree(suite, pos, &placed))
    };
    let mut elements = elements.into_iter();
    let new = rebuild(suite, 0, &items, &mut grown, &mut elements)?;
    Ok((old, new))
}

/// Where an inserted key's search ended: the key, the depth, and the leaf
/// found there, if any.
type Landing = Search<Option<(Key, Value)>>;

/// The value of a subtree at depth `pos` holding `leaves` (sorted, sharing
/// their first `pos` bits): a lone leaf sits at `pos` itself.
fn subtree(suite: MapSuite, pos: usize, leaves: &[(Key, Value)]) -> Hash {
    match leaves {
        [] => ZERO,
        [(k, v)] => suite.leaf_hash(k, v),
        _ => {
            let split = leaves.partition_point(|l| !bit(&l.0, pos));
            suite.parent_hash(&subtree(suite, pos + 1, &leaves[..split]), &subtree(suite, pos + 1, &leaves[split..]))
        }
    }
}

/// The length of the `PrefixProof` at the start of `b`, which may go on
/// with other fields (as inside a `CombinedTreeProof`).
pub fn prefix_proof_len(b: &[u8]) -> Result<usize> {
    let mut r = Reader(b);
    for i in 0..r.u8()? {
        match r.u8()? {
            INCLUSION | NON_INCLUSION_PARENT => {}
            NON_INCLUSION_LEAF => {
                r.take(64)?;
            }
            t => return Err(failed(format!("result {i} has unknown type {t}"))),
        }
        r.u8()?;
    }
    let count = u16::from_be_bytes([r.u8()?, r.u8()?]) as usize;
    r.take(32 * count)?;
    Ok(b.len() - r.0.len())
}

/// One search being rebuilt: its key, the depth where it ended, and what
/// it found there.
type Search<T> = (Key, usize, T);
/// The value of a node where searches end, from its depth and the searches.
type TerminalValue<'a, T> = dyn FnMut(usize, &[Search<T>]) -> Result<Hash> + 'a;

/// The value of the node at depth `pos` above `items` (sorted, non-empty,
/// all under that node), taking sibling values from `elements` left to
/// right; `terminal` gives the value of a node where searches end.
fn rebuild<T>(
    suite: MapSuite,
    pos: usize,
    items: &[Search<T>],
    terminal: &mut TerminalValue<'_, T>,
    elements: &mut impl Iterator<Item = Hash>,
) -> Result<Hash>
where
    T: PartialEq,
{
    if items.iter().any(|it| it.1 == pos) {
        // This node is a terminal: every search under it must end here, alike.
        if items.iter().any(|it| it.1 != pos || it.2 != items[0].2) {
            return Err(failed(format!("searches disagree about the node at depth {pos}")));
        }
        return terminal(pos, items);
    }
    let split = items.partition_point(|it| !bit(&it.0, pos));
    let mut side = |its: &[Search<T>]| {
        if its.is_empty() {
            elements.next().ok_or_else(|| failed("the proof has too few elements"))
        } else {
            rebuild(suite, pos + 1, its, terminal, elements)
        }
    };
    let left = side(&items[..split])?;
    let right = side(&items[split..])?;
    Ok(suite.parent_hash(&left, &right))
}

/// A key in hex, for messages.
pub fn hex(key: &Key) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
