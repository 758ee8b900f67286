//! ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03): the verifiable
//! random function KEYTRANS uses to turn a label and version into a search
//! key nobody but the server can predict, and anybody can check.
//!
//! Group arithmetic comes from curve25519-dalek; this module holds only the
//! RFC's encodings and transcripts: try-and-increment hashing to the curve,
//! the RFC 8032-style nonce, the 16-byte challenge and the proof layout
//! `Gamma (32) ‖ c (16) ‖ s (32)`.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};
use zeroize::Zeroizing;

use crate::error::{failed, invalid, Result};

/// Bytes of a proof: Gamma, the challenge and the response.
pub const PROOF_LEN: usize = 80;
/// Bytes of the VRF output (beta), before any truncation.
pub const OUTPUT_LEN: usize = 64;
const SUITE: u8 = 0x03;
const C_LEN: usize = 16;

/// A VRF secret key: the RFC 8032 secret scalar and nonce prefix, derived
/// once from the 32-byte seed and wiped when dropped. Never printed.
pub struct VrfSecretKey {
    x: Zeroizing<Scalar>,
    nonce_prefix: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl std::fmt::Debug for VrfSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VrfSecretKey(public {})", hex32(&self.public))
    }
}

fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl VrfSecretKey {
    /// The key whose seed is `seed` (the RFC's SK, as for Ed25519).
    pub fn from_seed(seed: &[u8]) -> Result<VrfSecretKey> {
        let seed: &[u8; 32] =
            seed.try_into().map_err(|_| invalid(format!("a VRF secret key is 32 bytes, not {}", seed.len())))?;
        let h = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed)));
        let x = Zeroizing::new(Scalar::from_bytes_mod_order(clamp_integer(h[..32].try_into().expect("32 bytes"))));
        let public = EdwardsPoint::mul_base(&x).compress().to_bytes();
        Ok(VrfSecretKey { x, nonce_prefix: Zeroizing::new(h[32..].try_into().expect("32 bytes")), public })
    }

    /// The public key Y = x·B, compressed.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// A 32-byte secret for `purpose`, derived from this key's secret half
    /// (BLAKE3's key derivation, with `purpose` as its context): what else
    /// the key's holder must keep secret needs no key of its own.
    pub fn derive_secret(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut material = Zeroizing::new([0u8; 64]);
        material[..32].copy_from_slice(self.x.as_bytes());
        material[32..].copy_from_slice(&*self.nonce_prefix);
        Zeroizing::new(blake3::derive_key(purpose, &*material))
    }

    /// The 80-byte proof for `alpha`.
    pub fn prove(&self, alpha: &[u8]) -> [u8; PROOF_LEN] {
        self.prove_with_output(alpha).0
    }

    /// The VRF output of `alpha` and the proof's first 32 bytes (Gamma),
    /// without the rest of the proof: under half of [`Self::prove_with_output`]'s
    /// work (`prove_costs` in the tests). [`Self::prove`] later gives the
    /// whole proof, Gamma the same.
    pub fn evaluate(&self, alpha: &[u8]) -> ([u8; 32], [u8; OUTPUT_LEN]) {
        let gamma = hash_to_curve(&self.public, alpha) * *self.x;
        let [gamma_bytes, cleared] = EdwardsPoint::compress_batch(&[gamma, gamma.mul_by_cofactor()]);
        (gamma_bytes.to_bytes(), output_of(&cleared))
    }

    /// The whole proof of `alpha` from its Gamma (as [`Self::evaluate`]
    /// gave it): the same bytes as [`Self::prove`], without computing Gamma
    /// again (`prove_costs` in the tests).
    pub fn complete(&self, alpha: &[u8], gamma: &[u8; 32]) -> [u8; PROOF_LEN] {
        let h = hash_to_curve(&self.public, alpha);
        let h_bytes = h.compress();
        let k = self.nonce(&h_bytes);
        let [u, v] = EdwardsPoint::compress_batch(&[EdwardsPoint::mul_base(&k), h * *k]);
        let c = challenge(&self.public, &h_bytes, &CompressedEdwardsY(*gamma), &u, &v);
        self.proof(gamma, &c, &k)
    }

    /// The proof and its VRF output (`proof_to_hash` of it), from the
    /// points the proof computed: decoding Gamma again would cost ~10% of
    /// the proof (`prove_costs` in the tests).
    pub fn prove_with_output(&self, alpha: &[u8]) -> ([u8; PROOF_LEN], [u8; OUTPUT_LEN]) {
        let h = hash_to_curve(&self.public, alpha);
        let h_bytes = h.compress();
        let gamma = h * *self.x;
        let k = self.nonce(&h_bytes);
        // One field inversion for the four points, not four: ~10% of a
        // proof (`prove_costs`). H is compressed alone: the nonce needs it.
        let [gamma_bytes, cleared, u, v] =
            EdwardsPoint::compress_batch(&[gamma, gamma.mul_by_cofactor(), EdwardsPoint::mul_base(&k), h * *k]);
        let c = challenge(&self.public, &h_bytes, &gamma_bytes, &u, &v);
        (self.proof(gamma_bytes.as_bytes(), &c, &k), output_of(&cleared))
    }

    /// The RFC 8032-style nonce for the point H.
    fn nonce(&self, h: &CompressedEdwardsY) -> Zeroizing<Scalar> {
        let wide = Zeroizing::new(<[u8; 64]>::from(Sha512::new().chain_update(*self.nonce_prefix).chain_update(h.as_bytes()).finalize()));
        Zeroizing::new(Scalar::from_bytes_mod_order_wide(&wide))
    }

    /// The proof's bytes: Gamma, the challenge, and s = k + c·x.
    fn proof(&self, gamma: &[u8; 32], c: &[u8; C_LEN], k: &Scalar) -> [u8; PROOF_LEN] {
        let s = k + scalar_of(c) * *self.x;
        let mut pi = [0u8; PROOF_LEN];
        pi[..32].copy_from_slice(gamma);
        pi[32..48].copy_from_slice(c);
        pi[48..].copy_from_slice(s.as_bytes());
        pi
    }
}

