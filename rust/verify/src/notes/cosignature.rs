//! C2SP tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519 (type 0x04).
//!
//! A witness cosigns a checkpoint by signing
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's note
//! text; the signature line carries the 8-byte big-endian timestamp and the
//! 64-byte Ed25519 signature. [`verify_checkpoint_policy`] checks, in one call,
//! that a checkpoint is signed by its log and cosigned by at least `k` of `n`
//! witnesses.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{failed, invalid, Result};
use crate::notes::checkpoint::{open_checkpoint, Checkpoint};
use crate::notes::note::{
    check_distinct, shown, Note, NoteSignature, Signer, Verifier, ALG_COSIGNATURE_V1, COSIGNATURE_LEN,
};

// The signed message's format lives with the note verifier that checks it.
pub use super::note::{cosigned_message, MAX_TIMESTAMP};

/// A fresh cosigner (witness) key of type 0x04.
pub fn generate_cosigner(name: &str) -> Result<Signer> {
    Signer::generate(name, ALG_COSIGNATURE_V1)
}

/// Seconds since the Unix epoch now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Adds `cosigner`'s cosignature at `timestamp` to a signed checkpoint and
/// returns the new note; an earlier cosignature by the same key is replaced.
///
/// The checkpoint's signatures are not verified here: a witness checks the
/// log's signature and consistency before it cosigns.
pub fn cosign(note: &[u8], cosigner: &Signer, timestamp: u64) -> Result<String> {
    if cosigner.alg() != ALG_COSIGNATURE_V1 {
        return Err(invalid(format!(
            "key {} has signature type 0x{:02x}; cosignatures need a type 0x04 cosigner key",
            shown(cosigner.name()),
            cosigner.alg()
        )));
    }
    if timestamp > MAX_TIMESTAMP {
        return Err(invalid(format!("cosignature timestamp {timestamp} exceeds 2^63 - 1")));
    }
    let mut n = Note::parse(note)?;
    Checkpoint::parse(&n.text)?;
    let mut sig = Vec::with_capacity(COSIGNATURE_LEN);
    sig.extend_from_slice(&timestamp.to_be_bytes());
    sig.extend_from_slice(&cosigner.ed25519(cosigned_message(&n.text, timestamp).as_bytes()));
    n.add_signature(NoteSignature { name: cosigner.name().to_owned(), key_id: cosigner.key_id(), signature: sig })?;
    Ok(n.encode())
}

/// A witness whose cosignature verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessSignature {
    pub name: String,
    pub key_id: u32,
    /// Position of the key in the `witness_keys` given.
    pub key_index: usize,
    /// The cosignature's timestamp (`None` for a witness key of type 0x01).
    pub timestamp: Option<u64>,
}

/// A checkpoint that satisfied a policy, with who vouched for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    pub checkpoint: Checkpoint,
    /// Position in `log_keys` of the key that signed for the origin.
    pub log_key_index: usize,
    /// Each witness that cosigned, once, in signature-line order.
    pub witnesses: Vec<WitnessSignature>,
}

