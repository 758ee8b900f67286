"""The key directory's HTTP handlers from arbitrary requests (any endpoint, method, content type, body):
every answer is a deliberate one — 2xx, or a 4xx/503 refusal with a JSON reason — never a 500 or an
uncaught exception."""

from __future__ import annotations

import sys
import urllib.parse

import atheris

with atheris.instrument_imports():
    from common import directory
    from starlette.testclient import TestClient
    from veritree.ckv.accounts import update_validator
    from veritree.ckv.server import create_app

DIRECTORY, _, _ = directory()
APP = create_app(DIRECTORY, validate_update=update_validator(DIRECTORY), update_wait=0.05, publish_interval=0.02)
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
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    method = "GET" if path in ("/v1/config", "/v1/health") or "/update/" in path else "POST"
    r = CLIENT.request(method, path, content=body, headers={"content-type": ctype} if ctype else {})
    assert r.status_code < 500 or r.status_code == 503, (path, r.status_code, r.text)
    if r.status_code >= 400:
        assert r.headers.get("content-type", "").startswith("application/json"), (path, r.status_code)


if __name__ == "__main__":
    with CLIENT:
        atheris.Setup(sys.argv, one)
        atheris.Fuzz()
