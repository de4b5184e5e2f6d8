"""The clock of presence: every few seconds, instances whose heartbeats stopped lose their users.
Without it a socket process that died would leave its users online until some other news came."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from parley.common.backoff import Backoff
from parley.common.worker import Worker


class Sweeper(Worker):
    name = "sweeper"

    def __init__(self, tick: Callable[[], Awaitable[object]], *, interval: float, max_backoff: float) -> None:
        super().__init__()
        self.tick = tick
        self.interval = interval
        self.backoff = Backoff("the presence sweep", minimum=interval, maximum=max(interval, max_backoff))
        self.sweeps = 0  # completed, for tests and metrics

    async def run(self) -> None:
        await self.repeat(self._sweep, self.backoff, every=self.interval)

    async def _sweep(self) -> None:
        await self.tick()
        self.sweeps += 1
