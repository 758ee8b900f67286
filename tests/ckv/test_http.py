"""The directory's HTTP service (`veritree.ckv.server`) and its transport (`veritree.ckv.http`).

A real uvicorn server on localhost publishes every 50 ms: owners' updates
must come back verified once published, every client mistake must get a
4xx with a reason, and a directory that does not answer must read as
`Unavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
import veritree
from veritree import cli
from veritree.ckv.clock import now_ms
from veritree.ckv.http import HttpTransport
from veritree.ckv.server import create_app, serve_in_thread
from veritree.ckv.transport import Unavailable

SIGNING_KEY = bytes(range(32))
VRF_KEY = bytes(range(32, 64))
AUDITOR_KEY = bytes(range(64, 96))
INTERVAL = 0.05  # seconds between entries
RMW = 200  # ms: an entry is distinguished every few entries
OCTETS = {"content-type": "application/octet-stream"}


def refuse_mallory(request: bytes) -> None:
    """A stand-in for the account layer's check of a device set's signature."""
    if b"mallory" in request:
        raise ValueError("the device set is not signed by the account key")


def new_directory(**config: Any) -> veritree.KtDirectory:
    return veritree.KtDirectory(SIGNING_KEY, VRF_KEY, reasonable_monitoring_window=RMW, **config)


@pytest.fixture(scope="module")
def directory() -> veritree.KtDirectory:
    return new_directory()


@pytest.fixture(scope="module")
def url(directory: veritree.KtDirectory) -> Iterator[str]:
    with serve_in_thread(create_app(directory, publish_interval=INTERVAL, validate_update=refuse_mallory)) as url:
        yield url


@pytest.fixture
def transport(url: str) -> Iterator[HttpTransport]:
    with HttpTransport(url, timeout=5) as t:
        yield t


def start_entry(client: veritree.KtClient, transport: HttpTransport) -> int:
    """The newest distinguished entry, once the log has grown past one monitoring window."""
    deadline = time.monotonic() + 5
    while True:
        request = client.distinguished_request()
        entries = client.verify_distinguished(request, transport.distinguished(request))
        if entries[-1][0] > 0 or time.monotonic() > deadline:
            return entries[-1][0]
        time.sleep(RMW / 1000)


def test_an_owner_updates_its_label_over_http_and_others_find_the_values(transport: HttpTransport) -> None:
    owner = veritree.KtClient(transport.config())
    request = owner.owner_init_request(b"dave", start_entry(owner, transport))
    assert owner.verify_owner_init(request, transport.owner_init(request)) is None
    # Both values arrive in one entry: staging and publishing do not interleave.
    request = owner.update_request(b"dave", [b"phone", b"laptop"])
    assert owner.verify_update(request, transport.update(request)) == [(0, b"phone"), (1, b"laptop")]
    # Owners of other labels update at the same time; each hears of its own values.
    owners = {label: veritree.KtClient(transport.config()) for label in (b"erin", b"frank", b"grace")}
    results: dict[bytes, list[tuple[int, bytes]]] = {}

    def update(label: bytes, c: veritree.KtClient) -> None:
        with HttpTransport(transport.base_url) as t:
            req = c.owner_init_request(label, start_entry(c, t))
            c.verify_owner_init(req, t.owner_init(req))
            req = c.update_request(label, [label + b"'s key"])
            results[label] = c.verify_update(req, t.update(req))

    threads = [threading.Thread(target=update, args=item) for item in owners.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == {label: [(0, label + b"'s key")] for label in owners}
    # Another client finds and verifies each version; the owner monitors its label.
    alice = veritree.KtClient(transport.config())
    for version, value in [(0, b"phone"), (1, b"laptop")]:
        request = alice.search_request(b"dave", version)
        found = alice.verify_search(request, transport.search(request))
        assert (found.version, found.value) == (version, value)
    # Finding a version newer than the rightmost distinguished entry makes alice monitor the label
    # (a fresh entry is itself distinguished about once in RMW / INTERVAL, so a few rounds may be needed).
    for round in range(10):
        value = b"tablet #%d" % round
        request = owner.update_request(b"dave", [value])
        assert owner.verify_update(request, transport.update(request)) == [(2 + round, value)]
        request = alice.search_request(b"dave")
        if alice.verify_search(request, transport.search(request)).monitored:
            break
    request = alice.monitor_request(b"dave")
    alice.verify_monitor(request, transport.monitor(request))
    request = owner.owner_monitor_request(b"dave")
    owner.verify_owner_monitor(request, transport.owner_monitor(request))
    # Asking again with nothing new is the owner's mistake, with the directory's reason.
    with pytest.raises(ValueError, match="no version of the label is newer"):
        transport.update(owner.update_request(b"dave"))


def test_the_log_grows_without_updates(transport: HttpTransport) -> None:
    before = transport.health()
    time.sleep(4 * INTERVAL)
    after = transport.health()
    assert after["size"] > before["size"] > 0
    assert after["last_publish_ms"] is not None and after["last_publish_ms"] >= (before["last_publish_ms"] or 0)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("POST", "/v1/search", {"content": b"\xff" * 10, "headers": OCTETS}, 400, ""),
        ("POST", "/v1/monitor", {"content": b"", "headers": OCTETS}, 400, "empty"),
        ("POST", "/v1/owner/init", {"content": b"\x00"}, 415, "octet-stream"),
        ("POST", "/v1/distinguished", {"content": b"{}", "headers": {"content-type": "application/json"}}, 415, ""),
        ("POST", "/v1/owner/monitor", {"content": bytes(64 * 1024 + 1), "headers": OCTETS}, 413, "65536"),
        # Without a Content-Length: refused while reading.
        ("POST", "/v1/update", {"content": iter([bytes(40_000)] * 2), "headers": OCTETS}, 413, "65536"),
        ("POST", "/v1/update", {"content": b"\x00\x07mallory\x00\x00", "headers": OCTETS}, 400, "account key"),
        ("POST", "/v1/update", {"content": b"\x00\x04zoey\x00\x00", "headers": OCTETS}, 400, "no values"),
        ("GET", "/v1/search", {}, 405, "Method Not Allowed"),
        ("DELETE", "/v1/config", {}, 405, "Method Not Allowed"),
        ("GET", "/v1/auditor/update/1000000000", {}, 404, "1000000000"),
        ("GET", f"/v1/auditor/update/{2**64}", {}, 404, "no log entry"),
        ("GET", "/v1/auditor/update/0", {}, 404, "auditor"),  # not in auditing mode
        ("GET", "/v1/auditor/update/first", {}, 404, "'first'"),
        ("GET", "/v1/auditor/update/-1", {}, 404, "'-1'"),
        ("POST", "/v1/auditor/head", {"content": b"\x01\x02", "headers": OCTETS}, 400, ""),
        ("GET", "/v2/search", {}, 404, "Not Found"),
    ],
)
def test_client_mistakes_get_4xx_with_reasons(
    url: str, method: str, path: str, kwargs: dict[str, Any], status: int, reason: str
) -> None:
    response = httpx.request(method, url + path, timeout=5, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error and reason in error


def test_the_transport_raises_valueerror_with_the_reason(transport: HttpTransport) -> None:
    with pytest.raises(ValueError, match=r"\(400\): .+"):
        transport.search(b"\xff" * 10)
    with pytest.raises(ValueError, match="not signed by the account key"):
        transport.update(b"\x00\x07mallory\x00\x01\x00\x00\x00\x01x")
    with pytest.raises(ValueError, match=r"\(404\)"):
        transport.auditor_update(10**9)


def test_a_directory_that_does_not_answer_is_unavailable() -> None:
    with serve_in_thread(create_app(new_directory(), publish_interval=INTERVAL)) as url:
        transport = HttpTransport(url, timeout=2)
        config = transport.config()
    with transport, pytest.raises(Unavailable):  # the server has stopped
        transport.config()
    config_only = httpx.MockTransport(lambda request: httpx.Response(200, content=config))
    failing = [
        httpx.MockTransport(lambda request: httpx.Response(503, json={"error": "storage failed"})),
        httpx.MockTransport(lambda request: httpx.Response(500, text="Internal Server Error")),
    ]
    for mock in failing:
        with httpx.Client(transport=mock) as client, pytest.raises(Unavailable, match="50[03]"):
            HttpTransport("http://directory", client=client).search(b"\x00")

    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with httpx.Client(transport=httpx.MockTransport(time_out)) as client, pytest.raises(Unavailable):
        HttpTransport("http://directory", client=client).update(b"\x00")
    # A client passed in stays open for its owner.
    with httpx.Client(transport=config_only) as client:
        with HttpTransport("http://directory/", client=client) as t:
            assert t.config() == config
        assert not client.is_closed


@pytest.mark.parametrize("answer", [
    b'{"size": Infinity, "last_publish_ms": 1}',  # raised OverflowError from int()
    b'{"size": 1.5, "last_publish_ms": 1}',  # read as 1
    b'{"size": -3, "last_publish_ms": 1}',
    b'{"size": true, "last_publish_ms": null}',  # read as 1
    b'{"size": 4, "last_publish_ms": "yesterday"}',  # passed on as it was
    b'{"size": 4, "last_publish_ms": 1, "replica_lag_ms": NaN}',
    b'{"size": 4}',
    b"[" * 10_000,
])
def test_a_health_answer_that_is_not_one_is_unavailable(answer: bytes) -> None:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, content=answer))
    with httpx.Client(transport=mock) as client, pytest.raises(Unavailable, match="not a health answer"):
        HttpTransport("http://directory", client=client).health()
    newer = httpx.MockTransport(lambda request: httpx.Response(
        200, json={"size": 4, "last_publish_ms": None, "a newer field": 1}))
    with httpx.Client(transport=newer) as client:
        assert HttpTransport("http://directory", client=client).health() == {"size": 4, "last_publish_ms": None}


class Flaky:
    """A directory whose publications fail while `broken` is set."""

    def __init__(self, directory: veritree.KtDirectory) -> None:
        self.directory = directory
        self.broken = True

    def publish(self, timestamp: int) -> int:
        if self.broken:
            raise veritree.StorageError("the disk is full")
        return self.directory.publish(timestamp)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.directory, name)


def test_updates_wait_out_failed_publications(caplog: pytest.LogCaptureFixture) -> None:
    d = new_directory()
    now = now_ms()
    for ms in range(-1000, 0, 100):
        d.publish(now + ms)
    flaky = Flaky(d)
    app = create_app(cast(veritree.KtDirectory, flaky), publish_interval=INTERVAL, update_wait=0.3)
    with caplog.at_level(logging.INFO), serve_in_thread(app) as url, HttpTransport(url, timeout=5) as t:
        owner = veritree.KtClient(t.config())
        request = owner.owner_init_request(b"dave", start_entry(owner, t))
        owner.verify_owner_init(request, t.owner_init(request))
        request = owner.update_request(b"dave", [b"phone"])
        with pytest.raises(Unavailable, match="503.*not published in time"):
            t.update(request)
        # Health is 503 with the reason, and the newest entry, from before.
        answer = httpx.get(url + "/v1/health", timeout=5)
        assert answer.status_code == 503
        assert answer.json() == {"error": "publishing failed: the disk is full", "size": 10,
                                 "last_publish_ms": now - 100}
        with pytest.raises(Unavailable, match="503: publishing failed: the disk is full"):
            t.health()
        flaky.broken = False
        while httpx.get(url + "/v1/health", timeout=5).status_code == 503:
            time.sleep(INTERVAL)
        assert t.health()["size"] > 10
        assert owner.verify_update(request, t.update(request)) == [(0, b"phone")]
    failures = [r.getMessage() for r in caplog.records if r.name == "veritree.ckv.server"]
    assert failures == ["publishing failed (retrying every 0.05 s): the disk is full", "publishing works again"]


def test_a_third_party_auditor_signs_heads_over_http() -> None:
    auditor_public = veritree.KtAuditor.public_key(AUDITOR_KEY)
    d = new_directory(auditor_public_key=auditor_public)
    with serve_in_thread(create_app(d, publish_interval=INTERVAL)) as url, HttpTransport(url, timeout=5) as t:
        auditor = veritree.KtAuditor(t.config(), AUDITOR_KEY)
        client = veritree.KtClient(t.config())
        request = client.distinguished_request()
        with pytest.raises(ValueError, match="auditor"):  # no answer before the auditor has signed
            t.distinguished(request)
        deadline = time.monotonic() + 5
        while t.health()["size"] < 4:  # entries 0-3 published (one every INTERVAL)
            assert time.monotonic() < deadline
            time.sleep(INTERVAL)
        for index in range(3):
            head = auditor.process(t.auditor_update(index))
        t.set_auditor_head(head)
        client.verify_distinguished(request, t.distinguished(request))
        forged = bytearray(auditor.process(t.auditor_update(3)))
        forged[-1] ^= 1
        with pytest.raises(ValueError, match=r"\(400\)"):  # VerificationError on the server
            t.set_auditor_head(bytes(forged))


def test_openapi_describes_every_endpoint(url: str) -> None:
    spec = httpx.get(url + "/openapi.json", timeout=5).json()
    posts = ["/v1/search", "/v1/monitor", "/v1/distinguished", "/v1/owner/init", "/v1/owner/monitor",
             "/v1/update", "/v1/auditor/head"]
    assert set(spec["paths"]) == {"/v1/config", "/v1/health", "/v1/auditor/update/{index}", *posts}
    for path in posts:
        operation = spec["paths"][path]["post"]
        assert operation["summary"]
        assert "application/octet-stream" in operation["requestBody"]["content"]
    assert "application/octet-stream" in spec["paths"]["/v1/config"]["get"]["responses"]["200"]["content"]


def test_serve_makes_its_keys_once_and_reopens_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: served.append((host, port)))
    data = tmp_path / "data"
    assert cli.main(["serve", "--data", str(data), "--create", "--port", "8123"]) == 0
    keys = {name: (data / name).read_bytes() for name in ("signing.key", "vrf.key")}
    assert [len(key) for key in keys.values()] == [32, 32] and len(set(keys.values())) == 2
    assert all((data / name).stat().st_mode & 0o777 == 0o600 for name in keys)
    assert cli.main(["serve", "--data", str(data)]) == 0  # the same keys and log
    assert {name: (data / name).read_bytes() for name in keys} == keys
    assert served == [("127.0.0.1", 8123), ("127.0.0.1", 8000)]
    # Refused with a reason, nothing served: another configuration than the log's, a damaged key.
    assert cli.main(["serve", "--data", str(data), "--reasonable-monitoring-window", "5"]) == 1
    (data / "vrf.key").write_bytes(b"short")
    assert cli.main(["serve", "--data", str(data)]) == 1
    assert len(served) == 2
    out, err = capsys.readouterr()
    assert "another configuration" in err and "vrf.key does not hold a 32-byte key" in err
    assert not any(key.hex() in out + err for key in keys.values())


def test_an_idle_log_publishes_only_a_heartbeat() -> None:
    d = new_directory()
    app = create_app(d, publish_interval=INTERVAL, heartbeat=1.0)
    with serve_in_thread(app) as url, HttpTransport(url, timeout=5) as t:
        size = t.health()["size"]  # the entry published at start
        time.sleep(8 * INTERVAL)
        assert t.health()["size"] == size, "nothing staged: no entry per interval"
        owner = veritree.KtClient(t.config())
        walk = owner.distinguished_request()
        request = owner.owner_init_request(b"erin", owner.verify_distinguished(walk, t.distinguished(walk))[-1][0])
        owner.verify_owner_init(request, t.owner_init(request))
        request = owner.update_request(b"erin", [b"phone"])
        assert owner.verify_update(request, t.update(request)) == [(0, b"phone")]  # published at the next interval
        assert t.health()["size"] == size + 1
        time.sleep(1.3)
        assert t.health()["size"] == size + 2, "the heartbeat keeps the newest entry fresh"
    with pytest.raises(ValueError, match="heartbeat"):
        create_app(d, heartbeat=0)
