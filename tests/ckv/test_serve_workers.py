"""`veritree serve --workers N`: one publisher process and N reader processes
sharing the port. Reads are answered by the readers from the newest
publication; updates pass through them to the publisher; stopping the
publisher stops them, and a killed publisher leaves none behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from veritree.ckv.accounts import Device
from veritree.ckv.client import CkvClient
from veritree.ckv.http import HttpTransport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workers_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "veritree.cli", "serve", "--data", str(tmp_path / "data"), "--create",
                             "--port", str(port), "--publish-interval", "0.05", "--heartbeat", "0.1", "--workers", "2",
                             "--reasonable-monitoring-window", "200"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "serve --workers did not come up"
        time.sleep(0.1)
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_answer_reads_and_pass_updates_to_the_publisher(
        served: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, url = served
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    phone = Device(b"phone", bytes(range(32)))
    with HttpTransport(url, timeout=10) as t:
        dave = CkvClient.connect(t)
        dave.create_account([b"dave"], phone)  # its update passes through a worker to the publisher
        # Other clients, on other connections (so other workers too), find and verify it.
        for _ in range(6):
            with HttpTransport(url, timeout=10) as other:
                contact = CkvClient.connect(other).lookup(b"dave")
                assert contact.devices == {phone.device_id: phone.key}
        before = t.health()["size"]
        time.sleep(0.3)
        assert t.health()["size"] > before, "readers see new entries"
    # Stopping the publisher stops its workers (uvicorn shuts down, then dies of the signal it caught).
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    gone(workers)


def test_a_killed_publisher_leaves_no_worker_behind(served: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, _ = served
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    gone(workers)


def gone(workers: list[int]) -> None:
    """Waits (a few seconds at most) for every worker to end."""
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers):
        assert time.monotonic() < deadline, "workers outlived their publisher"
        time.sleep(0.1)
