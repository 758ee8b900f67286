"""The key directory's HTTP handlers from arbitrary requests (any endpoint, content type, body and
Authorization header): every answer is a deliberate one — 2xx, or a 4xx/503 refusal with a JSON reason —
never a 500 or an uncaught exception; an update is let through only with the identifier's registration
token. Bodies are arbitrary bytes or real clients' requests to that endpoint with bytes changed, so that
the handlers behind the message decoders are reached."""

from __future__ import annotations

import sys
import urllib.parse
from typing import Any

import anyio
import atheris
from anyio.from_thread import BlockingPortal, start_blocking_portal

with atheris.instrument_imports():
    from common import changed, directory
    from veritree.ckv import CkvClient, Device, registration_token, token_authorizer
    from veritree.ckv.accounts import update_validator
    from veritree.ckv.server import create_app

SECRET = b"registration secret of the fuzz".ljust(32, b".")
DIRECTORY, TRANSPORT, _ = directory()
TOKEN = registration_token(SECRET, b"user:alice")


class Recorder:
    """A transport that keeps every request a real client makes, by endpoint."""

    def __init__(self) -> None:
        self.sent: dict[str, list[bytes]] = {}

    def __getattr__(self, name: str) -> object:
        call = getattr(TRANSPORT, name)

        def record(*args: bytes) -> object:
            if args:
                self.sent.setdefault("/v1/" + name.replace("_", "/"), []).append(args[0])
            return call(*args)
        return record


_RECORDER = Recorder()
_BOB = CkvClient.connect(_RECORDER)
_BOB.create_account([b"user:bob"], Device(b"tablet", b"\x09" * 32))
_BOB.lookup(b"user:alice")
_BOB.add_device(Device(b"laptop", b"\x0a" * 32))
_BOB.monitor()
HONEST = _RECORDER.sent
APP = create_app(DIRECTORY, validate_update=update_validator(DIRECTORY), authorize=token_authorizer(SECRET),
                 update_wait=0.05, publish_interval=0.02)


async def call(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app (no HTTP client or server between: faster, and what the
    handlers see is exactly what the fuzzer chose); an exception the app raises reaches the fuzzer."""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": urllib.parse.unquote(path), "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [*raw, (b"content-length", str(len(body)).encode())], "client": ("127.0.0.1", 1),
             "server": ("directory", 80)}
    answered, unread = anyio.Event(), [{"type": "http.request", "body": body, "more_body": False}]
    status, answer, chunks = 0, {}, []

    async def receive() -> dict[str, Any]:
        if unread:
            return unread.pop()
        await answered.wait()  # the client stays until the whole answer is sent
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, answer
        if message["type"] == "http.response.start":
            status = message["status"]
            answer = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                answered.set()

    await APP(scope, receive, send)
    return status, answer, b"".join(chunks)


PORTAL: BlockingPortal | None = None  # the event loop the app runs on, in a thread of its own
PATHS = ["/v1/search", "/v1/monitor", "/v1/distinguished", "/v1/owner/init", "/v1/owner/monitor", "/v1/update",
         "/v1/auditor/head", "/v1/config", "/v1/health", "/v1/auditor/update/"]
TYPES = ["application/octet-stream", "application/json", "", "application/octet-stream; charset=x"]


def one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    path = PATHS[fdp.ConsumeIntInRange(0, len(PATHS) - 1)]
    if path.endswith("/"):
        path += urllib.parse.quote(fdp.ConsumeUnicodeNoSurrogates(12), safe="")
    ctype = TYPES[fdp.ConsumeIntInRange(0, len(TYPES) - 1)]
    headers = {"content-type": ctype} if ctype else {}
    auth = fdp.ConsumeIntInRange(0, 3)
    if auth:
        headers["authorization"] = (f"Bearer {TOKEN}", "Bearer ", "")[auth - 1] + "".join(
            c for c in fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 50)) if " " <= c <= "~")
    honest = HONEST.get(path)
    if honest and fdp.ConsumeBool():
        body = changed(fdp, honest[fdp.ConsumeIntInRange(0, len(honest) - 1)])
        body = body[: len(body) - fdp.ConsumeIntInRange(0, 2)]
    else:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    method = "GET" if path in ("/v1/config", "/v1/health") or "/update/" in path else "POST"
    assert PORTAL is not None
    status, answer, text = PORTAL.call(call, method, path, body, headers)
    assert status < 500 or status == 503, (path, status, text)
    if path == "/v1/update" and status < 300:
        assert headers.get("authorization", "").startswith(f"Bearer {TOKEN}"), "an update without its token"
    if status >= 400:
        assert answer.get("content-type", "").startswith("application/json"), (path, status)


if __name__ == "__main__":
    with start_blocking_portal() as PORTAL, PORTAL.wrap_async_context_manager(APP.router.lifespan_context(APP)):
        atheris.Setup(sys.argv, one)
        atheris.Fuzz()
