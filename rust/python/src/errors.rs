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
