//! C2SP signed notes, checkpoints, cosignatures and tlog-proofs: thin
//! conversions over `veritree_core::{note, checkpoint, cosignature, tlog_proof}`.
//!
//! Signer keys are secrets: no message raised here quotes one.

use std::borrow::Cow;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use veritree_core::notes::checkpoint::{verify_checkpoint as core_verify_checkpoint, Checkpoint};
use veritree_core::notes::cosignature::{self, VerifiedCheckpoint};
use veritree_core::notes::note::{self, Signer, Verifier, ALG_COSIGNATURE_V1, ALG_ED25519};
use veritree_core::notes::tlog_proof::{self, TlogProof};
use veritree_core::tiles::CheckpointFormat;
use veritree_core::tiles::NoteCheckpoints;
use veritree_core::{Error, Hash};

use crate::convert::{self, CoreResult};

/// The items of a list of key strings; a single str is refused (it would
/// iterate as characters).
fn key_strings(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!("{what} must be a list of key strings, not a single str or bytes")));
    }
    obj.try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a list of key strings")))?
        .enumerate()
        .map(|(i, item)| {
            let item = item?;
            item.extract::<String>()
                .map_err(|_| PyTypeError::new_err(format!("{what}[{i}] must be a str, not {}", type_name(&item))))
        })
        .collect()
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// Prefixes a core error's message with where it came from.
fn context(e: Error, prefix: &str) -> Error {
    match e {
        Error::InvalidArgument(m) => Error::InvalidArgument(format!("{prefix}: {m}")),
        other => other,
    }
}

fn verifiers(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Verifier>> {
    key_strings(obj, what)?
        .iter()
        .enumerate()
        .map(|(i, k)| Verifier::parse(k).map_err(|e| context(e, &format!("{what}[{i}]"))).py())
        .collect()
}

fn signer(key: &str, what: &str) -> PyResult<Signer> {
    Signer::parse(key).map_err(|e| context(e, what)).py()
}

/// A note or proof given as str (UTF-8) or bytes-like.
fn text_of<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s
            .to_str()
            .map_err(|_| PyValueError::new_err(format!("{what} is not valid UTF-8 (it holds a lone surrogate)")))?;
        return Ok(Cow::Borrowed(s.as_bytes()));
    }
    convert::bytes_of(obj, what)
        .map_err(|_| PyTypeError::new_err(format!("{what} must be str or bytes, not {}", type_name(obj))))
}

fn refs(keys: &[Verifier]) -> Vec<&Verifier> {
    keys.iter().collect()
}

fn non_negative(k: i64, what: &str) -> PyResult<usize> {
    usize::try_from(k).map_err(|_| PyValueError::new_err(format!("{what} must be non-negative, got {k}")))
}

type CheckpointTuple<'py> = (String, u64, Bound<'py, PyBytes>);

