//! facebook/akd (WhatsApp v1) verification: lookups, key histories,
//! append-only proofs and audit blobs. Returns plain tuples; the Python
//! package wraps them in `veritree.akd`'s types.

use std::borrow::Cow;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::akd;

use crate::convert::{self, CoreResult};

type VersionTuple<'py> = (u64, u64, Bound<'py, PyBytes>);

fn version<'py>(py: Python<'py>, v: akd::Version) -> VersionTuple<'py> {
    (v.epoch, v.version, PyBytes::new(py, &v.value))
}

/// A lookup's or history's arguments: the key, the root, the label and the proof.
type Inputs<'a> = (Cow<'a, [u8]>, [u8; 32], Cow<'a, [u8]>, Cow<'a, [u8]>);

fn inputs<'a>(
    key: &'a Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
    label: &'a Bound<'_, PyAny>,
    proof: &'a Bound<'_, PyAny>,
) -> PyResult<Inputs<'a>> {
    let key = convert::bytes_of(key, "vrf_public_key")?;
    if key.len() != 32 {
        return Err(PyValueError::new_err(format!("vrf_public_key must be 32 bytes, got {}", key.len())));
    }
    let root = convert::hash(root, "root_hash")?;
    Ok((key, root, convert::bytes_of(label, "label")?, convert::bytes_of(proof, "proof")?))
}

/// (epoch, version, value) of the version a lookup proof shows current.
#[pyfunction]
pub fn akd_verify_lookup<'py>(
    py: Python<'py>,
    vrf_public_key: &Bound<'py, PyAny>,
    root_hash: &Bound<'py, PyAny>,
    epoch: u64,
    label: &Bound<'py, PyAny>,
    proof: &Bound<'py, PyAny>,
) -> PyResult<VersionTuple<'py>> {
    let (key, root, label, proof) = inputs(vrf_public_key, root_hash, label, proof)?;
    let v = py.detach(|| akd::verify_lookup(&key, &root, epoch, &label, &proof)).py()?;
    Ok(version(py, v))
}

/// The versions a key-history proof shows, newest first, as tuples.
#[pyfunction]
#[pyo3(signature = (vrf_public_key, root_hash, epoch, label, proof, most_recent = None))]
pub fn akd_verify_history<'py>(
    py: Python<'py>,
    vrf_public_key: &Bound<'py, PyAny>,
    root_hash: &Bound<'py, PyAny>,
    epoch: u64,
    label: &Bound<'py, PyAny>,
    proof: &Bound<'py, PyAny>,
    most_recent: Option<u64>,
) -> PyResult<Vec<VersionTuple<'py>>> {
    if most_recent == Some(0) {
        return Err(PyValueError::new_err("most_recent must be at least 1"));
    }
    let (key, root, label, proof) = inputs(vrf_public_key, root_hash, label, proof)?;
    let vs = py.detach(|| akd::verify_history(&key, &root, epoch, &label, &proof, most_recent)).py()?;
    Ok(vs.into_iter().map(|v| version(py, v)).collect())
}

/// Checks an AppendOnlyProof over the root hashes of its epochs.
#[pyfunction]
pub fn akd_verify_append_only(
    py: Python<'_>,
    root_hashes: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let roots = convert::hash_vec(root_hashes, "root_hashes")?;
    let proof = convert::bytes_of(proof, "proof")?;
    py.detach(|| akd::verify_append_only(&roots, &proof)).py()
}

/// (epoch, previous_root, current_root) of a verified audit blob.
#[pyfunction]
pub fn akd_verify_audit_blob<'py>(
    py: Python<'py>,
    name: &str,
    blob: &Bound<'py, PyAny>,
) -> PyResult<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let blob = convert::bytes_of(blob, "blob")?;
    let step = py.detach(|| akd::verify_audit_blob(name, &blob)).py()?;
    Ok((step.epoch, PyBytes::new(py, &step.previous_root), PyBytes::new(py, &step.current_root)))
}

/// (epoch, previous_root, current_root) named by an audit blob's name.
#[pyfunction]
pub fn akd_parse_blob_name<'py>(py: Python<'py>, name: &str) -> PyResult<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let step = akd::parse_blob_name(name).py()?;
    Ok((step.epoch, PyBytes::new(py, &step.previous_root), PyBytes::new(py, &step.current_root)))
}

/// The root hash of akd's empty tree.
#[pyfunction]
pub fn akd_empty_root(py: Python<'_>) -> Bound<'_, PyBytes> {
    PyBytes::new(py, &akd::empty_root())
}
