//! `veritree.Log`: the in-memory append-only log.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::{tree, Hash, MemoryLog};

use crate::compact::PyCompactRange;
use crate::convert::{self, CoreResult};

/// Work below this many items stays on the calling thread with the GIL held:
/// releasing it costs more than the work.
pub const DETACH_MIN_ITEMS: usize = 512;

/// An append-only Merkle log held in memory (RFC 9162 tree shape).
///
/// Thread-safe: proofs can be read from several threads while one appends;
/// batch work runs with the GIL released.
#[pyclass(name = "Log", module = "veritree", frozen)]
pub struct PyLog {
    inner: RwLock<MemoryLog>,
}

impl PyLog {
    fn read(&self) -> RwLockReadGuard<'_, MemoryLog> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, MemoryLog> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn extend_leaves(&self, py: Python<'_>, leaves: &[Hash]) -> u64 {
        if leaves.len() < DETACH_MIN_ITEMS {
            return self.write().extend_leaf_hashes(leaves);
        }
        py.detach(|| self.write().extend_leaf_hashes(leaves))
    }

    fn size_or_len(&self, size: Option<u64>) -> u64 {
        size.unwrap_or_else(|| self.read().len())
    }
}

#[pymethods]
impl PyLog {
    #[new]
    #[pyo3(signature = (suite = "rfc6962-sha256"))]
    fn new(suite: &str) -> PyResult<Self> {
        Ok(PyLog { inner: RwLock::new(MemoryLog::new(convert::suite(suite)?)) })
    }

