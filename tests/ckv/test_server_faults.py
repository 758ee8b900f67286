"""The directory's HTTP service when things go wrong (`veritree.ckv.server`,
`veritree.ckv.http`): writes that fail make health 503 until one works again,
a request body that stalls or trickles is cut off at its deadline with 408
and a closed connection, and the client reads no answer past its size cap.
"""

from __future__ import annotations

import gzip
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
import veritree
from veritree import cli
from veritree.ckv.http import MAX_RESPONSE_BYTES, HttpTransport
from veritree.ckv.server import create_app, serve_in_thread
from veritree.ckv.transport import Unavailable

SIGNING_KEY = bytes(range(32))
VRF_KEY = bytes(range(32, 64))
AUDITOR_KEY = bytes(range(64, 96))
INTERVAL = 0.05  # seconds between publications
BODY_TIMEOUT = 0.5
SERVER = "veritree.ckv.server"


def new_directory(**config: Any) -> veritree.KtDirectory:
    return veritree.KtDirectory(SIGNING_KEY, VRF_KEY, reasonable_monitoring_window=200, **config)


class BrokenDisk:
    """A real directory whose writes raise StorageError while `full` is set."""

    def __init__(self, directory: veritree.KtDirectory) -> None:
        self.directory = directory
        self.full = False
        self.publications = 0  # tried

    def publish(self, timestamp: int | None = None) -> int:
        self.publications += 1
        if self.full:
            raise veritree.StorageError("No space left on device (os error 28)")
        return self.directory.publish(timestamp)

    def set_auditor_head(self, head: bytes) -> None:
        if self.full:
            raise veritree.StorageError("Disk quota exceeded (os error 122)")
        self.directory.set_auditor_head(head)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.directory, name)


