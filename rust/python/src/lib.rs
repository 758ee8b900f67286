//! veritree._native: the thin pyo3 layer over veritree-core. It converts
//! arguments, maps errors to exceptions and releases the GIL for batch work;
//! every algorithm lives in the core.

use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::{verify, CompactRange};

mod akd;
mod compact;
mod convert;
mod ed25519;
mod errors;
mod kt;
mod log;
mod map;
mod notes;
mod tiles;
mod vrf;

use convert::CoreResult;

/// The leaf hash of one entry.
#[pyfunction]
#[pyo3(signature = (data, suite = "rfc6962-sha256"))]
fn leaf_hash<'py>(py: Python<'py>, data: &Bound<'py, PyAny>, suite: &str) -> PyResult<Bound<'py, PyBytes>> {
    let s = convert::suite(suite)?;
    Ok(convert::hash_bytes(py, &s.leaf_hash(&convert::bytes_of(data, "data")?)))
}

/// Leaf hashes of a sequence of entries, as a numpy (N, 32) uint8 array.
#[pyfunction]
#[pyo3(signature = (entries, suite = "rfc6962-sha256"))]
fn leaf_hashes<'py>(py: Python<'py>, entries: &Bound<'py, PyAny>, suite: &str) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let s = convert::suite(suite)?;
    let items = convert::entry_items(entries)?;
    let data = convert::entry_bytes(&items)?;
    let hs = py.detach(|| s.leaf_hashes(&data));
    convert::hash_array(py, hs)
}

/// The hash of one interior node with children `left` and `right`.
#[pyfunction]
#[pyo3(signature = (left, right, suite = "rfc6962-sha256"))]
fn node_hash<'py>(
    py: Python<'py>,
    left: &Bound<'py, PyAny>,
    right: &Bound<'py, PyAny>,
    suite: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let s = convert::suite(suite)?;
    let h = s.node_hash(&convert::hash(left, "left")?, &convert::hash(right, "right")?);
    Ok(convert::hash_bytes(py, &h))
}

/// One tree level: row `i` of the result hashes rows `2i` and `2i + 1` of
/// `children` ((2N, 32) uint8 in, (N, 32) out).
#[pyfunction]
#[pyo3(signature = (children, suite = "rfc6962-sha256"))]
fn hash_children<'py>(
    py: Python<'py>,
    children: &Bound<'py, PyAny>,
    suite: &str,
) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let s = convert::suite(suite)?;
    let out = convert::with_hashes(children, "children", |c| {
        if c.len() % 2 != 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "children must have an even number of rows, got {}",
                c.len()
            )));
        }
        let mut out = vec![[0u8; 32]; c.len() / 2];
        py.detach(|| s.hash_nodes_par(c, &mut out));
        Ok(out)
    })?;
    convert::hash_array(py, out)
}

/// The root of a tree over the given leaf hashes, without keeping the tree.
#[pyfunction]
#[pyo3(signature = (hashes, suite = "rfc6962-sha256"))]
fn merkle_root<'py>(py: Python<'py>, hashes: &Bound<'py, PyAny>, suite: &str) -> PyResult<Bound<'py, PyBytes>> {
    let s = convert::suite(suite)?;
    let root = convert::with_hashes(hashes, "hashes", |h| {
        py.detach(|| {
            let mut cr = CompactRange::new(s);
            cr.extend(h)?;
            Ok(cr.root())
        })
        .py()
    })?;
    Ok(convert::hash_bytes(py, &root))
}

/// Verifies an RFC 9162 inclusion proof; raises VerificationError if it fails.
#[pyfunction]
#[pyo3(signature = (index, size, leaf_hash, proof, root, suite = "rfc6962-sha256"))]
fn verify_inclusion(
    index: u64,
    size: u64,
    leaf_hash: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
    suite: &str,
) -> PyResult<()> {
    let s = convert::suite(suite)?;
    let (leaf, root) = (convert::hash(leaf_hash, "leaf_hash")?, convert::hash(root, "root")?);
    verify::verify_inclusion(s, index, size, &leaf, &convert::proof_nodes(proof)?, &root).py()
}

/// Verifies many inclusion proofs against one root, in parallel with the GIL
/// released. Proof `i` is `nodes[offsets[i]:offsets[i + 1]]`, as
/// `Log.inclusion_proofs` returns them. Returns a numpy bool array of verdicts.
#[pyfunction]
#[pyo3(signature = (indices, size, leaf_hashes, nodes, offsets, root, suite = "rfc6962-sha256"))]
#[allow(clippy::too_many_arguments)]
fn verify_inclusions<'py>(
    py: Python<'py>,
    indices: &Bound<'py, PyAny>,
    size: u64,
    leaf_hashes: &Bound<'py, PyAny>,
    nodes: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    root: &Bound<'py, PyAny>,
    suite: &str,
) -> PyResult<Bound<'py, PyArray1<bool>>> {
    let s = convert::suite(suite)?;
    let idx = convert::indices(indices, "indices")?;
    let offs = convert::indices(offsets, "offsets")?;
    let root = convert::hash(root, "root")?;
    let verdicts = convert::with_hashes(leaf_hashes, "leaf_hashes", |leaves| {
        convert::with_hashes(nodes, "nodes", |nodes| {
            py.detach(|| verify::verify_inclusions(s, &idx, size, leaves, nodes, &offs, &root)).py()
        })
    })?;
    Ok(PyArray1::from_vec(py, verdicts))
}

