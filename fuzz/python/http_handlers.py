"""The key directory's HTTP handlers from arbitrary requests (any endpoint, content type, body and
Authorization header): every answer is a deliberate one — 2xx, or a 4xx/503 refusal with a JSON reason —
never a 500 or an uncaught exception; an update is let through only with the identifier's registration
token. Bodies are arbitrary bytes or real clients' requests to that endpoint with bits flipped, so that
the handlers behind the message decoders are reached."""

from __future__ import annotations

import sys
import urllib.parse

import atheris

with atheris.instrument_imports():
    from common import directory
    from starlette.testclient import TestClient
    from veritree.ckv import CkvClient, Device, registration_token, token_authorizer
    from veritree.ckv.accounts import update_validator
    from veritree.ckv.server import create_app

SECRET = b"registration secret of the fuzz".ljust(32, b".")
DIRECTORY, TRANSPORT, ALICE = directory()
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
CLIENT = TestClient(APP, raise_server_exceptions=True)
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
        damaged = bytearray(honest[fdp.ConsumeIntInRange(0, len(honest) - 1)])
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            damaged[fdp.ConsumeIntInRange(0, len(damaged) - 1)] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        body = bytes(damaged[: len(damaged) - fdp.ConsumeIntInRange(0, 2)])
    else:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    method = "GET" if path in ("/v1/config", "/v1/health") or "/update/" in path else "POST"
    r = CLIENT.request(method, path, content=body, headers=headers)
    assert r.status_code < 500 or r.status_code == 503, (path, r.status_code, r.text)
    if path == "/v1/update" and r.status_code < 300:
        assert headers.get("authorization", "").startswith(f"Bearer {TOKEN}"), "an update without its token"
    if r.status_code >= 400:
        assert r.headers.get("content-type", "").startswith("application/json"), (path, r.status_code)


if __name__ == "__main__":
    with CLIENT:
        atheris.Setup(sys.argv, one)
        atheris.Fuzz()
