"""Where an akd auditor reads audit blobs from: a folder, or an S3-style HTTP bucket.

A source lists blob names (``EPOCH/PREVIOUS_ROOT_HEX/CURRENT_ROOT_HEX``, as WhatsApp publishes them) and
reads one blob by its name. It checks nothing about the blobs: :mod:`veritree.akd.auditor` does. Every
failure to list or read is a :class:`SourceError` with a one-line message (never a traceback), because an
auditor run by cron must say plainly whether the publisher or the network failed.

The HTTP source speaks the part of S3's ``ListObjectsV2`` that public buckets (and CloudFront in front of
them, as WhatsApp's ``https://d4ttn6vhp3mg0.cloudfront.net``) answer: ``GET URL?list-type=2``, paged with
``continuation-token`` from ``<NextContinuationToken>`` while ``<IsTruncated>`` is true, or with
``start-after`` the page's last key when the bucket gives no token (CloudFront strips it), with ``prefix``
to ask about one epoch (``EPOCH/``). A blob is
``GET URL/KEY``. Only the standard library: urllib with a timeout and a bound on every response, and
ElementTree over a listing already read whole and without a document type (so a hostile bucket costs at
most that bound of memory: no entity expands it).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Protocol

__all__ = [
    "BucketSource",
    "FolderSource",
    "Source",
    "SourceError",
    "open_source",
]

MAX_LISTING_BYTES = 16 << 20
"""The most one listing page may hold (S3 pages of 1000 keys are about 250 KiB)."""

MAX_BLOB_BYTES = 1 << 30
"""The most one audit blob may hold: WhatsApp's are megabytes; a step inserting 10^5 labels is 7.5 MB."""


class SourceError(Exception):
    """The source could not be listed or a blob could not be read (the message says which and why)."""


class Source(Protocol):
    """What the auditor needs of a source."""

    @property
    def name(self) -> str:
        """The source in a canonical spelling: the state folder remembers it and refuses any other."""
        ...

    def names(self) -> Iterator[str]:
        """Every blob name the source lists, in no particular order (each exactly once)."""
        ...

    def epoch_names(self, epoch: int) -> list[str]:
        """The names listed under ``EPOCH/`` (one, normally): asking about a few epochs costs a few small
        requests, where listing a bucket of a million epochs costs a thousand large ones."""
        ...

    def read(self, name: str) -> bytes:
        """The blob `name`, whole."""
        ...


def open_source(spec: str, *, timeout: float = 30.0) -> Source:
    """The source `spec` names: an ``http://`` or ``https://`` URL is a bucket, anything else a folder."""
    if spec.startswith(("http://", "https://")):
        return BucketSource(spec, timeout=timeout)
    return FolderSource(spec)


class FolderSource:
    """A folder holding each blob as the file ``DIR/EPOCH/PREVIOUS_ROOT/CURRENT_ROOT`` (its name as a
    relative path): what ``aws s3 sync`` of WhatsApp's bucket makes.

    Every file counts as a listed blob, so a stray file is a malformed name the auditor stops on: a folder
    that is a mirror must be nothing but the mirror."""

    def __init__(self, path: str | os.PathLike[str], *, max_blob_bytes: int = MAX_BLOB_BYTES) -> None:
        self._root = os.path.realpath(os.fspath(path))
        self._max_blob_bytes = max_blob_bytes
        if not os.path.isdir(self._root):
            raise SourceError(f"{os.fspath(path)} is not a folder (name a folder of audit blobs or an http(s) URL)")

    @property
    def name(self) -> str:
        return self._root

    def names(self) -> Iterator[str]:
        def refuse(error: OSError) -> None:
            raise SourceError(f"cannot list {error.filename}: {error.strerror}")

        for folder, subfolders, files in os.walk(self._root, onerror=refuse):
            subfolders.sort()
            relative = os.path.relpath(folder, self._root)
            for file in sorted(files):
                path = file if relative == "." else os.path.join(relative, file)
                yield path.replace(os.sep, "/")

    def epoch_names(self, epoch: int) -> list[str]:
        folder = os.path.join(self._root, str(epoch))
        if not os.path.isdir(folder):
            return []
        return sorted(f"{epoch}/{rest}" for rest in FolderSource(folder).names())

    def read(self, name: str) -> bytes:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise SourceError(f"{name!r} is not a blob name in this folder")
        path = os.path.join(self._root, *parts)
        try:
            with open(path, "rb") as f:
                data = f.read(self._max_blob_bytes + 1)
        except OSError as e:
            raise SourceError(f"cannot read {path}: {e.strerror}") from None
        if len(data) > self._max_blob_bytes:
            raise SourceError(f"{path} holds more than {self._max_blob_bytes} bytes: not an audit blob")
        return data


