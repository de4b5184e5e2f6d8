"""Publishing stored chat events, the one way (the consumer after a batch, the api's outbox drainer
after a membership change): to the chat's Redis channel (live delivery by the socket pods), to the
channels of users a membership change concerns, and to the events topic (search, notification),
Redis and Kafka at once, after the events were stored and committed (live delivery does not wait
for the events topic's ack). Rejections of commands go to their sender's channel.

At least once: a failure of either publishes the whole set again (Redis copies included), and a
replayed command re-emits the event stored the first time. Readers drop a seq they already have.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from opentelemetry.context import Context

from parley.common import tracing
from parley.common.chat.channels import chat_channel, user_channel
from parley.common.events import CommandRejected, Event, StoredEventType, audience, encode
from parley.common.kafka import KafkaProducer
from parley.common.redis import Redis
from parley.common.topics import Topics, chat_key


class EventPublisher:
    def __init__(self, redis: Redis, redis_prefix: str, producer: KafkaProducer, topics: Topics) -> None:
        self.redis = redis
        self.prefix = redis_prefix
        self.producer = producer
        self.topics = topics

    async def publish(
        self,
        events: Sequence[StoredEventType],
        rejected: Sequence[CommandRejected] = (),
        traces: Sequence[Context | None] | None = None,
        *,
        encoded: Sequence[bytes | None] | None = None,
    ) -> None:
        """`traces`: each event's trace context (aligned with `events`), carried to the chat's
        Redis channel (common/tracing.wrap) and in the events topic's record headers. `encoded`:
        each event's wire form when the caller has it already (aligned with `events`; None where
        not). Every event is encoded once, whatever the number of channels and topics."""
        if not events and not rejected:
            return
        if encoded is None:
            pairs = [(event, encode(event)) for event in events]
        else:
            pairs = [
                (event, data if data is not None else encode(event))
                for event, data in zip(events, encoded, strict=True)
            ]
        await asyncio.gather(self._redis(pairs, rejected, traces), self._kafka(pairs, traces))

    async def _redis(
        self,
        encoded: Sequence[tuple[StoredEventType, bytes]],
        rejected: Sequence[CommandRejected],
        traces: Sequence[Context | None] | None = None,
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for index, (event, data) in enumerate(encoded):
                traced = tracing.wrap(data, traces[index]) if traces else data
                pipe.publish(chat_channel(self.prefix, event.chat_id), traced)
                for user_id in audience(event):
                    pipe.publish(user_channel(self.prefix, user_id), data)
            for rejection in rejected:
                pipe.publish(user_channel(self.prefix, rejection.user_id), encode(rejection))
            await pipe.execute()

    async def _kafka(
        self, encoded: Sequence[tuple[StoredEventType, bytes]], traces: Sequence[Context | None] | None = None
    ) -> None:
        if encoded:
            await self.producer.send_many(
                [(self.topics.events, chat_key(event.chat_id), data) for event, data in encoded],
                traces=traces,
            )

    async def publish_live(self, chat_id: uuid.UUID, event: Event) -> None:
        """An ephemeral event (read position, typing): Redis only, never stored."""
        await self.redis.publish(chat_channel(self.prefix, chat_id), encode(event))
