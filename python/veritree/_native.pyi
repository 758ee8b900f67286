"""Type stubs for veritree's Rust extension module."""

import os
import pathlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, Self, TypeAlias, final

import numpy as np
import numpy.typing as npt

# The runtime module's __all__ (pyo3 lists every name it adds), in its order.
__all__ = [
    "VeritreeError",
    "VerificationError",
    "StorageError",
    "StorageNotFoundError",
    "StorageDamagedError",
    "StorageIOError",
    "StorageLockedError",
    "StorageClosedError",
    "ClockError",
    "LogBehindError",
    "SUITES",
    "Log",
    "CompactRange",
    "TileReader",
    "Map",
    "KtDirectory",
    "KtClient",
    "KtFound",
    "KtAuditor",
    "kt_update_request_values",
    "verify_prefix_proof",
    "ed25519_public_key",
    "ed25519_sign",
    "ed25519_verify",
    "akd_verify_lookup",
    "akd_verify_history",
    "akd_verify_append_only",
    "akd_verify_audit_blob",
    "akd_parse_blob_name",
    "akd_empty_root",
    "ecvrf_prove",
    "ecvrf_verify",
    "ecvrf_public_key",
    "ecvrf_proof_to_hash",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "hash_children",
    "merkle_root",
    "verify_inclusion",
    "verify_inclusions",
    "verify_consistency",
    "verify_batch_inclusion",
    "hash_limit",
    "generate_note_key",
    "generate_cosigner_key",
    "note_verifier_key",
    "sign_note",
    "open_note",
    "format_checkpoint",
    "sign_checkpoint",
    "verify_checkpoint",
    "cosign_checkpoint",
    "verify_checkpoint_policy",
    "format_tlog_proof",
    "verify_tlog_proof",
]

Suite: TypeAlias = Literal["rfc6962-sha256", "blake3"]
BytesLike: TypeAlias = bytes | bytearray | memoryview
#: Hashes as a C-contiguous uint8 array of shape (N, 32), or a sequence of 32-byte values.
Hashes: TypeAlias = npt.NDArray[np.uint8] | Sequence[BytesLike]
Indices: TypeAlias = npt.NDArray[np.uint64] | npt.NDArray[np.int64] | Sequence[int]

SUITES: Final[tuple[str, ...]]

class VeritreeError(Exception):
    """Base class of veritree's own errors."""

class VerificationError(VeritreeError):
    """A proof, root or signature does not check out."""

class StorageError(VeritreeError):
    """A stored log is missing, damaged, locked by another writer, or cannot be written: one of the subclasses."""

class StorageNotFoundError(StorageError):
    """There is no such log, map, directory or tile."""

class StorageDamagedError(StorageError):
    """Stored data is not what was written: truncated, flipped, foreign, or in another format."""

class StorageIOError(StorageError):
    """Reading or writing failed (a full disk, EIO, a quota, permissions); a failed write changed nothing."""

class StorageLockedError(StorageError):
    """Another process holds the store open for writing."""

class StorageClosedError(StorageError):
    """The object was closed."""

class ClockError(VeritreeError):
    """This device's clock is behind the log's timestamps beyond `max_ahead`: the clock's fault, not the log's."""

class LogBehindError(ValueError):
    """The log refused a request naming more entries than it serves; args: (message, signed_head).

    `signed_head` encodes the log's current head (size, root, signature): `KtClient.judge_behind` tells
    whether it proves a rollback."""