def wait_for(status: int, url: str, timeout: float = 1.5) -> httpx.Response:
    """The health answer once its status is `status`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(url + "/v1/health", timeout=1)
        if answer.status_code == status or time.monotonic() > deadline:
            assert answer.status_code == status, answer.text
            return answer
        time.sleep(INTERVAL / 2)


def server_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == SERVER]


def test_health_is_503_while_publishing_fails_and_200_once_it_works(caplog: pytest.LogCaptureFixture) -> None:
    disk = BrokenDisk(new_directory())
    app = create_app(cast(veritree.KtDirectory, disk), publish_interval=INTERVAL, update_wait=5)
    with caplog.at_level(logging.INFO, SERVER), serve_in_thread(app) as url, HttpTransport(url, timeout=5) as t:
        assert wait_for(200, url).json().keys() == {"size", "last_publish_ms"}
        owner = veritree.KtClient(t.config())
        walk = owner.distinguished_request()
        request = owner.owner_init_request(b"dave", owner.verify_distinguished(walk, t.distinguished(walk))[-1][0])
        owner.verify_owner_init(request, t.owner_init(request))
        disk.full = True
        answer = wait_for(503, url).json()
        assert answer["error"] == "publishing failed: No space left on device (os error 28)"
        assert answer["size"] == disk.size and answer["last_publish_ms"] == disk.last_timestamp
        with pytest.raises(Unavailable, match="503: publishing failed: No space left on device"):
            t.health()
        # An update is staged and waits; the publisher keeps trying, and logs the run of failures once.
        request = owner.update_request(b"dave", [b"phone"])
        result: list[list[tuple[int, bytes]]] = []
        waiting = threading.Thread(target=lambda: result.append(owner.verify_update(request, t.update(request))))
        waiting.start()
        tries = disk.publications
        while disk.publications < tries + 4:
            time.sleep(INTERVAL / 2)
        assert waiting.is_alive() and wait_for(503, url).status_code == 503
        disk.full = False
        waiting.join(5)
        assert result == [[(0, b"phone")]]
        health = t.health()
        assert health["size"] > answer["size"] and (health["last_publish_ms"] or 0) > answer["last_publish_ms"]
    assert server_records(caplog) == [
        (logging.ERROR, f"publishing failed (retrying every {INTERVAL} s): No space left on device (os error 28)"),
        (logging.WARNING, "publishing works again"),
    ]


def test_a_failing_heartbeat_makes_health_503() -> None:
    disk = BrokenDisk(new_directory())
    app = create_app(cast(veritree.KtDirectory, disk), publish_interval=INTERVAL, heartbeat=0.2)
    with serve_in_thread(app) as url:
        size = wait_for(200, url).json()["size"]
        disk.full = True  # nothing is staged: only the heartbeat writes
        assert wait_for(503, url).json()["error"].startswith("publishing failed: No space left")
        disk.full = False
        assert wait_for(200, url).json()["size"] == size + 1  # the heartbeat that worked


def test_storing_the_auditor_head_fails_until_a_write_works(caplog: pytest.LogCaptureFixture) -> None:
    disk = BrokenDisk(new_directory(auditor_public_key=veritree.KtAuditor.public_key(AUDITOR_KEY)))
    app = create_app(cast(veritree.KtDirectory, disk), publish_interval=INTERVAL, heartbeat=60)
    with caplog.at_level(logging.INFO, SERVER), serve_in_thread(app) as url, HttpTransport(url, timeout=5) as t:
        auditor = veritree.KtAuditor(t.config(), AUDITOR_KEY)
        head = auditor.process(t.auditor_update(0))
        disk.full = True
        with pytest.raises(Unavailable, match="503: the directory's storage failed"):
            t.set_auditor_head(head)
        assert wait_for(503, url).json()["error"] == (
            "storing the auditor's head failed: Disk quota exceeded (os error 122)")
        disk.full = False
        t.set_auditor_head(head)  # the auditor tries again
        wait_for(200, url)
        # A publication that works clears a failure to store the head as well: both write one journal.
        disk.full = True
        with pytest.raises(Unavailable):
            t.set_auditor_head(head)
        wait_for(503, url)
        disk.full = False
        disk.stage(b"erin", b"phone")
        wait_for(200, url)
    head_failed = (logging.ERROR, "storing the auditor's head failed: Disk quota exceeded (os error 122)")
    assert server_records(caplog) == [
        head_failed,
        (logging.WARNING, "storing the auditor's head works again"),
        head_failed,
        (logging.WARNING, "the directory's writes work again: publishing succeeded "
                          "(storing the auditor's head failed before)"),
    ]


@pytest.fixture(scope="module")
def patient() -> Iterator[str]:
    """A server that waits BODY_TIMEOUT for a request's body."""
    with serve_in_thread(create_app(new_directory(), publish_interval=INTERVAL, body_timeout=BODY_TIMEOUT)) as url:
        yield url


