"""What presence does with news (connection events) and with time (the sweep): change the state,
then tell the sockets (Redis channels) and notifications (the presence topic, via the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from parley.presence.outbox import KafkaOutbox
from parley.presence.store import AnyConnectionEvent, Change, PresenceStore

log = logging.getLogger(__name__)

SWEEP_BATCH = 5


class PresenceEngine:
    def __init__(self, store: PresenceStore, outbox: KafkaOutbox) -> None:
        self.store = store
        self.outbox = outbox

    async def handle(self, events: Sequence[AnyConnectionEvent]) -> list[Change]:
        changes = await self.store.apply(events)
        # A stop or a revival marks an instance's users; recompute them now, not at the next sweep.
        changes += await self.store.settle()
        await self._announce(changes)
        return changes

    async def tick(self) -> list[Change]:
        """One sweep: expire instances whose time is up, recompute their users, forget instances
        long expired."""
        changes: list[Change] = []
        while True:
            # A few instances per script: each may hold thousands of connections, and a script
            # holds Redis for its whole run.
            expired = await self.store.sweep(limit=SWEEP_BATCH)
            if expired:
                log.info("socket instance(s) stopped sending heartbeats: %s", ", ".join(expired))
            changes += await self.store.settle()
            if len(expired) < SWEEP_BATCH:
                break
        await self.store.forget(limit=SWEEP_BATCH)
        await self._announce(changes)
        return changes

    async def _announce(self, changes: list[Change]) -> None:
        if not changes:
            return
        # The outbox entries were written with the state; the channels are best effort (a socket
        # that missed one reads the state).
        self.outbox.wake()
        await self.store.publish(changes)