@final
class Log:
    """An append-only Merkle log (RFC 9162 tree shape): in memory, or durable as C2SP tlog-tiles via Log.open."""

    def __new__(cls, suite: Suite = "rfc6962-sha256") -> Self: ...
    @staticmethod
    def open(
        path: str | os.PathLike[str], origin: str | None = None, signer: str | None = None, create: bool = False,
        suite: Suite | None = None, dedup: bool = False,
    ) -> Log:
        """Opens the tlog-tiles log in the folder `path`, or in the PostgreSQL database `path` names
        (`postgresql://...`, the schema its search_path names: tiles, bundles and the checkpoint as rows; the
        writer holds the database's lease, StorageLockedError for a second). With `signer`, a writer: every
        `extend` is durable when it returns and publishes a signed checkpoint; without, read-only."""
    @property
    def path(self) -> pathlib.Path | None: ...
    @property
    def suite(self) -> str: ...
    @property
    def size(self) -> int: ...
    def __len__(self) -> int: ...
    def append(self, entry: BytesLike) -> int: ...
    def append_hash(self, leaf_hash: BytesLike) -> int: ...
    def extend(self, entries: Iterable[BytesLike]) -> int: ...
    def extend_flat(self, data: BytesLike, offsets: Indices) -> int: ...
    def extend_hashes(self, hashes: Hashes) -> int: ...
    def root(self, size: int | None = None) -> bytes: ...
    def leaf_hash(self, index: int) -> bytes: ...
    def leaf_hashes(self, start: int = 0, end: int | None = None) -> npt.NDArray[np.uint8]: ...
    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...
    def inclusion_proofs(
        self, indices: Indices, size: int | None = None
    ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint64]]: ...
    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...
    def batch_inclusion_proof(self, indices: Indices, size: int | None = None) -> bytes: ...
    def compact_range(self, size: int | None = None) -> CompactRange: ...
    def entry(self, index: int) -> bytes: ...
    def index_of(self, leaf_hash: BytesLike) -> int | None: ...
    def checkpoint(self) -> str: ...
    def close(self) -> None: ...
    def __enter__(self) -> Log: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...

MapSuite: TypeAlias = Literal["keytrans-sha256", "blake3"]

@final
class Map:
    """A versioned sparse Merkle prefix tree (IETF KEYTRANS) over 32-byte keys and values."""

    def __new__(cls, suite: MapSuite = "keytrans-sha256") -> Self: ...
    @staticmethod
    def open(path: str | os.PathLike[str], suite: MapSuite | None = None, create: bool = False) -> Map:
        """The on-disk map in directory `path`; a version is wholly there after a crash or not at all.

        The directory and its files are owner-only; an existing map whose directory other users can reach is
        refused (StorageError naming the `chmod` that fixes it). A failed write leaves the map as it was."""
    def close(self) -> None: ...
    def __enter__(self) -> Map: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...
    @property
    def on_disk(self) -> bool: ...
    @property
    def suite(self) -> MapSuite: ...
    @property
    def version(self) -> int: ...
    @property
    def oldest_version(self) -> int: ...
    def __len__(self) -> int: ...
    def count(self, version: int | None = None) -> int: ...
    def update(self, keys: Hashes, values: Hashes) -> int: ...
    def remove(self, keys: Hashes) -> int: ...
    def root(self, version: int | None = None) -> bytes: ...
    def get(self, key: BytesLike, version: int | None = None) -> bytes | None: ...
    def prove(self, keys: Hashes, version: int | None = None) -> bytes: ...
    def prune(self, before_version: int) -> None: ...
    def check(self, version: int | None = None) -> int:
        """Re-hashes every node of a version against its root (StorageError on damage); returns nodes read."""
    def memory_bytes(self) -> int: ...

def verify_prefix_proof(
    root: BytesLike, keys: Hashes, values: Sequence[BytesLike | None], proof: BytesLike,
    suite: MapSuite = "keytrans-sha256",
) -> None:
    """Raises VerificationError unless `proof` shows each key holding its value (None: absent)."""

