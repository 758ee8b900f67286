//! Python values in, Rust values out: bytes-likes, hashes, numpy arrays and
//! indices, each checked with a message that names the argument.

use std::borrow::Cow;

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes};
use veritree_core::{Error, Hash, Suite};

use veritree_core::error::StorageKind;

use crate::errors::{
    ClockError, LogBehindError, StorageClosedError, StorageDamagedError, StorageIOError, StorageLockedError,
    StorageNotFoundError, VerificationError,
};

/// Work below this many items stays on the calling thread with the GIL held:
/// releasing it costs more than the work.
pub const DETACH_MIN_ITEMS: usize = 512;

/// Maps a core error onto the matching Python exception.
pub fn to_py(e: Error) -> PyErr {
    match e {
        Error::InvalidArgument(m) => PyValueError::new_err(m),
        Error::OutOfRange(m) => pyo3::exceptions::PyIndexError::new_err(m),
        Error::Storage(ref s) => {
            let message = e.to_string();
            match s.kind {
                StorageKind::NotFound => StorageNotFoundError::new_err(message),
                StorageKind::Damaged => StorageDamagedError::new_err(message),
                StorageKind::Io => StorageIOError::new_err(message),
                StorageKind::Locked => StorageLockedError::new_err(message),
                StorageKind::Closed => StorageClosedError::new_err(message),
            }
        }
        Error::Verification(_) => VerificationError::new_err(e.to_string()),
        Error::Clock(m) => ClockError::new_err(m),
        Error::Behind { message, head } => {
            Python::attach(|py| LogBehindError::new_err((message, PyBytes::new(py, &head).unbind())))
        }
    }
}

pub trait CoreResult<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> CoreResult<T> for veritree_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

pub fn suite(name: &str) -> PyResult<Suite> {
    Suite::from_name(name).py()
}

/// The bytes of a bytes, bytearray or other contiguous byte buffer.
pub fn bytes_of<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(Cow::Owned(b.to_vec()));
    }
    if !obj.is_instance_of::<pyo3::types::PyString>() {
        if let Ok(buf) = PyBuffer::<u8>::get(obj) {
            return Ok(Cow::Owned(buf.to_vec(obj.py())?));
        }
    }
    Err(PyTypeError::new_err(format!("{what} must be bytes-like, not {}", obj.get_type().name()?)))
}

/// One 32-byte hash.
pub fn hash(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Hash> {
    let b = bytes_of(obj, what)?;
    <Hash>::try_from(b.as_ref()).map_err(|_| PyValueError::new_err(format!("{what} must be 32 bytes, got {}", b.len())))
}

/// A proof given as a sequence of 32-byte nodes. A node of the wrong length is
/// a proof that cannot check out, hence a verification failure.
pub fn proof_nodes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err("proof must be a sequence of 32-byte hashes, not a single bytes or str"));
    }
    let mut out = Vec::new();
    for (i, item) in obj.try_iter()?.enumerate() {
        let b = bytes_of(&item?, "proof node")?.into_owned();
        let len = b.len();
        out.push(<Hash>::try_from(b).map_err(|_| {
            VerificationError::new_err(format!("verification failed: proof node {i} is {len} bytes, not 32"))
        })?);
    }
    Ok(out)
}

/// A proof given as one buffer of back-to-back 32-byte nodes.
pub fn packed_nodes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Hash>> {
    let b = bytes_of(obj, "proof")?;
    let (nodes, rest) = b.as_chunks::<32>();
    if !rest.is_empty() {
        return Err(VerificationError::new_err(format!(
            "verification failed: proof is {} bytes, not a multiple of 32",
            b.len()
        )));
    }
    Ok(nodes.to_vec())
}

/// Runs `f` on the hashes in `obj`: a C-contiguous numpy uint8 array of shape
/// (N, 32), borrowed without a copy, or a sequence of 32-byte bytes-likes.
pub fn with_hashes<R>(obj: &Bound<'_, PyAny>, what: &str, f: impl FnOnce(&[Hash]) -> PyResult<R>) -> PyResult<R> {
    if let Ok(arr) = obj.cast::<PyArray2<u8>>() {
        let ro = arr.readonly();
        if ro.shape()[1] != 32 {
            return Err(PyValueError::new_err(format!("{what} must have shape (N, 32), got {:?}", ro.shape())));
        }
        // as_slice() also admits Fortran order, which would be read column-wise.
        let flat = ro
            .as_slice()
            .ok()
            .filter(|_| ro.is_c_contiguous())
            .ok_or_else(|| PyValueError::new_err(format!("{what} must be a C-contiguous array")))?;
        return f(flat.as_chunks::<32>().0);
    }
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a numpy array of dtype uint8 and shape (N, 32), got dtype {} and shape {:?}",
            arr.dtype(),
            arr.shape()
        )));
    }
    if obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a (N, 32) uint8 array or a sequence of 32-byte hashes, not a single bytes"
        )));
    }
    let mut v = Vec::new();
    for (i, item) in obj.try_iter()?.enumerate() {
        v.push(hash(&item?, &format!("{what}[{i}]"))?);
    }
    f(&v)
}

/// The hashes in `obj` (see [`with_hashes`]), copied out.
pub fn hash_vec(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<Hash>> {
    with_hashes(obj, what, |h| Ok(h.to_vec()))
}

/// Indices as u64: a numpy integer array or a sequence of non-negative ints.
pub fn indices(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u64>> {
    // Read through ndarray views so that any stride works.
    if let Ok(arr) = obj.cast::<PyArray1<u64>>() {
        return Ok(arr.readonly().as_array().iter().copied().collect());
    }
    if let Ok(arr) = obj.cast::<PyArray1<i64>>() {
        return arr
            .readonly()
            .as_array()
            .iter()
            .map(|&i| {
                u64::try_from(i).map_err(|_| PyValueError::new_err(format!("{what} must be non-negative, got {i}")))
            })
            .collect();
    }
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!("{what} must be a sequence of integers")));
    }
    obj.try_iter()?
        .map(|item| {
            item?.extract::<u64>().map_err(|_| PyValueError::new_err(format!("{what} must be integers in [0, 2**64)")))
        })
        .collect()
}

/// Hashes as a numpy (N, 32) uint8 array.
pub fn hash_array<'py>(py: Python<'py>, hashes: Vec<Hash>) -> PyResult<Bound<'py, PyArray2<u8>>> {
    let n = hashes.len();
    PyArray1::from_vec(py, hashes.into_flattened()).reshape([n, 32])
}

pub fn hash_bytes<'py>(py: Python<'py>, h: &Hash) -> Bound<'py, PyBytes> {
    PyBytes::new(py, h)
}

pub fn hash_list<'py>(py: Python<'py>, hs: &[Hash]) -> Vec<Bound<'py, PyBytes>> {
    hs.iter().map(|h| PyBytes::new(py, h)).collect()
}

/// The items of a sequence of entries, kept alive while their bytes are borrowed.
pub fn entry_items<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err("entries must be a sequence of bytes (for one entry use append)"));
    }
    obj.try_iter()?.collect()
}

/// The bytes of each entry: borrowed from immutable `bytes` (no copy, safe to
/// read with the GIL released), copied from anything mutable.
pub fn entry_bytes<'a>(items: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<Cow<'a, [u8]>>> {
    items.iter().map(|i| bytes_of(i, "each entry")).collect()
}
