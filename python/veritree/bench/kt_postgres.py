"""The KEYTRANS directory in PostgreSQL against the embedded one, in the same run: the publish rate, search
lookups/s and p99 with 1, 2 and 4 reader processes, the database round trips and bytes read per lookup,
and bytes per label in the database.

    python -m veritree.bench kt-postgres URL LABELS     # URL: an empty schema of a test server

Reader processes (`python -m veritree.bench kt-lookups TARGET REQUESTS SECONDS`) open the directory, warm
up, and search together for SECONDS, timing each search.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import veritree
from veritree.bench.common import Row
from veritree.bench.kt_disk import SIGNING, VRF, _build, _requests

READERS = (1, 2, 4)


def _open(target: str, create: bool = False, reader: bool = False) -> veritree.KtDirectory:
    return veritree.KtDirectory.open(target, SIGNING, VRF, create=create, reader=reader,
                                     reasonable_monitoring_window=10_000)


def lookups_child(target: str, requests_file: str, seconds: float) -> dict[str, object]:
    """A reader process: opens `target`, answers every request once (warm), says it is ready, and once
    told when to start (a wall-clock time, on stdin) answers them in a loop for `seconds`; returns each
    answer's time (ms)."""
    with open(requests_file) as f:
        requests = [bytes.fromhex(line) for line in f]
    t = time.perf_counter()
    d = _open(target, reader=True)
    opened = time.perf_counter() - t
    for r in requests:
        d.search(r)
    print("ready", flush=True)
    time.sleep(max(0.0, float(sys.stdin.readline()) - time.time()))
    times = []
    end = time.perf_counter() + seconds
    i = 0
    while (now := time.perf_counter()) < end:
        d.search(requests[i % len(requests)])
        times.append((time.perf_counter() - now) * 1000)
        i += 1
    d.close()
    return {"open_s": opened, "times_ms": times}


def _readers(target: str, requests_file: Path, n: int, seconds: float) -> tuple[float, float, float]:
    """`n` reader processes searching together for `seconds`: searches/s in all, p99 ms, slowest open s."""
    procs = [subprocess.Popen([sys.executable, "-m", "veritree.bench", "kt-lookups", target, str(requests_file),
                               str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for p in procs:  # each opened (a follower first copies the directory) and warmed up
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    start = time.time() + 0.2
    for p in procs:  # all told before any is waited for: they search together
        assert p.stdin is not None
        p.stdin.write(f"{start}\n")
        p.stdin.close()
    results = []
    for p in procs:
        assert p.stdout is not None
        out = p.stdout.read()
        if p.wait() != 0:
            raise RuntimeError(f"a reader process failed ({p.returncode})")
        results.append(json.loads(out))
    times = sorted(t for r in results for t in r["times_ms"])
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return len(times) / seconds, p99, max(r["open_s"] for r in results)


def _sql(url: str, query: str) -> str:
    return subprocess.run(["psql", "-X", "-At", "-d", url, "-c", query], capture_output=True, text=True,
                          check=True).stdout.strip()


def _transactions(url: str) -> int:
    """Transactions committed in the database so far (each read of a follower is one)."""
    return int(_sql(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"))


def kt_on_postgres(url: str, labels: int, entry: int = 100_000, searches: int = 2000,
                   seconds: float = 5.0) -> list[Row]:
    section = f"KEYTRANS directory in PostgreSQL, {labels:,} labels"
    rows = []
    root = Path(tempfile.mkdtemp(prefix="kt-pg-"))
    try:
        folder = str(root / "log")
        rates = {}
        for name, target in (("embedded", folder), ("PostgreSQL", url)):
            with _open(target, create=True) as d:
                build, proofs = _build(d, labels, entry)
                config = d.config
            rates[name] = labels / (build + proofs)
        rows.append(Row(section, "publish and complete the proofs, embedded (reference)", rates["embedded"],
                        "labels/s"))
        rows.append(Row(section, "publish and complete the proofs, PostgreSQL", rates["PostgreSQL"], "labels/s",
                        rates["PostgreSQL"] / rates["embedded"], "embedded"))
        size = int(_sql(url, "SELECT pg_total_relation_size('veritree_objects')"))
        rows.append(Row(section, "bytes per label in PostgreSQL (pg_total_relation_size)", size / labels, "bytes",
                        None, "", {"deltas": int(_sql(url, "SELECT count(*) FROM veritree_objects"))}))
        head = int(_sql(url, "SELECT octet_length(data) FROM veritree_objects WHERE name = 'kt/head'"))
        requests_file = root / "requests.hex"
        requests_file.write_text("".join(r.hex() + "\n" for r in _requests(config, labels, searches)))
        for n in READERS:
            ours_rate, ours_p99, _ = _readers(folder, requests_file, n, seconds)
            before = _transactions(url)
            rate, p99, opened = _readers(url, requests_file, n, seconds)
            # Every follower's reads in the phase, opening included: an upper bound per lookup. Once open,
            # each is a read of the head.
            per_lookup = (_transactions(url) - before) / (rate * seconds)
            rows.append(Row(section, f"search, {n} embedded reader process(es) (reference)", ours_rate,
                            "searches/s", None, "", {"p99 ms": round(ours_p99, 3)}))
            rows.append(Row(section, f"search, {n} PostgreSQL reader process(es)", rate, "searches/s",
                            rate / ours_rate, "embedded",
                            {"p99 ms": round(p99, 3), "p99 embedded ms": round(ours_p99, 3),
                             "db round trips/lookup": round(per_lookup, 5),
                             "db bytes/lookup": round(per_lookup * head, 2), "open s": round(opened, 2)}))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows
