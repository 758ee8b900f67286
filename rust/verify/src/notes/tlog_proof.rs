//! C2SP tlog-proof (c2sp.org/tlog-proof): an offline-verifiable proof that an
//! entry is in a log, carried with the log's (cosigned) checkpoint.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>          (optional)
//! index <N>
//! <base64 proof hash>     (zero or more, leaf's sibling first)
//!
//! <signed checkpoint, verbatim>
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::error::{invalid, Result};
use crate::notes::checkpoint::{parse_decimal, parse_hash, Checkpoint};
use crate::notes::cosignature::{verify_checkpoint_policy, VerifiedCheckpoint};
use crate::notes::note::{Note, Verifier, MAX_NOTE_SIZE};
use crate::suite::{Hash, Suite};
use crate::verify::verify_inclusion;

/// The header line.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The longest inclusion proof a tree of at most 2^64 - 1 leaves has.
pub const MAX_PROOF_HASHES: usize = 64;
/// The largest tlog-proof accepted, in bytes: a maximal checkpoint note plus
/// as much again for the header, the proof and the extra data.
pub const MAX_TLOG_PROOF_SIZE: usize = 2 * MAX_NOTE_SIZE;

/// A parsed tlog-proof. `checkpoint` is the signed checkpoint note, verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data (the `extra` line), if any.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: String,
}

impl TlogProof {
    /// The text form. The checkpoint must be a well-formed signed checkpoint.
    pub fn format(&self) -> Result<String> {
        check_checkpoint(&self.checkpoint)?;
        if self.proof.len() > MAX_PROOF_HASHES {
            return Err(invalid(format!(
                "inclusion proof has {} hashes; at most {MAX_PROOF_HASHES} are possible",
                self.proof.len()
            )));
        }
        let mut out = String::from(HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str("extra ");
            out.push_str(&B64.encode(extra));
            out.push('\n');
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&B64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        if out.len() > MAX_TLOG_PROOF_SIZE {
            return Err(invalid(format!(
                "tlog-proof would be {} bytes; at most {MAX_TLOG_PROOF_SIZE} are allowed",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Parses a tlog-proof strictly; the checkpoint part must be a
    /// well-formed signed checkpoint (its signatures are checked by [`verify_tlog_proof`]).
    pub fn parse(text: &[u8]) -> Result<TlogProof> {
        if text.len() > MAX_TLOG_PROOF_SIZE {
            return Err(invalid(format!(
                "tlog-proof is {} bytes; at most {MAX_TLOG_PROOF_SIZE} are allowed",
                text.len()
            )));
        }
        let s = std::str::from_utf8(text)
            .map_err(|e| invalid(format!("tlog-proof is not valid UTF-8 (bad byte at {})", e.valid_up_to())))?;
        let mut rest = s;
        let mut line_no = 0usize;
        let mut next_line = |what: &str| -> Result<(usize, &str)> {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| invalid(format!("tlog-proof ends before {what} (line {})", line_no + 1)))?;
            rest = after;
            line_no += 1;
            Ok((line_no, line))
        };
        let (_, header) = next_line("its header")?;
        if header != HEADER {
            return Err(invalid(format!("tlog-proof must start with the line {HEADER}")));
        }
        let (mut n, mut line) = next_line("the index line")?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(b64).map_err(|_| invalid("tlog-proof extra data (line 2) is not valid base64"))?);
            (n, line) = next_line("the index line")?;
        }
        let digits =
            line.strip_prefix("index ").ok_or_else(|| invalid(format!("tlog-proof line {n} must be \"index <N>\"")))?;
        let index = parse_decimal(digits, &format!("tlog-proof index (line {n})"))?;
        let mut proof = Vec::new();
        loop {
            let (n, line) = next_line("the blank line before the checkpoint")?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(invalid(format!("tlog-proof has more than {MAX_PROOF_HASHES} proof hashes")));
            }
            proof.push(parse_hash(line, &format!("tlog-proof proof hash (line {n})"))?);
        }
        let checkpoint = rest.to_owned();
        check_checkpoint(&checkpoint)?;
        Ok(TlogProof { extra, index, proof, checkpoint })
    }
}

fn check_checkpoint(note: &str) -> Result<()> {
    let n = Note::parse(note.as_bytes()).map_err(|e| invalid(format!("tlog-proof checkpoint: {e}")))?;
    Checkpoint::parse(&n.text).map_err(|e| invalid(format!("tlog-proof: {e}")))?;
    Ok(())
}

/// A verified tlog-proof: the checkpoint, who vouched for it, and the entry's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    pub checkpoint: VerifiedCheckpoint,
    pub index: u64,
    pub extra: Option<Vec<u8>>,
}

/// Verifies a tlog-proof for `leaf_hash`: the checkpoint satisfies the policy
/// of [`verify_checkpoint_policy`] (`k` may be 0), and the RFC 9162 inclusion
/// proof binds the leaf hash at the index to the checkpoint's root.
pub fn verify_tlog_proof(
    text: &[u8],
    leaf_hash: &Hash,
    log_keys: &[&Verifier],
    witness_keys: &[&Verifier],
    k: usize,
) -> Result<VerifiedProof> {
    let p = TlogProof::parse(text)?;
    let checkpoint = verify_checkpoint_policy(p.checkpoint.as_bytes(), log_keys, witness_keys, k)?;
    let cp = &checkpoint.checkpoint;
    verify_inclusion(Suite::Rfc6962Sha256, p.index, cp.size, leaf_hash, &p.proof, &cp.root)?;
    Ok(VerifiedProof { checkpoint, index: p.index, extra: p.extra })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::cosignature::{cosign, generate_cosigner};
    use crate::notes::note::{Signer, ALG_ED25519};
    use crate::Error;

    struct Fixture {
        log_key: Signer,
        witness: Signer,
        leaves: Vec<Hash>,
        proofs: Vec<TlogProof>,
    }

    fn fixture() -> Fixture {
        let log_key = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        let witness = generate_cosigner("witness.example").unwrap();
        let leaves: Vec<Hash> = (0..11u8).map(|i| Suite::Rfc6962Sha256.leaf_hash(&[i])).collect();
        let cp = Checkpoint::new("example.com/log", 11, root(&leaves));
        let signed = cosign(cp.sign(&log_key).unwrap().as_bytes(), &witness, 1_700_000_000).unwrap();
        let proofs = (0..11u64)
            .map(|i| TlogProof {
                extra: (i % 2 == 0).then(|| vec![i as u8; 5]),
                index: i,
                proof: path(i as usize, &leaves),
                checkpoint: signed.clone(),
            })
            .collect();
        Fixture { log_key, witness, leaves, proofs }
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>, word: &str) -> Error {
        let e = r.expect_err("expected an error");
        assert!(e.to_string().contains(word), "{word:?} not in {e}");
        e
    }

    /// RFC 6962 §2.1 by the definition: split at the largest power of two below n.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn root(l: &[Hash]) -> Hash {
        if l.len() == 1 {
            return l[0];
        }
        let k = split(l.len());
        Suite::Rfc6962Sha256.node_hash(&root(&l[..k]), &root(&l[k..]))
    }

