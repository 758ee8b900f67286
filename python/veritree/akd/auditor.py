"""Follow a published chain of akd audit blobs and vouch for it in a signed, append-only log.

WhatsApp publishes one audit blob per epoch of its akd key directory: an ``SingleAppendOnlyProof`` from the
root before the epoch to the root after it, named ``EPOCH/PREVIOUS_ROOT_HEX/CURRENT_ROOT_HEX`` (EPOCH is the
step's end epoch). One blob shows one step is append-only; only the unbroken chain of them shows the
directory never rewrote what it published. :func:`audit` checks that chain, from where the last run stopped,
and records each step it verified as an entry of a C2SP tlog-tiles log whose signed checkpoint is the
auditor's statement: anyone holding its verifier key can check what was vouched for, and that the auditor
never took anything back (consistency of its checkpoints).

Each vouched step is one log entry of exactly 72 bytes::

    epoch (8 bytes, unsigned big-endian; the step's end epoch, as in the blob's name)
    || previous root (32 bytes) || current root (32 bytes)

Entry ``i`` is epoch ``first_epoch + i``; each entry's previous root is the current root of the entry
before it. Entry 0's previous root is akd's empty root when ``first_epoch`` is 1; when the audit started
later (``start``), that root was trusted, not audited, and ``config.json`` records it. A checkpoint of size
``n`` thus says: "every step from ``first_epoch`` to ``first_epoch + n - 1`` verified, as one chain".

The state folder::

    STATE/lock         held (flock) for the whole run: one auditor at a time
    STATE/key          the log's note signer key (mode 0600; never printed), made on the first run
    STATE/key.pub      its verifier key, which whoever checks the auditor's checkpoints pins
    STATE/config.json  the source, the log's origin, the first epoch and its trusted previous root
    STATE/log/         the tlog-tiles log (its signed checkpoint: STATE/log/checkpoint)

The log is the progress: its last entry says where the next run resumes, so nothing else has to agree with
it. A step is appended only after its blob verified, in batches (a checkpoint is signed and fsynced per
batch, not per step); a crash between verifying and appending loses only that work, which the next run
repeats. ``config.json`` is written (temp file, fsync, rename) before the first entry and never changes
after, and a state folder refuses any other source.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import struct
import time
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import veritree
from veritree import akd
from veritree.akd.sources import Source, SourceError

__all__ = [
    "ENTRY_SIZE",
    "AuditError",
    "AuditResult",
    "Stop",
    "audit",
    "decode_step",
    "encode_step",
    "origin_for",
    "read_config",
    "state_refusal",
]

ENTRY_SIZE = 72
"""Bytes in one log entry: epoch (8, big-endian) || previous root (32) || current root (32)."""

BATCH = 64

ASK_AT_MOST = 256
"""Epochs a run after the first asks about one at a time before it lists the whole source instead."""

PROBE_PAST_GAP = 8
"""Epochs past the first missing one a run asks about: any of them listed makes the missing one a gap."""
"""Verified steps appended per log write: each write signs and fsyncs a checkpoint, so few, but not so
few that a crash throws away much verified work."""

_CONFIG_FORMAT = "veritree akd-audit state 1"
_OUR_FILES = frozenset({"lock", "key", "key.pub", "config.json", "log"})


class AuditError(Exception):
    """The audit could not run or record its work: a state folder refused, locked or unwritable.

    The log still holds exactly the steps vouched for before it; the next run resumes from there."""


@dataclass(frozen=True)
class Stop:
    """Why a run stopped short of the source's newest epoch: `epoch` (None when the listing as a whole
    is at fault) and a one-line reason."""

    epoch: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason if self.epoch is None else f"epoch {self.epoch}: {self.reason}"


@dataclass(frozen=True)
class AuditResult:
    """What one run did and what the log vouches for after it."""

    source: str
    first_epoch: int | None
    """The log's first epoch (None: nothing was ever vouched for)."""
    trusted_previous_root: bytes | None
    """The first epoch's previous root when the audit started after epoch 1: trusted, not audited."""
    new: range
    """The epochs this run vouched for (empty when none)."""
    last_epoch: int | None
    latest_root: bytes | None
    """The current root of the last vouched epoch."""
    size: int
    """Steps in the log."""
    checkpoint: str
    """The log's signed checkpoint."""
    verifier_key: str
    remaining: int
    """Epochs listed past the last vouched one that this run left (``max_epochs``)."""
    stop: Stop | None
    """Why the run stopped early, or None."""


