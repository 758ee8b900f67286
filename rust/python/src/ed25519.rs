//! Ed25519 (RFC 8032) through ed25519-dalek: the account keys of the key
//! directory sign device sets with it.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::Error;

use crate::convert::{self, CoreResult};

fn signing_key(seed: &Bound<'_, PyAny>) -> PyResult<SigningKey> {
    let b = convert::bytes_of(seed, "secret_key")?;
    let seed: [u8; 32] = b
        .as_ref()
        .try_into()
        .map_err(|_| Error::InvalidArgument("an Ed25519 secret key is a 32-byte seed".into()))
        .py()?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The 32-byte public key of a 32-byte secret key seed.
#[pyfunction]
pub fn ed25519_public_key<'py>(py: Python<'py>, secret_key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    Ok(PyBytes::new(py, signing_key(secret_key)?.verifying_key().as_bytes()))
}

/// The 64-byte signature of `message` under a 32-byte secret key seed.
#[pyfunction]
pub fn ed25519_sign<'py>(
    py: Python<'py>,
    secret_key: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let sig = signing_key(secret_key)?.sign(&convert::bytes_of(message, "message")?);
    Ok(PyBytes::new(py, &sig.to_bytes()))
}

/// Checks a signature strictly (no small-order keys, canonical encodings);
/// raises VerificationError unless it is valid.
#[pyfunction]
pub fn ed25519_verify(
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let pk = convert::bytes_of(public_key, "public_key")?;
    let pk: [u8; 32] =
        pk.as_ref().try_into().map_err(|_| Error::InvalidArgument("an Ed25519 public key is 32 bytes".into())).py()?;
    let sig = convert::bytes_of(signature, "signature")?;
    let sig = Signature::from_slice(&sig)
        .map_err(|_| Error::InvalidArgument("an Ed25519 signature is 64 bytes".into()))
        .py()?;
    let key =
        VerifyingKey::from_bytes(&pk).map_err(|_| Error::Verification("not an Ed25519 public key".into())).py()?;
    key.verify_strict(&convert::bytes_of(message, "message")?, &sig)
        .map_err(|_| Error::Verification("the Ed25519 signature does not verify".into()))
        .py()
}