@final
class KtDirectory:
    """A KEYTRANS transparency log (KT_128_SHA256_Ed25519) holding versioned labels.

    Contact monitoring, or third-party auditing when `auditor_public_key` is given. Durations are milliseconds;
    keys are 32-byte seeds, never stored. Requests and responses are the draft's wire encodings.
    `KtDirectory(...)` lives in memory; `KtDirectory.open(path, ...)` keeps it on disk.
    """

    def __new__(
        cls,
        signing_key: BytesLike,
        vrf_key: BytesLike,
        *,
        reasonable_monitoring_window: int = 86_400_000,
        max_ahead: int = 60_000,
        max_behind: int = 86_400_000,
        maximum_lifetime: int | None = None,
        recent: int = 4,
        auditor_public_key: BytesLike | None = None,
        max_auditor_lag: int = 3_600_000,
    ) -> Self: ...
    @staticmethod
    def open(
        path: str | os.PathLike[str],
        signing_key: BytesLike,
        vrf_key: BytesLike,
        *,
        create: bool = False,
        reader: bool = False,
        cache: str | os.PathLike[str] | None = None,
        reasonable_monitoring_window: int = 86_400_000,
        max_ahead: int = 60_000,
        max_behind: int = 86_400_000,
        maximum_lifetime: int | None = None,
        recent: int = 4,
        auditor_public_key: BytesLike | None = None,
        max_auditor_lag: int = 3_600_000,
    ) -> KtDirectory:
        """Opens the directory kept in the folder `path`, made there if `create` and the folder is missing or empty.

        Every entry whose `publish` returned survives a crash (staged updates are not acknowledged as durable and
        do not), and reopens as the same log: same roots, signed heads and answers, reading a small head record
        (no replay). The keys and options must be the ones it was created with (ValueError otherwise). One
        publisher at a time may open it (StorageLockedError). With `reader=True`, a reader in any process: it
        answers from the newest publication (each call looks for a newer one), never writes, takes no lock, and
        any number may run beside the publisher. The folder and its files are owner-only (an empty folder is made
        so); an existing directory whose folder other users can reach is refused (StorageError naming the `chmod`
        that fixes it). Use as a context manager, or call `close()`.

        `path` may instead be a PostgreSQL URL (`postgresql://...`, the schema its `search_path` names): the
        directory lives in that database and processes on any hosts open it. The publisher holds the database's
        lease (StorageLockedError for a second; one that dies frees it within seconds, and `create=True` on an
        existing directory opens it); readers look for a newer publication at most every 100 ms. Each process
        keeps a local copy in the folder `cache` (missing or empty), by default a private temporary folder
        removed on `close()`.
        """
    @property
    def reader(self) -> bool:
        """Whether this is a reader of another process's directory (`open(..., reader=True)`)."""
    @property
    def replica_lag_ms(self) -> int | None:
        """How far the database this directory reads (a streaming replica) is behind its primary, in ms (0: it
        replayed all it received); None unless it reads a replica."""
    @property
    def path(self) -> pathlib.Path | None:
        """The folder of a directory opened with `open`, else None (in memory, or in a database)."""
    def close(self) -> None:
        """Releases the directory's memory, files and lock; later calls raise StorageError."""
    def __enter__(self) -> KtDirectory: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool: ...
    @property
    def config(self) -> bytes:
        """The encoded `Configuration` a client verifies against."""
    @property
    def size(self) -> int: ...
    @property
    def staged(self) -> int:
        """Updates staged for the next log entry."""
    @property
    def last_timestamp(self) -> int | None:
        """The newest log entry's timestamp (ms since the epoch), or None before the first."""
    def greatest_version(self, label: BytesLike) -> int | None: ...
    def value(self, label: BytesLike) -> bytes | None:
        """The value of the label's greatest published version."""
    def stage(self, label: BytesLike, value: BytesLike) -> int:
        """Queues a new version of `label` for the next entry; returns its version number."""
    def publish(self, timestamp: int | None = None) -> int:
        """Publishes everything staged as one log entry; returns its index.

        With an auditor, entries hold at most 255 updates: several may be made, and the last one's index returns.
        On disk, the entries are durable when this returns. A failure leaves what was not published staged; a
        failed write (a full disk, EIO, a quota) raises StorageError and leaves the journal as it was, and the next
        publish succeeds once the fault clears.
        """
    def fill_proofs(self, max: int = 4096) -> int:
        """Completes the VRF proofs of up to `max` published versions (oldest first) and publishes them;
        returns how many (0: none was left). Publishing computes each new version's search key and the
        proof's first half only; until this completes a proof, answers compute it themselves, the same
        bytes. Call it when idle (`veritree serve` does)."""
    def auditor_update(self, index: int) -> bytes:
        """The `AuditorUpdate` of log entry `index` (third-party auditing mode)."""
    def set_auditor_head(self, head: BytesLike) -> None:
        """Serves the auditor's signed `AuditorTreeHead` from now on."""
    def search(self, request: BytesLike) -> bytes: ...
    def monitor(self, request: BytesLike) -> bytes: ...
    def distinguished(self, request: BytesLike) -> bytes: ...
    def owner_init(self, request: BytesLike) -> bytes: ...
    def owner_monitor(self, request: BytesLike) -> bytes: ...
    def update(self, request: BytesLike) -> bytes | None:
        """Stages an owner's new values (None: ask again after `publish`; the same request again while they wait
        also gives None, other values for the label then raise ValueError), or the UpdateResponse for versions made
        since."""

