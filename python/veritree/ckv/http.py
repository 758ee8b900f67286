"""A verifying client's way to a directory over HTTP (`veritree.ckv.server`).

It only moves bytes: every answer is checked by `veritree.KtClient`, so the
transport trusts nothing it receives and only sorts failures into the two a
client acts on differently: its own bad request (ValueError) and a directory
that did not answer (`Unavailable`, worth retrying later). A 409 is the
directory saying the client has seen more of the log than it serves, with its
signed head: `LogBehindError`, which the client judges. An answer larger
than `max_response_bytes` is not read past that size: `Unavailable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from veritree._extras import server_extra_missing

try:
    import httpx
except ModuleNotFoundError as e:
    raise server_extra_missing(e, __name__) from e

from veritree._native import LogBehindError, kt_update_request_values
from veritree.ckv import state as st
from veritree.ckv.transport import Health, Unavailable

__all__ = ["Health", "HttpTransport"]

_OCTETS = "application/octet-stream"

# The largest honest answer is contact monitoring of a full chunk (255 map
# entries, each a position of the label on the log): measured at 0.50 MB for
# a log of 3,300 entries and 20,000 labels, 0.63 MB for 30,000 entries and
# 200,000 labels. Its proofs grow with the logarithms of those, about 0.13 MB
# per tenfold growth of both, so a log of billions should answer about 1.3 MB
# (other answers are smaller: a search carries one value, at most the
# server's 64 KiB request limit). 8 MiB keeps a wide margin while bounding
# what a hostile or broken directory can make a client hold in memory.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class HttpTransport:
    """The `Transport` of a directory served at `base_url` (e.g. ``http://127.0.0.1:8000``).

    A `client` passed in is used as is (for its pool, proxies or TLS
    settings) and left open by `close`; `timeout` applies to every request
    but updates: one with new values waits for the directory's next
    publication (the server holds it up to 30 s), so it gets `update_timeout`.
    An answer over `max_response_bytes` raises `Unavailable`: one announced
    (Content-Length) is not read at all, one sent without is read no further
    than that (plus one network read). Answers are asked for and taken
    unencoded (no gzip), so their size on the wire is their size in memory.
    `tokens` maps identifiers to their registration tokens, sent as bearer
    tokens with their updates (a directory run with a registration secret
    refuses updates without: `veritree.ckv.registration`).
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, update_timeout: float = 60.0,
                 max_response_bytes: int = MAX_RESPONSE_BYTES, client: httpx.Client | None = None,
                 tokens: Mapping[bytes, str] | None = None) -> None:
        if max_response_bytes < 1:
            raise ValueError("max_response_bytes must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.update_timeout = update_timeout
        self.max_response_bytes = max_response_bytes
        self._owned = client is None
        self._client = httpx.Client() if client is None else client
        self.tokens = dict(tokens or {})

    def config(self) -> bytes:
        return self._send("GET", "/v1/config")

    def search(self, request: bytes) -> bytes:
        return self._post("/v1/search", request)

    def monitor(self, request: bytes) -> bytes:
        return self._post("/v1/monitor", request)

    def distinguished(self, request: bytes) -> bytes:
        return self._post("/v1/distinguished", request)

    def owner_init(self, request: bytes) -> bytes:
        return self._post("/v1/owner/init", request)

    def owner_monitor(self, request: bytes) -> bytes:
        return self._post("/v1/owner/monitor", request)

    def update(self, request: bytes) -> bytes:
        """The UpdateResponse; a request with new values returns once they are published."""
        token = self.tokens.get(kt_update_request_values(request)[0]) if self.tokens else None
        auth = {"authorization": f"Bearer {token}"} if token else {}
        return self._send("POST", "/v1/update", request, self.update_timeout, auth)

    def auditor_update(self, index: int) -> bytes:
        """The AuditorUpdate of log entry `index` (ValueError if there is none)."""
        return self._send("GET", f"/v1/auditor/update/{index}")

    def set_auditor_head(self, head: bytes) -> None:
        """Hands the directory its auditor's signed AuditorTreeHead."""
        self._post("/v1/auditor/head", head)

    def health(self) -> Health:
        """The directory's size and last publication time.

        A directory whose writes fail (a full disk, say) answers 503 with the
        reason, which raises `Unavailable` with that reason in its message: it
        serves what it has but publishes nothing until its storage works.
        """
        data = self._send("GET", "/v1/health")
        try:
            answer = st.mapping(json.loads(data), "the answer")  # fields a newer server adds are ignored
            health = Health(size=st.u64(answer["size"], "size"),
                            last_publish_ms=st.u64_or_none(answer["last_publish_ms"], "last_publish_ms"))
            if "replica_lag_ms" in answer:
                health["replica_lag_ms"] = st.u64(answer["replica_lag_ms"], "replica_lag_ms")
            return health
        except (ValueError, KeyError, RecursionError) as e:
            raise Unavailable(f"GET {self.base_url}/v1/health: not a health answer: {data[:200]!r}") from e

    def close(self) -> None:
        if self._owned:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _post(self, path: str, body: bytes) -> bytes:
        return self._send("POST", path, body)

    def _send(self, method: str, path: str, body: bytes | None = None, timeout: float | None = None,
              extra: Mapping[str, str] | None = None) -> bytes:
        """The body of a 2xx answer; any other raises (see the class)."""
        url = self.base_url + path
        headers = {"accept-encoding": "identity", **(extra or {})}  # identity: no decompression to outgrow the cap
        if body is not None:
            headers["content-type"] = _OCTETS
        request = self._client.build_request(method, url, content=body, headers=headers,
                                             timeout=timeout or self.timeout)
        try:
            response = self._client.send(request, stream=True)
            try:
                data = self._read(response, method, url)
            finally:
                response.close()  # an answer not read to its end leaves its connection closed, not pooled
        except httpx.TransportError as e:  # refused, reset, timed out, unreadable
            raise Unavailable(f"{method} {url}: {type(e).__name__}: {e}") from e
        status = response.status_code
        if 200 <= status < 300:
            return data
        if status == 409:
            raise LogBehindError(f"the directory refused {method} {path} (409): {_reason(response, data)}",
                                 _signed_head(data))
        if 400 <= status < 500:
            raise ValueError(f"the directory refused {method} {path} ({status}): {_reason(response, data)}")
        raise Unavailable(f"{method} {url}: the directory answered {status}: {_reason(response, data)}")

    def _read(self, response: httpx.Response, method: str, url: str) -> bytes:
        """The answer's body, read no further than `max_response_bytes` (and one network read)."""
        cap = self.max_response_bytes
        over = f"{method} {url}: the answer is over max_response_bytes ({cap} bytes)"
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > cap:
            raise Unavailable(f"{over}: it announces {length}")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise Unavailable(f"{method} {url}: an answer in {encoding} encoding, which was not asked for")
        # An answer made in memory (by a mock transport) comes already read.
        chunks = iter([response.content]) if response.is_stream_consumed else response.iter_raw()
        data = bytearray()
        for chunk in chunks:
            data += chunk
            if len(data) > cap:
                raise Unavailable(over)
        return bytes(data)


def _field(data: bytes, key: str) -> object:
    """`key` of the JSON object `data`, or None."""
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return answer.get(key) if isinstance(answer, dict) else None


def _reason(response: httpx.Response, data: bytes) -> str:
    """The server's `{"error": ...}`, or the start of whatever else it said."""
    reason = _field(data, "error")
    if isinstance(reason, str):
        return reason
    return data[:200].decode("utf-8", "replace") or response.reason_phrase


def _signed_head(data: bytes) -> bytes:
    """The signed head a 409 carries (empty if it carries none: the client then finds the refusal unfounded)."""
    head = _field(data, "signed_head")
    try:
        return bytes.fromhex(head) if isinstance(head, str) else b""
    except ValueError:
        return b""
