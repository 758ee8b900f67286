//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.
//!
//! A note is a text ending in a newline, a blank line, and one or more
//! signature lines `— <key name> base64(key ID ‖ signature)`. Keys travel in
//! the text forms of Go's `golang.org/x/mod/sumdb/note`:
//!
//! - signer keys: `PRIVATE+KEY+<name>+<hex key ID>+base64(type ‖ 32-byte seed)`;
//! - verifier keys: `<name>+<hex key ID>+base64(type ‖ 32-byte public key)`;
//!
//! with key ID = SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. Two signature
//! types are supported: 0x01 (Ed25519 over the note text) and 0x04 (timestamped
//! Ed25519 checkpoint cosignatures, c2sp.org/tlog-cosignature; see
//! [`crate::notes::cosignature`]).
//!
//! Parsing is strict and bounded ([`MAX_NOTE_SIZE`], [`MAX_SIGNATURES`]), and
//! no input makes it panic. Verification follows the spec: signatures by
//! unknown keys (name and ID not both matching a given key) are ignored, a
//! known key whose signature fails rejects the whole note, and a note with no
//! verifying signature by a known key is rejected.
//!
//! Signer keys are secrets: no error message and no `Debug` output carries one.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{failed, invalid, Result};

/// The largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// The most signature lines a note may carry (the spec asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Signature type 0x01: Ed25519 over the note text.
pub const ALG_ED25519: u8 = 0x01;
/// Signature type 0x04: timestamped Ed25519 checkpoint cosignatures (cosignature/v1).
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";
/// Bytes of a cosignature/v1 signature: 8-byte big-endian timestamp ‖ 64-byte Ed25519 signature.
pub(crate) const COSIGNATURE_LEN: usize = 8 + 64;

/// The largest timestamp a cosignature may carry: 2^63 - 1.
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// The message a cosignature/v1 signs: header, time line, checkpoint text.
pub fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// The C2SP key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A key name for messages: quoted, and cut short when long.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", &s[..i]),
        None => format!("{s:?}"),
    }
}

/// Checks a key name: non-empty, no Unicode spaces, no '+', no control characters.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("key name is empty"));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "key name {} contains U+{:04X} (spaces and control characters are not allowed)",
            shown(name),
            c as u32
        )));
    }
    if name.contains('+') {
        return Err(invalid(format!("key name {} contains '+'", shown(name))));
    }
    Ok(())
}

/// Checks that `s` has no ASCII control character other than newline.
pub(crate) fn check_no_controls(s: &str, what: &str) -> Result<()> {
    match s.bytes().position(|b| b < 0x20 && b != b'\n') {
        Some(i) => Err(invalid(format!("{what} contains control character 0x{:02x} at byte {i}", s.as_bytes()[i]))),
        None => Ok(()),
    }
}

/// Checks a note text: at most [`MAX_NOTE_SIZE`] bytes, ends in a newline, no control characters.
pub fn check_text(text: &str) -> Result<()> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(invalid(format!("note text is {} bytes; at most {MAX_NOTE_SIZE} are allowed", text.len())));
    }
    if !text.ends_with('\n') {
        return Err(invalid("note text must end with a newline"));
    }
    check_no_controls(text, "note text")
}

fn alg_name(alg: u8) -> &'static str {
    match alg {
        ALG_ED25519 => "Ed25519 (0x01)",
        ALG_COSIGNATURE_V1 => "Ed25519 cosignature/v1 (0x04)",
        _ => "unsupported",
    }
}

fn check_alg(alg: u8, what: &str) -> Result<()> {
    match alg {
        ALG_ED25519 | ALG_COSIGNATURE_V1 => Ok(()),
        _ => Err(invalid(format!(
            "{what} has signature type 0x{alg:02x}; supported are 0x01 (Ed25519) and 0x04 (Ed25519 cosignature/v1)"
        ))),
    }
}

