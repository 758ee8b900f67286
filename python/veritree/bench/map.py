"""The prefix-tree (`veritree.Map`) section of `veritree bench`.

Node hashes are counted exactly from the keys (leaves plus every parent of
the KEYTRANS tree, single-child parents included), so the build rate can be
set against the hashing limit measured in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

import veritree
from veritree.bench.common import Row, best_time, hashing_limits, peak_rss_mib

if TYPE_CHECKING:
    from veritree._native import MapSuite

MAP_SUITES: tuple[MapSuite, ...] = ("keytrans-sha256", "blake3")
#: The hashing limit that bounds each map suite (same primitive, 64-byte inputs).
LIMIT_OF = {"keytrans-sha256": "rfc6962-sha256", "blake3": "blake3"}


def random_keys(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def node_hashes(keys: np.ndarray) -> int:
    """Leaves plus parents of the prefix tree over `keys` (distinct, random).

    For sorted keys with adjacent common-prefix lengths l_0, l_1, ..., the
    parents are the distinct prefixes shared by two or more keys: pair i
    opens max(0, l_i - l_{i-1}) of them (l_{-1} = -1, so the root counts).
    Prefixes are read from the first 64 bits, enough for random keys below
    about 2^28 of them.
    """
    if len(keys) < 2:
        return len(keys)
    words = np.sort(keys[:, :8].copy().view(">u8").ravel().astype(np.uint64))
    x = words[1:] ^ words[:-1]
    hi, lo = (x >> np.uint64(32)).astype(np.float64), (x & np.uint64(0xFFFFFFFF)).astype(np.float64)
    with np.errstate(divide="ignore"):
        bits = np.where(hi > 0, 33 + np.floor(np.log2(np.maximum(hi, 1))), 1 + np.floor(np.log2(np.maximum(lo, 1))))
    lcp = (64 - bits).astype(np.int64)
    prev = np.concatenate(([-1], lcp[:-1]))
    return len(keys) + int(np.maximum(0, lcp - prev).sum())


def map_builds(sizes: list[int], repeat: int = 3, suites: tuple[MapSuite, ...] = MAP_SUITES) -> list[Row]:
    """Maps built from scratch in one batch: keys/s, and node hashes/s against the limit.

    Best of `repeat` builds, each into a fresh map: the first touch of fresh
    memory varies between runs on a VM (the host takes freed memory back).
    """
    limits = hashing_limits(0.6)
    rows = []
    for n in sizes:
        keys, values = random_keys(n, 11), random_keys(n, 12)
        hashes = node_hashes(keys)
        for suite in suites:
            best, memory = float("inf"), 0
            for _ in range(repeat):
                m = veritree.Map(suite)
                t = time.perf_counter()
                m.update(keys, values)
                best = min(best, time.perf_counter() - t)
                memory = m.memory_bytes()
                del m
            rate = hashes / best
            rows.append(Row(f"prefix tree build, {suite}", f"{n:,} random keys in one batch", n / best, "keys/s",
                            rate / limits[LIMIT_OF[suite]], "hashing limit (node hashes)",
                            {"node_hashes": hashes, "seconds": best, "memory_bytes_per_key": memory / n,
                             "first_touch_seconds": first_touch(memory)}))
    return rows


def first_touch(size: int) -> float:
    """Seconds to write `size` bytes of fresh memory (one core): a floor under
    any build that ends holding that much, as the kernel (and, on a VM, the
    host) provides each page at its first touch."""
    t = time.perf_counter()
    a = np.ones(size, dtype=np.uint8)
    elapsed = time.perf_counter() - t
    del a
    return elapsed


def map_updates(size: int, batches: list[int], repeat: int) -> list[Row]:
    """Batches of updates (half new keys, half new values for old keys) into a `size`-key map."""
    rows = []
    keys, values = random_keys(size, 21), random_keys(size, 22)
    for suite in MAP_SUITES:
        m = veritree.Map(suite)
        m.update(keys, values)
        rng = np.random.default_rng(23)
        for b in batches:
            # Prepared beforehand: half new keys, half new values for old keys.
            prepared = []
            for _ in range(repeat):
                batch = np.unique(np.concatenate([keys[rng.integers(0, size, size=b // 2)],
                                                  random_keys(b - b // 2, int(rng.integers(1 << 30)))]), axis=0)
                prepared.append((batch, random_keys(len(batch), int(rng.integers(1 << 30)))))
            best = float("inf")
            for k, v in prepared:
                t = time.perf_counter()
                m.update(k, v)
                best = min(best, time.perf_counter() - t)
            rows.append(Row(f"prefix tree updates, {suite}", f"batch of {b:,} into {size:,} keys", b / best,
                            "updates/s", None, "", {"seconds_per_batch": best}))
            m.prune(m.version)
    return rows


def map_proofs(size: int, count: int, repeat: int) -> list[Row]:
    """Proof generation and verification, single-key and 16-key, and multi-key proof size."""
    rows = []
    keys, values = random_keys(size, 31), random_keys(size, 32)
    for suite in MAP_SUITES:
        m = veritree.Map(suite)
        m.update(keys, values)
        root = m.root()
        idx = np.random.default_rng(33).integers(0, size, size=count)
        single = [(bytes(keys[i]), bytes(values[i])) for i in idx]
        proofs = [m.prove([k]) for k, _ in single]
        section = f"prefix tree proofs, {suite}, {size:,} keys"
        rows.append(Row(section, "single-key proof, one call each",
                        count / best_time(lambda: [m.prove([k]) for k, _ in single], repeat), "proofs/s"))
        def verify_all() -> None:
            for (k, v), p in zip(single, proofs):
                veritree.verify_prefix_proof(root, [k], [v], p, suite)

        rows.append(Row(section, "single-key verification, one call each", count / best_time(verify_all, repeat),
                        "proofs/s"))
        for k in (16, 255):
            # k distinct keys: a proof request names each key once (random picks repeat in small maps).
            group = np.random.default_rng(34).choice(size, size=min(k, size), replace=False)
            multi = m.prove(keys[group])
            separate = sum(len(m.prove([keys[i]])) for i in group)
            rows.append(Row(section, f"{k}-key proof size", len(multi), "bytes", len(multi) / separate,
                            f"{k} single-key proofs", {"separate_bytes": separate}))
    return rows


def map_on_disk(size: int, batches: list[int], directory: str, repeat: int = 3) -> list[Row]:
    """Builds a `size`-key on-disk map (KEYTRANS suite) in a child process (for
    its own memory figures), then times durable update batches into it."""
    limits = hashing_limits(0.6)
    out = subprocess.run([sys.executable, "-m", "veritree.bench", "map-disk", directory, str(size),
                          ",".join(map(str, batches)), str(repeat)], check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    section = f"prefix tree on disk, keytrans-sha256, {size:,} keys"
    build = r["build_seconds"]
    extra = {k: v for k, v in r.items() if k != "updates"}
    rows = [Row(section, f"build {size:,} random keys in one batch, durable", size / build, "keys/s",
                r["node_hashes"] / build / limits["rfc6962-sha256"], "hashing limit (node hashes)", extra)]
    for b, seconds in r["updates"]:
        rows.append(Row(section, f"durable batch of {b:,} updates (half new keys)", b / seconds, "updates/s",
                        None, "", {"seconds_per_batch": seconds}))
    return rows


def _rss_mib() -> dict[str, float]:
    """Anonymous (private) and file-backed resident memory of this process."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile"):
                out[k] = int(v.split()[0]) / 1024
    return out


