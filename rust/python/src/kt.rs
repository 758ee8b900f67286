//! `veritree.KtDirectory` and `veritree.KtClient`: the IETF KEYTRANS log
//! and its verifying client. Requests and responses are the draft's wire
//! encodings, as bytes, so any transport can carry them.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use veritree_core::error::{storage, Error, StorageKind};
use veritree_core::kt::auditor::Auditor;
use veritree_core::kt::client::Client;
use veritree_core::kt::directory::Directory;
use veritree_core::kt::messages::UpdateRequest;
use veritree_core::kt::tree_head::{Configuration, Mode};
use veritree_core::storage::postgres::{self, PgObjects};
use veritree_core::vrf::VrfSecretKey;

use crate::convert::{self, CoreResult};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn seed(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; 32]> {
    let b = convert::bytes_of(obj, what)?;
    b.as_ref().try_into().map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("{what} must be 32 bytes")))
}

/// A KEYTRANS transparency log (cipher suite KT_128_SHA256_Ed25519)
/// holding a key directory: labels with versioned values. Stage updates,
/// publish them as one log entry, and answer the draft's SearchRequest,
/// ContactMonitorRequest and DistinguishedRequest. Contact monitoring mode,
/// or third-party auditing when `auditor_public_key` is given (then every
/// entry's `auditor_update` goes to the auditor, whose signed head returns
/// through `set_auditor_head`). Durations are milliseconds. Secret keys are
/// 32-byte seeds; they are never shown by repr or errors, nor stored.
///
/// `KtDirectory(...)` lives in memory; `KtDirectory.open(path, ...)` keeps
/// it in a folder, durable across crashes.
#[pyclass(name = "KtDirectory", module = "veritree", frozen)]
pub struct PyKtDirectory {
    /// None once closed. Answers share it (a reader's threads answer
    /// together); writes, closing and a reader's refresh take it alone.
    inner: RwLock<Option<Directory>>,
    path: Option<PathBuf>,
}

/// The constructor's keyword options, less `recent`.
struct Options<'a, 'py> {
    reasonable_monitoring_window: u64,
    max_ahead: u64,
    max_behind: u64,
    maximum_lifetime: Option<u64>,
    auditor_public_key: Option<&'a Bound<'py, PyAny>>,
    max_auditor_lag: u64,
}

impl Options<'_, '_> {
    /// The keys from their seeds, and the configuration naming them.
    fn configure(
        &self,
        signing_key: &Bound<'_, PyAny>,
        vrf_key: &Bound<'_, PyAny>,
    ) -> PyResult<(Configuration, SigningKey, VrfSecretKey)> {
        let signing = SigningKey::from_bytes(&seed(signing_key, "signing_key")?);
        let vrf = VrfSecretKey::from_seed(&seed(vrf_key, "vrf_key")?).py()?;
        let mode = match self.auditor_public_key {
            None => Mode::ContactMonitoring,
            Some(k) => Mode::ThirdPartyAuditing {
                max_auditor_lag: self.max_auditor_lag,
                auditor_start_pos: 0,
                auditor_public_key: seed(k, "auditor_public_key")?.to_vec(),
            },
        };
        let config = Configuration {
            mode,
            signature_public_key: signing.verifying_key().as_bytes().to_vec(),
            vrf_public_key: vrf.public_key().to_vec(),
            max_ahead: self.max_ahead,
            max_behind: self.max_behind,
            reasonable_monitoring_window: self.reasonable_monitoring_window,
            maximum_lifetime: self.maximum_lifetime,
        };
        Ok((config, signing, vrf))
    }
}

impl PyKtDirectory {
    fn wrap(directory: Directory, path: Option<PathBuf>) -> Self {
        PyKtDirectory { inner: RwLock::new(Some(directory)), path }
    }

    /// Runs `f` on the directory (StorageError once it is closed); a reader
    /// first moves to the newest publication.
    fn with<T>(&self, f: impl FnOnce(&mut Directory) -> veritree_core::Result<T>) -> veritree_core::Result<T> {
        match self.inner.write().unwrap_or_else(PoisonError::into_inner).as_mut() {
            Some(d) => {
                d.refresh()?;
                f(d)
            }
            None => Err(veritree_core::error::closed("the directory is closed")),
        }
    }