def encode_step(step: akd.AuditStep) -> bytes:
    """The 72-byte log entry of a vouched step."""
    if len(step.previous_root) != 32 or len(step.current_root) != 32:
        raise ValueError("roots are 32 bytes")
    return struct.pack(">Q", step.epoch) + step.previous_root + step.current_root


def decode_step(entry: bytes) -> akd.AuditStep:
    """The step a 72-byte log entry records."""
    if len(entry) != ENTRY_SIZE:
        raise ValueError(f"an audit log entry is {ENTRY_SIZE} bytes, not {len(entry)}")
    return akd.AuditStep(struct.unpack(">Q", entry[:8])[0], entry[8:40], entry[40:])


def origin_for(source: str) -> str:
    """The log's origin (and key name) for a source's canonical name: readable where it can be (the
    bucket's host), and a hash of the whole name, which no other source shares."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    host = urllib.parse.urlsplit(source).hostname if source.startswith(("http://", "https://")) else None
    return f"veritree-akd-audit/{host or 'folder'}/{digest}"


def audit(
    source: Source,
    state: str | os.PathLike[str],
    *,
    start: int | None = None,
    max_epochs: int | None = None,
    batch: int = BATCH,
    fetch_ahead: int = 4,
    full_listing: bool = False,
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    """Vouches for the source's chain of audit blobs from where `state`'s log stops (see the module).

    `start`: the first epoch of a new state (default: the lowest listed); a state that has one refuses
    another. `max_epochs`: vouch for at most this many epochs in this run. `fetch_ahead`: blobs read
    concurrently ahead of the one being verified. `progress` is called with a line now and then.

    A run after the first (without `max_epochs`) asks the source about the epochs after its last one, one
    at a time, and about that one (listed otherwise, the publisher shows two histories), and about a few
    past the first missing one (listed, the missing one is a gap): a few small requests where listing a
    bucket of a million epochs takes a thousand large ones. It lists the whole source instead when more
    than `ASK_AT_MOST` epochs are new, and always with `full_listing`, which also compares every listed
    epoch already vouched for with the log: do that now and then.

    A chain fault (a malformed name, a missing epoch, two blobs for one epoch, a broken chain, a blob that
    does not verify, a blob that cannot be read) ends the run with `stop` set, after everything before it
    was appended. :class:`AuditError` when the state refuses or cannot be written."""
    if start is not None and start < 1:
        raise ValueError("epochs start at 1")
    if max_epochs is not None and max_epochs < 1:
        raise ValueError("max_epochs must be at least 1")
    if batch < 1 or fetch_ahead < 1:
        raise ValueError("batch and fetch_ahead must be at least 1")
    folder = os.fspath(state)
    _make_state_folder(folder)
    with _locked(folder):
        return _Run(source, folder, start, max_epochs, batch, fetch_ahead, full_listing, progress).run()


def read_config(state: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The state's config.json, or None before the first step was vouched."""
    path = os.path.join(os.fspath(state), "config.json")
    try:
        with open(path, "rb") as f:
            config = json.loads(f.read(1 << 16))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise AuditError(f"cannot read {path}: {e}") from None
    if not isinstance(config, dict) or config.get("format") != _CONFIG_FORMAT:
        raise AuditError(f"{path} is not an akd-audit state's configuration")
    return config


