"""A fake clock for tests: milliseconds since the epoch that move only when told."""

from __future__ import annotations

#: Where every fake clock starts (November 2023).
T0 = 1_700_000_000_000


class Clock:
    """Milliseconds that move only when told; `tick` is the next publication, 2 s later by default."""

    def __init__(self, t: int = T0) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t

    def tick(self, ms: int = 2_000) -> int:
        self.t += ms
        return self.t
