//! veritree's exception types.

use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(veritree, VeritreeError, PyException, "Base class of veritree's own errors.");
create_exception!(veritree, VerificationError, VeritreeError, "A proof, root or signature does not check out.");
create_exception!(
    veritree,
    StorageError,
    VeritreeError,
    "A stored log is missing, damaged, locked by another writer, or cannot be written."
);
create_exception!(veritree, StorageNotFoundError, StorageError, "There is no such log, map, directory or tile.");
create_exception!(
    veritree,
    StorageDamagedError,
    StorageError,
    "Stored data is not what was written: truncated, flipped, foreign, or in another format."
);
create_exception!(
    veritree,
    StorageIOError,
    StorageError,
    "Reading or writing failed (a full disk, EIO, a quota, permissions); a failed write changed nothing."
);
create_exception!(veritree, StorageLockedError, StorageError, "Another process holds the store open for writing.");
create_exception!(veritree, StorageClosedError, StorageError, "The object was closed.");
create_exception!(
    veritree,
    ClockError,
    VeritreeError,
    "This device's clock and the log's timestamps disagree beyond the configuration's bounds, in the \
     direction that is the clock's fault (the log looks ahead of it). Not evidence against the log."
);
create_exception!(
    veritree,
    LogBehindError,
    pyo3::exceptions::PyValueError,
    "The log refused a request naming a tree larger than it serves. args: (message, signed_head), \
     signed_head being the log's current head (size, root, signature) encoded: signed by the log and \
     smaller than a head it signed before, it proves a rollback (KtClient.judge_behind)."
);