def _disk_bytes(directory: str) -> int:
    """Bytes the map's files occupy (allocated blocks: node files are sparse past their end)."""
    return sum(os.stat(os.path.join(directory, f)).st_blocks * 512 for f in os.listdir(directory))


def build_on_disk(directory: str, size: int, batches: list[int], repeat: int) -> dict[str, object]:
    """Builds the map in one batch, then times durable update batches: half
    keys already in the map, half new."""
    shutil.rmtree(directory, ignore_errors=True)
    rng = np.random.default_rng(43)
    keys, values = random_keys(size, 41), random_keys(size, 42)
    hashes = node_hashes(keys)
    pool = keys[rng.integers(0, size, size=sum(batches) * repeat)]  # existing keys for the update batches
    with veritree.Map.open(directory, create=True) as m:
        t = time.perf_counter()
        m.update(keys, values)
        build = time.perf_counter() - t
        del keys, values
        result: dict[str, object] = {"build_seconds": build, "node_hashes": hashes, "peak_rss_mib": peak_rss_mib(),
                                     "disk_bytes_per_key": _disk_bytes(directory) / size,
                                     **{f"{k}_mib_after_build": v for k, v in _rss_mib().items()}}
        old_keys = pool
        updates = []
        for b in batches:
            times = []
            for _ in range(repeat):
                old, old_keys = old_keys[: b // 2], old_keys[b // 2 :]
                batch = np.unique(np.concatenate([old, random_keys(b - b // 2, int(rng.integers(1 << 30)))]), axis=0)
                new_values = random_keys(len(batch), int(rng.integers(1 << 30)))
                t = time.perf_counter()
                m.update(batch, new_values)
                times.append(time.perf_counter() - t)
                m.prune(m.version)
            updates.append((b, sorted(times)[len(times) // 2]))
        result["updates"] = updates
        result["disk_bytes_per_key_after_updates"] = _disk_bytes(directory) / len(m)
    t = time.perf_counter()
    with veritree.Map.open(directory) as m:
        result["reopen_seconds"] = time.perf_counter() - t
    return result

