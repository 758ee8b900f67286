"""The wall clock of the directory and its clients, in the unit of every
KEYTRANS timestamp: milliseconds since the Unix epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000
