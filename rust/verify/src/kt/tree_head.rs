//! The log's long-term `Configuration`, and the signed tree heads of the
//! log and of a third-party auditor (the draft's "Tree Head Signature" and
//! "Auditor Tree Head Signature"), for cipher suite `KT_128_SHA256_Ed25519`.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::wire::{Reader, Writer};
use crate::error::{failed, invalid, Result};
use crate::suite::Hash;

/// The one cipher suite implemented: `KT_128_SHA256_Ed25519`.
pub const KT_128_SHA256_ED25519: u16 = 0x0002;
const VEC16: u64 = 0xffff;

/// Who vouches for the log beside its operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    ContactMonitoring,
    ThirdPartyManagement { leaf_public_key: Vec<u8> },
    ThirdPartyAuditing { max_auditor_lag: u64, auditor_start_pos: u64, auditor_public_key: Vec<u8> },
}

/// A log's long-term configuration; durations in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configuration {
    pub mode: Mode,
    pub signature_public_key: Vec<u8>,
    pub vrf_public_key: Vec<u8>,
    pub max_ahead: u64,
    pub max_behind: u64,
    pub reasonable_monitoring_window: u64,
    pub maximum_lifetime: Option<u64>,
}

impl Configuration {
    pub fn encode(&self, w: &mut Writer) -> Result<()> {
        w.buf.extend_from_slice(&KT_128_SHA256_ED25519.to_be_bytes());
        w.u8(match self.mode {
            Mode::ContactMonitoring => 1,
            Mode::ThirdPartyManagement { .. } => 2,
            Mode::ThirdPartyAuditing { .. } => 3,
        });
        w.vector(&self.signature_public_key, VEC16)?.vector(&self.vrf_public_key, VEC16)?;
        match &self.mode {
            Mode::ContactMonitoring => {}
            Mode::ThirdPartyManagement { leaf_public_key } => {
                w.vector(leaf_public_key, VEC16)?;
            }
            Mode::ThirdPartyAuditing { max_auditor_lag, auditor_start_pos, auditor_public_key } => {
                w.u64(*max_auditor_lag).u64(*auditor_start_pos).vector(auditor_public_key, VEC16)?;
            }
        }
        w.u64(self.max_ahead).u64(self.max_behind).u64(self.reasonable_monitoring_window);
        match self.maximum_lifetime {
            None => w.u8(0),
            Some(l) => w.u8(1).u64(l),
        };
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Configuration> {
        let suite = r.u16()?;
        if suite != KT_128_SHA256_ED25519 {
            return Err(invalid(format!("cipher suite {suite:#06x} is not supported (only KT_128_SHA256_Ed25519)")));
        }
        let mode = r.u8()?;
        let signature_public_key = r.vector(VEC16)?.to_vec();
        let vrf_public_key = r.vector(VEC16)?.to_vec();
        let mode = match mode {
            1 => Mode::ContactMonitoring,
            2 => Mode::ThirdPartyManagement { leaf_public_key: r.vector(VEC16)?.to_vec() },
            3 => Mode::ThirdPartyAuditing {
                max_auditor_lag: r.u64()?,
                auditor_start_pos: r.u64()?,
                auditor_public_key: r.vector(VEC16)?.to_vec(),
            },
            other => return Err(invalid(format!("malformed Configuration: deployment mode {other}"))),
        };
        Ok(Configuration {
            mode,
            signature_public_key,
            vrf_public_key,
            max_ahead: r.u64()?,
            max_behind: r.u64()?,
            reasonable_monitoring_window: r.u64()?,
            maximum_lifetime: r.optional(|r| r.u64())?,
        })
    }

    /// The configuration from its whole encoding (no trailing bytes).
    pub fn from_bytes(b: &[u8]) -> Result<Configuration> {
        let mut r = Reader::new(b, "Configuration");
        let c = Configuration::decode(&mut r)?;
        r.finish()?;
        Ok(c)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        self.encode(&mut w)?;
        Ok(w.buf)
    }
}

/// `TreeHead`: the log's size and its signature over `TreeHeadTBS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    pub signature: Vec<u8>,
}

