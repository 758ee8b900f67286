"""The KEYTRANS directory on disk, read by other processes: the build rate
against the VRF limit, the private memory (RssAnon) of the publisher and of
reader processes, bytes per label, reopen time, the search serve rate warm and
cold against the in-memory directory, and HTTP serving by `veritree serve`
workers (wrk replaying recorded requests), alone and beside a publisher taking
updates every second. Every rate is set against a reference of the same run.

    python -c "from veritree.bench import kt_on_disk, print_table; print_table({}, kt_on_disk(10**6, '/tmp/kt6'))"
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import veritree
from veritree.bench.common import Row, vrf_limit
from veritree._sockets import reuse_port_socket

T0 = 1_700_000_000_000
SIGNING = bytes(range(32))
VRF = bytes(range(32, 64))
VALUE = 250  # bytes: a signed set of a few device keys


def _value(i: int) -> bytes:
    """Label `i`'s value: keys and signatures do not compress (a database's would otherwise)."""
    return hashlib.shake_128(b"%d" % i).digest(VALUE)


def memory(pid: int | str = "self") -> dict[str, float]:
    """RssAnon (private memory the kernel cannot drop), RssFile and VmRSS of `pid`, in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmRSS"):
                out[key] = int(rest.split()[0]) / 1024
    return out


def evict(path: Path) -> str:
    """Drops the files of `path` from the page cache (pages no process maps): the kernel's whole cache
    where this process may, else each file's pages (posix_fadvise). Says which."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return "drop_caches"
    except OSError:
        pass
    for p in path.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    return "posix_fadvise"


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())


def _open(path: Path, create: bool = False, reader: bool = False) -> veritree.KtDirectory:
    return veritree.KtDirectory.open(path, SIGNING, VRF, create=create, reader=reader,
                                     reasonable_monitoring_window=10_000)


def _build(d: veritree.KtDirectory, labels: int, entry: int) -> tuple[float, float]:
    """Stages and publishes `labels` labels in entries of `entry`; returns the seconds publishing took,
    then the seconds completing the VRF proofs took."""
    t = time.perf_counter()
    for start in range(0, labels, entry):
        for i in range(start, min(labels, start + entry)):
            d.stage(b"user%d" % i, _value(i))
        d.publish(T0 + start // entry * 1000)
    build = time.perf_counter() - t
    t = time.perf_counter()
    while d.fill_proofs(1 << 16):
        pass
    return build, time.perf_counter() - t


def _requests(config: bytes, labels: int, count: int) -> list[bytes]:
    """First-contact greatest-version searches for random labels."""
    rng = random.Random(5)
    return [veritree.KtClient(config).search_request(b"user%d" % rng.randrange(labels)) for _ in range(count)]


def _serve_rate(d: veritree.KtDirectory, requests: list[bytes]) -> float:
    t = time.perf_counter()
    for r in requests:
        d.search(r)
    return len(requests) / (time.perf_counter() - t)


def reader_child(path: str, requests_file: str) -> dict[str, object]:
    """A reader process (run by `python -m veritree.bench kt-reader`): the first pass over the requests
    (cold, if the cache was dropped), a second (warm), and its memory after."""
    with open(requests_file) as f:
        requests = [bytes.fromhex(line) for line in f]
    t = time.perf_counter()
    d = _open(Path(path), reader=True)
    opened = time.perf_counter() - t
    cold = _serve_rate(d, requests)
    warm = _serve_rate(d, requests)
    return {"open_s": opened, "cold": cold, "warm": warm, **memory()}


def _run_reader(path: Path, requests_file: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "veritree.bench", "kt-reader", str(path), str(requests_file)],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def kt_on_disk(labels: int, data: str | None = None, entry: int = 100_000, searches: int = 2000,
               memory_reference: bool = True, http: bool = True, http_seconds: float = 10.0) -> list[Row]:
    """Builds a directory of `labels` labels (250-byte values, entries of `entry`) on disk in `data`
    (default: a temporary folder, removed after) and measures it; see the module's text."""
    section = f"KEYTRANS directory on disk, {labels:,} labels"
    limit = vrf_limit()
    root = Path(data) if data else Path(tempfile.mkdtemp(prefix="kt-disk-"))
    try:
        return _measure(section, limit, root, labels, entry, searches, memory_reference, http, http_seconds)
    finally:
        if not data:
            shutil.rmtree(root, ignore_errors=True)