/// Decodes a point as RFC 8032 does: the canonical encoding only.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !canonical(bytes) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// Whether a point encoding is canonical: y below p = 2^255 - 19, and no
/// sign bit on x = 0 (y = ±1). Checked on the bytes, where re-compressing
/// the decoded point would cost a field inversion (measured: ~10% of a
/// proof, which tries two encodings on average).
fn canonical(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // p - 1 and 1, little-endian.
    let mut p_minus_1 = [0xffu8; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    let below_p = y.iter().rev().cmp(p_minus_1.iter().rev()) != std::cmp::Ordering::Greater;
    below_p && !(sign && (y == one || y == p_minus_1))
}

/// ECVRF_encode_to_curve_try_and_increment, cofactor cleared.
fn hash_to_curve(public: &[u8; 32], alpha: &[u8]) -> EdwardsPoint {
    // Each try succeeds with probability about 1/2: 256 failures in a row
    // would take a SHA-512 preimage-like accident.
    (0..=255u8)
        .find_map(|ctr| {
            let digest = Sha512::new()
                .chain_update([SUITE, 0x01])
                .chain_update(public)
                .chain_update(alpha)
                .chain_update([ctr, 0x00])
                .finalize();
            decode_point(digest[..32].try_into().expect("32 bytes"))
        })
        .expect("try-and-increment finds a point")
        .mul_by_cofactor()
}

/// ECVRF_challenge_generation: the first 16 bytes of the transcript hash.
fn challenge(
    y: &[u8; 32],
    h: &CompressedEdwardsY,
    gamma: &CompressedEdwardsY,
    u: &CompressedEdwardsY,
    v: &CompressedEdwardsY,
) -> [u8; C_LEN] {
    let digest = Sha512::new()
        .chain_update([SUITE, 0x02])
        .chain_update(y)
        .chain_update(h.as_bytes())
        .chain_update(gamma.as_bytes())
        .chain_update(u.as_bytes())
        .chain_update(v.as_bytes())
        .chain_update([0x00])
        .finalize();
    digest[..C_LEN].try_into().expect("16 bytes")
}

/// The challenge as a scalar (little-endian, as edwards25519's string_to_int).
fn scalar_of(c: &[u8; C_LEN]) -> Scalar {
    let mut b = [0u8; 32];
    b[..C_LEN].copy_from_slice(c);
    Scalar::from_bytes_mod_order(b)
}

/// ECVRF_proof_to_hash from 8·Gamma, compressed: SHA-512(suite ‖ 0x03 ‖
/// 8·Gamma ‖ 0x00).
fn output_of(cleared: &CompressedEdwardsY) -> [u8; OUTPUT_LEN] {
    Sha512::new()
        .chain_update([SUITE, 0x03])
        .chain_update(cleared.as_bytes())
        .chain_update([0x00])
        .finalize()
        .into()
}

struct Proof {
    gamma: EdwardsPoint,
    gamma_bytes: CompressedEdwardsY,
    c: [u8; C_LEN],
    s: Scalar,
}

fn decode_proof(pi: &[u8]) -> Result<Proof> {
    let pi: &[u8; PROOF_LEN] =
        pi.try_into().map_err(|_| invalid(format!("a VRF proof is {PROOF_LEN} bytes, not {}", pi.len())))?;
    let gamma_bytes: [u8; 32] = pi[..32].try_into().expect("32 bytes");
    let gamma = decode_point(&gamma_bytes).ok_or_else(|| failed("the VRF proof's Gamma is not a curve point"))?;
    let s = Option::from(Scalar::from_canonical_bytes(pi[48..].try_into().expect("32 bytes")))
        .ok_or_else(|| failed("the VRF proof's s is not below the group order"))?;
    Ok(Proof { gamma, gamma_bytes: CompressedEdwardsY(gamma_bytes), c: pi[32..48].try_into().expect("16 bytes"), s })
}

/// The VRF output of a proof, without checking it (ECVRF_proof_to_hash).
pub fn proof_to_hash(pi: &[u8]) -> Result<[u8; OUTPUT_LEN]> {
    Ok(output_of(&decode_proof(pi)?.gamma.mul_by_cofactor().compress()))
}

/// A VRF public key, decoded and validated once for many proofs.
pub struct PublicKey {
    bytes: [u8; 32],
    point: EdwardsPoint,
}

impl PublicKey {
    /// Decodes `public`; a `Verification` error for a key that is not a
    /// canonical curve point or has small order.
    pub fn decode(public: &[u8]) -> Result<PublicKey> {
        let bytes: [u8; 32] =
            public.try_into().map_err(|_| invalid(format!("a VRF public key is 32 bytes, not {}", public.len())))?;
        let point = decode_point(&bytes).ok_or_else(|| failed("the VRF public key is not a curve point"))?;
        if point.mul_by_cofactor().is_identity() {
            return Err(failed("the VRF public key has small order"));
        }
        Ok(PublicKey { bytes, point })
    }

    /// Checks `pi` for `alpha` and returns the VRF output; `Verification`
    /// error unless the proof is valid (RFC 9381 5.3).
    pub fn verify(&self, alpha: &[u8], pi: &[u8]) -> Result<[u8; OUTPUT_LEN]> {
        let proof = decode_proof(pi)?;
        let h = hash_to_curve(&self.bytes, alpha);
        let c = scalar_of(&proof.c);
        // U = s·B - c·Y and V = s·H - c·Gamma with c as an integer: negate
        // the points, not c (mod q), or a key or Gamma with a small-order
        // part would verify differently from RFC 9381.
        let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, &-self.point, &proof.s);
        let v = EdwardsPoint::vartime_multiscalar_mul([proof.s, c], [h, -proof.gamma]);
        let [h, u, v, cleared] = EdwardsPoint::compress_batch(&[h, u, v, proof.gamma.mul_by_cofactor()]);
        if challenge(&self.bytes, &h, &proof.gamma_bytes, &u, &v) != proof.c {
            return Err(failed("the VRF proof does not match the key and input"));
        }
        Ok(output_of(&cleared))
    }
}

