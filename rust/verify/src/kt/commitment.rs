//! What the prefix tree commits to: a label-version pair's search key (the
//! VRF output over `VrfInput`, truncated to 32 bytes) and the commitment
//! `HMAC-SHA256(Kc, CommitmentValue)` to its `UpdateValue`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wire::Writer;
use crate::error::Result;
use crate::vrf::{self, VrfSecretKey, PROOF_LEN};

/// `Nc`: bytes of a commitment opening.
pub const OPENING_LEN: usize = 16;
/// `Kc` of the draft's cipher suites: a fixed, public HMAC key.
pub const KC: [u8; 16] =
    [0xd8, 0x21, 0xf8, 0x79, 0x0d, 0x97, 0x70, 0x97, 0x96, 0xb4, 0xd7, 0x90, 0x33, 0x57, 0xc3, 0xf5];
/// `VRF.Nh` of `KT_128_SHA256_Ed25519`: the VRF output truncated to 32 bytes.
pub const SEARCH_KEY_LEN: usize = 32;

/// The `UpdateValue` for a value, without a third-party signature suffix.
pub fn update_value(value: &[u8]) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.vector(value, u32::MAX.into())?;
    Ok(w.buf)
}

/// `VrfInput { label<0..255>, uint32 version }`.
pub fn vrf_input(label: &[u8], version: u32) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.vector(label, 255)?.u32(version);
    Ok(w.buf)
}

/// `HMAC(Kc, CommitmentValue { opening, label, version, update })`, where
/// `update` is an encoded `UpdateValue`.
pub fn commitment(opening: &[u8; OPENING_LEN], label: &[u8], version: u32, update: &[u8]) -> Result<[u8; 32]> {
    let mut w = Writer::default();
    w.fixed(opening).vector(label, 255)?.u32(version).fixed(update);
    let mut mac = Hmac::<Sha256>::new_from_slice(&KC).expect("HMAC takes any key length");
    mac.update(&w.buf);
    Ok(mac.finalize().into_bytes().into())
}

/// The prefix-tree search key of a label-version pair, and the VRF proof
/// that shows it.
pub fn search_key(key: &VrfSecretKey, label: &[u8], version: u32) -> Result<([u8; SEARCH_KEY_LEN], [u8; PROOF_LEN])> {
    let (proof, output) = key.prove_with_output(&vrf_input(label, version)?);
    Ok((truncate(&output), proof))
}

/// The search key of a label-version pair and its VRF proof's Gamma (the
/// proof's first 32 bytes): what publishing needs; the rest of the proof
/// follows from [`search_key`].
pub fn search_key_gamma(key: &VrfSecretKey, label: &[u8], version: u32) -> Result<([u8; SEARCH_KEY_LEN], [u8; 32])> {
    let (gamma, output) = key.evaluate(&vrf_input(label, version)?);
    Ok((truncate(&output), gamma))
}

/// The whole VRF proof of a label-version pair from its Gamma.
pub fn complete_proof(key: &VrfSecretKey, label: &[u8], version: u32, gamma: &[u8; 32]) -> Result<[u8; PROOF_LEN]> {
    Ok(key.complete(&vrf_input(label, version)?, gamma))
}

/// Checks a VRF proof for a label-version pair and returns its search key.
pub fn verify_search_key(public: &[u8], label: &[u8], version: u32, proof: &[u8]) -> Result<[u8; SEARCH_KEY_LEN]> {
    Ok(truncate(&vrf::verify(public, &vrf_input(label, version)?, proof)?))
}

fn truncate(output: &[u8; vrf::OUTPUT_LEN]) -> [u8; SEARCH_KEY_LEN] {
    output[..SEARCH_KEY_LEN].try_into().expect("32 bytes")
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    /// HMAC written out from RFC 2104, as an independent check of the crate
    /// and of the key and message layout.
    fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
        let inner = Sha256::new().chain_update(pad(0x36)).chain_update(msg).finalize();
        Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
    }

    #[test]
    fn commitment_layout() {
        let opening = [0x11; 16];
        let update = update_value(b"device keys").unwrap();
        assert_eq!(update, [&[0, 0, 0, 11][..], b"device keys"].concat());
        let msg = [&opening[..], &[5], b"alice", &[0, 0, 0, 3], &update].concat();
        assert_eq!(commitment(&opening, b"alice", 3, &update).unwrap(), hmac_sha256(&KC, &msg));
        assert_ne!(commitment(&opening, b"alice", 4, &update).unwrap(), hmac_sha256(&KC, &msg));
        assert!(commitment(&opening, &[0; 256], 0, &update).is_err(), "labels are at most 255 bytes");
    }

    #[test]
    fn search_keys_verify_and_differ_per_version() {
        let key = VrfSecretKey::from_seed(&[3; 32]).unwrap();
        let (k0, p0) = search_key(&key, b"alice", 0).unwrap();
        let (k1, _) = search_key(&key, b"alice", 1).unwrap();
        assert_ne!(k0, k1);
        assert_eq!(verify_search_key(&key.public_key(), b"alice", 0, &p0).unwrap(), k0);
        assert!(verify_search_key(&key.public_key(), b"alice", 1, &p0).is_err());
        assert!(verify_search_key(&key.public_key(), b"bob", 0, &p0).is_err());
        assert_eq!(vrf_input(b"ab", 0x0102_0304).unwrap(), [2, b'a', b'b', 1, 2, 3, 4]);
    }
}
