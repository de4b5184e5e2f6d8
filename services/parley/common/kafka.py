"""Kafka producing for the services, the one producer wrapper: idempotent, acks from every in-sync
replica, Kafka's key partitioning (cached), started lazily, rebuilt when it breaks. The socket's
command producer puts its queue and per-command answers on top of it (socket/commands.py).

`start()` may fail while Kafka is away; callers that must not fail (an api request after its
commit) hand records to something that retries (the outbox), which calls `start()` again.

Recovery (issue 18). aiokafka's idempotent producer gives each batch of a partition the next
sequence number when it drains the batch for sending, and never takes one back: a batch that
expires while its partition has no leader (the broker is down) fails after its sequence was
spent, and every later batch of that partition is refused by the broker with
OutOfOrderSequenceNumber, for as long as the process lives (the socket answered `unavailable` to
every command until restarted). The Java client resets its sequences (or bumps its epoch) there;
aiokafka does not. So any failed record marks the producer broken (`broken`), and the next
`start()` discards it and makes a new one, which gets a new producer id and sequences from 0.
Discarding fails what the old one still held (aiokafka's accumulator `fail_all`), so no caller
waits on a producer that is gone; such records may still have reached Kafka, which is why their
error is a retryable one and the consumer stores a command once whatever the producer id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from opentelemetry.context import Context

from parley.common import tracing
from parley.common.backoff import RepeatedLog

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


class ProducerUnavailable(KafkaError):  # type: ignore[misc]
    """The producer is not started, or was found broken and not yet rebuilt: retry later."""

    retriable = True


class ProducerRebuilt(KafkaError):  # type: ignore[misc]
    """The record was still held by a producer that broke and was discarded; it may have reached
    Kafka all the same (retry with the same identity: consumers store a command once)."""

    retriable = True


DISCARD_SECONDS = 5.0
"""How long discarding a broken producer may take (its in-flight requests end within this)."""


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
        self._broken: BaseException | None = None
        self._lock = asyncio.Lock()
        self.rebuilds = 0
        """How many broken producers were replaced (for /status and tests)."""
        self._failures = RepeatedLog(log, f"Kafka producer {client_id}: a record failed")

    @property
    def started(self) -> bool:
        """Started and usable: not broken (a broken one is replaced by the next `start()`)."""
        return self._producer is not None and self.broken is None

    @property
    def broken(self) -> BaseException | None:
        """Why the current producer must be replaced, if it must: a record of it failed, or its
        sender task ended (after which it would never send again)."""
        producer = self._producer
        if self._broken is None and producer is not None:
            sender = producer._sender.sender_task
            if sender is not None and sender.done():
                self._broken = (
                    RuntimeError("the sender task was cancelled")
                    if sender.cancelled()
                    else (sender.exception() or RuntimeError("the sender task ended"))
                )
        return self._broken

    async def start(self) -> None:
        """Start the producer, or replace it when it is broken; raises while Kafka is away."""
        async with self._lock:
            if self._producer is not None and self.broken is None:
                return
            if self._producer is not None:
                await self._discard()
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
            self._producer, self._broken = producer, None

    async def _discard(self) -> None:
        producer, reason = self._producer, self._broken
        self._producer, self._broken = None, None
        if producer is None:
            return
        self.rebuilds += 1
        log.warning("Kafka producer %s replaced (new producer id) after: %r", self.client_id, reason)
        # What it still holds will never be sent in order now: fail it, so nobody waits on it.
        producer._message_accumulator.fail_all(ProducerRebuilt(repr(reason)))
        try:
            await asyncio.wait_for(producer.stop(), DISCARD_SECONDS)
        except Exception as exc:
            log.warning("stopping the broken Kafka producer %s: %r", self.client_id, exc)

    def _watch(self, future: asyncio.Future[object]) -> None:
        """A failed record: its partition's sequence may be spent (see the module's text), so the
        producer is replaced before the next send. Logged once per interval, with a count."""
        if future.cancelled() or (exc := future.exception()) is None:
            return
        self._failures.note(exc)
        if self._broken is None and not isinstance(exc, ProducerRebuilt):
            self._broken = exc

    async def send(
        self, topic: str, value: bytes, *, key: bytes, partition: int | None = None
    ) -> asyncio.Future[object]:
        """Hand one record to the producer (started, not broken); the future completes with
        Kafka's ack. Raises ProducerUnavailable when there is no usable producer: `start()`."""
        producer = self._usable()
        future: asyncio.Future[object] = await producer.send(topic, value, key=key, partition=partition)
        future.add_done_callback(self._watch)
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        await self.start()
        assert self._producer is not None
        return set(await self._producer.partitions_for(topic))

    async def send_many(
        self, records: Sequence[Record], *, traces: Sequence[Context | None] | None = None
    ) -> None:
        """Send and wait for every ack; records of one key keep their order (one partition).

        One batch per partition (as many as its records need), built here and handed to the
        producer whole, instead of one `send` per record: the accumulator's work per record is most
        of a send's cost. A failed batch breaks the producer as a failed record does (`_watch`).

        `traces`: each record's trace context (aligned with `records`), carried in its headers; a
        traced set goes record by record (the instrumentation injects the context in `send`)."""
        await self.start()
        if traces is not None and any(ctx is not None for ctx in traces):
            pending = []
            for (topic, key, value), ctx in zip(records, traces, strict=True):
                with tracing.attached(ctx):
                    pending.append(await self.send(topic, value, key=key))
        else:
            pending = await self._send_batches(records)
        await asyncio.gather(*pending)

    def _usable(self) -> AIOKafkaProducer:
        producer = self._producer
        if producer is None or self.broken is not None:
            raise ProducerUnavailable("the Kafka producer is not started" if producer is None else "broken")
        return producer

    async def _send_batches(self, records: Sequence[Record]) -> list[asyncio.Future[object]]:
        producer = self._usable()
        by_partition: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        topics: set[str] = set()
        for topic, key, value in records:
            if topic not in topics:
                await producer.partitions_for(topic)  # the topic's metadata, as `send` waits for it
                topics.add(topic)
            # The producer's own choice (its partitioner), so that `send` and this agree.
            partition = producer._partition(topic, None, key, value, key, value)
            by_partition.setdefault((topic, partition), []).append((key, value))
        pending: list[asyncio.Future[object]] = []
        for (topic, partition), items in by_partition.items():
            batch = producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is not None:
                    continue
                if batch.record_count():  # full: hand it over, the record starts the next one
                    pending.append(await self._submit(batch, topic, partition))
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None) is not None:
                        continue
                # Larger than a batch on its own: `send` takes it (or says why not).
                pending.append(await self.send(topic, value, key=key, partition=partition))
            if batch.record_count():
                pending.append(await self._submit(batch, topic, partition))
        return pending

    async def _submit(self, batch: BatchBuilder, topic: str, partition: int) -> asyncio.Future[object]:
        producer = self._usable()
        future: asyncio.Future[object] = await producer.send_batch(batch, topic, partition=partition)
        future.add_done_callback(self._watch)
        return future

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