    /// The hash suite's name.
    #[getter]
    fn suite(&self) -> &'static str {
        tree::NodeSource::suite(&*self.read()).name()
    }

    /// Number of leaves.
    #[getter]
    fn size(&self) -> u64 {
        self.read().len()
    }

    fn __len__(&self) -> usize {
        self.read().len() as usize
    }

    fn __repr__(&self) -> String {
        let log = self.read();
        format!("veritree.Log(suite={:?}, size={})", tree::NodeSource::suite(&*log).name(), log.len())
    }

    /// Appends one entry; returns its index.
    fn append(&self, entry: &Bound<'_, PyAny>) -> PyResult<u64> {
        let data = convert::bytes_of(entry, "entry")?;
        Ok(self.write().append(&data))
    }

    /// Appends one precomputed 32-byte leaf hash; returns its index.
    fn append_hash(&self, leaf_hash: &Bound<'_, PyAny>) -> PyResult<u64> {
        let h = convert::hash(leaf_hash, "leaf_hash")?;
        Ok(self.write().append_leaf_hash(h))
    }

    /// Appends a sequence of entries; returns the index of the first.
    fn extend(&self, py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<u64> {
        let items = convert::entry_items(entries)?;
        let data = convert::entry_bytes(&items)?;
        let suite = tree::NodeSource::suite(&*self.read());
        if data.len() < DETACH_MIN_ITEMS {
            return Ok(self.write().extend_leaf_hashes(&suite.leaf_hashes(&data)));
        }
        Ok(py.detach(|| self.write().extend_leaf_hashes(&suite.leaf_hashes(&data))))
    }

    /// Appends entries held back to back in one buffer: entry `i` is
    /// `data[offsets[i]:offsets[i + 1]]`. Returns the index of the first.
    fn extend_flat(&self, py: Python<'_>, data: &Bound<'_, PyAny>, offsets: &Bound<'_, PyAny>) -> PyResult<u64> {
        let data = convert::bytes_of(data, "data")?;
        let offsets = convert::indices(offsets, "offsets")?;
        self.extend_packed(py, &data, &offsets)
    }

    /// Appends precomputed leaf hashes (numpy uint8 array of shape (N, 32));
    /// returns the index of the first.
    fn extend_hashes(&self, py: Python<'_>, hashes: &Bound<'_, PyAny>) -> PyResult<u64> {
        convert::with_hashes(hashes, "hashes", |h| Ok(self.extend_leaves(py, h)))
    }

    /// The root at `size` (default: the current size).
    #[pyo3(signature = (size = None))]
    fn root<'py>(&self, py: Python<'py>, size: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        let log = self.read();
        let r = log.root(size.unwrap_or(log.len())).py()?;
        Ok(convert::hash_bytes(py, &r))
    }

    /// The leaf hash at `index`.
    fn leaf_hash<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        Ok(convert::hash_bytes(py, &self.read().leaf_hash(index).py()?))
    }

    /// Leaf hashes `[start, end)` as a numpy (N, 32) uint8 array.
    #[pyo3(signature = (start = 0, end = None))]
    fn leaf_hashes<'py>(&self, py: Python<'py>, start: u64, end: Option<u64>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let log = self.read();
        let hs = log.leaf_hashes(start, end.unwrap_or(log.len())).py()?.to_vec();
        convert::hash_array(py, hs)
    }

    /// RFC 9162 inclusion proof for leaf `index` in the tree of `size` leaves.
    #[pyo3(signature = (index, size = None))]
    fn inclusion_proof<'py>(&self, py: Python<'py>, index: u64, size: Option<u64>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let log = self.read();
        let p = tree::inclusion_proof(&*log, index, size.unwrap_or(log.len())).py()?;
        Ok(convert::hash_list(py, &p))
    }

    /// Many inclusion proofs at once: returns `(nodes, offsets)` where proof `i`
    /// is `nodes[offsets[i]:offsets[i + 1]]` (nodes: (M, 32) uint8; offsets: uint64).
    #[pyo3(signature = (indices, size = None))]
    fn inclusion_proofs<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
        size: Option<u64>,
    ) -> PyResult<(Bound<'py, PyArray2<u8>>, Bound<'py, PyArray1<u64>>)> {
        let idx = convert::indices(indices, "indices")?;
        let size = self.size_or_len(size);
        let (nodes, offsets) = py.detach(|| tree::inclusion_proofs(&*self.read(), &idx, size)).py()?;
        Ok((convert::hash_array(py, nodes)?, PyArray1::from_vec(py, offsets)))
    }

    /// RFC 9162 consistency proof from `old_size` to `new_size` (default: current size).
    #[pyo3(signature = (old_size, new_size = None))]
    fn consistency_proof<'py>(
        &self,
        py: Python<'py>,
        old_size: u64,
        new_size: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let log = self.read();
        let p = tree::consistency_proof(&*log, old_size, new_size.unwrap_or(log.len())).py()?;
        Ok(convert::hash_list(py, &p))
    }

    /// One proof for many leaves (strictly increasing `indices`) in which every
    /// shared node appears once: back-to-back 32-byte nodes.
    #[pyo3(signature = (indices, size = None))]
    fn batch_inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        indices: &Bound<'py, PyAny>,
        size: Option<u64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let idx = convert::indices(indices, "indices")?;
        let size = self.size_or_len(size);
        let p = py.detach(|| tree::batch_inclusion_proof(&*self.read(), &idx, size)).py()?;
        Ok(PyBytes::new(py, p.as_flattened()))
    }

    /// The compact range of the first `size` leaves (default: all).
    #[pyo3(signature = (size = None))]
    fn compact_range(&self, size: Option<u64>) -> PyResult<PyCompactRange> {
        let log = self.read();
        Ok(PyCompactRange::from(log.compact_range(size.unwrap_or(log.len())).py()?))
    }
}

impl PyLog {
    fn extend_packed(&self, py: Python<'_>, data: &[u8], offsets: &[u64]) -> PyResult<u64> {
        let suite = tree::NodeSource::suite(&*self.read());
        if offsets.len() <= DETACH_MIN_ITEMS {
            let leaves = suite.leaf_hashes_flat(data, offsets).py()?;
            return Ok(self.write().extend_leaf_hashes(&leaves));
        }
        py.detach(|| {
            let leaves = suite.leaf_hashes_flat(data, offsets)?;
            Ok(self.write().extend_leaf_hashes(&leaves))
        })
        .py()
    }
}
