//! `veritree.Log`: an append-only log in memory or, via `Log.open`, durable
//! on disk as C2SP tlog-tiles.

use std::path::PathBuf;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use numpy::{PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::error::invalid;
use veritree_core::storage::postgres::{self, PgObjects};
use veritree_core::storage::Objects;
use veritree_core::tiles::TileLog;
use veritree_core::{suite, tree, Hash, LogStore, MemoryLog, NodeSource};

use crate::compact::PyCompactRange;
use crate::convert::DETACH_MIN_ITEMS;
use crate::convert::{self, CoreResult};

type Store = Box<dyn LogStore>;
/// Many proofs: all nodes as an (M, 32) array and the offsets of each proof.
type ProofArrays<'py> = (Bound<'py, PyArray2<u8>>, Bound<'py, PyArray1<u64>>);

/// An append-only Merkle log (RFC 9162 tree shape): in memory by default, or
/// durable on disk as C2SP tlog-tiles with `Log.open`.
///
/// Thread-safe: proofs can be read from several threads while one appends;
/// batch work runs with the GIL released.
#[pyclass(name = "Log", module = "veritree", frozen)]
pub struct PyLog {
    /// `None` once closed.
    inner: RwLock<Option<Store>>,
    path: Option<PathBuf>,
    /// Whether writes reach a disk or a database (then the GIL is released for them).
    durable: bool,
}

type ReadGuard<'a> = RwLockReadGuard<'a, Option<Store>>;

impl PyLog {
    fn read(&self) -> PyResult<ReadGuard<'_>> {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            return Err(PyValueError::new_err("the log is closed"));
        }
        Ok(g)
    }

    fn write(&self) -> PyResult<RwLockWriteGuard<'_, Option<Store>>> {
        let g = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if g.is_none() {
            return Err(PyValueError::new_err("the log is closed"));
        }
        Ok(g)
    }

    fn size_or_len(&self, size: Option<u64>) -> PyResult<u64> {
        Ok(match size {
            Some(s) => s,
            None => store(&self.read()?).size(),
        })
    }

    /// Runs a write with the GIL released when it is large or touches disk.
    fn mutate<R: Send>(
        &self,
        py: Python<'_>,
        items: usize,
        f: impl FnOnce(&mut dyn LogStore) -> veritree_core::Result<R> + Send,
    ) -> PyResult<R> {
        let durable = self.durable;
        let run = || -> PyResult<R> {
            let mut g = self.write()?;
            f(g.as_deref_mut().expect("checked open")).py()
        };
        if items < DETACH_MIN_ITEMS && !durable {
            run()
        } else {
            py.detach(run)
        }
    }
}

/// A reopened log has the `origin` and `suite` asked for, where given.
fn check_reopened<S: Objects>(
    log: &TileLog<S>,
    origin: Option<&str>,
    suite: Option<veritree_core::Suite>,
    whence: &str,
) -> PyResult<()> {
    if origin.is_some_and(|o| o != log.origin()) {
        return Err(PyValueError::new_err(format!(
            "the log in {whence} has origin {:?}, not {:?}",
            log.origin(),
            origin.unwrap_or_default()
        )));
    }
    if let Some(want) = suite.filter(|&s| s != NodeSource::suite(log)) {
        return Err(PyValueError::new_err(format!(
            "the log in {whence} uses suite {:?}, not {:?}",
            NodeSource::suite(log).name(),
            want.name()
        )));
    }
    Ok(())
}

fn store<'a>(g: &'a ReadGuard<'_>) -> &'a dyn LogStore {
    g.as_deref().expect("checked open")
}

#[pymethods]
impl PyLog {
    #[new]
    #[pyo3(signature = (suite = "rfc6962-sha256"))]
    fn new(suite: &str) -> PyResult<Self> {
        let store: Store = Box::new(MemoryLog::new(convert::suite(suite)?));
        Ok(PyLog { inner: RwLock::new(Some(store)), path: None, durable: false })
    }