@final
class KtAuditor:
    """A third-party auditor: checks each entry's AuditorUpdate and signs the log root."""

    def __new__(cls, config: BytesLike, signing_key: BytesLike) -> Self: ...
    @staticmethod
    def public_key(signing_key: BytesLike) -> bytes: ...
    @property
    def size(self) -> int: ...
    def process(self, update: BytesLike) -> bytes:
        """The signed AuditorTreeHead, or VerificationError (nothing changes)."""

@final
class KtFound:
    """A verified search result."""

    @property
    def version(self) -> int: ...
    @property
    def value(self) -> bytes: ...
    @property
    def position(self) -> int:
        """The search's terminal log entry."""
    @property
    def monitored(self) -> bool:
        """Whether the client must now monitor the label."""

@final
class KtClient:
    """A verifying KEYTRANS client; failed verifications raise VerificationError and change nothing.

    A log ahead of the local clock raises ClockError. Third-party management is refused (ValueError).
    Verify each response before making the next request from the same client (one lock around both
    when threads share it)."""

    def __new__(cls, config: BytesLike, *, recent: int = 4) -> Self: ...
    @staticmethod
    def restore(state: BytesLike) -> KtClient: ...
    def save(self) -> bytes:
        """The retained state (view and monitoring maps; no secrets)."""
    def gossip(self) -> bytes:
        """This client's signed head and view of the log for peers (names no label)."""
    @staticmethod
    def from_gossip(gossip: BytesLike, config: BytesLike) -> KtClient:
        """A probe holding a peer's signed head and the subtree heads under it (nothing unsigned).

        It only extends its view (its distinguished request asks for no entries): ask the directory to prove it."""
    @property
    def signed_head(self) -> tuple[int, bytes, bytes] | None:
        """(tree_size, root, signature) of the last verified tree head."""
    @property
    def tree_size(self) -> int: ...
    def root_at(self, size: int) -> bytes | None:
        """The log root at `size` from the retained subtree heads, where one of them ends; else None."""
    @property
    def monitored_labels(self) -> list[bytes]: ...
    def search_request(self, label: BytesLike, version: int | None = None) -> bytes: ...
    def verify_search(self, request: BytesLike, response: BytesLike, now_ms: int | None = None) -> KtFound: ...
    def monitor_request(self, label: BytesLike) -> bytes:
        """The ContactMonitorRequest for the leftmost 255 entries of the label's monitoring map."""
    def monitoring(self, label: BytesLike) -> dict[int, int]:
        """The label's monitoring map, {position: greatest version proven there}."""
    def verify_monitor(self, request: BytesLike, response: BytesLike, now_ms: int | None = None) -> None: ...
    @property
    def owned_labels(self) -> list[tuple[bytes, int, int | None]]:
        """(label, start, greatest version known) for each label this client owns."""
    def owner_init_request(self, label: BytesLike, start: int) -> bytes: ...
    def verify_owner_init(self, request: BytesLike, response: BytesLike, now_ms: int | None = None) -> int | None:
        """The label's greatest version at `start` (None: none), now owned by this client."""
    def owner_monitor_request(self, label: BytesLike) -> bytes: ...
    def verify_owner_monitor(
        self, request: BytesLike, response: BytesLike, now_ms: int | None = None
    ) -> tuple[int, bool]:
        """(start, complete): the rightmost distinguished entry checked so far, and whether it is the tree's
        rightmost one (if not, ask again). An answer that makes no progress raises VerificationError."""
    def owner_expired(self, label: BytesLike) -> bool:
        """Whether the owner's start has passed the log's maximum lifetime: initialize ownership again."""
    def forget_expired(self, label: BytesLike) -> list[tuple[int, int]]:
        """Stops monitoring the label's positions past the maximum lifetime; returns them as (position, version).

        The fallback when the log refuses to monitor them after a long absence."""
    def judge_behind(self, head: BytesLike) -> tuple[int, bytes, bytes]:
        """The (tree_size, root, signature) of a LogBehindError's head when it proves a rollback;
        VerificationError when it proves nothing (forged, or not smaller than this client's view)."""
    def update_request(self, label: BytesLike, values: Sequence[BytesLike] = ...) -> bytes:
        """An UpdateRequest for an owned label: adds `values` as new versions, or with none (the default)
        asks for versions made since the greatest one known."""
    def verify_update(
        self, request: BytesLike, response: BytesLike, now_ms: int | None = None
    ) -> list[tuple[int, bytes]]:
        """[(version, value)] added at the response's entry; they may not be the request's values."""
    def distinguished_request(self, stop: int | None = None) -> bytes: ...
    def verify_distinguished(
        self, request: BytesLike, response: BytesLike, now_ms: int | None = None
    ) -> list[tuple[int, int]]:
        """(index, timestamp) of the recent distinguished entries, ascending."""

