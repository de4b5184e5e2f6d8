"""One reconcile at a time per ChatPlatform, and bursts of triggers folded into one more pass.

A rollout changes Deployment status many times a second; each change is a trigger. Since every pass
reads the current state afresh, one pass after a burst does what a pass per trigger would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, settle_seconds: float = 1.0) -> None:
        self.settle_seconds = settle_seconds
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._queued: set[Hashable] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _lock(self, key: Hashable) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """Runs `work` now (after any pass of the same key in progress) and returns its result."""
        async with self._lock(key):
            return await work()

    def trigger(self, key: Hashable, work: Callable[[], Awaitable[object]]) -> bool:
        """Queues one pass of `work` unless one is already queued; False when folded into it."""
        if key in self._queued:
            return False
        self._queued.add(key)
        task = asyncio.create_task(self._queued_pass(key, work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _queued_pass(self, key: Hashable, work: Callable[[], Awaitable[object]]) -> None:
        await asyncio.sleep(self.settle_seconds)
        async with self._lock(key):
            # From here on a new trigger queues another pass: this one may already have read state.
            self._queued.discard(key)
            try:
                await work()
            except Exception:
                log.exception("reconcile of %s failed; the next trigger or the timer retries", key)

    def forget(self, key: Hashable) -> None:
        """Drops the lock of a deleted platform."""
        lock = self._locks.get(key)
        if lock is not None and not lock.locked() and key not in self._queued:
            del self._locks[key]

    async def drain(self) -> None:
        """Waits for queued passes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
