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

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiokafka import ConsumerRecord
from opensearchpy import AsyncOpenSearch
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.common.chat.models import messages
from parley.common.events import (
    MessageCreated,
    MessageDeleted,
    MessageEdited,
    StoredEventType,
    parse_stored_event,
)
from parley.common.group_consumer import GroupConsumer, Record
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
    batches: int = 0
    records: int = 0
    written: int = 0
    stale: int = 0
    skipped: int = 0
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


class Indexer(GroupConsumer):
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
        super().__init__(
            bootstrap=bootstrap,
            topic=topic,
            group_id=group_id,
            batch_size=batch_size,
            max_backoff=max_backoff,
            handle_backoff_minimum=0.05,
            options={
                "fetch_min_bytes": 1,
                "fetch_max_wait_ms": fetch_max_wait_ms,
                "max_poll_records": batch_size,
                "max_poll_interval_ms": 600_000,
            },
        )
        self.engine = engine
        self.client = client
        self.names = names
        self.metrics = metrics or IndexerMetrics(CollectorRegistry())
        self.status = IndexerStatus()

    def report(self) -> dict[str, Any]:
        """The status page: the counts, and the loop's state."""
        return {
            "running": self.connected,
            **self.status.report(),
            "failures": self.handle_backoff.failures,
            "last_error": self.last_error,
        }

    async def handle(self, records: Sequence[Record]) -> None:
        await self.apply(records)

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
