//! `veritree.Map`: a versioned sparse Merkle prefix tree (the KEYTRANS prefix
//! tree) with multi-key proofs, and the proof verifier.

use std::sync::{PoisonError, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::map::{self, Key, Map, MapSuite, Value};

use crate::convert::DETACH_MIN_ITEMS;
use crate::convert::{self, CoreResult};

fn map_suite(name: &str) -> PyResult<MapSuite> {
    MapSuite::from_name(name).py()
}

/// A versioned prefix tree over 32-byte keys and values. Version 0 is the
/// empty map; every `update` or `remove` makes the next version.
///
/// Thread-safe: lookups and proofs may run on several threads while one
/// thread updates; batch work runs with the GIL released.
#[pyclass(name = "Map", module = "veritree", frozen)]
pub struct PyMap {
    inner: RwLock<Map>,
}

impl PyMap {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Map> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Map> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl PyMap {
    #[new]
    #[pyo3(signature = (suite = "keytrans-sha256"))]
    fn new(suite: &str) -> PyResult<Self> {
        Ok(PyMap { inner: RwLock::new(Map::new(map_suite(suite)?)) })
    }

    /// Opens the on-disk map in directory `path` — created if `create` is
    /// set and none is there (with `suite`, default "keytrans-sha256").
    /// Every update that returned survives a crash; one cut short leaves no
    /// trace. One process at a time may open a map; `suite`, if given, must
    /// match the stored one. Use as a context manager, or call `close()`.
    #[staticmethod]
    #[pyo3(signature = (path, suite = None, create = false))]
    fn open(py: Python<'_>, path: std::path::PathBuf, suite: Option<&str>, create: bool) -> PyResult<Self> {
        let suite = suite.map(map_suite).transpose()?;
        let map = py.detach(|| Map::open(&path, suite, create)).py()?;
        Ok(PyMap { inner: RwLock::new(map) })
    }

    /// Releases the map's files and lock; later calls raise StorageError.
    fn close(&self) {
        self.write().close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _ty: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> bool {
        self.close();
        false
    }

    /// Whether the map lives on disk (opened with `Map.open`).
    #[getter]
    fn on_disk(&self) -> bool {
        self.read().is_on_disk()
    }

    /// The hash suite's name.
    #[getter]
    fn suite(&self) -> &'static str {
        self.read().suite().name()
    }

    /// The latest version.
    #[getter]
    fn version(&self) -> u64 {
        self.read().version()
    }

    /// The oldest version still retained.
    #[getter]
    fn oldest_version(&self) -> u64 {
        self.read().oldest_version()
    }

    /// Number of keys at the latest version.
    fn __len__(&self) -> PyResult<usize> {
        Ok(self.read().len(None).py()? as usize)
    }

    /// Number of keys at `version` (default: the latest).
    #[pyo3(signature = (version = None))]
    fn count(&self, version: Option<u64>) -> PyResult<u64> {
        self.read().len(version).py()
    }

    /// Sets `keys[i] → values[i]` (numpy (N, 32) uint8 arrays or sequences of
    /// 32-byte bytes) as one new version: new keys are inserted, existing
    /// ones get the new value. Returns the new version.
    fn update(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, values: &Bound<'_, PyAny>) -> PyResult<u64> {
        convert::with_hashes(keys, "keys", |keys| {
            convert::with_hashes(values, "values", |values| {
                if keys.len() < DETACH_MIN_ITEMS {
                    return self.write().update(keys, values).py();
                }
                // The lock is taken with the GIL released: a reader holding it
                // never waits for the GIL this thread would otherwise keep.
                py.detach(|| self.write().update(keys, values)).py()
            })
        })
    }

    /// Removes `keys` (each must be present) as one new version; returns it.
    fn remove(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<u64> {
        let keys: Vec<Key> = convert::hash_vec(keys, "keys")?;
        py.detach(|| self.write().remove(&keys)).py()
    }

    /// The root value at `version` (default: the latest).
    #[pyo3(signature = (version = None))]
    fn root<'py>(&self, py: Python<'py>, version: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(convert::hash_bytes(py, &self.read().root(version).py()?))
    }

    /// The value of `key` at `version`, or None.
    #[pyo3(signature = (key, version = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        version: Option<u64>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = convert::hash(key, "key")?;
        Ok(self.read().get(&key, version).py()?.map(|v| convert::hash_bytes(py, &v)))
    }

    /// A `PrefixProof` (KEYTRANS encoding) for 1 to 255 keys, present or
    /// absent, at `version`.
    #[pyo3(signature = (keys, version = None))]
    fn prove<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        version: Option<u64>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let keys: Vec<Key> = convert::hash_vec(keys, "keys")?;
        let proof = self.read().prove(&keys, version).py()?;
        Ok(PyBytes::new(py, &proof))
    }

    /// Forgets the versions before `before_version` and frees what only they
    /// used (durably, for an on-disk map).
    fn prune(&self, before_version: u64) -> PyResult<()> {
        self.write().prune(before_version).py()
    }

    /// Re-reads and re-hashes every node of `version` (default: the latest)
    /// against its root, as fsck would; raises StorageError on damage.
    /// Returns the number of nodes read (the whole tree: O(n)).
    #[pyo3(signature = (version = None))]
    fn check(&self, py: Python<'_>, version: Option<u64>) -> PyResult<u64> {
        py.detach(|| self.read().check(version)).py()
    }

    /// Bytes of node storage mapped (for an on-disk map, file pages the
    /// kernel caches and evicts as it needs).
    fn memory_bytes(&self) -> usize {
        self.read().memory_bytes()
    }

    fn __repr__(&self) -> String {
        let m = self.read();
        let place = if m.is_on_disk() { " on disk" } else { "" };
        format!(
            "<veritree.Map{place} suite={} version={} keys={}>",
            m.suite().name(),
            m.version(),
            m.len(None).unwrap_or(0)
        )
    }
}

/// Checks a `PrefixProof` against `root`: `values[i]` is the 32-byte value
/// `keys[i]` must hold, or None if it must be absent. Raises
/// `VerificationError` unless the proof shows exactly that.
#[pyfunction]
#[pyo3(signature = (root, keys, values, proof, suite = "keytrans-sha256"))]
pub fn verify_prefix_proof(
    root: &Bound<'_, PyAny>,
    keys: &Bound<'_, PyAny>,
    values: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    suite: &str,
) -> PyResult<()> {
    let suite = map_suite(suite)?;
    let root = convert::hash(root, "root")?;
    let keys: Vec<Key> = convert::hash_vec(keys, "keys")?;
    let values: Vec<Option<Value>> = values
        .try_iter()?
        .enumerate()
        .map(|(i, v)| {
            let v = v?;
            if v.is_none() {
                Ok(None)
            } else {
                convert::hash(&v, &format!("values[{i}]")).map(Some)
            }
        })
        .collect::<PyResult<_>>()?;
    let proof = convert::bytes_of(proof, "proof")?;
    map::verify_prefix_proof(suite, &root, &keys, &values, &proof).py()
}
