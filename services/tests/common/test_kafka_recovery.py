"""The idempotent producer with records in flight when Kafka stops (issue 18's wedge).

aiokafka gives a batch its partition's next sequence number when it drains it for sending and
never takes it back: a batch that expires while its partition has no leader (a broker shutting
down or starting) fails with its sequence spent, and the broker refuses every later batch of that
partition with OutOfOrderSequenceNumber. Reproduced here without mocks: records produced without
pause while the dev stack's Kafka is stopped (SIGTERM: its controlled shutdown reports the
partitions leaderless first) and started again. The wrapper must be producing again within a few
seconds of Kafka's return, by itself.

It stops the shared Kafka: marked disruptive (run on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter

import pytest
from parley.common.kafka import KafkaProducer, ensure_topics
from parley.devstack.stack import Stack
from parley.testing.waiting import eventually

pytestmark = [pytest.mark.disruptive, pytest.mark.timeout(300)]

OUTAGE_SECONDS = float(os.environ.get("PARLEY_OUTAGE_SECONDS", "30"))
RECOVER_WITHIN = 5.0


async def test_the_producer_works_again_after_kafka_returns(
    kafka_bootstrap: str, kafka_topic_prefix: str
) -> None:
    topic = kafka_topic_prefix + "wedge"
    await ensure_topics(kafka_bootstrap, [topic], partitions=4)
    # As the socket's: acks from every replica, idempotent, a short request timeout.
    producer = KafkaProducer(kafka_bootstrap, client_id="wedge-test", request_timeout_ms=2000, linger_ms=0)
    errors: Counter[str] = Counter()
    acked_at: list[float] = []
    stop = asyncio.Event()
    enough = asyncio.Event()  # 200 acks after Kafka's return
    back_at = float("inf")

    def done(future: asyncio.Future[object]) -> None:
        if future.cancelled():
            errors["cancelled"] += 1
        elif (exc := future.exception()) is not None:
            errors[type(exc).__name__] += 1
        else:
            acked_at.append(now := time.monotonic())
            if now > back_at and sum(1 for t in acked_at[-200:] if t > back_at) >= 200:
                enough.set()

    async def produce() -> None:
        n = 0
        while not stop.is_set():
            try:
                await asyncio.wait_for(producer.start(), 3)
                for _ in range(10):
                    key = f"chat-{n % 64}".encode()
                    future = await producer.send(topic, b"x" * 100, key=key)
                    future.add_done_callback(done)
                    n += 1
            except Exception as exc:  # Kafka away: what a caller sees, counted
                errors[type(exc).__name__] += 1
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.02)  # ~500 records/s

    kafka = Stack().component("kafka")
    task = asyncio.create_task(produce())
    try:
        await eventually(lambda: acked_at, within=30, what="acked before the outage")
        await asyncio.sleep(3)
        stopped_at = time.monotonic()
        await asyncio.to_thread(kafka.down)
        await asyncio.sleep(max(0.0, stopped_at + OUTAGE_SECONDS - time.monotonic()))
        await asyncio.to_thread(kafka.up)
        back_at = time.monotonic()
        # Producing again: acks of records sent after the return, steadily (not one lucky ack).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), 60)
        recent = [t for t in acked_at if t > back_at]
        first = recent[0] - back_at if recent else None
        print(f"after Kafka's return: first ack {first} s, {len(recent)} acks, errors {dict(errors)}")
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(kafka.up)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)
    assert len(recent) >= 200, (
        f"the producer did not recover: {len(recent)} acks after the return, {dict(errors)}"
    )
    assert first is not None and first <= RECOVER_WITHIN, first