/// Checks `pi` for `alpha` under `public` and returns the VRF output;
/// `Verification` error unless the proof is valid (RFC 9381 5.3, with the
/// public key validated: small-order keys are refused).
pub fn verify(public: &[u8], alpha: &[u8], pi: &[u8]) -> Result<[u8; OUTPUT_LEN]> {
    PublicKey::decode(public)?.verify(alpha, pi)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where a proof's time goes (run with `--ignored --nocapture`, release).
    #[test]
    #[ignore]
    fn prove_costs() {
        use std::time::Instant;
        let key = VrfSecretKey::from_seed(&[3; 32]).unwrap();
        let n = 2000u32;
        let alphas: Vec<Vec<u8>> = (0..n).map(|i| i.to_le_bytes().to_vec()).collect();
        let time = |what: &str, f: &mut dyn FnMut(&[u8])| {
            let t = Instant::now();
            for a in &alphas {
                f(a);
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(n);
            println!("  {what:<44} {us:>7.2} us");
            us
        };
        let h = hash_to_curve(&key.public, b"x");
        let h_bytes = h.compress();
        let k = Scalar::from_bytes_mod_order([7; 32]);
        let total = time("prove + output", &mut |a| {
            std::hint::black_box(key.prove_with_output(a));
        });
        time("evaluate: Gamma + output (as publishing does)", &mut |a| {
            std::hint::black_box(key.evaluate(a));
        });
        let gammas: std::collections::HashMap<&[u8], [u8; 32]> =
            alphas.iter().map(|a| (a.as_slice(), key.evaluate(a).0)).collect();
        time("complete from Gamma (as fill_proofs does)", &mut |a| {
            std::hint::black_box(key.complete(a, &gammas[a]));
        });
        time("prove, then proof_to_hash (before)", &mut |a| {
            std::hint::black_box(proof_to_hash(&key.prove(a)).unwrap());
        });
        let parts = [
            time("hash to curve (try and increment)", &mut |a| {
                std::hint::black_box(hash_to_curve(&key.public, a));
            }),
            time("Gamma = x·H (variable base)", &mut |_| {
                std::hint::black_box(h * *key.x);
            }),
            time("U = k·B (fixed base, table)", &mut |_| {
                std::hint::black_box(EdwardsPoint::mul_base(&k));
            }),
            time("V = k·H (variable base)", &mut |_| {
                std::hint::black_box(h * k);
            }),
            time("compressions: H, then Gamma, 8·Gamma, U, V in one batch", &mut |_| {
                std::hint::black_box(h.compress());
                std::hint::black_box(EdwardsPoint::compress_batch(&[h, h, h, h]));
            }),
            time("output: 8·Gamma, SHA-512", &mut |_| {
                std::hint::black_box(h.mul_by_cofactor());
                std::hint::black_box(output_of(&h_bytes));
            }),
        ];
        println!("  parts sum to {:.2} of the whole", parts.iter().sum::<f64>() / total);
    }

    /// Where a verification's time goes (run with `--ignored --nocapture`, release).
    #[test]
    #[ignore]
    fn verify_costs() {
        use std::time::Instant;
        let key = VrfSecretKey::from_seed(&[3; 32]).unwrap();
        let n = 2000usize;
        let alphas: Vec<Vec<u8>> = (0..n as u32).map(|i| i.to_le_bytes().to_vec()).collect();
        let proofs: Vec<[u8; PROOF_LEN]> = alphas.iter().map(|a| key.prove(a)).collect();
        let public = PublicKey::decode(&key.public_key()).unwrap();
        let time = |what: &str, f: &mut dyn FnMut(usize)| {
            let t = Instant::now();
            (0..n).for_each(&mut *f);
            println!("  {what:<44} {:>7.2} us", t.elapsed().as_secs_f64() * 1e6 / n as f64);
        };
        time("verify (key decoded once)", &mut |i| {
            std::hint::black_box(public.verify(&alphas[i], &proofs[i]).unwrap());
        });
        let p = decode_proof(&proofs[0]).unwrap();
        let h = hash_to_curve(&key.public, &alphas[0]);
        let c = scalar_of(&p.c);
        time("decode the proof", &mut |i| {
            std::hint::black_box(decode_proof(&proofs[i]).unwrap());
        });
        time("hash to curve", &mut |i| {
            std::hint::black_box(hash_to_curve(&key.public, &alphas[i]));
        });
        time("U = s·B - c·Y (double base, vartime)", &mut |_| {
            std::hint::black_box(EdwardsPoint::vartime_double_scalar_mul_basepoint(&c, &-public.point, &p.s));
        });
        use curve25519_dalek::traits::BasepointTable;
        let table = curve25519_dalek::edwards::EdwardsBasepointTable::create(&public.point);
        time("   comb table for Y (once a key)", &mut |_| {
            std::hint::black_box(curve25519_dalek::edwards::EdwardsBasepointTable::create(&public.point));
        });
        time("   U = s·B - c·Y with a comb table for Y", &mut |_| {
            std::hint::black_box(EdwardsPoint::mul_base(&p.s) - &table * &c);
        });
        time("V = s·H - c·Gamma (Straus, vartime)", &mut |_| {
            std::hint::black_box(EdwardsPoint::vartime_multiscalar_mul([p.s, c], [h, -p.gamma]));
        });
        time("compress H, U, V, 8·Gamma in one batch", &mut |_| {
            std::hint::black_box(EdwardsPoint::compress_batch(&[h, h, h, h]));
        });
    }

    #[test]
    fn evaluate_and_complete_make_the_proof() {
        let key = VrfSecretKey::from_seed(&[5; 32]).unwrap();
        for alpha in [&b""[..], b"alice", &[0xff; 300]] {
            let (proof, output) = key.prove_with_output(alpha);
            let (gamma, evaluated) = key.evaluate(alpha);
            assert_eq!((gamma, evaluated), (proof[..32].try_into().unwrap(), output));
            assert_eq!(key.complete(alpha, &gamma), proof);
            assert_eq!(proof_to_hash(&proof).unwrap(), output);
        }
    }

    /// The byte check agrees with decoding and re-encoding, on the edges
    /// (around p, y = ±1 with either sign) and on pseudo-random encodings.
    #[test]
    fn canonical_matches_a_round_trip() {
        let round_trip = |b: &[u8; 32]| {
            let c = CompressedEdwardsY(*b);
            c.decompress().map(|p| p.compress() == c)
        };
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for low in [0xeb, 0xec, 0xed, 0xee, 0xff] {
            let mut b = [0xffu8; 32];
            b[0] = low;
            b[31] = 0x7f;
            cases.push(b);
            b[31] = 0xff;
            cases.push(b);
        }
        for first in [0u8, 1] {
            let mut b = [0u8; 32];
            b[0] = first;
            cases.push(b);
            b[31] = 0x80;
            cases.push(b);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            let mut b = [0u8; 32];
            for chunk in b.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            cases.push(b);
        }
        for b in cases {
            if let Some(canonical_by_round_trip) = round_trip(&b) {
                assert_eq!(canonical(&b), canonical_by_round_trip, "{}", hex32(&b));
            }
        }
    }

    /// RFC 9381 Appendix B.3, example 16 (empty alpha); the rest run from
    /// tests/vectors through the Python API and the crate's vector test.
    #[test]
    fn rfc9381_example_16() {
        let sk = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
        let key = VrfSecretKey::from_seed(&sk).unwrap();
        assert_eq!(hex32(&key.public_key()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(
            hex32(&hash_to_curve(&key.public_key(), b"").compress().to_bytes()),
            "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318"
        );
        let pi = key.prove(b"");
        assert_eq!(
            hex::encode(pi),
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805"
        );
        let beta = verify(&key.public_key(), b"", &pi).unwrap();
        assert_eq!(hex::encode(beta), "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae");
        assert_eq!(proof_to_hash(&pi).unwrap(), beta);
    }

    #[test]
    fn tampering_is_refused() {
        let key = VrfSecretKey::from_seed(&[7; 32]).unwrap();
        let pi = key.prove(b"alice");
        assert!(verify(&key.public_key(), b"alice", &pi).is_ok());
        assert!(matches!(verify(&key.public_key(), b"alicf", &pi), Err(crate::error::Error::Verification(_))));
        for i in 0..PROOF_LEN {
            let mut bad = pi;
            bad[i] ^= 0x10;
            assert!(verify(&key.public_key(), b"alice", &bad).is_err(), "byte {i}");
        }
        let other = VrfSecretKey::from_seed(&[8; 32]).unwrap();
        assert!(verify(&other.public_key(), b"alice", &pi).is_err());
        assert!(matches!(verify(&key.public_key(), b"alice", &pi[..79]), Err(crate::error::Error::InvalidArgument(_))));
        // The identity (a small-order point) as public key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(verify(&identity, b"alice", &pi).is_err());
        // s = the group order: not canonical.
        let mut big_s = pi;
        big_s[48..]
            .copy_from_slice(&hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010").unwrap());
        assert!(verify(&key.public_key(), b"alice", &big_s).is_err());
        assert!(format!("{key:?}").contains("public") && !format!("{key:?}").contains("x:"));
    }
}
