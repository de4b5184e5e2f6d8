"""`KafkaProducer.send_many`: one batch per partition, records of a key in order, every record once,
the partition the producer's own `send` would choose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from parley.common.kafka import KafkaProducer, ensure_topics

from tests.conftest import unique


@pytest.fixture
async def topic(running_kafka: str) -> AsyncIterator[str]:
    name = unique("t-batches-")
    await ensure_topics(running_kafka, [name], partitions=4)
    yield name
    admin = AIOKafkaAdminClient(bootstrap_servers=running_kafka)
    await admin.start()
    try:
        await admin.delete_topics([name])
    finally:
        await admin.close()


async def test_send_many_keeps_each_keys_order_and_the_producers_partitioning(
    running_kafka: str, topic: str
) -> None:
    producer = KafkaProducer(running_kafka, client_id="test-batches")
    keys = [uuid.uuid4().bytes for _ in range(20)]
    # Big enough values that a partition's records need several batches (16 KiB each).
    records = [(topic, keys[n % 20], f"{n:06d}".encode() + b"x" * 500) for n in range(3000)]
    try:
        await producer.send_many(records)
        # One more record by `send`: the same partition as the batches gave its key.
        await (await producer.send(topic, b"single", key=keys[0]))
        assert producer.broken is None and producer.rebuilds == 0
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=running_kafka, auto_offset_reset="earliest")
    await consumer.start()
    got: dict[bytes, list[bytes]] = {}
    partitions: dict[bytes, set[int]] = {}
    try:
        total = 0
        while total < len(records) + 1:
            batches = await consumer.getmany(timeout_ms=5000)
            assert batches, f"only {total} records came back"
            for tp, rs in batches.items():
                for record in rs:
                    assert record.key is not None and record.value is not None
                    got.setdefault(record.key, []).append(record.value)
                    partitions.setdefault(record.key, set()).add(tp.partition)
                    total += 1
    finally:
        await consumer.stop()
    for index, key in enumerate(keys):
        expected = [value for _, k, value in records if k == key] + ([b"single"] if index == 0 else [])
        assert got[key] == expected
        assert len(partitions[key]) == 1
    assert len({p for ps in partitions.values() for p in ps}) > 1
