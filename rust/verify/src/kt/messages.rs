//! The requests and responses of the draft's "User Operations" that this
//! crate serves — search, contact monitoring, walking distinguished heads —
//! in the draft's TLS presentation encoding, decoded strictly (no trailing
//! bytes, presence octets 0 or 1, vector limits).

use super::combined::CombinedTreeProof;
use super::commitment::OPENING_LEN;
use super::tree_head::{AuditorTreeHead, Configuration, Mode, TreeHead};
use super::wire::{Reader, Writer};
use crate::error::{invalid, Result};
use crate::suite::Hash;
use crate::vrf::PROOF_LEN;

const LABEL_MAX: u64 = 255;
const VALUE_MAX: u64 = u32::MAX as u64;

fn optional_u64(w: &mut Writer, v: Option<u64>) {
    match v {
        None => w.u8(0),
        Some(x) => w.u8(1).u64(x),
    };
}

fn optional_u32(w: &mut Writer, v: Option<u32>) {
    match v {
        None => w.u8(0),
        Some(x) => w.u8(1).u32(x),
    };
}

/// Decodes a whole message: `read` must use every byte.
fn whole<T>(b: &[u8], what: &'static str, read: impl FnOnce(&mut Reader<'_>) -> Result<T>) -> Result<T> {
    let mut r = Reader::new(b, what);
    let out = read(&mut r)?;
    r.finish()?;
    Ok(out)
}

/// `FullTreeHead`: the same head the user advertised, or a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullTreeHead {
    Same,
    Updated { head: TreeHead, auditor: Option<AuditorTreeHead> },
}

impl FullTreeHead {
    fn encode(&self, w: &mut Writer) -> Result<()> {
        match self {
            FullTreeHead::Same => {
                w.u8(1);
            }
            FullTreeHead::Updated { head, auditor } => {
                w.u8(2);
                head.encode(w)?;
                if let Some(a) = auditor {
                    a.encode(w)?;
                }
            }
        }
        Ok(())
    }

    fn decode(r: &mut Reader<'_>, config: &Configuration) -> Result<FullTreeHead> {
        match r.u8()? {
            1 => Ok(FullTreeHead::Same),
            2 => {
                let head = TreeHead::decode(r)?;
                let auditor = match config.mode {
                    Mode::ThirdPartyAuditing { .. } => Some(AuditorTreeHead::decode(r)?),
                    _ => None,
                };
                Ok(FullTreeHead::Updated { head, auditor })
            }
            t => Err(invalid(format!("malformed FullTreeHead: head type {t}"))),
        }
    }
}

/// `BinaryLadderStep`: a version's VRF proof, and its commitment if it exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderStep {
    pub proof: [u8; PROOF_LEN],
    pub commitment: Option<Hash>,
}

impl LadderStep {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.proof);
        match &self.commitment {
            None => w.u8(0),
            Some(c) => w.u8(1).fixed(c),
        };
    }

    fn decode(r: &mut Reader<'_>) -> Result<LadderStep> {
        Ok(LadderStep { proof: r.array()?, commitment: r.optional(|r| r.array())? })
    }
}

/// `BinaryLadderStep binary_ladder<0..2^8-1>`.
fn encode_ladder(w: &mut Writer, steps: &[LadderStep]) -> Result<()> {
    let n = u8::try_from(steps.len()).map_err(|_| invalid("a binary ladder of over 255 steps"))?;
    w.u8(n);
    steps.iter().for_each(|s| s.encode(w));
    Ok(())
}

fn decode_ladder(r: &mut Reader<'_>) -> Result<Vec<LadderStep>> {
    (0..r.u8()?).map(|_| LadderStep::decode(r)).collect()
}

/// A monitoring map: `MonitorMapEntry entries<0..2^8-1>`.
fn encode_map(w: &mut Writer, entries: &[(u64, u32)]) -> Result<()> {
    let n = u8::try_from(entries.len()).map_err(|_| invalid("over 255 monitoring map entries"))?;
    w.u8(n);
    for &(p, v) in entries {
        w.u64(p).u32(v);
    }
    Ok(())
}

fn decode_map(r: &mut Reader<'_>) -> Result<Vec<(u64, u32)>> {
    (0..r.u8()?).map(|_| Ok((r.u64()?, r.u32()?))).collect()
}

/// `SearchRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    pub last: Option<u64>,
    pub label: Vec<u8>,
    pub version: Option<u32>,
}

impl SearchRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        w.vector(&self.label, LABEL_MAX)?;
        optional_u32(&mut w, self.version);
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<SearchRequest> {
        whole(b, "SearchRequest", |r| {
            Ok(SearchRequest {
                last: r.optional(|r| r.u64())?,
                label: r.vector(LABEL_MAX)?.to_vec(),
                version: r.optional(|r| r.u32())?,
            })
        })
    }
}

