"""Waiting between attempts while a server is away: exponential, capped, logged once per outage
(and again whenever the wait reaches its cap)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class Backoff:
    def __init__(self, what: str, *, minimum: float = 0.2, maximum: float = 30.0) -> None:
        self.what = what
        self.minimum = minimum
        self.maximum = maximum
        self.delay = minimum
        self.failures = 0  # in a row, for health and tests

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before the next attempt."""
        self.failures += 1
        delay = self.delay
        level = logging.WARNING if self.failures == 1 or delay >= self.maximum else logging.INFO
        log.log(
            level,
            "%s failed %d time(s) in a row, next try in %.1f s: %r",
            self.what,
            self.failures,
            delay,
            exc,
        )
        self.delay = min(self.delay * 2, self.maximum)
        return delay

    def succeeded(self) -> None:
        if self.failures:
            log.info("%s works again after %d failure(s)", self.what, self.failures)
        self.failures = 0
        self.delay = self.minimum
