//! `veritree.CompactRange`: extend a tree and compute its root without its leaves.

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::CompactRange;

use crate::convert::DETACH_MIN_ITEMS;
use crate::convert::{self, CoreResult};

/// The O(log n) right-edge hashes of leaves `[0, size)`: enough to append more
/// leaves and to compute the root, in memory that does not grow with the log.
#[pyclass(name = "CompactRange", module = "veritree", skip_from_py_object)]
#[derive(Clone)]
pub struct PyCompactRange {
    inner: CompactRange,
}

impl From<CompactRange> for PyCompactRange {
    fn from(inner: CompactRange) -> Self {
        PyCompactRange { inner }
    }
}

#[pymethods]
impl PyCompactRange {
    /// A range over `size` leaves summarised by `hashes` (one per set bit of
    /// `size`, largest subtree first), or the empty range.
    #[new]
    #[pyo3(signature = (suite = "rfc6962-sha256", size = 0, hashes = None))]
    fn new(suite: &str, size: u64, hashes: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let suite = convert::suite(suite)?;
        let hs = match hashes {
            Some(h) => convert::hash_vec(h, "hashes")?,
            None => Vec::new(),
        };
        Ok(CompactRange::from_parts(suite, size, hs).py()?.into())
    }

    #[getter]
    fn suite(&self) -> &'static str {
        self.inner.suite().name()
    }

    /// Number of leaves covered.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }

    /// The right-edge subtree hashes, largest first.
    #[getter]
    fn hashes<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        convert::hash_list(py, self.inner.hashes())
    }

    /// Appends one 32-byte leaf hash.
    fn append(&mut self, leaf_hash: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.append(convert::hash(leaf_hash, "leaf_hash")?).py()
    }

    /// Appends leaf hashes (numpy uint8 array of shape (N, 32)).
    fn extend_hashes(&mut self, py: Python<'_>, hashes: &Bound<'_, PyAny>) -> PyResult<()> {
        let inner = &mut self.inner;
        convert::with_hashes(hashes, "hashes", |h| {
            if h.len() < DETACH_MIN_ITEMS {
                inner.extend(h).py()
            } else {
                py.detach(|| inner.extend(h)).py()
            }
        })
    }

    /// The root of `[0, size)`.
    fn root<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        convert::hash_bytes(py, &self.inner.root())
    }

    fn copy(&self) -> Self {
        self.clone()
    }

    fn __eq__(&self, other: PyRef<'_, Self>) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        format!("veritree.CompactRange(suite={:?}, size={})", self.inner.suite().name(), self.inner.size())
    }
}