    /// Opens the tlog-tiles log in directory `path`, or in the PostgreSQL
    /// database `path` names (`postgresql://...`, the schema its
    /// `search_path` names: tiles, entry bundles and the checkpoint as rows;
    /// a writer holds the database's lease, StorageLockedError for a second).
    ///
    /// With `create=True` a new log is made (`origin` and `signer` required;
    /// `suite` defaults to "rfc6962-sha256"). Reopening checks `origin` and
    /// `suite` when given. `dedup=True` (writers only) keeps an on-disk index
    /// from leaf hash to index for `index_of`.
    /// With a `signer` the log opens for writing, holding the writer lock;
    /// without one it opens read-only. Every `extend` is durable when it
    /// returns and publishes a checkpoint signed by `signer`.
    #[staticmethod]
    #[pyo3(signature = (path, origin = None, signer = None, create = false, suite = None, dedup = false))]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        origin: Option<&str>,
        signer: Option<&str>,
        create: bool,
        suite: Option<&str>,
        dedup: bool,
    ) -> PyResult<Self> {
        if dedup && signer.is_none() {
            return Err(PyValueError::new_err("dedup=True needs a writer: pass the signer key"));
        }
        let suite = suite.map(convert::suite).transpose()?;
        let format = crate::notes::checkpoint_format(signer)?;
        if let Some(url) = path.to_str().filter(|p| postgres::is_url(p)) {
            if create && signer.is_none() {
                return Err(PyValueError::new_err("creating a log needs a signer key"));
            }
            if dedup {
                return Err(PyValueError::new_err("dedup=True needs a log in a folder"));
            }
            let log = py.detach(|| -> veritree_core::Result<TileLog<PgObjects>> {
                let mut objects = PgObjects::connect(url)?;
                if signer.is_some() {
                    objects.take_lease("log")?;
                }
                if create {
                    let origin = origin.ok_or_else(|| invalid("creating a log needs an origin"))?;
                    let suite = suite.unwrap_or(veritree_core::Suite::Rfc6962Sha256);
                    TileLog::create_in(objects, None, suite, origin, format)
                } else {
                    TileLog::open_in(objects, None, format, signer.is_some())
                }
            });
            let log = log.py()?;
            check_reopened(&log, origin, suite, "the database")?;
            let store: Store = Box::new(log);
            // The URL may hold a password: it is not kept.
            return Ok(PyLog { inner: RwLock::new(Some(store)), path: None, durable: true });
        }
        let log = if create {
            let origin = origin.ok_or_else(|| PyValueError::new_err("creating a log needs an origin"))?;
            if signer.is_none() {
                return Err(PyValueError::new_err("creating a log needs a signer key"));
            }
            let suite = suite.unwrap_or(veritree_core::Suite::Rfc6962Sha256);
            py.detach(|| TileLog::create(&path, suite, origin, format)).py()?
        } else {
            let log = py.detach(|| TileLog::open(&path, format, signer.is_some())).py()?;
            check_reopened(&log, origin, suite, &path.display().to_string())?;
            log
        };
        let mut log = log;
        if dedup {
            py.detach(|| log.enable_dedup()).py()?;
        }
        let store: Store = Box::new(log);
        Ok(PyLog { inner: RwLock::new(Some(store)), path: Some(path), durable: true })
    }

    /// The directory of a log opened with `Log.open`, else None.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// The hash suite's name.
    #[getter]
    fn suite(&self) -> PyResult<&'static str> {
        Ok(store(&self.read()?).suite().name())
    }

    /// Number of leaves.
    #[getter]
    fn size(&self) -> PyResult<u64> {
        Ok(store(&self.read()?).size())
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(store(&self.read()?).size() as usize)
    }

    fn __repr__(&self) -> String {
        let g = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        match (g.as_deref(), &self.path) {
            (None, _) => "veritree.Log(closed)".to_string(),
            (Some(s), None) => format!("veritree.Log(suite={:?}, size={})", s.suite().name(), s.size()),
            (Some(s), Some(p)) => {
                format!(
                    "veritree.Log.open({:?}, suite={:?}, size={})",
                    p.display().to_string(),
                    s.suite().name(),
                    s.size()
                )
            }
        }
    }

    /// Appends one entry; returns its index.
    fn append(&self, py: Python<'_>, entry: &Bound<'_, PyAny>) -> PyResult<u64> {
        let data = convert::bytes_of(entry, "entry")?;
        self.mutate(py, 1, |s| s.extend_entries(&[&data]))
    }

    /// Appends one precomputed 32-byte leaf hash (in-memory logs); returns its index.
    fn append_hash(&self, py: Python<'_>, leaf_hash: &Bound<'_, PyAny>) -> PyResult<u64> {
        let h = convert::hash(leaf_hash, "leaf_hash")?;
        self.mutate(py, 1, |s| s.extend_leaf_hashes(&[h]))
    }

    /// Appends a sequence of entries; returns the index of the first.
    fn extend(&self, py: Python<'_>, entries: &Bound<'_, PyAny>) -> PyResult<u64> {
        let items = convert::entry_items(entries)?;
        let data = convert::entry_bytes(&items)?;
        let slices: Vec<&[u8]> = data.iter().map(|d| d.as_ref()).collect();
        self.mutate(py, slices.len(), |s| s.extend_entries(&slices))
    }

    /// Appends entries held back to back in one buffer: entry `i` is
    /// `data[offsets[i]:offsets[i + 1]]`. Returns the index of the first.
    fn extend_flat(&self, py: Python<'_>, data: &Bound<'_, PyAny>, offsets: &Bound<'_, PyAny>) -> PyResult<u64> {
        let data = convert::bytes_of(data, "data")?;
        let offsets = convert::indices(offsets, "offsets")?;
        let slices = suite::split_entries(&data, &offsets).py()?;
        self.mutate(py, slices.len(), |s| s.extend_entries(&slices))
    }

    /// Appends precomputed leaf hashes (numpy uint8 array of shape (N, 32)) to
    /// an in-memory log; returns the index of the first.
    fn extend_hashes(&self, py: Python<'_>, hashes: &Bound<'_, PyAny>) -> PyResult<u64> {
        convert::with_hashes(hashes, "hashes", |h| self.mutate(py, h.len(), |s| s.extend_leaf_hashes(h)))
    }

    /// The root at `size` (default: the current size).
    #[pyo3(signature = (size = None))]
    fn root<'py>(&self, py: Python<'py>, size: Option<u64>) -> PyResult<Bound<'py, PyBytes>> {
        let g = self.read()?;
        let s = store(&g);
        let r = tree::root_at(s, size.unwrap_or(s.size())).py()?;
        Ok(convert::hash_bytes(py, &r))
    }

    /// The leaf hash at `index`.
    fn leaf_hash<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        Ok(convert::hash_bytes(py, &store(&self.read()?).leaf_hash(index).py()?))
    }

    /// Leaf hashes `[start, end)` as a numpy (N, 32) uint8 array.
    #[pyo3(signature = (start = 0, end = None))]
    fn leaf_hashes<'py>(&self, py: Python<'py>, start: u64, end: Option<u64>) -> PyResult<Bound<'py, PyArray2<u8>>> {
        let hs = {
            let g = self.read()?;
            let s = store(&g);
            let end = end.unwrap_or(s.size());
            if start > end || end > s.size() {
                return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                    "range [{start}, {end}) is not within the log size {}",
                    s.size()
                )));
            }
            (start..end).map(|i| s.node(0, i)).collect::<veritree_core::Result<Vec<Hash>>>().py()?
        };
        convert::hash_array(py, hs)
    }

    /// The entry at `index` (durable logs keep entries; in-memory logs do not).
    fn entry<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        let e = store(&self.read()?).entry(index).py()?;
        Ok(PyBytes::new(py, &e))
    }

    /// The first index whose leaf hash is `leaf_hash`, or None (durable logs
    /// opened with `dedup=True`).
    fn index_of(&self, leaf_hash: &Bound<'_, PyAny>) -> PyResult<Option<u64>> {
        let h = convert::hash(leaf_hash, "leaf_hash")?;
        store(&self.read()?).index_of(&h).py()
    }

    /// The signed checkpoint note of the current size (durable logs).
    fn checkpoint(&self) -> PyResult<String> {
        store(&self.read()?)
            .checkpoint()
            .map(str::to_string)
            .ok_or_else(|| PyValueError::new_err("an in-memory log publishes no checkpoint; use Log.open"))
    }

    /// RFC 9162 inclusion proof for leaf `index` in the tree of `size` leaves.
    #[pyo3(signature = (index, size = None))]
    fn inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        index: u64,
        size: Option<u64>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let g = self.read()?;
        let s = store(&g);
        let p = tree::inclusion_proof(s, index, size.unwrap_or(s.size())).py()?;
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
    ) -> PyResult<ProofArrays<'py>> {
        let idx = convert::indices(indices, "indices")?;
        let size = self.size_or_len(size)?;
        let (nodes, offsets) = py.detach(|| -> PyResult<_> {
            let g = self.read()?;
            tree::inclusion_proofs(store(&g), &idx, size).py()
        })?;
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
        let g = self.read()?;
        let s = store(&g);
        let p = tree::consistency_proof(s, old_size, new_size.unwrap_or(s.size())).py()?;
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
        let size = self.size_or_len(size)?;
        let p = py.detach(|| -> PyResult<_> {
            let g = self.read()?;
            tree::batch_inclusion_proof(store(&g), &idx, size).py()
        })?;
        Ok(PyBytes::new(py, p.as_flattened()))
    }

    /// The compact range of the first `size` leaves (default: all).
    #[pyo3(signature = (size = None))]
    fn compact_range(&self, size: Option<u64>) -> PyResult<PyCompactRange> {
        let g = self.read()?;
        let s = store(&g);
        Ok(PyCompactRange::from(s.compact_range(size.unwrap_or(s.size())).py()?))
    }

    /// Releases the log (and a durable log's writer lock). Further use raises.
    fn close(&self) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _exc_type: &Bound<'_, PyAny>, _exc: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> bool {
        self.close();
        false
    }
}