def request_head(length: int, close: bool = False) -> bytes:
    """A request's head; without `close`, the connection is the server's to close."""
    return (b"POST /v1/distinguished HTTP/1.1\r\nHost: directory\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (length, b"Connection: close\r\n" if close else b""))


def exchange(url: str, parts: Iterator[bytes], pause: float) -> tuple[bytes, float, int]:
    """Sends `parts`, `pause` seconds apart, until the server answers; reads until it closes.

    Returns the answer, the seconds from the first part to the close, and
    how many parts were sent."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port or 80), timeout=3) as s:
        start, sent = time.monotonic(), 0
        for part in parts:
            if select.select([s], [], [], 0)[0]:
                break  # answered
            s.sendall(part)
            sent += 1
            select.select([s], [], [], pause)
        answer = b""
        try:
            while chunk := s.recv(4096):  # b"": the server closed the connection
                answer += chunk
        except ConnectionResetError:  # it closed with a byte of ours unread
            pass
        return answer, time.monotonic() - start, sent


def refusal(answer: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *fields = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
    return int(status.split()[1]), headers, json.loads(body)


def test_a_stalled_body_is_answered_408_and_its_connection_closed(patient: str) -> None:
    answer, elapsed, _ = exchange(patient, iter([request_head(100) + bytes(10)]), 0)
    status, headers, body = refusal(answer)
    assert (status, headers["connection"]) == (408, "close")
    assert body == {"error": f"the body did not arrive within {BODY_TIMEOUT} s"}
    assert BODY_TIMEOUT - 0.05 < elapsed < BODY_TIMEOUT + 0.5


def test_a_trickling_body_is_cut_at_the_deadline(patient: str) -> None:
    answer, elapsed, sent = exchange(patient, iter([request_head(100)] + [b"\x00"] * 100), 0.1)
    status, headers, _ = refusal(answer)
    assert (status, headers["connection"]) == (408, "close")
    assert elapsed < BODY_TIMEOUT + 0.5 and sent < 12


def test_a_body_in_pieces_within_the_deadline_is_answered(patient: str) -> None:
    client = veritree.KtClient(httpx.get(patient + "/v1/config", timeout=5).content)
    request = client.distinguished_request()
    answer, _, sent = exchange(patient, iter([request_head(len(request), close=True) + request[:1], request[1:]]), 0.1)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and sent == 2
    client.verify_distinguished(request, body)
    with HttpTransport(patient, timeout=5) as t:  # and over a kept-alive connection, one after another
        for _ in range(3):
            request = client.distinguished_request()
            client.verify_distinguished(request, t.distinguished(request))


def test_body_timeout_must_be_positive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="body_timeout"):
            create_app(new_directory(), body_timeout=bad)
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port: None)
    assert cli.main(["serve", "--data", str(tmp_path / "data"), "--create", "--body-timeout", "0"]) == 2
    assert not (tmp_path / "data").exists(), "refused before anything is made"
    assert cli.main(["serve", "--data", str(tmp_path / "data"), "--create", "--body-timeout", "2.5"]) == 0


class Chunks(httpx.SyncByteStream):
    """`count` chunks of `size` bytes, counting how many were read."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.read = count, size, 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.count):
            self.read += 1
            yield bytes(self.size)


def answering(status: int, stream: httpx.SyncByteStream, headers: dict[str, str] | None = None) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "identity"
        return httpx.Response(status, headers=headers, stream=stream)

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_the_client_reads_no_answer_past_its_cap() -> None:
    assert 2**20 < MAX_RESPONSE_BYTES <= 16 * 2**20
    cap = 4096
    # Announced too large: not read at all.
    stream = Chunks(1000, 1024)
    with answering(200, stream, {"content-length": str(1000 * 1024)}) as client:
        with pytest.raises(Unavailable, match=r"over max_response_bytes \(4096 bytes\): it announces 1024000"):
            HttpTransport("http://directory", max_response_bytes=cap, client=client).config()
    assert stream.read == 0
    # Unannounced (chunked): read no further than the cap and one chunk, an error's answer too.
    for status in (200, 503, 400):
        stream = Chunks(1000, 1024)
        with answering(status, stream) as client, pytest.raises(Unavailable, match="over max_response_bytes"):
            HttpTransport("http://directory", max_response_bytes=cap, client=client).search(b"\x00")
        assert stream.read == cap // 1024 + 1
    # An honest size passes, announced or not.
    for headers in ({"content-length": str(cap)}, None):
        with answering(200, Chunks(4, 1024), headers) as client:
            assert HttpTransport("http://directory", max_response_bytes=cap, client=client).config() == bytes(cap)
    # An encoding not asked for is refused rather than inflated past the cap.
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(
            200, headers={"content-encoding": "gzip"}, content=gzip.compress(bytes(10**6))))) as client:
        with pytest.raises(Unavailable, match="gzip"):
            HttpTransport("http://directory", client=client).config()
    with pytest.raises(ValueError, match="max_response_bytes"):
        HttpTransport("http://directory", max_response_bytes=0)


def test_the_cap_holds_over_the_network(patient: str) -> None:
    config = httpx.get(patient + "/v1/config", timeout=5).content
    with HttpTransport(patient, timeout=5, max_response_bytes=len(config)) as t:
        assert t.config() == config
    with HttpTransport(patient, timeout=5, max_response_bytes=len(config) - 1) as t:
        with pytest.raises(Unavailable, match="over max_response_bytes"):
            t.config()
        assert t.health()["size"] > 0  # the connection it dropped is not reused