/// Parses the 8-digit lowercase hex key ID of a key's text form.
fn parse_key_id(hex: &str, what: &str) -> Result<u32> {
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(invalid(format!("{what}: key ID must be 8 lowercase hex digits")));
    }
    u32::from_str_radix(hex, 16).map_err(|_| invalid(format!("{what}: key ID must be 8 lowercase hex digits")))
}

/// `<name>+<hex id>+base64(type ‖ key)`: the shared text form of both key kinds.
fn key_text(name: &str, id: u32, alg: u8, key: &[u8; 32]) -> String {
    let mut raw = Vec::with_capacity(33);
    raw.push(alg);
    raw.extend_from_slice(key);
    format!("{name}+{id:08x}+{}", B64.encode(raw))
}

/// A key that signs notes (type 0x01) or cosigns checkpoints (type 0x04).
///
/// Its text form (from [`Signer::to_key_string`]) holds the private seed.
pub struct Signer {
    name: String,
    id: u32,
    alg: u8,
    key: SigningKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str, alg: u8) -> Result<Signer> {
        check_name(name)?;
        check_alg(alg, "a new key")?;
        let key = SigningKey::generate(&mut rand_core::OsRng);
        Ok(Signer::from_parts(name, alg, key))
    }

    fn from_parts(name: &str, alg: u8, key: SigningKey) -> Signer {
        let id = key_id(name, alg, key.verifying_key().as_bytes());
        Signer { name: name.to_owned(), id, alg, key }
    }

    /// Parses a signer key `PRIVATE+KEY+<name>+<hex id>+base64(type ‖ seed)`.
    /// The key ID must be the one the name, type and public key give.
    pub fn parse(skey: &str) -> Result<Signer> {
        const W: &str = "signer key";
        let rest =
            skey.strip_prefix(PRIVATE_PREFIX).ok_or_else(|| invalid("signer key must start with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (name, hex, b64) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(h), Some(b)) => (n, h, b),
            _ => return Err(invalid("signer key must be PRIVATE+KEY+<name>+<key ID>+<base64 key>")),
        };
        check_name(name)?;
        let id = parse_key_id(hex, W)?;
        let raw = B64.decode(b64).map_err(|_| invalid("signer key: key material is not valid base64"))?;
        let (&alg, seed) = raw.split_first().ok_or_else(|| invalid("signer key: key material is empty"))?;
        check_alg(alg, W)?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| invalid(format!("signer key: Ed25519 seed is {} bytes, not 32", seed.len())))?;
        let signer = Signer::from_parts(name, alg, SigningKey::from_bytes(&seed));
        if signer.id != id {
            return Err(invalid(format!(
                "signer key: key ID {id:08x} does not match the key (name, type and public key give {:08x})",
                signer.id
            )));
        }
        Ok(signer)
    }

    /// The secret text form `PRIVATE+KEY+<name>+<hex id>+base64(type ‖ seed)`.
    pub fn to_key_string(&self) -> String {
        format!("{PRIVATE_PREFIX}{}", key_text(&self.name, self.id, self.alg, self.key.as_bytes()))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The signature type: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    pub fn alg(&self) -> u8 {
        self.alg
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> Verifier {
        Verifier { name: self.name.clone(), id: self.id, alg: self.alg, key: self.key.verifying_key() }
    }

    /// Raw Ed25519 signature of `msg`.
    pub(crate) fn ed25519(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// A public key that checks note signatures, parsed from a verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    id: u32,
    alg: u8,
    key: VerifyingKey,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({})", self.to_vkey())
    }
}

impl Verifier {
    /// Parses a verifier key `<name>+<hex id>+base64(type ‖ public key)`. The
    /// key ID must be the one the name, type and public key give; small-order
    /// (weak) public keys are refused.
    pub fn parse(vkey: &str) -> Result<Verifier> {
        const W: &str = "verifier key";
        if vkey.starts_with(PRIVATE_PREFIX) {
            return Err(invalid("a signer (private) key was given where a verifier key belongs"));
        }
        let mut parts = vkey.splitn(3, '+');
        let (name, hex, b64) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(h), Some(b)) => (n, h, b),
            _ => return Err(invalid("verifier key must be <name>+<key ID>+<base64 key>")),
        };
        check_name(name)?;
        let id = parse_key_id(hex, W)?;
        let raw = B64
            .decode(b64)
            .map_err(|_| invalid(format!("verifier key {}: key material is not valid base64", shown(name))))?;
        let (&alg, public) = raw.split_first().ok_or_else(|| invalid("verifier key: key material is empty"))?;
        check_alg(alg, &format!("verifier key {}", shown(name)))?;
        let public: [u8; 32] = public.try_into().map_err(|_| {
            invalid(format!("verifier key {}: Ed25519 public key is {} bytes, not 32", shown(name), public.len()))
        })?;
        let want = key_id(name, alg, &public);
        if want != id {
            return Err(invalid(format!(
                "verifier key {}: key ID {id:08x} does not match the key (name, type and public key give {want:08x})",
                shown(name)
            )));
        }
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| invalid(format!("verifier key {}: not a valid Ed25519 public key", shown(name))))?;
        if key.is_weak() {
            return Err(invalid(format!("verifier key {}: Ed25519 public key has small order", shown(name))));
        }
        Ok(Verifier { name: name.to_owned(), id, alg, key })
    }

    /// The text form `<name>+<hex id>+base64(type ‖ public key)`.
    pub fn to_vkey(&self) -> String {
        key_text(&self.name, self.id, self.alg, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// The signature type: [`ALG_ED25519`] or [`ALG_COSIGNATURE_V1`].
    pub fn alg(&self) -> u8 {
        self.alg
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    fn same_id(&self, other: &Verifier) -> bool {
        self.name == other.name && self.id == other.id
    }

    /// Checks signature bytes (without the key ID) over a note text. Returns
    /// the cosignature timestamp for type 0x04, or why the signature fails.
    fn check(&self, text: &str, sig: &[u8]) -> std::result::Result<Option<u64>, String> {
        match self.alg {
            ALG_COSIGNATURE_V1 => {
                let (ts, sig) = match (sig.get(..8), sig.get(8..)) {
                    (Some(ts), Some(sig)) if sig.len() == 64 => (ts, sig),
                    _ => return Err(format!("a cosignature is {COSIGNATURE_LEN} bytes, this one is {}", sig.len())),
                };
                let mut t = [0u8; 8];
                t.copy_from_slice(ts);
                let ts = u64::from_be_bytes(t);
                if ts > MAX_TIMESTAMP {
                    return Err(format!("cosignature timestamp {ts} exceeds 2^63 - 1"));
                }
                let msg = cosigned_message(text, ts);
                self.ed25519(msg.as_bytes(), sig)?;
                Ok(Some(ts))
            }
            _ => {
                self.ed25519(text.as_bytes(), sig)?;
                Ok(None)
            }
        }
    }

    fn ed25519(&self, msg: &[u8], sig: &[u8]) -> std::result::Result<(), String> {
        let sig: [u8; 64] =
            sig.try_into().map_err(|_| format!("an Ed25519 signature is 64 bytes, this one is {}", sig.len()))?;
        self.key
            .verify_strict(msg, &Signature::from_bytes(&sig))
            .map_err(|_| "the Ed25519 signature is wrong".to_owned())
    }
}

/// Checks that no two keys share a name and key ID (they could not be told apart).
pub(crate) fn check_distinct(keys: &[&Verifier]) -> Result<()> {
    for (i, a) in keys.iter().enumerate() {
        if let Some(b) = keys.get(i + 1..).and_then(|rest| rest.iter().find(|b| a.same_id(b))) {
            return Err(invalid(if a == b {
                format!("verifier key {} ({:08x}) is given twice", shown(&a.name), a.id)
            } else {
                format!("two verifier keys share the name {} and key ID {:08x}", shown(&a.name), a.id)
            }));
        }
    }
    Ok(())
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: u32,
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// A signature that verified with one of the given keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub name: String,
    pub key_id: u32,
    /// Position of the key in the list given to [`Note::verify`].
    pub key_index: usize,
    /// The cosignature timestamp (type 0x04 keys); `None` for plain Ed25519.
    pub timestamp: Option<u64>,
}

/// A parsed (not yet verified) signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The text, with its final newline but without the separating blank line.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly: at most [`MAX_NOTE_SIZE`] bytes of UTF-8
    /// without control characters other than newline, text and signature
    /// lines separated by the last blank line, 1 to [`MAX_SIGNATURES`]
    /// well-formed signature lines. Signatures are not checked here.
    pub fn parse(note: &[u8]) -> Result<Note> {
        if note.len() > MAX_NOTE_SIZE {
            return Err(invalid(format!("note is {} bytes; at most {MAX_NOTE_SIZE} are allowed", note.len())));
        }
        let s = std::str::from_utf8(note)
            .map_err(|e| invalid(format!("note is not valid UTF-8 (bad byte at {})", e.valid_up_to())))?;
        check_no_controls(s, "note")?;
        let split =
            s.rfind("\n\n").ok_or_else(|| invalid("note has no blank line between its text and its signatures"))?;
        let (text, sigs) = (&s[..split + 1], &s[split + 2..]);
        if sigs.is_empty() {
            return Err(invalid("note has no signature lines after its last blank line"));
        }
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or_else(|| invalid("note does not end with a newline after its last signature line"))?;
        let count = sigs.bytes().filter(|&b| b == b'\n').count() + 1;
        if count > MAX_SIGNATURES {
            return Err(invalid(format!("note has {count} signature lines; at most {MAX_SIGNATURES} are allowed")));
        }
        let mut signatures = Vec::with_capacity(count);
        for (i, line) in sigs.split('\n').enumerate() {
            let n = i + 1;
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| invalid(format!("signature line {n} does not start with an em dash and a space")))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| invalid(format!("signature line {n} has no space between key name and signature")))?;
            check_name(name).map_err(|e| invalid(format!("signature line {n}: {e}")))?;
            let raw =
                B64.decode(b64).map_err(|_| invalid(format!("signature line {n}: signature is not valid base64")))?;
            if raw.len() < 5 {
                return Err(invalid(format!(
                    "signature line {n}: signature is {} bytes; a 4-byte key ID and a signature are needed",
                    raw.len()
                )));
            }
            let (id, sig) = raw.split_at(4);
            let key_id = u32::from_be_bytes([id[0], id[1], id[2], id[3]]);
            signatures.push(NoteSignature { name: name.to_owned(), key_id, signature: sig.to_vec() });
        }
        Ok(Note { text: text.to_owned(), signatures })
    }

    /// The note's text form: text, blank line, signature lines.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 1 + self.signatures.len() * 100);
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// Adds a signature line, replacing one by the same key (name and ID).
    /// The result must stay within the limits.
    pub fn add_signature(&mut self, sig: NoteSignature) -> Result<()> {
        check_name(&sig.name)?;
        self.signatures.retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
        self.check_limits()
    }

    fn check_limits(&self) -> Result<()> {
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(invalid(format!(
                "a note can carry at most {MAX_SIGNATURES} signatures, this one would have {}",
                self.signatures.len()
            )));
        }
        let len = self.encode().len();
        if len > MAX_NOTE_SIZE {
            return Err(invalid(format!("the signed note would be {len} bytes; at most {MAX_NOTE_SIZE} are allowed")));
        }
        Ok(())
    }

    /// Verifies the note with `keys` (which must not share a name and key ID):
    /// signatures by unknown keys are ignored, a known key's failing
    /// signature rejects the note, and at least one known key must verify.
    /// Returns each verifying key once, in the order of the signature lines.
    pub fn verify(&self, keys: &[&Verifier]) -> Result<Vec<Verified>> {
        if keys.is_empty() {
            return Err(invalid("no verifier keys given"));
        }
        check_distinct(keys)?;
        let mut verified: Vec<Verified> = Vec::new();
        for (line, s) in self.signatures.iter().enumerate() {
            let Some(key_index) = keys.iter().position(|k| k.name == s.name && k.id == s.key_id) else {
                continue;
            };
            let key = keys[key_index];
            let timestamp = key.check(&self.text, &s.signature).map_err(|why| {
                failed(format!(
                    "signature line {} by known key {} ({:08x}, {}) does not verify: {why}",
                    line + 1,
                    shown(&key.name),
                    key.id,
                    alg_name(key.alg)
                ))
            })?;
            if !verified.iter().any(|v| v.key_index == key_index) {
                verified.push(Verified { name: key.name.clone(), key_id: key.id, key_index, timestamp });
            }
        }
        if verified.is_empty() {
            let mut names: Vec<String> = self.signatures.iter().take(8).map(|s| shown(&s.name)).collect();
            if self.signatures.len() > names.len() {
                names.push("...".into());
            }
            return Err(failed(format!(
                "the note carries no signature by any of the {} given keys (it is signed by {})",
                keys.len(),
                names.join(", ")
            )));
        }
        Ok(verified)
    }
}

