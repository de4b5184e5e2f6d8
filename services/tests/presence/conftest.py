"""Presence tests on the dev stack's Redis and Kafka: a key prefix and topics of each test's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis, create_redis
from parley.common.topics import Topics
from parley.presence.store import PresenceStore, Timing
from parley.testing.tokens import Signer

T = TypeVar("T")

TIMING = Timing(ttl=30, forget=600, last_seen_retention=3600, stopped_tombstone=600, outbox_max=1000)


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], *, within: float, every: float = 0.05
) -> tuple[T, float]:
    """Poll `probe` until `accept` holds; returns the last value and the seconds it took. Fails the
    test with the last value seen when time is up."""
    start = time.monotonic()
    while True:
        value = await probe()
        if accept(value):
            return value, time.monotonic() - start
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within} s; last value: {value!r}")
        await asyncio.sleep(every)


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> PresenceKeys:
    return PresenceKeys(redis_prefix)


@pytest.fixture
def store(redis: Redis, keys: PresenceKeys) -> PresenceStore:
    return PresenceStore(redis, keys, TIMING)


@pytest.fixture
async def topics(kafka_bootstrap: str, kafka_topic_prefix: str) -> Topics:
    """The connections and presence topics, two partitions each: user and instance records land on
    different partitions, as they do in production."""
    topics = Topics(kafka_topic_prefix)
    await ensure_topics(kafka_bootstrap, [topics.connections, topics.presence], partitions=2)
    return topics


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[KafkaProducer]:
    producer = KafkaProducer(kafka_bootstrap, client_id="presence-tests")
    yield producer
    await producer.stop()
