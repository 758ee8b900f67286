"""How a verifying client reaches a directory: the KEYTRANS messages as
bytes, over HTTP (`veritree.ckv.http`) or in the same process."""

from __future__ import annotations

from collections.abc import Callable
from typing import NotRequired, Protocol, TypedDict

from veritree._native import KtDirectory


class Transport(Protocol):
    """One method per request kind; each takes and returns the draft's wire
    encoding. Refusals raise ValueError (a bad request) or
    `veritree.ckv.transport.Unavailable` (the directory did not answer)."""

    def config(self) -> bytes: ...
    def search(self, request: bytes) -> bytes: ...
    def monitor(self, request: bytes) -> bytes: ...
    def distinguished(self, request: bytes) -> bytes: ...
    def owner_init(self, request: bytes) -> bytes: ...
    def owner_monitor(self, request: bytes) -> bytes: ...
    def update(self, request: bytes) -> bytes:
        """The UpdateResponse; a request with new values returns once they are published."""
        ...


# The /v1/health answers, defined once: `HttpTransport.health` returns a
# Health, and `veritree.ckv.server` answers both and derives its OpenAPI
# models from them (their docstrings are the models' descriptions).
class Health(TypedDict):
    """How far the log has grown and when it last did (the newest entry's timestamp, ms since the epoch;
    null before the first); for a server reading a database replica, how far that replica is behind its
    primary (ms)."""

    size: int
    last_publish_ms: int | None
    replica_lag_ms: NotRequired[int]


class Unhealthy(Health):
    """The health of a directory whose writes fail (answered with status 503): why, besides the rest."""

    error: str


class Unavailable(Exception):
    """The directory did not answer (down, timed out, or a server error)."""


class LocalTransport:
    """A directory in the same process; an update with new values is
    published at once, stamped by `clock` (ms since the epoch)."""

    def __init__(self, directory: KtDirectory, clock: Callable[[], int]) -> None:
        self.directory = directory
        self.clock = clock

    def config(self) -> bytes:
        return self.directory.config

    def search(self, request: bytes) -> bytes:
        return self.directory.search(request)

    def monitor(self, request: bytes) -> bytes:
        return self.directory.monitor(request)

    def distinguished(self, request: bytes) -> bytes:
        return self.directory.distinguished(request)

    def owner_init(self, request: bytes) -> bytes:
        return self.directory.owner_init(request)

    def owner_monitor(self, request: bytes) -> bytes:
        return self.directory.owner_monitor(request)

    def update(self, request: bytes) -> bytes:
        response = self.directory.update(request)
        if response is None:
            self.directory.publish(self.clock())
            response = self.directory.update(request)
        assert response is not None, "a published update is answered"
        return response
