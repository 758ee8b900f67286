//! ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381): prove, verify, keys.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::vrf::{self, VrfSecretKey};

use crate::convert::{self, CoreResult};

/// The 80-byte proof that `alpha` maps to its VRF output under the key whose
/// 32-byte seed is `secret_key`.
#[pyfunction]
pub fn ecvrf_prove<'py>(
    py: Python<'py>,
    secret_key: &Bound<'py, PyAny>,
    alpha: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let key = VrfSecretKey::from_seed(&convert::bytes_of(secret_key, "secret_key")?).py()?;
    Ok(PyBytes::new(py, &key.prove(&convert::bytes_of(alpha, "alpha")?)))
}

/// Checks `proof` for `alpha` under `public_key` and returns the 64-byte VRF
/// output; raises VerificationError for a proof that does not check out.
#[pyfunction]
pub fn ecvrf_verify<'py>(
    py: Python<'py>,
    public_key: &Bound<'py, PyAny>,
    alpha: &Bound<'py, PyAny>,
    proof: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let out = vrf::verify(
        &convert::bytes_of(public_key, "public_key")?,
        &convert::bytes_of(alpha, "alpha")?,
        &convert::bytes_of(proof, "proof")?,
    )
    .py()?;
    Ok(PyBytes::new(py, &out))
}

/// The 32-byte VRF public key of a 32-byte secret key seed.
#[pyfunction]
pub fn ecvrf_public_key<'py>(py: Python<'py>, secret_key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let key = VrfSecretKey::from_seed(&convert::bytes_of(secret_key, "secret_key")?).py()?;
    Ok(PyBytes::new(py, &key.public_key()))
}

/// The 64-byte VRF output of a proof, without verifying it.
#[pyfunction]
pub fn ecvrf_proof_to_hash<'py>(py: Python<'py>, proof: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, &vrf::proof_to_hash(&convert::bytes_of(proof, "proof")?).py()?))
}
