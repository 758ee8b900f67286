"""Kill a durable-log writer at random moments and check what survives.

The writer (run as `python crash_harness.py writer DIR KEYFILE`) appends
deterministic entries in batches of varying size forever, printing the log size
after every `extend` returns. The parent SIGKILLs it at a random moment, then
reopens the log and checks the durability contract: every entry whose `extend`
returned is there, nothing else is, and the directory is a consistent log
(checkpoint signature, root and entries all agree).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import veritree

ORIGIN = "example.com/crash"


def entry(i: int) -> bytes:
    return b"entry %d " % i + bytes([i % 251]) * (i % 37)


def batch_sizes(seed: int):
    rng = random.Random(seed)
    while True:
        yield rng.choice([1, 2, 7, 100, 255, 256, 257, 600])


def writer(directory: str, key_file: str) -> None:
    sk = Path(key_file).read_text().strip()
    create = not Path(directory, "checkpoint").exists()
    log = veritree.Log.open(directory, origin=ORIGIN, signer=sk, create=create)
    print("ready", len(log), flush=True)
    for b in batch_sizes(len(log)):
        n = len(log)
        log.extend([entry(i) for i in range(n, n + b)])
        print(len(log), flush=True)


def last_acknowledged(args: list[str], rng: random.Random, max_delay: float) -> int:
    """Runs `python *args`, a writer that prints "ready N" and then a number
    each time a call returns; SIGKILLs it after a random delay up to
    `max_delay` seconds and returns the last number it printed. The writer
    may import this folder's modules (it may be a test module elsewhere)."""
    path = os.pathsep.join([str(Path(__file__).resolve().parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": path})
    assert proc.stdout is not None
    first = proc.stdout.readline().split()
    assert first and first[0] == "ready", f"writer failed to start: {first}"
    time.sleep(rng.uniform(0, max_delay))
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read().split()
    proc.wait()
    return int(rest[-1]) if rest else int(first[1])


def kill_once(directory: Path, key_file: Path, vk: str, rng: random.Random) -> tuple[int, int]:
    """Starts a writer, kills it after a random delay; returns (acknowledged, recovered) sizes."""
    acknowledged = last_acknowledged([__file__, "writer", str(directory), str(key_file)], rng, 0.05)
    return acknowledged, check_log(directory, vk, acknowledged)


def check_log(directory: Path, vk: str, acknowledged: int) -> int:
    """Reopens the log and checks it against the contract; returns its size."""
    with veritree.Log.open(directory) as log:
        size = len(log)
        assert size >= acknowledged, f"lost entries: {acknowledged} acknowledged, {size} on disk"
        origin, cp_size, root = veritree.verify_checkpoint(log.checkpoint(), [vk])
        assert (origin, cp_size) == (ORIGIN, size)
        expected = veritree.Log()
        expected.extend([entry(i) for i in range(size)])
        assert root == expected.root() == log.root(), "the checkpoint root is not the root of the entries"
        for i in {0, size // 2, acknowledged - 1, size - 1} - {-1}:
            if 0 <= i < size:
                assert log.entry(i) == entry(i)
                veritree.verify_inclusion(i, size, veritree.leaf_hash(entry(i)), log.inclusion_proof(i), root)
    return size


def run(directory: Path, kills: int, seed: int) -> list[tuple[int, int]]:
    sk, vk = veritree.generate_note_key(ORIGIN)
    key_file = directory.parent / (directory.name + ".key")
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, sk.encode())
    os.close(fd)
    rng = random.Random(seed)
    return [kill_once(directory, key_file, vk, rng) for _ in range(kills)]


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        writer(sys.argv[2], sys.argv[3])
    else:  # stress: python crash_harness.py stress DIR KILLS [SEED]
        results = run(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
        ahead = sum(r > a for a, r in results)
        print(f"{len(results)} kills: every acknowledged entry survived; "
              f"{ahead} times the log held a batch whose extend had not yet returned; final size {results[-1][1]}")