    /// Runs `f` on the directory shared with other readers of it (threads
    /// answer together); a reader first moves to the newest publication,
    /// alone. A reader whose answer is an error a newer publication may
    /// answer (the request names more of the log than it holds, or the log
    /// it holds is empty) looks for a newer publication and answers again (a follower of a database reads the head at most every 100
    /// ms): an answer that the log is behind, with its signed head, would
    /// read as a rollback. Where it reads a lagging replica that has no
    /// newer one yet, such a request is refused as unavailable instead.
    fn read<T>(&self, f: impl Fn(&Directory) -> veritree_core::Result<T>) -> veritree_core::Result<T> {
        let closed = || veritree_core::error::closed("the directory is closed");
        let shared = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let d = shared.as_ref().ok_or_else(closed)?;
        if !d.stale()? {
            match f(d) {
                // Errors a newer publication may answer, only: a flood of malformed requests must not
                // turn every answer into a refresh under the exclusive lock.
                Err(Error::Behind { .. } | Error::OutOfRange(_)) if d.is_reader() => {}
                Err(_) if d.is_reader() && d.size() == 0 => {}
                answer => return answer,
            }
        }
        drop(shared);
        self.with(|d| match f(d) {
            Err(Error::Behind { message, .. }) if d.replica_lag_ms()?.is_some() => Err(storage(
                StorageKind::Io,
                format!("this server reads a database replica that is behind the log ({message}): ask again soon"),
            )),
            answer => answer,
        })
    }

    /// Answers an encoded request with `handler`, the GIL released.
    fn answer<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
        handler: fn(&Directory, &[u8]) -> veritree_core::Result<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let req = convert::bytes_of(request, "request")?;
        let out = py.detach(|| self.read(|d| handler(d, &req))).py()?;
        Ok(PyBytes::new(py, &out))
    }
}

