"""The Contact Key Verification section of `veritree bench`: a directory of
accounts (each a device set signed by its account key), its size on disk,
lookups verified end to end (KEYTRANS proofs and the account signature) in
the same process and through the HTTP server, and device updates published.

Publishing is bound by the VRF and the account-key signatures, so its rate
is set against the VRF limit measured in the same run, as in the KEYTRANS
section (`veritree.bench.kt`).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import veritree
from veritree._extras import SERVER_EXTRA, needs_server_extra
from veritree.bench.common import Row, vrf_limit
from veritree.ckv.accounts import AccountKey, Device
from veritree.ckv.client import CkvClient
from veritree.ckv.clock import now_ms
from veritree.ckv.transport import LocalTransport, Transport, Unavailable

if TYPE_CHECKING:
    from veritree.ckv.http import HttpTransport

RMW = 60_000
BUILD_BATCH = 100_000
SIGNING_KEY, VRF_KEY = b"\x01" * 32, b"\x02" * 32


def _identifier(i: int) -> bytes:
    return b"tel:+1%010d" % i


def _account(i: int) -> AccountKey:
    return AccountKey(i.to_bytes(8, "big") * 4)


def _devices(i: int, epoch: int, count: int) -> tuple[Device, ...]:
    return tuple(Device(b"device-%d" % k, (i * 31 + k + epoch).to_bytes(32, "big")) for k in range(count))


def ckv_directory(accounts: int, devices: int = 3, lookups: int = 500, updates: int = 10_000,
                  http: bool = True) -> list[Row]:
    """Builds an on-disk directory of `accounts` accounts with `devices`
    devices each, then measures lookups (in process, and through a local
    HTTP server) and device updates."""
    limit = vrf_limit()
    section = f"Contact Key Verification directory, {accounts:,} accounts x {devices} devices"
    with tempfile.TemporaryDirectory() as tmp:
        # The layout `veritree serve --data` uses, so that it can serve it.
        data = Path(tmp)
        for name, key in (("signing.key", SIGNING_KEY), ("vrf.key", VRF_KEY)):
            (data / name).write_bytes(key)
            (data / name).chmod(0o600)
        path = data / "log"
        d = veritree.KtDirectory.open(path, SIGNING_KEY, VRF_KEY, create=True, reasonable_monitoring_window=RMW)
        clock = now_ms() - 3_600_000  # entries of the last hour: real clients check them against their clock
        # Each account signs its own set on its own device: timed apart from the directory's work.
        t = time.perf_counter()
        values = [_account(i).sign(_identifier(i), _devices(i, 1, devices), 1) for i in range(accounts)]
        signing = time.perf_counter() - t
        t = time.perf_counter()
        for start in range(0, accounts, BUILD_BATCH):
            for i in range(start, min(accounts, start + BUILD_BATCH)):
                d.stage(_identifier(i), values[i])
            d.publish(clock)
            clock += 1000
        build = time.perf_counter() - t
        del values
        disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        rows = [
            Row(section, f"build {accounts:,} accounts (stage, VRF, publish, durable)", accounts / build,
                "accounts/s", accounts / build / limit, "VRF limit", {"seconds": build}),
            Row(section, "account keys sign their device sets (client side, one core)", accounts / signing,
                "signatures/s"),
            Row(section, "bytes per account on disk", disk / accounts, "bytes",
                None, "", {"value_bytes": len(_account(0).sign(_identifier(0), _devices(0, 1, devices), 1))}),
        ]
        rows += _lookups(section, "in process", LocalTransport(d, now_ms), accounts, lookups)
        rows += _updates(section, d, accounts, devices, updates, now_ms(), limit)
        d.close()
        if http:
            http_transport = _http_transport()
            if http_transport is None:
                rows[-1].extra["note"] = f"no lookups over HTTP: the server extra is not installed ({SERVER_EXTRA})"
            else:
                with _server(data, http_transport) as url, http_transport(url) as transport:
                    rows += _lookups(section, "over HTTP (veritree serve, another process)", transport, accounts,
                                     lookups)
    return rows


def _http_transport() -> type[HttpTransport] | None:
    """`HttpTransport`, or None without the server extra (which `veritree serve` needs too)."""
    try:
        import veritree.ckv.server  # noqa: F401  (what `veritree serve` runs)
        from veritree.ckv.http import HttpTransport
    except ModuleNotFoundError as e:
        if needs_server_extra(e):
            return None
        raise
    return HttpTransport


@contextmanager
def _server(data: Path, http_transport: type[HttpTransport]) -> Iterator[str]:
    """`veritree serve` on `data` in its own process (a server thread in
    this process would share its interpreter lock with the client)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", "import sys; from veritree.cli import main; sys.exit(main(sys.argv[1:]))",
           "serve", "--data", str(data), "--port", str(port), "--publish-interval", "3600",
           "--reasonable-monitoring-window", str(RMW)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # it replays the journal first
        with http_transport(url) as probe:
            while True:
                try:
                    probe.health()
                    break
                except Unavailable:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("veritree serve did not start") from None
                    time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)


def _lookups(section: str, how: str, transport: Transport, accounts: int, count: int) -> list[Row]:
    """One client looks up `count` accounts, each verified: the KEYTRANS
    proof, then the account key's signature on the device set."""
    client = CkvClient.connect(transport)
    client.lookup(_identifier(0))  # the client's first view of the tree
    t = time.perf_counter()
    for k in range(1, count + 1):
        assert client.lookup(_identifier(k * 7919 % accounts)).devices
    dt = time.perf_counter() - t
    rows = [Row(section, f"lookups with verification, {how}", count / dt, "lookups/s")]
    if how == "in process":
        request = veritree.KtClient(transport.config()).search_request(_identifier(1))
        rows.append(Row(section, "lookup proof (search response, first contact)", len(transport.search(request)),
                        "bytes"))
    return rows


def _updates(section: str, d: veritree.KtDirectory, accounts: int, devices: int, count: int, now: int,
             limit: float) -> list[Row]:
    """Accounts add a device: each signs its new set (on its own device, not
    timed), the directory stages them all and one publish makes them visible
    (durably)."""
    chosen = [k * 104_729 % accounts for k in range(count)]
    values = [_account(i).sign(_identifier(i), _devices(i, 2, devices + 1), 2) for i in chosen]
    t = time.perf_counter()
    for i, value in zip(chosen, values):
        d.stage(_identifier(i), value)
    d.publish(now)
    dt = time.perf_counter() - t
    return [Row(section, f"device updates published ({count:,} in one entry)", count / dt, "updates/s",
                count / dt / limit, "VRF limit")]
