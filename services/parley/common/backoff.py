"""Waiting between attempts while a server is away: exponential, capped, logged once per outage
(and again whenever the wait reaches its cap)."""

from __future__ import annotations

import logging
import time

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


class RepeatedLog:
    """A failure that may repeat thousands of times a second (every send while a server is away):
    logged at once the first time, then at most once per `interval` seconds with how many
    happened since, and once more when it stops happening (`quiet`)."""

    def __init__(self, logger: logging.Logger, what: str, *, interval: float = 10.0) -> None:
        self.logger = logger
        self.what = what
        self.interval = interval
        self.total = 0
        self._since_logged = 0
        self._logged_at: float | None = None

    def note(self, exc: BaseException | str) -> None:
        self.total += 1
        self._since_logged += 1
        now = time.monotonic()
        if self._logged_at is None or now - self._logged_at >= self.interval:
            self.logger.warning(
                "%s: %r (%d time(s) since the last report, %d in all)",
                self.what,
                exc,
                self._since_logged,
                self.total,
            )
            self._logged_at, self._since_logged = now, 0

    def quiet(self) -> None:
        """The failure stopped: say so if it was reported, and start afresh."""
        if self._logged_at is not None:
            self.logger.info("%s: no more (%d in all)", self.what, self.total)
        self.total, self._since_logged, self._logged_at = 0, 0, None