def _measure(section: str, limit: float, root: Path, labels: int, entry: int, searches: int,
             memory_reference: bool, http: bool, http_seconds: float) -> list[Row]:
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    path = root / "log"
    for name, key in (("signing.key", SIGNING), ("vrf.key", VRF)):
        (root / name).write_bytes(key)
        os.chmod(root / name, 0o600)
    rows = []
    d = _open(path, create=True)
    build, proofs = _build(d, labels, entry)
    rows.append(Row(section, f"publish {labels:,} labels, {entry:,} per entry", labels / build, "labels/s",
                    labels / build / limit, "VRF limit", {"seconds": build}))
    rows.append(Row(section, "  then complete their VRF proofs (when idle)", labels / proofs, "labels/s", None, "",
                    {"seconds": proofs}))
    both = labels / (build + proofs)
    rows.append(Row(section, "  publish and complete the proofs", both, "labels/s", both / limit, "VRF limit"))
    mem = memory()
    rows.append(Row(section, "publisher's private memory (RssAnon) after the build", mem["RssAnon"], "MiB",
                    None, "", {"RSS MiB": round(mem["VmRSS"]), "RssFile MiB": round(mem["RssFile"])}))
    disk = _disk_bytes(path)
    parts = {f"{part} B/label": round(_disk_bytes(path / part) / labels, 1) for part in ("labels", "map", "log")}
    rows.append(Row(section, "bytes per label on disk", disk / labels, "bytes", disk / labels / (VALUE + 300),
                    "value + 300 bytes", {"value bytes": VALUE, **parts}))
    requests = _requests(d.config, labels, searches)
    _serve_rate(d, requests)  # warms the cache
    ours_warm = _serve_rate(d, requests)
    d.close()
    reopen = min(_time(lambda: _open(path).close()) for _ in range(3))
    rows.append(Row(section, "reopen the publisher (best of 3)", 1 / reopen, "reopens/s", None, "",
                    {"seconds": reopen}))
    requests_file = root / "requests.hex"
    requests_file.write_text("".join(r.hex() + "\n" for r in requests))
    how = evict(path)
    cold = _run_reader(path, requests_file)
    reference = ours_warm
    if memory_reference:
        m = veritree.KtDirectory(SIGNING, VRF, reasonable_monitoring_window=10_000)
        _build(m, labels, entry)
        _serve_rate(m, requests)
        reference = _serve_rate(m, requests)
        rows.append(Row(section, "search serve rate, in-memory directory (reference)", reference, "searches/s"))
        del m
    rows.append(Row(section, "search serve rate, publisher on disk (warm)", ours_warm, "searches/s",
                    ours_warm / reference, "in memory"))
    rows.append(Row(section, "search serve rate, reader process, warm", cold["warm"], "searches/s",
                    cold["warm"] / reference, "in memory"))
    rows.append(Row(section, "reader process's private memory (RssAnon), after", cold["RssAnon"], "MiB", None, "",
                    {"RSS MiB": round(cold["VmRSS"]), "RssFile MiB": round(cold["RssFile"])}))
    rows.append(Row(section, f"search serve rate, reader process, cold ({how})", cold["cold"], "searches/s",
                    cold["cold"] / reference, "in memory", {"open seconds": round(cold["open_s"], 4)}))
    if http:
        rows += _http(section, root, path, labels, cold["warm"], http_seconds)
    return rows


