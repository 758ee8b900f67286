//! The ECVRF verifier on arbitrary input and on tampered honest proofs: it
//! never panics, and under the fixed public key it accepts exactly the one
//! proof the secret key makes for an input (a VRF proof is unique), with the
//! output `proof_to_hash` gives.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use veritree_fuzz::kt;
use veritree_verify::vrf::{proof_to_hash, verify, PROOF_LEN};

#[derive(Arbitrary, Debug)]
struct Case {
    alpha: Vec<u8>,
    /// Honest proof tampered at these bits, or an arbitrary proof.
    flips: Vec<u16>,
    raw: Option<Vec<u8>>,
    public: Option<[u8; 32]>,
}

fuzz_target!(|case: Case| {
    let sk = &kt().vrf;
    let public = sk.public_key();
    let honest = sk.prove(&case.alpha);
    let pi = match &case.raw {
        Some(raw) => raw.clone(),
        None => {
            let mut pi = honest.to_vec();
            for f in case.flips.iter().take(3) {
                let bit = *f as usize % (PROOF_LEN * 8);
                pi[bit / 8] ^= 1 << (bit % 8);
            }
            pi
        }
    };
    if let Some(other) = case.public {
        let _ = verify(&other, &case.alpha, &pi);
    }
    if let Ok(out) = verify(&public, &case.alpha, &pi) {
        assert_eq!(pi, honest.to_vec(), "a second proof accepted for one input");
        assert_eq!(proof_to_hash(&pi).ok(), Some(out));
    }
});
