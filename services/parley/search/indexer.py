"""The indexer: the stored events topic into the messages index, in bulk, at least once.

A consumer group (replicas share the partitions). Per fetch (up to `search_max_batch` records):
the message events become whole-document writes (index.py: versioned by the change's seq, so a
replayed or reordered batch is harmless), one bulk request to the alias, then the offsets are
committed. A failure retries the batch with backoff and commits nothing: OpenSearch or PostgreSQL
being away stalls indexing, it loses nothing. Records no version of us can read are logged and
skipped (they must not block a partition forever); events that are not about a message's content
(membership, reactions, renames) are not indexed: who may read is decided at query time.

An edit event carries the new body only; the rest of the document (sender, creation time,
attachments) comes from the message's row, read for all the batch's edits in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from opensearchpy import AsyncOpenSearch
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.common.backoff import Backoff
from parley.common.chat.models import messages
from parley.common.events import (
    MessageCreated,
    MessageDeleted,
    MessageEdited,
    StoredEventType,
    parse_stored_event,
)
from parley.common.worker import Worker
from parley.search.index import BulkResult, IndexNames, Write, bulk_write, message_write, tombstone_write

log = logging.getLogger(__name__)

MessageEvent = MessageCreated | MessageEdited | MessageDeleted


def parse_records(records: Sequence[ConsumerRecord[bytes, bytes]]) -> tuple[list[MessageEvent], int]:
    events: list[MessageEvent] = []
    skipped = 0
    for record in records:
        try:
            if record.value is None:
                raise ValueError("empty record")
            event = parse_stored_event(record.value)
        except (ValidationError, ValueError) as exc:
            skipped += 1
            log.error(
                "skipping an unreadable event at %s-%d@%d: %s",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            continue
        if isinstance(event, MessageCreated | MessageEdited | MessageDeleted):
            events.append(event)
    return events, skipped


async def writes_for(engine: AsyncEngine, events: Sequence[StoredEventType]) -> list[Write]:
    """The documents these events leave behind, each with its change's seq as version."""
    writes: list[Write] = []
    edits: list[MessageEdited] = []
    for event in events:
        if isinstance(event, MessageCreated):
            m = event.message
            writes.append(
                message_write(
                    event.chat_id,
                    m.seq,
                    event.seq,
                    sender_id=m.sender_id,
                    body=m.body,
                    attachments=list(m.attachments),
                    created_at=m.created_at,
                    edited_at=None,
                )
            )
        elif isinstance(event, MessageEdited):
            edits.append(event)
        elif isinstance(event, MessageDeleted):
            writes.append(
                tombstone_write(event.chat_id, event.message_seq, event.seq, sender_id=None, created_at=None)
            )
    if edits:
        keys = list({(e.chat_id, e.message_seq) for e in edits})
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        messages.c.chat_id,
                        messages.c.seq,
                        messages.c.sender_id,
                        messages.c.attachments,
                        messages.c.created_at,
                        messages.c.deleted_at,
                    ).where(sa.tuple_(messages.c.chat_id, messages.c.seq).in_(keys))
                )
            ).all()
        found = {(row.chat_id, row.seq): row for row in rows}
        for e in edits:
            row = found.get((e.chat_id, e.message_seq))
            if row is None:
                continue  # the chat is gone: nothing to index
            if row.deleted_at is not None:
                writes.append(
                    tombstone_write(
                        e.chat_id, e.message_seq, e.seq, sender_id=row.sender_id, created_at=row.created_at
                    )
                )
                continue
            writes.append(
                message_write(
                    e.chat_id,
                    e.message_seq,
                    e.seq,
                    sender_id=row.sender_id,
                    body=e.body,
                    attachments=list(row.attachments),
                    created_at=row.created_at,
                    edited_at=e.at,
                )
            )
    return writes


@dataclass
class IndexerStatus:
    running: bool = False
    batches: int = 0
    records: int = 0
    written: int = 0
    stale: int = 0
    skipped: int = 0
    failures: int = 0
    last_error: str | None = None
    lag_seconds: list[float] = field(default_factory=list)  # the last batch's, for tests

    def report(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "lag_seconds"}


class IndexerMetrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.lag = Histogram(
            "parley_search_index_lag_seconds",
            "From a message event stored (its `at`) to its bulk write acknowledged by OpenSearch; "
            "it is searchable after the index's next refresh (search_refresh_interval) at most.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=registry,
        )
        self.documents = Counter(
            "parley_search_documents_total",
            "Document writes by outcome (written, stale: a newer version was there).",
            ["outcome"],
            registry=registry,
        )


class Indexer(Worker):
    name = "search-indexer"

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        engine: AsyncEngine,
        client: AsyncOpenSearch,
        names: IndexNames,
        batch_size: int = 2000,
        fetch_max_wait_ms: int = 100,
        max_backoff: float = 5.0,
        metrics: IndexerMetrics | None = None,
    ) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.engine = engine
        self.client = client
        self.names = names
        self.batch_size = batch_size
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_backoff = max_backoff
        self.metrics = metrics or IndexerMetrics(CollectorRegistry())
        self.status = IndexerStatus()
        self.kafka_backoff = Backoff("consuming the events topic", maximum=max_backoff)

    async def run(self) -> None:
        while not self.stopping:
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self.bootstrap,
                group_id=self.group_id,
                client_id=self.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_min_bytes=1,
                fetch_max_wait_ms=self.fetch_max_wait_ms,
                max_poll_records=self.batch_size,
                max_poll_interval_ms=600_000,
            )
            try:
                await consumer.start()
                self.status.running = True
                await self._consume(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status.last_error = repr(exc)
                await self.pause(self.kafka_backoff.failed(exc))
            finally:
                self.status.running = False
                with contextlib.suppress(Exception):
                    await asyncio.shield(consumer.stop())

    async def _consume(self, consumer: AIOKafkaConsumer) -> None:
        while not self.stopping:
            batches = await consumer.getmany(timeout_ms=1000, max_records=self.batch_size)
            self.kafka_backoff.succeeded()
            records = [record for partition in batches.values() for record in partition]
            if not records:
                continue
            await self._apply_retrying(records)
            offsets = {tp: OffsetAndMetadata(rs[-1].offset + 1, "") for tp, rs in batches.items() if rs}
            await self._commit(consumer, offsets)

    async def _commit(
        self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, OffsetAndMetadata]
    ) -> None:
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # the next commit covers these; a crash replays them (harmless)
            log.warning("offsets not committed this time: %r", exc)

    async def _apply_retrying(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        backoff = Backoff("indexing a batch", minimum=0.05, maximum=self.max_backoff)
        while True:
            try:
                await self.apply(records)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.status.last_error = f"index: {exc!r}"
                self.status.failures = backoff.failures + 1
                await self.pause(backoff.failed(exc))
                if self.stopping:
                    raise
                continue
            self.status.failures = 0
            return

    async def apply(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> BulkResult:
        events, skipped = parse_records(records)
        writes = await writes_for(self.engine, events)
        result = await bulk_write(self.client, self.names.alias, writes)
        now = time.time()
        lags = [now - e.at.timestamp() for e in events]
        for lag in lags:
            self.metrics.lag.observe(max(lag, 0.0))
        self.metrics.documents.labels("written").inc(result.written)
        self.metrics.documents.labels("stale").inc(result.stale)
        s = self.status
        s.batches += 1
        s.records += len(records)
        s.skipped += skipped
        s.written += result.written
        s.stale += result.stale
        s.lag_seconds = lags
        return result
