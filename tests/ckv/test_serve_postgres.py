"""`veritree serve --db postgresql://...`: servers on a shared database. One publishes (with its workers);
a second one waits for the lease and takes over when the first is killed, with every acknowledged account
still there; a `--read-only` server on the streaming standby answers reads and reports its lag in health."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from veritree.ckv.accounts import Device
from veritree.ckv.client import CkvClient
from veritree.ckv.http import HttpTransport

PHONE = Device(b"phone", bytes(range(32)))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(data: Path, db: str, *extra: str, up: bool = True) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`veritree serve --db` on a free port; waits until its health answers (`up`)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "veritree.cli", "serve", "--data", str(data), "--db", db, "--create",
                             "--port", str(port), "--publish-interval", "0.05", "--heartbeat", "0.2",
                             "--reasonable-monitoring-window", "200", *extra])
    url = f"http://127.0.0.1:{port}"
    try:
        if up:
            wait_healthy(proc, url)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_healthy(proc: subprocess.Popen[bytes], url: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(url + "/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline and proc.poll() is None, "the server did not come up"
        time.sleep(0.1)


def test_servers_share_a_database_and_a_second_publisher_takes_over(
        tmp_path: Path, pg_url: str, pg_standby_url: str) -> None:
    data = tmp_path / "data"
    with serve(data, pg_url, "--workers", "1") as (first, url):
        with HttpTransport(url, timeout=10) as t:
            CkvClient.connect(t).create_account([b"dave"], PHONE)
        # Another server with the same keys waits for the lease, serving nothing meanwhile.
        with serve(data, pg_url, up=False) as (second, url2):
            time.sleep(1.0)
            assert second.poll() is None
            first.kill()
            first.wait()
            wait_healthy(second, url2, within=30)
            with HttpTransport(url2, timeout=10) as t:
                assert CkvClient.connect(t).lookup(b"dave").devices == {PHONE.device_id: PHONE.key}
                CkvClient.connect(t).create_account([b"erin"], PHONE)
            # A read-only server on the standby answers reads, and says how far behind it is.
            with serve(data, pg_standby_url, "--read-only") as (_, url3), HttpTransport(url3, timeout=10) as t:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        assert CkvClient.connect(t).lookup(b"erin").devices == {PHONE.device_id: PHONE.key}
                        break
                    except Exception:  # noqa: BLE001 - not replicated yet
                        assert time.monotonic() < deadline
                        time.sleep(0.1)
                health = t.health()
                assert health["replica_lag_ms"] >= 0
                r = httpx.post(url3 + "/v1/update", content=b"\x00", headers={"content-type": "application/octet-stream"})
                assert r.status_code in (400, 503)
