//! akd's proof messages (`akd_core/src/proto/specs/types.proto`), decoded
//! strictly: every field akd requires is present, singular fields appear
//! once, a sibling proof has one sibling and a direction of 0 or 1, hashes
//! are 32 bytes.

use super::hashing::Digest;
use super::label::NodeLabel;
use super::wire::{bytes, uint32, uint64, unknown, Fields, Once, Value};
use crate::error::{failed, Result};

/// A node: its label and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element {
    pub label: NodeLabel,
    pub value: Digest,
}

/// One level of a path: the parent's label, the sibling, and which side
/// the path goes (`left`: the path's node is the parent's left child).
#[derive(Clone, Debug)]
pub struct SiblingProof {
    pub label: NodeLabel,
    pub sibling: Element,
    pub left: bool,
}

#[derive(Clone, Debug)]
pub struct MembershipProof {
    pub label: NodeLabel,
    pub hash_val: Digest,
    /// Root first.
    pub sibling_proofs: Vec<SiblingProof>,
}

#[derive(Clone, Debug)]
pub struct NonMembershipProof {
    pub label: NodeLabel,
    pub longest_prefix: NodeLabel,
    pub children: [Element; 2],
    pub longest_prefix_membership_proof: MembershipProof,
}

#[derive(Clone, Debug)]
pub struct LookupProof<'a> {
    pub epoch: u64,
    pub value: &'a [u8],
    pub version: u64,
    pub existence_vrf_proof: &'a [u8],
    pub existence_proof: MembershipProof,
    pub marker_vrf_proof: &'a [u8],
    pub marker_proof: MembershipProof,
    pub freshness_vrf_proof: &'a [u8],
    pub freshness_proof: NonMembershipProof,
    pub commitment_nonce: &'a [u8],
}

#[derive(Clone, Debug)]
pub struct UpdateProof<'a> {
    pub epoch: u64,
    pub value: &'a [u8],
    pub version: u64,
    pub existence_vrf_proof: &'a [u8],
    pub existence_proof: MembershipProof,
    pub previous_version_vrf_proof: Option<&'a [u8]>,
    pub previous_version_proof: Option<MembershipProof>,
    pub commitment_nonce: &'a [u8],
}

#[derive(Clone, Debug, Default)]
pub struct HistoryProof<'a> {
    pub update_proofs: Vec<UpdateProof<'a>>,
    pub past_marker_vrf_proofs: Vec<&'a [u8]>,
    pub existence_of_past_marker_proofs: Vec<MembershipProof>,
    pub future_marker_vrf_proofs: Vec<&'a [u8]>,
    pub non_existence_of_future_marker_proofs: Vec<NonMembershipProof>,
}

/// One epoch's step: the subtrees left as they were, and the leaves added
/// (values before they are hashed with the epoch).
#[derive(Clone, Debug, Default)]
pub struct SingleAppendOnlyProof {
    pub inserted: Vec<Element>,
    pub unchanged_nodes: Vec<Element>,
}

#[derive(Clone, Debug, Default)]
pub struct AppendOnlyProof {
    pub proofs: Vec<SingleAppendOnlyProof>,
    /// The start epoch of each step.
    pub epochs: Vec<u64>,
}

/// Walks a message's fields, handing each to `f` with its number.
fn each_field<'a>(
    buf: &'a [u8],
    what: &'static str,
    mut f: impl FnMut(u32, Value<'a>) -> Result<bool>,
) -> Result<()> {
    let mut fields = Fields::new(buf, what);
    while let Some((number, value)) = fields.next_field()? {
        if !f(number, value)? {
            return Err(unknown(what, number));
        }
    }
    Ok(())
}

fn digest(value: Value<'_>, name: &'static str) -> Result<Digest> {
    let b = bytes(value, name)?;
    b.try_into().map_err(|_| failed(format!("{name} is {} bytes, not 32", b.len())))
}