/// Checks the policy "signed by the log, and cosigned by at least `k` of the
/// `witness_keys`" in one call.
///
/// A key of `log_keys` named after the checkpoint origin must have signed it;
/// every signature by a given key (log or witness) must verify, or the note is
/// rejected; each witness counts once however many lines it signed. No two
/// keys among `log_keys` and `witness_keys` together may share a name and key
/// ID, and `k` may not exceed the number of witness keys.
pub fn verify_checkpoint_policy(
    note: &[u8],
    log_keys: &[&Verifier],
    witness_keys: &[&Verifier],
    k: usize,
) -> Result<VerifiedCheckpoint> {
    if k > witness_keys.len() {
        return Err(invalid(format!(
            "the policy asks for {k} witness cosignatures but only {} witness keys are given",
            witness_keys.len()
        )));
    }
    let all: Vec<&Verifier> = log_keys.iter().chain(witness_keys).copied().collect();
    check_distinct(&all)?;
    let (checkpoint, log_key_index, verified) = open_checkpoint(note, log_keys, witness_keys)?;
    let witnesses: Vec<WitnessSignature> = verified
        .into_iter()
        .filter_map(|v| {
            let key_index = v.key_index.checked_sub(log_keys.len())?;
            Some(WitnessSignature { name: v.name, key_id: v.key_id, key_index, timestamp: v.timestamp })
        })
        .collect();
    if witnesses.len() < k {
        return Err(failed(format!(
            "checkpoint has {} valid cosignatures from the {} witness keys given; the policy needs {k}",
            witnesses.len(),
            witness_keys.len()
        )));
    }
    Ok(VerifiedCheckpoint { checkpoint, log_key_index, witnesses })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;

    use crate::notes::note::ALG_ED25519;
    use crate::Error;

    struct World {
        log: Signer,
        witnesses: Vec<Signer>,
        signed: String,
    }

    fn world(n: usize) -> World {
        let log = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        let witnesses = (0..n).map(|i| generate_cosigner(&format!("witness{i}.example")).unwrap()).collect();
        let signed = Checkpoint::new("example.com/log", 42, [9; 32]).sign(&log).unwrap();
        World { log, witnesses, signed }
    }

    impl World {
        fn cosigned(&self, by: &[usize]) -> String {
            let mut note = self.signed.clone();
            for (t, &i) in by.iter().enumerate() {
                note = cosign(note.as_bytes(), &self.witnesses[i], 1_700_000_000 + t as u64).unwrap();
            }
            note
        }

        fn check(&self, note: &str, k: usize) -> Result<VerifiedCheckpoint> {
            let wv: Vec<Verifier> = self.witnesses.iter().map(Signer::verifier).collect();
            let wr: Vec<&Verifier> = wv.iter().collect();
            verify_checkpoint_policy(note.as_bytes(), &[&self.log.verifier()], &wr, k)
        }
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>, word: &str) -> Error {
        let e = r.expect_err("expected an error");
        assert!(e.to_string().contains(word), "{word:?} not in {e}");
        e
    }

    #[test]
    fn spec_message_shape() {
        assert_eq!(
            cosigned_message("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn k_of_n() {
        let w = world(3);
        let note = w.cosigned(&[2, 0]);
        let v = w.check(&note, 2).unwrap();
        assert_eq!(v.checkpoint.size, 42);
        let got: Vec<_> = v.witnesses.iter().map(|s| (s.key_index, s.timestamp)).collect();
        assert_eq!(got, vec![(2, Some(1_700_000_000)), (0, Some(1_700_000_001))]);
        assert!(w.check(&note, 0).is_ok());
        assert!(matches!(msg(w.check(&note, 3), "needs 3"), Error::Verification(_)));
        assert!(matches!(msg(w.check(&note, 4), "only 3 witness keys"), Error::InvalidArgument(_)));
        // No witness at all, k = 0: the log signature alone.
        assert!(w.check(&w.signed, 0).is_ok());
        msg(w.check(&w.signed, 1), "has 0 valid cosignatures");
    }

    #[test]
    fn a_witness_counts_once() {
        let w = world(2);
        let once = w.cosigned(&[0]);
        // The same witness again replaces its own line.
        let again = cosign(once.as_bytes(), &w.witnesses[0], 5).unwrap();
        assert_eq!(Note::parse(again.as_bytes()).unwrap().signatures.len(), 2);
        // A duplicated line (same key, two lines) verifies but counts once.
        let line = once.lines().last().unwrap();
        let doubled = format!("{once}{line}\n");
        msg(w.check(&doubled, 2), "has 1 valid");
        assert_eq!(w.check(&doubled, 1).unwrap().witnesses.len(), 1);
        // Listing a witness key twice is refused.
        let wv = w.witnesses[0].verifier();
        msg(verify_checkpoint_policy(once.as_bytes(), &[&w.log.verifier()], &[&wv, &wv], 2), "twice");
        msg(verify_checkpoint_policy(once.as_bytes(), &[&w.log.verifier()], &[&w.log.verifier()], 1), "twice");
    }

    #[test]
    fn tampered_cosignatures_reject_the_note() {
        let w = world(2);
        let note = w.cosigned(&[0, 1]);
        let mut n = Note::parse(note.as_bytes()).unwrap();
        // Another timestamp under the same signature.
        n.signatures[1].signature[7] ^= 1;
        assert!(matches!(msg(w.check(&n.encode(), 1), "does not verify"), Error::Verification(_)));
        // A timestamp of 2^63.
        n.signatures[1].signature[..8].copy_from_slice(&(1u64 << 63).to_be_bytes());
        msg(w.check(&n.encode(), 1), "exceeds 2^63 - 1");
        // Wrong length.
        n.signatures[1].signature.truncate(71);
        msg(w.check(&n.encode(), 1), "72 bytes");
        // A cosignature over another checkpoint.
        let other = Checkpoint::new("example.com/log", 43, [9; 32]).sign(&w.log).unwrap();
        let other = cosign(other.as_bytes(), &w.witnesses[0], 1).unwrap();
        let mut n = Note::parse(note.as_bytes()).unwrap();
        n.signatures[1] = Note::parse(other.as_bytes()).unwrap().signatures[1].clone();
        msg(w.check(&n.encode(), 1), "does not verify");
        // A tampered log signature rejects the note however many witnesses signed.
        let mut n = Note::parse(note.as_bytes()).unwrap();
        n.signatures[0].signature[0] ^= 1;
        msg(w.check(&n.encode(), 0), "does not verify");
    }

    #[test]
    fn cosign_refuses_bad_input() {
        let w = world(1);
        msg(cosign(w.signed.as_bytes(), &w.log, 1), "type 0x04");
        msg(cosign(w.signed.as_bytes(), &w.witnesses[0], 1 << 63), "exceeds");
        assert!(cosign(w.signed.as_bytes(), &w.witnesses[0], MAX_TIMESTAMP).is_ok());
        msg(cosign(b"not a note", &w.witnesses[0], 1), "blank line");
        let not_cp = crate::notes::note::sign("hello\n", &[&w.log]).unwrap();
        msg(cosign(not_cp.as_bytes(), &w.witnesses[0], 1), "three lines");
        // Cosigner verifier keys carry the type byte 0x04.
        let v = w.witnesses[0].verifier();
        assert_eq!(v.alg(), ALG_COSIGNATURE_V1);
        assert_eq!(v.to_vkey().splitn(3, '+').nth(2).map(|b| B64.decode(b).unwrap()[0]), Some(4));
    }

    #[test]
    fn the_log_key_must_sign() {
        let w = world(2);
        let note = w.cosigned(&[0, 1]);
        let other_log = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        let wv: Vec<Verifier> = w.witnesses.iter().map(Signer::verifier).collect();
        msg(
            verify_checkpoint_policy(note.as_bytes(), &[&other_log.verifier()], &[&wv[0], &wv[1]], 1),
            "no valid signature by that log's key",
        );
        msg(verify_checkpoint_policy(note.as_bytes(), &[], &[&wv[0]], 1), "no log keys");
    }
}