/// A tree head with the root it signs: what clients gossip to each other
/// (alongside messages) so that a log showing two of them different trees
/// is caught. Encoded as `uint64 tree_size; opaque root[32]; opaque
/// signature<0..2^16-1>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHead {
    pub tree_size: u64,
    pub root: Hash,
    pub signature: Vec<u8>,
}

impl SignedHead {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        w.u64(self.tree_size).fixed(&self.root).vector(&self.signature, VEC16)?;
        Ok(w.buf)
    }

    /// Decodes a peer's head and checks the log's signature on it.
    pub fn verified(b: &[u8], config: &Configuration) -> Result<SignedHead> {
        let mut r = Reader::new(b, "signed tree head");
        let head = SignedHead { tree_size: r.u64()?, root: r.array()?, signature: r.vector(VEC16)?.to_vec() };
        r.finish()?;
        if head.tree_size == 0 {
            return Err(invalid("a signed tree head of 0 entries"));
        }
        TreeHead { tree_size: head.tree_size, signature: head.signature.clone() }.verify(config, &head.root)?;
        Ok(head)
    }
}

/// `AuditorTreeHead`: an auditor's signed view of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditorTreeHead {
    pub timestamp: u64,
    pub tree_size: u64,
    pub signature: Vec<u8>,
}

impl TreeHead {
    pub fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u64(self.tree_size).vector(&self.signature, VEC16)?;
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<TreeHead> {
        Ok(TreeHead { tree_size: r.u64()?, signature: r.vector(VEC16)?.to_vec() })
    }

    /// Signs the log's root at `tree_size` under `config`.
    pub fn sign(key: &SigningKey, config: &Configuration, tree_size: u64, root: &Hash) -> Result<TreeHead> {
        let tbs = tbs(config, &[], tree_size, root)?;
        Ok(TreeHead { tree_size, signature: key.sign(&tbs).to_bytes().to_vec() })
    }

    /// Checks the signature against `config.signature_public_key` and `root`.
    pub fn verify(&self, config: &Configuration, root: &Hash) -> Result<()> {
        check(&config.signature_public_key, &tbs(config, &[], self.tree_size, root)?, &self.signature, "tree head")
    }
}

impl AuditorTreeHead {
    pub fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u64(self.timestamp).u64(self.tree_size).vector(&self.signature, VEC16)?;
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<AuditorTreeHead> {
        Ok(AuditorTreeHead { timestamp: r.u64()?, tree_size: r.u64()?, signature: r.vector(VEC16)?.to_vec() })
    }

    /// The auditor signs its view: the log's root at `tree_size`, as of `timestamp`.
    pub fn sign(
        key: &SigningKey,
        config: &Configuration,
        timestamp: u64,
        tree_size: u64,
        root: &Hash,
    ) -> Result<AuditorTreeHead> {
        let tbs = tbs(config, &timestamp.to_be_bytes(), tree_size, root)?;
        Ok(AuditorTreeHead { timestamp, tree_size, signature: key.sign(&tbs).to_bytes().to_vec() })
    }

    /// Checks the signature against the configuration's auditor key.
    pub fn verify(&self, config: &Configuration, root: &Hash) -> Result<()> {
        let Mode::ThirdPartyAuditing { auditor_public_key, .. } = &config.mode else {
            return Err(failed("an auditor tree head, but the log has no third-party auditor"));
        };
        let tbs = tbs(config, &self.timestamp.to_be_bytes(), self.tree_size, root)?;
        check(auditor_public_key, &tbs, &self.signature, "auditor tree head")
    }
}

/// `TreeHeadTBS` (no `timestamp`) or `AuditorTreeHeadTBS`.
fn tbs(config: &Configuration, timestamp: &[u8], tree_size: u64, root: &Hash) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    config.encode(&mut w)?;
    w.fixed(timestamp).u64(tree_size).fixed(root);
    Ok(w.buf)
}

