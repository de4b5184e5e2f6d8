"""The one consumer-group loop (common.group_consumer) on the dev stack's Kafka: a batch is handed
again while `handle` fails, and its offsets are committed only once `handle` took it."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from parley.common.group_consumer import GroupConsumer, Record
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.testing.waiting import eventually


class Flaky(GroupConsumer):
    name = "flaky"

    def __init__(self, *, fail: int, bootstrap: str, topic: str, group_id: str) -> None:
        super().__init__(bootstrap=bootstrap, topic=topic, group_id=group_id, max_backoff=0.2)
        self.fail = fail
        self.calls: list[list[bytes]] = []
        self.taken: list[bytes] = []

    async def handle(self, records: Sequence[Record]) -> None:
        self.calls.append([r.value for r in records if r.value is not None])
        if self.fail:
            self.fail -= 1
            raise RuntimeError("the server behind handle is away")
        self.taken.extend(self.calls[-1])


async def committed(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(TopicPartition(topic, 0))
    return meta.offset if meta is not None and meta.offset >= 0 else 0


async def test_a_failing_batch_is_handed_again_and_committed_only_once_taken(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic, group = f"{kafka_topic_prefix}gc.v1", f"{kafka_topic_prefix}gc"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = KafkaProducer(kafka_bootstrap, client_id="group-consumer-test")
    try:
        await producer.send_many([(topic, b"k", f"r{n}".encode()) for n in range(5)])
    finally:
        await producer.stop()
    consumer = Flaky(fail=2, bootstrap=kafka_bootstrap, topic=topic, group_id=group)
    consumer.start()
    try:
        await eventually(
            lambda: committed(kafka_bootstrap, group, topic), lambda n: n == 5, within=30, what="commit"
        )
    finally:
        await consumer.stop()
    assert consumer.taken == [f"r{n}".encode() for n in range(5)]
    # The first two attempts failed and were retried with the same records (nothing in between).
    assert len(consumer.calls) >= 3 and consumer.calls[0] == consumer.calls[1] == consumer.calls[2]
    assert consumer.handle_backoff.failures == 0
    assert consumer.last_error is not None and "away" in consumer.last_error


async def test_a_stop_while_handle_fails_commits_nothing(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic, group = f"{kafka_topic_prefix}gc-stop.v1", f"{kafka_topic_prefix}gc-stop"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = KafkaProducer(kafka_bootstrap, client_id="group-consumer-test")
    try:
        await producer.send_many([(topic, b"k", b"only")])
    finally:
        await producer.stop()
    consumer = Flaky(fail=10_000, bootstrap=kafka_bootstrap, topic=topic, group_id=group)
    consumer.start()
    await eventually(lambda: _calls(consumer), lambda n: n >= 2, within=30, what="two attempts")
    await consumer.stop()
    assert consumer.taken == []
    assert await committed(kafka_bootstrap, group, topic) == 0


async def _calls(consumer: Flaky) -> int:
    return len(consumer.calls)
