"""The consumer's loop: commands from Kafka, stored in order, published, then acknowledged.

For every fetch (up to `consumer_max_batch` records of the partitions this member owns; each
partition's records in their order, and a chat lives on one partition):

1. one database transaction stores the whole batch (common.chat.store): commands stored before (a
   replay after a crash) are recognised by sender + client_id or command id *before* any seq is
   taken, so a replay neither duplicates nor leaves a gap; the others take their chats' next seqs;
2. commit;
3. publish the stored events (Redis for live delivery, the events topic for search and
   notification), including those of recognised replays, whose first publish may never have
   happened; rejections go to their sender's channel;
4. commit the Kafka offsets (in the background: the next batch is published meanwhile; offsets
   are cumulative, so a commit in flight only makes the newest ones wait for the next).

Steps 1-2 of a batch run while steps 3-4 of the previous one do (two stages, each in order).

Publishing comes before the offset commit on purpose: a crash between the two replays the batch,
which the database turns into re-emits. The other order could lose the publish of a stored
message for good (live delivery and the events topic), which nothing would repair. The database
commit comes first in both orders, so an offset never moves past something not stored.

A failing step is retried with backoff, the batch as a whole, without committing offsets: a
database or Redis outage stalls the partitions, it loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.common import tracing
from parley.common.backoff import Backoff
from parley.common.chat.publish import EventPublisher
from parley.common.chat.store import ChatCommand, Outcome, Stored, store_commands
from parley.common.events import parse_command
from parley.common.worker import Worker
from parley.consumer.publish import publish_outcomes
from parley.consumer.settings import ConsumerSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


class Timings:
    """The last few hundred values of one step, in milliseconds, for /status."""

    def __init__(self, keep: int = 500) -> None:
        self.values: deque[float] = deque(maxlen=keep)

    def add(self, ms: float) -> None:
        self.values.append(ms)

    def summary(self) -> dict[str, float]:
        if not self.values:
            return {}
        ordered = sorted(self.values)

        def pick(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

        return {"p50": pick(0.5), "p99": pick(0.99), "max": round(ordered[-1], 2)}


@dataclass
class WorkerStatus:
    """For /status and tests."""

    running: bool = False
    assigned: list[str] = field(default_factory=list)
    batches: int = 0
    records: int = 0
    stored: int = 0
    replayed: int = 0
    rejected: int = 0
    skipped: int = 0
    failures: int = 0  # consecutive failed attempts of the current step
    last_error: str | None = None
    last_batch_at: float | None = None
    # Where a start's time goes (wall-clock seconds): the worker started, the consumer joined its
    # group (assignment known), the first batch stored.
    started_at: float | None = None
    joined_at: float | None = None
    first_stored_at: float | None = None
    # Per batch: records' age when fetched (from the producer's timestamp), store, publish, commit.
    timings: dict[str, Timings] = field(
        default_factory=lambda: {name: Timings() for name in ("age", "size", "store", "publish", "commit")}
    )

    def report(self) -> dict[str, object]:
        report = {k: v for k, v in self.__dict__.items() if k != "timings"}
        report["timings_ms"] = {name: t.summary() for name, t in self.timings.items()}
        return report


def parse_records(records: Sequence[ConsumerRecord[bytes, bytes]]) -> tuple[list[ChatCommand], int]:
    """The commands of a batch in order; records that are not commands are logged and skipped (a
    record no version of us can read must not block its partition forever)."""
    commands, skipped, _ = _parse(records)
    return commands, skipped


def _parse(
    records: Sequence[ConsumerRecord[bytes, bytes]],
) -> tuple[list[ChatCommand], int, list[ConsumerRecord[bytes, bytes]]]:
    """parse_records, and the record of each command (for its trace context)."""
    commands: list[ChatCommand] = []
    kept: list[ConsumerRecord[bytes, bytes]] = []
    skipped = 0
    for record in records:
        try:
            if record.value is None:
                raise ValueError("empty record")
            commands.append(parse_command(record.value))
            kept.append(record)
        except (ValidationError, ValueError) as exc:
            skipped += 1
            log.error(
                "skipping an unreadable command at %s-%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
    return commands, skipped, kept


class ConsumerMetrics:
    """The message path's middle, in the app's registry (docs/observability.md)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        registry = registry or CollectorRegistry()
        self.send_to_stored = Histogram(
            "parley_consumer_send_to_stored_seconds",
            "From a command's issue on the socket to its batch's database commit.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.step = Histogram(
            "parley_consumer_step_seconds",
            "One batch's step: store (transaction), publish (Redis and the events topic), commit.",
            ["step"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=registry,
        )
        self.records = Counter(
            "parley_consumer_records_total",
            "Command records by outcome: stored, replayed, rejected, skipped (unreadable).",
            ["outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "parley_consumer_step_failures_total",
            "Failed attempts of a step (retried).",
            ["step"],
            registry=registry,
        )
        # Every series from the start (at 0): a rate over them is 0, not "no data".
        for step in ("store", "publish"):
            self.failures.labels(step)
        for outcome in ("stored", "replayed", "rejected", "skipped"):
            self.records.labels(outcome)


def _store_spans(records: Sequence[ConsumerRecord[bytes, bytes]], start_ns: int) -> list[Span | None]:
    return [
        tracing.start_child(
            "consumer store",
            tracing.from_headers(record.headers),
            SpanKind.CONSUMER,
            start_time=start_ns,
            partition=record.partition,
            offset=record.offset,
        )
        for record in records
    ]


@dataclass(frozen=True)
class _StoredBatch:
    """A batch between its two stages: stored and committed in the database, not yet published."""

    offsets: dict[TopicPartition, OffsetAndMetadata]
    records: int
    skipped: int
    outcomes: list[Outcome]
    traces: list[Context | None] | None = None
    """Each outcome's trace context (its store span), when tracing is on."""


class CommandWorker(Worker):
    name = "command-worker"

    def __init__(
        self,
        settings: ConsumerSettings,
        engine: AsyncEngine,
        publisher: EventPublisher,
        topic: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__()
        self.metrics = ConsumerMetrics(registry)
        self.settings = settings
        self.engine = engine
        self.publisher = publisher
        self.topic = topic
        self.status = WorkerStatus()
        self._unsent_offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        self._committer: asyncio.Task[None] | None = None

    def _consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        return AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=s.kafka_bootstrap,
            client_id=f"parley-{s.service_name}",
            group_id=s.group_id,
            group_instance_id=s.consumer_instance_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # One byte is enough: a fetch returns as soon as a command arrives (see the settings).
            fetch_min_bytes=1,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
            max_poll_records=s.consumer_max_batch,
            session_timeout_ms=s.consumer_session_timeout_ms,
            heartbeat_interval_ms=max(1000, s.consumer_session_timeout_ms // 3),
            # A stalled step (database away) must not get this member thrown out of the group:
            # its partitions would move to another member that is stalled the same way.
            max_poll_interval_ms=600_000,
        )

    async def run(self) -> None:
        """Consume until stopped; Kafka being away is waited out."""
        backoff = Backoff(
            "the Kafka consumer (restarting it)",
            minimum=0.2,
            maximum=self.settings.consumer_retry_max_seconds,
        )
        self.status.started_at = time.time()
        while not self.stopping:
            consumer = self._consumer()
            try:
                await consumer.start()
                self.status.running = True
                backoff.succeeded()
                await self._loop(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status.last_error = repr(exc)
                await self.pause(backoff.failed(exc))
            finally:
                self.status.running = False
                try:
                    await asyncio.shield(consumer.stop())
                except Exception as exc:
                    log.warning("stopping the Kafka consumer: %r", exc)

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        """Two stages, so that storing a batch overlaps with publishing the one before: each stage
        takes its batches in order (a chat's events leave in seq order), and the second one commits
        the offsets only after publishing."""
        handoff: asyncio.Queue[_StoredBatch] = asyncio.Queue(maxsize=1)
        self._unsent_offsets, self._committer = {}, None  # a new consumer: nothing of the old one
        finisher = asyncio.create_task(self._finish(consumer, handoff), name="publish-and-commit")
        try:
            while True:
                batches = await consumer.getmany(
                    timeout_ms=1000, max_records=self.settings.consumer_max_batch
                )
                self.status.assigned = sorted(f"{tp.topic}-{tp.partition}" for tp in consumer.assignment())
                if self.status.joined_at is None and self.status.assigned:
                    self.status.joined_at = time.time()
                if finisher.done():
                    finisher.result()  # it failed: raise here, the consumer restarts
                if batches:
                    await handoff.put(await self._store_batch(batches))
        finally:
            finisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await finisher
            await self._last_commit()

    async def _store_batch(
        self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> _StoredBatch:
        records = [record for partition in batches.values() for record in partition]
        started = time.time()
        self.status.timings["age"].add(started * 1000 - min(record.timestamp for record in records))
        self.status.timings["size"].add(len(records))
        commands, skipped, kept = _parse(records)
        spans = _store_spans(kept, time.time_ns()) if tracing.enabled() else None
        outcomes = await self._retrying("store", lambda: self._store(commands)) if commands else []
        elapsed = time.time() - started
        self.status.timings["store"].add(elapsed * 1000)
        self.metrics.step.labels("store").observe(elapsed)
        now = datetime.now(UTC)
        for command in commands:
            self.metrics.send_to_stored.observe(max(0.0, (now - command.issued_at).total_seconds()))
        traces = None
        if spans is not None and len(spans) == len(outcomes) and any(spans):
            for span in spans:
                if span is not None:
                    span.end()
            traces = [tracing.context_of(span) for span in spans]
        offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batches.items() if rs}
        return _StoredBatch(offsets, len(records), skipped, outcomes, traces)

    async def _finish(self, consumer: AIOKafkaConsumer, handoff: asyncio.Queue[_StoredBatch]) -> None:
        while True:
            batch = await handoff.get()
            started = time.time()
            outcomes = batch.outcomes
            spans = [tracing.start_child("consumer publish", ctx) for ctx in batch.traces or ()]
            traces = [tracing.context_of(span) for span in spans] if spans else None
            await self._retrying(
                "publish",
                lambda: publish_outcomes(self.publisher, outcomes, traces),  # noqa: B023
            )
            for span in spans:
                if span is not None:
                    span.end()
            self.status.timings["publish"].add((time.time() - started) * 1000)
            self.metrics.step.labels("publish").observe(time.time() - started)
            self._commit_soon(consumer, batch.offsets)
            self._count(batch)

    def _commit_soon(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        """Commit in the background, so the next batch's publish does not wait for it; offsets are
        cumulative, so while one commit is in flight the newest ones of each partition wait for
        the next. Still only ever after the publish of what they cover."""
        self._unsent_offsets.update(offsets)
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_unsent(consumer), name="commit-offsets")

    async def _last_commit(self) -> None:
        """What was published gets its offsets committed before the consumer goes."""
        if self._committer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._committer), 5)

    async def _commit_unsent(self, consumer: AIOKafkaConsumer) -> None:
        while self._unsent_offsets:
            offsets, self._unsent_offsets = self._unsent_offsets, {}
            started = time.time()
            try:
                await consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # The partitions moved to another member, which replays from the last commit: the
                # database turns that into re-emits.
                log.warning("offsets not committed (%r); the next owner replays them", exc)
            except KafkaError as exc:
                # The next batch's commit covers these offsets too; a crash before it replays.
                log.warning("offsets not committed this time: %r", exc)
            self.status.timings["commit"].add((time.time() - started) * 1000)
            self.metrics.step.labels("commit").observe(time.time() - started)

    def _count(self, batch: _StoredBatch) -> None:
        status, outcomes = self.status, batch.outcomes
        status.batches += 1
        status.records += batch.records
        status.skipped += batch.skipped
        status.stored += sum(1 for o in outcomes if isinstance(o, Stored) and not o.duplicate)
        status.replayed += sum(1 for o in outcomes if isinstance(o, Stored) and o.duplicate)
        status.rejected += sum(1 for o in outcomes if not isinstance(o, Stored))
        status.last_batch_at = time.time()
        if status.first_stored_at is None and status.stored:
            status.first_stored_at = status.last_batch_at
        stored = sum(1 for o in outcomes if isinstance(o, Stored) and not o.duplicate)
        replayed = sum(1 for o in outcomes if isinstance(o, Stored) and o.duplicate)
        records = self.metrics.records
        records.labels("stored").inc(stored)
        records.labels("replayed").inc(replayed)
        records.labels("rejected").inc(len(outcomes) - stored - replayed)
        records.labels("skipped").inc(batch.skipped)

    async def _store(self, commands: list[ChatCommand]) -> list[Outcome]:
        async with self.engine.begin() as conn:
            return await store_commands(conn, commands)

    async def _retrying(self, step: str, attempt: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff(step, minimum=0.05, maximum=self.settings.consumer_retry_max_seconds)
        while True:
            try:
                result = await attempt()
            except Exception as exc:  # cancellation is not an Exception: it goes through
                self.status.last_error = f"{step}: {exc!r}"
                self.metrics.failures.labels(step).inc()
                delay = backoff.failed(exc)
                self.status.failures = backoff.failures
                await self.pause(delay)
                continue
            backoff.succeeded()
            self.status.failures = 0
            return result
