"""Publishing what a batch stored: each stored event to its chat's Redis channel (and to the
channels of users a membership change concerns) and to the events topic; each rejection to the
sender's channel. Redis and Kafka at once: live delivery does not wait for the events topic's ack.

At least once: a failure publishes the whole batch again, and a replayed command re-emits the
event stored the first time. Readers drop seqs they already have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from parley.common.chat.channels import chat_channel, user_channel
from parley.common.chat.store import Outcome, Rejected, Stored
from parley.common.events import CommandRejected, StoredEventType, audience, encode
from parley.common.kafka import KafkaProducer
from parley.common.redis import Redis
from parley.common.topics import Topics, chat_key


def unique_events(outcomes: Sequence[Outcome]) -> list[StoredEventType]:
    """The stored events of a batch in order, each once (a repeat in the batch shares its event)."""
    seen: set[tuple[object, int]] = set()
    events: list[StoredEventType] = []
    for outcome in outcomes:
        if isinstance(outcome, Stored):
            key = (outcome.event.chat_id, outcome.event.seq)
            if key not in seen:
                seen.add(key)
                events.append(outcome.event)
    return events


class BatchPublisher:
    def __init__(self, redis: Redis, redis_prefix: str, producer: KafkaProducer, topics: Topics) -> None:
        self.redis = redis
        self.prefix = redis_prefix
        self.producer = producer
        self.topics = topics

    async def publish(self, outcomes: Sequence[Outcome]) -> int:
        """Returns how many stored events went out."""
        events = unique_events(outcomes)
        rejected = [outcome.event() for outcome in outcomes if isinstance(outcome, Rejected)]
        if not events and not rejected:
            return 0
        encoded = [(event, encode(event)) for event in events]
        await asyncio.gather(self._redis(encoded, rejected), self._kafka(encoded))
        return len(events)

    async def _redis(
        self, encoded: list[tuple[StoredEventType, bytes]], rejected: list[CommandRejected]
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for event, data in encoded:
                pipe.publish(chat_channel(self.prefix, event.chat_id), data)
                for user_id in audience(event):
                    pipe.publish(user_channel(self.prefix, user_id), data)
            for rejection in rejected:
                pipe.publish(user_channel(self.prefix, rejection.user_id), encode(rejection))
            await pipe.execute()

    async def _kafka(self, encoded: list[tuple[StoredEventType, bytes]]) -> None:
        if encoded:
            await self.producer.send_many(
                [(self.topics.events, chat_key(event.chat_id), data) for event, data in encoded]
            )
