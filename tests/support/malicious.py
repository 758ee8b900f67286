"""A malicious directory for the attack catalogue (`test_attacks.py`).

The directory's operator holds its signing and VRF keys, so it can make any
tree it likes and sign it; what it cannot do is make two trees look like one,
sign for an account key, or answer a client's request from another view
without the proofs failing. The harness gives a test:

* `World`: an honest on-disk directory, a fake clock, and the means to make
  the directory's other selves: `World.copy()` opens a copy of its folder with
  the same keys and options (the same history so far: a fork or, kept as it
  is, the directory restored from an old backup).
* `Malicious`: a `Transport` that answers every request kind from the honest
  directory unless a rule for that kind says otherwise. A rule sees the
  request and the honest answerer, and may answer from another directory,
  tamper with the bytes, replay, refuse (ValueError), claim the client is
  ahead of the log (LogBehindError) or go silent (Unavailable).
* `serve()`: the same lying directory over HTTP (the status codes of
  `veritree.ckv.server`: 400 refusal, 409 with a signed head, 503 silence),
  for clients on `HttpTransport`.
* Wire helpers that edit the draft's encodings in place (the head's
  signature, an UpdateResponse's values, a SearchResponse's version).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import veritree
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from veritree.ckv.accounts import AccountKey, Device
from veritree.ckv.client import CkvClient
from veritree.ckv.http import HttpTransport
from veritree.ckv.server import serve_in_thread
from veritree.ckv.transport import LocalTransport, Transport, Unavailable

from clock import Clock

KEYS = (b"\x01" * 32, b"\x02" * 32)
#: The reasonable monitoring window: entries are 2 s apart, so each new
#: entry is distinguished unless published within a second of the last.
RMW = 1_000
KINDS = ("search", "monitor", "distinguished", "owner_init", "owner_monitor", "update")

Answer = Callable[[bytes], bytes]
#: A rule: (request, the honest answer) -> the answer the client gets.
Rule = Callable[[bytes, Answer], bytes]


class Malicious:
    """A directory that answers as its rules say, honestly otherwise."""

    def __init__(self, honest: Transport) -> None:
        self.honest = honest
        self.rules: dict[str, Rule] = {}
        #: (kind, request) of every request received, in order.
        self.asked: list[tuple[str, bytes]] = []
        #: (kind, request, answer) of every request answered, in order.
        self.answered: list[tuple[str, bytes, bytes]] = []

    def lie(self, rule: Rule, *kinds: str) -> Malicious:
        """Answers the request `kinds` by `rule` from now on."""
        assert kinds and set(kinds) <= set(KINDS), kinds
        for kind in kinds:
            self.rules[kind] = rule
        return self

    def honestly(self, *kinds: str) -> None:
        """Answers `kinds` (all if none named) honestly again."""
        for kind in kinds or KINDS:
            self.rules.pop(kind, None)

    def count(self, kind: str) -> int:
        return sum(k == kind for k, _ in self.asked)

    def _answer(self, kind: str, request: bytes) -> bytes:
        self.asked.append((kind, request))
        forward: Answer = getattr(self.honest, kind)
        rule = self.rules.get(kind)
        answer = forward(request) if rule is None else rule(request, forward)
        self.answered.append((kind, request, answer))
        return answer

    def last(self, kind: str) -> tuple[bytes, bytes]:
        """The last (request, answer) of `kind`."""
        return next((q, a) for k, q, a in reversed(self.answered) if k == kind)

    def config(self) -> bytes:
        return self.honest.config()

    def search(self, request: bytes) -> bytes:
        return self._answer("search", request)

    def monitor(self, request: bytes) -> bytes:
        return self._answer("monitor", request)

    def distinguished(self, request: bytes) -> bytes:
        return self._answer("distinguished", request)

    def owner_init(self, request: bytes) -> bytes:
        return self._answer("owner_init", request)

    def owner_monitor(self, request: bytes) -> bytes:
        return self._answer("owner_monitor", request)

    def update(self, request: bytes) -> bytes:
        return self._answer("update", request)


# -- rules ---------------------------------------------------------------


def refuse(reason: str = "no such label") -> Rule:
    """A 400 in place of an answer."""

    def rule(request: bytes, honest: Answer) -> bytes:
        raise ValueError(reason)

    return rule


def refuse_catch_up(reason: str = "no version of the label is newer than that, and no values to add") -> Rule:
    """Refuses an owner's UpdateRequests that only ask what is new (the
    honest refusal when nothing is), and forwards those adding values."""

    def rule(request: bytes, honest: Answer) -> bytes:
        if not veritree.kt_update_request_values(request)[1]:
            raise ValueError(reason)
        return honest(request)

    return rule


def silent(request: bytes, honest: Answer) -> bytes:
    raise Unavailable("connection refused")


def answer_from(other: Transport, kind: str) -> Rule:
    """Answers from another directory (a fork, an old copy)."""
    answer: Answer = getattr(other, kind)
    return lambda request, honest: answer(request)


def behind(head: bytes, message: str = "the user claims more entries than the log has") -> Rule:
    """Refuses as a log behind the client, showing `head` as its own."""

    def rule(request: bytes, honest: Answer) -> bytes:
        raise veritree.LogBehindError(message, head)

    return rule


def tamper(edit: Callable[[bytes], bytes]) -> Rule:
    """The honest answer, edited."""
    return lambda request, honest: edit(honest(request))


def rewrite_request(edit: Callable[[bytes], bytes]) -> Rule:
    """The honest answer to another request than the client's."""
    return lambda request, honest: honest(edit(request))