class BucketSource:
    """An S3-style HTTP bucket (``ListObjectsV2``), such as WhatsApp's CloudFront distribution.

    Transient failures (a timeout, a refused connection, HTTP 5xx or 429) are retried `retries` times with
    doubling pauses from `backoff` seconds: a run over hundreds of thousands of epochs should not stop on
    one dropped connection. A 4xx answer is not retried."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 3, backoff: float = 1.0,
                 max_listing_bytes: int = MAX_LISTING_BYTES, max_blob_bytes: int = MAX_BLOB_BYTES) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SourceError(f"{url!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            raise SourceError(f"{url!r}: name the bucket without a query or fragment")
        self._url = url.rstrip("/")
        # A bucket at the host's root lists at "/"; a path-style bucket (https://host/bucket) at its path.
        self._listing_url = self._url if urllib.parse.urlsplit(self._url).path else self._url + "/"
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._max_listing_bytes = max_listing_bytes
        self._max_blob_bytes = max_blob_bytes

    @property
    def name(self) -> str:
        return self._url

    def names(self) -> Iterator[str]:
        return self._list({})

    def epoch_names(self, epoch: int) -> list[str]:
        return list(self._list({"prefix": f"{epoch}/"}))

    def _list(self, base: dict[str, str]) -> Iterator[str]:
        """The keys a listing with the parameters `base` gives, page after page."""
        params: dict[str, str] = {}
        seen_marks: set[str] = set()
        while True:
            query = urllib.parse.urlencode({"list-type": "2", **base, **params})
            page = self._get(f"{self._listing_url}?{query}", self._max_listing_bytes, "the listing")
            keys, truncated, token = _parse_listing(page, self._url)
            yield from keys
            if not truncated:
                return
            if token is not None:
                params = {"continuation-token": token}
            elif keys:
                params = {"start-after": keys[-1]}
            else:
                raise SourceError(f"{self._url}: a listing page says more follow but gives no key or token to "
                                  "continue from")
            mark = next(iter(params.values()))
            if mark in seen_marks:  # a bucket that pages in a circle would list forever
                raise SourceError(f"{self._url}: the listing repeats a page (continuing from {mark!r} twice)")
            seen_marks.add(mark)

    def read(self, name: str) -> bytes:
        return self._get(f"{self._url}/{urllib.parse.quote(name, safe='/')}", self._max_blob_bytes,
                         f"blob {name}")

    def _get(self, url: str, limit: int, what: str) -> bytes:
        """The body of `url`, at most `limit` bytes, retrying transient failures."""
        pause = self._backoff
        for attempt in range(self._retries + 1):
            try:
                return _fetch(url, limit, self._timeout, what)
            except _Transient as e:
                if attempt == self._retries:
                    raise SourceError(str(e)) from None
            time.sleep(pause)
            pause *= 2
        raise AssertionError("unreachable")


class _Transient(SourceError):
    """A failure worth another try (the network, or the server's own trouble)."""


def _fetch(url: str, limit: int, timeout: float, what: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "veritree-akd-audit"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise SourceError(f"cannot read {what}: {url} sends {length} bytes, more than {limit}")
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as e:
        message = f"cannot read {what}: {url} answered HTTP {e.code} {e.reason}"
        raise (_Transient if e.code >= 500 or e.code == 429 else SourceError)(message) from None
    except urllib.error.URLError as e:
        raise _Transient(f"cannot read {what}: {url}: {e.reason}") from None
    except (TimeoutError, ConnectionError) as e:
        raise _Transient(f"cannot read {what}: {url}: {e or type(e).__name__}") from None
    except OSError as e:  # anything else the socket raises mid-body
        raise _Transient(f"cannot read {what}: {url}: {e}") from None
    if len(data) > limit:
        raise SourceError(f"cannot read {what}: {url} sends more than {limit} bytes")
    return data


def _parse_listing(page: bytes, url: str) -> tuple[list[str], bool, str | None]:
    """(keys, truncated, continuation token) of one ``ListBucketResult`` page, whatever its namespace.

    A listing never has a document type: one that declares entities could expand a page within its byte
    bound to gigabytes (expat 2.4 and later refuse such amplification; older ones, linked by some Pythons,
    do not), so any ``<!DOCTYPE`` is refused before parsing."""
    if b"<!DOCTYPE" in page:
        raise SourceError(f"{url}: the listing declares a document type, which no bucket listing has")
    try:
        root = ET.fromstring(page)
    except (ET.ParseError, LookupError, ValueError) as e:  # LookupError: an encoding Python does not know
        raise SourceError(f"{url}: the listing is not XML ({e})") from None
    if _local(root.tag) != "ListBucketResult":
        raise SourceError(f"{url}: the listing is a <{_local(root.tag)}>, not a ListBucketResult")
    keys: list[str] = []
    truncated, token = False, None
    for child in root:
        tag = _local(child.tag)
        if tag == "Contents":
            named = [c for c in child if _local(c.tag) == "Key"]
            if len(named) != 1 or len(named[0]):
                raise SourceError(f"{url}: the listing has an entry without one <Key> of plain text")
            keys.append(named[0].text or "")
        elif tag == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif tag == "NextContinuationToken" and child.text:
            token = child.text
    return keys, truncated, token


def _local(tag: str) -> str:
    """An element's name without its ``{namespace}``."""
    return tag.rpartition("}")[2]
