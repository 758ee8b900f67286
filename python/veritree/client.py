"""A read-only client for a tlog-tiles log: from tiles alone (a directory or an
http(s) base URL) and the log's verifier keys, it follows signed checkpoints,
checks that each is consistent with the last, and proves entries included.
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from veritree._native import (
    TileReader,
    VerificationError,
    leaf_hash,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

#: Every resource a tlog-tiles client may ask for; nothing else is fetched, so
#: no name can lead outside the log.
_RESOURCE = re.compile(
    r"checkpoint|tile/(entries|[0-9]|[1-5][0-9]|6[0-3])(/x[0-9]{3})*/[0-9]{3}"
    r"(\.p/(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]?))?"
)
#: Largest checkpoint the client reads.
MAX_CHECKPOINT = 1 << 20

if TYPE_CHECKING:
    from veritree._native import Suite

Fetch = Callable[[str, int], bytes]


def directory_fetch(root: str | Path) -> Fetch:
    """Reads resources from a log directory, never more than asked."""
    base = Path(root)

    def fetch(path: str, max_len: int) -> bytes:
        _check(path)
        with open(base / path, "rb") as f:
            data = f.read(max_len + 1)
        if len(data) > max_len:
            raise OSError(f"{path} is larger than {max_len} bytes")
        return data

    return fetch


def http_fetch(base_url: str, timeout: float = 10.0) -> Fetch:
    """Fetches resources under an http(s) prefix, never reading more than asked."""
    if urllib.parse.urlsplit(base_url).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    prefix = base_url.rstrip("/") + "/"

    def fetch(path: str, max_len: int) -> bytes:
        _check(path)
        with urllib.request.urlopen(prefix + path, timeout=timeout) as resp:
            data: bytes = resp.read(max_len + 1)
        if len(data) > max_len:
            raise OSError(f"{path} is larger than {max_len} bytes")
        return data

    return fetch


def _check(path: str) -> None:
    if not _RESOURCE.fullmatch(path):
        raise ValueError(f"not a tlog-tiles resource: {path!r}")


class TileView:
    """The log at one verified checkpoint: its entries and their inclusion
    proofs, every one authenticated against that checkpoint's root.

    Returned by :meth:`TileClient.at` for any checkpoint the log published;
    partial tiles the log has since deleted (C2SP tlog-tiles lets it, once
    the full tile exists) are read from the full tile.
    """

    def __init__(self, checkpoint: str, origin: str, size: int, root: bytes, reader: TileReader,
                 suite: Suite) -> None:
        self._checkpoint, self._origin, self._size, self._root = checkpoint, origin, size, root
        self._reader = reader
        self._suite: Suite = suite

    @property
    def checkpoint(self) -> str:
        """The signed checkpoint note this view was verified from."""
        return self._checkpoint

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def size(self) -> int:
        return self._size

    @property
    def root(self) -> bytes:
        return self._root

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The inclusion proof of entry `index` in this tree, checked before it is returned."""
        proof = self._reader.inclusion_proof(index)
        verify_inclusion(index, self._size, self._reader.leaf_hash(index), proof, self._root, self._suite)
        return proof

    def entry(self, index: int) -> bytes:
        """Entry `index`, authenticated against this tree."""
        return self._reader.entry(index)

    def verify_entry(self, index: int, entry: bytes) -> None:
        """Proves that `entry` is at `index` in this tree, or raises VerificationError."""
        verify_inclusion(index, self._size, leaf_hash(entry, self._suite), self._reader.inclusion_proof(index),
                         self._root, self._suite)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """The consistency proof from the tree of `old_size` to this one."""
        return self._reader.consistency_proof(old_size)

    def __repr__(self) -> str:
        return f"TileView(origin={self._origin!r}, size={self._size})"