#[pymethods]
impl PyKtDirectory {
    #[new]
    #[pyo3(signature = (signing_key, vrf_key, *, reasonable_monitoring_window = 86_400_000, max_ahead = 60_000,
                        max_behind = 86_400_000, maximum_lifetime = None, recent = 4,
                        auditor_public_key = None, max_auditor_lag = 3_600_000))]
    #[allow(clippy::too_many_arguments)] // keyword-only options of one constructor
    fn new(
        signing_key: &Bound<'_, PyAny>,
        vrf_key: &Bound<'_, PyAny>,
        reasonable_monitoring_window: u64,
        max_ahead: u64,
        max_behind: u64,
        maximum_lifetime: Option<u64>,
        recent: usize,
        auditor_public_key: Option<&Bound<'_, PyAny>>,
        max_auditor_lag: u64,
    ) -> PyResult<Self> {
        let options = Options {
            reasonable_monitoring_window,
            max_ahead,
            max_behind,
            maximum_lifetime,
            auditor_public_key,
            max_auditor_lag,
        };
        let (config, signing, vrf) = options.configure(signing_key, vrf_key)?;
        Ok(Self::wrap(Directory::new(config, signing, vrf, recent).py()?, None))
    }

    /// Opens the directory kept in the folder `path`, created there if
    /// `create` is set and there is none (the folder must then be missing
    /// or empty). Every entry whose `publish` returned survives a crash;
    /// staged updates are not acknowledged as durable and do not. The
    /// keyword options and keys must be the ones it was created with
    /// (ValueError otherwise); the keys are never written. One publisher at
    /// a time may open it (StorageLockedError for a second).
    ///
    /// With `reader=True`, a reader in any process: it answers from the
    /// newest publication (each call looks for a newer one), never writes
    /// and takes no lock; any number may run beside the publisher.
    ///
    /// `path` may instead be a PostgreSQL URL (`postgresql://...`; the
    /// schema its `search_path` names): the directory lives in that
    /// database, and any number of processes on any hosts open it. The
    /// publisher holds the database's lease (StorageLockedError for a
    /// second; a publisher that dies frees it within seconds); readers look
    /// for a newer publication at most every 100 ms. Each process keeps a
    /// local copy in the folder `cache` (missing or empty), by default a
    /// private temporary folder removed when it closes.
    #[staticmethod]
    #[pyo3(signature = (path, signing_key, vrf_key, *, create = false, reader = false, cache = None,
                        reasonable_monitoring_window = 86_400_000,
                        max_ahead = 60_000, max_behind = 86_400_000, maximum_lifetime = None, recent = 4,
                        auditor_public_key = None, max_auditor_lag = 3_600_000))]
    #[allow(clippy::too_many_arguments)] // the constructor's keyword options, and `create`
    fn open(
        py: Python<'_>,
        path: PathBuf,
        signing_key: &Bound<'_, PyAny>,
        vrf_key: &Bound<'_, PyAny>,
        create: bool,
        reader: bool,
        cache: Option<PathBuf>,
        reasonable_monitoring_window: u64,
        max_ahead: u64,
        max_behind: u64,
        maximum_lifetime: Option<u64>,
        recent: usize,
        auditor_public_key: Option<&Bound<'_, PyAny>>,
        max_auditor_lag: u64,
    ) -> PyResult<Self> {
        let options = Options {
            reasonable_monitoring_window,
            max_ahead,
            max_behind,
            maximum_lifetime,
            auditor_public_key,
            max_auditor_lag,
        };
        let (config, signing, vrf) = options.configure(signing_key, vrf_key)?;
        if create && reader {
            return Err(pyo3::exceptions::PyValueError::new_err("a reader cannot create a directory"));
        }
        if let Some(url) = path.to_str().filter(|p| postgres::is_url(p)) {
            let d = py
                .detach(|| {
                    let mut objects = PgObjects::connect(url)?;
                    if !reader {
                        objects.take_lease("kt")?;
                    }
                    let objects = Box::new(objects);
                    Directory::open_shared(objects, cache.as_deref(), config, signing, vrf, recent, create, reader)
                })
                .py()?;
            // The URL may hold a password: it is not kept.
            return Ok(Self::wrap(d, None));
        }
        if cache.is_some() {
            return Err(pyo3::exceptions::PyValueError::new_err("cache is for a directory in a database"));
        }
        let d = py
            .detach(|| match reader {
                true => Directory::open_reader(&path, config, signing, vrf, recent),
                false => Directory::open(&path, config, signing, vrf, recent, create),
            })
            .py()?;
        Ok(Self::wrap(d, Some(path)))
    }

    /// Whether this is a reader (`KtDirectory.open(..., reader=True)`).
    #[getter]
    fn reader(&self) -> PyResult<bool> {
        self.read(|d| Ok(d.is_reader())).py()
    }

    /// How far the database this directory reads (a streaming replica) is
    /// behind its primary, in ms: 0 when it has replayed all it received;
    /// None unless it reads a replica.
    #[getter]
    fn replica_lag_ms(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        py.detach(|| self.read(|d| d.replica_lag_ms())).py()
    }

    /// The folder of a directory opened with `KtDirectory.open`, else None
    /// (in memory, or in a database).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.path.clone()
    }

    /// Releases the directory's memory, files and lock; later calls raise
    /// StorageError.
    fn close(&self) {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(&self, _ty: &Bound<'_, PyAny>, _value: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) -> bool {
        self.close();
        false
    }

    /// The log's `Configuration`, encoded: what a client needs to verify it.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.read(|d| d.config().to_bytes()).py()?))
    }

    /// Log entries published.
    #[getter]
    fn size(&self) -> PyResult<u64> {
        self.read(|d| Ok(d.size())).py()
    }

    /// Updates staged for the next log entry.
    #[getter]
    fn staged(&self) -> PyResult<usize> {
        self.read(|d| Ok(d.staged())).py()
    }

    /// The newest log entry's timestamp (ms since the epoch), or None
    /// before the first: the next entry's may not be older.
    #[getter]
    fn last_timestamp(&self) -> PyResult<Option<u64>> {
        self.read(|d| Ok(d.entries().last().map(|e| e.timestamp))).py()
    }

    /// The greatest published version of `label`, or None.
    fn greatest_version(&self, label: &Bound<'_, PyAny>) -> PyResult<Option<u32>> {
        let label = convert::bytes_of(label, "label")?;
        self.read(|d| d.greatest_version(&label)).py()
    }

    /// The value of the greatest published version of `label`, or None.
    fn value<'py>(&self, py: Python<'py>, label: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let label = convert::bytes_of(label, "label")?;
        let value = self.read(|d| d.value(&label)).py()?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// Queues a new version of `label` with `value` for the next entry;
    /// returns the version number it will have.
    fn stage(&self, label: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<u32> {
        let (label, value) = (convert::bytes_of(label, "label")?, convert::bytes_of(value, "value")?);
        self.with(|d| d.stage(&label, &value)).py()
    }

    /// Publishes everything staged as one log entry stamped `timestamp` (ms
    /// since the epoch; default now); returns the entry's index. With an
    /// auditor, entries hold at most 255 updates: the last one's index.
    /// On disk, the entries are durable when this returns. A failure leaves
    /// what was not published staged.
    #[pyo3(signature = (timestamp = None))]
    fn publish(&self, py: Python<'_>, timestamp: Option<u64>) -> PyResult<u64> {
        let t = timestamp.unwrap_or_else(now_ms);
        py.detach(|| self.with(|d| d.publish(t))).py()
    }

    /// Completes the VRF proofs of up to `max` published versions (oldest
    /// first) and publishes them; returns how many (0: none was left).
    /// Publishing computes each new version's search key and the proof's
    /// first half only; until this completes a proof, answers compute it
    /// themselves, the same bytes. Call it when idle (`veritree serve` does).
    #[pyo3(signature = (max = 4096))]
    fn fill_proofs(&self, py: Python<'_>, max: usize) -> PyResult<usize> {
        py.detach(|| self.with(|d| d.fill_proofs(max))).py()
    }

    /// The `AuditorUpdate` of log entry `index` (third-party auditing).
    fn auditor_update<'py>(&self, py: Python<'py>, index: u64) -> PyResult<Bound<'py, PyBytes>> {
        let out = py.detach(|| self.read(|d| d.auditor_update(index))).py()?;
        Ok(PyBytes::new(py, &out))
    }

    /// Takes the auditor's signed `AuditorTreeHead` to serve from now on.
    fn set_auditor_head(&self, py: Python<'_>, head: &Bound<'_, PyAny>) -> PyResult<()> {
        let head = convert::bytes_of(head, "head")?;
        py.detach(|| self.with(|d| d.set_auditor_head(&head))).py()
    }

    /// Answers a SearchRequest with a SearchResponse.
    fn search<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        self.answer(py, request, Directory::search)
    }

    /// Answers a ContactMonitorRequest with a ContactMonitorResponse.
    fn monitor<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        self.answer(py, request, Directory::monitor)
    }

    /// Answers an OwnerInitRequest with an OwnerInitResponse.
    fn owner_init<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        self.answer(py, request, Directory::owner_init)
    }

    /// Answers an OwnerMonitorRequest with an OwnerMonitorResponse.
    fn owner_monitor<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        self.answer(py, request, Directory::owner_monitor)
    }

    /// Takes an UpdateRequest from a label's owner. New values for the
    /// label's current greatest version are staged for the next entry and
    /// None returns: the owner asks again after `publish` (the same request
    /// again while they wait also gives None; other values for the label
    /// are refused until they are published). Otherwise the
    /// UpdateResponse for the first entry that added versions since the
    /// owner's greatest.
    fn update<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let req = convert::bytes_of(request, "request")?;
        let out = py.detach(|| self.with(|d| d.update(&req))).py()?;
        Ok(out.map(|b| PyBytes::new(py, &b)))
    }

    /// Answers a DistinguishedRequest with a DistinguishedResponse.
    fn distinguished<'py>(&self, py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        self.answer(py, request, Directory::distinguished)
    }

    fn __repr__(&self) -> String {
        match self.with(|d| Ok(d.size())) {
            Ok(size) => format!("KtDirectory(size={size})"),
            Err(_) => "KtDirectory(closed)".into(),
        }
    }
}

