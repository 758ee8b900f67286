//! C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): a log's signed tree head.
//!
//! The note text is the origin line, the tree size in decimal, the base64
//! root hash, and optional non-empty extension lines. A checkpoint verifies
//! only with a signature by a key whose name is the origin (the spec's
//! "SHOULD match", made a rule here so that a key for one log cannot vouch
//! for another log's checkpoints).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::error::{failed, invalid, Result};
use crate::notes::note::{self, check_no_controls, shown, Note, Signer, Verified, Verifier};
use crate::suite::Hash;

/// A log's tree head: origin, size, root and opaque extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub extensions: Vec<String>,
}

/// Parses an ASCII decimal without sign or leading zeros (`0` itself is fine).
pub(crate) fn parse_decimal(s: &str, what: &str) -> Result<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{what} must be a decimal number, got {}", shown(s))));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(invalid(format!("{what} must not have leading zeros, got {}", shown(s))));
    }
    s.parse::<u64>().map_err(|_| invalid(format!("{what} {} does not fit in 64 bits", shown(s))))
}

/// Decodes one base64 32-byte hash.
pub(crate) fn parse_hash(s: &str, what: &str) -> Result<Hash> {
    let raw = B64.decode(s).map_err(|_| invalid(format!("{what} is not valid base64")))?;
    <Hash>::try_from(raw.as_slice())
        .map_err(|_| invalid(format!("{what} must be a 32-byte hash, got {} bytes", raw.len())))
}

impl Checkpoint {
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Checkpoint {
        Checkpoint { origin: origin.into(), size, root, extensions: Vec::new() }
    }

    /// The unsigned note text. The origin and every extension line must be
    /// non-empty single lines without control characters.
    pub fn to_text(&self) -> Result<String> {
        check_line(&self.origin, "checkpoint origin")?;
        for (i, e) in self.extensions.iter().enumerate() {
            check_line(e, &format!("checkpoint extension line {}", i + 1))?;
        }
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, B64.encode(self.root));
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        note::check_text(&out)?;
        Ok(out)
    }

    /// Parses a checkpoint note text strictly: at least three non-empty lines,
    /// origin, size without leading zeros, base64 root of exactly 32 bytes,
    /// then non-empty extension lines; the text ends with a newline.
    pub fn parse(text: &str) -> Result<Checkpoint> {
        note::check_text(text).map_err(|e| invalid(format!("checkpoint: {e}")))?;
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = body.split('\n');
        let (origin, size, root) = match (lines.next(), lines.next(), lines.next()) {
            (Some(o), Some(s), Some(r)) => (o, s, r),
            _ => return Err(invalid("checkpoint must have at least three lines: origin, size and root hash")),
        };
        if origin.is_empty() {
            return Err(invalid("checkpoint origin (line 1) is empty"));
        }
        let size = parse_decimal(size, "checkpoint size (line 2)")?;
        let root = parse_hash(root, "checkpoint root hash (line 3)")?;
        let mut extensions = Vec::new();
        for (i, e) in lines.enumerate() {
            if e.is_empty() {
                return Err(invalid(format!("checkpoint extension line {} is empty", i + 4)));
            }
            extensions.push(e.to_owned());
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root, extensions })
    }

    /// Signs the checkpoint with the log's type-0x01 key, whose name must be the origin.
    pub fn sign(&self, signer: &Signer) -> Result<String> {
        if signer.name() != self.origin {
            return Err(invalid(format!(
                "the log key is named {} but the checkpoint origin is {}; they must be the same",
                shown(signer.name()),
                shown(&self.origin)
            )));
        }
        note::sign(&self.to_text()?, &[signer])
    }
}

fn check_line(s: &str, what: &str) -> Result<()> {
    if s.is_empty() {
        return Err(invalid(format!("{what} is empty")));
    }
    if s.contains('\n') {
        return Err(invalid(format!("{what} contains a newline")));
    }
    check_no_controls(s, what)
}

/// Parses a signed checkpoint and verifies it with `log_keys` and `other_keys`
/// together (see [`Note::verify`]); a key of `log_keys` named after the origin
/// must have signed it. Returns the checkpoint, the index in `log_keys` of the
/// key that signed for the origin, and every verified signature (key indices
/// count `log_keys` first, then `other_keys`).
pub(crate) fn open_checkpoint(
    note: &[u8],
    log_keys: &[&Verifier],
    other_keys: &[&Verifier],
) -> Result<(Checkpoint, usize, Vec<Verified>)> {
    if log_keys.is_empty() {
        return Err(invalid("no log keys given"));
    }
    let n = Note::parse(note)?;
    let cp = Checkpoint::parse(&n.text)?;
    if !log_keys.iter().any(|k| k.name() == cp.origin) {
        let names: Vec<String> = log_keys.iter().take(8).map(|k| shown(k.name())).collect();
        return Err(failed(format!(
            "checkpoint is from origin {}, and no log key has that name (log keys: {})",
            shown(&cp.origin),
            names.join(", ")
        )));
    }
    let keys: Vec<&Verifier> = log_keys.iter().chain(other_keys).copied().collect();
    let verified = n.verify(&keys)?;
    let log_index = verified
        .iter()
        .find(|v| v.key_index < log_keys.len() && v.name == cp.origin)
        .map(|v| v.key_index)
        .ok_or_else(|| {
            failed(format!("checkpoint for origin {} carries no valid signature by that log's key", shown(&cp.origin)))
        })?;
    Ok((cp, log_index, verified))
}