class TileClient:
    """Follows a tlog-tiles log from its tiles alone, verifying as it goes.

    >>> client = TileClient("https://log.example/prefix", [verifier_key])  # doctest: +SKIP
    >>> client.update()                     # verified (origin, size, root)  # doctest: +SKIP
    >>> client.verify_entry(3, b"entry")    # proven against that root  # doctest: +SKIP
    >>> client.at(old_note).entry(3)        # the log at an older checkpoint  # doctest: +SKIP

    The client holds one verified tree head and only ever moves forward:
    every checkpoint it is shown, fetched or given, must verify with the keys
    and be consistent with the head it holds, whatever its size.
    """

    def __init__(self, location: str | Path, verifier_keys: Sequence[str], *, origin: str | None = None,
                 suite: Suite = "rfc6962-sha256", timeout: float = 10.0) -> None:
        text = str(location)
        self._fetch = http_fetch(text, timeout) if "://" in text else directory_fetch(location)
        self._keys = list(verifier_keys)
        self._origin = origin
        self._suite: Suite = suite
        self._view: TileView | None = None

    @property
    def size(self) -> int:
        return self._require().size

    @property
    def root(self) -> bytes:
        return self._require().root

    @property
    def checkpoint(self) -> str:
        """The signed checkpoint note of the head the client holds."""
        return self._require().checkpoint

    def update(self, checkpoint: str | None = None) -> tuple[str, int, bytes]:
        """Moves the client to the log's latest checkpoint, fetched, or to the
        given checkpoint note (from a witness, gossip, or one saved earlier),
        verified with the keys the same way. If the client holds an earlier
        head, the new tree is proved consistent with it first.

        The client never moves back. The log's own checkpoint smaller than
        the head held is a rollback: VerificationError. A given checkpoint
        smaller than the head held is proved consistent with it
        (VerificationError if not) and the client stays where it is; read the
        log at that size with :meth:`at`. Returns the (origin, size, root) the
        client holds afterwards; a refused update leaves it unchanged.
        """
        note = checkpoint if checkpoint is not None else self._latest()
        origin, size, root = self._verify_note(note)
        held = self._view
        if held is not None and size <= held.size:
            if size < held.size and checkpoint is None:
                raise VerificationError(f"verification failed: the log shrank from {held.size} to {size}")
            # Proved from the tiles of the head held: nothing of the old tree is fetched.
            verify_consistency(size, held.size, root, held.root, held.consistency_proof(size), self._suite)
            return held.origin, held.size, held.root
        view = self._open(note, origin, size, root)
        if held is not None:
            verify_consistency(held.size, size, held.root, root, view.consistency_proof(held.size), self._suite)
        self._origin = origin
        self._view = view
        return origin, size, root

    def at(self, checkpoint: str) -> TileView:
        """The log at the tree of a checkpoint note it published (any size),
        verified with the keys; if the client holds a head, the two trees are
        proved consistent, whichever is larger. The client itself does not
        move: use :meth:`update` for that.
        """
        origin, size, root = self._verify_note(checkpoint)
        held = self._view
        if held is not None and size <= held.size:
            verify_consistency(size, held.size, root, held.root, held.consistency_proof(size), self._suite)
            if size == held.size:
                return held
        view = self._open(checkpoint, origin, size, root)
        if held is not None and size > held.size:
            verify_consistency(held.size, size, held.root, root, view.consistency_proof(held.size), self._suite)
        return view

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The inclusion proof of entry `index` in the verified tree, checked before it is returned."""
        return self._require().inclusion_proof(index)

    def entry(self, index: int) -> bytes:
        """Entry `index`, authenticated against the verified tree."""
        return self._require().entry(index)

    def verify_entry(self, index: int, entry: bytes) -> None:
        """Proves that `entry` is at `index` in the verified tree, or raises VerificationError."""
        self._require().verify_entry(index, entry)

    def _latest(self) -> str:
        data = self._fetch("checkpoint", MAX_CHECKPOINT)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as e:  # a ValueError, which would read as the caller's mistake
            raise VerificationError(f"verification failed: the log's checkpoint is not UTF-8 ({e})") from None

    def _verify_note(self, note: str) -> tuple[str, int, bytes]:
        origin, size, root = verify_checkpoint(note, self._keys)
        if self._origin is not None and origin != self._origin:
            raise VerificationError(f"verification failed: checkpoint origin {origin!r} is not {self._origin!r}")
        return origin, size, root

    def _open(self, note: str, origin: str, size: int, root: bytes) -> TileView:
        return TileView(note, origin, size, root, TileReader(self._fetch, size, root, self._suite), self._suite)

    def _require(self) -> TileView:
        if self._view is None:
            raise ValueError("call update() first to fetch and verify a checkpoint")
        return self._view
