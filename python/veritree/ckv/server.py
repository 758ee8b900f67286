"""The key directory's HTTP service: the KEYTRANS wire messages over HTTP, and
a publisher that turns staged updates into log entries on a fixed cadence.

Every call into the directory runs in a worker thread: the Rust core releases
the GIL and may take milliseconds, which the event loop must not wait out.

While the directory's writes fail (a publication, heartbeats included, or
storing the auditor's head raises: a full disk, EIO, a quota), `/v1/health`
answers 503 with the reason, and 200 again once a write succeeds. The
logger `veritree.ckv.server` says so: ERROR when a kind of write starts
failing (once per run of failures), WARNING when writes work again.

A request body must arrive whole within `body_timeout` seconds (one deadline
for the whole body, however it trickles in), or it is answered 408 and its
connection closed. uvicorn itself bounds idle keep-alive connections
(`timeout_keep_alive`) but not a client that stalls before its headers are
complete: put a reverse proxy with header timeouts in front of a public one.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar, TypeVarTuple, get_type_hints

from veritree._extras import server_extra_missing

try:
    import anyio
    import httpx
    import uvicorn
    from anyio import TASK_STATUS_IGNORED, to_thread
    from anyio.abc import TaskStatus
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse, Response
    from pydantic import BaseModel, create_model
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.requests import ClientDisconnect
except ModuleNotFoundError as e:
    raise server_extra_missing(e, __name__) from e

from veritree._native import KtDirectory, LogBehindError, StorageError, VerificationError, kt_update_request_values
from veritree.ckv.clock import now_ms
from veritree.ckv.registration import Authorize
from veritree.ckv.transport import Health, Unhealthy

__all__ = ["create_app", "serve_in_thread"]

log = logging.getLogger(__name__)

OCTETS = "application/octet-stream"
_BINARY = {OCTETS: {"schema": {"type": "string", "format": "binary"}}}
_ERROR = {"application/json": {"schema": {
    "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}
_BODY = {"requestBody": {"required": True, "content": _BINARY}}

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


def _model(shape: type[Health]) -> type[BaseModel]:
    """The pydantic model of one of `veritree.ckv.transport`'s answer shapes, for the OpenAPI
    description (pydantic takes a `typing.TypedDict` itself only from Python 3.12)."""
    fields: dict[str, Any] = {name: (kind, ...) for name, kind in get_type_hints(shape).items()}
    return create_model(shape.__name__, __doc__=shape.__doc__, **fields)


def _answers(what: str | None, *refusals: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses: `what` as octets (None: 204), and the JSON refusals a client may get."""
    out: dict[int | str, dict[str, Any]] = (
        {204: {"description": "accepted"}} if what is None else {200: {"description": what, "content": _BINARY}}
    )
    reasons = {400: "a malformed or refused request", 404: "no such log entry",
               409: "the request names more log entries than the log has: `signed_head` (hex) is its current head",
               408: "the body did not arrive in time (the connection is closed)", 413: "the body is too large",
               415: "the body is not application/octet-stream", 503: "the directory cannot answer now"}
    for status in refusals:
        out[status] = {"description": reasons[status], "content": _ERROR}
    return out


async def _call(fn: Callable[[*Ts], T], *args: *Ts, refused: int = 400) -> T:
    """`fn(*args)` in a worker thread; the client's mistakes become `refused`, storage failures 503."""
    try:
        return await to_thread.run_sync(fn, *args)
    except (LogBehindError, ValueError, IndexError, StorageError) as e:
        raise _refusal(e, refused) from None