def kt_update_request_values(request: BytesLike) -> tuple[bytes, list[bytes]]:
    """The label and new values of an encoded UpdateRequest, decoded as `KtDirectory.update` decodes it."""
def ed25519_public_key(secret_key: BytesLike) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte secret key seed."""
def ed25519_sign(secret_key: BytesLike, message: BytesLike) -> bytes:
    """The 64-byte Ed25519 signature of `message`."""
def ed25519_verify(public_key: BytesLike, message: BytesLike, signature: BytesLike) -> None:
    """Strict Ed25519 verification; VerificationError unless the signature is valid."""
def akd_verify_lookup(
    vrf_public_key: BytesLike, root_hash: BytesLike, epoch: int, label: BytesLike, proof: BytesLike
) -> tuple[int, int, bytes]:
    """(epoch, version, value) of the version an akd LookupProof shows current; veritree.akd wraps it."""
def akd_verify_history(
    vrf_public_key: BytesLike, root_hash: BytesLike, epoch: int, label: BytesLike, proof: BytesLike,
    most_recent: int | None = None,
) -> list[tuple[int, int, bytes]]:
    """The versions an akd HistoryProof shows, newest first, as (epoch, version, value)."""
def akd_verify_append_only(root_hashes: Hashes, proof: BytesLike) -> None:
    """Checks an akd AppendOnlyProof over the root hashes of its epochs."""
def akd_verify_audit_blob(name: str, blob: BytesLike) -> tuple[int, bytes, bytes]:
    """(epoch, previous_root, current_root) of a verified WhatsApp audit blob."""
def akd_parse_blob_name(name: str) -> tuple[int, bytes, bytes]:
    """(epoch, previous_root, current_root) an audit blob's name states."""
def akd_empty_root() -> bytes:
    """The root hash of akd's empty tree."""
def ecvrf_prove(secret_key: BytesLike, alpha: BytesLike) -> bytes:
    """The 80-byte ECVRF-EDWARDS25519-SHA512-TAI proof (RFC 9381) of `alpha` under a 32-byte secret key seed."""
def ecvrf_verify(public_key: BytesLike, alpha: BytesLike, proof: BytesLike) -> bytes:
    """The 64-byte VRF output, or VerificationError unless `proof` is valid for `alpha` under `public_key`."""
def ecvrf_public_key(secret_key: BytesLike) -> bytes: ...
def ecvrf_proof_to_hash(proof: BytesLike) -> bytes:
    """The 64-byte VRF output of a proof, unverified."""

@final
class TileReader:
    """Proofs and entries of a tlog-tiles log at one verified size; every tile is authenticated before use."""

    def __new__(cls, fetch: Callable[[str, int], bytes], size: int, root: BytesLike,
                 suite: Suite = "rfc6962-sha256") -> Self: ...
    @property
    def size(self) -> int: ...
    @property
    def suite(self) -> str: ...
    def root(self, size: int | None = None) -> bytes: ...
    def leaf_hash(self, index: int) -> bytes: ...
    def entry(self, index: int) -> bytes: ...
    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...
    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...

