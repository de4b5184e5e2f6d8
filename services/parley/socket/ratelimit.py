"""Token buckets: a steady rate with room for a burst, refilled lazily (no timers)."""

from __future__ import annotations

import time


class TokenBucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, now: float | None = None) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        # (The tolerance: clock readings far from zero lose digits, and who waited exactly the
        # time they were told must not be refused by a rounding error.)
        if self.tokens >= 1.0 - 1e-6:
            self.tokens = max(0.0, self.tokens - 1.0)
            return 0.0
        return (1.0 - self.tokens) / self.rate
