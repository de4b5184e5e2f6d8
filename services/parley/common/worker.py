"""A background loop of a service's lifespan that stops when asked, surely: the one start/stop
lifecycle of the services' loops (the topic consumers on `parley.common.group_consumer`, the sweepers,
the outboxes, notification's planner and senders). `parley.common.service.running` starts and stops
a lifespan's workers.

Cancelling alone is not enough: a client library that swallows a CancelledError (redis-py does,
when the cancel lands while it is connecting) leaves the task running forever. So a stop also
sets an event the loop checks between steps and waits on instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from parley.common.backoff import Backoff

log = logging.getLogger(__name__)


class Worker(ABC):
    name = "worker"

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
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
        self._task = asyncio.create_task(self.run(), name=self.name)

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

    def wake(self) -> None:
        """Run the next step now rather than after the wait (`repeat`)."""
        self._wake.set()

    async def repeat(self, step: Callable[[], Awaitable[object]], backoff: Backoff, *, every: float) -> None:
        """The loop most workers are: `step` until stopping; after a failure, wait as `backoff`
        says; after a success, until woken (`wake`), stopping, or `every` seconds."""
        while await self.until_done(step, backoff):
            waits = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stopping.wait())}
            try:
                await asyncio.wait(waits, timeout=every, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiting in waits:
                    waiting.cancel()
            self._wake.clear()

    async def until_done(self, step: Callable[[], Awaitable[object]], backoff: Backoff) -> bool:
        """`step` until it succeeds (True) or the worker is stopping first (False); after a
        failure, wait as `backoff` says."""
        while not self.stopping:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.pause(backoff.failed(exc))
                continue
            backoff.succeeded()
            return True
        return False

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