fn checkpoint_tuple(py: Python<'_>, cp: Checkpoint) -> CheckpointTuple<'_> {
    (cp.origin, cp.size, convert::hash_bytes(py, &cp.root))
}

fn new_checkpoint(origin: String, size: u64, root: &Bound<'_, PyAny>, extensions: Vec<String>) -> PyResult<Checkpoint> {
    let root = convert::hash(root, "root")?;
    Ok(Checkpoint { origin, size, root, extensions })
}

/// The checkpoint format for `Log.open(..., signer=KEY)`: checkpoints signed
/// with the log's type-0x01 key (whose name must be the origin), or read-only.
pub fn checkpoint_format(key: Option<&str>) -> PyResult<Box<dyn CheckpointFormat>> {
    let Some(key) = key else {
        return Ok(Box::new(NoteCheckpoints::read_only()));
    };
    let s = signer(key, "signer")?;
    if s.alg() != ALG_ED25519 {
        return Err(PyValueError::new_err(
            "signer: a log signs checkpoints with a note key (type 0x01), not a cosigner key",
        ));
    }
    Ok(Box::new(NoteCheckpoints::signed_by(s)))
}

fn key_pair(name: &str, alg: u8) -> PyResult<(String, String)> {
    let s = Signer::generate(name, alg).py()?;
    Ok((s.to_key_string(), s.verifier().to_vkey()))
}

/// A fresh Ed25519 note key (type 0x01): (signer key, verifier key).
#[pyfunction]
fn generate_note_key(name: &str) -> PyResult<(String, String)> {
    key_pair(name, ALG_ED25519)
}

/// A fresh Ed25519 cosigner (witness) key (type 0x04): (signer key, verifier key).
#[pyfunction]
fn generate_cosigner_key(name: &str) -> PyResult<(String, String)> {
    key_pair(name, ALG_COSIGNATURE_V1)
}

/// The verifier key of a signer key (a note key or a cosigner key); ValueError for a string that is not one.
#[pyfunction]
fn note_verifier_key(signer_key: &str) -> PyResult<String> {
    Ok(Signer::parse(signer_key).py()?.verifier().to_vkey())
}

/// Signs a note text (ending in a newline) with one or more signer keys.
#[pyfunction]
fn sign_note(text: &str, signer_keys: &Bound<'_, PyAny>) -> PyResult<String> {
    let signers = key_strings(signer_keys, "signer_keys")?
        .iter()
        .enumerate()
        .map(|(i, k)| signer(k, &format!("signer_keys[{i}]")))
        .collect::<PyResult<Vec<_>>>()?;
    note::sign(text, &signers.iter().collect::<Vec<_>>()).py()
}

/// Verifies a signed note; returns (text, names of the keys that verified).
#[pyfunction]
fn open_note(note: &Bound<'_, PyAny>, verifier_keys: &Bound<'_, PyAny>) -> PyResult<(String, Vec<String>)> {
    let keys = verifiers(verifier_keys, "verifier_keys")?;
    let (text, verified) = note::open(&text_of(note, "note")?, &refs(&keys)).py()?;
    Ok((text, verified.into_iter().map(|v| v.name).collect()))
}

/// The unsigned checkpoint note text.
#[pyfunction]
#[pyo3(signature = (origin, size, root, extensions = Vec::new()))]
fn format_checkpoint(origin: String, size: u64, root: &Bound<'_, PyAny>, extensions: Vec<String>) -> PyResult<String> {
    new_checkpoint(origin, size, root, extensions)?.to_text().py()
}

/// A checkpoint signed by the log key, whose name must be the origin.
#[pyfunction]
#[pyo3(signature = (origin, size, root, signer_key, extensions = Vec::new()))]
fn sign_checkpoint(
    origin: String,
    size: u64,
    root: &Bound<'_, PyAny>,
    signer_key: &str,
    extensions: Vec<String>,
) -> PyResult<String> {
    let s = signer(signer_key, "signer_key")?;
    new_checkpoint(origin, size, root, extensions)?.sign(&s).py()
}

/// Verifies a signed checkpoint (a key named after the origin must have
/// signed it); returns (origin, size, root).
#[pyfunction]
fn verify_checkpoint<'py>(
    py: Python<'py>,
    note: &Bound<'py, PyAny>,
    verifier_keys: &Bound<'py, PyAny>,
) -> PyResult<CheckpointTuple<'py>> {
    let keys = verifiers(verifier_keys, "verifier_keys")?;
    let cp = core_verify_checkpoint(&text_of(note, "note")?, &refs(&keys)).py()?;
    Ok(checkpoint_tuple(py, cp))
}

/// Adds a cosignature (type 0x04 key) at `timestamp` (default: now) to a signed checkpoint.
#[pyfunction]
#[pyo3(signature = (note, cosigner_key, timestamp = None))]
fn cosign_checkpoint(note: &Bound<'_, PyAny>, cosigner_key: &str, timestamp: Option<i128>) -> PyResult<String> {
    let s = signer(cosigner_key, "cosigner_key")?;
    let ts = match timestamp {
        None => cosignature::now(),
        Some(t) => u64::try_from(t)
            .ok()
            .filter(|&t| t <= cosignature::MAX_TIMESTAMP)
            .ok_or_else(|| PyValueError::new_err(format!("timestamp must be in [0, 2**63), got {t}")))?,
    };
    cosignature::cosign(&text_of(note, "note")?, &s, ts).py()
}