    fn path(i: usize, l: &[Hash]) -> Vec<Hash> {
        if l.len() == 1 {
            return Vec::new();
        }
        let k = split(l.len());
        let (mut p, sibling) =
            if i < k { (path(i, &l[..k]), root(&l[k..])) } else { (path(i - k, &l[k..]), root(&l[..k])) };
        p.push(sibling);
        p
    }

    #[test]
    fn round_trip_and_verify() {
        let f = fixture();
        let (lv, wv) = (f.log_key.verifier(), f.witness.verifier());
        for (p, leaf) in f.proofs.iter().zip(&f.leaves) {
            let text = p.format().unwrap();
            assert_eq!(&TlogProof::parse(text.as_bytes()).unwrap(), p);
            let v = verify_tlog_proof(text.as_bytes(), leaf, &[&lv], &[&wv], 1).unwrap();
            assert_eq!((v.index, v.checkpoint.checkpoint.size), (p.index, 11));
            assert_eq!(v.checkpoint.witnesses[0].timestamp, Some(1_700_000_000));
            verify_tlog_proof(text.as_bytes(), leaf, &[&lv], &[], 0).unwrap();
            let wrong_leaf = f.leaves[(p.index as usize + 1) % f.leaves.len()];
            assert!(matches!(
                msg(verify_tlog_proof(text.as_bytes(), &wrong_leaf, &[&lv], &[&wv], 1), "root"),
                Error::Verification(_)
            ));
        }
        let p = &f.proofs[3];
        assert!(p.format().unwrap().starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
        assert!(f.proofs[2].format().unwrap().starts_with("c2sp.org/tlog-proof@v1\nextra AgICAgI=\nindex 2\n"));
    }

    #[test]
    fn tampered_proofs_fail() {
        let f = fixture();
        let (lv, wv) = (f.log_key.verifier(), f.witness.verifier());
        let leaf = f.leaves[5];
        let check = |p: &TlogProof, k| verify_tlog_proof(p.format().unwrap().as_bytes(), &leaf, &[&lv], &[&wv], k);
        let mut p = f.proofs[5].clone();
        p.proof[1][0] ^= 1;
        msg(check(&p, 0), "does not lead to the root");
        let mut p = f.proofs[5].clone();
        p.index = 4;
        msg(check(&p, 0), "root");
        p.index = 11;
        msg(check(&p, 0), "not below the tree size");
        let mut p = f.proofs[5].clone();
        p.proof.pop();
        msg(check(&p, 0), "shorter");
        let mut p = f.proofs[5].clone();
        p.proof.push([0; 32]);
        msg(check(&p, 0), "longer");
        // A checkpoint for another root, signed by the same log, with the old proof.
        let mut p = f.proofs[5].clone();
        p.checkpoint = Checkpoint::new("example.com/log", 11, [1; 32]).sign(&f.log_key).unwrap();
        msg(check(&p, 0), "root");
        // The witness policy is enforced.
        msg(check(&p, 1), "needs 1");
        // Extra data is not authenticated: changing it does not matter.
        let mut p = f.proofs[5].clone();
        p.extra = Some(b"anything".to_vec());
        assert!(check(&p, 1).is_ok());
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let f = fixture();
        let good = f.proofs[4].format().unwrap();
        let cp = &f.proofs[4].checkpoint;
        let (head, _) = good.split_once("\n\n").unwrap();
        let hashes: Vec<&str> = head.lines().skip(3).collect();
        let h = hashes.join("\n");
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "ends before its header"),
            ("c2sp.org/tlog-proof@v2\nindex 0\n\n".into(), "must start with"),
            (format!("c2sp.org/tlog-proof@v1\n\n{cp}"), "must be \"index <N>\""),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}\n"), "ends before the blank line"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}"), "ends before the blank line"),
            (format!("c2sp.org/tlog-proof@v1\nindex 04\n{h}\n\n{cp}"), "leading zeros"),
            (format!("c2sp.org/tlog-proof@v1\nindex -4\n{h}\n\n{cp}"), "decimal"),
            (format!("c2sp.org/tlog-proof@v1\nindex  4\n{h}\n\n{cp}"), "decimal"),
            (format!("c2sp.org/tlog-proof@v1\nindex 99999999999999999999\n{h}\n\n{cp}"), "64 bits"),
            (format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 4\n{h}\n\n{cp}"), "extra"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\nextra AA==\n{h}\n\n{cp}"), "line 3"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{}\n\n{cp}", B64.encode([0u8; 31])), "31 bytes"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{}x\n\n{cp}", hashes[0]), "base64"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{}\n\n{cp}", h.replace('\n', "\r\n")), "base64"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{}\n\n{cp}", [hashes[0]; 65].join("\n")), "more than 64"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}\n\n"), "checkpoint"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}\n\nexample.com/log\n"), "blank line"),
            (
                format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}\n\n{}", cp.replacen("\n11\n", "\n011\n", 1)),
                "leading zeros",
            ),
            (format!("{good}\n"), "checkpoint"),
            (format!("c2sp.org/tlog-proof@v1\r\nindex 4\n{h}\n\n{cp}"), "must start with"),
            (format!("c2sp.org/tlog-proof@v1\nindex 4\n{h}\n\n{}", "x".repeat(MAX_TLOG_PROOF_SIZE)), "bytes"),
        ];
        for (text, word) in cases {
            assert!(matches!(msg(TlogProof::parse(text.as_bytes()), word), Error::InvalidArgument(_)), "{text:?}");
        }
        msg(TlogProof::parse(b"c2sp.org/tlog-proof@v1\n\xff"), "UTF-8");
        let mut p = f.proofs[4].clone();
        p.checkpoint = "not a note".into();
        msg(p.format(), "checkpoint");
        let mut p = f.proofs[4].clone();
        p.proof = vec![[0; 32]; 65];
        msg(p.format(), "at most 64");
        // Empty extra data round-trips.
        let mut p = f.proofs[4].clone();
        p.extra = Some(Vec::new());
        assert_eq!(TlogProof::parse(p.format().unwrap().as_bytes()).unwrap(), p);
    }
}