/// A verified search: the version found, its value, the search's terminal
/// log entry, and whether the client now monitors the label.
#[pyclass(name = "KtFound", module = "veritree", frozen, get_all)]
pub struct PyKtFound {
    version: u32,
    value: Py<PyBytes>,
    position: u64,
    monitored: bool,
}

#[pymethods]
impl PyKtFound {
    fn __repr__(&self) -> String {
        format!("KtFound(version={}, position={}, monitored={})", self.version, self.position, self.monitored)
    }
}

/// A KEYTRANS client for the log whose encoded `Configuration` is
/// `config`. It builds requests and verifies every response — consistency
/// with what it saw before, signed head, monotonic and fresh timestamps,
/// VRF proofs, commitments, prefix proofs — and keeps the retained state the
/// draft requires. A response that fails raises VerificationError and
/// leaves the state as it was; a log that looks ahead of the local clock
/// raises ClockError (the clock's fault, not the log's). `now_ms` defaults
/// to the local clock. Third-party management configurations are refused
/// (ValueError). Each call is atomic, but a response must be verified by
/// the state its request was made from: a client shared between threads
/// needs one lock around each request and its verification (`CkvClient`
/// takes one); otherwise the second raises ValueError.
#[pyclass(name = "KtClient", module = "veritree", frozen)]
pub struct PyKtClient {
    inner: Mutex<Client>,
}