fn policy(
    note: &[u8],
    log_keys: &Bound<'_, PyAny>,
    witness_keys: &Bound<'_, PyAny>,
    k: i64,
) -> PyResult<VerifiedCheckpoint> {
    let logs = verifiers(log_keys, "log_keys")?;
    let witnesses = verifiers(witness_keys, "witness_keys")?;
    let k = non_negative(k, "k")?;
    cosignature::verify_checkpoint_policy(note, &refs(&logs), &refs(&witnesses), k).py()
}

/// Verifies that a checkpoint is signed by its log and cosigned by at least
/// `k` of the witnesses; returns (origin, size, root).
#[pyfunction]
fn verify_checkpoint_policy<'py>(
    py: Python<'py>,
    note: &Bound<'py, PyAny>,
    log_keys: &Bound<'py, PyAny>,
    witness_keys: &Bound<'py, PyAny>,
    k: i64,
) -> PyResult<CheckpointTuple<'py>> {
    let v = policy(&text_of(note, "note")?, log_keys, witness_keys, k)?;
    Ok(checkpoint_tuple(py, v.checkpoint))
}

/// The text of a C2SP tlog-proof.
#[pyfunction]
#[pyo3(signature = (index, proof, checkpoint, extra = None))]
fn format_tlog_proof(
    index: u64,
    proof: &Bound<'_, PyAny>,
    checkpoint: &str,
    extra: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    if proof.is_instance_of::<PyBytes>() || proof.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("proof must be a sequence of 32-byte hashes, not a single bytes or str"));
    }
    let proof = proof
        .try_iter()?
        .enumerate()
        .map(|(i, item)| convert::hash(&item?, &format!("proof[{i}]")))
        .collect::<PyResult<Vec<Hash>>>()?;
    let extra = extra.map(|e| convert::bytes_of(e, "extra").map(Cow::into_owned)).transpose()?;
    TlogProof { extra, index, proof, checkpoint: checkpoint.to_owned() }.format().py()
}

/// Verifies a tlog-proof for `leaf_hash` under the policy "the log's
/// signature plus at least `k` of `witness_keys`"; returns (origin, size, root, index).
#[pyfunction]
#[pyo3(signature = (text, leaf_hash, log_keys, witness_keys = None, k = 0))]
fn verify_tlog_proof<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
    leaf_hash: &Bound<'py, PyAny>,
    log_keys: &Bound<'py, PyAny>,
    witness_keys: Option<&Bound<'py, PyAny>>,
    k: i64,
) -> PyResult<(String, u64, Bound<'py, PyBytes>, u64)> {
    let leaf = convert::hash(leaf_hash, "leaf_hash")?;
    let logs = verifiers(log_keys, "log_keys")?;
    let witnesses = match witness_keys {
        Some(w) => verifiers(w, "witness_keys")?,
        None => Vec::new(),
    };
    let k = non_negative(k, "k")?;
    let v = tlog_proof::verify_tlog_proof(&text_of(text, "text")?, &leaf, &refs(&logs), &refs(&witnesses), k).py()?;
    let cp = v.checkpoint.checkpoint;
    Ok((cp.origin, cp.size, convert::hash_bytes(py, &cp.root), v.index))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(generate_note_key, m)?)?;
    m.add_function(wrap_pyfunction!(generate_cosigner_key, m)?)?;
    m.add_function(wrap_pyfunction!(note_verifier_key, m)?)?;
    m.add_function(wrap_pyfunction!(sign_note, m)?)?;
    m.add_function(wrap_pyfunction!(open_note, m)?)?;
    m.add_function(wrap_pyfunction!(format_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(sign_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(verify_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(cosign_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(verify_checkpoint_policy, m)?)?;
    m.add_function(wrap_pyfunction!(format_tlog_proof, m)?)?;
    m.add_function(wrap_pyfunction!(verify_tlog_proof, m)?)?;
    Ok(())
}