class _Run:
    """One run: the state opened and locked, the listing scanned, the chain walked."""

    def __init__(self, source: Source, folder: str, start: int | None, max_epochs: int | None, batch: int,
                 fetch_ahead: int, full_listing: bool, progress: Callable[[str], None] | None) -> None:
        self.source, self.folder, self.start, self.max_epochs = source, folder, start, max_epochs
        self.batch, self.fetch_ahead, self.full_listing = batch, fetch_ahead, full_listing
        self.say: Callable[[str], None] = progress or (lambda line: None)
        self.origin = origin_for(source.name)
        self.config: dict[str, Any] | None = None
        self.first: int | None = None  # the log's first epoch (None: a new state, until the listing says)
        self.trusted: bytes | None = None  # the first epoch's previous root, when the first epoch is not 1
        self.previous: bytes | None = None  # the root the next step must start from (None: to be trusted)
        self.size = 0  # entries in the log
        self.listed_max = 0
        self.listed_count = 0

    @property
    def next(self) -> int | None:
        """The next epoch to vouch for (None: a new state without --start, until the listing says)."""
        return None if self.first is None else self.first + self.size

    def run(self) -> AuditResult:
        self.config = read_config(self.folder)
        if self.config is not None and self.config.get("source") != self.source.name:
            raise AuditError(f"{self.folder} is the state of an audit of {self.config.get('source')}, not of "
                             f"{self.source.name}: name another --state for this source")
        signer, verifier = _note_key(self.folder, self.origin)
        with _open_log(os.path.join(self.folder, "log"), self.origin, signer, self.config is None) as log:
            self.log = log
            self._resume()
            size_before = self.size
            stop = self._walk()
            last = self.next - 1 if self.next is not None and self.size else None
            result = AuditResult(
                source=self.source.name,
                first_epoch=self.first if self.size else None,
                trusted_previous_root=self.trusted if self.size else None,
                new=range(self.first + size_before, self.first + self.size) if self.first is not None else range(0),
                last_epoch=last,
                latest_root=self.previous if self.size else None,
                size=self.size,
                checkpoint=log.checkpoint(),
                verifier_key=verifier,
                remaining=max(0, self.listed_max - last) if last is not None else 0,
                stop=stop,
            )
        return result

    def _resume(self) -> None:
        """Where the log stops: the first epoch, the next one and the root it must start from."""
        self.size = self.log.size
        if self.config is None:
            if self.size:
                raise AuditError(f"{self.folder}/log holds {self.size} entries but {self.folder}/config.json is "
                                 "missing: the state is damaged")
            self.first = self.start
            return
        self.first = _config_int(self.config, "first_epoch", self.folder)
        if self.start is not None and self.start != self.first:
            raise AuditError(f"{self.folder} audits from epoch {self.first}; --start only chooses where a new "
                             "state begins")
        trusted = self.config.get("trusted_previous_root")
        if self.first > 1:
            try:
                self.trusted = bytes.fromhex(trusted) if isinstance(trusted, str) else b""
            except ValueError:
                self.trusted = b""
            if len(self.trusted) != 32:
                raise AuditError(f"{self.folder}/config.json: trusted_previous_root is not a root")
        self.previous = self.trusted if self.first > 1 else akd.EMPTY_ROOT
        if self.size:
            last = decode_step(self.log.entry(self.size - 1))
            if last.epoch != self.first + self.size - 1:
                raise AuditError(f"{self.folder}/log's last entry is epoch {last.epoch}, not "
                                 f"{self.first + self.size - 1} (from epoch {self.first}, {self.size} steps): "
                                 "the state is damaged")
            self.previous = last.current_root

    def _walk(self) -> Stop | None:
        """Scans the listing, then verifies and appends the chain from `next`; why it stopped early."""
        try:
            asked = None if self.full_listing or not self.size or self.max_epochs else self._ask()
            pending, doubles = asked if asked is not None else self._scan()
        except SourceError as e:
            return Stop(None, str(e))
        except _Stopped as e:
            return e.stop
        if self.first is None:  # a new state without --start: the lowest listed epoch
            if not pending:
                return None
            self.first = min(pending)
        start = self.first + self.size
        end = start + self.max_epochs if self.max_epochs is not None else None
        chain: list[tuple[int, str]] = []
        while start + len(chain) in pending and (end is None or start + len(chain) < end):
            chain.append((start + len(chain), pending[start + len(chain)]))
        verified: list[bytes] = []
        stop: Stop | None = None
        said = time.monotonic()
        with _prefetch(self.source, [name for _, name in chain], self.fetch_ahead) as blobs:
            for (epoch, name), (_, blob) in zip(chain, blobs, strict=True):
                stop = self._check(epoch, name, blob, doubles)
                if stop is not None:
                    break
                assert isinstance(blob, bytes)
                try:
                    step = akd.verify_audit_blob(name, blob)
                except veritree.VerificationError as e:
                    stop = Stop(epoch, f"blob {name} does not verify: {e}")
                    break
                # Only now is the step vouched for (and the first epoch's previous root trusted).
                if epoch == self.first and epoch > 1:
                    self.trusted = step.previous_root
                verified.append(encode_step(step))
                self.previous = step.current_root
                if len(verified) >= self.batch:
                    self._append(verified)
                if time.monotonic() - said >= 10:
                    self.say(f"verified through epoch {epoch}")
                    said = time.monotonic()
            else:
                gap = start + len(chain)
                if (end is None or gap < end) and self.listed_max > gap:
                    stop = Stop(gap, f"missing: the source lists no blob for it, but lists epochs up to "
                                     f"{self.listed_max}")
            self._append(verified)
        return stop

    def _scan(self) -> tuple[dict[int, str], dict[int, str]]:
        """The listed names from `next` on (up to --max-epochs) by epoch, and another name for any epoch
        listed twice.

        Names of epochs already vouched for must be the steps the log holds: another one means the
        publisher now shows a history other than the one vouched for, which stops the run before anything
        new. Names before the first epoch are outside the audit and ignored."""
        pending: dict[int, str] = {}
        doubles: dict[int, str] = {}
        vouched: npt.NDArray[np.uint8] | None = None  # the log's leaf hashes, read when first needed
        start = self.next
        end = start + self.max_epochs if start is not None and self.max_epochs is not None else None
        said = time.monotonic()
        for name in self.source.names():
            try:
                step = akd.parse_audit_blob_name(name)
            except (veritree.VerificationError, ValueError):
                raise _Stopped(Stop(None, f"the source lists {name!r}, which is not an audit blob name "
                                          "(EPOCH/PREVIOUS_ROOT_HEX/CURRENT_ROOT_HEX)")) from None
            epoch = step.epoch
            self.listed_count += 1
            self.listed_max = max(self.listed_max, epoch)
            if time.monotonic() - said >= 10:
                self.say(f"listed {self.listed_count} blobs")
                said = time.monotonic()
            if self.first is not None and epoch < self.first:
                continue
            if start is not None and epoch < start:
                assert self.first is not None
                if vouched is None:
                    vouched = self.log.leaf_hashes(0, self.size)
                if veritree.leaf_hash(encode_step(step)) != bytes(vouched[epoch - self.first]):
                    held = decode_step(self.log.entry(epoch - self.first))
                    raise _Stopped(Stop(epoch, f"the source lists {name}, but this auditor vouched for "
                                               f"{held.previous_root.hex()} -> {held.current_root.hex()} as "
                                               "this epoch: the publisher shows two histories"))
                continue
            if end is not None and epoch >= end:
                continue  # past this run's --max-epochs; a later run looks at it
            if pending.setdefault(epoch, name) != name:
                doubles.setdefault(epoch, name)
        return pending, doubles

    def _ask(self) -> tuple[dict[int, str], dict[int, str]] | None:
        """The epochs from `next` on, as `_scan` gives them, asked about one at a time (see `audit`); None
        when more than `ASK_AT_MOST` are new."""
        assert self.first is not None and self.size > 0

        def names(epoch: int) -> list[str]:
            listed = self.source.epoch_names(epoch)
            for name in listed:
                try:
                    parsed = akd.parse_audit_blob_name(name).epoch
                except (veritree.VerificationError, ValueError):
                    parsed = None
                if parsed != epoch:
                    raise _Stopped(Stop(None, f"the source lists {name!r} under {epoch}/, which is not an audit "
                                              f"blob name of epoch {epoch}"))
            self.listed_count += len(listed)
            if listed:
                self.listed_max = max(self.listed_max, epoch)
            return listed

        last = self.first + self.size - 1
        held = decode_step(self.log.entry(self.size - 1))
        vouched = f"{last}/{held.previous_root.hex()}/{held.current_root.hex()}"
        for name in names(last):
            if name != vouched:
                raise _Stopped(Stop(last, f"the source lists {name}, but this auditor vouched for "
                                          f"{held.previous_root.hex()} -> {held.current_root.hex()} as this "
                                          "epoch: the publisher shows two histories"))
        pending: dict[int, str] = {}
        doubles: dict[int, str] = {}
        epoch = last + 1
        while listed := names(epoch):
            if len(pending) == ASK_AT_MOST:
                return None
            pending[epoch] = listed[0]
            if len(listed) > 1:
                doubles[epoch] = listed[1]
            epoch += 1
        for later in range(epoch + 1, epoch + 1 + PROBE_PAST_GAP):
            if names(later):
                break
        return pending, doubles

    def _check(self, epoch: int, name: str, blob: bytes | SourceError, doubles: dict[int, str]) -> Stop | None:
        """Why the step `name` (whose blob was read as `blob`) may not be vouched for, before verifying it."""
        if epoch in doubles:
            return Stop(epoch, f"the source lists two blobs for it: {name} and {doubles[epoch]}")
        step = akd.parse_audit_blob_name(name)
        if epoch == 1 and step.previous_root != akd.EMPTY_ROOT:
            return Stop(epoch, f"its previous root {step.previous_root.hex()} is not akd's empty root "
                               f"{akd.EMPTY_ROOT.hex()}")
        if self.previous is not None and step.previous_root != self.previous:
            return Stop(epoch, f"broken chain: its previous root {step.previous_root.hex()} is not epoch "
                               f"{epoch - 1}'s current root {self.previous.hex()}")
        if isinstance(blob, SourceError):
            return Stop(epoch, str(blob))
        return None

    def _append(self, verified: list[bytes]) -> None:
        """Appends verified steps to the log (config.json first, before the first entry)."""
        if not verified:
            return
        if self.config is None:
            assert self.first is not None
            self.config = {
                "format": _CONFIG_FORMAT,
                "source": self.source.name,
                "origin": self.origin,
                "first_epoch": self.first,
                "trusted_previous_root": self.trusted.hex() if self.trusted is not None else None,
            }
            try:
                _write_atomically(os.path.join(self.folder, "config.json"),
                                  json.dumps(self.config, indent=2).encode() + b"\n", 0o644)
            except OSError as e:
                raise AuditError(f"cannot write {self.folder}/config.json: {e}") from None
        try:
            _extend(self.log, verified)
        except veritree.StorageError as e:
            raise AuditError(f"cannot append to {self.folder}/log ({e}); the {len(verified)} steps verified "
                             "since its last entry will be verified again next run") from None
        self.size += len(verified)
        verified.clear()