fn check(public: &[u8], msg: &[u8], signature: &[u8], what: &str) -> Result<()> {
    let public: [u8; 32] = public.try_into().map_err(|_| failed(format!("the {what} key is not an Ed25519 key")))?;
    let key = VerifyingKey::from_bytes(&public).map_err(|_| failed(format!("the {what} key is not a curve point")))?;
    let sig: [u8; 64] = signature.try_into().map_err(|_| failed(format!("the {what} signature is not 64 bytes")))?;
    key.verify_strict(msg, &Signature::from_bytes(&sig))
        .map_err(|_| failed(format!("the {what} signature is not valid")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mode: Mode, key: &SigningKey) -> Configuration {
        Configuration {
            mode,
            signature_public_key: key.verifying_key().to_bytes().to_vec(),
            vrf_public_key: vec![9; 32],
            max_ahead: 60_000,
            max_behind: 86_400_000,
            reasonable_monitoring_window: 604_800_000,
            maximum_lifetime: Some(31_536_000_000),
        }
    }

    #[test]
    fn configurations_round_trip_strictly() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let modes = [
            Mode::ContactMonitoring,
            Mode::ThirdPartyManagement { leaf_public_key: vec![2; 32] },
            Mode::ThirdPartyAuditing { max_auditor_lag: 5, auditor_start_pos: 7, auditor_public_key: vec![3; 32] },
        ];
        for mode in modes {
            let mut c = config(mode, &key);
            for lifetime in [None, Some(10)] {
                c.maximum_lifetime = lifetime;
                let b = c.to_bytes().unwrap();
                assert_eq!(Configuration::from_bytes(&b).unwrap(), c);
                assert!(Configuration::from_bytes(&[b.clone(), vec![0]].concat()).is_err(), "trailing byte");
                assert!(Configuration::from_bytes(&b[..b.len() - 1]).is_err(), "truncated");
                // The optional's presence octet is last but 8 (or last).
                let at = if lifetime.is_some() { b.len() - 9 } else { b.len() - 1 };
                let mut bad = b.clone();
                bad[at] = 2;
                assert!(Configuration::from_bytes(&bad).is_err_and(|e| e.to_string().contains("presence")));
            }
        }
        let mut b = config(Mode::ContactMonitoring, &key).to_bytes().unwrap();
        b[2] = 4;
        assert!(Configuration::from_bytes(&b).is_err_and(|e| e.to_string().contains("deployment mode 4")));
        b[2] = 1;
        b[1] = 1;
        assert!(Configuration::from_bytes(&b).is_err_and(|e| e.to_string().contains("not supported")));
    }

    #[test]
    fn tree_heads_sign_and_verify() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let auditor = SigningKey::from_bytes(&[2; 32]);
        let mode = Mode::ThirdPartyAuditing {
            max_auditor_lag: 5,
            auditor_start_pos: 0,
            auditor_public_key: auditor.verifying_key().to_bytes().to_vec(),
        };
        let c = config(mode, &key);
        let root = [7; 32];
        let head = TreeHead::sign(&key, &c, 13, &root).unwrap();
        head.verify(&c, &root).unwrap();
        let mut w = Writer::default();
        head.encode(&mut w).unwrap();
        let mut r = Reader::new(&w.buf, "TreeHead");
        assert_eq!(TreeHead::decode(&mut r).unwrap(), head);
        r.finish().unwrap();
        assert!(head.verify(&c, &[8; 32]).is_err(), "another root");
        assert!(TreeHead { tree_size: 14, ..head.clone() }.verify(&c, &root).is_err(), "another size");
        let mut other = c.clone();
        other.max_ahead += 1;
        assert!(head.verify(&other, &root).is_err(), "another configuration");
        assert!(TreeHead { signature: vec![0; 63], ..head.clone() }.verify(&c, &root).is_err());
        let audited = AuditorTreeHead::sign(&auditor, &c, 1_000, 12, &root).unwrap();
        audited.verify(&c, &root).unwrap();
        assert!(AuditorTreeHead { timestamp: 1_001, ..audited.clone() }.verify(&c, &root).is_err());
        // The log's own key cannot stand in for the auditor's.
        assert!(AuditorTreeHead::sign(&key, &c, 1_000, 12, &root).unwrap().verify(&c, &root).is_err());
        let plain = config(Mode::ContactMonitoring, &key);
        assert!(audited.verify(&plain, &root).is_err_and(|e| e.to_string().contains("no third-party auditor")));
    }
}
