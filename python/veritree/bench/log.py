"""The Merkle log (`veritree.Log`) sections of `veritree bench`: roots over N
leaf hashes against the hashing limit, appends from Python against pymerkle
and a pure-Python reference, proofs one by one and in batches, durable
appends, a log on disk, and streamed roots of 2^30 leaves."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import veritree
from veritree.bench.common import SUITES, Row, best_time, hashing_limits, peak_rss_mib, random_hashes

if TYPE_CHECKING:
    from veritree._native import Suite

PER_CALL = 16_384  # proofs per call in the many-proof benchmarks


def tree_builds(exponents: list[int], repeat: int) -> list[Row]:
    """Root over N leaf hashes: node hashes/s against the hashing limit, measured
    again beside each size so that drift on a shared machine cancels."""
    rows = []
    for e in exponents:
        n = 1 << e
        hashes = random_hashes(n)
        limits = hashing_limits(0.6)
        for suite in SUITES:
            t_log = best_time(lambda: veritree.Log(suite).extend_hashes(hashes), repeat)
            t_root = best_time(lambda: veritree.merkle_root(hashes, suite), repeat)
            for case, t in (("Log.extend_hashes (all levels kept)", t_log), ("merkle_root (streamed)", t_root)):
                rate = (n - 1) / t
                rows.append(
                    Row("root over N leaf hashes", f"{suite} N=2^{e} {case}", rate, "node hashes/s",
                        rate / limits[suite], "hashing limit", {"seconds": t})
                )
    return rows


def rfc6962_reference_root(entries: list[bytes]) -> bytes:
    """The obvious pure-Python RFC 6962 tree: hashlib, level by level."""
    level = [hashlib.sha256(b"\x00" + e).digest() for e in entries]
    # Hashing pairs level by level and promoting an odd last node gives RFC
    # 9162's left-balanced tree.
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0] if level else hashlib.sha256(b"").digest()


def python_appends(n: int, entry_size: int, repeat: int) -> list[Row]:
    """Appending entries from Python, same entries and suite as the peers."""
    rng = np.random.default_rng(2)
    blob = rng.bytes(n * entry_size)
    entries = [blob[i * entry_size:(i + 1) * entry_size] for i in range(n)]
    rows: list[Row] = []
    log = veritree.Log()
    log.extend(entries)
    root = log.root()
    if rfc6962_reference_root(entries[:1000]) != log.root(1000):
        raise AssertionError("reference and veritree disagree")

    def veritree_extend() -> None:
        veritree.Log().extend(entries)

    def veritree_append_loop() -> None:
        log = veritree.Log()
        append = log.append
        for e in entries:
            append(e)

    hashes = veritree.leaf_hashes(entries)
    timings = {
        "veritree Log.extend(list of bytes)": best_time(veritree_extend, repeat),
        "veritree Log.append in a Python loop": best_time(veritree_append_loop, repeat),
        "veritree Log.extend_hashes(numpy)": best_time(lambda: veritree.Log().extend_hashes(hashes), repeat),
        "pure-Python hashlib reference": best_time(lambda: rfc6962_reference_root(entries), 1),
    }
    try:
        import pymerkle
    except ImportError:
        pymerkle = None
    if pymerkle is not None:
        def pymerkle_append() -> None:
            t = pymerkle.InmemoryTree(algorithm="sha256")
            for e in entries:
                t.append_entry(e)
            if t.get_root() != root:
                raise AssertionError("pymerkle and veritree disagree on the root")

        timings["pymerkle InmemoryTree.append_entry"] = best_time(pymerkle_append, 1)
    base_name = "pymerkle InmemoryTree.append_entry" if pymerkle else "pure-Python hashlib reference"
    base = timings[base_name]
    for case, t in timings.items():
        rows.append(Row(f"Python appends, SHA-256, {entry_size}-byte entries, N={n}", case, n / t, "entries/s",
                        base / t, base_name, {"seconds": t}))
    if pymerkle is None:
        rows[-1].extra["note"] = "pymerkle not installed: pip install 'veritree[bench]'"
    return rows


def proofs(exponent: int, count: int, single: int, repeat: int) -> list[Row]:
    """Inclusion proofs and verifications per second on a 2^exponent log."""
    limits = hashing_limits(0.6)
    n = 1 << exponent
    rows, size_rows = [], []
    hashes = random_hashes(n, 3)
    rng = np.random.default_rng(4)
    for suite in SUITES:
        log = veritree.Log(suite)
        log.extend_hashes(hashes)
        root = log.root()
        idx = rng.integers(0, n, size=count, dtype=np.uint64)
        # Calls of PER_CALL proofs: a server answers in batches, and the output
        # arrays stay small enough to be reused instead of freshly page-faulted.
        calls = [idx[i:i + PER_CALL] for i in range(0, count, PER_CALL)]
        proofs_ = [log.inclusion_proofs(c) for c in calls]
        leaves = [hashes[c] for c in calls]
        per_proof = sum(len(p[0]) for p in proofs_) / count

        def gen_all() -> None:
            for c in calls:
                log.inclusion_proofs(c)

        def verify_all() -> bool:
            return all(veritree.verify_inclusions(c, n, lv, nodes, offs, root, suite).all()
                       for c, lv, (nodes, offs) in zip(calls, leaves, proofs_))

        if not verify_all():
            raise AssertionError("honest proofs failed to verify")
        t_gen = best_time(gen_all, repeat)
        t_ver = best_time(verify_all, repeat)
        section = f"proofs on a 2^{exponent}-leaf log, {suite}"
        rows.append(Row(section, f"inclusion proofs, {PER_CALL} per call", count / t_gen, "proofs/s"))
        ver_rate = count / t_ver
        rows.append(Row(section, f"inclusion verifications, {PER_CALL} per call", ver_rate, "proofs/s",
                        ver_rate * per_proof / limits[suite], "hashing limit (node hashes)",
                        {"nodes_per_proof": per_proof}))

        few = [int(i) for i in idx[:single]]
        few_leaves = [bytes(hashes[i]) for i in few]
        few_proofs = [log.inclusion_proof(i) for i in few]

        def gen_single() -> None:
            for i in few:
                log.inclusion_proof(i)

        def ver_single() -> None:
            for i, leaf, p in zip(few, few_leaves, few_proofs):
                veritree.verify_inclusion(i, n, leaf, p, root, suite)

        rows.append(Row(section, "inclusion proof, one Python call each", single / best_time(gen_single, repeat),
                        "proofs/s"))
        rows.append(Row(section, "verify_inclusion, one Python call each", single / best_time(ver_single, repeat),
                        "proofs/s"))
        for k in (16, 1024, 65536):
            if k > count:
                continue
            bidx = np.unique(idx[:k])
            bleaves = hashes[bidx]
            proof = log.batch_inclusion_proof(bidx)
            t_bgen = best_time(lambda: log.batch_inclusion_proof(bidx), repeat)
            t_bver = best_time(lambda: veritree.verify_batch_inclusion(bidx, n, bleaves, proof, root, suite), repeat)
            singles = len(log.inclusion_proofs(bidx)[0])
            rows.append(Row(section, f"batch proof of k={len(bidx)}: generate", len(bidx) / t_bgen, "leaves/s"))
            rows.append(Row(section, f"batch proof of k={len(bidx)}: verify", len(bidx) / t_bver, "leaves/s"))
            size_rows.append(Row("batch proof size", f"{suite} 2^{exponent} log, k={len(bidx)} random leaves",
                            len(proof) / 32, "nodes", len(proof) / 32 / singles, "k single proofs",
                            {"bytes": len(proof), "single_proof_nodes": singles}))
    return rows + size_rows


def durable_appends(total: int, repeat: int) -> list[Row]:
    """Entries/s into a tlog-tiles log on disk (fsync on), against the
    in-memory log with the same batches, in the same run."""
    rows = []
    sk, _ = veritree.generate_note_key("bench.example/log")
    for entry_size in (100, 1024):
        blob = np.random.default_rng(6).bytes(total * entry_size)
        entries = [blob[i * entry_size:(i + 1) * entry_size] for i in range(total)]
        for batch in (1, 256, 4096):
            n = min(total, batch * (64 if batch == 1 else 16))
            chunks = [entries[i:i + batch] for i in range(0, n, batch)]

            def durable() -> None:
                with tempfile.TemporaryDirectory() as d:
                    log = veritree.Log.open(d, origin="bench.example/log", signer=sk, create=True)
                    for c in chunks:
                        log.extend(c)
                    log.close()

            def memory() -> None:
                log = veritree.Log()
                for c in chunks:
                    log.extend(c)

            t_disk, t_mem = best_time(durable, repeat), best_time(memory, repeat)
            rows.append(Row(f"durable appends (tlog-tiles, fsync), {entry_size}-byte entries",
                            f"batches of {batch}, {n} entries", n / t_disk, "entries/s", t_mem / t_disk,
                            "in-memory log", {"seconds": t_disk, "memory_seconds": t_mem}))
    return rows


def disk_log(exponent: int, directory: str, proofs: int = 2000) -> list[Row]:
    """Builds a 2^exponent-entry tlog-tiles log on disk (in a child process, for
    its own peak RSS) and compares the time with two floors measured in the
    same run: the in-memory streamed root of as many leaf hashes, and writing
    the same number of bytes to one file on the same disk. Then serves
    inclusion proofs from disk, cold and warm."""
    out = subprocess.run([sys.executable, "-m", "veritree.bench", "log-disk", directory, str(exponent)],
                         check=True, capture_output=True, text=True).stdout
    built = json.loads(out)
    streamed = json.loads(subprocess.run(
        [sys.executable, "-m", "veritree.bench", "stream-root", "rfc6962-sha256", str(exponent),
         str(min(exponent, 20))],
        check=True, capture_output=True, text=True).stdout)
    bandwidth = disk_write_bandwidth(directory)
    n = 1 << exponent
    case = f"build 2^{exponent} 8-byte entries (SHA-256), batches of 2^20"
    extra = {**built, "streamed_seconds": streamed["seconds"], "disk_bytes_per_s": bandwidth}
    rows = [Row("durable log on disk", case, n / built["seconds"], "entries/s",
                streamed["seconds"] / built["seconds"], "in-memory streamed root, same size", extra),
            Row("durable log on disk", case, n / built["seconds"], "entries/s",
                built["bytes_on_disk"] / bandwidth / built["seconds"], "writing its bytes to one file")]
    idx = np.random.default_rng(9).integers(0, n, size=proofs)
    _drop_page_cache()
    with veritree.Log.open(directory) as log:
        # The same random leaves twice: first from a fresh reader (and a dropped
        # page cache where allowed), then with tiles cached.
        for label in ("cold", "warm"):
            t = time.perf_counter()
            for i in idx:
                log.inclusion_proof(int(i))
            rows.append(Row("durable log on disk", f"{proofs} inclusion proofs from disk, {label}",
                            proofs / (time.perf_counter() - t), "proofs/s"))
    return rows


def disk_write_bandwidth(directory: str, size: int = 2 << 30) -> float:
    """Bytes per second written sequentially to one new file beside
    `directory` and fdatasync'd: the disk's floor for a log of that many bytes."""
    path = Path(directory).parent / f".veritree-bench-{os.getpid()}"
    block = os.urandom(1 << 20)
    t = time.perf_counter()
    try:
        with open(path, "wb") as f:
            for _ in range(size >> 20):
                f.write(block)
            f.flush()
            os.fdatasync(f.fileno())
        return size / (time.perf_counter() - t)
    finally:
        path.unlink(missing_ok=True)


def _drop_page_cache() -> None:
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass  # not allowed here: "cold" then means a fresh reader with empty tile cache


def build_disk_log(directory: str, exponent: int) -> dict[str, float]:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)
    sk, _ = veritree.generate_note_key("bench.example/disk")
    chunk = 1 << min(exponent, 20)
    offsets = np.arange(0, 8 * chunk + 1, 8, dtype=np.uint64)
    start = time.perf_counter()
    with veritree.Log.open(directory, origin="bench.example/disk", signer=sk, create=True) as log:
        for i in range(0, 1 << exponent, chunk):
            data = np.arange(i, i + chunk, dtype=np.uint64).tobytes()  # entry i is i as 8 bytes
            log.extend_flat(data, offsets)
    t = time.perf_counter() - start
    rss = peak_rss_mib()  # before walking millions of files below
    return {"seconds": t, "bytes_on_disk": tree_bytes(directory), "peak_rss_mib": rss}


def tree_bytes(directory: str) -> int:
    """Bytes in the files under `directory` (os.walk: one directory listing in memory at a time)."""
    total = 0
    for parent, _, files in os.walk(directory):
        total += sum(os.stat(os.path.join(parent, f)).st_size for f in files)
    return total


def billion(suite: Suite, exponent: int, chunk_exponent: int = 20) -> list[Row]:
    """Streams the root of 2^exponent leaf hashes through a CompactRange, in a
    child process so that its peak RSS is its own."""
    out = subprocess.run([sys.executable, "-m", "veritree.bench", "stream-root", suite, str(exponent),
                          str(chunk_exponent)], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    n = 1 << exponent
    limit = hashing_limits(0.6)[suite]
    return [Row("streamed root", f"{suite} 2^{exponent} leaf hashes in chunks of 2^{chunk_exponent}",
                (n - 1) / r["seconds"], "node hashes/s", (n - 1) / r["seconds"] / limit, "hashing limit", r)]


def stream_root(suite: Suite, exponent: int, chunk_exponent: int) -> dict[str, float | str]:
    chunk = random_hashes(1 << chunk_exponent, 5)
    cr = veritree.CompactRange(suite)
    start = time.perf_counter()
    for i in range(1 << (exponent - chunk_exponent)):
        chunk[0, :8] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)  # every chunk differs
        cr.extend_hashes(chunk)
    t = time.perf_counter() - start
    return {"seconds": t, "peak_rss_mib": peak_rss_mib(), "root": cr.root().hex()}
