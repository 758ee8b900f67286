//! `CombinedTreeProof`: the timestamps, prefix-tree proofs, prefix roots and
//! log-tree batch proof that one response carries, in the order the
//! algorithms consume them (the draft's "Combined Tree" proof).

use super::wire::{Reader, Writer};
use crate::error::{invalid, Result};
use crate::prefix::prefix_proof_len;
use crate::suite::Hash;

/// The fields of a `CombinedTreeProof`; `prefix_proofs` hold encoded
/// `PrefixProof`s, `inclusion` the log tree's batch proof elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CombinedTreeProof {
    pub timestamps: Vec<u64>,
    pub prefix_proofs: Vec<Vec<u8>>,
    pub prefix_roots: Vec<Hash>,
    pub inclusion: Vec<Hash>,
}

fn count(n: usize, ceiling: usize, what: &str) -> Result<()> {
    if n > ceiling {
        return Err(invalid(format!("{n} {what} exceed the limit of {ceiling}")));
    }
    Ok(())
}

impl CombinedTreeProof {
    pub fn encode(&self, w: &mut Writer) -> Result<()> {
        count(self.timestamps.len(), 255, "timestamps")?;
        count(self.prefix_proofs.len(), 255, "prefix proofs")?;
        count(self.prefix_roots.len(), 255, "prefix roots")?;
        count(self.inclusion.len(), 0xffff, "inclusion elements")?;
        w.u8(self.timestamps.len() as u8);
        for t in &self.timestamps {
            w.u64(*t);
        }
        w.u8(self.prefix_proofs.len() as u8);
        for p in &self.prefix_proofs {
            if prefix_proof_len(p)? != p.len() {
                return Err(invalid("a prefix proof with trailing bytes"));
            }
            w.fixed(p);
        }
        w.u8(self.prefix_roots.len() as u8);
        for h in &self.prefix_roots {
            w.fixed(h);
        }
        w.buf.extend_from_slice(&(self.inclusion.len() as u16).to_be_bytes());
        for h in &self.inclusion {
            w.fixed(h);
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<CombinedTreeProof> {
        let timestamps = (0..r.u8()?).map(|_| r.u64()).collect::<Result<_>>()?;
        let prefix_proofs = (0..r.u8()?)
            .map(|_| {
                let len = prefix_proof_len(r.rest())?;
                Ok(r.fixed(len)?.to_vec())
            })
            .collect::<Result<_>>()?;
        let prefix_roots = (0..r.u8()?).map(|_| r.array()).collect::<Result<_>>()?;
        let inclusion = (0..r.u16()?).map(|_| r.array()).collect::<Result<_>>()?;
        Ok(CombinedTreeProof { timestamps, prefix_proofs, prefix_roots, inclusion })
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.encode(&mut w)?;
        Ok(w.buf)
    }

    /// The proof from its whole encoding (no trailing bytes).
    pub fn from_bytes(b: &[u8]) -> Result<CombinedTreeProof> {
        let mut r = Reader::new(b, "CombinedTreeProof");
        let p = CombinedTreeProof::decode(&mut r)?;
        r.finish()?;
        Ok(p)
    }
}