/// `SearchResponse` (without third-party management's update suffix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchResponse {
    pub full_tree_head: FullTreeHead,
    /// The greatest version, present when the request named none.
    pub version: Option<u32>,
    pub opening: [u8; OPENING_LEN],
    /// `UpdateValue.value`.
    pub value: Vec<u8>,
    pub binary_ladder: Vec<LadderStep>,
    pub search: CombinedTreeProof,
}

impl SearchResponse {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.full_tree_head.encode(&mut w)?;
        if let Some(v) = self.version {
            w.u32(v);
        }
        w.fixed(&self.opening).vector(&self.value, VALUE_MAX)?;
        encode_ladder(&mut w, &self.binary_ladder)?;
        self.search.encode(&mut w)?;
        Ok(w.buf)
    }

    /// Decodes a response to `request` from a log with `config`.
    pub fn from_bytes(b: &[u8], request: &SearchRequest, config: &Configuration) -> Result<SearchResponse> {
        whole(b, "SearchResponse", |r| {
            Ok(SearchResponse {
                full_tree_head: FullTreeHead::decode(r, config)?,
                version: if request.version.is_none() { Some(r.u32()?) } else { None },
                opening: r.array()?,
                value: r.vector(VALUE_MAX)?.to_vec(),
                binary_ladder: decode_ladder(r)?,
                search: CombinedTreeProof::decode(r)?,
            })
        })
    }
}

/// `ContactMonitorRequest`: the user's monitoring map for one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorRequest {
    pub last: Option<u64>,
    pub label: Vec<u8>,
    /// (position, version), ascending by position.
    pub entries: Vec<(u64, u32)>,
}

impl MonitorRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        w.vector(&self.label, LABEL_MAX)?;
        encode_map(&mut w, &self.entries)?;
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<MonitorRequest> {
        whole(b, "ContactMonitorRequest", |r| {
            let last = r.optional(|r| r.u64())?;
            let label = r.vector(LABEL_MAX)?.to_vec();
            Ok(MonitorRequest { last, label, entries: decode_map(r)? })
        })
    }
}

/// `ContactMonitorResponse` and `DistinguishedResponse`: a head and a proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofResponse {
    pub full_tree_head: FullTreeHead,
    pub proof: CombinedTreeProof,
}

impl ProofResponse {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.full_tree_head.encode(&mut w)?;
        self.proof.encode(&mut w)?;
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8], config: &Configuration) -> Result<ProofResponse> {
        whole(b, "response", |r| {
            Ok(ProofResponse { full_tree_head: FullTreeHead::decode(r, config)?, proof: CombinedTreeProof::decode(r)? })
        })
    }
}

/// `DistinguishedRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistinguishedRequest {
    pub last: Option<u64>,
    pub stop: Option<u64>,
}

impl DistinguishedRequest {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        optional_u64(&mut w, self.stop);
        w.buf
    }

    pub fn from_bytes(b: &[u8]) -> Result<DistinguishedRequest> {
        whole(b, "DistinguishedRequest", |r| {
            Ok(DistinguishedRequest { last: r.optional(|r| r.u64())?, stop: r.optional(|r| r.u64())? })
        })
    }
}

/// `OwnerInitRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerInitRequest {
    pub last: Option<u64>,
    pub label: Vec<u8>,
    pub start: u64,
}

impl OwnerInitRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        w.vector(&self.label, LABEL_MAX)?.u64(self.start);
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<OwnerInitRequest> {
        whole(b, "OwnerInitRequest", |r| {
            Ok(OwnerInitRequest {
                last: r.optional(|r| r.u64())?,
                label: r.vector(LABEL_MAX)?.to_vec(),
                start: r.u64()?,
            })
        })
    }
}

/// `OwnerInitResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerInitResponse {
    pub full_tree_head: FullTreeHead,
    pub greatest_versions: Vec<u32>,
    /// One step per version looked up, ascending by version (up to 2^16 - 1).
    pub binary_ladder: Vec<LadderStep>,
    pub init: CombinedTreeProof,
}