def replay(recorded: dict[str, bytes]) -> Rule:
    """Always answers with `recorded["answer"]`, taken from the first honest answer."""

    def rule(request: bytes, honest: Answer) -> bytes:
        if "answer" not in recorded:
            recorded["answer"] = honest(request)
        return recorded["answer"]

    return rule


def once(rule: Rule) -> Rule:
    """`rule` for the first request, honest answers after."""
    used = [False]

    def first(request: bytes, honest: Answer) -> bytes:
        if used[0]:
            return honest(request)
        used[0] = True
        return rule(request, honest)

    return first


# -- the draft's encodings, edited in place ------------------------------


def head_length(response: bytes) -> int:
    """Bytes of a response's FullTreeHead (contact monitoring mode): 1 for
    'same head', else type, tree_size, signature<0..2^16-1>."""
    if response[0] == 1:
        return 1
    assert response[0] == 2, "an updated head"
    return 11 + int.from_bytes(response[9:11], "big")


def tree_size(response: bytes) -> int:
    assert response[0] == 2, "an updated head"
    return int.from_bytes(response[1:9], "big")


def flip_signature(response: bytes) -> bytes:
    """The tree head's signature with one bit flipped."""
    assert response[0] == 2, "only an updated head carries a signature"
    out = bytearray(response)
    out[11 + 17] ^= 0x10
    return bytes(out)


def resign(response: bytes, signature: bytes) -> bytes:
    assert response[0] == 2 and len(signature) == 64
    return response[:11] + signature + response[11 + 64:]


def head_tbs(config: bytes, size: int, root: bytes) -> bytes:
    """TreeHeadTBS: the configuration, tree_size, root."""
    return config + size.to_bytes(8, "big") + root


def signed_head(size: int, root: bytes, signature: bytes) -> bytes:
    """A SignedHead as a LogBehindError carries it: size, root, signature<0..2^16-1>."""
    return size.to_bytes(8, "big") + root + len(signature).to_bytes(2, "big") + signature


def update_values(response: bytes) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
    """Where an UpdateResponse keeps its fields: (offset of position, value
    spans, opening spans)."""
    at = head_length(response)
    position = at
    at += 8
    values = []
    count = response[at]
    at += 1
    for _ in range(count):
        n = int.from_bytes(response[at:at + 4], "big")
        values.append((at, at + 4 + n))
        at += 4 + n
    openings = []
    count = response[at]
    at += 1
    for _ in range(count):
        openings.append((at, at + 16))
        at += 16
    return position, values, openings


def reverse_update(response: bytes, *, openings_too: bool) -> bytes:
    """An UpdateResponse listing its values (and openings) in reverse order."""
    _, values, openings = update_values(response)
    assert len(values) >= 2, "reordering needs two versions at one entry"
    spans = [values] + ([openings] if openings_too else [])
    out = response
    for fields in spans:
        parts = [response[a:b] for a, b in fields]
        start, end = fields[0][0], fields[-1][1]
        out = out[:start] + b"".join(reversed(parts)) + out[end:]
    return out


def drop_last_version(response: bytes) -> bytes:
    """An UpdateResponse that leaves out the last version its entry added."""
    _, values, openings = update_values(response)
    assert values and len(values) == len(openings)
    out = bytearray(response)
    del out[openings[-1][0]:openings[-1][1]]
    out[openings[0][0] - 1] -= 1
    del out[values[-1][0]:values[-1][1]]
    out[values[0][0] - 1] -= 1
    return bytes(out)