def _time(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def _http(section: str, root: Path, path: Path, labels: int, in_process: float, seconds: float) -> list[Row]:
    """wrk against `workers` reader processes of `veritree serve`, alone and beside a publisher taking
    10^4 updates per entry every second."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return [Row(section, "HTTP: wrk is not installed (apt-get install wrk)", 0.0, "")]
    script = root / "search.lua"
    script.write_text(_WRK_SCRIPT.replace("REQUESTS", str(root / "requests.hex")))
    rows = []
    for busy in (False, True):
        for workers in (1, 2):
            with _workers(root, workers) as port:
                publisher = _Publisher(path, labels) if busy else None
                try:
                    out = subprocess.run([wrk, "-t1", "-c32", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script),
                                          f"http://127.0.0.1:{port}/v1/search"],
                                         capture_output=True, text=True, check=True).stdout
                finally:
                    published = publisher.stop() if publisher else 0
            rate, p50, p99, errors = _wrk_figures(out)
            case = f"HTTP search, serve --workers {workers}" + (", publisher adding 10^4 updates/s" if busy else "")
            extra: dict[str, float | int | str] = {"p50 ms": p50, "p99 ms": p99, "non-2xx": errors}
            if busy:
                extra["updates published"] = published
            rows.append(Row(section, case, rate, "responses/s", rate / in_process, "reader in process", extra))
    return rows


class _Publisher:
    """Publishes 10^4 updates (new versions of existing labels) as one entry every second, completing
    their proofs in between, until stopped."""

    def __init__(self, path: Path, labels: int) -> None:
        self.d = _open(path)
        self.labels = labels
        self.stopping = threading.Event()
        self.published = 0
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self) -> None:
        rng = random.Random(9)
        clock = (self.d.last_timestamp or T0) + 1000
        while not self.stopping.is_set():
            tick = time.monotonic() + 1
            chosen = {rng.randrange(self.labels) for _ in range(10_000)}
            for i in chosen:
                self.d.stage(b"user%d" % i, _value(i + 1))
            self.d.publish(clock)
            self.published += len(chosen)
            clock += 1000
            while time.monotonic() < tick and self.d.fill_proofs(1024):
                pass
            self.stopping.wait(max(0.0, tick - time.monotonic()))

    def stop(self) -> int:
        self.stopping.set()
        self.thread.join()
        self.d.close()
        return self.published


class _workers:
    """`workers` reader processes of `veritree serve` on a free port of 127.0.0.1."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root, self.count = root, workers

    def __enter__(self) -> int:
        self.sock = reuse_port_socket("127.0.0.1", 0)  # holds a free port for the workers' group
        port = int(self.sock.getsockname()[1])
        command = [sys.executable, "-m", "veritree.cli", "serve-worker", "--data", str(self.root), "--host",
                   "127.0.0.1", "--port", str(port), "--publisher-socket", str(self.root / "none.sock"),
                   "--reasonable-monitoring-window", "10000", "--body-timeout", "10", "--parent", str(os.getpid())]
        self.procs = [subprocess.Popen(command) for _ in range(self.count)]
        deadline = time.monotonic() + 30
        while True:  # up once one answers (health is 503 here: no publisher), then time for the others
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"GET /v1/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if c.recv(12).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.2)
        time.sleep(1.0)
        return port

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()
        self.sock.close()


def _wrk_figures(out: str) -> tuple[float, float, float, int]:
    """Requests/s, p50 and p99 latency (ms) and non-2xx responses from wrk's report."""
    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return (float(rate.group(1)) if rate else 0.0, ms("50%"), ms("99%"), int(errors.group(1)) if errors else 0)


# Replays the recorded requests, each thread from its own place in the list.
_WRK_SCRIPT = r"""
local requests = {}
local function unhex(h) return (h:gsub("..", function(c) return string.char(tonumber(c, 16)) end)) end
for line in io.lines("REQUESTS") do requests[#requests + 1] = unhex(line) end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
request = function()
  i = i % #requests + 1
  return wrk.format(nil, nil, nil, requests[i])
end
"""