class _Stopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(str(stop))
        self.stop = stop


def _extend(log: veritree.Log, entries: list[bytes]) -> None:
    """Appends `entries` durably and signs a checkpoint (one place, so a test can fail it)."""
    log.extend(entries)


@contextlib.contextmanager
def _prefetch(source: Source, names: list[str], ahead: int) -> Iterator[Iterator[tuple[str, bytes | SourceError]]]:
    """The blobs of `names` in order, each read at most `ahead` threads and 2 * `ahead` blobs ahead of the
    one being consumed; a failed read is yielded as its error. Leaving stops the reads not yet begun."""
    pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="akd-audit-read")
    queue: collections.deque[tuple[str, Future[bytes]]] = collections.deque()
    todo = iter(names)

    def submit(count: int) -> None:
        for name in (n for _, n in zip(range(count), todo, strict=False)):
            queue.append((name, pool.submit(source.read, name)))

    def results() -> Iterator[tuple[str, bytes | SourceError]]:
        submit(2 * ahead)
        while queue:
            name, future = queue.popleft()
            submit(1)
            try:
                yield name, future.result()
            except SourceError as e:
                yield name, e

    try:
        yield results()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _config_int(config: dict[str, Any], key: str, folder: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AuditError(f"{folder}/config.json: {key} is not an epoch")
    return value


def state_refusal(state: str | os.PathLike[str]) -> str | None:
    """Why `state` cannot be an akd-audit state folder (it holds something else), or None: it is missing,
    empty, or one an earlier run made."""
    folder = os.fspath(state)
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return f"{folder} is not a folder"
    except OSError as e:
        return f"cannot read the state folder {folder}: {e.strerror}"
    if names and not names & _OUR_FILES:
        return (f"{folder} holds something other than an akd-audit state; name a new or empty folder, or one "
                "an earlier akd-audit made")
    return None


def _make_state_folder(folder: str) -> None:
    """Makes `folder` (owner-only), or checks that an existing one is empty or an akd-audit state."""
    refusal = state_refusal(folder)
    if refusal is not None:
        raise AuditError(refusal)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as e:
        raise AuditError(f"cannot make the state folder {folder}: {e.strerror}") from None


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    """Holds STATE/lock (flock) while the run reads and writes the state: a second auditor is refused."""
    path = os.path.join(folder, "lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        raise AuditError(f"cannot open {path}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AuditError(f"another akd-audit is running on {folder} (it holds {path}); "
                                 "one at a time") from None
            raise AuditError(f"cannot lock {path}: {e.strerror}") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _open_log(path: str, origin: str, signer: str, new: bool) -> veritree.Log:
    """The state's log as its writer; made when missing (or left empty by a crash) only if the state is
    `new` (no step vouched yet): a lost log must not restart quietly, taking back what it vouched for."""
    try:
        try:
            return veritree.Log.open(path, origin=origin, signer=signer)
        except veritree.StorageNotFoundError:
            if not new:
                raise AuditError(f"{path} is missing, but config.json says steps were vouched for there: the "
                                 "state is damaged") from None
            return veritree.Log.open(path, origin=origin, signer=signer, create=True)
    except veritree.StorageLockedError:
        raise AuditError(f"another process holds {path} open for writing; one auditor at a time") from None
    except (veritree.StorageError, ValueError, OSError) as e:
        raise AuditError(f"cannot open {path}: {e}") from None


def _note_key(folder: str, origin: str) -> tuple[str, str]:
    """(signer key, verifier key) of the state's log, made on the first run; the key's name is the
    log's origin, so a key made for another source is refused."""
    path, public = os.path.join(folder, "key"), os.path.join(folder, "key.pub")
    try:
        with open(path, "rb") as f:
            signer = f.read(4097).decode("ascii", "replace").strip()
    except FileNotFoundError:
        signer, verifier = veritree.generate_note_key(origin)
        try:
            _write_atomically(public, verifier.encode(), 0o644)
            _write_atomically(path, signer.encode(), 0o600)
        except OSError as e:
            raise AuditError(f"cannot write {path}: {e}") from None
        return signer, verifier
    except OSError as e:
        raise AuditError(f"cannot read {path}: {e.strerror}") from None
    derived = _verifier_of(signer)
    if derived is None:
        raise AuditError(f"{path} does not hold a note signer key")
    name = derived.split("+")[0]
    if name != origin:
        raise AuditError(f"{path} is the key of {name}, not of {origin}: {folder} is the state of an audit "
                         "of another source; name another --state")
    if not os.path.exists(public):
        try:
            _write_atomically(public, derived.encode(), 0o644)
        except OSError as e:
            raise AuditError(f"cannot write {public}: {e}") from None
    return signer, derived


def _verifier_of(signer: str) -> str | None:
    """The verifier key of a note signer key, or None for a string that is not one."""
    try:
        return veritree.note_verifier_key(signer)
    except (ValueError, veritree.VerificationError):
        return None


def _write_atomically(path: str, data: bytes, mode: int) -> None:
    """Replaces `path` with `data` whole or not at all: a temporary file, fsynced, renamed, the folder
    fsynced (the new name survives a crash)."""
    folder = os.path.dirname(path) or "."
    temporary = f"{path}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(temporary, flags, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, mode)  # whatever the umask took away
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