def garble_value(response: bytes) -> bytes:
    """An UpdateResponse whose last value has one bit flipped (in a device
    key of the set: its signature no longer verifies)."""
    _, values, _ = update_values(response)
    out = bytearray(response)
    out[values[-1][1] - 70] ^= 1
    return bytes(out)


def with_values(response: bytes, values: list[bytes]) -> bytes:
    """An UpdateResponse listing `values` in place of its own (as many)."""
    _, spans, _ = update_values(response)
    assert len(spans) == len(values)
    start, end = spans[0][0], spans[-1][1]
    return response[:start] + b"".join(len(v).to_bytes(4, "big") + v for v in values) + response[end:]


def without_view(request: bytes) -> bytes:
    """A request as a client that has seen no tree makes it (`last` absent)."""
    assert request[0] == 1, "a request from a client with a view"
    return b"\x00" + request[9:]


def lower_greatest(request: bytes) -> bytes:
    """An OwnerMonitorRequest naming one version less than the owner knows:
    the directory's answer then stops at the entry holding the greatest."""
    assert request[-5] == 1, "the owner knows a version"
    greatest = int.from_bytes(request[-4:], "big")
    assert greatest >= 1
    return request[:-4] + (greatest - 1).to_bytes(4, "big")


def greatest_as(request: bytes, version: int) -> bytes:
    """A greatest-version SearchRequest turned into one for `version`."""
    assert request[-1] == 0, "a greatest-version search names no version"
    return request[:-1] + b"\x01" + version.to_bytes(4, "big")


def claim_older(version: int) -> Rule:
    """Answers a greatest-version search with the proof of an older
    version, claimed as the greatest (a version omitted)."""

    def rule(request: bytes, honest: Answer) -> bytes:
        answer = honest(greatest_as(request, version))
        at = head_length(answer)
        return answer[:at] + version.to_bytes(4, "big") + answer[at:]

    return rule


# -- over HTTP ------------------------------------------------------------


