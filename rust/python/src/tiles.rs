//! `veritree.TileReader`: proofs and entries from a tlog-tiles log whose tiles
//! a Python callable fetches (from a directory, HTTP, anything).

use pyo3::exceptions::PyFileNotFoundError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::error::{damaged, io, storage, StorageKind};
use veritree_core::tiles::{TileReader, TileSource};
use veritree_core::{tree, NodeSource};

use crate::convert::{self, CoreResult};

/// Fetches through `fetch(path, max_len) -> bytes`; any Python exception
/// becomes a storage error naming the path.
struct PyFetch {
    fetch: Py<PyAny>,
}

impl TileSource for PyFetch {
    fn get(&self, path: &str, max_len: usize) -> veritree_core::Result<Vec<u8>> {
        Python::attach(|py| {
            let got = self.fetch.call1(py, (path, max_len)).map_err(|e| {
                // A missing file, or an HTTP 404: the resource is not there (a
                // deleted partial tile, say); anything else failed to be read.
                let missing = e.is_instance_of::<PyFileNotFoundError>(py)
                    || e.value(py).getattr("code").and_then(|c| c.extract::<u16>()).is_ok_and(|c| c == 404);
                let kind = if missing { StorageKind::NotFound } else { StorageKind::Io };
                storage(kind, format!("fetching {path}: {e}"))
            })?;
            let bytes = got
                .bind(py)
                .cast::<PyBytes>()
                .map_err(|_| io(format!("fetching {path}: fetch must return bytes")))?
                .as_bytes();
            if bytes.len() > max_len {
                return Err(damaged(format!("{path} is larger than {max_len} bytes")));
            }
            Ok(bytes.to_vec())
        })
    }
}

/// A read view of a tlog-tiles log at one size, its right edge checked
/// against `root` (take both from a checkpoint you verified). Every tile is
/// authenticated before use, so proofs and entries it returns are genuine or
/// it raises StorageError.
#[pyclass(name = "TileReader", module = "veritree", frozen)]
pub struct PyTileReader {
    inner: TileReader<PyFetch>,
}

#[pymethods]
impl PyTileReader {
    #[new]
    #[pyo3(signature = (fetch, size, root, suite = "rfc6962-sha256"))]
    fn new(fetch: Py<PyAny>, size: u64, root: &Bound<'_, PyAny>, suite: &str) -> PyResult<Self> {
        let root = convert::hash(root, "root")?;
        let inner = TileReader::open(PyFetch { fetch }, convert::suite(suite)?, size, &root).py()?;
        Ok(PyTileReader { inner })
    }

    #[getter]
    fn size(&self) -> u64 {
        self.inner.size()
    }

    #[getter]
    fn suite(&self) -> &'static str {
        self.inner.suite().name()
    }

    /// The root at `size` (default: the reader's size).
    #[pyo3(signature = (size = None))]
    fn root<'py>(&self, py: Python<'py>, size: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        let r = tree::root_at(&self.inner, size.unwrap_or(self.inner.size())).py()?;
        Ok(convert::hash_bytes(py, &r))
    }

    /// The leaf hash at `index`.
    fn leaf_hash<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        if index >= self.inner.size() {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "index {index} is not below the log size {}",
                self.inner.size()
            )));
        }
        Ok(convert::hash_bytes(py, &self.inner.node(0, index).py()?))
    }

    /// The entry at `index`, checked against its leaf hash.
    fn entry<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.inner.entry(index).py()?))
    }

    /// RFC 9162 inclusion proof for leaf `index` in the tree of `size` leaves.
    #[pyo3(signature = (index, size = None))]
    fn inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        size: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let p = tree::inclusion_proof(&self.inner, index, size.unwrap_or(self.inner.size())).py()?;
        Ok(convert::hash_list(py, &p))
    }

    /// RFC 9162 consistency proof from `old_size` to `new_size` (default: the reader's size).
    #[pyo3(signature = (old_size, new_size = None))]
    fn consistency_proof<'py>(
        &self,
        py: Python<'py>,
        old_size: u64,
        new_size: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let p = tree::consistency_proof(&self.inner, old_size, new_size.unwrap_or(self.inner.size())).py()?;
        Ok(convert::hash_list(py, &p))
    }

    fn __repr__(&self) -> String {
        format!("veritree.TileReader(suite={:?}, size={})", self.inner.suite().name(), self.inner.size())
    }
}
