"""Kafka and Redis going away and coming back: nothing crashes, nothing said is lost.

Redis is a server of the test's own (the shared one must stay up for everyone else), persisted
with an append-only file the way a production Redis for presence should be, and killed with
SIGKILL in the middle of the traffic."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from parley.common.events import Connected, PresenceChanged
from parley.common.kafka import KafkaProducer
from parley.common.presence import ConnectionReporter, PresenceKeys
from parley.common.redis import Redis
from parley.common.topics import Topics, user_key
from parley.devstack.components.redis import SERVER
from parley.presence.outbox import KafkaOutbox
from parley.presence.settings import PresenceSettings
from parley.presence.store import PresenceStore
from parley.testing.tokens import Signer
from parley.testing.waiting import eventually
from pydantic import SecretStr

from tests.presence.conftest import (
    HEARTBEAT,
    closed_port,
    presence_topic,
    rest_presence,
    running,
    statuses,
)


class OwnRedis:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = closed_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(SERVER),
                "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    break
            assert self.process.poll() is None, "redis-server ended"
            time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(5)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    with contextlib.suppress(AssertionError, ProcessLookupError):
        server.kill()


async def test_redis_killed_and_back_nothing_said_meanwhile_is_lost(
    own_redis: OwnRedis,
    settings: PresenceSettings,
    signer: Signer,
    viewer: dict[str, str],
    producer: KafkaProducer,
    topics: Topics,
) -> None:
    settings = settings.model_copy(update={"redis_url": SecretStr(own_redis.url)})
    alice, bob = uuid.uuid4(), uuid.uuid4()
    socket = ConnectionReporter(producer, topics, instance_id="sock-r", heartbeat_seconds=HEARTBEAT)
    socket.start()
    async with running(settings, signer) as (app, client):

        async def now() -> dict[uuid.UUID, tuple[str, str | None]]:
            return await rest_presence(client, viewer, alice, bob)

        socket.connected(alice, "a")
        await eventually(now, statuses("online", "offline"), within=15)

        own_redis.kill()
        socket.connected(bob, "b")  # said while Redis is away
        socket.disconnected(alice, "a")
        await eventually(lambda: app.state.consumer.handle_backoff.failures, lambda n: n >= 1, within=10)
        unavailable = await client.get("/presence", params={"user_ids": str(alice)}, headers=viewer)
        assert unavailable.status_code == 503

        await asyncio.to_thread(own_redis.start)  # the same data, from its append-only file
        await eventually(now, statuses("offline", "online"), within=15)
        # The backoff is reset after the state is written and published: a moment after REST sees it.
        await eventually(lambda: app.state.consumer.handle_backoff.failures, lambda n: n == 0, within=5)
    await socket.stop()


async def test_unreadable_records_are_skipped_not_stuck_on(
    client: httpx.AsyncClient, viewer: dict[str, str], producer: KafkaProducer, topics: Topics
) -> None:
    user = uuid.uuid4()
    good = Connected(user_id=user, connection_id="c", instance_id="s", at="2030-01-01T00:00:00Z")
    await producer.send_many(
        [
            (topics.connections, user_key(user), b"not json"),
            (topics.connections, user_key(user), b'{"type": "connection.connected", "v": 1}'),
            (topics.connections, user_key(user), b'{"type": "from.the.future", "v": 9}'),
            (topics.connections, user_key(user), good.model_dump_json().encode()),
        ]
    )
    # The good record is read (its instance never beats, so its news is old by now: offline, but
    # seen); the consumer got past the three bad ones.
    presence, _ = await eventually(
        lambda: rest_presence(client, viewer, user), lambda p: p[user][1] is not None, within=15
    )
    assert presence[user][0] in ("online", "offline")


@contextlib.asynccontextmanager
async def outbox(
    redis_client: Redis, keys: PresenceKeys, producer: KafkaProducer, topics: Topics
) -> AsyncIterator[KafkaOutbox]:
    worker = KafkaOutbox(redis_client, keys, producer, topics.presence, poll_seconds=0.1, max_backoff=0.3)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def test_kafka_away_changes_wait_in_the_outbox_and_leave_in_order(
    store: PresenceStore,
    redis: Redis,
    keys: PresenceKeys,
    producer: KafkaProducer,
    topics: Topics,
    kafka_bootstrap: str,
) -> None:
    user = uuid.uuid4()
    connected = Connected(user_id=user, connection_id="c", instance_id="s", at="2030-01-01T00:00:00Z")
    await store.apply([connected], now=1_893_456_000.0)  # online
    await store.sweep(now=1_893_456_100.0)
    await store.settle(now=1_893_456_100.0)  # offline: its instance never beat
    away = KafkaProducer(
        f"127.0.0.1:{closed_port()}", client_id="presence-tests-away", request_timeout_ms=500
    )
    async with outbox(redis, keys, away, topics) as worker:
        await eventually(lambda: worker.backoff.failures, lambda n: n >= 2, within=10)
    # Read once the worker has stopped: while it retries, a read can land inside an attempt.
    assert await redis.llen(keys.outbox) == 2  # nothing trimmed that Kafka did not take
    assert await redis.get(keys.outbox_lock) is None  # released after each failed attempt
    await away.stop()
    async with outbox(redis, keys, producer, topics):
        await eventually(lambda: redis.llen(keys.outbox), lambda n: n == 0, within=15)
    produced = await presence_topic(kafka_bootstrap, topics, lambda evs: len(evs) >= 2)
    assert [(e.user_id, e.status, e.version) for e in produced] == [(user, "online", 1), (user, "offline", 2)]
    assert all(isinstance(e, PresenceChanged) for e in produced)


async def test_one_drainer_at_a_time(
    store: PresenceStore, redis: Redis, keys: PresenceKeys, producer: KafkaProducer, topics: Topics
) -> None:
    user = uuid.uuid4()
    await store.apply(
        [Connected(user_id=user, connection_id="c", instance_id="s", at="2030-01-01T00:00:00Z")],
        now=1_893_456_000.0,
    )
    worker = KafkaOutbox(redis, keys, producer, topics.presence)
    await redis.set(keys.outbox_lock, "another-replica", px=10_000)
    assert await worker.drain() == 0
    assert await redis.llen(keys.outbox) == 1
    await redis.delete(keys.outbox_lock)
    assert await worker.drain() == 1
    assert await redis.llen(keys.outbox) == 0


async def test_the_service_shuts_down_promptly_whenever_it_is_stopped(
    settings: PresenceSettings, signer: Signer
) -> None:
    """A stop that lands while the loops are connecting (redis-py swallows such a cancel) must
    still end them."""
    loop = asyncio.get_running_loop()
    for delay in (0, 0.001, 0.005, 0.02, 0.1):
        async with running(settings, signer) as (app, _):
            await asyncio.sleep(delay)
            began = loop.time()
            assert isinstance(app, FastAPI)
        assert loop.time() - began < 3, delay