/// Verifies an RFC 9162 consistency proof; raises VerificationError if it fails.
#[pyfunction]
#[pyo3(signature = (old_size, new_size, old_root, new_root, proof, suite = "rfc6962-sha256"))]
fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Bound<'_, PyAny>,
    new_root: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    suite: &str,
) -> PyResult<()> {
    let s = convert::suite(suite)?;
    let (a, b) = (convert::hash(old_root, "old_root")?, convert::hash(new_root, "new_root")?);
    verify::verify_consistency(s, old_size, new_size, &a, &b, &convert::proof_nodes(proof)?).py()
}

/// Verifies a batch inclusion proof (as `Log.batch_inclusion_proof` makes it)
/// for strictly increasing `indices`; raises VerificationError if it fails.
#[pyfunction]
#[pyo3(signature = (indices, size, leaf_hashes, proof, root, suite = "rfc6962-sha256"))]
fn verify_batch_inclusion(
    py: Python<'_>,
    indices: &Bound<'_, PyAny>,
    size: u64,
    leaf_hashes: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    root: &Bound<'_, PyAny>,
    suite: &str,
) -> PyResult<()> {
    let s = convert::suite(suite)?;
    let idx = convert::indices(indices, "indices")?;
    let root = convert::hash(root, "root")?;
    let proof = convert::packed_nodes(proof)?;
    convert::with_hashes(leaf_hashes, "leaf_hashes", |leaves| {
        py.detach(|| verify::verify_batch_inclusion(s, &idx, size, leaves, &proof, &root)).py()
    })
}

/// Node hashes per second that `suite` sustains on all cores over
/// cache-resident input: the hashing limit benchmarks compare against.
#[pyfunction]
#[pyo3(signature = (suite, seconds = 0.5))]
fn hash_limit(py: Python<'_>, suite: &str, seconds: f64) -> PyResult<f64> {
    let s = convert::suite(suite)?;
    py.detach(|| veritree_core::hash_limit::node_hash_limit(s, seconds)).py()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("VeritreeError", py.get_type::<errors::VeritreeError>())?;
    m.add("VerificationError", py.get_type::<errors::VerificationError>())?;
    m.add("StorageError", py.get_type::<errors::StorageError>())?;
    m.add("StorageNotFoundError", py.get_type::<errors::StorageNotFoundError>())?;
    m.add("StorageDamagedError", py.get_type::<errors::StorageDamagedError>())?;
    m.add("StorageIOError", py.get_type::<errors::StorageIOError>())?;
    m.add("StorageLockedError", py.get_type::<errors::StorageLockedError>())?;
    m.add("StorageClosedError", py.get_type::<errors::StorageClosedError>())?;
    m.add("ClockError", py.get_type::<errors::ClockError>())?;
    m.add("LogBehindError", py.get_type::<errors::LogBehindError>())?;
    m.add("SUITES", pyo3::types::PyTuple::new(py, veritree_core::Suite::ALL.map(|s| s.name()))?)?;
    m.add_class::<log::PyLog>()?;
    m.add_class::<compact::PyCompactRange>()?;
    m.add_class::<tiles::PyTileReader>()?;
    m.add_class::<map::PyMap>()?;
    m.add_class::<kt::PyKtDirectory>()?;
    m.add_class::<kt::PyKtClient>()?;
    m.add_class::<kt::PyKtFound>()?;
    m.add_class::<kt::PyKtAuditor>()?;
    m.add_function(wrap_pyfunction!(kt::kt_update_request_values, m)?)?;
    m.add_function(wrap_pyfunction!(map::verify_prefix_proof, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519::ed25519_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519::ed25519_sign, m)?)?;
    m.add_function(wrap_pyfunction!(ed25519::ed25519_verify, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_verify_lookup, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_verify_history, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_verify_append_only, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_verify_audit_blob, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_parse_blob_name, m)?)?;
    m.add_function(wrap_pyfunction!(akd::akd_empty_root, m)?)?;
    m.add_function(wrap_pyfunction!(vrf::ecvrf_prove, m)?)?;
    m.add_function(wrap_pyfunction!(vrf::ecvrf_verify, m)?)?;
    m.add_function(wrap_pyfunction!(vrf::ecvrf_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(vrf::ecvrf_proof_to_hash, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hash, m)?)?;
    m.add_function(wrap_pyfunction!(leaf_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(node_hash, m)?)?;
    m.add_function(wrap_pyfunction!(hash_children, m)?)?;
    m.add_function(wrap_pyfunction!(merkle_root, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_inclusions, m)?)?;
    m.add_function(wrap_pyfunction!(verify_consistency, m)?)?;
    m.add_function(wrap_pyfunction!(verify_batch_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(hash_limit, m)?)?;
    notes::register(m)?;
    Ok(())
}
