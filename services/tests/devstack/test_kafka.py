"""Smoke tests: the dev stack's Kafka does real work through aiokafka, the client the services use."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError

PARTITIONS = 3


async def _create_topic(bootstrap: str, topic: str, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        # The broker answers CreateTopics before its metadata cache has the topic: until then a
        # describe says UNKNOWN_TOPIC_OR_PARTITION (seen on a busy machine).
        for _ in range(100):
            described = await admin.describe_topics([topic])
            if described[0]["error_code"] == 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    assert described[0]["error_code"] == 0
    assert sorted(p["partition"] for p in described[0]["partitions"]) == list(range(partitions))


async def _consume(consumer: AIOKafkaConsumer, count: int) -> list[tuple[int, str, str]]:
    """(partition, key, value) of the next count records; fails after 30 s."""
    got: list[tuple[int, str, str]] = []
    async with asyncio.timeout(30):
        while len(got) < count:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                got.extend((tp.partition, r.key.decode(), r.value.decode()) for r in records)
    return got


async def test_keyed_messages_round_trip_with_committed_group_offsets(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}messages"
    group = f"{kafka_topic_prefix}readers"
    await _create_topic(kafka_bootstrap, topic)

    sent = [(f"channel-{i % 4}", f"message {i}") for i in range(20)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        partition_of: dict[str, set[int]] = {}
        for key, value in sent:
            meta = await producer.send_and_wait(topic, value.encode(), key=key.encode())
            partition_of.setdefault(key, set()).add(meta.partition)
    finally:
        await producer.stop()
    # Same key, same partition: the per-channel ordering the platform relies on.
    assert all(len(parts) == 1 for parts in partition_of.values())

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received = await _consume(consumer, len(sent))
        await consumer.commit()
    finally:
        await consumer.stop()

    assert sorted((k, v) for _, k, v in received) == sorted(sent)
    for partition, key, _ in received:
        assert {partition} == partition_of[key]
    for key in partition_of:
        in_order = [v for _, k, v in received if k == key]
        assert in_order == [v for k, v in sent if k == key]

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    per_partition = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == topic}
    expected = {p: sum(1 for q, _, _ in received if q == p) for p in range(PARTITIONS)}
    assert {p: per_partition.get(p, 0) for p in range(PARTITIONS)} == expected


async def test_transactional_writes_are_visible_to_read_committed(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = f"{kafka_topic_prefix}outbox"
    await _create_topic(kafka_bootstrap, topic, partitions=1)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"{kafka_topic_prefix}tx", acks="all"
    )
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send(topic, f"committed {i}".encode(), key=b"k")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted", key=b"k")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"after abort", key=b"k")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, isolation_level="read_committed", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        values = [v for _, _, v in await _consume(consumer, 4)]
        # Nothing beyond those four: the aborted record stays invisible.
        assert await consumer.getmany(tp, timeout_ms=1000) == {}
    finally:
        await consumer.stop()
    assert values == ["committed 0", "committed 1", "committed 2", "after abort"]


async def test_topics_are_not_created_by_producing(kafka_bootstrap: str, kafka_topic_prefix: str) -> None:
    topic = f"{kafka_topic_prefix}never-created"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=2000)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send_and_wait(topic, b"lost")
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()
