"""The outbox: events stored in a transaction reach Redis and Kafka after it, in order, and survive
a Kafka outage (retried with backoff until it is back)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from parley.common.chat.changes import append_changes
from parley.common.chat.channels import chat_channel, user_channel
from parley.common.chat.publish import EventPublisher
from parley.common.db import Database
from parley.common.events import MemberAdded, StoredEventType, parse_live_event
from parley.common.kafka import KafkaProducer
from parley.common.outbox import OutboxDrainer, enqueue
from parley.common.topics import Topics
from parley.testing.waiting import eventually

from tests.factories import create_chat, create_users
from tests.kafka_reader import chat_events


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def _store_member_events(
    db: Database, chat_id: uuid.UUID, actor: uuid.UUID, users: list[uuid.UUID]
) -> list[StoredEventType]:
    now = datetime.now(UTC)
    async with db.engine.begin() as conn:
        events = await append_changes(
            conn,
            chat_id,
            [
                lambda seq, u=u: MemberAdded(
                    chat_id=chat_id, seq=seq, actor_id=actor, at=now, user_id=u, role="member"
                )
                for u in users
            ],
        )
        await enqueue(conn, events)
    return events


async def _outbox_size(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM event_outbox"))).scalar_one())


async def _next_messages(pubsub: aioredis.client.PubSub, count: int) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is not None:
                got.append((message["channel"].decode(), message["data"].decode()))
    return got


async def test_drained_events_reach_redis_and_kafka_in_order(
    db: Database, redis: aioredis.Redis, redis_prefix: str, running_kafka: str, session_topics: Topics
) -> None:
    ada, bob, cy = await create_users(db.engine, ["ada", "bob", "cy"])
    chat = await create_chat(db.engine, ada)
    events = await _store_member_events(db, chat, ada, [bob, cy])
    pubsub = redis.pubsub()
    await pubsub.subscribe(
        chat_channel(redis_prefix, chat), user_channel(redis_prefix, bob), user_channel(redis_prefix, cy)
    )
    producer = KafkaProducer(running_kafka, client_id="test")
    publisher = EventPublisher(redis, redis_prefix, producer, session_topics)
    try:
        assert await OutboxDrainer(db.engine, publisher.publish).drain() == 2
    finally:
        await producer.stop()
    assert await _outbox_size(db) == 0

    received = await _next_messages(pubsub, 4)
    await pubsub.aclose()
    on_chat = [
        parse_live_event(data) for channel, data in received if channel == chat_channel(redis_prefix, chat)
    ]
    assert on_chat == events
    # Each added user also hears of it on their own channel (they do not listen to the chat yet).
    assert {channel for channel, _ in received} - {chat_channel(redis_prefix, chat)} == {
        user_channel(redis_prefix, bob),
        user_channel(redis_prefix, cy),
    }
    assert await chat_events(running_kafka, session_topics.events, chat, 2) == events


async def test_a_kafka_outage_is_retried_with_backoff_and_nothing_is_lost(
    db: Database,
    redis: aioredis.Redis,
    redis_prefix: str,
    running_kafka: str,
    session_topics: Topics,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ada, bob, cy = await create_users(db.engine, ["ada", "bob", "cy"])
    chat = await create_chat(db.engine, ada)
    # Nothing listens on port 1: every attempt fails to reach Kafka.
    away = KafkaProducer("127.0.0.1:1", client_id="test")
    back = KafkaProducer(running_kafka, client_id="test")
    drainer = OutboxDrainer(
        db.engine,
        EventPublisher(redis, redis_prefix, away, session_topics).publish,
        min_backoff=0.05,
        max_backoff=0.2,
        poll_seconds=0.1,
    )
    caplog.set_level(logging.WARNING, logger="parley.common.outbox")
    drainer.start()
    try:
        first = await _store_member_events(db, chat, ada, [bob])
        drainer.wake()

        async def failed_thrice() -> bool:
            return drainer.failures >= 3

        await eventually(failed_thrice)
        second = await _store_member_events(db, chat, ada, [cy])
        assert await _outbox_size(db) == 2
        assert "publishing failed 3 time(s) in a row" in caplog.text

        drainer.publish = EventPublisher(redis, redis_prefix, back, session_topics).publish

        async def drained() -> bool:
            return await _outbox_size(db) == 0 and drainer.failures == 0

        await eventually(drained)
    finally:
        await drainer.stop()
        await away.stop()
        await back.stop()
    assert await chat_events(running_kafka, session_topics.events, chat, 2) == [*first, *second]