/// Verifies a signed checkpoint: some key of `keys` named after the origin
/// must have signed it, and no known key's signature may fail.
pub fn verify_checkpoint(note: &[u8], keys: &[&Verifier]) -> Result<Checkpoint> {
    open_checkpoint(note, keys, &[]).map(|(cp, _, _)| cp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notes::note::{ALG_ED25519, MAX_NOTE_SIZE};
    use crate::Error;

    const ROOT: Hash = [7u8; 32];

    fn err(r: Result<impl std::fmt::Debug>) -> Error {
        r.expect_err("expected an error")
    }

    fn msg(r: Result<impl std::fmt::Debug>, word: &str) -> Error {
        let e = err(r);
        assert!(e.to_string().contains(word), "{word:?} not in {e}");
        e
    }

    #[test]
    fn round_trip_and_spec_shape() {
        let mut cp = Checkpoint::new("example.com/log", 20852163, ROOT);
        let text = cp.to_text().unwrap();
        assert_eq!(text, format!("example.com/log\n20852163\n{}\n", B64.encode(ROOT)));
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        cp.extensions = vec!["ext one".into(), "— two".into()];
        assert_eq!(Checkpoint::parse(&cp.to_text().unwrap()).unwrap(), cp);
        cp.size = 0;
        assert_eq!(Checkpoint::parse(&cp.to_text().unwrap()).unwrap(), cp);
        cp.size = u64::MAX;
        assert_eq!(Checkpoint::parse(&cp.to_text().unwrap()).unwrap(), cp);
    }

    #[test]
    fn signs_and_verifies_with_the_origin_key_only() {
        let log = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        let other = Signer::generate("example.com/other", ALG_ED25519).unwrap();
        let cp = Checkpoint::new("example.com/log", 5, ROOT);
        let signed = cp.sign(&log).unwrap();
        assert_eq!(verify_checkpoint(signed.as_bytes(), &[&log.verifier()]).unwrap(), cp);
        assert_eq!(verify_checkpoint(signed.as_bytes(), &[&other.verifier(), &log.verifier()]).unwrap(), cp);
        msg(cp.sign(&other), "must be the same");
        // A note over the same text signed by a key with another name is refused.
        let wrong = note::sign(&cp.to_text().unwrap(), &[&other]).unwrap();
        assert!(matches!(
            msg(verify_checkpoint(wrong.as_bytes(), &[&other.verifier()]), "no log key has that name"),
            Error::Verification(_)
        ));
        let both = note::sign(&cp.to_text().unwrap(), &[&other, &log]).unwrap();
        assert_eq!(verify_checkpoint(both.as_bytes(), &[&other.verifier(), &log.verifier()]).unwrap(), cp);
        // A second key named like the origin that did not sign: the log key verifies anyway.
        let rotated = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        assert!(matches!(
            msg(verify_checkpoint(signed.as_bytes(), &[&rotated.verifier()]), "no signature by any"),
            Error::Verification(_)
        ));
        msg(verify_checkpoint(signed.as_bytes(), &[]), "no log keys");
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let r = B64.encode(ROOT);
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "newline"),
            ("o\n1\n".into(), "three lines"),
            ("o\n1".into(), "newline"),
            (format!("\n1\n{r}\n"), "origin"),
            (format!("o\n\n{r}\n"), "decimal"),
            (format!("o\n01\n{r}\n"), "leading zeros"),
            (format!("o\n00\n{r}\n"), "leading zeros"),
            (format!("o\n+1\n{r}\n"), "decimal"),
            (format!("o\n-1\n{r}\n"), "decimal"),
            (format!("o\n 1\n{r}\n"), "decimal"),
            (format!("o\n1e3\n{r}\n"), "decimal"),
            (format!("o\n18446744073709551616\n{r}\n"), "64 bits"),
            ("o\n1\n\n".into(), "32-byte"),
            (format!("o\n1\n{}\n", &r[..43]), "base64"),
            (format!("o\n1\n{}\n", r.replace('=', "")), "base64"),
            (format!("o\n1\n{}\n", B64.encode([0u8; 31])), "31 bytes"),
            (format!("o\n1\n{}\n", B64.encode([0u8; 33])), "33 bytes"),
            (format!("o\n1\n{r}\n\n"), "extension line 4 is empty"),
            (format!("o\n1\n{r}\next\n\nmore\n"), "extension line 5 is empty"),
            (format!("o\x01\n1\n{r}\n"), "0x01"),
            (format!("o\n1\n{r}\n{}\n", "x".repeat(MAX_NOTE_SIZE)), "bytes"),
        ];
        for (text, word) in cases {
            assert!(matches!(msg(Checkpoint::parse(&text), word), Error::InvalidArgument(_)), "{text:?}");
        }
        let mut cp = Checkpoint::new("", 1, ROOT);
        msg(cp.to_text(), "origin is empty");
        cp.origin = "a\nb".into();
        msg(cp.to_text(), "newline");
        cp.origin = "a".into();
        cp.extensions = vec![String::new()];
        msg(cp.to_text(), "extension line 1 is empty");
        cp.extensions = vec!["x\ty".into()];
        msg(cp.to_text(), "0x09");
    }

    #[test]
    fn a_signed_note_that_is_not_a_checkpoint_is_refused() {
        let log = Signer::generate("example.com/log", ALG_ED25519).unwrap();
        let n = note::sign("example.com/log\n1\n", &[&log]).unwrap();
        msg(verify_checkpoint(n.as_bytes(), &[&log.verifier()]), "three lines");
    }
}
