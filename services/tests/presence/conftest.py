"""Presence tests on the dev stack's Redis and Kafka: a key prefix and topics of each test's own."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from parley.common.events import PresenceChanged, parse_presence_event
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.common.presence import PresenceKeys
from parley.common.redis import Redis
from parley.common.topics import Topics
from parley.presence.app import create_app
from parley.presence.settings import PresenceSettings
from parley.presence.store import PresenceStore, Timing
from parley.testing.tokens import ISSUER, Signer, StaticJwks
from parley.testing.waiting import eventually

T = TypeVar("T")

TIMING = Timing(ttl=30, forget=600, last_seen_retention=3600, stopped_tombstone=600, outbox_max=1000)


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


def closed_port() -> int:
    """A loopback port nothing listens on (a server that is away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    count: int | None = None,
    until: Callable[[list[ConsumerRecord]], bool] | None = None,
    within: float = 20.0,
) -> list[ConsumerRecord]:
    """A topic's records (every partition, from the start) until there are `count` of them or
    `until` holds, or `within` seconds passed (the caller's assertions then fail)."""
    if until is None:
        assert count is not None
        until = lambda records: len(records) >= count  # noqa: E731
    # No group: subscribing assigns every partition of the topic.
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + within
        while not until(records) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            records.extend(record for part in batch.values() for record in part)
        return records
    finally:
        await consumer.stop()


# --- the presence service in-process, with short times ---------------------------------------

TTL = 2.0
SWEEP = 0.2
HEARTBEAT = 0.5
BASE_URL = "http://presence.test"


@pytest.fixture
def settings(redis_url: str, redis_prefix: str, kafka_bootstrap: str, topics: Topics) -> PresenceSettings:
    return PresenceSettings(
        redis_url=redis_url,
        redis_key_prefix=redis_prefix,
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic_prefix=topics.prefix,
        auth_issuer=ISSUER,
        presence_ttl_seconds=TTL,
        presence_sweep_seconds=SWEEP,
        presence_max_backoff_seconds=1.0,
        presence_query_max_ids=5,
    )


@contextlib.asynccontextmanager
async def running(
    settings: PresenceSettings, signer: Signer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings, jwks=StaticJwks(signer))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client,
    ):
        yield app, client


@pytest.fixture
async def service(
    settings: PresenceSettings, signer: Signer
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running(settings, signer) as (app, client):
        yield app, client


@pytest.fixture
def client(service: tuple[FastAPI, httpx.AsyncClient]) -> httpx.AsyncClient:
    return service[1]


@pytest.fixture
def viewer(signer: Signer) -> dict[str, str]:
    """Authorization headers of some signed-in user asking about others."""
    return {"Authorization": f"Bearer {signer.token(uuid.uuid4(), 'viewer')}"}


Presence = dict[uuid.UUID, tuple[str, str | None]]


async def rest_presence(client: httpx.AsyncClient, headers: dict[str, str], *users: uuid.UUID) -> Presence:
    response = await client.get("/presence", params={"user_ids": ",".join(map(str, users))}, headers=headers)
    assert response.status_code == 200, response.text
    return {uuid.UUID(u["user_id"]): (u["status"], u["last_seen"]) for u in response.json()["users"]}


def statuses(*expected: str) -> Callable[[Presence], bool]:
    return lambda presence: [status for status, _ in presence.values()] == list(expected)


class ChannelWatch:
    """Every PresenceChanged published on the users' Redis channels, as a socket would see them."""

    def __init__(self) -> None:
        self.events: list[PresenceChanged] = []

    def of(self, user: uuid.UUID) -> list[tuple[str, int]]:
        return [(e.status, e.version) for e in self.events if e.user_id == user]

    async def until(self, user: uuid.UUID, expected: list[tuple[str, int]], within: float = 5) -> None:
        """Wait for the user's channel to have said exactly `expected`. The change is published
        after its state is written, so REST can say it a moment before the channel does."""
        await eventually(lambda: self.of(user), lambda seen: seen == expected, within=within)


@pytest.fixture
async def channel_watch(redis: Redis, keys: PresenceKeys) -> AsyncIterator[ChannelWatch]:
    watch = ChannelWatch()
    pubsub = redis.pubsub()
    await pubsub.psubscribe(keys.channel_pattern)

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "pmessage":
                watch.events.append(parse_presence_event(message["data"]))

    task = asyncio.create_task(listen())
    yield watch
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await pubsub.aclose()


async def presence_topic(
    bootstrap: str,
    topics: Topics,
    accept: Callable[[list[PresenceChanged]], bool],
    *,
    within: float = 20.0,
) -> list[PresenceChanged]:
    """The presence topic's events, read until `accept` holds or `within` seconds passed."""
    records = await read_topic(
        bootstrap,
        topics.presence,
        until=lambda rs: accept([parse_presence_event(r.value) for r in rs]),
        within=within,
    )
    return [parse_presence_event(r.value) for r in records]
