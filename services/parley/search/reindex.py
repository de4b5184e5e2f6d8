"""`parley search reindex`: a new index generation from PostgreSQL, caught up from Kafka, then the
alias swapped atomically; searches and the live indexer never stop meanwhile.

1. Create generation N+1 (this package's mapping; refresh off while loading).
2. Note the events topic's end offsets *before* the snapshot.
3. Load every message from one REPEATABLE READ snapshot. A message's version is its chat's
   `last_seq` in that snapshot: the row holds every change with a seq up to it and none after,
   so a later change (a bigger seq) overwrites it, an earlier one replayed is refused.
4. Catch up: apply the topic from the offsets of step 2 to the current end (the same writes as the
   live indexer, to the new index by name).
5. Swap the alias in one `_aliases` request (remove from the old, add to the new as write index).
6. Catch up once more, to the end offsets read after the swap: an event the live indexer wrote to
   the old index just before the swap is below those offsets, so it reaches the new one too.
   From then on the live indexer writes to the new index through the alias. Writes are versioned,
   so applying an event twice, or in another order, changes nothing.
7. Delete the old generation (unless --keep-old).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from opensearchpy import AsyncOpenSearch
from sqlalchemy.ext.asyncio import AsyncEngine

from parley.common.chat.models import chats, messages
from parley.search.index import (
    IndexNames,
    Write,
    alias_indices,
    bulk_write,
    generations,
    index_body,
    message_write,
    tombstone_write,
)
from parley.search.indexer import parse_records, writes_for

log = logging.getLogger(__name__)


@dataclass
class ReindexReport:
    old: list[str]
    new: str
    loaded: int
    load_seconds: float
    caught_up: int
    total_seconds: float

    @property
    def docs_per_second(self) -> float:
        return self.loaded / self.load_seconds if self.load_seconds > 0 else 0.0


async def _partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    found = [
        p["partition"]
        for t in described
        if t["topic"] == topic and not t["error_code"]
        for p in t["partitions"]
    ]
    if not found:
        raise RuntimeError(f"the events topic {topic} does not exist")
    return [TopicPartition(topic, p) for p in sorted(found)]


async def _end_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    return dict(await consumer.end_offsets(tps))


async def _catch_up(
    consumer: AIOKafkaConsumer,
    engine: AsyncEngine,
    client: AsyncOpenSearch,
    index: str,
    start: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
    batch_size: int,
) -> tuple[int, dict[TopicPartition, int]]:
    """Apply [start, end) of every partition to `index`; returns the events applied and where each
    partition stopped (the next start)."""
    todo = {tp: off for tp, off in end.items() if off > start.get(tp, 0)}
    applied = 0
    position = dict(start)
    if not todo:
        return 0, {**position, **end}
    consumer.assign(list(todo))
    for tp in todo:
        consumer.seek(tp, start.get(tp, 0))
    while todo:
        batches = await consumer.getmany(*todo, timeout_ms=1000, max_records=batch_size)
        records = [r for tp, rs in batches.items() for r in rs if r.offset < end[tp]]
        for tp in list(todo):
            position[tp] = min(await consumer.position(tp), end[tp])
            if position[tp] >= end[tp]:
                todo.pop(tp)
        events, _ = parse_records(records)
        writes = await writes_for(engine, events)
        await bulk_write(client, index, writes)
        applied += len(events)
    return applied, position


async def load_snapshot(
    engine: AsyncEngine,
    client: AsyncOpenSearch,
    index: str,
    *,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    loaded = 0
    query = (
        sa.select(
            messages.c.chat_id,
            messages.c.seq,
            messages.c.sender_id,
            messages.c.body,
            messages.c.attachments,
            messages.c.created_at,
            messages.c.edited_at,
            messages.c.deleted_at,
            chats.c.last_seq,
        )
        .select_from(messages.join(chats, chats.c.id == messages.c.chat_id))
        .execution_options(yield_per=batch_size)
    )
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            result = await conn.stream(query)
            async for rows in result.partitions(batch_size):
                writes: list[Write] = []
                for row in rows:
                    if row.deleted_at is not None:
                        writes.append(
                            tombstone_write(
                                row.chat_id,
                                row.seq,
                                row.last_seq,
                                sender_id=row.sender_id,
                                created_at=row.created_at,
                            )
                        )
                    else:
                        writes.append(
                            message_write(
                                row.chat_id,
                                row.seq,
                                row.last_seq,
                                sender_id=row.sender_id,
                                body=row.body,
                                attachments=list(row.attachments),
                                created_at=row.created_at,
                                edited_at=row.edited_at,
                            )
                        )
                await bulk_write(client, index, writes)
                loaded += len(writes)
                if progress:
                    progress(loaded)
    return loaded


async def reindex(
    *,
    engine: AsyncEngine,
    client: AsyncOpenSearch,
    names: IndexNames,
    bootstrap: str,
    topic: str,
    refresh_interval: str = "500ms",
    batch_size: int = 2000,
    keep_old: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReindexReport:
    started = time.monotonic()
    old = await alias_indices(client, names)
    existing = await generations(client, names)
    new = names.generation((max(existing) if existing else 0) + 1)
    await client.indices.create(index=new, body=index_body(refresh_interval="-1"))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = await _partitions(bootstrap, topic)
        before = await _end_offsets(consumer, tps)
        load_started = time.monotonic()
        loaded = await load_snapshot(engine, client, new, batch_size=batch_size, progress=progress)
        load_seconds = time.monotonic() - load_started
        caught, position = await _catch_up(
            consumer, engine, client, new, before, await _end_offsets(consumer, tps), batch_size
        )
        await client.indices.put_settings(index=new, body={"index": {"refresh_interval": refresh_interval}})
        await client.indices.refresh(index=new)
        actions: list[dict[str, object]] = [
            {"remove": {"index": index, "alias": names.alias}} for index in old
        ]
        actions.append({"add": {"index": new, "alias": names.alias, "is_write_index": True}})
        await client.indices.update_aliases(body={"actions": actions})
        more, _ = await _catch_up(
            consumer, engine, client, new, position, await _end_offsets(consumer, tps), batch_size
        )
        caught += more
    finally:
        await consumer.stop()
    if not keep_old:
        for index in old:
            await client.indices.delete(index=index, ignore_unavailable=True)
    return ReindexReport(old, new, loaded, load_seconds, caught, time.monotonic() - started)
