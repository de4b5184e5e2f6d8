"""The clock of presence: every few seconds, instances whose heartbeats stopped lose their users.
Without it a socket process that died would leave its users online until some other news came."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from parley.presence.backoff import Backoff


class Sweeper:
    def __init__(self, tick: Callable[[], Awaitable[object]], *, interval: float, max_backoff: float) -> None:
        self.tick = tick
        self.interval = interval
        self.backoff = Backoff("the presence sweep", minimum=interval, maximum=max(interval, max_backoff))
        self.sweeps = 0  # completed, for tests and metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="presence-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self.backoff.failed(exc)
                continue
            self.backoff.succeeded()
            self.sweeps += 1
            await asyncio.sleep(self.interval)
