"""A verifying client's way to a directory over HTTP (`veritree.ckv.server`).

It only moves bytes: every answer is checked by `veritree.KtClient`, so the
transport trusts nothing it receives and only sorts failures into the two a
client acts on differently: its own bad request (ValueError) and a directory
that did not answer (`Unavailable`, worth retrying later). A 409 is the
directory saying the client has seen more of the log than it serves, with its
signed head: `LogBehindError`, which the client judges.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self, TypedDict

import httpx

from veritree._native import LogBehindError
from veritree.ckv.transport import Unavailable

__all__ = ["Health", "HttpTransport"]

_OCTETS = "application/octet-stream"


class Health(TypedDict):
    """The directory's size and last publication time (ms since the epoch; None before the first)."""

    size: int
    last_publish_ms: int | None


class HttpTransport:
    """The `Transport` of a directory served at `base_url` (e.g. ``http://127.0.0.1:8000``).

    A `client` passed in is used as is (for its pool, proxies or TLS
    settings) and left open by `close`; `timeout` applies to every request
    but updates: one with new values waits for the directory's next
    publication (the server holds it up to 30 s), so it gets `update_timeout`.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0, update_timeout: float = 60.0,
                 client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.update_timeout = update_timeout
        self._owned = client is None
        self._client = httpx.Client() if client is None else client

    def config(self) -> bytes:
        return self._send("GET", "/v1/config").content

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
        return self._send("POST", "/v1/update", request, self.update_timeout).content

    def auditor_update(self, index: int) -> bytes:
        """The AuditorUpdate of log entry `index` (ValueError if there is none)."""
        return self._send("GET", f"/v1/auditor/update/{index}").content

    def set_auditor_head(self, head: bytes) -> None:
        """Hands the directory its auditor's signed AuditorTreeHead."""
        self._post("/v1/auditor/head", head)

    def health(self) -> Health:
        answer = self._send("GET", "/v1/health").json()
        return Health(size=int(answer["size"]), last_publish_ms=answer["last_publish_ms"])

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
        return self._send("POST", path, body).content

    def _send(self, method: str, path: str, body: bytes | None = None, timeout: float | None = None) -> httpx.Response:
        url = self.base_url + path
        headers = {} if body is None else {"content-type": _OCTETS}
        try:
            response = self._client.request(method, url, content=body, headers=headers,
                                            timeout=timeout or self.timeout)
        except httpx.TransportError as e:  # refused, reset, timed out, unreadable
            raise Unavailable(f"{method} {url}: {type(e).__name__}: {e}") from e
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 409:
            raise LogBehindError(f"the directory refused {method} {path} (409): {_reason(response)}",
                                 _signed_head(response))
        if 400 <= status < 500:
            raise ValueError(f"the directory refused {method} {path} ({status}): {_reason(response)}")
        raise Unavailable(f"{method} {url}: the directory answered {status}: {_reason(response)}")


def _reason(response: httpx.Response) -> str:
    """The server's `{"error": ...}`, or the start of whatever else it said."""
    try:
        reason = response.json()["error"]
        if isinstance(reason, str):
            return reason
    except (ValueError, KeyError, TypeError):
        pass
    return response.text[:200] or response.reason_phrase


def _signed_head(response: httpx.Response) -> bytes:
    """The signed head a 409 carries (empty if it carries none: the client then finds the refusal unfounded)."""
    try:
        head = response.json()["signed_head"]
        return bytes.fromhex(head) if isinstance(head, str) else b""
    except (ValueError, KeyError, TypeError):
        return b""
