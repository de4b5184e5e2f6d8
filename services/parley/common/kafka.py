"""Kafka producing for the services, the one producer wrapper: idempotent, acks from every in-sync
replica, Kafka's key partitioning (cached), started lazily. The socket's command producer puts its
queue and per-command answers on top of it (socket/commands.py).

`start()` may fail while Kafka is away; callers that must not fail (an api request after its
commit) hand records to something that retries (the outbox), which calls `start()` again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from opentelemetry.context import Context

from parley.common import tracing

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes]  # topic, key, value


class CachingPartitioner:
    """Kafka's default partitioning (murmur2 of the key, as the Java client does), remembered per
    key: the same chats are written to again and again, and aiokafka's murmur2 is pure Python."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._cache: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return all_partitions[0]
        count = len(all_partitions)
        index = self._cache.get((key, count))
        if index is None:
            if len(self._cache) >= self.size:
                self._cache.clear()
            index = self._cache[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return all_partitions[index]


class KafkaProducer:
    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str,
        request_timeout_ms: int = 15000,
        linger_ms: int = 2,
        retry_backoff_ms: int = 100,
        metadata_max_age_ms: int = 300_000,
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.request_timeout_ms = request_timeout_ms
        self.linger_ms = linger_ms
        self.retry_backoff_ms = retry_backoff_ms
        self.metadata_max_age_ms = metadata_max_age_ms
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        async with self._lock:
            if self._producer is not None:
                return
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=self.linger_ms,
                request_timeout_ms=self.request_timeout_ms,
                retry_backoff_ms=self.retry_backoff_ms,
                metadata_max_age_ms=self.metadata_max_age_ms,
                partitioner=CachingPartitioner(),
            )
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer

    async def send(
        self, topic: str, value: bytes, *, key: bytes, partition: int | None = None
    ) -> asyncio.Future[object]:
        """Hand one record to the producer (started); the future completes with Kafka's ack."""
        if self._producer is None:
            raise RuntimeError("the producer is not started")
        future: asyncio.Future[object] = await self._producer.send(topic, value, key=key, partition=partition)
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        await self.start()
        assert self._producer is not None
        return set(await self._producer.partitions_for(topic))

    async def send_many(
        self, records: Sequence[Record], *, traces: Sequence[Context | None] | None = None
    ) -> None:
        """Send and wait for every ack; records of one key keep their order (one partition).

        `traces`: each record's trace context (aligned with `records`), carried in its headers."""
        await self.start()
        assert self._producer is not None
        if traces is None:
            pending = [await self._producer.send(topic, value, key=key) for topic, key, value in records]
        else:
            pending = []
            for (topic, key, value), ctx in zip(records, traces, strict=True):
                with tracing.attached(ctx):
                    pending.append(await self._producer.send(topic, value, key=key))
        await asyncio.gather(*pending)

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


async def ensure_topics(
    bootstrap: str, names: Iterable[str], *, partitions: int = 3, replication_factor: int = 1
) -> list[str]:
    """Create the topics that do not exist yet (the operator's job on Kubernetes; this is for the
    dev stack and tests). Returns the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
                        for name in missing
                    ]
                )
            except TopicAlreadyExistsError:
                log.info("topics appeared while creating them: %s", missing)
        return missing
    finally:
        await admin.close()
