"""Presence changes to the presence topic (for notifications), surely: the scripts append each
change to a Redis list in the same step as the state change; this drains it to Kafka, oldest
first, and trims only what Kafka acknowledged. One drainer at a time across replicas (a lock with
an expiry); consumers tell a stale duplicate by its `version`.
"""

from __future__ import annotations

import contextlib
import logging
import uuid

from parley.common.backoff import Backoff
from parley.common.events import encode
from parley.common.kafka import KafkaProducer, Record
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis
from parley.common.topics import user_key
from parley.common.worker import Worker
from parley.presence import lua
from parley.presence.store import Change

log = logging.getLogger(__name__)


class KafkaOutbox(Worker):
    name = "outbox"

    def __init__(
        self,
        redis: Redis,
        keys: PresenceKeys,
        producer: KafkaProducer,
        topic: str,
        *,
        batch_size: int = 500,
        lock_ms: int = 30_000,
        poll_seconds: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        super().__init__()
        self.redis = redis
        self.keys = keys
        self.producer = producer
        self.topic = topic
        self.batch_size = batch_size
        self.lock_ms = lock_ms
        self.poll_seconds = poll_seconds
        self.backoff = Backoff("producing presence changes", maximum=max_backoff)
        self._trim = redis.register_script(lua.OUTBOX_TRIM)
        self._release = redis.register_script(lua.RELEASE_LOCK)

    async def run(self) -> None:
        await self.repeat(self.drain, self.backoff, every=self.poll_seconds)

    async def drain(self) -> int:
        """Produce until the outbox is empty (or another replica holds the lock); returns how many
        were produced. Raises when Redis or Kafka fails (the entries stay)."""
        token = uuid.uuid4().hex
        if not await self.redis.set(self.keys.outbox_lock, token, nx=True, px=self.lock_ms):
            return 0
        total = 0
        try:
            while True:
                raw = [
                    str(item) for item in await self.redis.lrange(self.keys.outbox, 0, self.batch_size - 1)
                ]
                if not raw:
                    return total
                await self.producer.send_many(self._records(raw))
                trimmed = await self._trim(
                    keys=[self.keys.outbox_lock, self.keys.outbox], args=[token, len(raw), self.lock_ms]
                )
                if not trimmed:
                    log.warning("presence outbox: lost the lock while producing; another replica goes on")
                    return total
                total += len(raw)
        finally:
            with contextlib.suppress(Exception):
                await self._release(keys=[self.keys.outbox_lock], args=[token])

    def _records(self, raw: list[str]) -> list[Record]:
        records: list[Record] = []
        for item in raw:
            try:
                change = Change.parse(item)
            except (ValueError, KeyError):
                log.error("presence outbox: dropping an entry that cannot be read: %r", item)
                continue
            records.append((self.topic, user_key(change.user_id), encode(change.event())))
        return records
