"""A background loop of the service's lifespan that stops when asked, surely.

Cancelling alone is not enough: a client library that swallows a CancelledError (redis-py does,
when the cancel lands while it is connecting) leaves the task running forever. So a stop also
sets an event the loop checks between steps and waits on instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class Worker(ABC):
    name = "worker"

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The loop's task while started (for the liveness check)."""
        return self._task

    @abstractmethod
    async def run(self) -> None:
        """The loop: returns once `stopping` is true (check it between steps)."""

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"presence-{self.name}")

    async def stop(self, grace: float = 5.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            log.warning("%s did not stop within %.1f s", self.name, grace)
            return
        with contextlib.suppress(asyncio.CancelledError):
            if (exc := task.exception()) is not None:
                log.error("%s ended with an error", self.name, exc_info=exc)

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
