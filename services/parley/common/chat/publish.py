"""Publishing stored chat events: to the chat's Redis channel (live delivery by the socket pods),
to the channels of users a membership change concerns, and to the events topic (search,
notification). At least once: a retry may publish an event again, and readers drop a seq they
have already seen."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from parley.common.chat.channels import chat_channel, user_channel
from parley.common.events import Event, StoredEventType, audience, encode
from parley.common.kafka import KafkaProducer
from parley.common.redis import Redis
from parley.common.topics import Topics, chat_key


class EventPublisher:
    def __init__(self, redis: Redis, redis_prefix: str, producer: KafkaProducer, topics: Topics) -> None:
        self.redis = redis
        self.prefix = redis_prefix
        self.producer = producer
        self.topics = topics

    async def publish(self, events: Sequence[StoredEventType]) -> None:
        """Kafka first: a failure there is retried as a whole, and the Redis copies that would
        otherwise have gone out already are not worth duplicating."""
        if not events:
            return
        await self.producer.send_many(
            [(self.topics.events, chat_key(event.chat_id), encode(event)) for event in events]
        )
        async with self.redis.pipeline(transaction=False) as pipe:
            for event in events:
                data = encode(event)
                pipe.publish(chat_channel(self.prefix, event.chat_id), data)
                for user_id in audience(event):
                    pipe.publish(user_channel(self.prefix, user_id), data)
            await pipe.execute()

    async def publish_live(self, chat_id: uuid.UUID, event: Event) -> None:
        """An ephemeral event (read position, typing): Redis only, never stored."""
        await self.redis.publish(chat_channel(self.prefix, chat_id), encode(event))