def _call_here(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """`fn(*args)` on the event loop's thread, refused as `_call` refuses."""
    try:
        return fn(*args)
    except (LogBehindError, ValueError, IndexError, StorageError) as e:
        raise _refusal(e, 400) from None


def _refusal(e: Exception, refused: int) -> HTTPException:
    """The answer to a failed call: the client's mistakes `refused` (409 with the head for a client ahead
    of the log), storage failures 503."""
    if isinstance(e, LogBehindError):
        message, head = e.args
        return HTTPException(409, {"error": message, "signed_head": head.hex()})
    if isinstance(e, StorageError):
        log.error("the directory's storage failed: %s", e)
        return HTTPException(503, "the directory's storage failed")
    return HTTPException(refused, str(e))


def _octets(data: bytes) -> Response:
    return Response(content=data, media_type=OCTETS)


_PUBLISHING = "publishing"
_AUDITOR_HEAD = "storing the auditor's head"
_PROOFS = "completing VRF proofs"


class _Writes:
    """Whether the directory's writes work: the reason of each kind of write whose last try failed.

    Health is 503 while any is failing. Both kinds write the same journal, so
    a publication (one is tried every interval while failing, heartbeats too)
    that succeeds clears every failure; storing an auditor head that succeeds
    clears only its own (an unchanged head is not written again).
    """

    def __init__(self) -> None:
        self.failing: dict[str, str] = {}

    def failed(self, what: str, error: Exception, retrying: str = "") -> None:
        if what not in self.failing:  # once per run of failures, with the reason
            log.error("%s failed%s: %s", what, retrying, error)
        self.failing[what] = str(error) or type(error).__name__

    def worked(self, what: str) -> None:
        cleared = [w for w in self.failing if what == _PUBLISHING or w == what]
        for w in cleared:
            del self.failing[w]
        if cleared == [what]:
            log.warning("%s works again", what)
        elif cleared:
            log.warning("the directory's writes work again: %s succeeded (%s failed before)",
                        what, " and ".join(cleared))

    @property
    def failure(self) -> str | None:
        """Why health is 503 (None: every write's last try worked)."""
        reasons = [f"{what} failed: {reason}" for what, reason in self.failing.items()]
        return "; ".join(reasons) or None


class _Publisher:
    """Publishes an entry every interval and wakes the updates staged for it.

    One lock covers staging and publishing, so that an update knows which
    publication carries its values: the one after it took `published`.
    """

    lock: anyio.Lock
    published: anyio.Event  # set by the next successful publication

    def __init__(self, directory: KtDirectory, interval: float, heartbeat: float | None,
                 clock: Callable[[], int], writes: _Writes) -> None:
        self.directory = directory
        self.writes = writes
        self.interval = interval
        self.heartbeat_ms = None if heartbeat is None else heartbeat * 1000
        self.clock = clock
        # A directory reopened from disk: its next entry may not be older than its last.
        self.last_ms: int | None = directory.last_timestamp

    async def run(self, *, task_status: TaskStatus[None] = TASK_STATUS_IGNORED) -> None:
        """Publishes at once (a new directory has no head to serve yet), then on a fixed cadence."""
        self.lock, self.published = anyio.Lock(), anyio.Event()
        tick = anyio.current_time()
        await self.publish()
        task_status.started()
        while True:
            tick = max(tick + self.interval, anyio.current_time())
            await anyio.sleep_until(tick)
            await self.publish()

    async def fill_proofs(self) -> None:
        """Completes the VRF proofs publishing left for later, a short batch at a time (each holds the
        directory as long as a small publication would), then waits an interval for more."""
        while True:
            try:
                done = await to_thread.run_sync(self.directory.fill_proofs, 1024)
            except Exception as e:  # noqa: BLE001 - answers compute missing proofs meanwhile; try again
                self.writes.failed(_PROOFS, e, f" (retrying every {self.interval} s)")
                done = 0
            else:
                self.writes.worked(_PROOFS)
            if done == 0:
                await anyio.sleep(self.interval)

    async def publish(self) -> None:
        async with self.lock:
            # Never older than the last entry, which the directory would refuse if the clock stepped back.
            ts = max(self.clock(), self.last_ms or 0)
            heartbeat, last = self.heartbeat_ms, self.last_ms
            if heartbeat is not None and last is not None and self.directory.staged == 0 and ts - last < heartbeat:
                return  # nothing staged, and the newest entry is recent enough for clients
            try:
                await to_thread.run_sync(self.directory.publish, ts)
            except Exception as e:  # noqa: BLE001 - keep trying: the staged updates wait for the next success
                self.writes.failed(_PUBLISHING, e, f" (retrying every {self.interval} s)")
                return
            self.writes.worked(_PUBLISHING)
            self.last_ms = ts
            done, self.published = self.published, anyio.Event()
        done.set()


def create_app(
    directory: KtDirectory,
    *,
    publish_interval: float = 1.0,
    max_request_bytes: int = 64 * 1024,
    validate_update: Callable[[bytes], None] | None = None,
    update_wait: float = 30.0,
    heartbeat: float | None = None,
    clock: Callable[[], int] = now_ms,
    body_timeout: float = 10.0,
    publisher_socket: str | None = None,
    max_replica_lag: float = 10.0,
    authorize: Authorize | None = None,
) -> FastAPI:
    """The ASGI app serving `directory` (in memory or opened from disk; the app does not close it).

    A reader directory (`KtDirectory.open(..., reader=True)`) answers every
    read itself, from its newest publication, and passes updates and
    auditor heads to the publisher's app listening on the Unix socket
    `publisher_socket` (`veritree serve --workers N` runs one publisher and
    N such readers); its health is 503 while the publisher's is, or while
    the publisher cannot be reached.

    `authorize(identifier, new, authorization)` decides who may register or
    change an identifier (`veritree.ckv.registration`): it sees each update's
    identifier, whether it has no version yet, and the request's
    Authorization header, and refuses with PermissionError (403). Without
    it, anyone who reaches the service may register an unclaimed identifier
    (first come). `validate_update(request)` sees each UpdateRequest next,
    and refuses it with ValueError (the account layer checks that a
    device set is signed by its account key, the one the identifier has). An update whose values were
    staged answers once they are published, or 503 after `update_wait`
    seconds. With nothing staged, an entry is published only once the
    newest is `heartbeat` seconds old (None: every interval), so an idle
    log does not grow an entry per interval; keep it well under the
    clients' `max_behind`. `clock` stamps entries, in ms since the epoch.
    A request's body must arrive whole within `body_timeout` seconds (one
    deadline, however slowly it trickles), or it is refused with 408 and
    the connection closed. A reader of a database replica reports how far
    the replica is behind its primary in its health, 503 once that is over
    `max_replica_lag` seconds.
    """
    if not publish_interval > 0 or not update_wait > 0 or max_request_bytes < 1:
        raise ValueError("publish_interval and update_wait must be positive, max_request_bytes at least 1")
    if heartbeat is not None and not heartbeat > 0:
        raise ValueError("heartbeat must be positive (or None)")
    if not body_timeout > 0:
        raise ValueError("body_timeout must be positive")
    writes = _Writes()
    publisher = _Publisher(directory, publish_interval, heartbeat, clock, writes)
    config = directory.config  # fixed for the directory's life
    reader = directory.reader
    forward = _Forward(publisher_socket, update_wait) if reader else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if forward is not None:
            yield  # a reader publishes nothing
            await forward.close()
            return
        async with anyio.create_task_group() as tasks:
            await tasks.start(publisher.run)
            tasks.start_soon(publisher.fill_proofs)
            yield
            tasks.cancel_scope.cancel()

    app = FastAPI(
        title="veritree key directory",
        summary="IETF KEYTRANS over HTTP: each body is a request's wire encoding, each answer a response's.",
        version="1",
        lifespan=lifespan,
        generate_unique_id_function=lambda route: route.name,  # operation ids: the endpoints' names
    )

    async def refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        content = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return JSONResponse(content, exc.status_code, headers=exc.headers)

    app.add_exception_handler(StarletteHTTPException, refused)

    async def body(request: Request) -> bytes:
        """The request's bytes, refused before more than `max_request_bytes` are read."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != OCTETS:
            raise HTTPException(415, f"the body must be {OCTETS}: a request's wire encoding")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            raise HTTPException(413, f"the body is over {max_request_bytes} bytes")
        data = bytearray()
        try:
            with anyio.fail_after(body_timeout):  # one deadline for the whole body: a trickle cannot hold it
                async for chunk in request.stream():
                    data += chunk
                    if len(data) > max_request_bytes:
                        raise HTTPException(413, f"the body is over {max_request_bytes} bytes")
        except ClientDisconnect:
            raise HTTPException(400, "the client left before sending the whole body") from None
        except TimeoutError:
            # Closing the connection ends it: uvicorn would otherwise keep it for the rest of the body.
            raise HTTPException(408, f"the body did not arrive within {body_timeout} s",
                                headers={"Connection": "close"}) from None
        if not data:
            raise HTTPException(400, "the body is empty: it must be a request's wire encoding")
        return bytes(data)

    def answering(handle: Callable[[bytes], bytes]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            data = await body(request)
            if reader:
                # A worker process only answers reads (~0.1 ms each, the GIL released): on the loop's own
                # thread they skip the hand-off to a thread (measured with wrk, one worker, cores shared
                # with a build: 3.4 k responses/s against 2.1 k).
                return _octets(_call_here(handle, data))
            return _octets(await _call(handle, data))

        return endpoint

    @app.get("/v1/config", response_class=Response, responses=_answers("the encoded Configuration"),
             summary="The Configuration a client verifies against")
    async def get_config() -> Response:
        return _octets(config)

    @app.get("/v1/health", response_model=_model(Health),
             responses={503: {"model": _model(Unhealthy),
                              "description": "the directory's writes fail: `error` says why"}},
             summary="Log size and the last publication time (ms since the epoch); 503 while writes fail")
    async def health() -> Response:
        size = await _call(lambda: directory.size)
        if forward is not None:
            last = await _call(lambda: directory.last_timestamp)
            failure = await forward.failure()
            answer = Health(size=size, last_publish_ms=last)
            lag = await _call(lambda: directory.replica_lag_ms)
            if lag is not None:
                answer["replica_lag_ms"] = lag
                if lag > max_replica_lag * 1000:
                    failure = f"the database replica is {lag} ms behind its primary"
            if failure is None:
                return JSONResponse(answer)
            return JSONResponse(Unhealthy(**answer, error=failure), 503)
        answer = Health(size=size, last_publish_ms=publisher.last_ms)
        failure = writes.failure
        if failure is None:
            return JSONResponse(answer)
        return JSONResponse(Unhealthy(**answer, error=failure), 503)

    for path, handle, summary in [
        ("/v1/search", directory.search, "Search for a label: SearchRequest → SearchResponse"),
        ("/v1/monitor", directory.monitor, "Monitor labels: ContactMonitorRequest → ContactMonitorResponse"),
        ("/v1/distinguished", directory.distinguished,
         "Recent distinguished entries: DistinguishedRequest → DistinguishedResponse"),
        ("/v1/owner/init", directory.owner_init, "Take ownership of a label: OwnerInitRequest → OwnerInitResponse"),
        ("/v1/owner/monitor", directory.owner_monitor,
         "An owner monitors its label: OwnerMonitorRequest → OwnerMonitorResponse"),
    ]:
        app.add_api_route(
            path, answering(handle), methods=["POST"], summary=summary, name=path[4:].replace("/", "_"),
            response_class=Response, openapi_extra=_BODY,
            responses=_answers("the response", 400, 408, 409, 413, 415, 503),
        )

    @app.post("/v1/update", response_class=Response, openapi_extra=_BODY,
              responses=_answers("the UpdateResponse", 400, 408, 409, 413, 415, 503),
              summary="An owner adds values to its label: UpdateRequest → UpdateResponse, once published")
    async def update(request: Request) -> Response:
        data = await body(request)
        if authorize is not None:
            label, _ = _call_here(kt_update_request_values, data)
            new = await _call(directory.value, label) is None
            try:
                await to_thread.run_sync(authorize, label, new, request.headers.get("authorization"))
            except PermissionError as e:
                raise HTTPException(403, str(e)) from None
        if validate_update is not None:
            await _call(validate_update, data)
        if forward is not None:
            return await forward.post("/v1/update", data)
        deadline = anyio.current_time() + update_wait
        while True:
            async with publisher.lock:
                answer = await _call(directory.update, data)
                published = publisher.published
            if answer is not None:
                return _octets(answer)
            # Staged: the next publication carries the values (a failed one keeps them staged for the one after).
            with anyio.move_on_after(deadline - anyio.current_time()):
                await published.wait()
            if not published.is_set():
                raise HTTPException(503, "the update is staged but was not published in time")

    @app.get("/v1/auditor/update/{index}", response_class=Response,
             responses=_answers("the AuditorUpdate", 404, 503),
             summary="Third-party auditing: the AuditorUpdate of log entry `index` (a decimal number)")
    async def auditor_update(index: str) -> Response:
        # Anything but an entry number names no entry: 404, like an entry past the log's end.
        if not (index.isascii() and index.isdigit() and int(index) < 2**64):
            raise HTTPException(404, f"no log entry {index[:40]!r}")
        return _octets(await _call(directory.auditor_update, int(index), refused=404))

    @app.post("/v1/auditor/head", status_code=204, response_class=Response, openapi_extra=_BODY,
              responses=_answers(None, 400, 408, 413, 415, 503),
              summary="Third-party auditing: the auditor's signed AuditorTreeHead to serve from now on")
    async def auditor_head(request: Request) -> Response:
        data = await body(request)
        if forward is not None:
            return await forward.post("/v1/auditor/head", data)
        try:
            await to_thread.run_sync(directory.set_auditor_head, data)
        except (VerificationError, ValueError, IndexError) as e:
            raise HTTPException(400, str(e)) from None
        except StorageError as e:
            writes.failed(_AUDITOR_HEAD, e)
            raise HTTPException(503, "the directory's storage failed") from None
        writes.worked(_AUDITOR_HEAD)
        return Response(status_code=204)

    return app


class _Forward:
    """A reader's way to the publisher: its app on a Unix socket."""

    def __init__(self, socket_path: str | None, update_wait: float) -> None:
        self.client = None if socket_path is None else httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=socket_path), base_url="http://publisher",
            timeout=update_wait + 5)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    async def post(self, path: str, data: bytes) -> Response:
        """The publisher's answer to a write, passed on as it is."""
        if self.client is None:
            raise HTTPException(503, "this server only reads, and knows no publisher to pass writes to")
        try:
            r = await self.client.post(path, content=data, headers={"content-type": OCTETS})
        except httpx.HTTPError as e:
            log.error("the publisher cannot be reached: %s", e)
            raise HTTPException(503, "the publisher cannot be reached") from None
        return Response(content=r.content, status_code=r.status_code, media_type=r.headers.get("content-type"))

    async def failure(self) -> str | None:
        """Why the publisher is unhealthy (None: it is healthy)."""
        if self.client is None:
            return None
        try:
            r = await self.client.get("/v1/health", timeout=2.0)
        except httpx.HTTPError as e:
            return f"the publisher cannot be reached: {e}"
        if r.status_code == 200:
            return None
        error: str = r.json().get("error", f"the publisher answered {r.status_code}")
        return error


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Runs `app` under uvicorn on a free port of `host`, in a background
    thread, while the context lasts; yields its base URL (tests, the demo)."""
    sock = socket.socket()
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