@final
class CompactRange:
    """The right-edge subtree hashes of leaves [0, size): append and take roots without the leaves."""

    def __new__(cls, suite: Suite = "rfc6962-sha256", size: int = 0, hashes: Hashes | None = None) -> Self: ...
    @property
    def suite(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def hashes(self) -> list[bytes]: ...
    def append(self, leaf_hash: BytesLike) -> None: ...
    def extend_hashes(self, hashes: Hashes) -> None: ...
    def root(self) -> bytes: ...
    def copy(self) -> CompactRange: ...

def leaf_hash(data: BytesLike, suite: Suite = "rfc6962-sha256") -> bytes: ...
def leaf_hashes(entries: Iterable[BytesLike], suite: Suite = "rfc6962-sha256") -> npt.NDArray[np.uint8]: ...
def node_hash(left: BytesLike, right: BytesLike, suite: Suite = "rfc6962-sha256") -> bytes: ...
def hash_children(children: Hashes, suite: Suite = "rfc6962-sha256") -> npt.NDArray[np.uint8]: ...
def merkle_root(hashes: Hashes, suite: Suite = "rfc6962-sha256") -> bytes: ...
def verify_inclusion(
    index: int, size: int, leaf_hash: BytesLike, proof: Sequence[BytesLike], root: BytesLike,
    suite: Suite = "rfc6962-sha256",
) -> None: ...
def verify_inclusions(
    indices: Indices, size: int, leaf_hashes: Hashes, nodes: Hashes, offsets: Indices, root: BytesLike,
    suite: Suite = "rfc6962-sha256",
) -> npt.NDArray[np.bool_]: ...
def verify_consistency(
    old_size: int, new_size: int, old_root: BytesLike, new_root: BytesLike, proof: Sequence[BytesLike],
    suite: Suite = "rfc6962-sha256",
) -> None: ...
def verify_batch_inclusion(
    indices: Indices, size: int, leaf_hashes: Hashes, proof: BytesLike, root: BytesLike,
    suite: Suite = "rfc6962-sha256",
) -> None: ...
def hash_limit(suite: Suite, seconds: float = 0.5) -> float: ...

# --- C2SP signed notes, checkpoints, cosignatures and tlog-proofs ---------------
# Signer keys ("PRIVATE+KEY+<name>+<id>+<base64>") are secrets; verifier keys are
# "<name>+<id>+<base64>". Malformed input raises ValueError; a signature, policy
# or proof that does not check out raises VerificationError.

#: A note or proof: str, or its UTF-8 bytes.
NoteText: TypeAlias = str | bytes | bytearray | memoryview

def generate_note_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 note key (type 0x01): (signer key, verifier key)."""

def generate_cosigner_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 cosigner (witness) key (type 0x04): (signer key, verifier key)."""
def note_verifier_key(signer_key: str) -> str:
    """The verifier key of a note or cosigner signer key; ValueError for a string that is not one."""
def sign_note(text: str, signer_keys: Sequence[str]) -> str: ...
def open_note(note: NoteText, verifier_keys: Sequence[str]) -> tuple[str, list[str]]:
    """(text, names of the keys whose signatures verified)."""

def format_checkpoint(origin: str, size: int, root: BytesLike, extensions: Sequence[str] = ...) -> str:
    """The unsigned checkpoint note text (no extension lines by default)."""
def sign_checkpoint(
    origin: str, size: int, root: BytesLike, signer_key: str, extensions: Sequence[str] = ...
) -> str:
    """A checkpoint signed by the log key, whose name must be the origin (no extension lines by default)."""
def verify_checkpoint(note: NoteText, verifier_keys: Sequence[str]) -> tuple[str, int, bytes]:
    """(origin, size, root); a key named after the origin must have signed."""

def cosign_checkpoint(note: NoteText, cosigner_key: str, timestamp: int | None = None) -> str: ...
def verify_checkpoint_policy(
    note: NoteText, log_keys: Sequence[str], witness_keys: Sequence[str], k: int
) -> tuple[str, int, bytes]:
    """(origin, size, root) once the log signed and at least k of the witnesses cosigned."""

def format_tlog_proof(
    index: int, proof: Sequence[BytesLike], checkpoint: str, extra: BytesLike | None = None
) -> str: ...
def verify_tlog_proof(
    text: NoteText, leaf_hash: BytesLike, log_keys: Sequence[str], witness_keys: Sequence[str] | None = None,
    k: int = 0,
) -> tuple[str, int, bytes, int]:
    """(origin, size, root, index) once the checkpoint policy and the inclusion proof check out."""