impl OwnerInitResponse {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.full_tree_head.encode(&mut w)?;
        let n = u8::try_from(self.greatest_versions.len()).map_err(|_| invalid("over 255 greatest versions"))?;
        w.u8(n);
        for v in &self.greatest_versions {
            w.u32(*v);
        }
        let steps = u16::try_from(self.binary_ladder.len()).map_err(|_| invalid("over 65535 ladder steps"))?;
        w.buf.extend_from_slice(&steps.to_be_bytes());
        self.binary_ladder.iter().for_each(|s| s.encode(&mut w));
        self.init.encode(&mut w)?;
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8], config: &Configuration) -> Result<OwnerInitResponse> {
        whole(b, "OwnerInitResponse", |r| {
            let full_tree_head = FullTreeHead::decode(r, config)?;
            let greatest_versions = (0..r.u8()?).map(|_| r.u32()).collect::<Result<_>>()?;
            let binary_ladder = (0..r.u16()?).map(|_| LadderStep::decode(r)).collect::<Result<_>>()?;
            Ok(OwnerInitResponse {
                full_tree_head,
                greatest_versions,
                binary_ladder,
                init: CombinedTreeProof::decode(r)?,
            })
        })
    }
}

/// `OwnerMonitorRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerMonitorRequest {
    pub last: Option<u64>,
    pub label: Vec<u8>,
    /// The owner's contact monitoring map, ascending by position.
    pub entries: Vec<(u64, u32)>,
    /// The rightmost distinguished entry the owner has checked.
    pub start: u64,
    pub greatest_version: Option<u32>,
}

impl OwnerMonitorRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        w.vector(&self.label, LABEL_MAX)?;
        encode_map(&mut w, &self.entries)?;
        w.u64(self.start);
        optional_u32(&mut w, self.greatest_version);
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<OwnerMonitorRequest> {
        whole(b, "OwnerMonitorRequest", |r| {
            let last = r.optional(|r| r.u64())?;
            let label = r.vector(LABEL_MAX)?.to_vec();
            Ok(OwnerMonitorRequest {
                last,
                label,
                entries: decode_map(r)?,
                start: r.u64()?,
                greatest_version: r.optional(|r| r.u32())?,
            })
        })
    }
}

/// `UpdateRequest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRequest {
    pub last: Option<u64>,
    pub label: Vec<u8>,
    pub greatest_version: Option<u32>,
    /// New values to create; empty asks to hear of versions made since.
    pub values: Vec<Vec<u8>>,
}

fn encode_values(w: &mut Writer, values: &[Vec<u8>]) -> Result<()> {
    let n = u8::try_from(values.len()).map_err(|_| invalid("over 255 values"))?;
    w.u8(n);
    for v in values {
        w.vector(v, VALUE_MAX)?;
    }
    Ok(())
}

fn decode_values(r: &mut Reader<'_>) -> Result<Vec<Vec<u8>>> {
    (0..r.u8()?).map(|_| Ok(r.vector(VALUE_MAX)?.to_vec())).collect()
}

impl UpdateRequest {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        optional_u64(&mut w, self.last);
        w.vector(&self.label, LABEL_MAX)?;
        optional_u32(&mut w, self.greatest_version);
        encode_values(&mut w, &self.values)?;
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8]) -> Result<UpdateRequest> {
        whole(b, "UpdateRequest", |r| {
            Ok(UpdateRequest {
                last: r.optional(|r| r.u64())?,
                label: r.vector(LABEL_MAX)?.to_vec(),
                greatest_version: r.optional(|r| r.u32())?,
                values: decode_values(r)?,
            })
        })
    }
}

/// `UpdateResponse` (no third-party management: no skipped versions, no
/// signature suffixes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateResponse {
    pub full_tree_head: FullTreeHead,
    /// The log entry that added the versions.
    pub position: u64,
    pub values: Vec<Vec<u8>>,
    /// `UpdateInfo.opening` of each version.
    pub openings: Vec<[u8; OPENING_LEN]>,
    pub binary_ladder: Vec<LadderStep>,
    pub update: CombinedTreeProof,
}

impl UpdateResponse {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.full_tree_head.encode(&mut w)?;
        w.u64(self.position);
        encode_values(&mut w, &self.values)?;
        let n = u8::try_from(self.openings.len()).map_err(|_| invalid("over 255 update infos"))?;
        w.u8(n);
        for o in &self.openings {
            w.fixed(o);
        }
        encode_ladder(&mut w, &self.binary_ladder)?;
        self.update.encode(&mut w)?;
        Ok(w.buf)
    }

    pub fn from_bytes(b: &[u8], config: &Configuration) -> Result<UpdateResponse> {
        whole(b, "UpdateResponse", |r| {
            Ok(UpdateResponse {
                full_tree_head: FullTreeHead::decode(r, config)?,
                position: r.u64()?,
                values: decode_values(r)?,
                openings: (0..r.u8()?).map(|_| r.array()).collect::<Result<_>>()?,
                binary_ladder: decode_ladder(r)?,
                update: CombinedTreeProof::decode(r)?,
            })
        })
    }
}