impl Element {
    pub fn decode(buf: &[u8]) -> Result<Element> {
        let (mut label, mut value) = (Once::new("AzksElement.label"), Once::new("AzksElement.value"));
        each_field(buf, "AzksElement", |n, v| {
            match n {
                1 => label.set(NodeLabel::decode(bytes(v, "AzksElement.label")?)?)?,
                2 => value.set(digest(v, "AzksElement.value")?)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(Element { label: label.required()?, value: value.required()? })
    }
}

impl SiblingProof {
    pub fn decode(buf: &[u8]) -> Result<SiblingProof> {
        let (mut label, mut direction) = (Once::new("SiblingProof.label"), Once::new("SiblingProof.direction"));
        let mut siblings = Vec::with_capacity(1);
        each_field(buf, "SiblingProof", |n, v| {
            match n {
                1 => label.set(NodeLabel::decode(bytes(v, "SiblingProof.label")?)?)?,
                2 => siblings.push(Element::decode(bytes(v, "SiblingProof.siblings")?)?),
                3 => direction.set(uint32(v, "SiblingProof.direction")?)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let [sibling] = siblings[..] else {
            return Err(failed(format!("a sibling proof has {} siblings, not 1", siblings.len())));
        };
        let left = match direction.required()? {
            0 => true,
            1 => false,
            d => return Err(failed(format!("a sibling proof's direction is {d}, not 0 or 1"))),
        };
        Ok(SiblingProof { label: label.required()?, sibling, left })
    }
}

impl MembershipProof {
    pub fn decode(buf: &[u8]) -> Result<MembershipProof> {
        let (mut label, mut hash_val) = (Once::new("MembershipProof.label"), Once::new("MembershipProof.hash_val"));
        let mut sibling_proofs = Vec::new();
        each_field(buf, "MembershipProof", |n, v| {
            match n {
                1 => label.set(NodeLabel::decode(bytes(v, "MembershipProof.label")?)?)?,
                2 => hash_val.set(digest(v, "MembershipProof.hash_val")?)?,
                3 => sibling_proofs.push(SiblingProof::decode(bytes(v, "MembershipProof.sibling_proofs")?)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(MembershipProof { label: label.required()?, hash_val: hash_val.required()?, sibling_proofs })
    }
}

impl NonMembershipProof {
    pub fn decode(buf: &[u8]) -> Result<NonMembershipProof> {
        let mut label = Once::new("NonMembershipProof.label");
        let mut longest_prefix = Once::new("NonMembershipProof.longest_prefix");
        let mut membership = Once::new("NonMembershipProof.longest_prefix_membership_proof");
        let mut children = Vec::with_capacity(2);
        each_field(buf, "NonMembershipProof", |n, v| {
            match n {
                1 => label.set(NodeLabel::decode(bytes(v, "NonMembershipProof.label")?)?)?,
                2 => longest_prefix.set(NodeLabel::decode(bytes(v, "NonMembershipProof.longest_prefix")?)?)?,
                3 => children.push(Element::decode(bytes(v, "NonMembershipProof.longest_prefix_children")?)?),
                4 => membership.set(MembershipProof::decode(bytes(v, "NonMembershipProof.longest_prefix_membership_proof")?)?)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        let children: [Element; 2] = children
            .try_into()
            .map_err(|c: Vec<Element>| failed(format!("a non-membership proof has {} children, not 2", c.len())))?;
        Ok(NonMembershipProof {
            label: label.required()?,
            longest_prefix: longest_prefix.required()?,
            children,
            longest_prefix_membership_proof: membership.required()?,
        })
    }
}

impl<'a> LookupProof<'a> {
    pub fn decode(buf: &'a [u8]) -> Result<LookupProof<'a>> {
        let mut epoch = Once::new("LookupProof.epoch");
        let mut value = Once::new("LookupProof.value");
        let mut version = Once::new("LookupProof.version");
        let mut existence_vrf = Once::new("LookupProof.existence_vrf_proof");
        let mut existence = Once::new("LookupProof.existence_proof");
        let mut marker_vrf = Once::new("LookupProof.marker_vrf_proof");
        let mut marker = Once::new("LookupProof.marker_proof");
        let mut freshness_vrf = Once::new("LookupProof.freshness_vrf_proof");
        let mut freshness = Once::new("LookupProof.freshness_proof");
        let mut nonce = Once::new("LookupProof.commitment_nonce");
        each_field(buf, "LookupProof", |n, v| {
            match n {
                1 => epoch.set(uint64(v, "LookupProof.epoch")?)?,
                2 => value.set(bytes(v, "LookupProof.value")?)?,
                3 => version.set(uint64(v, "LookupProof.version")?)?,
                4 => existence_vrf.set(bytes(v, "LookupProof.existence_vrf_proof")?)?,
                5 => existence.set(MembershipProof::decode(bytes(v, "LookupProof.existence_proof")?)?)?,
                6 => marker_vrf.set(bytes(v, "LookupProof.marker_vrf_proof")?)?,
                7 => marker.set(MembershipProof::decode(bytes(v, "LookupProof.marker_proof")?)?)?,
                8 => freshness_vrf.set(bytes(v, "LookupProof.freshness_vrf_proof")?)?,
                9 => freshness.set(NonMembershipProof::decode(bytes(v, "LookupProof.freshness_proof")?)?)?,
                10 => nonce.set(bytes(v, "LookupProof.commitment_nonce")?)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(LookupProof {
            epoch: epoch.required()?,
            value: value.required()?,
            version: version.required()?,
            existence_vrf_proof: existence_vrf.required()?,
            existence_proof: existence.required()?,
            marker_vrf_proof: marker_vrf.required()?,
            marker_proof: marker.required()?,
            freshness_vrf_proof: freshness_vrf.required()?,
            freshness_proof: freshness.required()?,
            commitment_nonce: nonce.required()?,
        })
    }
}

impl<'a> UpdateProof<'a> {
    pub fn decode(buf: &'a [u8]) -> Result<UpdateProof<'a>> {
        let mut epoch = Once::new("UpdateProof.epoch");
        let mut value = Once::new("UpdateProof.value");
        let mut version = Once::new("UpdateProof.version");
        let mut existence_vrf = Once::new("UpdateProof.existence_vrf_proof");
        let mut existence = Once::new("UpdateProof.existence_proof");
        let mut previous_vrf = Once::new("UpdateProof.previous_version_vrf_proof");
        let mut previous = Once::new("UpdateProof.previous_version_proof");
        let mut nonce = Once::new("UpdateProof.commitment_nonce");
        each_field(buf, "UpdateProof", |n, v| {
            match n {
                1 => epoch.set(uint64(v, "UpdateProof.epoch")?)?,
                2 => value.set(bytes(v, "UpdateProof.value")?)?,
                3 => version.set(uint64(v, "UpdateProof.version")?)?,
                4 => existence_vrf.set(bytes(v, "UpdateProof.existence_vrf_proof")?)?,
                5 => existence.set(MembershipProof::decode(bytes(v, "UpdateProof.existence_proof")?)?)?,
                6 => previous_vrf.set(bytes(v, "UpdateProof.previous_version_vrf_proof")?)?,
                7 => previous.set(MembershipProof::decode(bytes(v, "UpdateProof.previous_version_proof")?)?)?,
                8 => nonce.set(bytes(v, "UpdateProof.commitment_nonce")?)?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(UpdateProof {
            epoch: epoch.required()?,
            value: value.required()?,
            version: version.required()?,
            existence_vrf_proof: existence_vrf.required()?,
            existence_proof: existence.required()?,
            previous_version_vrf_proof: previous_vrf.optional(),
            previous_version_proof: previous.optional(),
            commitment_nonce: nonce.required()?,
        })
    }
}

impl<'a> HistoryProof<'a> {
    pub fn decode(buf: &'a [u8]) -> Result<HistoryProof<'a>> {
        let mut p = HistoryProof::default();
        each_field(buf, "HistoryProof", |n, v| {
            match n {
                1 => p.update_proofs.push(UpdateProof::decode(bytes(v, "HistoryProof.update_proofs")?)?),
                2 => p.past_marker_vrf_proofs.push(bytes(v, "HistoryProof.past_marker_vrf_proofs")?),
                3 => p
                    .existence_of_past_marker_proofs
                    .push(MembershipProof::decode(bytes(v, "HistoryProof.existence_of_past_marker_proofs")?)?),
                4 => p.future_marker_vrf_proofs.push(bytes(v, "HistoryProof.future_marker_vrf_proofs")?),
                5 => p.non_existence_of_future_marker_proofs.push(NonMembershipProof::decode(bytes(
                    v,
                    "HistoryProof.non_existence_of_future_marker_proofs",
                )?)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(p)
    }
}

impl SingleAppendOnlyProof {
    pub fn decode(buf: &[u8]) -> Result<SingleAppendOnlyProof> {
        let mut p = SingleAppendOnlyProof::default();
        each_field(buf, "SingleAppendOnlyProof", |n, v| {
            match n {
                1 => p.inserted.push(Element::decode(bytes(v, "SingleAppendOnlyProof.inserted")?)?),
                2 => p.unchanged_nodes.push(Element::decode(bytes(v, "SingleAppendOnlyProof.unchanged_nodes")?)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(p)
    }
}

impl AppendOnlyProof {
    pub fn decode(buf: &[u8]) -> Result<AppendOnlyProof> {
        let mut p = AppendOnlyProof::default();
        each_field(buf, "AppendOnlyProof", |n, v| {
            match n {
                1 => p.proofs.push(SingleAppendOnlyProof::decode(bytes(v, "AppendOnlyProof.proofs")?)?),
                // proto2 writes a repeated scalar one field per value
                // (not packed): the one encoding accepted.
                2 => p.epochs.push(uint64(v, "AppendOnlyProof.epochs")?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(p)
    }
}
