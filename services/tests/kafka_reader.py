"""Reading back what was produced to a topic, for tests."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer
from parley.common.events import StoredEventType, parse_stored_event
from parley.common.topics import chat_key


async def chat_events(
    bootstrap: str, topic: str, chat_id: uuid.UUID, count: int, seconds: float = 30
) -> list[StoredEventType]:
    """The first `count` records of one chat on the topic (read from the beginning), in order;
    then a short wait to catch any record beyond them (a duplicate would be one)."""
    key = chat_key(chat_id)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[StoredEventType] = []
    try:
        async with asyncio.timeout(seconds):
            while len(found) < count:
                batches = await consumer.getmany(timeout_ms=500)
                found.extend(
                    parse_stored_event(r.value)
                    for records in batches.values()
                    for r in records
                    if r.key == key
                )
        batches = await consumer.getmany(timeout_ms=300)
        found.extend(
            parse_stored_event(r.value) for records in batches.values() for r in records if r.key == key
        )
    finally:
        await consumer.stop()
    return found
