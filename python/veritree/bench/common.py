"""What every section of the benchmark report shares: the row of a result,
timing, the limits each rate is set against (measured in the same run), and
the printed table."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

import veritree

if TYPE_CHECKING:
    from veritree._native import Suite

SUITES: tuple[Suite, ...] = ("rfc6962-sha256", "blake3")


@dataclass
class Row:
    section: str
    case: str
    rate: float  # items per second
    unit: str
    ratio: float | None = None  # against `versus`
    versus: str = ""
    extra: dict[str, float | int | str] = field(default_factory=dict)


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def random_hashes(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def hashing_limits(seconds: float) -> dict[str, float]:
    """Each suite's limit, the best of three measurements (the machine is shared)."""
    return {s: max(veritree.hash_limit(s, seconds / 3) for _ in range(3)) for s in SUITES}


def vrf_limit(calls: int = 2000) -> float:
    """ECVRF proofs per second on all cores (one core's rate times the cores)."""
    key = b"\x07" * 32
    t = time.perf_counter()
    for i in range(calls):
        veritree.ecvrf_prove(key, b"label %d" % i)
    return calls / (time.perf_counter() - t) * (os.cpu_count() or 1)


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's VmHWM belongs to the
    address space, so a child does not inherit its parent's peak (ru_maxrss does)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_info() -> dict[str, int | str | None]:
    """This machine as a run's JSON records it: cores, processor, system."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "platform": platform.platform()}


def fmt_rate(x: float) -> str:
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= div:
            return f"{x / div:.2f} {suffix}"
    return f"{x:.1f}"


def print_table(limits: dict[str, float], rows: list[Row]) -> None:
    print(f"hashing limit (node hashes/s, {os.cpu_count()} cores): "
          + ", ".join(f"{s} {fmt_rate(v)}" for s, v in limits.items()))
    section = None
    for r in rows:
        if r.section != section:
            section = r.section
            print(f"\n## {section}")
        ratio = f"{r.ratio:8.3f}x vs {r.versus}" if r.ratio is not None else ""
        print(f"  {r.case:<52} {fmt_rate(r.rate):>10} {r.unit:<14} {ratio}")
        if r.extra:
            print("      " + ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}"
                                      for k, v in r.extra.items()))