/// Parses and verifies a signed note (see [`Note::verify`]); returns its text
/// and the keys whose signatures verified.
pub fn open(note: &[u8], keys: &[&Verifier]) -> Result<(String, Vec<Verified>)> {
    let n = Note::parse(note)?;
    let v = n.verify(keys)?;
    Ok((n.text, v))
}

/// Signs a note text with one or more type-0x01 signers (deterministic: Ed25519).
pub fn sign(text: &str, signers: &[&Signer]) -> Result<String> {
    check_text(text)?;
    if signers.is_empty() {
        return Err(invalid("no signer keys given"));
    }
    let mut note = Note { text: text.to_owned(), signatures: Vec::with_capacity(signers.len()) };
    for (i, s) in signers.iter().enumerate() {
        if s.alg != ALG_ED25519 {
            return Err(invalid(format!(
                "signer key {} is a {} key; notes are signed with 0x01 keys (cosign checkpoints with 0x04 keys)",
                shown(&s.name),
                alg_name(s.alg)
            )));
        }
        if signers[..i].iter().any(|o| o.name == s.name && o.id == s.id) {
            return Err(invalid(format!("signer key {} ({:08x}) is given twice", shown(&s.name), s.id)));
        }
        note.signatures.push(NoteSignature {
            name: s.name.clone(),
            key_id: s.id,
            signature: s.ed25519(text.as_bytes()).to_vec(),
        });
    }
    note.check_limits()?;
    Ok(note.encode())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    const VECTOR: &str = include_str!("../../../../tests/vectors/note/signed_note_ed25519.json");

    fn vector() -> serde_json::Value {
        serde_json::from_str(VECTOR).unwrap()
    }

    fn s(v: &serde_json::Value, k: &str) -> String {
        v[k].as_str().unwrap().to_owned()
    }

    fn is_invalid(r: Result<impl fmt::Debug>, word: &str) {
        match r {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(word), "{word:?} not in {m:?}"),
            other => panic!("expected InvalidArgument({word:?}), got {other:?}"),
        }
    }

    fn is_failed(r: Result<impl fmt::Debug>, word: &str) {
        match r {
            Err(Error::Verification(m)) => assert!(m.contains(word), "{word:?} not in {m:?}"),
            other => panic!("expected Verification({word:?}), got {other:?}"),
        }
    }

    #[test]
    fn known_answer_signs_and_verifies_byte_for_byte() {
        let v = vector();
        let signer = Signer::parse(&s(&v, "signer_key")).unwrap();
        assert_eq!(signer.to_key_string(), s(&v, "signer_key"));
        assert_eq!(signer.verifier().to_vkey(), s(&v, "verifier_key"));
        let note = sign(&s(&v, "text"), &[&signer]).unwrap();
        assert_eq!(note, s(&v, "signed_note"));
        let vk = Verifier::parse(&s(&v, "verifier_key")).unwrap();
        let (text, ok) = open(note.as_bytes(), &[&vk]).unwrap();
        assert_eq!(text, s(&v, "text"));
        assert_eq!(
            ok,
            vec![Verified { name: "PeterNeumann".into(), key_id: 0xc74f20a3, key_index: 0, timestamp: None }]
        );
        for bad in v["bad_verifier_keys"].as_array().unwrap() {
            assert!(Verifier::parse(bad.as_str().unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn spec_example_verifies() {
        let vk = Verifier::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k").unwrap();
        let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        let (text, _) = open(note.as_bytes(), &[&vk]).unwrap();
        assert_eq!(text, "This is an example message.\n");
    }

    #[test]
    fn generated_keys_round_trip() {
        for alg in [ALG_ED25519, ALG_COSIGNATURE_V1] {
            let k = Signer::generate("example.com/log", alg).unwrap();
            let again = Signer::parse(&k.to_key_string()).unwrap();
            assert_eq!(again.verifier(), k.verifier());
            assert_eq!(Verifier::parse(&k.verifier().to_vkey()).unwrap(), k.verifier());
            assert_eq!(k.key_id(), key_id("example.com/log", alg, &k.verifier().public_key()));
            assert!(!format!("{k:?}").contains(&k.to_key_string()[12..]));
        }
        is_invalid(Signer::generate("a b", ALG_ED25519), "U+0020");
        is_invalid(Signer::generate("a", 0x02), "0x02");
    }

    #[test]
    fn multiple_signers_and_unknown_keys() {
        let (a, b, c) = (
            Signer::generate("a", ALG_ED25519).unwrap(),
            Signer::generate("b", ALG_ED25519).unwrap(),
            Signer::generate("c", ALG_ED25519).unwrap(),
        );
        let note = sign("hello\n\nworld\n", &[&a, &b]).unwrap();
        let (text, ok) = open(note.as_bytes(), &[&c.verifier(), &b.verifier()]).unwrap();
        assert_eq!(text, "hello\n\nworld\n");
        assert_eq!(ok.len(), 1);
        assert_eq!((ok[0].name.as_str(), ok[0].key_index), ("b", 1));
        is_failed(open(note.as_bytes(), &[&c.verifier()]), "no signature");
        // Same name, other key: unknown (ID differs), ignored.
        let a2 = Signer::generate("a", ALG_ED25519).unwrap();
        is_failed(open(note.as_bytes(), &[&a2.verifier()]), "no signature");
        is_invalid(sign("x\n", &[&a, &a]), "twice");
        is_invalid(open(note.as_bytes(), &[&a.verifier(), &a.verifier()]), "twice");
        is_invalid(open(note.as_bytes(), &[]), "no verifier keys");
    }

    #[test]
    fn a_failing_known_signature_rejects_the_note() {
        let (a, b) = (Signer::generate("a", ALG_ED25519).unwrap(), Signer::generate("b", ALG_ED25519).unwrap());
        let good = Note::parse(sign("text\n", &[&a, &b]).unwrap().as_bytes()).unwrap();
        let mut bad = good.clone();
        bad.signatures[1].signature[0] ^= 1;
        is_failed(open(bad.encode().as_bytes(), &[&a.verifier(), &b.verifier()]), "line 2");
        // Other text, same signatures.
        let mut bad = good.clone();
        bad.text = "texT\n".into();
        is_failed(open(bad.encode().as_bytes(), &[&a.verifier()]), "does not verify");
        // A signature of the wrong length by a known key fails, it is not malformed.
        let mut bad = good;
        bad.signatures[0].signature.pop();
        is_failed(open(bad.encode().as_bytes(), &[&a.verifier()]), "64 bytes");
    }

    #[test]
    fn malformed_notes_are_refused() {
        let a = Signer::generate("a", ALG_ED25519).unwrap();
        let good = sign("text\n", &[&a]).unwrap();
        let line = good.split_once("\n\n").unwrap().1.to_owned();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "no blank line"),
            (b"text\n".to_vec(), "no blank line"),
            (b"text\n\n".to_vec(), "no signature lines"),
            (good.trim_end().as_bytes().to_vec(), "end with a newline"),
            (format!("{good}\n").into_bytes(), "no signature lines"),
            (format!("text\n\n{}", line.replace('\u{2014}', "-")).into_bytes(), "em dash"),
            (format!("text\n\n{}", line.replacen(' ', "", 1)).into_bytes(), "em dash"),
            (b"text\n\n\xe2\x80\x94 a\n".to_vec(), "no space"),
            (b"text\n\n\xe2\x80\x94  AAAAAAA=\n".to_vec(), "key name is empty"),
            (format!("text\n\n{}", line.replace(" a ", " a+b ")).into_bytes(), "'+'"),
            (b"text\n\n\xe2\x80\x94 a AAAA\n".to_vec(), "3 bytes"),
            (b"text\n\n\xe2\x80\x94 a AAAAAA==\n".to_vec(), "4 bytes"),
            (b"text\n\n\xe2\x80\x94 a AAAAAA=\n".to_vec(), "base64"),
            (b"text\n\n\xe2\x80\x94 a !!!!\n".to_vec(), "base64"),
            (format!("text\n\n{}", line.replace('=', "")).into_bytes(), "base64"),
            (format!("te\rxt\n\n{line}").into_bytes(), "0x0d"),
            (format!("te\0xt\n\n{line}").into_bytes(), "0x00"),
            (format!("text\n\n{}", line.replace('\n', "\r\n")).into_bytes(), "0x0d"),
            (format!("text\n\n{}", line.replace(' ', "\t")).into_bytes(), "0x09"),
            (b"te\xffxt\n\n".to_vec(), "UTF-8"),
            (b"te\xe2\x80xt\n\n".to_vec(), "UTF-8"),
            (format!("text\n\n{}", line.repeat(MAX_SIGNATURES + 1)).into_bytes(), "signature lines"),
            (format!("{}\n\n{line}", "x".repeat(MAX_NOTE_SIZE)).into_bytes(), "bytes; at most"),
        ];
        for (note, word) in cases {
            is_invalid(Note::parse(&note), word);
        }
        // 16 (and up to MAX_SIGNATURES) signatures are accepted.
        let many = format!("text\n\n{}", line.repeat(MAX_SIGNATURES));
        assert_eq!(Note::parse(many.as_bytes()).unwrap().signatures.len(), MAX_SIGNATURES);
        assert_eq!(open(many.as_bytes(), &[&a.verifier()]).unwrap().1.len(), 1);
    }

    #[test]
    fn text_is_split_at_the_last_blank_line() {
        let a = Signer::generate("a", ALG_ED25519).unwrap();
        let text = "a\n\n\u{2014} a AAAAAAA=\n\n";
        let note = sign(text, &[&a]).unwrap();
        assert_eq!(open(note.as_bytes(), &[&a.verifier()]).unwrap().0, text);
        is_invalid(sign("no newline", &[&a]), "newline");
        is_invalid(sign("", &[&a]), "newline");
        is_invalid(sign("tab\there\n", &[&a]), "0x09");
        is_invalid(sign("x\n", &[]), "no signer");
        let c = Signer::generate("c", ALG_COSIGNATURE_V1).unwrap();
        is_invalid(sign("x\n", &[&c]), "0x04");
    }

    #[test]
    fn malformed_keys_are_refused() {
        // A fixed key whose ID has hex letters (for the uppercase case).
        let k = Signer::from_parts("example.com/k", ALG_ED25519, SigningKey::from_bytes(&[7u8; 32]));
        let skey = k.to_key_string();
        assert!(format!("{:08x}", k.key_id()).bytes().any(|b| b.is_ascii_alphabetic()));
        let vkey = k.verifier().to_vkey();
        let (vname, rest) = vkey.split_once('+').unwrap();
        let (vhex, vb64) = rest.split_once('+').unwrap();
        let flipped = if vhex.starts_with('0') { vhex.replacen('0', "1", 1) } else { format!("0{}", &vhex[1..]) };
        let short = B64.encode(&B64.decode(vb64).unwrap()[..32]);
        let long = B64.encode([B64.decode(vb64).unwrap(), vec![0]].concat());
        let vcases: Vec<(String, &str)> = vec![
            (String::new(), "must be <name>"),
            (vname.to_owned(), "must be <name>"),
            (format!("{vname}+{vhex}"), "must be <name>"),
            (format!("+{vhex}+{vb64}"), "empty"),
            (format!("a b+{vhex}+{vb64}"), "U+0020"),
            (format!("{vname}+{}+{vb64}", vhex.to_uppercase()), "lowercase hex"),
            (format!("{vname}+{}+{vb64}", &vhex[..7]), "8 lowercase"),
            (format!("{vname}+-{}+{vb64}", &vhex[..7]), "8 lowercase"),
            (format!("{vname}+{flipped}+{vb64}"), "does not match"),
            (format!("{vname}+{vhex}+"), "empty"),
            (format!("{vname}+{vhex}+{}", &vb64[1..]), "base64"),
            (format!("{vname}+{vhex}+{short}"), "31 bytes"),
            (format!("{vname}+{vhex}+{long}"), "33 bytes"),
            (format!("{vname}+{vhex}+{}", B64.encode([&[2u8][..], &[0; 32]].concat())), "0x02"),
        ];
        is_invalid(Verifier::parse(&skey), "signer (private) key");
        for (v, word) in vcases {
            is_invalid(Verifier::parse(&v), word);
        }
        // A small-order point with its right key ID.
        let mut weak = [0u8; 32];
        weak[0] = 1; // the identity
        let wv = format!("w+{:08x}+{}", key_id("w", 1, &weak), B64.encode([&[1u8][..], &weak].concat()));
        is_invalid(Verifier::parse(&wv), "small order");

        let body = skey.strip_prefix(PRIVATE_PREFIX).unwrap();
        let (_, srest) = body.split_once('+').unwrap();
        let (shex, sb64) = srest.split_once('+').unwrap();
        let scases: Vec<(String, &str)> = vec![
            (String::new(), "PRIVATE+KEY+"),
            (vkey.clone(), "PRIVATE+KEY+"),
            (skey.replacen("PRIVATE", "private", 1), "PRIVATE+KEY+"),
            (format!("PRIVATE+KEY+{vname}"), "must be PRIVATE"),
            (format!("PRIVATE+KEY+x+{shex}+{sb64}"), "does not match"),
            (format!("PRIVATE+KEY+{vname}+{shex}+{}", &sb64[2..]), "base64"),
            (format!("PRIVATE+KEY+{vname}+{shex}+{}", B64.encode([1u8; 20])), "19 bytes"),
            (format!("PRIVATE+KEY+{vname}+{shex}+{}", B64.encode([7u8; 33])), "0x07"),
            (format!("PRIVATE+KEY+{vname}+zzzzzzzz+{sb64}"), "hex"),
        ];
        for (sk, word) in scases {
            match Signer::parse(&sk) {
                Err(Error::InvalidArgument(m)) => {
                    assert!(m.contains(word), "{word:?} not in {m:?}");
                    assert!(!m.contains(sb64), "secret in message {m:?}");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn shown_cuts_long_names_on_char_boundaries() {
        let long = "é".repeat(100);
        assert!(shown(&long).ends_with("..."));
        assert_eq!(shown("a"), "\"a\"");
    }
}