impl PyKtClient {
    fn lock(&self) -> std::sync::MutexGuard<'_, Client> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies an encoded (request, response) pair with `verify` at
    /// `now_ms` (default: the local clock), the GIL released.
    fn check<T: Send>(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
        verify: fn(&mut Client, &[u8], &[u8], u64) -> veritree_core::Result<T>,
    ) -> PyResult<T> {
        let (req, resp) = (convert::bytes_of(request, "request")?, convert::bytes_of(response, "response")?);
        let now = now_ms.unwrap_or_else(self::now_ms);
        py.detach(|| verify(&mut self.lock(), &req, &resp, now)).py()
    }
}

#[pymethods]
impl PyKtClient {
    #[new]
    #[pyo3(signature = (config, *, recent = 4))]
    fn new(config: &Bound<'_, PyAny>, recent: usize) -> PyResult<Self> {
        let config = Configuration::from_bytes(&convert::bytes_of(config, "config")?).py()?;
        Ok(PyKtClient { inner: Mutex::new(Client::new(config, recent).py()?) })
    }

    /// A client from `save()`'s bytes.
    #[staticmethod]
    fn restore(state: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(PyKtClient { inner: Mutex::new(Client::restore(&convert::bytes_of(state, "state")?).py()?) })
    }

    /// The retained state (no secrets), for `restore`.
    fn save<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().save().py()?))
    }

    /// This client's view of the log for peers (split-view gossip): its
    /// signed head and retained view, naming no label.
    fn gossip<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().gossip().py()?))
    }

    /// A peer's gossip about the log with `config`, as a probe holding its
    /// signed head (verified) and the subtree heads under it, nothing
    /// unsigned: ask the directory to update it to prove the view
    /// consistent with the tree it serves.
    #[staticmethod]
    fn from_gossip(gossip: &Bound<'_, PyAny>, config: &Bound<'_, PyAny>) -> PyResult<Self> {
        let config = Configuration::from_bytes(&convert::bytes_of(config, "config")?).py()?;
        let client = Client::from_gossip(&convert::bytes_of(gossip, "gossip")?, &config).py()?;
        Ok(PyKtClient { inner: Mutex::new(client) })
    }

    /// (tree_size, root, signature) of the last verified tree head, or None.
    #[getter]
    fn signed_head<'py>(&self, py: Python<'py>) -> Option<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        self.lock().signed_head().map(|h| (h.tree_size, PyBytes::new(py, &h.root), PyBytes::new(py, &h.signature)))
    }

    /// The log root at `size` from the retained subtree heads, when `size`
    /// is where one of them ends (the view's size with some of its low one
    /// bits cleared); else None. Compares two views of a growing log.
    fn root_at<'py>(&self, py: Python<'py>, size: u64) -> Option<Bound<'py, PyBytes>> {
        self.lock().root_at(size).map(|r| PyBytes::new(py, &r))
    }

    /// The size of the last verified tree (0 before any).
    #[getter]
    fn tree_size(&self) -> u64 {
        self.lock().view().size
    }

    /// Labels this client must keep monitoring.
    #[getter]
    fn monitored_labels<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyBytes>> {
        self.lock().monitors().keys().map(|l| PyBytes::new(py, l)).collect()
    }

    #[pyo3(signature = (label, version = None))]
    fn search_request<'py>(
        &self,
        py: Python<'py>,
        label: &Bound<'py, PyAny>,
        version: Option<u32>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().search_request(&convert::bytes_of(label, "label")?, version).py()?))
    }

    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_search(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<PyKtFound> {
        let found = self.check(py, request, response, now_ms, Client::verify_search)?;
        Ok(PyKtFound {
            version: found.version,
            value: PyBytes::new(py, &found.value).unbind(),
            position: found.position,
            monitored: found.monitored,
        })
    }

    fn monitor_request<'py>(&self, py: Python<'py>, label: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().monitor_request(&convert::bytes_of(label, "label")?).py()?))
    }

    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_monitor(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<()> {
        self.check(py, request, response, now_ms, Client::verify_monitor)
    }

    /// Labels this client owns, with the rightmost distinguished entry
    /// checked and the greatest version known: {label: (start, version)}.
    #[getter]
    fn owned_labels<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, u64, Option<u32>)> {
        self.lock().owned().iter().map(|(l, o)| (PyBytes::new(py, l), o.start, o.greatest)).collect()
    }

    /// Starts owning `label` from `start`, an unexpired distinguished entry.
    fn owner_init_request<'py>(
        &self,
        py: Python<'py>,
        label: &Bound<'py, PyAny>,
        start: u64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().owner_init_request(&convert::bytes_of(label, "label")?, start).py()?))
    }

    /// Verifies an OwnerInitResponse; returns the label's greatest version
    /// at the start entry (None if it had none).
    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_owner_init(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<Option<u32>> {
        self.check(py, request, response, now_ms, Client::verify_owner_init)
    }

    fn owner_monitor_request<'py>(&self, py: Python<'py>, label: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        Ok(PyBytes::new(py, &self.lock().owner_monitor_request(&convert::bytes_of(label, "label")?).py()?))
    }

    /// Verifies an OwnerMonitorResponse; returns (start, complete): the
    /// owner's new start (the rightmost distinguished entry now checked) and
    /// whether it is the tree's rightmost distinguished entry (if not, ask
    /// again). A response that makes no progress toward it raises
    /// VerificationError.
    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_owner_monitor(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<(u64, bool)> {
        let p = self.check(py, request, response, now_ms, Client::verify_owner_monitor)?;
        Ok((p.start, p.complete))
    }

    /// Whether the owner's start for `label` has passed the log's maximum
    /// lifetime in the retained view: the owner must initialize again.
    fn owner_expired(&self, label: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.lock().owner_expired(&convert::bytes_of(label, "label")?).py()
    }

    /// The monitoring map of `label`, {position: version} (empty if the
    /// client does not monitor it).
    fn monitoring(&self, label: &Bound<'_, PyAny>) -> PyResult<std::collections::BTreeMap<u64, u32>> {
        let label = convert::bytes_of(label, "label")?;
        Ok(self.lock().monitors().get(label.as_ref()).map(|m| m.entries.clone()).unwrap_or_default())
    }

    /// Stops monitoring the positions of `label` that have passed the log's
    /// maximum lifetime in the retained view and returns them as
    /// [(position, version)]: the fallback when the log refuses to monitor
    /// them after a long absence (something may have been missed there).
    fn forget_expired(&self, label: &Bound<'_, PyAny>) -> PyResult<Vec<(u64, u32)>> {
        Ok(self.lock().forget_expired(&convert::bytes_of(label, "label")?))
    }

    /// Judges a LogBehindError's signed head (its args[1]): returns
    /// (tree_size, root, signature) when it proves a rollback (signed by the
    /// log, smaller than the head this client verified); VerificationError
    /// when it proves nothing (forged, or not smaller).
    fn judge_behind<'py>(
        &self,
        py: Python<'py>,
        head: &Bound<'py, PyAny>,
    ) -> PyResult<(u64, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let h = self.lock().judge_behind(&convert::bytes_of(head, "head")?).py()?;
        Ok((h.tree_size, PyBytes::new(py, &h.root), PyBytes::new(py, &h.signature)))
    }

    /// An UpdateRequest for an owned label: adds `values` as new versions,
    /// or with none asks for versions made since the greatest one known.
    #[pyo3(signature = (label, values = Vec::new()))]
    fn update_request<'py>(
        &self,
        py: Python<'py>,
        label: &Bound<'py, PyAny>,
        values: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let values =
            values.iter().map(|v| Ok(convert::bytes_of(v, "value")?.to_vec())).collect::<PyResult<Vec<_>>>()?;
        Ok(PyBytes::new(py, &self.lock().update_request(&convert::bytes_of(label, "label")?, &values).py()?))
    }

    /// Verifies an UpdateResponse; returns the versions it added, as
    /// [(version, value)], ascending. They may not be the request's values
    /// (someone else changed the label first): the caller judges them.
    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_update<'py>(
        &self,
        py: Python<'py>,
        request: &Bound<'py, PyAny>,
        response: &Bound<'py, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<Vec<(u32, Bound<'py, PyBytes>)>> {
        let added = self.check(py, request, response, now_ms, Client::verify_update)?;
        Ok(added.into_iter().map(|(v, value)| (v, PyBytes::new(py, &value))).collect())
    }

    #[pyo3(signature = (stop = None))]
    fn distinguished_request<'py>(&self, py: Python<'py>, stop: Option<u64>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.lock().distinguished_request(stop))
    }

    /// Verifies a DistinguishedResponse; returns the recent distinguished
    /// entries as (index, timestamp), ascending.
    #[pyo3(signature = (request, response, now_ms = None))]
    fn verify_distinguished(
        &self,
        py: Python<'_>,
        request: &Bound<'_, PyAny>,
        response: &Bound<'_, PyAny>,
        now_ms: Option<u64>,
    ) -> PyResult<Vec<(u64, u64)>> {
        self.check(py, request, response, now_ms, Client::verify_distinguished)
    }

    fn __repr__(&self) -> String {
        format!("KtClient(tree_size={})", self.lock().view().size)
    }
}