def app_of(transport: Transport) -> FastAPI:
    """An HTTP face for `transport`, with `veritree.ckv.server`'s statuses."""
    app = FastAPI()

    async def call(fn: Answer, body: bytes) -> Response:
        try:
            answer = await anyio.to_thread.run_sync(fn, body)
        except veritree.LogBehindError as e:
            message, head = e.args
            return JSONResponse({"error": message, "signed_head": head.hex()}, 409)
        except ValueError as e:
            return JSONResponse({"error": str(e)}, 400)
        except Unavailable as e:
            return JSONResponse({"error": str(e)}, 503)
        return Response(answer, media_type="application/octet-stream")

    @app.get("/v1/config")
    async def config() -> Response:
        return Response(transport.config(), media_type="application/octet-stream")

    def route(kind: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return await call(getattr(transport, kind), await request.body())

        return endpoint

    for path, kind in [("/v1/search", "search"), ("/v1/monitor", "monitor"),
                       ("/v1/distinguished", "distinguished"), ("/v1/owner/init", "owner_init"),
                       ("/v1/owner/monitor", "owner_monitor"), ("/v1/update", "update")]:
        app.add_api_route(path, route(kind), methods=["POST"])
    return app


@contextmanager
def serve(transport: Transport) -> Iterator[HttpTransport]:
    """`transport` served over HTTP on localhost, and a client transport to it."""
    with serve_in_thread(app_of(transport)) as url, HttpTransport(url, timeout=10) as http:
        yield http


# -- the implicit binary search tree over log entries (the draft's) ---------


def _level(x: int) -> int:
    return (~x & (x + 1)).bit_length() - 1  # trailing ones


def _left(x: int) -> int | None:
    k = _level(x)
    return None if k == 0 else x ^ (1 << (k - 1))


def _right(x: int, n: int) -> int | None:
    k = _level(x)
    if k == 0 or x + 1 >= n:
        return None
    y = x ^ (3 << (k - 1))
    while y >= n:
        left = _left(y)
        assert left is not None
        y = left
    return y


def frontier(n: int) -> list[int]:
    """The root of a log of `n` entries, its right child, ..., the last entry."""
    x: int | None = (1 << (n.bit_length() - 1)) - 1
    out = []
    while x is not None:
        out.append(x)
        x = _right(x, n)
    return out


# -- the world --------------------------------------------------------------


class World:
    """An honest directory kept in a folder (so that it can be copied), a
    fake clock, and the clients' way to it: in process, or over HTTP when
    `http` (each transport then gets its own server)."""

    def __init__(self, folder: Path, *, http: bool = False, **options: Any) -> None:
        self.folder = folder
        self.options: dict[str, Any] = {"reasonable_monitoring_window": RMW, **options}
        self.clock = Clock()
        self.http = http
        self.stack = ExitStack()
        self.copies = 0
        self.d = self.open(folder / "honest", create=True)
        self.d.publish(self.clock.tick())
        self.transport = LocalTransport(self.d, self.clock.tick)

    def open(self, path: Path, create: bool = False) -> veritree.KtDirectory:
        d = veritree.KtDirectory.open(path, *KEYS, create=create, **self.options)
        self.stack.callback(d.close)
        return d

    def copy(self, d: veritree.KtDirectory | None = None) -> veritree.KtDirectory:
        """Another directory with the same keys and history as `d` so far."""
        d = d or self.d
        assert d.path is not None
        self.copies += 1
        path = self.folder / f"copy{self.copies}"
        shutil.copytree(d.path, path, ignore=shutil.ignore_patterns("lock"))
        return self.open(path)

    def local(self, d: veritree.KtDirectory) -> LocalTransport:
        return LocalTransport(d, self.clock.tick)

    def malicious(self, d: veritree.KtDirectory | None = None) -> Malicious:
        return Malicious(self.local(d or self.d))

    def wire(self, transport: Transport) -> Transport:
        """What a client uses to reach `transport`: itself, or HTTP to it."""
        return self.stack.enter_context(serve(transport)) if self.http else transport

    def client(self, transport: Transport | None = None, **options: Any) -> CkvClient:
        """A client of `transport` (the honest directory if None) on the world's clock."""
        return CkvClient.connect(self.wire(transport or self.transport), **{"clock": self.clock, **options})

    def account(self, name: bytes, transport: Transport | None = None, **options: Any) -> CkvClient:
        """A client with an account under `user:<name>` and a phone."""
        c = self.client(transport, **options)
        c.create_account([b"user:" + name], Device(b"phone", name.ljust(32, b".")))
        return c

    def publish(self, *staged: tuple[bytes, bytes], d: veritree.KtDirectory | None = None,
                at: int | None = None) -> int:
        """Publishes `staged` as one entry, 2 s after the last (or at `at`)."""
        d = d or self.d
        for label, value in staged:
            d.stage(label, value)
        return d.publish(self.clock.tick() if at is None else at)

    def publish_undistinguished(self, *staged: tuple[bytes, bytes], d: veritree.KtDirectory | None = None) -> int:
        """Publishes `staged` as an entry that is not distinguished (yet): 100 ms
        after its parent in the implicit tree, less than the RMW. Empty entries
        come first until the next entry's parent is the entry before it."""
        d = d or self.d
        while frontier(d.size + 1)[-2:-1] != [d.size - 1]:
            self.publish(d=d)
        self.clock.tick(100)
        return self.publish(*staged, d=d, at=self.clock())

    def close(self) -> None:
        self.stack.close()


def head_of(d: veritree.KtDirectory, now: int) -> tuple[int, bytes, bytes]:
    """The directory's current signed head (size, root, signature), as a fresh client verifies it."""
    probe = veritree.KtClient(d.config)
    request = probe.distinguished_request()
    probe.verify_distinguished(request, d.distinguished(request), now)
    assert probe.signed_head is not None
    return probe.signed_head


class Audited(LocalTransport):
    """A directory in third-party auditing mode whose auditor signs each
    entry as soon as it is published (updates publish at once)."""

    def __init__(self, directory: veritree.KtDirectory, clock: Callable[[], int],
                 auditor: veritree.KtAuditor) -> None:
        super().__init__(directory, clock)
        self.auditor = auditor
        self.audit()

    def audit(self) -> None:
        head = b""
        while self.auditor.size < self.directory.size:
            head = self.auditor.process(self.directory.auditor_update(self.auditor.size))
        if head:
            self.directory.set_auditor_head(head)

    def update(self, request: bytes) -> bytes:
        response = self.directory.update(request)
        if response is None:
            self.directory.publish(self.clock())
            self.audit()
            response = self.directory.update(request)
        assert response is not None, "a published update is answered"
        return response


def key_of(client: CkvClient) -> AccountKey:
    """The account key of a client that holds it."""
    assert client.own is not None and client.own.secret is not None
    return AccountKey(client.own.secret)


def set_of(client: CkvClient, identifier: bytes, epoch: int, *devices: Device) -> bytes:
    """A device set for `identifier` signed by `client`'s account key."""
    return key_of(client).sign(identifier, devices, epoch)
