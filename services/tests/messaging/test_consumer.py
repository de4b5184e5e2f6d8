"""The consumer's worker in-process against the real servers: a batch is stored once, published to
Redis and the events topic, and a replay of the same records (offsets never committed, as after a
crash) stores nothing new and publishes the very same events again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer
from parley.common.chat.channels import chat_channel, user_channel
from parley.common.chat.publish import EventPublisher
from parley.common.db import Database
from parley.common.events import encode
from parley.common.kafka import KafkaProducer
from parley.common.topics import chat_key
from parley.consumer.settings import ConsumerSettings
from parley.consumer.worker import CommandWorker

from tests.factories import edit, send
from tests.messaging.conftest import Platform


@pytest.fixture
async def database(platform: Platform) -> AsyncIterator[Database]:
    db = Database(platform.env["PARLEY_POSTGRES_DSN"], pool_size=2)
    yield db
    await db.dispose()


async def run_worker_until(worker: CommandWorker, records: int, within: float = 30.0) -> None:
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(within):
            while worker.status.records < records:  # noqa: ASYNC110  (polls a counter)
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_replayed_batch_stores_nothing_new_and_re_emits_the_stored_events(
    platform: Platform, database: Database
) -> None:
    ada, bob = await platform.people("ada", "bob")
    chat = uuid.UUID(await platform.group(ada, bob))
    env = platform.env
    producer = KafkaProducer(env["PARLEY_KAFKA_BOOTSTRAP"], client_id="test")
    redis = aioredis.from_url(env["PARLEY_REDIS_URL"])
    listener = redis.pubsub()
    await listener.subscribe(
        chat_channel(env["PARLEY_REDIS_KEY_PREFIX"], chat),
        user_channel(env["PARLEY_REDIS_KEY_PREFIX"], bob.id),
    )
    commands = [send(chat, ada.id, f"m{n}", client_id=f"c{n}") for n in range(10)]
    commands.append(send(chat, ada.id, "m0 again", client_id="c0"))  # a client's resend
    commands.append(edit(chat, bob.id, 2, "not bob's"))  # refused by the consumer
    try:
        await producer.send_many([(platform.topics.commands, chat_key(chat), encode(c)) for c in commands])

        async def run(group: str) -> CommandWorker:
            settings = ConsumerSettings(
                kafka_bootstrap=env["PARLEY_KAFKA_BOOTSTRAP"],
                kafka_topic_prefix=platform.topics.prefix,
                consumer_group=group,
            )
            worker = CommandWorker(
                settings,
                database.engine,
                EventPublisher(redis, env["PARLEY_REDIS_KEY_PREFIX"], producer, platform.topics),
                platform.topics.commands,
            )
            await run_worker_until(worker, len(commands))
            return worker

        first = await run(f"{platform.topics.prefix}.first")
        assert (first.status.stored, first.status.replayed, first.status.rejected) == (10, 1, 1)
        stored = await platform.stored(str(chat))
        assert [(seq, cid) for seq, cid, _ in stored] == [(n + 2, f"c{n}") for n in range(10)]

        # The same records again, as if the first run died before committing its offsets.
        again = await run(f"{platform.topics.prefix}.again")
        assert (again.status.stored, again.status.replayed, again.status.rejected) == (0, 11, 1)
        assert await platform.stored(str(chat)) == stored
        assert await platform.change_seqs(str(chat)) == list(range(1, 12))

        # Both runs published before they returned; a marker published now arrives after all
        # of it (one subscriber connection gets messages in publish order), so reading up to it
        # reads everything, without a window of waiting for nothing more to come.
        await redis.publish(
            chat_channel(env["PARLEY_REDIS_KEY_PREFIX"], chat), json.dumps({"type": "marker"})
        )
        live: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            while not live or live[-1]["type"] != "marker":
                message = await listener.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    live.append(json.loads(message["data"]))
        created = [e for e in live if e["type"] == "message.created"]
        assert [e["seq"] for e in created] == list(range(2, 12)) * 2  # published, then re-emitted
        assert created[:10] == created[10:]
        refusals = [e for e in live if e["type"] == "command.rejected"]
        assert [e["code"] for e in refusals] == ["not_your_message"] * 2

        events = AIOKafkaConsumer(
            platform.topics.events,
            bootstrap_servers=env["PARLEY_KAFKA_BOOTSTRAP"],
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await events.start()
        try:
            batches = await events.getmany(timeout_ms=5000)
            topic_events = [json.loads(r.value) for rs in batches.values() for r in rs]
        finally:
            await events.stop()
        assert [e["seq"] for e in topic_events] == list(range(2, 12)) * 2
    finally:
        await listener.aclose()
        await redis.aclose()
        await producer.stop()