/// A third-party auditor of a KEYTRANS log (third-party auditing mode):
/// it checks each entry's `AuditorUpdate` — only new leaves, none already
/// present, against the previous prefix tree — and signs the log root it
/// computes. `signing_key` is its 32-byte Ed25519 seed.
#[pyclass(name = "KtAuditor", module = "veritree", frozen)]
pub struct PyKtAuditor {
    inner: Mutex<Auditor>,
}

#[pymethods]
impl PyKtAuditor {
    #[new]
    fn new(config: &Bound<'_, PyAny>, signing_key: &Bound<'_, PyAny>) -> PyResult<Self> {
        let config = Configuration::from_bytes(&convert::bytes_of(config, "config")?).py()?;
        let key = SigningKey::from_bytes(&seed(signing_key, "signing_key")?);
        Ok(PyKtAuditor { inner: Mutex::new(Auditor::new(config, key).py()?) })
    }

    /// The public key to name in the log's configuration.
    #[staticmethod]
    fn public_key<'py>(py: Python<'py>, signing_key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let key = SigningKey::from_bytes(&seed(signing_key, "signing_key")?);
        Ok(PyBytes::new(py, key.verifying_key().as_bytes()))
    }

    /// Log entries checked so far.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).size()
    }

    /// Checks the next entry's `AuditorUpdate`; returns the signed
    /// `AuditorTreeHead`. A refused update (VerificationError) changes nothing.
    fn process<'py>(&self, py: Python<'py>, update: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let update = convert::bytes_of(update, "update")?;
        let head = py.detach(|| self.inner.lock().unwrap_or_else(PoisonError::into_inner).process(&update)).py()?;
        let mut w = veritree_core::kt::wire::Writer::default();
        head.encode(&mut w).py()?;
        Ok(PyBytes::new(py, &w.buf))
    }
}

/// The label and new values of an encoded `UpdateRequest`, decoded as the
/// directory decodes it (so a service's checks read exactly what it stages).
#[pyfunction]
pub fn kt_update_request_values<'py>(
    py: Python<'py>,
    request: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, Vec<Bound<'py, PyBytes>>)> {
    let req = UpdateRequest::from_bytes(&convert::bytes_of(request, "request")?).py()?;
    Ok((PyBytes::new(py, &req.label), req.values.iter().map(|v| PyBytes::new(py, v)).collect()))
}
