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


class TileClient:
    """Follows a tlog-tiles log from its tiles alone, verifying as it goes.

    >>> client = TileClient("https://log.example/prefix", [verifier_key])  # doctest: +SKIP
    >>> client.update()                     # verified (origin, size, root)  # doctest: +SKIP
    >>> client.verify_entry(3, b"entry")    # proven against that root  # doctest: +SKIP
    """

    def __init__(self, location: str | Path, verifier_keys: Sequence[str], *, origin: str | None = None,
                 suite: Suite = "rfc6962-sha256", timeout: float = 10.0) -> None:
        text = str(location)
        self._fetch = http_fetch(text, timeout) if "://" in text else directory_fetch(location)
        self._keys = list(verifier_keys)
        self._origin = origin
        self._suite: Suite = suite
        self._reader: TileReader | None = None
        self._root = b""

    @property
    def size(self) -> int:
        return self._require().size

    @property
    def root(self) -> bytes:
        self._require()
        return self._root

    def update(self) -> tuple[str, int, bytes]:
        """Fetches and verifies the latest checkpoint and, if this client saw an
        earlier one, proves the new tree consistent with it. Returns (origin, size, root)."""
        note = self._fetch("checkpoint", MAX_CHECKPOINT).decode("utf-8")
        origin, size, root = verify_checkpoint(note, self._keys)
        if self._origin is not None and origin != self._origin:
            raise VerificationError(f"verification failed: checkpoint origin {origin!r} is not {self._origin!r}")
        reader = TileReader(self._fetch, size, root, self._suite)
        if self._reader is not None:
            old_size, old_root = self._reader.size, self._root
            if size < old_size:
                raise VerificationError(f"verification failed: the log shrank from {old_size} to {size}")
            verify_consistency(old_size, size, old_root, root, reader.consistency_proof(old_size), self._suite)
        self._origin = origin
        self._reader, self._root = reader, root
        return origin, size, root

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The inclusion proof of entry `index` in the verified tree, checked before it is returned."""
        reader = self._require()
        proof = reader.inclusion_proof(index)
        verify_inclusion(index, reader.size, reader.leaf_hash(index), proof, self._root, self._suite)
        return proof

    def entry(self, index: int) -> bytes:
        """Entry `index`, authenticated against the verified tree."""
        return self._require().entry(index)

    def verify_entry(self, index: int, entry: bytes) -> None:
        """Proves that `entry` is at `index` in the verified tree, or raises VerificationError."""
        reader = self._require()
        verify_inclusion(index, reader.size, leaf_hash(entry, self._suite), reader.inclusion_proof(index),
                         self._root, self._suite)

    def _require(self) -> TileReader:
        if self._reader is None:
            raise ValueError("call update() first to fetch and verify a checkpoint")
        return self._reader
